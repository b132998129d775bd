"""Energy facts where teams publish them: the model card section (`efflab card`), BoAmps records
(`efflab results export --format boamps`) and energy per million tokens of encoders.

Real parts: the session's small store (a real tiny sweep, fake energy sensor), huggingface_hub's
ModelCard to parse the cards back, jsonschema against Boavizta's own BoAmps schemas (vendored in
tests/fixtures/boamps_schema)."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from efflab.cli import main
from efflab.store import load_results

SCHEMAS = Path(__file__).parent / "fixtures" / "boamps_schema"
MODEL = "tiny-bert-l1"

# A card as people write them: metadata with a comment, a duplicated tag and a model-index (which
# huggingface_hub's own round trip would rewrite), sections before and after efflab's.
EXISTING = """---
# kept: a comment in the metadata
license: apache-2.0
language: [en]
tags:
- text-classification
- text-classification
model-index:
- name: my-model
  results: []
---

# My model

Fine-tuned on reviews.   Trailing spaces stay.<2 spaces>

## Usage

```python
pipe("great coffee")
```

## Limitations

Small test set.
""".replace("<2 spaces>", "  ")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _card(path: Path) -> Any:
    from huggingface_hub import ModelCard

    return ModelCard(path.read_text(encoding="utf-8"))


def _outside_section(text: str) -> str:
    """The card's text with efflab's section and its metadata key cut out."""
    from efflab.publish.card import END, START

    s, e = text.index(START), text.index(END) + len(END)
    head, body = text[:s], text[e:]
    lines = head.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("efflab:"))
    stop = start + 1
    while stop < len(lines) and lines[stop][:1] in (" ", "-") and not lines[stop].startswith("---"):
        stop += 1
    return "".join(lines[:start] + lines[stop:]) + body


# ----- the card -------------------------------------------------------------------------------------------


def test_card_section_parses_back_with_huggingface_hub(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from efflab.analysis import assess
    from efflab.publish.card import END, START, card_facts, card_metadata

    out = tmp_path / "README.md"
    code, _, err = _run(["card", MODEL, "--store", str(small_store), "--out", str(out)], capsys)
    assert code == 0, err
    card = _card(out)
    meta = card.data.to_dict()["efflab"]
    df = load_results(small_store)
    # The same facts the library computes, through YAML and back (floats to 4 significant digits).
    assert meta == json.loads(json.dumps(card_metadata(card_facts(df, MODEL))))
    assert START in card.text and END in card.text
    # Read from the one assessment, not decided anew.
    a = assess(df)
    (cohort,) = meta["cohorts"]
    assert cohort["cohort"] == a.cohort
    assert cohort["stars"] == a.stars(MODEL) and cohort["stars_among_models"] == len(a.ratings)
    assert a.recommendation is not None
    assert cohort["recommended"]["key"] == a.recommendation.key
    assert cohort["recommended"]["reason"] == a.recommendation.reason
    rated = a.rating(MODEL)
    assert rated is not None and cohort["rated_configuration"] == rated.key
    # Every measured configuration of the model, with its interval, basis, source and accuracy.
    mine = a.frame[a.frame["model"] == MODEL]
    assert {c["key"] for c in cohort["configurations"]} == set(mine["key"])
    for c in cohort["configurations"]:
        row = mine[mine["key"] == c["key"]].iloc[0]
        assert c["wh_per_1000_queries"] == pytest.approx(row["wh_per_1000_queries"], rel=1e-3)
        assert c["wh_per_1000_queries_rerun95_half"] > 0
        assert c["energy_basis"] == "modelled" and c["energy_source"] == "fake"
        assert c["accuracy_ci95"][0] <= c["accuracy"] <= c["accuracy_ci95"][1]
        assert c["tokens_per_query"] == int(row["seq_len"]) and c["tokens_padded"] is True
    # The Markdown section says the same in words: a row per configuration, the label, the hardware.
    section = card.text[card.text.index(START) : card.text.index(END)]
    assert sum(1 for line in section.splitlines() if line.startswith("| batch ")) == len(mine)
    assert "95 % re-run interval" in section and "modelled (fake)" in section and "95 % CI" in section
    assert f"**Hardware:** {row['hardware']}" in section and a.recommendation.label in section
    assert "padded tokens count" in section


def test_card_writes_the_label_beside_it_and_links_it(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import xml.etree.ElementTree as ET

    out = tmp_path / "README.md"
    assert _run(["card", MODEL, "--store", str(small_store), "--out", str(out)], capsys)[0] == 0
    label = tmp_path / "efflab-label-tiny-bert-l1.svg"
    assert f"]({label.name})" in out.read_text()
    root = ET.fromstring(label.read_text())
    assert root.tag.endswith("svg") and MODEL in root.attrib["aria-label"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([label.name, "README.md"])  # no temp files


def test_updating_a_card_keeps_its_other_sections_byte_for_byte(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = tmp_path / "README.md"
    card.write_text(EXISTING, encoding="utf-8")
    card.chmod(0o640)
    argv = ["card", MODEL, "--store", str(small_store), "--update", str(card)]
    assert _run(argv, capsys)[0] == 0
    assert card.stat().st_mode & 0o777 == 0o640  # the renamed file keeps the card's permissions
    first = card.read_text(encoding="utf-8")
    assert first.startswith(EXISTING.split("\n---\n")[0])  # every metadata line kept, comment included
    # The section was appended after a blank line (and ends with its own line break).
    assert _outside_section(first) == EXISTING + "\n" + "\n"
    parsed = _card(card)
    assert parsed.data.to_dict()["license"] == "apache-2.0" and "efflab" in parsed.data.to_dict()
    # An edit around the section, then an update: the edit stays, the section is replaced in place.
    edited = first.replace("## Limitations", "## Limitations (edited)") + "\n## Citation\n\nLater text.\n"
    card.write_text(edited, encoding="utf-8")
    assert _run(argv, capsys)[0] == 0
    second = card.read_text(encoding="utf-8")
    assert second == edited  # same store, same facts: only efflab's parts could change, and they did not
    assert _outside_section(second) == _outside_section(edited)


def test_update_replaces_only_efflabs_section_and_key(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from efflab.publish.card import END, START, card_facts, card_metadata, card_section, merge_card

    df = load_results(small_store)
    facts = card_facts(df, MODEL)
    stale = merge_card(EXISTING, f"{START}\nold numbers\n{END}\n", {"model": "old"})
    new = merge_card(stale, card_section(facts), card_metadata(facts))
    assert "old numbers" not in new and "model: old" not in new
    assert _outside_section(new) == _outside_section(stale)
    # Windows line ends are kept, and the section uses them too.
    crlf = merge_card(EXISTING.replace("\n", "\r\n"), card_section(facts), card_metadata(facts))
    assert "\n" not in crlf.replace("\r\n", "")
    assert _outside_section(crlf.replace("\r\n", "\n")) == EXISTING + "\n" + "\n"
    # A card without metadata gets a block; its text stays as it was.
    bare = merge_card("# Title\n\nText.\n", card_section(facts), card_metadata(facts))
    assert bare.startswith("---\nefflab:\n") and "\n---\n# Title\n\nText.\n\n" + START in bare


def test_card_to_stdout_writes_no_file(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import ModelCard

    monkeypatch.chdir(tmp_path)
    code, out, err = _run(["card", MODEL, "--store", str(small_store)], capsys)
    assert code == 0 and list(tmp_path.iterdir()) == []
    assert ModelCard(out).data.to_dict()["efflab"]["model"] == MODEL
    assert "pass --out or --update to write the label" in err


# ----- bad input: one line, exit 2, nothing lost ---------------------------------------------------------


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("efflab: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


def test_a_model_not_in_the_store(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _sha(small_store)
    code, _, err = _run(
        ["card", "tiny-bert-l9", "--store", str(small_store), "--out", str(tmp_path / "README.md")], capsys
    )
    _one_line_error(code, err, "'tiny-bert-l9'", "tiny-bert-l1", "Did you mean")
    assert list(tmp_path.iterdir()) == [] and _sha(small_store) == before
    code, _, err = _run(["results", "export", "--store", str(small_store), "--format", "boamps", "--model", "nope",
                         "--out", str(tmp_path / "b.json")], capsys)  # fmt: skip
    _one_line_error(code, err, "'nope'")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("notes.txt", b"# a card\n", ("not a Markdown file",)),
        ("README.md", b"SQLite format 3\x00\x00\x01", ("binary",)),
        ("README.md", b"\xff\xfe# card in UTF-16", ("not UTF-8",)),
        ("README.md", b'{"cells": [], "nbformat": 4}', ("JSON",)),
        ("README.md", b"<!DOCTYPE html><html><body>card</body></html>", ("HTML",)),
        ("README.md", b"---\n- a\n- b\n---\n# card\n", ("not a YAML mapping",)),
        ("README.md", b"---\nlicense: [mit\n---\n# card\n", ("not valid YAML",)),
        ("README.md", b"# card\n<!-- efflab:card:start -->\nhalf a section\n", ("marker",)),
        ("README.md", b"<!-- efflab:card:end -->\n<!-- efflab:card:start -->\n", ("marker",)),
    ],
)
def test_a_card_that_is_not_markdown_is_left_as_it_was(
    small_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes,
    words: tuple[str, ...],
) -> None:
    card = tmp_path / name
    card.write_bytes(content)
    code, _, err = _run(["card", MODEL, "--store", str(small_store), "--update", str(card)], capsys)
    _one_line_error(code, err, *words)
    assert card.read_bytes() == content and sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_out_never_overwrites_a_card_without_force(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = tmp_path / "README.md"
    card.write_text(EXISTING)
    code, _, err = _run(["card", MODEL, "--store", str(small_store), "--out", str(card)], capsys)
    _one_line_error(code, err, "already exists", "--update")
    assert card.read_text() == EXISTING
    missing = tmp_path / "missing" / "README.md"
    code, _, err = _run(
        ["card", MODEL, "--store", str(small_store), "--update", str(tmp_path / "none.md")], capsys
    )
    _one_line_error(code, err, "does not exist", "--out")
    code, _, err = _run(["card", MODEL, "--store", str(small_store), "--out", str(missing)], capsys)
    _one_line_error(code, err, "does not exist")


def test_an_unwritable_output_leaves_the_card_as_it_was(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder no one can create files in (root ignores mode bits, /proc refuses everyone).
    code, _, err = _run(["card", MODEL, "--store", str(small_store), "--out", "/proc/README.md"], capsys)
    _one_line_error(code, err, "cannot write", "/proc/README.md")
    # The rename fails (disk full, a race): the card, its old label and the folder are as they were.
    card = tmp_path / "README.md"
    card.write_text(EXISTING)
    label = tmp_path / "efflab-label-tiny-bert-l1.svg"
    label.write_text("<svg/>")

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    code, _, err = _run(["card", MODEL, "--store", str(small_store), "--update", str(card)], capsys)
    _one_line_error(code, err, "No space left on device")
    assert card.read_text() == EXISTING and label.read_text() == "<svg/>"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([card.name, label.name])  # no temp file left


def test_card_is_a_registered_command() -> None:
    from efflab.cli import _COMMANDS, build_parser

    assert "card" in _COMMANDS
    helptext = build_parser().format_help()
    assert "card" in helptext and "model card" in helptext


# ----- BoAmps -------------------------------------------------------------------------------------------


def _boamps_validator() -> Any:
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource

    schemas = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*_schema.json")}
    registry = Registry().with_resources((s["id"], Resource.from_contents(s)) for s in schemas.values())
    return Draft4Validator(schemas["report_schema.json"], registry=registry)


def test_the_vendored_schema_rejects_what_boamps_rejects() -> None:
    v = _boamps_validator()
    assert not v.is_valid({"measures": []})  # task, infrastructure missing; measures empty
    bad = {"task": {"taskStage": "inference", "taskFamily": "x", "algorithms": [{}],
                    "dataset": [{"dataUsage": "input"}]},  # no dataType
           "measures": [{"measurementMethod": "efflab", "powerConsumption": 1.0}],
           "infrastructure": {"infraType": "other", "components": [{"componentType": "cpu", "nbComponent": 1}]}}  # fmt: skip
    assert [e.validator for e in v.iter_errors(bad)] == ["required"]


def test_boamps_export_validates_against_the_schema(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "boamps.json"
    code, _, err = _run(
        ["results", "export", "--store", str(small_store), "--format", "boamps", "--out", str(out)], capsys
    )
    assert code == 0, err
    reports = json.loads(out.read_text())
    df = load_results(small_store).set_index("key")
    ok = df[df["status"] == "ok"]
    assert len(reports) == len(ok) and f"wrote {len(reports)} BoAmps reports" in err
    v = _boamps_validator()
    for r in reports:
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in v.iter_errors(r)]
        assert not errors, errors
    # The numbers say what the store says: energy of the measured windows over their queries.
    ids = set()
    for r in reports:
        key = r["task"]["taskDescription"].split(" point ")[1].split(":")[0]
        row = ok.loc[key]
        (m,) = r["measures"]
        assert m["powerConsumption"] == pytest.approx(row["energy_j"] / 3.6e6)
        per_query_kwh = m["powerConsumption"] / r["task"]["nbRequest"]
        assert per_query_kwh * 3.6e6 == pytest.approx(row["energy_j_per_query"])
        assert r["task"]["measuredAccuracy"] == pytest.approx(row["accuracy"])
        assert r["task"]["dataset"][0] == {"dataUsage": "input", "dataType": "token",
                                           "dataQuantity": float(row["seq_len"]),
                                           "shape": f"({int(row['batch_size'])}, {int(row['seq_len'])})"}  # fmt: skip
        assert r["task"]["algorithms"][0]["quantization"] == row["precision"]
        assert r["quality"] in ("high", "medium", "low")
        ids.add(r["header"]["reportId"])
    assert len(ids) == len(reports)
    # The same point always gets the same report id (a re-export can be diffed).
    code, again, _ = _run(
        ["results", "export", "--store", str(small_store), "--format", "boamps", "--out", "-"], capsys
    )
    assert code == 0 and {r["header"]["reportId"] for r in json.loads(again)} == ids


def test_boamps_leaves_out_points_that_do_not_count(small_store: Path) -> None:
    from efflab.publish.boamps import boamps_reports

    df = load_results(small_store)
    flagged = df.copy()
    flagged.loc[flagged.index[0], "flags"] = "unstable"
    reports, left_out = boamps_reports(flagged)
    assert left_out == 1 and len(reports) == len(df) - 1


def test_card_boamps_option_writes_the_models_reports(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, rec = tmp_path / "README.md", tmp_path / "boamps.json"
    argv = ["card", MODEL, "--store", str(small_store), "--out", str(out), "--boamps", str(rec)]
    assert _run(argv, capsys)[0] == 0
    reports = json.loads(rec.read_text())
    df = load_results(small_store)
    assert len(reports) == int((df["model"] == MODEL).sum())
    assert all(r["task"]["algorithms"][0]["foundationModelName"] == MODEL for r in reports)
    code, _, err = _run([*argv, "--force"], capsys)
    assert code == 0, err
    code, _, err = _run(
        ["card", MODEL, "--store", str(small_store), "--update", str(out), "--boamps", str(rec)], capsys
    )
    _one_line_error(code, err, "already exists", "--force")


# ----- per million tokens -------------------------------------------------------------------------------


def test_the_per_token_figure_is_energy_over_tokens(small_store: Path) -> None:
    df = load_results(small_store)
    ok = df[df["status"] == "ok"]
    assert len(ok) and (ok["tokens_per_query"] == ok["seq_len"].astype(float)).all()
    for _, r in ok.iterrows():
        wh_per_token = r["wh_per_1000_queries"] / 1000 / r["seq_len"]
        assert r["wh_per_million_tokens"] == pytest.approx(wh_per_token * 1e6, rel=1e-12)
        g_per_token = r["co2e_g_per_1000_queries"] / 1000 / r["seq_len"]
        assert r["co2e_g_per_million_tokens"] == pytest.approx(g_per_token * 1e6, rel=1e-12)


def test_only_encoders_have_tokens() -> None:
    from efflab.models.tokens import encoder_tokens_per_query

    assert encoder_tokens_per_query("tiny-bert-l2", 64) == 64
    assert encoder_tokens_per_query("minilm-l6", 128) == 128
    assert encoder_tokens_per_query("tfidf-logreg", 128, flops_per_query=None) is None  # no tokens
    assert encoder_tokens_per_query("tiny-bert-l2", 64, workload="generate") is None  # per output token
    assert encoder_tokens_per_query("smollm2-135m", 64, prompting="k=4, calibrated") is None
    # A name only loading would explain: an encoder only if a transformer's FLOPs were counted.
    assert encoder_tokens_per_query("someone/some-encoder", 32, flops_per_query=1e6) == 32
    assert encoder_tokens_per_query("someone/some-encoder", 32, flops_per_query=math.nan) is None


def test_per_token_figures_reach_the_list_the_export_and_the_lab_table(
    small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from efflab import format as fmt
    from widgets.table import points_table_rows

    df = load_results(small_store)
    code, out, _ = _run(["results", "list", "--store", str(small_store)], capsys)
    assert code == 0 and "energy/1M tok" in out and "CO2e/1M tok" in out and "padded tokens count" in out
    for w in df["wh_per_million_tokens"]:
        assert fmt.wh(w) in out
    csv = tmp_path / "r.csv"
    assert _run(["results", "export", "--store", str(small_store), "--out", str(csv)], capsys)[0] == 0
    back = pd.read_csv(csv)
    assert back["wh_per_million_tokens"].tolist() == pytest.approx(df["wh_per_million_tokens"].tolist())
    assert back["tokens_per_query"].tolist() == df["tokens_per_query"].tolist()
    cols, rows, _ = points_table_rows(df)
    names = [c[0] for c in cols]
    assert {"wh_per_million_tokens", "co2e_g_per_million_tokens"} <= set(names)
    i = names.index("wh_per_million_tokens")
    assert [r["cells"][i] for r in rows] == [fmt.wh(w) for w in df["wh_per_million_tokens"]]


def test_per_token_figures_reach_the_report_and_the_dashboard(small_store: Path) -> None:
    from efflab import format as fmt
    from efflab.dashboard.view import build_view
    from efflab.report.content import _ROW_HEADERS, _row_cells

    df = load_results(small_store)
    row = df[df["status"] == "ok"].iloc[0]
    cells = _row_cells(row)
    i = next(k for k, h in enumerate(_ROW_HEADERS) if "1M tokens" in h)
    assert (
        cells[i]
        == f"{fmt.wh(row['wh_per_million_tokens'])} · {fmt.si(row['co2e_g_per_million_tokens'], 'g')}"
    )
    assert "CO2e" in _ROW_HEADERS[i] and "padded" in _ROW_HEADERS[i]
    view = build_view(df)
    sel = view.selected
    assert f"per 1M tokens (padded): {fmt.wh(sel['wh_per_million_tokens'])}, " in view.card("energy").detail


def test_a_model_in_two_cohorts_gets_a_section_and_a_label_each(small_store: Path) -> None:
    import pandas as pd

    from efflab.analysis import AssessInputs
    from efflab.publish.card import card_facts, card_section

    df = load_results(small_store)
    other = df.assign(
        hardware="Other CPU x4",
        cohort=df["cohort"].str.replace(str(df["hardware"].iloc[0]), "Other CPU x4", regex=False),
        key=df["key"] + "-other",
    )
    both = pd.concat([df, other], ignore_index=True)
    facts = card_facts(both, MODEL)
    names = [c.label_file for c in facts.cohorts]
    assert len(facts.cohorts) == 2 and len(set(names)) == 2
    assert all(
        n.startswith(f"efflab-label-{MODEL}-tiny_task-") and "/" not in n for n in names
    )  # no CSV path
    section = card_section(facts)
    assert all(f"### tiny_task on {c.hardware}" in section for c in facts.cohorts)
    one = card_facts(both, MODEL, AssessInputs(cohort=facts.cohorts[1].cohort))
    assert [c.cohort for c in one.cohorts] == [facts.cohorts[1].cohort]
    assert one.cohorts[0].label_file == f"efflab-label-{MODEL}.svg"
