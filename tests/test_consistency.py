"""One store, three views: the CLI (`efflab recommend`), the report and the dashboard show the same
recommendation, the same stars per model and the same yearly figures, because all three render one
``efflab.analysis.assess``."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from efflab import format as fmt
from efflab.analysis import AssessInputs, assess, model_ratings
from efflab.cli import main
from efflab.dashboard import Inputs, build_view, read_store
from efflab.options import ASSESS_OPTIONS
from efflab.report import content
from efflab.report.params import ReportParams
from efflab.store import load_results

INPUTS = {"queries_per_day": 2_500_000, "country": "FRA", "price_per_kwh": 0.2, "currency": "EUR"}


def _cli(store: Path, capsys: pytest.CaptureFixture[str], baseline: str) -> str:
    rc = main(
        [
            "recommend",
            "--baseline",
            baseline,
            "--store",
            str(store),
            "--queries-per-day",
            str(INPUTS["queries_per_day"]),
            "--country",
            str(INPUTS["country"]),
            "--price-per-kwh",
            str(INPUTS["price_per_kwh"]),
            "--currency",
            str(INPUTS["currency"]),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    return out


def _report(store: Path, tmp_path: Path, baseline: str) -> str:
    params = ReportParams(
        store_path=str(store),
        labels_dir=str(tmp_path / "labels"),
        label_formats=("svg",),
        baseline=baseline,
        **INPUTS,
    )
    d = content.build(params)
    return unescape(content.summary_html(d) + content.recommendation_html(d))


def _every_point_eligible(small_store: Path, tmp_path: Path) -> Path:
    """A copy of the real tiny store with the disturbance flags cleared: on a loaded machine the tiny
    sweep may leave most points ``disturbed``, and this test needs several eligible ones."""
    import shutil
    import sqlite3

    store = tmp_path / "eligible.sqlite"
    shutil.copy2(small_store, store)
    with sqlite3.connect(store) as db:
        db.execute(
            "UPDATE points SET record = json_set(record, '$.flags', json_array()) WHERE record IS NOT NULL"
        )
    return store


def test_cli_report_and_dashboard_agree(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_store = _every_point_eligible(small_store, tmp_path)
    df = load_results(small_store)
    # The baseline: the eligible configuration with the most energy other than the recommendation
    # (so the saving and its range are not zero).
    first = assess(df)
    assert first.recommendation is not None
    others = first.eligible[first.eligible["key"] != first.recommendation.key]
    worst = others.sort_values("energy_j_per_query").iloc[-1]
    baseline = f"{worst['model']}:{int(worst['batch_size'])}:{worst['precision']}"
    a = assess(df, AssessInputs(**INPUTS, baseline=baseline))  # type: ignore[arg-type]
    rec, s = a.recommendation, a.savings
    assert rec is not None and s is not None and a.ratings and a.baseline_key != rec.key

    cli = _cli(small_store, capsys, baseline)
    report = _report(small_store, tmp_path, baseline)
    snap = read_store(small_store)
    view = build_view(snap, Inputs(**INPUTS, baseline=str(worst["key"])))  # type: ignore[arg-type]
    assert view.baseline_key == a.baseline_key

    # the same recommendation
    assert f"recommended: {rec.label}" in cli
    assert f"Recommended: {rec.label}" in report
    assert view.headline == f"Recommended: {rec.label}"
    assert rec.reason in cli and rec.reason in report and view.reason == rec.reason

    # the same stars per model
    stars = " · ".join(f"{m.model} {fmt.stars(m.stars)}" for m in a.ratings)
    assert f"stars per model: {stars}" in cli
    assert f"Stars per model: {stars}" in report
    for m in a.ratings:  # the dashboard's rating card for each model's rated configuration, and its labels
        card = build_view(snap, Inputs(**INPUTS, baseline=str(worst["key"]), selected=m.key)).card("stars")  # type: ignore[arg-type]
        assert card.value == fmt.stars(m.stars) and card.detail.startswith(m.label) and m.rule in card.detail
    labels = model_ratings(view.frame).set_index("model")["stars"].to_dict()
    assert labels == {m.model: m.stars for m in a.ratings}
    # ... and the lab (its state object renders the same assessment)
    from widgets.state import LabState

    lab = LabState(small_store)
    assert lab.recommendation is not None and lab.recommendation.label == rec.label
    assert lab.assessment is not None and lab.assessment.ratings == a.ratings

    # the same yearly figures (headline and range, energy, CO2e and cost, with the currency)
    money = fmt.money_fmt("EUR")
    for key, saved, rng, f in (
        ("kwh", s.saved_kwh_per_year, s.saved_kwh_range, fmt.kwh),
        ("co2e", s.saved_kg_co2e_per_year, s.saved_kg_co2e_range, fmt.kg),
        ("cost", s.saved_cost_per_year, s.saved_cost_range, money),
    ):
        headline, span = fmt.saving_headline(saved, s.clear, f), fmt.saving_range(*rng, f)
        assert f"{headline} (range {span})" in cli
        assert headline in report and span in report
        assert view.card(key).value == headline and view.card(key).note == f"range {span}"
    assert "EUR" in view.card("cost").value + view.card("cost").detail and "0.2 EUR/kWh" in cli


@pytest.mark.parametrize(
    ("update", "words"),
    [
        # every point re-flagged unstable, as a noisy machine would leave it
        (
            "UPDATE points SET record = json_set(record, '$.flags', json_array('unstable')) WHERE record IS NOT NULL",
            "unstable",
        ),
        # every point failed, as a sweep on a broken install would leave it
        ("UPDATE points SET status = 'failed', error = 'ModelError: cannot load', record = NULL", "--failed"),
    ],
    ids=["only-unstable", "only-failed"],
)
def test_a_store_with_nothing_eligible_says_what_to_run_everywhere(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], update: str, words: str
) -> None:
    import shutil
    import sqlite3

    store = tmp_path / "nothing.sqlite"
    shutil.copy2(small_store, store)
    with sqlite3.connect(store) as db:
        db.execute(update)
    a = assess(load_results(store))
    assert a.recommendation is None and a.guidance and words in a.guidance
    rc = main(["recommend", "--store", str(store)])
    err = capsys.readouterr().err
    assert rc == 1 and a.guidance in err
    d = content.build(
        ReportParams(store_path=str(store), labels_dir=str(tmp_path / "l"), label_formats=("svg",))
    )
    assert a.guidance in unescape(content.summary_html(d))
    snap = read_store(store)
    assert snap.guidance is not None and a.guidance in snap.guidance
    from widgets.state import LabState  # the lab says it too, in its banner and messages

    lab = LabState(store)
    assert lab.recommendation is None and "efflab sweep" in " ".join([lab.nudge, *lab.messages])


# ----- bad input: one line naming the value and the fix, on every surface -----
BAD = [
    ("queries_per_day", "-5", "queries per day must be >= 0"),
    ("queries_per_day", "lots", "queries per day must be a number"),
    ("price_per_kwh", "abc", "price per kWh must be a number"),
    ("price_per_kwh", "-1", "price per kWh must be >= 0"),
    ("currency", "XYZ", "unknown currency 'XYZ'"),
    ("country", "ZZZ", "unknown country 'ZZZ'"),
    ("accuracy_tolerance", "0.9", "accuracy tolerance must be a fraction between 0 and 0.5"),
    ("baseline", "nope:1:fp32", "'nope:1:fp32'"),
    ("cohort", "nope @ x", "'nope @ x'"),
]
FLAGS = {o.name: o.flag for o in ASSESS_OPTIONS.values()}  # the one declaration of each option


@pytest.mark.parametrize(("name", "bad", "words"), BAD)
def test_bad_inputs_are_refused_the_same_way_on_every_surface(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, bad: str, words: str
) -> None:
    small_store = _every_point_eligible(small_store, tmp_path)
    from efflab.errors import ConfigError, ReportError
    from efflab.report.run import run_report

    # the CLI: exit 2, one line, no traceback
    rc = main(["recommend", "--store", str(small_store), FLAGS[name], bad])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and words in err and len(err.splitlines()) == 1 and "Traceback" not in err
    # the report: the parameters are refused before anything runs (no output folder is made)
    out = tmp_path / "report"
    with pytest.raises((ReportError, ConfigError), match=re.escape(words)):
        run_report(ReportParams.from_dict({"store_path": str(small_store), name: bad}), out)
    assert not out.exists()
    # the dashboard's view: the same one-line error (the page shows it beside the inputs)
    snap = read_store(small_store)
    with pytest.raises(ConfigError, match=re.escape(words)):
        build_view(snap, Inputs(**{name: bad}))


def test_the_dashboard_shows_a_bad_input_beside_the_inputs_and_keeps_the_figures(
    small_store: Path, tmp_path: Path
) -> None:
    small_store = _every_point_eligible(small_store, tmp_path)
    from efflab.dashboard.app import Dashboard

    d = Dashboard(small_store)
    cards, header = d.cards.value, d.header.value
    assert cards and not d.message.value
    d.tolerance.value = 80  # points: beyond the 50 pt the assessment accepts, said in the box's unit
    assert "Accuracy tolerance must be between 0 and 50 points, got 80 points" in d.message.value
    assert "Traceback" not in d.message.value
    assert d.cards.value == cards and d.header.value == header  # the previous figures stay
    d.tolerance.value = 1
    assert not d.message.value


def test_the_report_notebook_declares_the_report_parameters_defaults() -> None:
    """The notebook's parameters cell is a copy of ReportParams' defaults (papermill needs literals):
    the store path is None there, which is the one default-store rule."""
    import dataclasses

    import papermill

    from efflab.paths import default_store
    from efflab.report.run import notebook_path

    declared = papermill.inspect_notebook(str(notebook_path()))
    for f in dataclasses.fields(ReportParams):
        literal = declared[f.name]["default"]
        value = eval(literal)  # the cell's literals: None, numbers, strings, lists
        if f.name == "store_path":
            assert value is None and ReportParams(store_path=None).store_path == str(default_store())  # type: ignore[arg-type]
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        assert (
            ReportParams(**{f.name: value}).to_dict()[f.name]
            == ReportParams(**{f.name: default}).to_dict()[f.name]
        ), f.name
    # the lab notebook's tolerance is the declared default too
    from efflab.options import DEFAULT_TOLERANCE
    from efflab.paths import package_data

    lab = papermill.inspect_notebook(str(package_data("x").parent.parent / "notebooks" / "lab.ipynb"))
    assert eval(lab["tolerance"]["default"]) == DEFAULT_TOLERANCE and lab["store"]["default"] == "None"


def test_cast_and_the_configuration_defaults_are_one_vocabulary(capsys: pytest.CaptureFixture[str]) -> None:
    import dataclasses

    from efflab.config import DEFAULT_CAST, DEFAULT_DEVICE, DEFAULT_SEQ_LEN, Config
    from efflab.errors import ConfigError, ReportError
    from efflab.sweep import SweepSpec
    from widgets.state import Selection

    cfg, spec, sel = Config(), SweepSpec(), Selection("minilm-l1", 8, "bf16")
    assert (cfg.cast, cfg.device, cfg.seq_len) == (DEFAULT_CAST, DEFAULT_DEVICE, DEFAULT_SEQ_LEN)
    assert (spec.cast, spec.devices, spec.seq_len) == (DEFAULT_CAST, (DEFAULT_DEVICE,), DEFAULT_SEQ_LEN)
    assert (sel.cast, sel.device) == (DEFAULT_CAST, DEFAULT_DEVICE)
    # cast is accepted, and a bad one refused in one line, by every spec a person fills in
    assert Config(precision="bf16", cast="autocast").cast == "autocast"
    assert dataclasses.replace(spec, cast="autocast").cast == "autocast"
    assert Selection("minilm-l1", 8, "bf16", cast="autocast").config(DEFAULT_SEQ_LEN).cast == "autocast"
    assert ReportParams(cast="autocast").cast == "autocast"
    for make in (
        lambda: Config(cast="x"),
        lambda: SweepSpec(cast="x"),
        lambda: Selection("m", 1, "fp32", cast="x"),
        lambda: ReportParams(cast="x"),
    ):
        with pytest.raises((ConfigError, ReportError), match="unknown cast 'x'"):
            make()
    assert main(["sweep", "--cast", "autocast", "--print-spec"]) == 0
    assert "cast: autocast" in capsys.readouterr().out


def test_a_baseline_is_read_one_way_by_the_cli_the_report_and_the_dashboard(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One parser (efflab.options.parse_baseline): MODEL:BATCH:PRECISION written one way everywhere, a
    malformed one refused in one line by every surface, a store key taken where the store is known."""
    from efflab.errors import ConfigError, ReportError

    small_store = _every_point_eligible(small_store, tmp_path)
    assert AssessInputs(baseline=" tiny-bert-l1:01:FP32 ").baseline == "tiny-bert-l1:1:fp32"
    assert ReportParams(baseline="tiny-bert-l1:01:FP32").baseline == "tiny-bert-l1:1:fp32"
    for bad, words in (("m:x:fp32", "MODEL:BATCH:PRECISION"), ("m:0:fp32", "MODEL:BATCH:PRECISION"),
                       ("m:1:fp8", "unknown precision 'fp8'")):  # fmt: skip
        with pytest.raises(ConfigError, match=words):
            AssessInputs(baseline=bad)
        with pytest.raises(ReportError, match=words):
            ReportParams(baseline=bad)
        assert main(["recommend", "--store", str(small_store), "--baseline", bad]) == 2
        assert words in capsys.readouterr().err
    df = load_results(small_store)
    ok = df[df["status"] == "ok"]
    first = ok.iloc[-1]
    by_key = assess(df, AssessInputs(baseline=str(first["key"])))
    spec = f"{first['model']}:{int(first['batch_size'])}:{str(first['precision']).upper()}"
    by_spec = assess(df, AssessInputs(baseline=spec))
    assert by_key.baseline is not None and by_spec.baseline is not None
    assert by_key.baseline["key"] == by_spec.baseline["key"] == first["key"]


def test_the_report_takes_the_cohort_like_the_cli_and_the_dashboard(
    small_store: Path, tmp_path: Path
) -> None:
    small_store = _every_point_eligible(small_store, tmp_path)
    a = assess(load_results(small_store))
    assert a.cohort is not None
    d = content.build(
        ReportParams(
            store_path=str(small_store),
            cohort=a.cohort,
            labels_dir=str(tmp_path / "l"),
            label_formats=("svg",),
        )
    )
    assert [c.cohort for c in d.cohorts] == [a.cohort]
    assert d.cohorts[0].recommendation is not None and a.recommendation is not None
    assert d.cohorts[0].recommendation.label == a.recommendation.label


def test_a_configuration_and_the_labs_selection_are_one_choice() -> None:
    """efflab.config.Choice declares the fields a person picks once: Config adds seq_len and
    max_new_tokens, the lab's Selection its output-length control; a bad value is refused by the same
    check in both, each with its own fix (a CLI flag, a control)."""
    import dataclasses

    from efflab.config import Choice, Config
    from efflab.errors import ConfigError
    from widgets.selection import SELECTION_FIELDS, Selection

    shared = [f.name for f in dataclasses.fields(Choice)]
    assert [f.name for f in dataclasses.fields(Config)] == [*shared, "seq_len", "max_new_tokens"]
    assert list(SELECTION_FIELDS) == [*shared, "max_new_tokens"]
    for bad, head in (
        ({"batch_size": 0}, "batch size must be a positive integer, got 0; "),
        ({"precision": "fp8"}, "unknown precision 'fp8'"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"workload": "chat"}, "unknown workload 'chat'"),
        ({"model": " "}, "model must be a non-empty name or path, got ' '; "),
    ):
        for make in (Config, Selection):
            with pytest.raises(ConfigError) as e:
                make(**bad)
            assert str(e.value).startswith(head) and "\n" not in str(e.value), (make, str(e.value))
    assert Selection(model=" minilm-l2 ").model == Config(model=" minilm-l2 ").model == "minilm-l2"


@pytest.mark.xdist_group("group-check")
def test_make_tests_worker_groups_hold(request: pytest.FixtureRequest) -> None:
    """`make test` runs the tests that share a server or a cluster as one ``xdist_group`` on one worker
    (``--dist loadgroup``); pytest 9.2 with pytest-xdist 3.8 silently drops the groups
    (pytest-dev/pytest-xdist#1386), so constraints.txt keeps pytest below 9.2 and this says when they fail."""
    if not request.config.getoption("loadgroup", False):
        pytest.skip("groups apply under `make test`'s -n 2 --dist loadgroup only")
    assert request.node.nodeid.endswith("@group-check"), (
        f"xdist_group is ignored (nodeid {request.node.nodeid!r}): pytest {pytest.__version__} with this "
        "pytest-xdist spreads the tests of one server over both workers; see constraints.txt"
    )
