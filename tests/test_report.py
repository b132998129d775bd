"""Reports: one parameter type for CLI/papermill/YAML, the notebook run by papermill, offline HTML
without code, labels, batch mode, and every kind of bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from efflab import format as fmt
from efflab.cli import main
from efflab.errors import ReportError
from efflab.report import ReportParams, ReportRunError, content, notebook_path, run_report

ROOT = Path(__file__).resolve().parents[1]

# ----- one real report of the small store, shared with test_report_browser.py -----
_REPORTS: dict[str, Path] = {}


def small_report(small_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run ``efflab report`` once per session over the small store; return its output folder."""
    key = str(small_store)
    if key not in _REPORTS:
        out = tmp_path_factory.mktemp("report") / "out"
        t0 = time.monotonic()
        rc = main(["report", "--store", key, "--out", str(out), "-p", "title", "Tiny family"])
        print(f"one report (papermill + nbconvert + PNG labels): {time.monotonic() - t0:.1f} s")
        assert rc == 0
        _REPORTS[key] = out
    return _REPORTS[key]


def _notebook_json() -> dict[str, Any]:
    return json.loads(notebook_path().read_text())


# ----- the notebook itself -----
def test_notebook_is_committed_clean_with_a_parameters_cell() -> None:
    nb = _notebook_json()
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    src = "".join(tagged[0]["source"])
    for name in ReportParams.names():
        assert re.search(rf"^{name} = ", src, re.M), f"{name} missing from the parameters cell"
    # The repository's notebooks/report.ipynb is the package's copy (one source of truth).
    assert (ROOT / "notebooks" / "report.ipynb").resolve() == notebook_path().resolve()


# ----- parameters (no kernel) -----
def test_papermill_reads_every_report_parameter(caplog: pytest.LogCaptureFixture) -> None:
    # A second "=" on a parameter line (e.g. in its help comment) makes papermill skip the parameter.
    import dataclasses
    import logging

    import papermill

    with caplog.at_level(logging.WARNING):
        names = set(papermill.inspect_notebook(str(notebook_path())))
    assert names == {f.name for f in dataclasses.fields(ReportParams)}
    assert "Unable to parse" not in caplog.text


def test_params_read_text_the_way_cli_and_papermill_send_it() -> None:
    p = ReportParams.from_dict(
        {
            "store_path": "s.sqlite",
            "models": "tiny-bert-l1,tiny-bert-l2",
            "batch_sizes": "[1, 4]",
            "precisions": "INT8",
            "measure_missing": "false",
            "accuracy_tolerance": "0.02",
            "queries_per_day": "1e6",
            "baseline": "tiny-bert-l1:1:FP32",
            "seq_len": "None",
            "label_formats": "svg",
        }
    )
    assert p.models == ("tiny-bert-l1", "tiny-bert-l2")
    assert p.batch_sizes == (1, 4)
    assert p.precisions == ("int8",)
    assert p.measure_missing is False and p.seq_len is None
    assert p.accuracy_tolerance == 0.02 and p.queries_per_day == 1e6
    assert p.baseline == "tiny-bert-l1:1:fp32"
    assert ReportParams.from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"accuracy_tolerance": "high"}, "accuracy_tolerance: accuracy tolerance must be a number"),
        ({"accuracy_tolerance": 1}, "between 0 and 0.5 (0.01 = 1 point)"),
        ({"price_per_kwh": "cheap"}, "price_per_kwh: price per kWh must be a number"),
        ({"currency": "BUCKS"}, "currency: unknown currency 'BUCKS'"),
        ({"cast": "sometimes"}, "unknown cast 'sometimes'; use one of model, autocast"),
        ({"accuracy_tolerance": 5}, "accuracy_tolerance"),
        ({"batch_sizes": [1, "x"]}, "batch_sizes must be an integer"),
        ({"batch_sizes": True}, "batch_sizes"),
        ({"precisions": ["fp8"]}, "allowed: fp32, bf16, fp16, int8"),
        ({"measure_missing": "maybe"}, "measure_missing must be true or false"),
        ({"queries_per_day": -1}, "queries_per_day"),
        ({"country": "XX1"}, "country"),
        ({"device": "tpu"}, "device"),
        ({"sensor": "watts"}, "allowed: auto, nvml"),
        ({"baseline": "tiny-bert-l1"}, "MODEL:BATCH:PRECISION"),
        ({"label_formats": ["jpg"]}, "allowed: svg, png"),
        ({"title": ["a"]}, "title"),
        ({"measure_missing": True, "models": ["no-such-model"]}, "allowed: "),
        ({"modles": ["x"]}, "Did you mean 'models'"),
    ],
)
def test_bad_parameter_is_rejected_with_its_name_and_allowed_values(
    changes: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ReportError, match=re.escape(needle)) as e:
        ReportParams.from_dict({"store_path": "s.sqlite", **changes})
    assert "\n" not in str(e.value)


# ----- the notebook's content, computed in-process (fast) -----
def test_content_from_the_small_store(small_store: Path, tmp_path: Path) -> None:
    params = ReportParams(
        store_path=str(small_store), labels_dir=str(tmp_path / "labels"), label_formats=("svg",)
    )
    d = content.build(params)
    assert len(d.ok) == 8 and len(d.cohorts) == 1
    c = d.cohorts[0]
    assert c.recommendation is not None and c.baseline is not None and c.savings is not None
    summary = content.summary_html(d)
    assert "Recommended:" in summary and "Per year at 1,000,000 queries a day" in summary
    assert "<b>modelled</b>" in summary  # the fake sensor is not a measurement
    figs = content.tradeoff_figures(d)
    names = {t.name for t in figs[0].data}
    assert {"recommended", "baseline", "front"} <= names
    assert len(figs) == 3  # tradeoff, family, batch sizes as small multiples (one panel per model)
    grid = figs[2]
    assert {a.text.replace("<b>", "").replace("</b>", "") for a in grid.layout.annotations} >= {
        "tiny-bert-l1",
        "tiny-bert-l2",
    }
    labels = content.write_labels(d)
    assert sorted(lf.data.model for lf in labels) == ["tiny-bert-l1", "tiny-bert-l2"]
    for lf in labels:
        (svg,) = lf.files
        text = svg.read_text()
        assert svg.suffix == ".svg" and lf.data.model in text and "MODELLED" in text
        assert "among 2 models on this hardware" in text
    stars = sorted(lf.data.stars for lf in labels)
    assert stars[-1] == 5
    appendix = content.appendix_html(d)
    for flag in {f for fl in d.ok["flags"] for f in fl.split(",") if f}:
        assert flag in appendix
        assert flag in content.FLAG_MEANINGS, f"flag {flag} has no explanation"
    assert "cpu_model" in appendix and "Parameters of this report" in appendix
    # Energy a person reads comes from the formatter (µWh, mWh…), not as a bare "0.000278"; whole
    # numbers of the fingerprint read "2", not "2.0".
    rec_html = content.recommendation_html(d)
    for html in (rec_html, appendix.partition("Parameters of this report")[0]):
        assert "energy per 1000 queries" in html and "Wh / 1000 queries" not in html
        assert not re.search(r"<td>0\.0\d*</td>", html)
    assert fmt.wh(c.recommendation.point.wh_per_1000_queries) in rec_html
    assert not re.search(r"<td>(cpu_count|threads)</td><td>\d+\.0</td>", appendix)


def test_the_verdict_comes_first_in_three_plain_lines_then_the_method(
    small_store: Path, tmp_path: Path
) -> None:
    """What to run, what it saves, how sure — the assessment's own three lines — before any method."""
    d = content.build(ReportParams(store_path=str(small_store), labels_dir=str(tmp_path / "l")))
    (c,) = d.cohorts
    assert c.assessment is not None
    summary = content.summary_html(d)
    lines = [x for x in c.assessment.verdict_lines() if x]
    assert len(lines) >= 2 and lines[0].startswith("Run ") and "<h2>Summary</h2>" in summary
    verdict = summary.split('data-testid="verdict">')[1].split("</div>")[0]
    assert [re.sub("<[^>]+>", "", p) for p in verdict.split("</p>") if p] == [
        x.replace("'", "&#x27;") for x in lines
    ]
    after = summary.split('data-testid="verdict">')[0]
    assert "McNemar" not in after and "re-run interval" not in after and "configurations of" not in after
    method = summary.split("How this was decided")[1]
    assert "configurations of 2 models" in method and c.recommendation is not None
    assert c.recommendation.reason.split(".")[0].replace("'", "&#x27;") in method
    # The recommendation section: its tables first, how it is chosen after.
    rec = content.recommendation_html(d)
    assert rec.index("<table") < rec.index("How it is chosen") and "non-inferior" in rec


def test_repeated_flags_and_reasons_are_said_once_with_a_count() -> None:
    """39 of 46 flag rows said the same p95_insufficient_samples: one row per flag, with its count and
    the points that carry it in a few words (all but the few, or the few)."""
    import pandas as pd

    rows = [
        {"model": "m", "batch_size": b, "precision": "fp32", "status": "ok",
         "flags": "energy_estimated" + (",p95_insufficient_samples" if b > 2 else "") + (",noisy" if b == 9 else "")}
        for b in range(1, 11)
    ]  # fmt: skip
    html = content.flagged_html(pd.DataFrame(rows))
    assert html.count("<tr>") == 1 + 2  # the header, one row per flag (energy_estimated: said once above)
    assert (
        "<td>p95_insufficient_samples</td><td>8</td>" in html
        and "all but m · batch 1 · fp32, m · batch 2" in html
    )
    assert "<td>noisy</td><td>1</td>" in html and "<td>m · batch 9 · fp32</td>" in html
    assert html.count("energy_estimated") == 1
    failed = pd.DataFrame(
        [{"model": "m", "batch_size": b, "precision": "int8", "status": "failed", "error": "out of memory",
          "flags": None} for b in range(1, 9)]
    )  # fmt: skip
    every = [f"m · batch {b} · int8" for b in range(1, 9)] + ["m · batch 1 · fp32"]
    out = content.failed_html(failed, every)
    assert out.count("<tr>") == 2 and "<td>8</td>" in out and "all but m · batch 1 · fp32" in out


def test_labels_and_family_chart_show_the_recommended_configuration(
    small_store: Path, tmp_path: Path
) -> None:
    """The report is about the recommendation: its model's label and its row in the family chart are
    the recommended configuration, with that configuration's stars."""
    d = content.build(
        ReportParams(store_path=str(small_store), labels_dir=str(tmp_path / "l"), label_formats=("svg",))
    )
    (c,) = d.cohorts
    r, a = c.recommendation, c.assessment
    assert r is not None and a is not None
    labels = {lf.data.model: lf.data for lf in content.write_labels(d)}
    mine = labels[str(r.point.model)]
    assert mine.config == f"batch {r.point.batch_size} · {r.point.precision}"
    assert mine.stars == a.config_stars(r.key)
    fam = next(f for f in content.tradeoff_figures(d) if "Each model" in str(f.layout.title.text))
    row = next(t for t in fam.layout.yaxis.ticktext if str(r.point.model) in t)
    assert f"b{r.point.batch_size}" in row and "recommended" in row


def test_the_appendix_folds_its_reference_tables(small_store: Path, tmp_path: Path) -> None:
    d = content.build(ReportParams(store_path=str(small_store), labels_dir=str(tmp_path / "l")))
    appendix = content.appendix_html(d)
    assert appendix.count("<details>") == 3  # fingerprint, every measured point, parameters
    assert "8 configurations, one row each" in appendix and "cpu_model" in appendix


def test_png_failure_keeps_svg_labels_and_says_so(
    small_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kaleido

    def no_chromium(*a: Any, **k: Any) -> None:
        raise RuntimeError("no browser found")

    monkeypatch.setattr(kaleido, "write_fig_from_object_sync", no_chromium)
    d = content.build(ReportParams(store_path=str(small_store), labels_dir=str(tmp_path / "labels")))
    labels = content.write_labels(d)
    assert all([f.suffix for f in lf.files] == [".svg"] for lf in labels)
    assert "PNG labels were not written" in d.label_note and "no browser found" in d.label_note
    assert "PNG labels were not written" in content.labels_html(d)


def test_content_of_an_empty_store_says_so(tmp_path: Path) -> None:
    from efflab.store import open_store

    empty = tmp_path / "empty.sqlite"
    open_store(empty).close()
    d = content.build(ReportParams(store_path=str(empty), labels_dir=str(tmp_path / "labels")))
    assert "has no measured points yet" in content.summary_html(d)
    assert content.tradeoff_figures(d) == [] and content.write_labels(d) == []
    assert "no recommendation" in content.recommendation_html(d)
    content.appendix_html(d)


def test_filters_select_what_is_asked(small_store: Path, tmp_path: Path) -> None:
    params = ReportParams(
        store_path=str(small_store), models=["tiny-bert-l2"], precisions=["int8"], labels_dir=str(tmp_path)
    )
    d = content.build(params)
    assert set(d.ok["model"]) == {"tiny-bert-l2"} and set(d.ok["precision"]) == {"int8"}
    assert sorted(d.ok["batch_size"]) == [1, 4]


def test_newest_measurement_of_a_configuration_wins(small_store: Path) -> None:
    import pandas as pd

    from efflab.analysis.assess import newest_per_configuration
    from efflab.store import load_results

    df = load_results(small_store)
    again = df.iloc[[0]].assign(
        key="re-measured", created_at="2999-01-01T00:00:00+00:00", wh_per_1000_queries=42.0
    )
    kept, superseded = newest_per_configuration(pd.concat([df, again], ignore_index=True))
    assert superseded == 1 and len(kept) == len(df)
    assert 42.0 in set(kept["wh_per_1000_queries"])


# ----- bad input at the CLI: exit 2, one line, nothing run or written -----
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-p", "accuracy_tolerance", "high"], "parameter accuracy_tolerance"),
        (["-p", "models", "no-such-model"], "it has tiny-bert-l1, tiny-bert-l2"),
        (["-p", "precisions", "fp8"], "allowed: fp32, bf16, fp16, int8"),
        (["-p", "precisions", "bf16"], "it has fp32, int8"),
        (["-p", "batch_sizes", "0"], "parameter batch_sizes"),
        (["-p", "batch_sizes", "3"], "it has 1, 4"),
        (["-p", "measure_missing", "maybe"], "true or false"),
        (["-p", "modles", "x"], "unknown report parameter 'modles'"),
        (["-p", "baseline", "tiny-bert-l1:8:fp32"], "tiny-bert-l1:1:fp32"),
        (["-p", "measure_missing", "true", "-p", "models", "no-such-model"], "tiny-bert-l1"),
    ],
)
def test_cli_rejects_bad_parameters_before_running(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    from efflab.store import load_results

    before = len(load_results(small_store))
    out = tmp_path / "out"
    rc = main(["report", "--store", str(small_store), "--out", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("efflab: error:")
    assert needle in err
    assert not out.exists()
    assert len(load_results(small_store)) == before  # nothing measured


def test_cli_rejects_a_missing_store_and_a_bad_batch_file(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["report", "--store", str(tmp_path / "nope.sqlite"), "--out", str(out)]) == 2
    assert "efflab sweep" in capsys.readouterr().err
    batch = tmp_path / "sets.yaml"
    batch.write_text("- {name: good, models: [tiny-bert-l1]}\n- {name: bad, precisions: [fp8]}\n")
    assert main(["report", "--store", str(small_store), "--out", str(out), "--params", str(batch)]) == 2
    err = capsys.readouterr().err.strip()
    assert "parameter set 2" in err and "fp8" in err and len(err.splitlines()) == 1
    assert not out.exists()  # the good set did not run either


# ----- real runs (papermill kernel, nbconvert, kaleido) -----
@pytest.mark.slow
def test_report_from_the_small_store(small_store: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    out = small_report(small_store, tmp_path_factory)
    html = (out / "report.html").read_text()
    assert html.count('class="plotly-graph-div"') >= 3
    assert html.count("* plotly.js v") == 1  # embedded once
    assert not re.search(r"<script[^>]*\ssrc=[\"']?(https?:)?//", html)
    assert not re.search(r"<link[^>]*\shref=[\"']?(https?:)?//", html)
    assert "Traceback" not in html
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html  # no error or warning output
    assert "content.show_summary" not in html and "ReportParams" not in html  # no code cells
    for words in ("Tiny family", "Recommended:", "Efficiency labels", "MODELLED energy", "Flagged points"):
        assert words in html
    labels = sorted(p.name for p in (out / "labels").iterdir())
    assert labels == [f"label-tiny-bert-l{i}.{ext}" for i in (1, 2) for ext in ("png", "svg")]
    assert (out / "labels" / "label-tiny-bert-l1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nb = json.loads((out / "report.ipynb").read_text())
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not (out / "FAILED.txt").exists()


@pytest.mark.slow
def test_batch_mode_two_parameter_sets_and_an_empty_store(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from efflab.store import open_store

    empty = tmp_path / "empty.sqlite"
    open_store(empty).close()
    sets = tmp_path / "sets.yaml"
    sets.write_text(
        "- name: l1\n  title: Only L1\n  models: [tiny-bert-l1]\n"
        f"- name: empty\n  title: Empty store\n  store_path: {empty}\n"
    )
    out = tmp_path / "out"
    args = ["report", "--store", str(small_store), "--out", str(out), "--params", str(sets)]
    assert main([*args, "-p", "label_formats", "svg"]) == 0
    assert "index:" in capsys.readouterr().out
    index = (out / "index.html").read_text()
    assert 'href="l1/report.html"' in index and 'href="empty/report.html"' in index
    assert "<script" not in index
    l1 = (out / "l1" / "report.html").read_text()
    assert "Only L1" in l1 and "tiny-bert-l1" in l1 and "tiny-bert-l2" not in l1
    assert [p.name for p in (out / "l1" / "labels").iterdir()] == ["label-tiny-bert-l1.svg"]
    empty_html = (out / "empty" / "report.html").read_text()
    assert "has no measured points yet" in empty_html and "Traceback" not in empty_html


@pytest.mark.slow
def test_failed_run_leaves_no_finished_html(small_store: Path, tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("store_path = ''", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise RuntimeError('the store vanished')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    boom = tmp_path / "boom.ipynb"
    nbformat.write(nb, boom)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("<html>last week's report</html>")  # stale output of an earlier run
    with pytest.raises(ReportRunError, match="RuntimeError: the store vanished") as e:
        run_report(ReportParams(store_path=str(small_store)), out, notebook=boom)
    assert e.value.exit_code != 0 and "\n" not in str(e.value)
    assert not (out / "report.html").exists()
    assert "FAILED" in (out / "FAILED.txt").read_text()
    assert not list(out.glob("*.tmp"))


@pytest.mark.slow
def test_papermill_directly_measures_the_missing_points(
    copy_store: Path, tiny_task: Path, tmp_path: Path
) -> None:
    from efflab.store import load_results

    before = load_results(copy_store)
    assert not ((before["batch_size"] == 2) & (before["model"] == "tiny-bert-l1")).any()
    cmd = [
        sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "report.ipynb"), str(tmp_path / "out.ipynb"),
        "-p", "store_path", str(copy_store), "-p", "measure_missing", "True",
        "-y", "{models: [tiny-bert-l1], batch_sizes: [2], precisions: [fp32], label_formats: [svg], "
        "method: {min_window_s: 0.05, max_window_s: 0.3, warmup_s: 0, warmup_batches: 1, min_batches: 3, "
        "windows: 1, max_windows: 1, remeasure_windows: 0, disturbed_cpu_ratio: 1e-9, noisy_other_cpu_share: 1.0}}",
        "-p", "task", str(tiny_task), "-p", "seq_len", "32", "-p", "sensor", "fake",
        "-p", "labels_dir", str(tmp_path / "labels"), "--no-progress-bar", "--cwd", str(tmp_path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=600, capture_output=True)
    after = load_results(copy_store)
    assert len(after) == len(before) + 1
    new = after[~after["key"].isin(before["key"])].iloc[0]
    assert (new["model"], int(new["batch_size"]), new["status"]) == ("tiny-bert-l1", 2, "ok")
    text = (tmp_path / "out.ipynb").read_text()
    assert "1 measured, 0 already in the store, 0 failed" in text
    assert (tmp_path / "labels" / "label-tiny-bert-l1.svg").exists()


def test_general_purpose_section_omitted_then_shown(small_store: Path, tmp_path: Path) -> None:
    import dataclasses

    import pandas as pd

    from efflab.analysis import assess
    from efflab.store import load_results

    params = ReportParams(store_path=str(small_store), labels_dir=str(tmp_path / "l"), label_formats=("svg",))
    d = content.build(params)
    assert "No prompted general-purpose model" in content.general_html(d)  # one line, no figure
    assert content.general_figures(d) == []
    # The same store with a prompted LLM point (100x the energy, 50 % accuracy) beside the family.
    df = load_results(small_store)
    df = df[df["status"] == "ok"]
    llm = df.loc[df["energy_j_per_query"].idxmax()].copy()
    llm["model"], llm["key"], llm["prompting"] = (
        "smollm2-135m",
        "llm-key",
        "k=4, calibrated on 100 train texts",
    )
    llm["energy_j_per_query"] = float(df["energy_j_per_query"].max()) * 100
    llm["wh_per_1000_queries"] = llm["energy_j_per_query"] * 1000 / 3600
    llm["accuracy"], llm["accuracy_correct"] = 0.5, None
    both = pd.concat([df.assign(prompting=None), llm.to_frame().T], ignore_index=True)
    both = both.astype({c: df[c].dtype for c in df.columns})
    a = assess(both)
    assert a.general is not None
    d.cohorts = [dataclasses.replace(d.cohorts[0], assessment=a, points=a.eligible)]
    text = content.general_html(d)
    assert a.general.sentence() in text.replace("&#x27;", "'") and "k=4, calibrated" in text
    (fig,) = content.general_figures(d)
    assert "smollm2-135m (general-purpose, prompted)" in {t.name for t in fig.data}


def test_every_point_flagged_says_so_and_still_shows_what_was_measured(
    small_store: Path, tmp_path: Path
) -> None:
    import dataclasses

    from efflab.store import open_store

    flagged = tmp_path / "flagged.sqlite"
    with open_store(small_store, readonly=True) as src, open_store(flagged) as dst:
        n = 0
        for p in src.points():
            m = p.measurement
            if m is not None:
                m = dataclasses.replace(m, flags=(*m.flags, "disturbed"))
                n += 1
            cfg = {"model": p.model, "batch_size": p.batch_size, "precision": p.precision}
            cfg |= {"device": p.device, "seq_len": p.seq_len, "task": p.task}
            dst.put(p.key, config=cfg, model_id=p.model_id, hardware=p.hardware, measurement=m, error=p.error)
    d = content.build(ReportParams(store_path=str(flagged), labels_dir=str(tmp_path / "labels")))
    said = f"All {n} measured points are flagged unstable or disturbed"
    assert said in content.recommendation_html(d) and said in content.labels_html(d)
    figs = content.tradeoff_figures(d)
    assert (
        len(figs) == 1 and "none eligible" in figs[0].layout.title.text
    )  # the batch grid, every point ringed
    assert "No measured points" not in content.recommendation_html(d)
