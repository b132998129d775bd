"""``ReportParams``: what one report covers. Validation only, in ``__post_init__``.

The ``efflab report`` CLI (``-p NAME VALUE``, ``--params FILE.yaml``), papermill's parameters and the
notebook's first cell all build this same type, so a bad value is rejected with the same one-line
message everywhere, before anything is measured.

Values may arrive as the right Python type (YAML, papermill ``-y``) or as text (``-p NAME VALUE``
from either CLI): numbers, booleans, ``none`` and lists (``[1, 4]``, ``1,4``) are parsed from text.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab.config import (
    CASTS,
    DEFAULT_CAST,
    DEFAULT_DEVICE,
    DEFAULT_SEQ_LEN,
    DEFAULT_TASK,
    PRECISIONS,
    MethodSettings,
    parse_cast,
    parse_device,
)
from efflab.errors import ConfigError, ReportError, closest
from efflab.options import (
    ASSESS_OPTIONS,
    BASELINE_FORM,
    AssessInputs,
    AssessOptions,
    Option,
    baseline_parts,
)
from efflab.paths import default_store

if TYPE_CHECKING:
    import pandas as pd

LABEL_FORMATS = ("svg", "png")
DEFAULT_TITLE = "efflab efficiency report"
# What the sweep measures when measure_missing is on and a grid field is left at None
# (the same defaults as `efflab sweep`).
MEASURE_DEFAULT_TASK = DEFAULT_TASK
MEASURE_DEFAULT_DEVICE = DEFAULT_DEVICE
MEASURE_DEFAULT_SEQ_LEN = DEFAULT_SEQ_LEN

_NONE_WORDS = ("", "none", "null", "~", "all")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")

# One line each; the CLI's --help and the notebook's parameters cell say the same.
PARAM_HELP: dict[str, str] = {
    "store_path": "results store (SQLite) to report on (None: $EFFLAB_STORE, else data/results.sqlite)",
    "models": "models to include (a list; None: every model in the store)",
    "batch_sizes": "batch sizes to include (a list of positive integers; None: all)",
    "precisions": f"precisions to include (a list from {', '.join(PRECISIONS)}; None: all)",
    "device": "device to include: cpu, cuda or cuda:N (None: all)",
    "task": "task to include, as stored (a name or CSV path; None: all)",
    "seq_len": "tokens per query to include (None: all)",
    "measure_missing": "true: measure the points of the grid missing from the store first; false: read only",
    "sensor": "energy sensor when measuring: auto, nvml, rapl, codecarbon, fake",
    "method": "measurement settings when measuring, e.g. {max_window_s: 5} (None: the defaults)",
    "cast": f"how fp16/bf16 were applied, to include: {', '.join(CASTS)} (None: all)",
    "accuracy_tolerance": ASSESS_OPTIONS["accuracy_tolerance"].help,
    "queries_per_day": ASSESS_OPTIONS["queries_per_day"].help,
    "country": ASSESS_OPTIONS["country"].help,
    "price_per_kwh": ASSESS_OPTIONS["price_per_kwh"].help,
    "currency": ASSESS_OPTIONS["currency"].help,
    "baseline": "baseline as MODEL:BATCH:PRECISION (None: the most accurate model at its smallest batch in fp32)",
    "cohort": "cohort to report on, as TASK @ HARDWARE (None: every cohort)",
    "title": "report title",
    "labels_dir": "folder for the label images when papermill runs the notebook directly, relative to its working folder (efflab report: OUT/labels)",
    "label_formats": "label image formats: svg, png",
}


def _is_none_word(v: Any) -> bool:
    return isinstance(v, str) and v.strip().lower() in _NONE_WORDS


def _bad(name: str, value: Any, expected: str) -> ReportError:
    return ReportError(f"parameter {name} must be {expected}, got {value!r}")


def _as_list(name: str, value: Any) -> list[Any] | None:
    """None, a scalar, a list, or text (``[a, b]``, ``a,b``, ``a b``) -> list or None."""
    if value is None or _is_none_word(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import yaml

            try:
                parsed = yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise _bad(name, value, "a list such as [a, b] or a,b") from e
            if not isinstance(parsed, list):
                raise _bad(name, value, "a list such as [a, b] or a,b")
            items: list[Any] = parsed
        else:
            items = [x for x in re.split(r"[,\s]+", text) if x]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        items = [value]
    else:
        raise _bad(name, value, "a list such as [a, b] or a,b")
    if not items:
        return None
    return items


def _str_list(name: str, value: Any, lower: bool = False) -> tuple[str, ...] | None:
    items = _as_list(name, value)
    if items is None:
        return None
    out = []
    for x in items:
        if not isinstance(x, str) or not x.strip():
            raise _bad(name, value, "a list of names")
        out.append(x.strip().lower() if lower else x.strip())
    if len(set(out)) != len(out):
        raise _bad(name, value, "a list without duplicates")
    return tuple(out)


def _int(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool):
        raise _bad(name, value, f"an integer >= {minimum}")
    if isinstance(value, str) and re.fullmatch(r"\s*\+?\d+\s*", value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < minimum:
        raise _bad(name, value, f"an integer >= {minimum}")
    return value


def _float(name: str, value: Any, *, lo: float = 0.0, hi: float = math.inf, expected: str = "") -> float:
    what = expected or f"a number >= {lo:g}"
    if isinstance(value, bool):
        raise _bad(name, value, what)
    x = value
    if isinstance(value, str):
        try:
            x = float(value.replace("_", ""))
        except ValueError as e:
            raise _bad(name, value, what) from e
    if not isinstance(x, (int, float)) or not math.isfinite(x) or not lo <= x <= hi:
        raise _bad(name, value, what)
    return float(x)


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        w = value.strip().lower()
        if w in _TRUE_WORDS:
            return True
        if w in _FALSE_WORDS:
            return False
    raise _bad(name, value, "true or false")


def _parsed(name: str, parse: Any, value: Any) -> Any:
    """``parse(value)`` (one of the shared parsers), its ConfigError said as this parameter's."""
    try:
        return parse(value)
    except ConfigError as e:
        raise ReportError(f"parameter {name}: {e}") from e


def _opt_str(name: str, value: Any) -> str | None:
    if value is None or _is_none_word(value):
        return None
    if isinstance(value, (Path, int, float)) and not isinstance(value, bool):
        return str(value)  # papermill -p turns digits into numbers
    if not isinstance(value, str):
        raise _bad(name, value, "text")
    return value.strip()


def _method(value: Any) -> MethodSettings | None:
    if value is None or _is_none_word(value) or isinstance(value, MethodSettings):
        return value if isinstance(value, MethodSettings) else None
    if isinstance(value, str):
        import yaml

        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise _bad("method", value, "a mapping such as {max_window_s: 5}") from e
    if not isinstance(value, dict):
        raise _bad("method", value, "a mapping such as {max_window_s: 5}")
    try:
        return MethodSettings.from_dict(value)
    except (ValueError, TypeError) as e:
        raise ReportError(f"parameter method: {e}") from e


def _known_model(name: str) -> bool:
    from efflab.models.registry import is_known_model

    return is_known_model(name)


@dataclass(frozen=True)
class ReportParams(AssessOptions):
    """The parameters of one report (see ``PARAM_HELP`` for each field): the assessment's options
    (:class:`efflab.options.AssessOptions`, declared there once, flat here because papermill's
    parameters are), a grid filter and the report's own fields.

    Grid fields (``models``, ``batch_sizes``, ``precisions``, ``device``, ``task``, ``seq_len``)
    filter the store; ``None`` means "everything in the store". With ``measure_missing`` they are
    also the grid that is measured first (``None`` then means the ``efflab sweep`` defaults).

    Raises:
        ReportError: a value of the wrong type or out of range, an unknown precision, device,
            sensor, country or label format, a malformed baseline, or (when measuring) a model name
            that is neither a known model, a folder nor a hub id. The message names the parameter,
            the value and what is allowed.
    """

    store_path: str = dataclasses.field(default_factory=lambda: str(default_store()))
    models: tuple[str, ...] | None = None
    batch_sizes: tuple[int, ...] | None = None
    precisions: tuple[str, ...] | None = None
    device: str | None = None
    task: str | None = None
    seq_len: int | None = None
    cast: str | None = None
    measure_missing: bool = False
    sensor: str = "auto"
    method: MethodSettings | None = None
    title: str = DEFAULT_TITLE
    labels_dir: str = "out/labels"
    label_formats: tuple[str, ...] = LABEL_FORMATS

    def __post_init__(self) -> None:
        s = self._set
        # None (the notebook's default): the one default-store rule, as on the CLI.
        store = str(default_store()) if self.store_path is None else _opt_str("store_path", self.store_path)
        if not store:
            raise _bad(
                "store_path", self.store_path, "the path of a results store (e.g. data/results.sqlite)"
            )
        s("store_path", store)
        s("models", _str_list("models", self.models))
        sizes = _as_list("batch_sizes", self.batch_sizes)
        if sizes is not None:
            ints = tuple(_int("batch_sizes", b) for b in sizes)
            if len(set(ints)) != len(ints):
                raise _bad("batch_sizes", self.batch_sizes, "a list without duplicates")
            s("batch_sizes", ints)
        precs = _str_list("precisions", self.precisions, lower=True)
        for p in precs or ():
            if p not in PRECISIONS:
                msg = f"parameter precisions: unknown precision {p!r}; allowed: {', '.join(PRECISIONS)}.{closest(p, PRECISIONS)}"
                raise ReportError(msg)
        s("precisions", precs)
        dev = _opt_str("device", self.device)
        if dev is not None:
            try:
                dev = parse_device(dev)
            except ValueError as e:
                raise ReportError(f"parameter device: {e}") from e
        s("device", dev)
        s("task", _opt_str("task", self.task))
        s(
            "seq_len",
            None if self.seq_len is None or _is_none_word(self.seq_len) else _int("seq_len", self.seq_len),
        )
        s("measure_missing", _bool("measure_missing", self.measure_missing))
        from efflab.sensors import SENSOR_NAMES

        sensor = _opt_str("sensor", self.sensor) or "auto"
        if sensor.lower() not in SENSOR_NAMES:
            msg = f"parameter sensor: unknown sensor {sensor!r}; allowed: {', '.join(SENSOR_NAMES)}.{closest(sensor, SENSOR_NAMES)}"
            raise ReportError(msg)
        s("sensor", sensor.lower())
        s("method", _method(self.method))
        cast = _opt_str("cast", self.cast)
        s("cast", None if cast is None else _parsed("cast", parse_cast, cast))
        super().__post_init__()  # the assessment's options, each with its one parser (_parse_option)
        if self.baseline is not None and baseline_parts(self.baseline) is None:  # any store: no keys
            raise _bad("baseline", self.baseline, BASELINE_FORM)
        title = self.title
        if isinstance(title, (int, float)) and not isinstance(title, bool):
            title = str(title)
        if not isinstance(title, str) or not title.strip():
            raise _bad("title", title, "non-empty text")
        s("title", title.strip())
        ldir = _opt_str("labels_dir", self.labels_dir)
        if not ldir:
            raise _bad("labels_dir", self.labels_dir, "a folder path")
        s("labels_dir", ldir)
        fmts = _str_list("label_formats", self.label_formats, lower=True) or ()
        for f in fmts:
            if f not in LABEL_FORMATS:
                msg = f"parameter label_formats: unknown format {f!r}; allowed: {', '.join(LABEL_FORMATS)}"
                raise ReportError(msg)
        s("label_formats", fmts)
        if self.measure_missing:
            from efflab.models.registry import known_names

            for m in self.models or ():
                if not _known_model(m):
                    msg = (
                        f"parameter models: unknown model {m!r}; allowed: {', '.join(known_names())}, a model "
                        f"folder or a hub id (org/name).{closest(m.lower(), known_names())}"
                    )
                    raise ReportError(msg)

    def _parse_option(self, option: Option, raw: Any) -> Any:
        """An assessment option parsed by its one parser, its error said as this parameter's."""
        text = option.name in ("baseline", "cohort")
        return _parsed(option.name, option.parse, _opt_str(option.name, raw) if text else raw)

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    # ----- construction -----
    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportParams:
        """From a mapping of parameter names to values (YAML, CLI ``-p``).

        Raises:
            ReportError: an unknown name (the message lists the known ones) or a bad value.
        """
        if not isinstance(d, dict):
            msg = f"report parameters must be a mapping of NAME: VALUE, got {type(d).__name__}"
            raise ReportError(msg)
        names = cls.names()
        for k in d:
            if k not in names:
                msg = f"unknown report parameter {k!r}; known: {', '.join(names)}.{closest(str(k), names)}"
                raise ReportError(msg)
        return cls(**d)

    @classmethod
    def from_namespace(cls, ns: dict[str, Any]) -> ReportParams:
        """From the notebook's globals after papermill injected its parameters: the fields that are there."""
        return cls(**{k: ns[k] for k in cls.names() if k in ns})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-friendly values (lists, not tuples), e.g. for ``papermill.execute_notebook``."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes: Any) -> ReportParams:
        return dataclasses.replace(self, **changes)

    @property
    def assess_inputs(self) -> AssessInputs:
        """This report's assessment inputs: the same declaration the CLI and the dashboard use."""
        return AssessInputs.from_mapping(self)

    # ----- the grid measured when measure_missing is on -----
    def sweep_spec(self) -> Any:
        """The :class:`efflab.sweep.SweepSpec` of the points to measure (defaults as ``efflab sweep``)."""
        from efflab.sweep import SweepSpec

        kw: dict[str, Any] = {
            "method": self.method or MethodSettings(country=self.country),
            "devices": (self.device or MEASURE_DEFAULT_DEVICE,),
            "task": self.task or MEASURE_DEFAULT_TASK,
            "seq_len": self.seq_len or MEASURE_DEFAULT_SEQ_LEN,
            "sensor": self.sensor,
            "cast": self.cast or DEFAULT_CAST,
        }
        if self.models:
            kw["models"] = self.models
        if self.batch_sizes:
            kw["batch_sizes"] = self.batch_sizes
        if self.precisions:
            kw["precisions"] = self.precisions
        try:
            return SweepSpec(**kw)
        except ValueError as e:
            raise ReportError(f"the grid to measure is invalid: {e}") from e

    # ----- checks against the store's contents (read-only mode) -----
    def check_against(self, df: pd.DataFrame) -> None:
        """Reject filters that select nothing the store has, naming the values it does have.

        A store with no points at all passes (the report then says the store is empty). When
        ``measure_missing`` is on, only the baseline is checked (the grid is measured first).

        Raises:
            ReportError: a model, batch size, precision, device, task or seq_len not in the store,
                or a baseline configuration that is neither in the store nor in the grid.
        """
        if df.empty:
            return
        if not self.measure_missing:
            checks: list[tuple[str, tuple[Any, ...] | None, list[Any]]] = [
                ("models", self.models, sorted(set(df["model"].dropna().astype(str)))),
                ("batch_sizes", self.batch_sizes, sorted({int(b) for b in df["batch_size"].dropna()})),
                ("precisions", self.precisions, sorted(set(df["precision"].dropna().astype(str)))),
            ]
            for name, wanted, have in checks:
                for w in wanted or ():
                    if w not in have:
                        msg = (
                            f"parameter {name}: {w!r} is not in the store {self.store_path}; it has "
                            f"{', '.join(map(str, have))} (or set measure_missing to true to measure it)"
                        )
                        raise ReportError(msg)
            if self.device is not None and not _device_matches(df["device"], self.device).any():
                devs = ", ".join(sorted(set(df["device"].dropna().astype(str))))
                msg = (
                    f"parameter device: {self.device!r} is not in the store {self.store_path}; it has {devs}"
                )
                raise ReportError(msg)
            if self.task is not None and not _task_matches(df["task"], self.task).any():
                tasks = ", ".join(sorted(set(df["task"].fillna("none").astype(str))))
                msg = f"parameter task: {self.task!r} is not in the store {self.store_path}; it has {tasks}"
                raise ReportError(msg)
            cohorts = sorted(set(df["cohort"].dropna().astype(str))) if "cohort" in df.columns else []
            if self.cohort is not None and self.cohort not in cohorts:
                msg = (
                    f"parameter cohort: {self.cohort!r} is not in the store {self.store_path}; it has "
                    f"{', '.join(cohorts) or 'no cohort'}.{closest(self.cohort, cohorts)}"
                )
                raise ReportError(msg)
            if self.seq_len is not None and not (df["seq_len"] == self.seq_len).any():
                lens = ", ".join(str(int(x)) for x in sorted(set(df["seq_len"].dropna())))
                msg = (
                    f"parameter seq_len: {self.seq_len} is not in the store {self.store_path}; it has {lens}"
                )
                raise ReportError(msg)
        if self.baseline:
            model, batch, prec = baseline_parts(self.baseline) or ("", 0, "")
            in_grid = (
                self.measure_missing
                and (self.models is None or model in self.models)
                and (self.batch_sizes is None or batch in self.batch_sizes)
                and (self.precisions is None or prec in self.precisions)
            )
            ok = df[df["status"] == "ok"] if "status" in df.columns else df
            in_store = (
                (ok["model"] == model) & (ok["batch_size"] == batch) & (ok["precision"] == prec)
            ).any()
            if not (in_grid or in_store):
                have = sorted(
                    {
                        f"{r.model}:{int(r.batch_size)}:{r.precision}"
                        for r in ok.itertuples()
                        if r.batch_size == r.batch_size
                    }
                )
                shown = ", ".join(have[:12]) + (" …" if len(have) > 12 else "")
                msg = f"parameter baseline: {self.baseline!r} is not a measured configuration in {self.store_path}; it has {shown}"
                raise ReportError(msg)


def _device_matches(col: pd.Series, device: str) -> pd.Series:
    """``cuda`` matches ``cuda`` and ``cuda:N``; anything else must match exactly."""
    s = col.fillna("").astype(str)
    if ":" in device:
        return s == device
    return (s == device) | s.str.startswith(device + ":")


def _task_matches(col: pd.Series, task: str) -> pd.Series:
    """A task matches as stored (a name or CSV path) or by the CSV file's stem."""
    s = col.fillna("none").astype(str)
    return (s == task) | (s.map(lambda t: Path(t).stem) == task)


def filter_points(df: pd.DataFrame, params: ReportParams) -> pd.DataFrame:
    """The rows of ``df`` (all statuses) that ``params`` selects: its grid fields as given, or with
    ``measure_missing`` exactly the grid that was measured (``params.sweep_spec()``)."""
    models, sizes, precs = params.models, params.batch_sizes, params.precisions
    device, task, seq, cast = params.device, params.task, params.seq_len, params.cast
    if params.measure_missing:
        spec = params.sweep_spec()
        models, sizes, precs = spec.models, spec.batch_sizes, spec.precisions
        device, task, seq = spec.devices[0], spec.task, spec.seq_len
    keep = _all_true(df)
    if models is not None:
        keep &= df["model"].isin(models)
    if sizes is not None:
        keep &= df["batch_size"].isin(sizes).fillna(False).astype(bool)
    if precs is not None:
        keep &= df["precision"].isin(precs)
    if device is not None:
        keep &= _device_matches(df["device"], device)
    if task is not None:
        keep &= _task_matches(df["task"], task)
    if seq is not None:
        keep &= (df["seq_len"] == seq).fillna(False).astype(bool)
    if cast is not None and "cast" in df.columns:
        keep &= df["cast"].fillna(DEFAULT_CAST) == cast
    if params.cohort is not None and "cohort" in df.columns:
        keep &= df["cohort"] == params.cohort
    return df[keep]


def _all_true(df: pd.DataFrame) -> pd.Series:
    import pandas as pd

    return pd.Series(True, index=df.index)
