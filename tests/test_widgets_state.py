"""The lab's state (the single source of truth) and its bindings, without a browser.

Selection -> query -> figure data; stored points appear at once, new ones are measured live in a
thread (fake sensor, tiny models) and land in the store and on the curves; rows stream point by
point; a running measurement can be cancelled; bad stores say what to do.
"""

from __future__ import annotations

import ast
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, fast_method

from efflab.errors import ConfigError, StoreError
from efflab.store import load_results, open_store
from widgets.live import QueueDispatch, start_live
from widgets.state import LabState, order_family


def lab_state(store: Path, **kw: Any) -> LabState:
    kw.setdefault("sensor", "fake")
    kw.setdefault("method", fast_method())
    return LabState(store, **kw)


def trace(fig: Any, name: str) -> Any:
    return next((t for t in fig.data if t.name == name), None)


# ----- layering -----
def test_efflab_never_imports_widgets() -> None:
    offenders = []
    for path in (ROOT / "efflab").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "widgets"]
    assert not offenders


def test_the_state_needs_no_ipywidgets() -> None:
    code = "import sys, widgets, widgets.state, widgets.live; print('ipywidgets' in sys.modules, 'plotly' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


def test_family_is_ordered_by_size() -> None:
    assert order_family(["b", "a", "c"], {"a": 3, "b": 1, "c": 2}) == ["b", "c", "a"]
    # unknown sizes: the zoo's own order first, then the rest by size
    assert order_family(["x", "z2", "z1"], {"x": 5}, zoo=["z1", "z2"]) == ["z1", "z2", "x"]


# ----- selection -> query -> figures -----
def test_the_recommendation_is_the_initial_selection(small_store: Path) -> None:
    s = lab_state(small_store)
    assert s.family.index("tiny-bert-l1") < s.family.index("tiny-bert-l2")  # smallest first
    assert s.recommendation is not None
    assert s.is_stored and s.is_recommended
    assert s.selected_key == s.recommendation.key
    assert s.nudge.startswith("This is the recommended configuration")
    assert not [m for m in s.messages if "store" in m.lower()]
    assert len(s.cohort_frame) == 8


def test_a_stored_selection_appears_at_once_on_every_figure(small_store: Path) -> None:
    s = lab_state(small_store)
    seen: list[frozenset[str]] = []
    s.observe(seen.append)
    rec = s.recommended_selection
    assert rec is not None
    other_p = "int8" if rec.precision == "fp32" else "fp32"
    other_b = 1 if rec.batch_size == 4 else 4
    changed = s.select(precision=other_p, batch_size=other_b)
    assert seen == [changed] and "selection" in changed and "model" not in changed
    row = s.selected_row
    assert row is not None
    assert (row["model"], int(row["batch_size"]), row["precision"]) == (rec.model, other_b, other_p)
    sel = trace(s.tradeoff_figure(), "selected")
    assert list(sel.x) == [pytest.approx(row["wh_per_1000_queries"])]
    assert list(sel.y) == [pytest.approx(row["accuracy"])]
    assert trace(s.tradeoff_figure(), "recommended") is not None
    # the nudge compares with the recommendation and offers the switch
    # (the tiny models' energies may tie within their uncertainty on a loaded machine)
    assert (
        "× the energy" in s.nudge or "the same energy within uncertainty" in s.nudge
    ) and "recommended" in s.nudge
    assert not s.is_recommended
    # batch curves are the selected model's, one line per precision
    lat = s.batch_figure("latency_s")
    lines = [t for t in lat.data if t.name in ("fp32", "int8")]
    assert {t.name for t in lines} == {"fp32", "int8"} and lat.layout.showlegend
    assert all(list(t.x) == [1, 4] for t in lines)
    assert rec.model in lat.layout.title.text
    # the family figure rates every model, with stars
    fam = s.family_figure().data[0]
    assert sorted(fam.y) == ["tiny-bert-l1", "tiny-bert-l2"] and all("★" in t or "☆" in t for t in fam.text)
    # a model change tells the batch figures to redraw
    other_m = "tiny-bert-l1" if rec.model == "tiny-bert-l2" else "tiny-bert-l2"
    assert "model" in s.select(model=other_m)
    assert other_m in s.batch_figure("throughput_qps").layout.title.text
    s.switch_to_recommended()
    assert s.is_recommended and s.selection == rec


def test_tolerance_and_bad_values(small_store: Path) -> None:
    s = lab_state(small_store)
    s.set_tolerance(0.5)
    assert s.recommendation is not None and s.recommendation.accuracy_tolerance == 0.5
    with pytest.raises(ConfigError, match="tolerance"):
        s.set_tolerance(5)
    with pytest.raises(ConfigError, match="precision"):
        s.select(precision="fp64")
    with pytest.raises(ConfigError, match="batch size"):
        s.select(batch_size=0)
    with pytest.raises(ConfigError, match="unknown selection"):
        s.select(colour="red")
    with pytest.raises(ConfigError, match="sensor"):
        LabState(small_store, sensor="thermometer")
    with pytest.raises(ConfigError, match="family"):
        LabState(small_store, family="tiny-bert-l1")


# ----- uncached: measured live, lands on the curves and in the store -----
def test_an_unstored_selection_is_measured_live_and_lands(copy_store: Path) -> None:
    s = lab_state(copy_store)
    s.select(model="tiny-bert-l1", batch_size=8, precision="fp32")
    assert not s.is_stored and "not measured yet" in s.nudge
    n0 = len(s.cohort_frame)
    seen: list[frozenset[str]] = []
    s.observe(seen.append)
    q = QueueDispatch()
    job = start_live(s, dispatch=q)
    assert job.wait(300) == "done", s.live.text
    assert s.is_stored and len(s.cohort_frame) == n0 + 1
    assert any("data" in ch for ch in seen) and any("live" in ch for ch in seen)
    assert s.live.text.endswith("done") and not s.live.running
    # the power trace is labelled honestly: the fake sensor is sampled, never "measured"
    assert s.live.trace_source == "fake" and not s.live.trace_measured and s.live.trace_w
    assert "estimated" in s.power_figure().layout.title.text
    assert "Measured tiny-bert-l1 · b8 · fp32" in " ".join(s.messages)
    df = load_results(copy_store)
    new = df[(df["model"] == "tiny-bert-l1") & (df["batch_size"] == 8) & (df["status"] == "ok")]
    assert len(new) == 1 and new["energy_source"].iloc[0] == "fake"
    assert trace(s.tradeoff_figure(), "selected") is not None


def test_a_stored_selection_is_not_measured_again(copy_store: Path) -> None:
    s = lab_state(copy_store)
    before = load_results(copy_store)["created_at"].tolist()
    job = start_live(s, dispatch=QueueDispatch())
    assert job.wait(120) == "done"
    assert [r.status for r in job.results] == ["skipped"]
    assert load_results(copy_store)["created_at"].tolist() == before


def test_sweep_this_row_streams_point_by_point(copy_store: Path) -> None:
    s = lab_state(copy_store)
    s.select(model="tiny-bert-l1", precision="fp32")
    sizes: list[int] = []
    s.observe(lambda ch: sizes.append(len(s.cohort_frame)) if "data" in ch else None)
    spec = s.spec_for("batch")
    assert spec.batch_sizes == tuple(s.batch_sizes) and spec.precisions == ("fp32",)
    job = start_live(s, "batch", dispatch=QueueDispatch())
    assert job.wait(600) == "done", s.live.text
    new = [r for r in job.results if r.status == "ok"]
    assert len(new) == len(s.batch_sizes) - 2  # batch 1 and 4 were stored
    # One redraw per landed point. A row's windows are interleaved, so its points are committed together
    # when the row is done, and a redraw may already see the next point: the counts only grow.
    assert len(sizes) == len(new) and sizes == sorted(sizes) and sizes[-1] == 8 + len(new)
    lat = s.batch_figure("latency_s")
    fp32 = next(t for t in lat.data if t.name == "fp32")
    assert list(fp32.x) == s.batch_sizes


# ----- cancellation -----
def test_a_running_measurement_can_be_cancelled(copy_store: Path) -> None:
    from efflab.config import MethodSettings

    slow = MethodSettings(min_window_s=60.0, max_window_s=120.0, warmup_batches=1, warmup_s=0.0)
    s = lab_state(copy_store, method=slow)
    s.select(model="tiny-bert-l1", batch_size=32, precision="fp32")
    before = len(load_results(copy_store))
    q = QueueDispatch()
    job = start_live(s, "precision", dispatch=q)
    for _ in range(3000):
        q.pump(0.1)
        if s.live.stage == "timing" or (s.live.stage == "warmup" and s.live.running):
            break
    assert s.live.running and s.live.stage in ("warmup", "timing"), s.live.text
    job.cancel()
    assert job.wait(120) == "cancelled"
    assert "cancelled" in s.live.text and not s.live.running
    assert len(load_results(copy_store)) == before  # nothing half-measured was stored
    assert not s.is_stored


# ----- bad input: the lab opens and says what to do -----
def test_a_missing_store_says_what_to_do(tmp_path: Path) -> None:
    s = lab_state(tmp_path / "nothing.sqlite")
    assert s.store_error is None and not s.store_exists
    assert "No results store" in s.messages[0] and "efflab sweep" in s.messages[0]
    assert s.recommendation is None and not s.is_stored
    assert "No recommendation yet" in s.nudge
    assert s.tradeoff_figure().layout.annotations  # an empty figure with a message, no traceback
    assert s.can_measure


def test_an_empty_store_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    open_store(path).close()
    s = lab_state(path)
    assert "no measured points yet" in s.messages[0]


def test_a_file_that_is_not_a_store_turns_measuring_off(tmp_path: Path) -> None:
    bad = tmp_path / "notes.sqlite"
    bad.write_text("hello")
    s = lab_state(bad)
    assert s.store_error and "not an efflab results store" in s.messages[0]
    assert not s.can_measure
    with pytest.raises(StoreError):
        start_live(s, dispatch=QueueDispatch())


def test_a_family_of_one_model(copy_store: Path) -> None:
    with sqlite3.connect(copy_store) as con:
        con.execute("DELETE FROM points WHERE model = 'tiny-bert-l2'")
    s = lab_state(copy_store, family=["tiny-bert-l1"])
    assert s.family == ("tiny-bert-l1",)
    assert any("family has one model" in m for m in s.messages)
    assert s.is_stored and len(s.family_figure().data[0].y) == 1


def test_a_store_from_another_machine(copy_store: Path) -> None:
    with sqlite3.connect(copy_store) as con:
        # Another machine's points have other content keys (the key includes the hardware).
        con.execute("UPDATE points SET hardware = 'Some Other CPU x64', key = key || '-other'")
    s = lab_state(copy_store)
    assert s.hardware == "Some Other CPU x64" != s.this_hardware()
    assert any("another machine" in m for m in s.messages)
    assert len(s.cohort_frame) == 8 and s.is_recommended  # shown as they are
    assert s.hardwares[0] == s.this_hardware() and "Some Other CPU x64" in s.hardwares
    # a point measured here starts this machine's cohort, and the lab switches to it
    s.select(batch_size=1)
    job = start_live(s, dispatch=QueueDispatch())
    assert job.wait(300) == "done", s.live.text
    assert s.hardware == s.this_hardware() and len(s.cohort_frame) == 1 and s.is_stored
    s.set_hardware("Some Other CPU x64")
    assert len(s.cohort_frame) == 8
    with pytest.raises(ConfigError, match="no points measured"):
        s.set_hardware("a toaster")


# ----- the view binds to the state (ipywidgets without a browser) -----
def test_controls_and_figures_follow_the_state(small_store: Path) -> None:
    from widgets.lab import Lab

    s = lab_state(small_store)
    lab = Lab(s, dispatch=QueueDispatch(), load_once=False)
    sel0 = list(trace(lab.fig_tradeoff, "selected").x)
    rec = s.recommended_selection
    assert rec is not None and lab.precision.value == rec.precision
    lab.precision.value = "int8" if rec.precision == "fp32" else "fp32"  # view -> state
    assert s.selection.precision == lab.precision.value
    assert list(trace(lab.fig_tradeoff, "selected").x) != sel0  # the figure widget followed
    moved, drawn = trace(lab.fig_tradeoff, "selected"), trace(s.tradeoff_figure(), "selected")
    assert (list(moved.x), list(moved.y), list(moved.text)) == (
        list(drawn.x),
        list(drawn.y),
        list(drawn.text),
    )
    assert lab.switch.layout.display != "none" and (
        "× the energy" in lab.nudge.value or "within uncertainty" in lab.nudge.value
    )
    lab.switch.click()  # the one-click switch
    assert s.is_recommended and lab.switch.layout.display == "none"
    s.select(batch_size=8)  # state -> view
    assert lab.batch.value == 8 and not lab.measure.disabled and trace(lab.fig_tradeoff, "selected") is None
    lab.tolerance.value = 2.0
    assert s.tolerance == pytest.approx(0.02)
    lab.model.value = "tiny-bert-l1"
    assert "tiny-bert-l1" in lab.fig_latency.layout.title.text


def test_the_view_reports_errors_in_its_banner(tmp_path: Path) -> None:
    from widgets.lab import Lab, show_lab

    bad = tmp_path / "notes.sqlite"
    bad.write_text("hello")
    lab = Lab(lab_state(bad), dispatch=QueueDispatch(), load_once=False)
    assert "not an efflab results store" in lab.messages.value
    lab.measure.click()  # disabled in the browser; a click from code still lands in the banner
    assert "not an efflab results store" in lab.messages.value
    out = show_lab(str(tmp_path / "x.sqlite"), tolerance=7)
    assert "tolerance" in out.value and "Traceback" not in out.value


def test_sync_figure_patches_or_replaces() -> None:
    import plotly.graph_objects as go

    from efflab.plots import power_trace_figure
    from widgets.figures import sync_figure

    fw = go.FigureWidget(power_trace_figure([0.0], [10.0], source="fake"))
    assert sync_figure(fw, power_trace_figure([0.0], [10.0], source="fake")) == ""
    assert sync_figure(fw, power_trace_figure([0.0, 0.25], [10.0, 11.0], source="fake")) == "patched"
    assert list(fw.data[0].y) == [10.0, 11.0]
    empty = go.Figure(layout={"annotations": [{"text": "nothing yet"}]})
    assert sync_figure(fw, empty) == "replaced" and not fw.data and fw.layout.annotations
    assert sync_figure(fw, power_trace_figure([1.0], [5.0])) == "replaced"
    assert not fw.layout.annotations and list(fw.data[0].x) == [1.0]


def test_the_measuring_banner_names_stage_elapsed_and_what_is_left(small_store: Path) -> None:
    from widgets.lab import Lab

    s = lab_state(small_store)
    lab = Lab(s, dispatch=QueueDispatch(), load_once=False)
    s.live.description = "tiny-bert-l1 · batch 4 · fp32"
    s.live_progress("timing", 0.4, 1, 1, "tiny-bert-l1")
    text = lab.measuring_text()
    assert text.startswith("Measuring tiny-bert-l1 · batch 4 · fp32 … timing batches 40 %, ")
    assert "s elapsed" in text and "still to do: scoring accuracy on the test split" in text
    s.live_progress("accuracy", 0.3, 1, 1, "tiny-bert-l1")  # evaluate() reports its chunks of test texts
    text = lab.measuring_text()
    assert "scoring accuracy on the test split 30 %" in text and "still to do" not in text
    s.live_progress("accuracy", 0.3, 2, 3, "tiny-bert-l1")  # a sweep: which point, and how many after it
    assert "(point 2 of 3)" in lab.measuring_text() and "1 more point after this one" in lab.measuring_text()


def test_a_store_with_every_point_flagged_says_what_to_run(copy_store: Path) -> None:
    from test_dashboard import flag_every_point

    n = flag_every_point(copy_store)
    s = lab_state(copy_store)
    assert s.recommendation is None
    assert f"{n} measured point(s) are unstable or disturbed" in s.nudge and "--threads 1" in s.nudge
    # The plots say so too: no front drawn through points that decide nothing, no "nothing measured yet".
    traces = {t.name: t for t in s.tradeoff_figure().data}
    assert len(traces["front"].x) == 0 and len(traces["not eligible (unstable or disturbed)"].x) == n
    assert list(traces["not eligible (unstable or disturbed)"].customdata)  # still clickable
    family = s.family_figure().layout.annotations[0].text
    assert f"All {n} measured points are unstable or disturbed" in family and "--threads 1" in family


def test_power_trace_only_with_a_live_sensor_else_one_line(small_store: Path) -> None:
    from widgets.lab import Lab

    modelled = Lab(lab_state(small_store, sensor="codecarbon"), dispatch=QueueDispatch(), load_once=False)
    assert modelled._fig_boxes["power"].layout.display == "none"
    note = modelled.power_note.value
    assert "modelled energy (CodeCarbon) has none" in note and note.count("<div") == 1
    live = Lab(
        lab_state(small_store), dispatch=QueueDispatch(), load_once=False
    )  # the fake sensor reads live
    assert live._fig_boxes["power"].layout.display == "none"  # nothing measured yet: no empty plot
    assert "fake reads power live" in live.power_note.value
    live.state.live.running = True
    live.state.live_sample(0.0, 12.0)
    live._render_power()
    assert live._fig_boxes["power"].layout.display == "" and live.power_note.value == ""


def test_pins_say_the_verdict_without_scientific_notation() -> None:
    from widgets.pins import compare_pair

    a = {"batch_size": 1, "accuracy": 0.0, "accuracy_correct": "0" * 100}
    b = {"batch_size": 1, "accuracy": 1.0, "accuracy_correct": "1" * 100}
    ((what, diff, verdict),) = compare_pair(a, b)
    assert what == "accuracy" and diff == "+100.0 pt"
    assert verdict.startswith("higher: paired on the same 100 test texts") and "e-" not in verdict
