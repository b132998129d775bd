"""The lab's analyst tools without a browser: the points table's rows and the pinned comparison."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from efflab.store import load_results
from widgets.pins import compare_pair
from widgets.table import points_table_rows


def test_table_rows_carry_raw_values_that_read_back_as_csv(small_store: Path) -> None:
    df = load_results(small_store)
    cols, rows, sel = points_table_rows(df, selected=str(df.iloc[0]["key"]))
    assert sel == str(df.iloc[0]["key"]) and len(rows) == len(df)
    names = [c[0] for c in cols]
    assert {"model", "batch_size", "precision", "wh_per_1000_queries", "accuracy"} <= set(names)
    # What the page's export writes: the raw values under the column names.
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(names)
    w.writerows([["" if v is None else v for v in r["values"]] for r in rows])
    back = pd.read_csv(io.StringIO(buf.getvalue()))
    assert len(back) == len(df)
    assert back["wh_per_1000_queries"].tolist() == df["wh_per_1000_queries"].tolist()
    # Shown text has no scientific notation.
    assert not any("e-0" in c or "e+0" in c for r in rows for c in r["cells"])


def test_pinned_comparison_says_whether_each_difference_is_distinguishable(small_store: Path) -> None:
    df = load_results(small_store)
    a, b = df.iloc[0], df.iloc[1]
    got = {what: (diff, verdict) for what, diff, verdict in compare_pair(a, b)}
    assert set(got) == {"energy", "latency per query", "accuracy"}
    verdicts = ("lower", "higher", "equivalent", "no clear difference")
    assert all(v.startswith(verdicts) and "95 % interval" in v for _, v in got.values())
    same = compare_pair(a, a)
    assert all(v.startswith(("no clear difference", "equivalent")) for _, _, v in same)
    far = b.copy()
    far["energy_j_per_query"] = a["energy_j_per_query"] * 100
    assert compare_pair(a, far)[0][2].startswith("higher")


def test_the_measuring_banner_has_nothing_left_once_it_stores_the_point(small_store: Path) -> None:
    """At "storing the point" (the last stage) the banner no longer lists every stage as still to do."""
    from conftest import fast_method

    from widgets.lab import Lab
    from widgets.live import QueueDispatch
    from widgets.state import LabState

    s = LabState(small_store, sensor="fake", method=fast_method())
    lab = Lab(s, dispatch=QueueDispatch(), load_once=False)
    s.live.description = "tiny-bert-l1 · batch 4 · fp32"
    s.live_progress("load", 0.0, 1, 1, "tiny-bert-l1")
    assert "still to do: warming up, then timing batches, then scoring accuracy" in lab.measuring_text()
    s.live_progress("done", 1.0, 1, 1, "tiny-bert-l1")
    text = lab.measuring_text()
    assert "storing the point" in text and "still to do" not in text, text


def test_the_points_table_labels_every_cell_for_its_narrow_layout(small_store: Path) -> None:
    """Too narrow for every column, the table stacks each point as "column: value" cells (browser side);
    every cell carries its column's header for that, and the stacked layout is styled."""
    from widgets.table import _CSS, _ESM

    assert "td.dataset.label = cols[i]" in _ESM and "efflab-stacked" in _ESM and "ResizeObserver" in _ESM
    assert ".efflab-stacked td::before { content: attr(data-label)" in _CSS


def test_the_tradeoff_plot_gives_a_prompted_llm_its_own_panel(small_store: Path) -> None:
    """One prompted LLM far below the family squeezed the family's accuracy axis (60-85 % for a family
    within a few points), so clicks inside its clusters picked neighbours: it gets a strip of its own."""
    from efflab.plots import GENERAL_NAME, POINT_SIZE, general_panel, tradeoff_figure

    df = load_results(small_store)
    ok = df[df["status"] == "ok"]
    assert general_panel(ok) is None  # no prompted model: one panel, as before
    llm = ok.iloc[0].copy()
    llm["model"], llm["key"], llm["prompting"] = "smollm2-135m", "smollm2-135m:prompted", "k=4"
    llm["accuracy"] = float(ok["accuracy"].min()) - 0.2
    both = pd.concat([ok.assign(prompting=None), llm.to_frame().T]).infer_objects()
    both.index = range(len(both))
    fig = tradeoff_figure(both, selected="smollm2-135m:prompted")
    traces = {t.name: t for t in fig.data}
    assert traces[GENERAL_NAME].yaxis == "y2" and list(traces[GENERAL_NAME].customdata) == [
        "smollm2-135m:prompted"
    ]
    assert traces["selected"].yaxis == "y2"  # the ring follows its point into the strip
    fam = both.iloc[:-1]["accuracy"].astype(float)
    lo, hi = fig.layout.yaxis.range
    assert lo >= fam.min() - 0.02 and hi <= fam.max() + 0.02  # the family's own span, not the LLM's
    n = sum(len(t.x) for t in fig.data if t.name in ("front", "dominated", GENERAL_NAME))
    assert n == len(both)
    # One size for every clickable point; the rings over points answer no hover (a click goes through).
    assert {t.marker.size for t in fig.data if t.customdata is not None and t.hoverinfo != "skip"} == {
        POINT_SIZE
    }
    assert all(t.hoverinfo == "skip" for t in fig.data if t.name in ("selected", "recommended", "baseline"))


def test_the_family_plot_and_details_are_about_the_selected_configuration(small_store: Path) -> None:
    """The family plot's row of the selected model and the stars in the details are the selected
    configuration's, not another configuration of the model (its least-energy one)."""
    from conftest import fast_method

    from efflab import format as fmt
    from widgets.state import LabState

    s = LabState(small_store, sensor="fake", method=fast_method())
    a = s.assessment
    assert a is not None
    rated = {r.key for r in a.ratings}
    other = a.eligible[~a.eligible["key"].isin(list(rated))].iloc[0]
    s.select_point(str(other["key"]))
    fig = s.family_figure()
    labels = " ".join(str(t) for t in fig.layout.yaxis.ticktext or ()) + str(fig.data[0].y)
    model_row = next(t for t in (fig.layout.yaxis.ticktext or ()) if str(other["model"]) in str(t))
    assert f"b{int(other['batch_size'])}" in model_row and "selected" in model_row, labels
    assert s.details()["stars"].startswith(fmt.stars(a.config_stars(str(other["key"]))))
    s.switch_to_recommended()
    assert "recommended" in " ".join(str(t) for t in s.family_figure().layout.yaxis.ticktext or ())
