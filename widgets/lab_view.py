"""What the lab shows, as a pure function of the store as read and of what the user chose.

``build_lab_view(LabData, LabInputs, Assessment) -> LabView``, like the dashboard's
``build_view(Snapshot, Inputs) -> View``: :class:`LabInputs` is the lab's state (the selection, the
machine shown, the notice, and this machine's hardware key and devices, found once by the state);
:class:`LabView` is everything drawn from it — the cohort's rows, the selected point, the controls'
choices, the words (:func:`widgets.view.lab_text`). Each part is computed the first time it is read
and kept for the life of the view; :class:`widgets.state.LabState` makes a new view whenever the
store is re-read or an input changes, and nothing else caches.

The assessment (recommendation, stars, reasons) depends on the cohort and the tolerance only, not on
the selection: :func:`assess_cohort` makes it and the state keeps it across selection changes.

No ipywidgets, no store I/O and no probing of the machine here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from efflab.options import DEFAULT_TOLERANCE
from efflab.store.results import cohort_of, row_of
from widgets.cohort import (
    batch_size_choices,
    device_choices,
    generation_note_for,
    hardware_choices,
    match_rows,
    seq_len_for,
    task_choices,
    task_dropdown,
)
from widgets.data import LabData, task_mask
from widgets.selection import Selection, selection_of

if TYPE_CHECKING:
    import pandas as pd

    from efflab.analysis import Assessment, Point, Recommendation
    from widgets.view import LabFacts, LabText


@dataclass(frozen=True)
class LabInputs:
    """The lab's state at one moment.

    Attributes:
        selection: the configuration the controls show.
        hardware: the machine whose points are shown (None: nothing stored yet).
        this_hardware: this machine's hardware key for the selection's device.
        tolerance: the recommendation's accuracy tolerance, a fraction (0.01 = 1 point).
        devices_here: the devices this machine offers (``cpu``, ``cuda``).
        notice: one-off news (a point landed, a job was cancelled).
    """

    selection: Selection
    hardware: str | None
    this_hardware: str
    tolerance: float = DEFAULT_TOLERANCE
    devices_here: tuple[str, ...] = ("cpu",)
    notice: str = ""

    @property
    def cohort(self) -> str:
        """The shown cohort: the selection's task on the machine shown."""
        return cohort_of(self.selection.task, self.hardware or self.this_hardware)


def assess_cohort(data: LabData, inputs: LabInputs) -> Assessment | None:
    """The shown cohort's assessment at the inputs' tolerance (``efflab.analysis.assess``), None when
    the cohort is empty."""
    from efflab.analysis import AssessInputs, assess

    g = data.rows(inputs.selection.task, inputs.hardware, "classify")
    if g.empty:
        return None
    return assess(g, AssessInputs(accuracy_tolerance=inputs.tolerance, cohort=inputs.cohort), data.pairings)


def assessment_key(inputs: LabInputs) -> tuple[object, ...]:
    """What the assessment depends on: the cohort (task, machine) and the tolerance, not the selection."""
    return (inputs.selection.task, inputs.hardware, inputs.cohort, inputs.tolerance)


# What a view redraws (an observer is told these): "data": the store was re-read; "cohort": the task or
# machine shown changed; "selection": the selected configuration changed ("model" too when the model
# did); "recommendation": the tolerance or the recommended point changed; "workload": classify <->
# generate (the model picker's choices change with it); "messages": the notices changed; and, from the
# live measurement rather than the inputs, "live" (its progress) and "trace" (new power samples).
ALL_ASPECTS = frozenset(
    {"data", "cohort", "selection", "model", "recommendation", "live", "trace", "messages", "workload"}
)


def aspects_between(before: LabInputs, after: LabInputs, *, reread: bool = False) -> frozenset[str]:
    """The aspects a view must redraw when the inputs went from ``before`` to ``after`` (``reread``: the
    store was read again meanwhile): the one rule, whichever transition made the change."""
    changed: set[str] = set()
    if reread:
        changed |= {"data", "cohort", "model", "selection", "recommendation", "messages"}
    a, b = before.selection, after.selection
    if (a.task, a.device, before.hardware) != (b.task, b.device, after.hardware):
        changed |= {"cohort", "model", "selection", "recommendation", "messages"}
    if before.tolerance != after.tolerance:
        changed |= {"recommendation", "selection"}
    if a.workload != b.workload:
        changed |= {"workload", "model", "selection"}
    if a.model != b.model:
        changed |= {"model", "selection"}
    if a != b:
        changed.add("selection")
    if before.notice != after.notice:
        changed.add("messages")
    return frozenset(changed)


def workload_problem(data: LabData, sel: Selection) -> str | None:
    """Why ``sel``'s model cannot run ``sel``'s workload (one line with the fix), or None."""
    kind = data.model_kind(sel.model)
    if sel.generates and kind in ("hf", "sklearn"):
        other = next(iter(data.generative_family), "smollm2-135m")
        return (
            f"{sel.model} cannot generate text ({kind_words(kind)}); pick a causal LM such as {other} "
            "for the generate workload, or switch the workload to classify"
        )
    if not sel.generates and kind == "causal-lm" and sel.task is None:
        return (
            f"{sel.model} is a causal LM: the classify workload scores it on a task by prompting, so pick "
            "a task, or switch the workload to generate"
        )
    return None


def kind_words(kind: str | None) -> str:
    return "a scikit-learn pipeline" if kind == "sklearn" else "an encoder classifier"


class LabView:
    """Everything the lab shows for one (store as read, inputs, assessment); read-only.

    Each attribute is a pure function of the three, computed when first read (a control change reads a
    few of them: the 200 ms budget is for everything).
    """

    def __init__(self, data: LabData, inputs: LabInputs, assessment: Assessment | None) -> None:
        self.data, self.inputs, self.assessment = data, inputs, assessment

    @property
    def selection(self) -> Selection:
        return self.inputs.selection

    @property
    def recommendation(self) -> Recommendation | None:
        return None if self.assessment is None else self.assessment.recommendation

    # ----- the rows shown -----
    @cached_property
    def cohort_frame(self) -> pd.DataFrame:
        """The measured classification rows of the shown cohort (same task, same machine): what the
        tradeoff, family and batch figures plot, and what the recommendation is made from."""
        return self.data.rows(self.selection.task, self.inputs.hardware, "classify")

    @cached_property
    def generation_frame(self) -> pd.DataFrame:
        """The measured generate rows of the shown task and machine: what the generation figures plot
        (a generated response and a classified query are different units of work: never mixed)."""
        return self.data.rows(self.selection.task, self.inputs.hardware, "generate")

    @property
    def selection_frame(self) -> pd.DataFrame:
        """The rows the selection is looked up in: the cohort's, or its generate rows."""
        return self.generation_frame if self.selection.generates else self.cohort_frame

    @cached_property
    def generation_note(self) -> str:
        """One line under the generation plots when they have nothing to show, else ``""``."""
        return generation_note_for(self.generation_frame, self.data.ok, self.selection)

    # ----- the selected point -----
    @cached_property
    def selected_key(self) -> str | None:
        """Store key of the selected configuration's newest point (measured, shown cohort), or None."""
        m = match_rows(self.selection_frame, self.selection)
        return None if m.empty else str(m.sort_values("created_at")["key"].iloc[-1])

    @cached_property
    def selected_row(self) -> pd.Series | None:
        return row_of(self.data.df, self.selected_key)

    @cached_property
    def selected(self) -> Point | None:
        from efflab.analysis.point import Point

        return None if (row := self.selected_row) is None else Point.of(row)

    @property
    def is_stored(self) -> bool:
        """True when the selection is measured in the shown cohort (it appears at once)."""
        return self.selected_key is not None

    @cached_property
    def stored_here(self) -> bool:
        """True when the selection is measured on this machine (nothing left to measure)."""
        here = self.inputs.this_hardware
        if self.inputs.hardware == here:
            return self.is_stored
        ok = self.data.ok
        if ok.empty:
            return False
        g = ok[task_mask(ok, self.selection.task) & (ok["hardware"] == here)]
        return not match_rows(g, self.selection).empty

    @cached_property
    def failed_error(self) -> str | None:
        """The stored error when the selection was tried on this machine and failed."""
        df, sel = self.data.df, self.selection
        # A failed point has no record, so its workload is unknown: only classification looks.
        if df.empty or not (df["status"] == "failed").any() or sel.generates:
            return None
        f = match_rows(df[df["status"] == "failed"], sel)
        f = f[task_mask(f, sel.task) & (f["hardware"] == self.inputs.this_hardware)]
        return None if f.empty else str(f.sort_values("created_at")["error"].iloc[-1])

    @cached_property
    def workload_problem(self) -> str | None:
        return workload_problem(self.data, self.selection)

    @cached_property
    def recommended_selection(self) -> Selection | None:
        rec = self.recommendation
        return None if rec is None else selection_of(rec.point, self.selection.max_new_tokens)

    @property
    def is_recommended(self) -> bool:
        rec = self.recommendation
        return rec is not None and self.selected_key == rec.key

    @cached_property
    def rated(self) -> Point | None:
        """The selected point where the assessment counts it (eligible in the shown cohort), else None."""
        from widgets.view import rated_point

        return rated_point(self.assessment, self.selected_key, self.selection.generates)

    # ----- the controls' choices -----
    @cached_property
    def tasks(self) -> list[str | None]:
        """Tasks to choose from: the store's, plus the current one."""
        return task_choices(self.data, [self.selection.task])

    def task_options(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a task dropdown; the value ``""`` means no task."""
        return task_dropdown(self.tasks)

    @cached_property
    def hardwares(self) -> list[str]:
        """Machines with points for the current task; this machine first."""
        return hardware_choices(
            self.data, self.selection.task, self.inputs.this_hardware, self.inputs.hardware
        )

    @cached_property
    def batch_sizes(self) -> list[int]:
        return batch_size_choices(self.data.df, self.selection.batch_size)

    @cached_property
    def devices(self) -> list[str]:
        return device_choices(self.data.df, list(self.inputs.devices_here), self.selection.device)

    @property
    def models(self) -> tuple[str, ...]:
        """The model picker's choices for the selected workload: the family to classify with, or the
        models that can generate."""
        return self.data.generative_family if self.selection.generates else self.data.family

    @cached_property
    def seq_len(self) -> int:
        """Tokens per query (per prompt, for generation) of the shown cohort (its most common), so new
        points match it."""
        return seq_len_for(self.selection_frame, self.data.ok)

    # ----- the words -----
    @cached_property
    def facts(self) -> LabFacts:
        """What the lab's words are made from (plain values: :func:`widgets.view.lab_text`)."""
        from widgets.view import LabFacts

        data, sel, g = self.data, self.selection, self.cohort_frame
        df = data.df
        failed = df[df["status"] == "failed"] if not df.empty else df
        rec_sel = self.recommended_selection
        return LabFacts(
            label=sel.label,
            generates=sel.generates,
            tokens_text=sel.tokens_text,
            selected=self.selected,
            assessment=self.assessment,
            recommended_label=None if rec_sel is None else rec_sel.label,
            failed_error=self.failed_error,
            workload_problem=self.workload_problem,
            store_path=str(data.path),
            store_error=data.error,
            store_exists=data.exists,
            n_ok=len(data.ok),
            n_failed=len(failed),
            first_failure=str(failed["error"].iloc[0]) if len(failed) else None,
            hardware=self.inputs.hardware,
            this_hardware=self.inputs.this_hardware,
            cohort_points=len(g),
            cohort_cost_only=bool(len(g)) and bool(g["accuracy"].isna().all()),
            family=tuple(data.family),
            notice=self.inputs.notice,
        )

    @cached_property
    def text(self) -> LabText:
        """Everything the lab writes: :func:`widgets.view.lab_text` of :attr:`facts`."""
        from widgets.view import lab_text

        return lab_text(self.facts)


def build_lab_view(data: LabData, inputs: LabInputs, assessment: Assessment | None) -> LabView:
    """What the lab shows for ``inputs`` over ``data`` (``assessment``: :func:`assess_cohort` of them)."""
    return LabView(data, inputs, assessment)


__all__ = [
    "ALL_ASPECTS",
    "LabInputs",
    "LabView",
    "aspects_between",
    "assess_cohort",
    "assessment_key",
    "build_lab_view",
    "kind_words",
    "workload_problem",
]
