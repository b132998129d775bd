"""The dashboard's logic without a browser: card values against efflab.analysis, yearly figures that
scale with the inputs, guidance for missing or empty stores, reads while a sweep writes, the Voila
command line and the committed notebook."""

from __future__ import annotations

import dataclasses
import html
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from efflab import format as fmt
from efflab.analysis import assess, eligible_mask, nudge, savings
from efflab.dashboard import Inputs, build_view, notebook_path, read_store, voila_command
from efflab.errors import ConfigError
from efflab.store import load_results, open_store

ROOT = Path(__file__).resolve().parents[1]


def _range(rng: tuple[float, float]) -> str:
    return f"range {fmt.saving_range(*rng, fmt.kwh)}" if rng[0] != rng[1] else ""


def _ok(store: Path) -> Any:
    df = load_results(store)
    return df[eligible_mask(df)]


# ----- card values: a rendering of the assessment -----
def test_cards_render_the_assessment(small_store: Path) -> None:
    df = load_results(small_store)
    view = build_view(read_store(small_store))
    a = assess(df)
    rec, s = a.recommendation, a.savings
    assert rec is not None and s is not None and a.baseline is not None
    assert view.recommendation.key == view.recommended_key == rec.key
    assert view.selected_key == rec.key and view.follows_recommendation
    assert view.baseline_key == a.baseline_key
    assert view.headline == f"Recommended: {rec.label}" == a.headline
    assert view.reason == rec.reason
    assert view.card("energy").value == fmt.wh(rec.point.wh_per_1000_queries)
    # The card is about the configuration the page shows (the recommendation): its stars in its
    # model's class bands, named with that configuration and the rule.
    stars = view.card("stars")
    assert stars.value == fmt.stars(a.config_stars(rec.key))
    assert stars.detail.startswith(f"{rec.label}: ") and "among the 2 task-specific" in stars.detail
    assert view.card("accuracy").value == fmt.percent(rec.point.accuracy)
    assert view.card("kwh").value == fmt.saving_headline(s.saved_kwh_per_year, s.clear, fmt.kwh)
    assert view.card("co2e").value == fmt.saving_headline(s.saved_kg_co2e_per_year, s.clear, fmt.kg)
    assert view.card("cost").value == fmt.saving_headline(
        s.saved_cost_per_year, s.clear, fmt.money_fmt("USD")
    )
    assert view.card("kwh").note == _range(s.saved_kwh_range)
    assert view.savings == s
    for line in a.provenance:
        assert line in view.data_note


def test_yearly_figures_scale_linearly_with_queries_per_day(small_store: Path) -> None:
    snap = read_store(small_store)
    one = build_view(snap, Inputs(queries_per_day=1_000_000)).savings
    three = build_view(snap, Inputs(queries_per_day=3_000_000)).savings
    for f in ("baseline_kwh_per_year", "candidate_kwh_per_year", "saved_kwh_per_year", "saved_kg_co2e_per_year",
              "saved_cost_per_year"):  # fmt: skip
        assert getattr(three, f) == pytest.approx(3 * getattr(one, f), rel=1e-12)
    assert three.saved_kwh_range == pytest.approx(tuple(3 * x for x in one.saved_kwh_range))
    zero = build_view(snap, Inputs(queries_per_day=0))
    assert zero.savings.saved_kwh_per_year == 0 and zero.card("kwh").value == "no change"


def test_price_moves_only_cost_and_country_only_co2e(small_store: Path) -> None:
    snap = read_store(small_store)
    a = build_view(snap, Inputs(price_per_kwh=0.10, country="USA")).savings
    b = build_view(snap, Inputs(price_per_kwh=0.30, country="USA")).savings
    c = build_view(snap, Inputs(price_per_kwh=0.10, country="FRA")).savings
    assert b.saved_cost_per_year == pytest.approx(3 * a.saved_cost_per_year)
    assert b.saved_kwh_per_year == a.saved_kwh_per_year == c.saved_kwh_per_year
    assert c.baseline_kg_co2e_per_year != a.baseline_kg_co2e_per_year
    assert c.saved_cost_per_year == a.saved_cost_per_year
    eur = build_view(snap, Inputs(price_per_kwh=0.3, currency="EUR"))
    assert "EUR" in eur.card("cost").detail and "0.3 EUR/kWh" in eur.card("cost").detail


def test_picking_a_configuration_and_a_baseline(small_store: Path) -> None:
    snap = read_store(small_store)
    ok = _ok(small_store)
    rec = assess(load_results(small_store)).recommendation
    assert rec is not None
    other = ok[ok["key"] != rec.key].sort_values("wh_per_1000_queries").iloc[-1]
    cheapest = ok.sort_values("wh_per_1000_queries").iloc[0]
    view = build_view(snap, Inputs(selected=str(other["key"]), baseline=str(cheapest["key"])))
    assert view.selected_key == other["key"] and not view.follows_recommendation
    assert view.baseline_key == cheapest["key"]
    assert nudge(other, rec.point) in view.nudge
    s = savings(cheapest, other, 1_000_000, "USA", 0.15)
    assert view.card("kwh").value == fmt.saving_headline(s.saved_kwh_per_year, s.clear, fmt.kwh)
    assert s.saved_kwh_per_year <= 0
    assert view.card("kwh").note.endswith("more") or "no clear saving" in view.card("kwh").value
    keys = [k for _, k in view.options]
    assert sorted(keys) == sorted(ok["key"]) and any("(recommended)" in label for label, _ in view.options)


def test_a_wide_tolerance_admits_every_configuration(small_store: Path) -> None:
    view = build_view(read_store(small_store), Inputs(accuracy_tolerance=0.5))
    assert view.recommendation.n_candidates == len(_ok(small_store))


def test_modelled_energy_says_so_with_the_range(small_store: Path) -> None:
    df = load_results(small_store)
    view = build_view(df)  # the fake sensor's energy is modelled
    assert view.card("energy").estimated and "modelled" in view.card("energy").detail
    assert "modelled" in view.data_note
    df = df.assign(energy_uncertainty_rel=0.2)
    view = build_view(df)
    s = view.savings
    assert "±20 %" in view.card("energy").detail
    assert view.card("kwh").note == _range(s.saved_kwh_range)
    measured = build_view(df.assign(energy_measured=True, energy_basis="measured", energy_source="rapl"))
    assert not measured.card("energy").estimated
    assert measured.card("energy").detail.startswith("measured (rapl)")


def test_data_note_gives_date_hardware_and_count(small_store: Path) -> None:
    df = load_results(small_store)
    view = build_view(read_store(small_store))
    assert str(df["hardware"].iloc[0]) in view.data_note
    assert str(df["timestamp"].min())[:10] in view.data_note
    assert f"{len(_ok(small_store))} configurations" in view.data_note
    assert str(small_store) in view.data_note


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"queries_per_day": -1}, "queries per day"),
        ({"queries_per_day": "lots"}, "queries per day must be a number, got 'lots'"),
        ({"price_per_kwh": -1}, "price per kWh"),
        ({"currency": "DOLLAR"}, "unknown currency"),
        ({"country": "XXX"}, "unknown country"),
        ({"accuracy_tolerance": 2.0}, "tolerance"),
        ({"selected": "nope"}, "'nope'"),
        ({"baseline": "nope"}, "'nope'"),
        ({"cohort": "nope @ nowhere"}, "cohort"),
    ],
)
def test_bad_inputs_are_one_line_config_errors(small_store: Path, bad: dict[str, Any], words: str) -> None:
    """A value refused when the inputs are made (the page's boxes parse each one first) or when the
    store is read (a key or cohort that is not in it): one line either way."""
    with pytest.raises(ConfigError, match=words) as e:
        build_view(read_store(small_store), Inputs(**bad))
    assert "\n" not in str(e.value)


# ----- bad stores -----
def test_missing_empty_failed_and_foreign_stores_give_guidance(tmp_path: Path) -> None:
    missing = read_store(tmp_path / "nope.sqlite")
    assert missing.guidance and "efflab sweep" in missing.guidance and "No results store" in missing.guidance
    empty = tmp_path / "empty.sqlite"
    open_store(empty).close()
    assert "efflab sweep" in (read_store(empty).guidance or "")
    foreign = tmp_path / "foreign.sqlite"
    foreign.write_text("not a database")
    g = read_store(foreign).guidance
    assert g and "not an efflab results store" in g
    with open_store(tmp_path / "failed.sqlite") as st:
        st.put("k", config={"model": "m", "batch_size": 1, "precision": "fp32", "device": "cpu", "seq_len": 8},
               model_id="m", hardware="hw", error="boom")  # fmt: skip
    g = read_store(tmp_path / "failed.sqlite").guidance
    assert g and "only failed points" in g.lower() and "efflab sweep" in g
    with pytest.raises(ConfigError, match="efflab sweep"):
        build_view(read_store(empty))


def flag_every_point(store: Path) -> int:
    """What a sweep on a VM whose vCPUs come and go leaves: every measured point flagged
    ``disturbed`` (rewritten in place); returns how many."""
    with open_store(store) as st:
        pts = [p for p in st.points() if p.measurement is not None]
        for p in pts:
            m = p.measurement
            assert m is not None
            cfg = {"model": p.model, "batch_size": p.batch_size, "precision": p.precision, "device": p.device,
                   "seq_len": p.seq_len, "task": p.task}  # fmt: skip
            st.put(p.key, config=cfg, model_id=p.model_id, hardware=p.hardware,
                   measurement=dataclasses.replace(m, flags=(*m.flags, "disturbed")), new_run=False)  # fmt: skip
    return len(pts)


def test_a_store_with_every_point_flagged_says_so_and_what_to_run(copy_store: Path) -> None:
    n = flag_every_point(copy_store)
    g = read_store(copy_store).guidance
    assert g and f"{n} measured point(s) are unstable or disturbed" in g and "--threads 1" in g
    with pytest.raises(ConfigError, match="threads 1"):
        build_view(read_store(copy_store))


def test_a_store_being_written_is_read_consistently(copy_store: Path) -> None:
    """A writer commits points while the dashboard reads: every read is a whole snapshot."""
    with open_store(copy_store, readonly=True) as st:
        first = next(p for p in st.points() if p.measurement is not None)
    base = len(_ok(copy_store))
    n_new = 40
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with open_store(copy_store) as st:
                for i in range(n_new):
                    m = first.measurement
                    assert m is not None
                    m2 = dataclasses.replace(m, energy_j_per_query=m.energy_j_per_query * (1 + i / 100))
                    cfg = {"model": first.model, "batch_size": first.batch_size, "precision": first.precision,
                           "device": first.device, "seq_len": first.seq_len, "task": first.task}  # fmt: skip
                    st.put(
                        f"extra-{i}",
                        config=cfg,
                        model_id=first.model_id,
                        hardware=first.hardware,
                        measurement=m2,
                    )
        except BaseException as e:  # reported below
            errors.append(e)

    t = threading.Thread(target=write)
    t.start()
    counts = []
    while t.is_alive() or len(counts) < 3:
        snap = read_store(copy_store)
        assert snap.guidance is None
        counts.append(len(snap.ok))
        build_view(snap)  # the view of any snapshot is computable
    t.join()
    assert not errors
    assert counts == sorted(counts) and counts[0] >= base
    assert len(read_store(copy_store).ok) == base + n_new


# ----- formatting -----
def test_formatting() -> None:
    assert fmt.number(1234.4) == "1,234" and fmt.number(-0.5) == "-0.5" and fmt.number(0) == "0"
    assert fmt.number(12.345) == "12.3" and fmt.number(0.012345) == "0.0123" and fmt.number(None) == "n/a"
    assert fmt.money(12.345, "USD") == "12.35 USD" and fmt.money(12345.6, "EUR") == "12,346 EUR"
    assert fmt.saving(5, fmt.kwh) == "5 kWh saved" and fmt.saving(-5, fmt.kwh) == "5 kWh more"
    assert fmt.saving_range(-11.9, -3.95, fmt.kwh) == "3.95 kWh – 11.9 kWh more"
    assert fmt.saving_range(-1, 2, fmt.kwh) == "-1 kWh – +2 kWh saved"
    assert (
        fmt.number(0.0000123) == "0.0000123"
        and fmt.si(0.99996, "s") == "1 s"
        and fmt.si(1e-11, "J") == "0.01 nJ"
    )
    assert fmt.stars(3) == "★★★☆☆" and fmt.stars(0) == "unrated"
    assert fmt.percent(0.8123) == "81.2 %" and fmt.percent(float("nan")) == "not measured"
    assert fmt.span(3, 1, fmt.kwh) == "1 kWh – 3 kWh"


# ----- the page's widgets, without a browser -----
def test_widgets_follow_the_inputs(small_store: Path) -> None:
    from efflab.dashboard.app import Dashboard

    d = Dashboard(small_store)
    assert d.view is not None
    before = d.view.savings.saved_kwh_per_year
    assert 'data-card="kwh"' in d.cards.value and d.view.card("kwh").value in d.cards.value
    d.queries.value = 4_000_000
    assert d.view.savings.saved_kwh_per_year == pytest.approx(4 * before)
    assert d.view.card("kwh").value in d.cards.value
    assert len(d.tradeoff.outputs) == 1 and "application/vnd.plotly.v1+json" in d.tradeoff.outputs[0]["data"]
    assert d.labels.value.count("<svg") == _ok(small_store)["model"].nunique()
    d.tolerance.value = 50
    assert d.view.recommendation.n_candidates == len(_ok(small_store))
    d.price.value = 0.30
    assert d.view.savings.price_per_kwh == 0.30


@pytest.mark.parametrize(
    ("box", "bad", "words"),
    [
        ("tolerance", 200, "between 0 and 50 points, got 200 points"),
        ("tolerance", -1, "between 0 and 50 points, got -1 points"),
        ("queries", -5, "queries per day must be >= 0, got -5"),
        ("price", -1.0, "price per kwh must be >= 0, got -1.0"),
    ],
)
def test_a_bad_box_says_so_in_its_unit_and_keeps_the_figures(
    small_store: Path, box: str, bad: float, words: str
) -> None:
    """Tolerance outside 0-50 points, negative queries or price: one line in the box's own unit (the
    tolerance box is in points, never fractions), the box keeps what was typed, every figure stays."""
    from efflab.dashboard.app import Dashboard

    d = Dashboard(small_store)
    assert d.view is not None
    shown = (d.cards.value, d.header.value, d.labels.value, d.tradeoff.outputs, d.family.outputs)
    before = d.view
    widget = getattr(d, box)
    widget.value = bad
    assert widget.value == bad  # not clamped to the nearest allowed value
    message = html.unescape(d.message.value)
    assert words in message.lower() and "last valid values" in message
    assert "fraction" not in d.message.value and "0.5" not in d.message.value
    assert (d.cards.value, d.header.value, d.labels.value, d.tradeoff.outputs, d.family.outputs) == shown
    assert d.view is before and "efflab-bad" in widget._dom_classes
    # Nothing moves while a box is bad; once it is fixed, every box counts again.
    d.country.value = "FRA"
    assert d.view is before and words in html.unescape(d.message.value).lower()
    widget.value = {"tolerance": 1, "queries": 2_000_000, "price": 0.2}[box]
    assert d.message.value == "" and "efflab-bad" not in widget._dom_classes
    assert d.view is not before and d.view.savings.country == "FRA"


def test_tolerance_in_points_is_the_boxes_unit() -> None:
    from efflab.options import parse_tolerance_points

    assert parse_tolerance_points(1) == 0.01 and parse_tolerance_points("2.5") == 0.025
    assert parse_tolerance_points(0) == 0.0 and parse_tolerance_points(50) == 0.5
    for bad, words in ((50.5, "got 50.5 points"), (200, "got 200 points"), ("x", "must be a number")):
        with pytest.raises(ConfigError, match=words) as e:
            parse_tolerance_points(bad)
        assert "fraction" not in str(e.value)


def test_the_stars_card_labels_and_family_chart_show_the_configuration_looked_at(small_store: Path) -> None:
    """The card, the model's label and its row in the family chart are about the configuration the
    page shows (a non-rated one when picked), never another configuration of the model."""
    from efflab.dashboard.app import Dashboard
    from efflab.dashboard.view import View

    a = assess(load_results(small_store))
    rated = {r.model: r.key for r in a.ratings}
    ok = _ok(small_store)
    other = ok[~ok["key"].isin(list(rated.values()))].iloc[
        0
    ]  # a configuration that is not its model's rated one
    d = Dashboard(small_store)
    d.config.value = str(other["key"])
    view = d.view
    assert isinstance(view, View) and view.selected["key"] == other["key"]
    card = view.card("stars")
    assert card.value == fmt.stars(a.config_stars(str(other["key"])))
    assert card.detail.startswith(f"{fmt.config_label(other)}: ")
    row = view.ratings[view.ratings["model"] == other["model"]].iloc[0]
    assert row["key"] == other["key"] and len(view.ratings) == len(a.ratings)
    label = d.labels.value.split(f'data-model="{other["model"]}"')[1].split("</svg>")[0]
    assert f"batch {int(other['batch_size'])} · {other['precision']}" in label
    fam = d.family.outputs[0]["data"]["application/vnd.plotly.v1+json"]
    ticks = json.dumps(fam["layout"]["yaxis"].get("ticktext", [])) + json.dumps(fam["data"])
    assert f"b{int(other['batch_size'])}" in ticks and "selected" in ticks + json.dumps(
        fam["layout"]["title"]
    )


def test_each_chart_keeps_its_height_when_the_window_narrows(small_store: Path) -> None:
    """plotly's responsive mode sizes a chart to its element on a resize: the element gets its height."""
    from efflab.dashboard.app import Dashboard

    d = Dashboard(small_store)
    for name, out in (("tradeoff", d.tradeoff), ("family", d.family)):
        h = out.outputs[0]["data"]["application/vnd.plotly.v1+json"]["layout"]["height"]
        assert f".efflab-chart-{name} .js-plotly-plot {{ height: {h}px; }}" in d.chart_css.value
        title = out.outputs[0]["data"]["application/vnd.plotly.v1+json"]["layout"]["title"]
        assert title["yref"] == "container" and title["pad"]["t"] >= 28  # below plotly's toolbar


def test_charts_can_wait_for_the_page_to_show(small_store: Path) -> None:
    """Under Voila the charts are drawn once the browser shows the page, so the cards come first."""
    from efflab.dashboard.app import Dashboard

    d = Dashboard(small_store, defer_charts=True)
    assert d.tradeoff.outputs == () and d.family.outputs == ()
    assert d.labels.value.count("<svg") == _ok(small_store)["model"].nunique()  # labels are not deferred
    d.queries.value = 2_000_000  # the cards still follow the inputs
    assert d.view is not None and d.view.card("kwh").value in d.cards.value and d.tradeoff.outputs == ()
    d.shown.shown = True  # what the page's view reports when it renders
    assert len(d.tradeoff.outputs) == 1 and len(d.family.outputs) == 1


def test_widgets_show_guidance_then_data(tmp_path: Path, small_store: Path) -> None:
    import shutil

    from efflab.dashboard.app import Dashboard

    store = tmp_path / "later.sqlite"
    d = Dashboard(store)
    assert "efflab sweep" in d.header.value and d.body.layout.display == "none"
    shutil.copy2(small_store, store)
    d.refresh()
    assert d.view is not None and d.body.layout.display is None and "Recommended" in d.header.value


# ----- launcher, CLI, notebook -----
def test_voila_command_is_local_quiet_and_preheated() -> None:
    cmd = voila_command(8123)
    assert cmd[1:3] == ["-m", "voila"] and cmd[3] == str(notebook_path())
    for flag in ("--port=8123", "--Voila.ip=127.0.0.1", "--no-browser", "--show_tracebacks=False",
                 "--preheat_kernel=True", "--pool_size=1", "--theme=light", "--strip_sources=True"):  # fmt: skip
        assert flag in cmd
    # A kernel no page is connected to is culled within minutes, never one with an open page.
    assert "--MappingKernelManager.cull_connected=False" in cmd
    idle = next(
        int(f.split("=")[1]) for f in cmd if f.startswith("--MappingKernelManager.cull_idle_timeout=")
    )
    assert 0 < idle <= 300


def test_the_template_lets_the_page_shut_its_kernel_down() -> None:
    """Voila's beacon on closing the tab needs an _xsrf cookie that nothing else sets here."""
    from efflab.dashboard.launch import template_dir

    text = (template_dir() / "voila" / "templates" / "efflab" / "index.html.j2").read_text()
    assert "document.cookie" in text and "_xsrf=" in text and "crypto.getRandomValues" in text
    assert "fontawesome" in text  # the CDN stylesheets are still removed


def test_notebook_is_committed_clean_and_reads_the_store_from_the_environment() -> None:
    import nbformat

    path = notebook_path()
    assert path.exists()
    assert (ROOT / "notebooks" / "dashboard.ipynb").resolve() == path.resolve()
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "EFFLAB_STORE" in params[0].source


def test_import_efflab_dashboard_stays_light() -> None:
    code = (
        "import sys, efflab, efflab.dashboard, efflab.cli.dashboard; "
        "print(json.dumps([m for m in ('ipywidgets', 'plotly', 'voila', 'torch') if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def _efflab(*args: str) -> Any:
    from conftest import run_cli

    return run_cli(*args)


def test_cli_rejects_bad_port_and_foreign_store_in_one_line(tmp_path: Path) -> None:
    bad = _efflab("dashboard", "--port", "0", "--no-browser", "--store", str(tmp_path / "x.sqlite"))
    assert bad.returncode == 2 and "port" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    foreign = tmp_path / "foreign.sqlite"
    foreign.write_text("hello")
    bad = _efflab("dashboard", "--store", str(foreign), "--no-browser", "--port", "8866")
    assert bad.returncode == 2 and "not an efflab results store" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_cli_rejects_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        bad = _efflab("dashboard", "--port", str(port), "--no-browser", "--store", str(tmp_path / "x.sqlite"))
    assert bad.returncode == 2 and f"port {port}" in bad.stderr and "--port" in bad.stderr


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_headless(small_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("EFFLAB_STORE", str(small_store))
    nb = nbformat.read(notebook_path(), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_general_vs_specific_card_only_with_a_prompted_llm(small_store: Path) -> None:
    import pandas as pd

    df = _ok(small_store)
    assert "general" not in {c.key for c in build_view(df).cards}  # no prompted LLM in the store
    llm = df.loc[df["energy_j_per_query"].idxmax()].copy()
    llm["model"], llm["key"], llm["prompting"] = "smollm2-135m", "smollm2-135m:prompted", "k=4, calibrated"
    llm["energy_j_per_query"] = float(df["energy_j_per_query"].max()) * 100
    llm["wh_per_1000_queries"] = llm["energy_j_per_query"] * 1000 / 3600
    llm["accuracy"], llm["accuracy_correct"] = 0.5, None
    llm["accuracy_ci_low"], llm["accuracy_ci_high"], llm["majority_rate"] = 0.45, 0.55, 0.3
    both = pd.concat([df.assign(prompting=None, majority_rate=None), llm.to_frame().T], ignore_index=True)
    both = both.astype({c: df[c].dtype for c in df.columns})
    view = build_view(both)
    card = view.card("general")
    a = view.assessment
    assert a is not None and a.general is not None
    assert card.detail == a.general.sentence() and "× the energy" in card.value
    assert "pt less accuracy" in card.detail
    # Not above chance (its interval reaches the majority-class rate): no ratio is headlined.
    both.loc[both["key"] == "smollm2-135m:prompted", "majority_rate"] = 0.5
    card = build_view(both).card("general")
    assert card.value == "did not beat the majority class" and "×" not in card.value + card.detail
