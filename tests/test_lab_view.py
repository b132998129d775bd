"""The lab's words as a pure function (widgets.view.lab_text): every banner from facts alone, no
LabState, no store, no widgets; and the state hands the same facts the widgets show."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
from conftest import fast_method

from efflab.analysis import AssessInputs, assess
from efflab.store import load_results
from widgets.state import LabState
from widgets.view import LabFacts, lab_text


def _frame() -> pd.DataFrame:
    from test_assess import frame, point

    return frame(
        point("minilm-l2", 8, "int8", 0.5, accuracy=0.80, throughput_qps=800.0, peak_mem_bytes=2**27),
        point("minilm-l6", 8, "fp32", 4.0, accuracy=0.81, throughput_qps=100.0, peak_mem_bytes=2**29),
    )


def test_no_store_no_points_and_another_machine_are_said_in_order() -> None:
    t = lab_text(LabFacts(label="m · batch 1 · fp32", store_path="s.sqlite", store_exists=False))
    assert t.messages[0].startswith("No results store at s.sqlite yet")
    assert t.nudge.startswith("No recommendation yet") and t.nudge_kind == "info" and not t.offer_switch
    t = lab_text(LabFacts(label="m", store_path="s", n_failed=3, first_failure="boom"))
    assert t.messages == ("All 3 stored points failed (first: boom). Fix that and re-run `efflab sweep`.",)
    t = lab_text(LabFacts(label="m", n_ok=4, hardware="A", this_hardware="B", cohort_points=4, family=("m",)))
    assert "another machine (A); this one is B" in t.messages[0] and "one model (m)" in t.messages[1]
    assert (
        lab_text(LabFacts(label="m", store_error="the store is damaged"))
        .messages[0]
        .endswith("Live measurements are off until the store is fixed.")
    )


def test_the_banner_follows_the_selection_against_the_recommendation() -> None:
    a = assess(_frame(), AssessInputs(accuracy_tolerance=0.05))  # l2's 80 % within 5 pt of l6's 81 %
    rec = a.recommendation
    assert rec is not None and rec.key == "minilm-l2:8:int8"
    base = LabFacts(label="x", assessment=a, recommended_label=rec.label, n_ok=2, cohort_points=2)
    on_rec = lab_text(dataclasses.replace(base, label=rec.label, selected=a.point(rec.key)))
    assert on_rec.nudge.startswith("This is the recommended configuration.") and on_rec.nudge_kind == "ok"
    assert not on_rec.offer_switch and on_rec.details["energy"].startswith("139 mWh")
    other = lab_text(
        dataclasses.replace(base, label="minilm-l6 · batch 8 · fp32", selected=a.point("minilm-l6:8:fp32"))
    )
    assert other.nudge.startswith("minilm-l6 · batch 8 · fp32: 8") and "vs the recommended" in other.nudge
    assert other.nudge.endswith("; energy modelled (codecarbon, ±30 %).")  # no parentheses in parentheses
    assert other.nudge_kind == "nudge" and other.offer_switch
    missing = lab_text(dataclasses.replace(base, label="minilm-l4 · batch 1 · fp32"))
    assert "is not measured yet. Press Measure" in missing.nudge and missing.details == {}
    failed = lab_text(dataclasses.replace(base, label="l4", failed_error="out of memory"))
    assert failed.nudge == f"l4 failed on this machine: out of memory. The recommendation is {rec.label}."
    gen = lab_text(dataclasses.replace(base, generates=True, workload_problem="tfidf cannot generate text"))
    assert gen.nudge == "Tfidf cannot generate text." and gen.nudge_kind == "info" and not gen.offer_switch


def test_the_state_hands_the_widgets_the_same_text(small_store: Path) -> None:
    s = LabState(small_store, sensor="fake", method=fast_method())
    f = s.facts()
    assert f.selected_key == s.selected_key and f.n_ok == len(s.ok)
    assert s.text() == lab_text(f)
    assert s.nudge == lab_text(f).nudge and s.details() == lab_text(f).details
    assert len(load_results(small_store)) >= f.cohort_points > 0


def test_what_the_lab_shows_is_a_pure_function_of_the_store_read_and_the_inputs(small_store: Path) -> None:
    """build_lab_view(LabData, LabInputs, assessment) without a LabState gives what the state shows; a
    selection change makes a new view and keeps the assessment (the cohort and tolerance did not
    change); a reload or a new tolerance makes a new assessment."""
    from widgets.data import LabData
    from widgets.lab_view import LabInputs, assess_cohort, build_lab_view

    s = LabState(small_store, sensor="fake", method=fast_method())
    data = LabData.read(small_store)
    inputs = LabInputs(s.selection, s.hardware, s.this_hardware(), s.tolerance)
    assessment = assess_cohort(data, inputs)
    assert assessment is not None and s.recommendation is not None
    v = build_lab_view(data, inputs, assessment)
    assert v.selected_key == s.selected_key == s.recommendation.key and v.is_recommended
    assert v.text == s.text() and v.batch_sizes == s.batch_sizes and v.seq_len == s.seq_len
    assert v.cohort_frame["key"].tolist() == s.cohort_frame["key"].tolist()
    assert assessment.recommendation is not None and assessment.recommendation.key == s.recommendation.key

    view0, assessed0 = s.view, s.assessment
    assert s.view is view0  # nothing changed: the same view
    other = next(b for b in s.batch_sizes if b != s.selection.batch_size)
    s.select(batch_size=other)
    assert s.view is not view0 and s.assessment is assessed0  # a new view, the same assessment
    assert s.view.selection.batch_size == other and not s.is_recommended
    s.set_tolerance(s.tolerance + 0.01)
    assert s.assessment is not assessed0
    assessed1 = s.assessment
    s.reload()
    assert s.assessment is not assessed1 and s.selection.batch_size == other


def test_what_to_redraw_follows_from_the_inputs_alone() -> None:
    """aspects_between(before, after): one rule for every transition of the state."""
    from widgets.lab_view import LabInputs, aspects_between
    from widgets.selection import Selection

    sel = Selection("tiny-bert-l1", 4, "fp32", task="t.csv")
    a = LabInputs(sel, "hw-A", "hw-A")

    def step(**changes: object) -> frozenset[str]:
        sel_changes = {k: v for k, v in changes.items() if k in Selection.__dataclass_fields__}
        rest = {k: v for k, v in changes.items() if k not in sel_changes}
        b = dataclasses.replace(a, selection=dataclasses.replace(sel, **sel_changes), **rest)
        return aspects_between(a, b)

    assert aspects_between(a, a) == frozenset()
    assert step(batch_size=8) == {"selection"}
    assert step(model="tiny-bert-l2") == {"selection", "model"}
    assert step(workload="generate") == {"selection", "model", "workload"}
    assert (
        step(hardware="hw-B")
        == step(task="other.csv")
        == {"cohort", "model", "selection", "recommendation", "messages"}
    )
    assert step(tolerance=0.05) == {"recommendation", "selection"}
    assert step(notice="Measured it") == {"messages"}
    assert {"data", "cohort", "recommendation"} <= aspects_between(a, a, reread=True)
