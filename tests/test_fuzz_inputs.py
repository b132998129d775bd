"""Property-style: random bytes and random YAML/JSON structures fed to every command that takes a
file (sweep spec, report --params, --store, task CSV, the dashboard's and the lab's store, an
existing export --out) end in one line, exit 2, no traceback, and no file changed. Seeded
(hypothesis is not installed here), a few seconds; the commands run in-process through
``efflab.cli.main``."""

from __future__ import annotations

import hashlib
import json
import math
import random
import string
from pathlib import Path
from typing import Any

import pytest
import yaml

from efflab.cli import main
from efflab.config import MethodSettings
from efflab.report.params import ReportParams
from efflab.sweep import SweepSpec

SEED = 15
N_PER_COMMAND = 20
SEEN: list[str] = []
# Field names a user would write, so random structures reach the validation past "unknown field".
SPEC_KEYS = list(SweepSpec.__dataclass_fields__)
METHOD_KEYS = list(MethodSettings.__dataclass_fields__)
REPORT_KEYS = list(ReportParams.names())


def _scalar(rng: random.Random) -> Any:
    kind = rng.randrange(9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**63, -(10**12), 10**9, 32])
    if kind == 3:
        return rng.choice([math.nan, math.inf, -math.inf, -0.5, 1e308, 0.02])
    if kind == 4:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(0, 40)))
    if kind == 5:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(1, 20)))
    if kind == 6:
        return rng.choice(
            ["fp32", "int8", "cpu", "cuda:99", "fake", "XXX", "tiny-bert-l1", "../../etc/passwd"]
        )
    if kind == 7:
        return "x" * rng.choice([300, 5000])
    return rng.choice(["\x00", "\n\n", "{", "- -", "&a [*a]"])


def _structure(rng: random.Random, keys: list[str], depth: int = 0) -> Any:
    if depth > 3 or rng.random() < 0.3:
        return _scalar(rng)
    if rng.random() < 0.3:
        return [_structure(rng, keys, depth + 1) for _ in range(rng.randrange(0, 4))]
    names = [
        rng.choice(keys) if rng.random() < 0.95 else str(_scalar(rng)) for _ in range(rng.randrange(0, 5))
    ]
    return {k: _structure(rng, METHOD_KEYS if k == "method" else keys, depth + 1) for k in names}


def _document(rng: random.Random, keys: list[str] = SPEC_KEYS) -> bytes:
    """Random bytes, a random structure as YAML or JSON, or such a document cut short."""
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    doc = _structure(rng, keys)
    text = json.dumps(doc) if kind == 1 else yaml.safe_dump(doc, allow_unicode=True)
    if kind == 3:
        text = text[: rng.randrange(0, max(len(text), 1))]
    return text.encode("utf-8", "surrogatepass")


def _sha(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


def _check(argv: list[str], folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _sha(folder)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    assert out.strip() == "", (argv, out[-500:])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (argv, code, err[-1500:])
    assert "Traceback" not in err, (argv, err[-1500:])
    assert len(lines) == 1, (argv, err[-1500:])
    assert _sha(folder) == before, argv
    SEEN.append(lines[0][:60])
    assert not any(p.name.endswith((".csv", ".parquet")) for p in folder.iterdir() if p.name not in before)


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    d = tmp_path / "inputs"
    d.mkdir()
    return d


def test_random_files_to_every_command(case_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import free_port

    rng = random.Random(SEED)
    # A store that is not one (random bytes): every command that would measure stops at it.
    bad_store = case_dir / "bad.sqlite"
    bad_store.write_bytes(b"not an sqlite file " + bytes(rng.randrange(256) for _ in range(64)))
    out = case_dir / "out.csv.never"
    for i in range(N_PER_COMMAND):
        f = case_dir / f"in{i}.yaml"
        f.write_bytes(_document(rng, SPEC_KEYS))
        _check(["sweep", str(f), "--store", str(bad_store)], case_dir, capsys)
        f.write_bytes(_document(rng, REPORT_KEYS))
        _check(
            ["report", "--params", str(f), "--store", str(bad_store), "--out", str(case_dir / "rep")],
            case_dir,
            capsys,
        )
        s = case_dir / f"store{i}.sqlite"
        s.write_bytes(_document(rng) or b"\x00")  # an empty file is an empty store (the dashboard starts)
        for argv in (
            ["results", "list", "--store", str(s)],
            ["results", "export", "--store", str(s), "--out", str(out)],
            ["recommend", "--store", str(s)],
            ["dashboard", "--store", str(s), "--no-browser", "--port", str(free_port())],
            ["lab", "--store", str(s), "--no-browser", "--port", str(free_port())],
            # a random file as --out is never written over (it exists: refused without --force)
            ["results", "export", "--store", str(s), "--out", str(f)],
        ):
            _check(argv, case_dir, capsys)
        t = case_dir / f"task{i}.csv"
        t.write_bytes(
            _document(rng) if rng.random() < 0.5 else b"text,label\n" + _document(rng, ["text", "label"])
        )
        # An unknown model after the task: even a task that happens to parse ends in one line.
        _check(["measure", "--task", str(t), "--model", "no-such-model-xyz"], case_dir, capsys)
    assert not (case_dir / "rep").exists()
    # the inputs reached more than the first check: many different one-line errors
    assert len(set(SEEN)) > 20, sorted(set(SEEN))
