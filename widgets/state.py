"""The lab's single source of truth: what is selected, what the store holds, what we recommend.

:class:`LabState` holds the selection (model, batch size, precision, device, task), the accuracy
tolerance, the results frame, the recommendation, the nudge text, the notices that tell the user
what to do, and the status of a live measurement. Controls write to it with :meth:`LabState.select`
and friends; figures and banners read from it. Observers registered with :meth:`LabState.observe`
are told which aspects changed, so a view redraws only what it must.

The store as read is a :class:`widgets.data.LabData` (re-read on every reload). What the lab shows is
not computed here: it is one :class:`widgets.lab_view.LabView`, ``build_lab_view(data, inputs,
assessment)`` — a pure function of that read and of :attr:`LabState.inputs` (the selection, the machine
shown, the notice), made anew after every change (:attr:`LabState.view`); its words are
:func:`widgets.view.lab_text`, its figures those of :mod:`efflab.plots` and :mod:`widgets.lab_figures`.
The assessment is made once per read, cohort and tolerance (:attr:`LabState.assessment`). This module
keeps the inputs and their transitions (:meth:`LabState.select`, :meth:`LabState.set_workload`,
:meth:`LabState.select_point`, :meth:`LabState.set_hardware`, :meth:`LabState.set_tolerance`,
:meth:`LabState.reload`) and the live measurement's status. What observers are told to redraw follows
from the inputs before and after a change (:func:`widgets.lab_view.aspects_between`), not from each
transition's own list.

No ipywidgets here: this module runs (and is tested) without a browser or a kernel.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab.config import (
    DEFAULT_MAX_NEW_TOKENS,
    PRECISIONS,
    WORKLOADS,
    MethodSettings,
    parse_device,
    parse_workload,
)
from efflab.errors import ConfigError
from efflab.options import DEFAULT_TOLERANCE, parse_tolerance
from efflab.paths import default_store
from efflab.store.results import row_of
from efflab.sweep.spec import SweepSpec
from widgets import lab_figures
from widgets.cohort import initial_cohort
from widgets.data import LabData, order_family, task_mask, workloads_of
from widgets.lab_view import (
    ALL_ASPECTS,
    LabInputs,
    LabView,
    aspects_between,
    assess_cohort,
    assessment_key,
    build_lab_view,
    kind_words,
    workload_problem,
)
from widgets.selection import SELECTION_FIELDS, Selection, selection_of

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from efflab.analysis import Assessment, Recommendation
    from widgets.view import LabFacts, LabText

Observer = Callable[[frozenset[str]], None]

ROW_KINDS = ("batch", "precision")
# Where a switch to the generate workload lands when the store has nothing generated with the model:
# one response at a time in fp32, not the classifier's batch (a first Measure of SmolLM2 at batch 128
# and 16 new tokens took minutes on 2 cores), the way a chat request is served.
GENERATE_BATCH_SIZE = 1
GENERATE_PRECISION = "fp32"


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
        self._devices = tuple(_devices_here())
        # One view per (read of the store, inputs) and one assessment per (read, cohort, tolerance):
        # a control change builds a new view (lazy: it computes what is read), never a new assessment.
        self._version = 0
        self._view: tuple[tuple[Any, ...], LabView] | None = None
        self._assessed: tuple[tuple[Any, ...], Assessment | None] | None = None
        self._read_store()
        task0, hw0 = self._initial_cohort()
        self.hardware = hw0
        self.selection = self._default_selection(task0)
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

    def _changed_since(self, before: LabInputs, version: int, also: Iterable[str] = ()) -> frozenset[str]:
        """Tell the observers what changed since ``before`` (the inputs) and ``version`` (the read of the
        store) — :func:`widgets.lab_view.aspects_between`, plus ``also`` — and return it."""
        changed = aspects_between(before, self.inputs, reread=self._version != version) | frozenset(also)
        self._notify(changed)
        return changed

    # ----- reading the store -----
    @staticmethod
    def _check_tolerance(t: Any) -> float:
        return parse_tolerance(t)

    def _read_store(self) -> None:
        self._version += 1
        self.data = LabData.read(self.store_path, self._family_arg)

    # ----- what is shown: one LabView of (the store as read, the inputs) -----
    @property
    def inputs(self) -> LabInputs:
        """The lab's state now, as the view reads it."""
        return LabInputs(
            self.selection, self.hardware, self.this_hardware(), self.tolerance, self._devices, self.notice
        )

    @property
    def assessment(self) -> Assessment | None:
        """The shown cohort's assessment (``efflab.analysis.assess``): the recommendation, the stars and
        the reasons all come from there. Made again only when the store, cohort or tolerance changes."""
        inputs = self.inputs
        key = (self._version, *assessment_key(inputs))
        if self._assessed is None or self._assessed[0] != key:
            self._assessed = (key, assess_cohort(self.data, inputs))
        return self._assessed[1]

    @property
    def recommendation(self) -> Recommendation | None:
        a = self.assessment
        return None if a is None else a.recommendation

    @property
    def view(self) -> LabView:
        """What the lab shows now (:func:`widgets.lab_view.build_lab_view`; a new one after every change)."""
        inputs = self.inputs
        key = (self._version, inputs)
        if self._view is None or self._view[0] != key:
            self._view = (key, build_lab_view(self.data, inputs, self.assessment))
        return self._view[1]

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

    def workload_problem(self, sel: Selection) -> str | None:
        """Why ``sel``'s model cannot run ``sel``'s workload (one line with the fix), or None."""
        return workload_problem(self.data, sel)

    def this_hardware(self, device: str | None = None) -> str:
        """This machine's hardware key for ``device`` (the hardware half of a cohort)."""
        d = device or self.selection.device
        if d not in self._hardware_cache:
            self._hardware_cache[d] = _this_hardware(d)
        return self._hardware_cache[d]

    def _initial_cohort(self) -> tuple[str | None, str | None]:
        return initial_cohort(self.data, self._task_arg, self.this_hardware(self._device_arg))

    def _pick_hardware(self, task: str | None, device: str) -> str | None:
        return self.data.pick_hardware(task, self.this_hardware(device))

    # The view's parts, by the names the lab's widgets and the tests read (widgets/lab_view.py says
    # what each is).
    @property
    def cohort(self) -> str:
        return self.inputs.cohort

    @property
    def models(self) -> tuple[str, ...]:
        return self.view.models

    @property
    def cohort_frame(self) -> pd.DataFrame:
        return self.view.cohort_frame

    @property
    def generation_frame(self) -> pd.DataFrame:
        return self.view.generation_frame

    @property
    def selection_frame(self) -> pd.DataFrame:
        return self.view.selection_frame

    @property
    def generation_note(self) -> str:
        return self.view.generation_note

    @property
    def tasks(self) -> list[str | None]:
        return self.view.tasks

    def task_options(self) -> list[tuple[str, str]]:
        return self.view.task_options()

    @property
    def hardwares(self) -> list[str]:
        return self.view.hardwares

    @property
    def batch_sizes(self) -> list[int]:
        return self.view.batch_sizes

    @property
    def precisions(self) -> list[str]:
        return list(PRECISIONS)

    @property
    def workloads(self) -> list[str]:
        return list(WORKLOADS)

    @property
    def devices(self) -> list[str]:
        return self.view.devices

    @property
    def seq_len(self) -> int:
        return self.view.seq_len

    @property
    def selected_key(self) -> str | None:
        return self.view.selected_key

    @property
    def selected_row(self) -> pd.Series | None:
        return self.view.selected_row

    @property
    def is_stored(self) -> bool:
        return self.view.is_stored

    @property
    def stored_here(self) -> bool:
        return self.view.stored_here

    @property
    def failed_error(self) -> str | None:
        return self.view.failed_error

    @property
    def recommended_selection(self) -> Selection | None:
        return self.view.recommended_selection

    @property
    def is_recommended(self) -> bool:
        return self.view.is_recommended

    def _selection_of(self, row: Any) -> Selection:
        return selection_of(
            row, self.selection.max_new_tokens if hasattr(self, "selection") else DEFAULT_MAX_NEW_TOKENS
        )

    def _default_selection(self, task: str | None) -> Selection:
        model = self.family[0] if self.family else "minilm-l6"
        return Selection(model, 32, "fp32", self._device_arg, task)

    # ----- words: a pure function of the facts (widgets/view.py) -----
    def facts(self) -> LabFacts:
        """What the lab's words are made from, read now (plain values: widgets.view.lab_text)."""
        return self.view.facts

    def text(self) -> LabText:
        """Everything the lab writes now: :func:`widgets.view.lab_text` of :meth:`facts`."""
        return self.view.text

    @property
    def nudge(self) -> str:
        """The banner comparing the selection with the recommended configuration."""
        return self.view.text.nudge

    @property
    def messages(self) -> list[str]:
        """What the user should know or do, most important first (no tracebacks, one line each)."""
        return list(self.view.text.messages)

    def details(self) -> dict[str, str]:
        """The selected point's figures as label -> text (empty when it is not measured)."""
        return self.view.text.details

    # ----- figures (widgets.lab_figures and efflab.plots: the same pure functions the reports use) -----
    def tradeoff_figure(self) -> go.Figure:
        from efflab.plots import tradeoff_figure

        v = self.view
        rec = v.recommendation
        return tradeoff_figure(
            v.cohort_frame, selected=v.selected_key, recommended=None if rec is None else rec.key
        )

    def batch_figure(self, metric: str = "throughput_qps") -> go.Figure:
        from efflab.plots import batch_figure

        return batch_figure(self.view.cohort_frame, self.selection.model, metric=metric)

    def family_figure(self) -> go.Figure:
        """Each model at its best configuration; the selected model at the selected configuration."""
        v = self.view
        return lab_figures.family_figure(
            v.cohort_frame, self.family, v.assessment, v.rated, recommended=v.is_recommended
        )

    def generation_batch_figure(self) -> go.Figure:
        """J per output token vs batch size, per model and precision (this task and machine)."""
        from efflab.plots import generation_batch_figure

        return generation_batch_figure(self.view.generation_frame)

    def generation_length_figure(self) -> go.Figure:
        """Energy per response vs output length, per model, batch size and precision."""
        from efflab.plots import generation_length_figure

        return generation_length_figure(self.view.generation_frame)

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
                f"{sel.model} cannot generate text ({kind_words(self.model_kind(sel.model))})"
                if w == "generate"
                else f"{sel.model} is not in the family to classify with"
            )
            before = self.inputs
            self.notice = f"{why}; the {w} workload starts on {changes['model']}."
            self._changed_since(before, self._version)
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
        before = self.inputs
        self.hardware = hardware
        self._changed_since(before, self._version)

    def set_tolerance(self, tolerance: float) -> None:
        """Set the accuracy tolerance (fraction; 0.01 = 1 point) and recompute the recommendation."""
        t = self._check_tolerance(tolerance)
        if t == self.tolerance:
            return
        before = self.inputs
        self.tolerance = t
        self._changed_since(before, self._version)

    def switch_to_recommended(self) -> None:
        """Select the recommended configuration (the nudge's one click)."""
        rec = self.recommended_selection
        if rec is not None:
            self.select(**{k: getattr(rec, k) for k in SELECTION_FIELDS if k != "max_new_tokens"})

    def reload(self, notice: str = "") -> None:
        """Re-read the store (after a live point landed, or a sweep elsewhere), keep the selection."""
        before, version = self.inputs, self._version
        self._read_store()
        here = self.this_hardware()
        if self.hardware != here and not self.ok.empty:
            mine = self.ok[task_mask(self.ok, self.selection.task) & (self.ok["hardware"] == here)]
            if not mine.empty:
                self.hardware = here  # this machine now has its own points: show them
        self.notice = notice
        self._changed_since(before, version)

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
