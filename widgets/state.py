"""The lab's single source of truth: what is selected, what the store holds, what we recommend.

:class:`LabState` holds the selection (model, batch size, precision, device, task), the accuracy
tolerance, the results frame, the recommendation, the nudge text, the notices that tell the user
what to do, and the status of a live measurement. Controls write to it with :meth:`LabState.select`
and friends; figures and banners read from it. Observers registered with :meth:`LabState.observe`
are told which aspects changed, so a view redraws only what it must.

The store as read is a :class:`widgets.data.LabData` (re-read on every reload). What follows from it is
not decided here either, only cached and bound: the cohort shown and the controls' choices are the pure
functions of :mod:`widgets.cohort`; what the lab *says* is :func:`widgets.view.lab_text` of the plain
values :meth:`LabState.facts` reads (as the dashboard's ``build_view``); the figures are the pure
functions of :mod:`widgets.lab_figures` (over those of :mod:`efflab.plots`). This module keeps the
selection and its transitions (:meth:`LabState.select`, :meth:`LabState.set_workload`,
:meth:`LabState.select_point`), the recommendation and the live measurement's status.

No ipywidgets here: this module runs (and is tested) without a browser or a kernel.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab import format as fmt
from efflab.config import (
    DEFAULT_CAST,
    DEFAULT_DEVICE,
    DEFAULT_MAX_NEW_TOKENS,
    PRECISIONS,
    WORKLOADS,
    Config,
    MethodSettings,
    parse_cast,
    parse_device,
    parse_max_new_tokens,
    parse_precision,
    parse_workload,
    positive_int,
)
from efflab.errors import ConfigError
from efflab.options import DEFAULT_TOLERANCE, parse_tolerance
from efflab.paths import default_store
from efflab.store.results import cohort_of, row_of
from efflab.sweep.spec import SweepSpec
from widgets import lab_figures
from widgets.cohort import (
    batch_size_choices,
    device_choices,
    generation_note_for,
    hardware_choices,
    initial_cohort,
    match_rows,
    seq_len_for,
    task_choices,
    task_dropdown,
)
from widgets.data import LabData, order_family, task_mask, workloads_of

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from efflab.analysis import Assessment, Point, Recommendation
    from widgets.view import LabFacts, LabText

# Aspects an observer is told about. "data": the results frame was re-read; "cohort": the task or
# machine shown changed; "selection": the selected configuration changed ("model" too when the
# model did); "recommendation": the tolerance or the recommended point changed; "live": progress
# of a running measurement; "trace": new power samples; "messages": the notices changed;
# "workload": classify <-> generate (the model picker's choices change with it).
ALL_ASPECTS = frozenset(
    {"data", "cohort", "selection", "model", "recommendation", "live", "trace", "messages", "workload"}
)
Observer = Callable[[frozenset[str]], None]

ROW_KINDS = ("batch", "precision")
# Where a switch to the generate workload lands when the store has nothing generated with the model:
# one response at a time in fp32, not the classifier's batch (a first Measure of SmolLM2 at batch 128
# and 16 new tokens took minutes on 2 cores), the way a chat request is served.
GENERATE_BATCH_SIZE = 1
GENERATE_PRECISION = "fp32"
SELECTION_FIELDS = (
    "model",
    "batch_size",
    "precision",
    "device",
    "task",
    "cast",
    "workload",
    "max_new_tokens",
)


@dataclass(frozen=True)
class Selection:
    """One configuration as the lab's controls show it.

    ``workload`` is ``classify`` or ``generate``; ``max_new_tokens`` (tokens per response) is the
    value of its control and applies to ``generate`` only.
    """

    model: str
    batch_size: int
    precision: str
    device: str = DEFAULT_DEVICE
    task: str | None = None
    cast: str = DEFAULT_CAST
    workload: str = "classify"
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS

    def __post_init__(self) -> None:
        object.__setattr__(self, "cast", parse_cast(self.cast))
        if not isinstance(self.model, str) or not self.model.strip():
            msg = f"model must be a non-empty name, got {self.model!r}; pick one from the family"
            raise ConfigError(msg)
        object.__setattr__(
            self, "batch_size", positive_int("batch size", self.batch_size, "pick e.g. 1, 8, 32")
        )
        object.__setattr__(self, "precision", parse_precision(self.precision))
        object.__setattr__(self, "device", parse_device(self.device))
        object.__setattr__(self, "task", self.task or None)
        object.__setattr__(self, "workload", parse_workload(self.workload))
        object.__setattr__(
            self, "max_new_tokens", parse_max_new_tokens(self.max_new_tokens, "pick e.g. 1, 16 or 64")
        )

    @property
    def generates(self) -> bool:
        return self.workload == "generate"

    @property
    def label(self) -> str:
        base = f"{fmt.config_label(self)} · {self.device}"
        return f"{base} · {self.tokens_text}" if self.generates else base

    @property
    def tokens_text(self) -> str:
        """``16 new tokens`` · ``1 new token``."""
        n = self.max_new_tokens
        return f"{n} new token{'s' if n != 1 else ''}"

    def config(self, seq_len: int) -> Config:
        return Config(
            model=self.model,
            batch_size=self.batch_size,
            precision=self.precision,
            device=self.device,
            seq_len=seq_len,
            task=self.task,
            cast=self.cast if self.precision in ("fp16", "bf16") else "model",
            workload=self.workload,
            max_new_tokens=self.max_new_tokens if self.generates else None,
        )


@dataclass
class LiveStatus:
    """A running (or the last) live measurement, as the progress bar and the power trace show it.

    ``trace_t_s``/``trace_w`` are power samples in seconds since the start and watts;
    ``trace_measured`` says whether they come from a hardware counter (``trace_source``) or are
    estimated; ``trace_note`` says how they were taken.
    """

    running: bool = False
    description: str = ""
    stage: str = ""
    fraction: float = 0.0
    point: int = 0
    total: int = 0
    text: str = ""
    trace_t_s: list[float] = field(default_factory=list)
    trace_w: list[float] = field(default_factory=list)
    trace_source: str = ""
    trace_measured: bool = False
    trace_note: str = ""
    energy_j: float = 0.0

    def progress(self, stage: str, fraction: float, point: int, total: int, label: str) -> None:
        """``point`` of ``total`` is ``fraction`` through ``stage``."""
        self.stage, self.point, self.total = stage, point, total
        self.fraction = min(1.0, ((point - 1) + max(0.0, min(1.0, fraction))) / max(total, 1))
        self.text = f"{label}: {stage} {fraction * 100:.0f} %" + (
            f" (point {point} of {total})" if total > 1 else ""
        )

    def sample(self, t_s: float, watts: float, energy_j: float | None = None) -> None:
        """One power sample of the trace (and the energy it adds, where the sensor says)."""
        self.trace_t_s.append(float(t_s))
        self.trace_w.append(float(watts))
        if energy_j is not None:
            self.energy_j += float(energy_j)

    def finish(self, status: str, message: str = "") -> None:
        """``status``: done, cancelled or failed (with the error's one line in ``message``)."""
        self.running = False
        self.fraction = 1.0 if status == "done" else self.fraction
        self.text = {
            "done": f"{self.description}: done",
            "cancelled": f"{self.description}: cancelled; nothing half-measured was stored",
            "failed": f"{self.description}: failed: {message}",
        }.get(status, message)


def _this_hardware(device: str) -> str:
    from efflab.measuring.fingerprint import hardware_key

    return hardware_key(device)


def _kind_words(kind: str | None) -> str:
    return "a scikit-learn pipeline" if kind == "sklearn" else "an encoder classifier"


def _devices_here() -> list[str]:
    # No torch import here (seconds): nvidia-smi on PATH is a good enough hint for the dropdown;
    # a measurement on a device that is not there fails with a clear DeviceError.
    return ["cpu", "cuda"] if shutil.which("nvidia-smi") else ["cpu"]


def resolve_store(store: str | os.PathLike[str] | None) -> Path:
    """The store path: ``store`` if given, else ``$EFFLAB_STORE``, else ``data/results.sqlite``
    in the working folder or its parent (a notebook runs in ``notebooks/``)."""
    if store is not None and str(store).strip():
        return Path(store).expanduser()
    if os.environ.get("EFFLAB_STORE"):
        return default_store()
    rel = default_store()
    for base in (Path.cwd(), Path.cwd().parent):
        if (base / rel).exists():
            return base / rel
    return rel


class LabState:
    """Everything the lab shows, in one place.

    Args:
        store: results store path (default: see :func:`resolve_store`). A missing or empty store
            is fine: the lab says what to do and can measure into it.
        family: model names, smallest first (default: the store's models plus the built-in zoo).
        task: task name or CSV path to show (default: the store's task with most points).
        tolerance: accuracy tolerance of the recommendation, a fraction (0.01 = 1 point).
        sensor: energy sensor for live measurements (``auto``, ``rapl``, ``codecarbon``, ``fake``...).
        method: measurement settings for live measurements (a MethodSettings or a dict of its fields).
        device: the device to start on when the store does not say.

    Raises:
        ConfigError: a bad tolerance, method, sensor or family (one line, with the fix).
    """

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        family: Sequence[str] | None = None,
        task: str | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        sensor: str = "auto",
        method: MethodSettings | dict[str, Any] | None = None,
        device: str = "cpu",
    ) -> None:
        from efflab.sensors import SENSOR_NAMES

        self.store_path = resolve_store(store)
        if family is not None and (isinstance(family, str) or not all(isinstance(m, str) for m in family)):
            msg = (
                f"family must be a list of model names, got {family!r}; e.g. ['tiny-bert-l1', 'tiny-bert-l2']"
            )
            raise ConfigError(msg)
        self._family_arg = [m.strip() for m in family] if family else None
        self._task_arg = task or None
        if not isinstance(sensor, str) or sensor.strip().lower() not in SENSOR_NAMES:
            msg = f"sensor must be one of {', '.join(SENSOR_NAMES)}, got {sensor!r}"
            raise ConfigError(msg)
        self.sensor = sensor.strip().lower()
        if isinstance(method, dict):
            method = MethodSettings.from_dict(method)
        self.method = method or MethodSettings()
        if self.method.threads is None and not self.method.threads_source:
            # The lab shows the cohort of torch's default threads; its live points measure in it.
            import dataclasses

            self.method = dataclasses.replace(self.method, threads_source="torch's default (the lab)")
        self.tolerance = self._check_tolerance(tolerance)
        self._device_arg = parse_device(device)
        self._observers: list[Observer] = []
        self._hardware_cache: dict[str, str] = {}
        self.notice: str = ""  # one-off news (a point landed, a job was cancelled)
        self.live = LiveStatus()
        self._last: dict[str, Selection] = {}  # the last selection of each workload, to switch back to
        self.hardware: str | None = None
        self.recommendation: Recommendation | None = None
        self.assessment: Assessment | None = None
        self._cohort_cache: pd.DataFrame | None = None
        # Derived values are cached per (data version, selection): a control change is a few
        # lookups, not a scan of the frame per banner line (the 200 ms budget is for everything).
        self._version = 0
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._read_store()
        task0, hw0 = self._initial_cohort()
        self.hardware = hw0
        self.selection = self._default_selection(task0)
        self._recommend()
        if self.recommendation is not None:  # the recommendation is the initial selection
            self.selection = self._selection_of(self.recommendation.point)
        elif self.cohort_frame.empty and not self.generation_frame.empty:
            # only generate points here: start on the newest of them
            self.selection = self._selection_of(self.generation_frame.sort_values("created_at").iloc[-1])

    # ----- observers -----
    def observe(self, fn: Observer) -> None:
        """Call ``fn(changed_aspects)`` after every change (see ``ALL_ASPECTS``)."""
        self._observers.append(fn)

    def unobserve(self, fn: Observer) -> None:
        self._observers = [f for f in self._observers if f is not fn]

    def _notify(self, changed: Iterable[str]) -> None:
        ch = frozenset(changed)
        if not ch:
            return
        for fn in list(self._observers):
            fn(ch)

    # ----- reading the store -----
    @staticmethod
    def _check_tolerance(t: Any) -> float:
        return parse_tolerance(t)

    def _invalidate(self) -> None:
        self._cohort_cache = None
        self._version += 1
        self._memo.clear()

    def _cached(self, name: str, compute: Callable[[], Any]) -> Any:
        key = (name, self._version, self.selection, self.hardware)
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def _read_store(self) -> None:
        self._invalidate()
        self.data = LabData.read(self.store_path, self._family_arg)

    # The store as read (widgets.data.LabData): what follows from the store alone, no selection.
    @property
    def df(self) -> pd.DataFrame:
        return self.data.df

    @property
    def ok(self) -> pd.DataFrame:
        """The measured (status ok) rows of the whole store; which of them count for stars and the
        recommendation is the assessment's decision (``self.assessment``)."""
        return self.data.ok

    @property
    def pairings(self) -> Any:
        return self.data.pairings

    @property
    def store_error(self) -> str | None:
        return self.data.error

    @property
    def store_exists(self) -> bool:
        return self.data.exists

    @property
    def family(self) -> tuple[str, ...]:
        return self.data.family

    @property
    def generative_family(self) -> tuple[str, ...]:
        return self.data.generative_family

    def model_kind(self, model: str) -> str | None:
        """``causal-lm``, ``hf``, ``sklearn`` or None (:meth:`widgets.data.LabData.model_kind`)."""
        return self.data.model_kind(model)

    @property
    def models(self) -> tuple[str, ...]:
        """The model picker's choices for the selected workload: the family to classify with, or the
        models that can generate."""
        return self.generative_family if self.selection.generates else self.family

    def workload_problem(self, sel: Selection) -> str | None:
        """Why ``sel``'s model cannot run ``sel``'s workload (one line with the fix), or None."""
        kind = self.model_kind(sel.model)
        if sel.generates and kind in ("hf", "sklearn"):
            other = next(iter(self.generative_family), "smollm2-135m")
            return (
                f"{sel.model} cannot generate text ({_kind_words(kind)}); pick a causal LM such as {other} "
                "for the generate workload, or switch the workload to classify"
            )
        if not sel.generates and kind == "causal-lm" and sel.task is None:
            return (
                f"{sel.model} is a causal LM: the classify workload scores it on a task by prompting, so pick "
                "a task, or switch the workload to generate"
            )
        return None

    def this_hardware(self, device: str | None = None) -> str:
        """This machine's hardware key for ``device`` (the hardware half of a cohort)."""
        d = device or self.selection.device
        if d not in self._hardware_cache:
            self._hardware_cache[d] = _this_hardware(d)
        return self._hardware_cache[d]

    _task_mask = staticmethod(task_mask)

    def _initial_cohort(self) -> tuple[str | None, str | None]:
        return initial_cohort(self.data, self._task_arg, self.this_hardware(self._device_arg))

    def _pick_hardware(self, task: str | None, device: str) -> str | None:
        return self.data.pick_hardware(task, self.this_hardware(device))

    # ----- derived views (the pure functions of widgets.cohort, cached here) -----
    @property
    def cohort(self) -> str:
        return cohort_of(self.selection.task, self.hardware or self.this_hardware())

    @property
    def cohort_frame(self) -> pd.DataFrame:
        """The measured classification rows of the shown cohort (same task, same machine): what the
        tradeoff, family and batch figures plot, and what the recommendation is made from."""
        if self._cohort_cache is None:
            self._cohort_cache = self.data.rows(self.selection.task, self.hardware, "classify")
        return self._cohort_cache

    @property
    def generation_frame(self) -> pd.DataFrame:
        """The measured generate rows of the shown task and machine: what the generation figures plot
        (a generated response and a classified query are different units of work: never mixed)."""

        return self._cached(  # type: ignore[no-any-return]
            "generation_frame", lambda: self.data.rows(self.selection.task, self.hardware, "generate")
        )

    @property
    def selection_frame(self) -> pd.DataFrame:
        """The rows the selection is looked up in: the cohort's, or its generate rows."""
        return self.generation_frame if self.selection.generates else self.cohort_frame

    @property
    def generation_note(self) -> str:
        """One line under the generation plots when they have nothing to show, else ``""``."""
        return generation_note_for(self.generation_frame, self.ok, self.selection)

    @property
    def tasks(self) -> list[str | None]:
        """Tasks to choose from: the store's, plus the current one."""
        return task_choices(self.data, [self.selection.task] if hasattr(self, "selection") else [])

    def task_options(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a task dropdown; the value ``""`` means no task."""
        return task_dropdown(self.tasks)

    @property
    def hardwares(self) -> list[str]:
        """Machines with points for the current task; this machine first."""
        return hardware_choices(self.data, self.selection.task, self.this_hardware(), self.hardware)

    @property
    def batch_sizes(self) -> list[int]:
        return batch_size_choices(self.df, self.selection.batch_size)

    @property
    def precisions(self) -> list[str]:
        return list(PRECISIONS)

    @property
    def workloads(self) -> list[str]:
        return list(WORKLOADS)

    @property
    def devices(self) -> list[str]:
        return device_choices(self.df, _devices_here(), self.selection.device)

    @property
    def seq_len(self) -> int:
        """Tokens per query (per prompt, for generation) of the shown cohort (its most common), so new
        points match it."""
        return seq_len_for(self.selection_frame, self.ok)

    def _match(self, df: pd.DataFrame, sel: Selection) -> pd.DataFrame:
        return match_rows(df, sel)

    @property
    def selected_key(self) -> str | None:
        """Store key of the selected configuration's newest point (measured, shown cohort), or None."""

        def compute() -> str | None:
            m = self._match(self.selection_frame, self.selection)
            return None if m.empty else str(m.sort_values("created_at")["key"].iloc[-1])

        return self._cached("selected_key", compute)  # type: ignore[no-any-return]

    @property
    def selected_row(self) -> pd.Series | None:
        return row_of(self.df, self.selected_key)

    @property
    def is_stored(self) -> bool:
        """True when the selection is measured in the shown cohort (it appears at once)."""
        return self.selected_key is not None

    @property
    def stored_here(self) -> bool:
        """True when the selection is measured on this machine (nothing left to measure)."""
        if self.hardware == self.this_hardware():
            return self.is_stored

        def compute() -> bool:
            ok = self.ok
            if ok.empty:
                return False
            g = ok[self._task_mask(ok, self.selection.task) & (ok["hardware"] == self.this_hardware())]
            return not self._match(g, self.selection).empty

        return bool(self._cached("stored_here", compute))

    @property
    def failed_error(self) -> str | None:
        """The stored error when the selection was tried on this machine and failed."""

        def compute() -> str | None:
            df = self.df
            # A failed point has no record, so its workload is unknown: only classification looks.
            if df.empty or not (df["status"] == "failed").any() or self.selection.generates:
                return None
            f = self._match(df[df["status"] == "failed"], self.selection)
            f = f[self._task_mask(f, self.selection.task) & (f["hardware"] == self.this_hardware())]
            return None if f.empty else str(f.sort_values("created_at")["error"].iloc[-1])

        return self._cached("failed_error", compute)  # type: ignore[no-any-return]

    @property
    def recommended_selection(self) -> Selection | None:
        return None if self.recommendation is None else self._selection_of(self.recommendation.point)

    @property
    def is_recommended(self) -> bool:
        return self.recommendation is not None and self.selected_key == self.recommendation.key

    def _selection_of(self, row: Any) -> Selection:
        task = row["task"]
        task = None if task is None or (isinstance(task, float) and math.isnan(task)) else str(task)
        cast = row.get("cast")
        workload = row.get("workload")
        workload = workload if isinstance(workload, str) and workload else "classify"
        n_new = row.get("max_new_tokens")
        if workload != "generate" or n_new is None or n_new != n_new:  # NaN: a classification row
            # the control keeps its value for the next generate selection
            n_new = self.selection.max_new_tokens if hasattr(self, "selection") else DEFAULT_MAX_NEW_TOKENS
        return Selection(
            str(row["model"]),
            int(row["batch_size"]),
            str(row["precision"]),
            str(row["device"]),
            task,
            cast if isinstance(cast, str) and cast else "model",
            workload,
            int(n_new),
        )

    def _default_selection(self, task: str | None) -> Selection:
        model = self.family[0] if self.family else "minilm-l6"
        return Selection(model, 32, "fp32", self._device_arg, task)

    def _recommend(self) -> None:
        """Re-assess the shown cohort (``efflab.analysis.assess``): the recommendation, the stars and
        the reasons all come from there."""
        from efflab.analysis import AssessInputs, assess

        self._invalidate()
        self.assessment = None
        self.recommendation = None
        g = self.cohort_frame
        if g.empty:
            return
        self.assessment = assess(
            g, AssessInputs(accuracy_tolerance=self.tolerance, cohort=self.cohort), self.pairings
        )
        self.recommendation = self.assessment.recommendation

    # ----- words: a pure function of the facts (widgets/view.py) -----
    def facts(self) -> LabFacts:
        """What the lab's words are made from, read now (plain values: widgets.view.lab_text)."""
        from efflab.analysis.point import Point
        from widgets.view import LabFacts

        df, sel = self.df, self.selection
        failed = df[df["status"] == "failed"] if not df.empty else df
        rec = self.recommendation
        g = self.cohort_frame
        return LabFacts(
            label=sel.label,
            generates=sel.generates,
            tokens_text=sel.tokens_text,
            selected=None if (row := self.selected_row) is None else Point.of(row),
            assessment=self.assessment,
            recommended_label=None if rec is None else self._selection_of(rec.point).label,
            failed_error=self.failed_error,
            workload_problem=self.workload_problem(sel),
            store_path=str(self.store_path),
            store_error=self.store_error,
            store_exists=self.store_exists,
            n_ok=len(self.ok),
            n_failed=len(failed),
            first_failure=str(failed["error"].iloc[0]) if len(failed) else None,
            hardware=self.hardware,
            this_hardware=self.this_hardware(),
            cohort_points=len(g),
            cohort_cost_only=bool(len(g)) and bool(g["accuracy"].isna().all()),
            family=tuple(self.family),
            notice=self.notice,
        )

    def text(self) -> LabText:
        """Everything the lab writes now: :func:`widgets.view.lab_text` of :meth:`facts`."""
        from widgets.view import lab_text

        return lab_text(self.facts())

    @property
    def nudge(self) -> str:
        """The banner comparing the selection with the recommended configuration."""
        return self.text().nudge

    @property
    def messages(self) -> list[str]:
        """What the user should know or do, most important first (no tracebacks, one line each)."""
        return list(self.text().messages)

    def details(self) -> dict[str, str]:
        """The selected point's figures as label -> text (empty when it is not measured)."""
        return self.text().details

    # ----- figures (widgets.lab_figures: the same pure functions the reports use) -----
    def tradeoff_figure(self) -> go.Figure:
        rec = self.recommendation
        from efflab.plots import tradeoff_figure

        return tradeoff_figure(
            self.cohort_frame, selected=self.selected_key, recommended=None if rec is None else rec.key
        )

    def batch_figure(self, metric: str = "throughput_qps") -> go.Figure:
        from efflab.plots import batch_figure

        return batch_figure(self.cohort_frame, self.selection.model, metric=metric)

    def family_figure(self) -> go.Figure:
        """Each model at its best configuration; the selected model at the selected configuration."""
        rated = self._rated_selection()
        return lab_figures.family_figure(
            self.cohort_frame, self.family, self.assessment, rated, recommended=self.is_recommended
        )

    def _rated_selection(self) -> Point | None:
        """The selected point where the assessment counts it (eligible in the shown cohort), else None."""
        from widgets.view import rated_point

        return rated_point(self.assessment, self.selected_key, self.selection.generates)

    def generation_batch_figure(self) -> go.Figure:
        """J per output token vs batch size, per model and precision (this task and machine)."""
        from efflab.plots import generation_batch_figure

        return generation_batch_figure(self.generation_frame)

    def generation_length_figure(self) -> go.Figure:
        """Energy per response vs output length, per model, batch size and precision."""
        from efflab.plots import generation_length_figure

        return generation_length_figure(self.generation_frame)

    def power_figure(self) -> go.Figure:
        lv = self.live
        return lab_figures.power_figure(
            lv.trace_t_s, lv.trace_w, source=lv.trace_source, measured=lv.trace_measured, note=lv.trace_note
        )

    # ----- changes -----
    def select(self, **changes: Any) -> frozenset[str]:
        """Change the selection (``model``, ``batch_size``, ``precision``, ``device``, ``task``,
        ``cast``, ``workload``, ``max_new_tokens``).

        Returns the aspects that changed (observers are told too).

        Raises:
            ConfigError: a bad value, or a model that cannot run the workload (one line, with the fix).
        """
        unknown = sorted(set(changes) - set(SELECTION_FIELDS))
        if unknown:
            msg = f"unknown selection field(s) {', '.join(unknown)}; use {', '.join(SELECTION_FIELDS)}"
            raise ConfigError(msg)
        if "task" in changes:
            changes["task"] = changes["task"] or None
        new = replace(self.selection, **changes)
        if new == self.selection:
            return frozenset()
        problem = self.workload_problem(new)
        if problem:
            raise ConfigError(problem)
        old = self.selection
        self.selection = new
        changed = {"selection"}
        if new.model != old.model:
            changed.add("model")
        if new.workload != old.workload:
            changed |= {"workload", "model"}
        if new.task != old.task or new.device != old.device:
            self.hardware = self._pick_hardware(new.task, new.device)
            self._recommend()
            changed |= {"cohort", "model", "recommendation"}
        self.notice = ""
        changed.add("messages")
        self._notify(changed)
        return frozenset(changed)

    def set_workload(self, workload: str) -> frozenset[str]:
        """Classify or generate. Switching back returns to the configuration last selected in that
        workload (on the task and device shown now). Otherwise a model that cannot run the new
        workload is swapped for one that can (for generate: the one with most generate points here,
        else the smallest causal LM; for classify: the recommended model, else the smallest of the
        family), and a notice says so.

        Raises:
            ConfigError: an unknown workload, or no model here can run it (one line, with the fix).
        """
        w = parse_workload(workload)
        sel = self.selection
        if w == sel.workload:
            return frozenset()
        changes: dict[str, Any] = {"workload": w}
        choices = self.generative_family if w == "generate" else self.family
        prev, self._last[sel.workload] = self._last.get(w), sel
        if prev is not None:
            back = replace(prev, task=sel.task, device=sel.device)
            if back.model in choices and self.workload_problem(back) is None:
                return self.select(**{k: getattr(back, k) for k in SELECTION_FIELDS})
        target = replace(sel, workload=w)
        if self.workload_problem(target) or sel.model not in choices:
            pick = self._first_model(w)
            if pick is None:
                msg = (
                    "no model here can generate text: add a causal LM to the family (e.g. smollm2-135m, "
                    "`efflab zoo list`), or keep the classify workload"
                    if w == "generate"
                    else "no model here can classify: add one to the family (e.g. minilm-l2)"
                )
                raise ConfigError(msg)
            changes["model"] = pick
        g = self.generation_frame
        if w == "generate":  # land on a stored point: this configuration's, else the model's newest
            if not g.empty:
                g = g[(g["model"] == changes.get("model", sel.model)) & (g["device"] == sel.device)]
            same = g[(g["batch_size"] == sel.batch_size) & (g["precision"] == sel.precision)]
            lengths = [int(n) for n in same["max_new_tokens"].dropna().value_counts().index]
            if lengths and sel.max_new_tokens not in lengths:
                changes["max_new_tokens"] = lengths[0]
            elif not lengths and not g.empty:
                newest = g.sort_values("created_at").iloc[-1]
                changes.update(
                    batch_size=int(newest["batch_size"]),
                    precision=str(newest["precision"]),
                    max_new_tokens=int(newest["max_new_tokens"]),
                )
            elif not lengths:  # nothing generated with this model yet: the generate defaults
                changes.update(batch_size=GENERATE_BATCH_SIZE, precision=GENERATE_PRECISION)
        changed = self.select(**changes)
        if "model" in changes and changes["model"] != sel.model:
            why = (
                f"{sel.model} cannot generate text ({_kind_words(self.model_kind(sel.model))})"
                if w == "generate"
                else f"{sel.model} is not in the family to classify with"
            )
            self.notice = f"{why}; the {w} workload starts on {changes['model']}."
            self._notify({"messages"})
        return changed

    def _first_model(self, workload: str) -> str | None:
        """The model a switch to ``workload`` lands on (see :meth:`set_workload`), or None."""
        if workload == "generate":
            g = self.ok[workloads_of(self.ok) == "generate"] if not self.ok.empty else self.ok
            measured = [m for m in g["model"].value_counts().index if m in self.generative_family]
            return str(measured[0]) if measured else next(iter(self.generative_family), None)
        rec = self.recommended_selection
        ok = [
            m
            for m in self.family
            if self.workload_problem(replace(self.selection, model=m, workload="classify")) is None
        ]
        if rec is not None and rec.model in ok:
            return rec.model
        return next(iter(ok), None)

    def select_point(self, key: str) -> frozenset[str]:
        """Select the stored point with store key ``key`` (its workload and output length too); a key
        that is not in the store changes nothing."""
        row = row_of(self.df, key)
        if row is None:
            return frozenset()
        p = self._selection_of(row)
        return self.select(
            model=p.model,
            batch_size=p.batch_size,
            precision=p.precision,
            device=p.device,
            workload=p.workload,
            max_new_tokens=p.max_new_tokens,
        )

    def set_hardware(self, hardware: str) -> None:
        """Show the cohort measured on ``hardware`` (another machine's points, for comparison)."""
        if hardware == self.hardware:
            return
        if hardware not in self.hardwares:
            msg = f"no points measured on {hardware!r}; machines: {', '.join(self.hardwares)}"
            raise ConfigError(msg)
        self.hardware = hardware
        self._recommend()
        self._notify({"cohort", "model", "selection", "recommendation", "messages"})

    def set_tolerance(self, tolerance: float) -> None:
        """Set the accuracy tolerance (fraction; 0.01 = 1 point) and recompute the recommendation."""
        t = self._check_tolerance(tolerance)
        if t == self.tolerance:
            return
        self.tolerance = t
        self._recommend()
        self._notify({"recommendation", "selection"})

    def switch_to_recommended(self) -> None:
        """Select the recommended configuration (the nudge's one click)."""
        rec = self.recommended_selection
        if rec is not None:
            self.select(**{k: getattr(rec, k) for k in SELECTION_FIELDS if k != "max_new_tokens"})

    def reload(self, notice: str = "") -> None:
        """Re-read the store (after a live point landed, or a sweep elsewhere), keep the selection."""
        self._read_store()
        here = self.this_hardware()
        if self.hardware != here and not self.ok.empty:
            mine = self.ok[self._task_mask(self.ok, self.selection.task) & (self.ok["hardware"] == here)]
            if not mine.empty:
                self.hardware = here  # this machine now has its own points: show them
        self._recommend()
        self.notice = notice
        self._notify({"data", "cohort", "model", "selection", "recommendation", "messages"})

    # ----- live measurement (the thread lives in widgets.live; its events land here) -----
    def spec_for(self, row: str | None = None) -> SweepSpec:
        """The sweep of the selection (``row=None``), or of its whole ``batch`` or ``precision`` row."""
        sel = self.selection
        if row is not None and row not in ROW_KINDS:
            msg = f"row must be one of {', '.join(ROW_KINDS)}, got {row!r}"
            raise ConfigError(msg)
        problem = self.workload_problem(sel)
        if problem:
            raise ConfigError(problem)
        return SweepSpec(
            models=(sel.model,),
            batch_sizes=tuple(self.batch_sizes) if row == "batch" else (sel.batch_size,),
            precisions=tuple(self.precisions) if row == "precision" else (sel.precision,),
            devices=(sel.device,),
            task=sel.task,
            seq_len=self.seq_len,
            sensor=self.sensor,
            method=self.method,
            workloads=(sel.workload,),
            max_new_tokens=(sel.max_new_tokens,),
            per_model={},  # what the controls show, not the default sweep's smaller grid for an LLM
        )

    @property
    def can_measure(self) -> bool:
        return self.store_error is None and not self.live.running

    def live_started(self, description: str, total: int, *, source: str, measured: bool, note: str) -> None:
        self.live = LiveStatus(
            running=True,
            description=description,
            total=total,
            text=f"{description}: starting",
            trace_source=source,
            trace_measured=measured,
            trace_note=note,
        )
        self.notice = ""
        self._notify({"live", "trace", "messages"})

    def live_progress(self, stage: str, fraction: float, point: int, total: int, label: str) -> None:
        self.live.progress(stage, fraction, point, total, label)
        self._notify({"live"})

    def live_sample(self, t_s: float, watts: float, energy_j: float | None = None) -> None:
        self.live.sample(t_s, watts, energy_j)
        self._notify({"trace"})

    def live_point(self, label: str, status: str, error: str | None = None) -> None:
        """A point of the running job was committed to the store: re-read it onto the curves."""
        if status == "ok":
            self.reload(notice=f"Measured {label}; it is on the curves and in the store.")
        elif status == "failed":
            self.reload(notice=f"{label} failed: {error}")

    def live_finished(self, status: str, message: str = "") -> None:
        """``status``: done, cancelled or failed (with the error's one line in ``message``)."""
        self.live.finish(status, message)
        if status != "done":
            self.notice = self.live.text
        self._notify({"live", "messages", "selection"})


__all__ = ["ALL_ASPECTS", "ROW_KINDS", "LabState", "LiveStatus", "Selection", "order_family", "resolve_store"]
