"""``efflab compare``: a known difference resolved, stored points compared, exit codes, --fail, --json,
and every bad input one line with exit 2 and nothing stored (in-process: ``main([...])``)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from efflab.cli import main

FAST = ["--sensor", "fake", "--no-task", "--visit", "0.02", "--threads", "default", "--seq-len", "16"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def digest(path: Path) -> str:
    if not path.exists():
        return "absent"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_known_difference_is_resolved_and_stored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = tmp_path / "c.sqlite"
    rc, out, err = run(
        capsys, "compare", *FAST, "tiny-bert-l1:16:fp32", "tiny-bert-l1:1:fp32", "--rounds", "12", "--json",
        "--store", str(store), "--visit", "0.05",
    )  # fmt: skip
    assert rc == 0, err
    got = json.loads(out)
    assert got["basis"] == "paired" and got["rounds"] + got["dropped"] == 12
    e = got["metrics"]["energy"]
    # batch 1 costs several times batch 16 per query: resolved, whatever the machine is doing
    assert e["verdict"] == "higher" and e["ratio"] > 1.5 and e["low"] > 1.0
    assert got["metrics"]["throughput"]["verdict"] == "lower"
    assert set(got) == {
        "a",
        "b",
        "basis",
        "dropped",
        "gates",
        "metrics",
        "notes",
        "rounds",
        "stopped",
        "wall_s",
    }
    # the visits are stored, under the configurations' point keys
    con = sqlite3.connect(store)
    keys = {r[0] for r in con.execute("SELECT DISTINCT key FROM visits")}
    assert keys == {got["a"]["key"], got["b"]["key"]}
    assert con.execute("SELECT purpose, looks FROM paired_sessions").fetchone() == ("compare", 1)
    # the gate: B regresses on energy by far more than 5 % -> exit 1 (12 rounds: with fewer, rounds dropped
    # on a busy machine can leave it unresolved, and an unresolved regression does not fail a gate);
    # the other way round passes
    rc, out, _ = run(
        capsys, "compare", "tiny-bert-l1:16:fp32", "tiny-bert-l1:1:fp32", "--rounds", "12",
        "--fail", "energy:5%", "--store", str(store), *FAST,
    )  # fmt: skip
    assert rc == 1 and "gate energy:5%: FAILED" in out and "95 % interval" in out
    rc, out, _ = run(
        capsys, "compare", "tiny-bert-l1:1:fp32", "tiny-bert-l1:16:fp32", "--rounds", "4",
        "--fail", "energy:5%", "--fail", "latency:10%", "--store", str(store), *FAST,
    )  # fmt: skip
    assert rc == 0 and "gate energy:5%: passed" in out and "gate latency:10%: passed" in out


def test_aa_is_not_stored_and_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = tmp_path / "aa.sqlite"
    rc, out, err = run(
        capsys, "compare", "tiny-bert-l1:4:fp32", "tiny-bert-l1:4:fp32", "--rounds", "4", "--store", str(store), *FAST
    )  # fmt: skip
    assert rc == 0, err
    assert (
        "A/A check" in out
        and "B = tiny-bert-l1 · batch 4 · fp32  against  A = tiny-bert-l1 · batch 4 · fp32" in out
    )
    con = sqlite3.connect(store)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert "visits" not in tables or con.execute("SELECT count(*) FROM visits").fetchone() == (0,)


def test_two_stored_points_are_compared_by_their_re_run_intervals(
    capsys: pytest.CaptureFixture[str], copy_store: Path
) -> None:
    con = sqlite3.connect(copy_store)
    a, b = (
        r[0]
        for r in con.execute(
            "SELECT key FROM points WHERE model='tiny-bert-l1' AND precision='fp32' ORDER BY batch_size"
        )
    )
    con.close()
    rc, out, err = run(capsys, "compare", a, b, "--store", str(copy_store), "--json")
    assert rc == 0, err
    got = json.loads(out)
    assert got["basis"] == "re-run intervals" and got["rounds"] == 0
    assert "not measured in the same interleaved rounds" in got["notes"][0]
    assert got["metrics"]["energy"]["basis"] == "re-run intervals"
    rc, out, _ = run(capsys, "compare", a, b, "--store", str(copy_store))
    assert rc == 0 and "not paired: compared by their re-run intervals" in out


def test_points_from_other_hardware_are_not_comparable_unless_allowed(
    capsys: pytest.CaptureFixture[str], copy_store: Path
) -> None:
    con = sqlite3.connect(copy_store)
    a, b = (r[0] for r in con.execute("SELECT key FROM points WHERE status='ok' ORDER BY key LIMIT 2"))
    con.execute("UPDATE points SET hardware='Other CPU x8' WHERE key=?", (b,))
    con.commit()
    con.close()
    rc, _, err = run(capsys, "compare", a, b, "--store", str(copy_store))
    assert rc == 2 and "not comparable: the two points differ in hardware" in err and "--allow-cross" in err
    rc, out, _ = run(capsys, "compare", a, b, "--store", str(copy_store), "--allow-cross")
    assert (rc == 0 and "AMD" in out) or "Other CPU x8" in out


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["tiny-bert-l1:4:fp32"], "needs two arms A and B, got 1 arm(s)"),
        (["no-such-model:4:fp32", "tiny-bert-l1:4:fp32"], "no-such-model"),
        (["tiny-bert-l1:4:fp32", "tiny-bert-l1:4:fp99"], "unknown precision 'fp99'"),
        (["tiny-bert-l1:0:fp32", "tiny-bert-l1:4:fp32"], "batch size must be a positive integer"),
        (["tiny-bert-l1", "tiny-bert-l1:4:fp32"], "is not MODEL:BATCH:PRECISION"),
        (
            ["tiny-bert-l1:4:fp32", "tiny-bert-l1:8:fp32", "--fail", "energy:abc"],
            "the threshold 'abc' is not a number",
        ),
        (["tiny-bert-l1:4:fp32", "tiny-bert-l1:8:fp32", "--fail", "speed:5%"], "unknown metric 'speed'"),
        (
            ["tiny-bert-l1:4:fp32", "tiny-bert-l1:8:fp32", "--rounds", "0"],
            "--rounds must be a whole number >= 2",
        ),
        (["tiny-bert-l1:4:fp32", "tiny-bert-l1:8:fp32", "--seconds", "-1"], "--seconds must be a number > 0"),
        (["tiny-bert-l1:4:fp32", "tiny-bert-l1:8:fp32", "--visit", "0"], "--visit must be a number > 0"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_stored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], expect: str
) -> None:
    store = tmp_path / "none.sqlite"
    rc, _, err = run(capsys, "compare", *FAST, "--store", str(store), *args)
    lines = [x for x in err.splitlines() if x.strip()]
    assert rc == 2 and len(lines) == 1 and expect in lines[0], err
    assert not store.exists()


def test_stored_arms_from_different_tasks_are_refused(
    capsys: pytest.CaptureFixture[str], copy_store: Path, tmp_path: Path
) -> None:
    con = sqlite3.connect(copy_store)
    a, b = (r[0] for r in con.execute("SELECT key FROM points WHERE status='ok' ORDER BY key LIMIT 2"))
    con.execute("UPDATE points SET task='other-task' WHERE key=?", (b,))
    con.commit()
    con.close()
    before = digest(copy_store)
    rc, _, err = run(capsys, "compare", a, b, "--store", str(copy_store), "--allow-cross")
    assert rc == 2 and "differ in task" in err
    assert digest(copy_store) == before
    rc, _, err = run(capsys, "compare", a, "f" * 32, "--store", str(copy_store))
    assert rc == 2 and "no point 'ffff" in err
    shutil.copy2(copy_store, tmp_path / "x.sqlite")


def test_every_command_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    from efflab.cli import _COMMANDS

    for cmd in _COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: efflab " + cmd)
