"""Nothing lost under signals and limits (issue 25): a real SIGTERM to a real sweep, a stale claim whose
pid an unrelated live process holds, a read-only mount, caps with estimates, one writer (the lab too)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

from efflab.cli import main
from efflab.store import open_store
from efflab.store.sqlite import StoreBusyError, process_started

ENV = {**os.environ, "EFFLAB_ONLINE": "0", "PYTHONUNBUFFERED": "1"}
FAKE = ["--sensor", "fake", "--threads", "default", "--no-paired", "--yes"]


def spec_file(tmp_path: Path) -> Path:
    """Three points in two groups measured one after the other: tiny-bert-l1 at batch 1, then
    tiny-bert-l2 at batches 1 and 2. One window of 1 s per point: the window logic is not what is
    tested, and a window's length is wall time, so the second group outlasts the test's poll however
    busy the machine is."""
    p = tmp_path / "spec.yaml"
    p.write_text(
        "models: [tiny-bert-l1, tiny-bert-l2]\nbatch_sizes: [1, 2]\n"
        "per_model: {tiny-bert-l1: {batch_sizes: [1]}}\n"
        "precisions: [fp32]\ntask: null\nseq_len: 16\nsensor: fake\n"
        "method: {min_window_s: 1.0, max_window_s: 2, warmup_s: 0, warmup_batches: 1, windows: 1, "
        "max_windows: 1, remeasure_windows: 0, threads_source: 'tests'}\n"
    )
    return p


def stored(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        con = sqlite3.connect(path, timeout=5)
        try:
            return int(con.execute("SELECT count(*) FROM points").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def claims(path: Path) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT pid, host FROM sweeps").fetchall()
    except sqlite3.Error:
        return []
    finally:
        con.close()


@pytest.mark.slow
def test_sigterm_stores_what_is_whole_releases_the_claim_and_exits_143(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    spec = spec_file(tmp_path)
    total = 3
    args = ["sweep", str(spec), "--store", str(store), *FAKE]
    cmd = [sys.executable, "-m", "efflab.cli", *args]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV)
    deadline = time.monotonic() + 180
    # The first group's point is committed: the second group (a model to load, then two 1 s windows)
    # is still ahead, and SIGTERM keeps only the point whose window is running.
    while stored(store) < 1 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert p.poll() is None, "the sweep finished before it could be stopped"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=180)
    assert p.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    n = stored(store)
    assert 1 <= n < total
    assert claims(store) == []  # the row is released: the next run does not wait for a dead writer
    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    # The next run measures the rest, nothing twice (in this process: only the signalled run had to
    # be a real one).
    r = run_cli(*args, env=ENV)
    assert r.returncode == 0, r.stderr
    assert f"{n} already in the store" in r.stderr and stored(store) == total


def test_a_stale_claim_cannot_be_fooled_by_pid_reuse(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    host = socket.gethostname()
    live_other = os.getppid()  # alive, and not a sweep: the pytest runner's parent
    assert process_started(live_other) is not None
    with open_store(path) as st:
        st.claim_sweep()
        st.release_sweep()
    con = sqlite3.connect(path)
    old = "2026-01-01T00:00:00+00:00"
    # A row whose pid is alive but started at another time: the pid was reused, the claim is dead.
    con.execute("INSERT INTO sweeps VALUES (?,?,?,?,?,?)", (live_other, host, old, old, 12345.0, "a sweep"))
    con.commit()
    with open_store(path) as st:
        st.claim_sweep()  # taken over
        st.release_sweep()
    # A row from before start times were recorded: judged by its heartbeat (a month old: stale).
    con.execute("INSERT INTO sweeps VALUES (?,?,?,?,?,?)", (live_other, host, old, old, None, None))
    con.commit()
    with open_store(path) as st:
        st.claim_sweep()
        st.release_sweep()
    # A live writer that really started then holds the store, and is named.
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    con.execute(
        "INSERT INTO sweeps VALUES (?,?,?,?,?,?)",
        (live_other, host, now, now, process_started(live_other), "the lab's live Measure"),
    )
    con.commit()
    con.close()
    with open_store(path) as st, pytest.raises(StoreBusyError, match="the lab's live Measure \\(pid"):
        st.claim_sweep()


def test_a_cli_sweep_refuses_a_store_the_lab_measures_into(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one.sqlite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from efflab.store import open_store\n"
            'st = open_store(sys.argv[1]); st.claim_sweep(writer="the lab\'s live Measure")\n'
            "print('held', flush=True); time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        rc = main(
            [
                "sweep",
                "--models",
                "tiny-bert-l1",
                "--batch-sizes",
                "3",
                "--precisions",
                "fp32",
                "--store",
                str(path),
                *FAKE,
            ]
        )
        err = capsys.readouterr().err
        lines = [x for x in err.splitlines() if x.strip()]
        assert rc == 2 and len(lines) == 1 and "the lab's live Measure (pid" in lines[0], err
    finally:
        holder.kill()
        holder.wait()


def test_the_lab_live_measure_refuses_a_store_a_sweep_holds(tmp_path: Path) -> None:
    from widgets.live import QueueDispatch, start_live
    from widgets.state import LabState

    path = tmp_path / "lab.sqlite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from efflab.store import open_store\n"
            "st = open_store(sys.argv[1]); st.claim_sweep()\nprint('held', flush=True); time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        from conftest import steady_method

        s = LabState(path, family=["tiny-bert-l1"], task=None, sensor="fake", method=steady_method())
        job = start_live(s, dispatch=QueueDispatch())
        assert job.wait(120) == "failed"
        assert "another sweep (pid" in s.live.text and "is writing to" in s.live.text
        assert stored(path) == 0
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["measure", "--windows", "1000000000", "--no-task", "--sensor", "fake"], "years"),
        (["measure", "--windows", "1000000000", "--no-task", "--sensor", "fake"], "pass fewer --windows"),
        (
            ["sweep", "--local-cluster", "100000", "--sensor", "fake"],
            "more workers than this machine can run",
        ),
    ],
)
def test_caps_are_one_line_with_an_estimate_or_a_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], expect: str
) -> None:
    rc = main([*args, "--store", str(tmp_path / "x.sqlite")] if args[0] == "sweep" else args)
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert rc == 2 and len(lines) == 1 and expect in lines[0], err
    assert not (tmp_path / "x.sqlite").exists()


def test_a_forced_sweep_whose_every_point_failed_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # seq_len 4096 is longer than the tiny model's 512 positions: each point is refused before loading
    p = tmp_path / "fail.yaml"
    p.write_text(
        "models: [tiny-bert-l1]\nbatch_sizes: [1, 2]\nprecisions: [fp32]\ntask: null\nseq_len: 4096\n"
        "sensor: fake\nmethod: {threads_source: tests}\n"
    )
    rc = main(["sweep", str(p), "--store", str(tmp_path / "f.sqlite"), "--force", *FAKE])
    err = capsys.readouterr().err
    assert rc == 1 and "every point this run measured failed (2" in err


def test_a_store_on_a_read_only_mount_is_one_line_not_an_internal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    r = subprocess.run(["mount", "--bind", "-o", "ro", str(src), str(ro)], capture_output=True, text=True)
    if r.returncode != 0:
        r = subprocess.run(["mount", "--bind", str(src), str(ro)], capture_output=True, text=True)
        if r.returncode == 0:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot make a read-only bind mount here: {r.stderr.strip()}")
    try:
        rc = main(["sweep", "--models", "tiny-bert-l1", "--batch-sizes", "3", "--precisions", "fp32",
                   "--store", str(ro / "new.sqlite"), *FAKE])  # fmt: skip
        err = capsys.readouterr().err
        lines = [x for x in err.splitlines() if x.strip()]
        assert rc == 2 and len(lines) == 1 and "read-only" in lines[0] and "internal error" not in err, err
        assert not (src / "new.sqlite").exists()
    finally:
        subprocess.run(["umount", str(ro)], check=False)
