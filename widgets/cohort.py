"""The lab's cohort and its controls' choices, as pure functions of plain values.

A *cohort* is one task on one machine (``efflab.store.results.cohort_of``): the rows the lab's figures
plot and its recommendation is made from. Given the store as read (:class:`widgets.data.LabData`), the
machine shown, this machine's hardware key and the :class:`widgets.selection.Selection`, these functions
say which of the shown rows (``LabData.rows``) are the selection (:func:`match_rows`), what each control offers (:func:`task_choices`,
:func:`hardware_choices`, :func:`batch_size_choices`, :func:`device_choices`...) and the note under
the generation plots when they are empty.

No state, no caching and no probing of the machine here: :class:`widgets.lab_view.LabView` calls these
for what the lab shows, and :class:`widgets.state.LabState` finds this machine's hardware key and devices.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from efflab.config import DEFAULT_SEQ_LEN
from efflab.sweep.spec import FULL_BATCH_SIZES
from widgets.data import LabData, common_seq_len, workloads_of

if TYPE_CHECKING:
    import pandas as pd

    from widgets.selection import Selection


def task_label(task: str | None) -> str:
    """How a task reads in a dropdown: a CSV task by its file name, no task as cost only."""
    if not task:
        return "no task (cost only)"
    p = Path(task)
    return p.name if p.suffix.lower() == ".csv" else task


def initial_cohort(data: LabData, task: str | None, here: str) -> tuple[str | None, str]:
    """The task and machine the lab opens on: ``task`` (else the store's task with most points) and
    ``here`` (this machine's hardware key) when it has points of that task, else the machine with most."""
    first = data.initial_task(task)
    return first, data.pick_hardware(first, here)


def match_rows(df: pd.DataFrame, sel: Selection) -> pd.DataFrame:
    """The rows of ``df`` measured at ``sel``'s configuration (model, batch size, precision, device,
    workload and, for generate, output length)."""
    if df.empty:
        return df
    m = (
        (df["model"] == sel.model)
        & (df["batch_size"] == sel.batch_size)
        & (df["precision"] == sel.precision)
        & (df["device"] == sel.device)
        & (workloads_of(df) == sel.workload)
    )
    if sel.generates:
        m &= df["max_new_tokens"] == sel.max_new_tokens
    return df[m]


def generation_note_for(generation: pd.DataFrame, ok: pd.DataFrame, sel: Selection) -> str:
    """One line under the generation plots when ``generation`` (the shown generate rows) is empty,
    else ``""``: where the store's other generate points (of ``ok``, its measured rows) are, or how
    to measure the first."""
    if not generation.empty:
        return ""
    other = ok[workloads_of(ok) == "generate"] if not ok.empty else ok
    if not other.empty:
        tasks = sorted({task_label(None if t != t else t) for t in other["task"]})
        return (
            f"No generate points for this task on this machine; the store has {len(other)} "
            f"(task {', '.join(tasks)}): pick that task or machine above to see them."
        )
    if not sel.generates:
        return "No generate points yet: switch the workload to generate, pick a causal LM and press Measure."
    return (
        f"No generate points yet: press Measure, or run `efflab measure --model {sel.model} --workload "
        f"generate --max-new-tokens {sel.max_new_tokens} --batch-size {sel.batch_size}` in a terminal."
    )


def task_choices(data: LabData, shown: Sequence[str | None] = ()) -> list[str | None]:
    """Tasks to choose from: ``shown`` (the current one, if any), then the store's."""
    return list(dict.fromkeys([*shown, *data.tasks()]))


def task_dropdown(tasks: Sequence[str | None]) -> list[tuple[str, str]]:
    """(label, value) pairs for a task dropdown; the value ``""`` means no task."""
    return [(task_label(t), t or "") for t in tasks]


def hardware_choices(data: LabData, task: str | None, here: str, shown: str | None) -> list[str]:
    """Machines with points of ``task``: ``here`` (this machine) first, and ``shown`` (the machine
    shown now) among them."""
    found = data.hardwares(task)
    return list(dict.fromkeys([here, *found, *([shown] if shown else [])]))


def batch_size_choices(df: pd.DataFrame, current: int) -> list[int]:
    """The full sweep's batch sizes, the store's (``df``) and ``current``, ascending."""
    found = [] if df.empty else [int(b) for b in df["batch_size"].dropna().unique()]
    return sorted({*FULL_BATCH_SIZES, *found, current})


def device_choices(df: pd.DataFrame, here: Sequence[str], current: str) -> list[str]:
    """``here`` (the devices this machine seems to have), the store's (``df``) and ``current``."""
    found = [] if df.empty else [str(d) for d in df["device"].dropna().unique()]
    return list(dict.fromkeys([*here, *found, current]))


def seq_len_for(rows: pd.DataFrame, ok: pd.DataFrame) -> int:
    """Tokens per query (per prompt, for generation) for a new point: the most common of ``rows`` (the
    rows the selection is looked up in), else of ``ok`` (the store's measured rows), else 128."""
    return common_seq_len(rows) or common_seq_len(ok) or DEFAULT_SEQ_LEN


__all__ = [
    "batch_size_choices",
    "device_choices",
    "generation_note_for",
    "hardware_choices",
    "initial_cohort",
    "match_rows",
    "seq_len_for",
    "task_choices",
    "task_dropdown",
    "task_label",
]
