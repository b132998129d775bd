"""Faults (issue 15): every hostile or careless case against a copy of a real store, then SIGKILLs.

1. Each case runs the real ``efflab`` command on its own copy of a real store (built here with the
   fake sensor and the tiny random-init model, so it takes seconds) and prints: exit code, the
   non-empty lines the command printed to stderr, and the store's sha256 before and after.
   Target: exit 2 and one line for every bad input, the store byte-identical.
2. The SIGKILL trial: a running sweep killed with SIGKILL at N random moments within the time a
   whole sweep takes, each sweep started on a store with points left (re-run after each kill; a
   complete store is followed by a new one). After every
   kill: ``PRAGMA integrity_check``, no stored point lost, no stored point re-measured (its record and
   timestamp unchanged); at the end one more run completes every store.
3. The SIGTERM trial (issue 25), the same with SIGTERM (what `docker stop`, systemd and CI runners send):
   every terminated sweep exits 143, loses nothing beyond the point in progress and leaves no claim
   row behind in the store's ``sweeps`` table.

    .venv/bin/python bench/faults.py [--kills 20] [--terms 20] [--seed 15]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

ENV = {**os.environ, "EFFLAB_DEBUG": "", "PYTHONUNBUFFERED": "1"}
FAST = {"min_window_s": 0.05, "max_window_s": 0.3, "warmup_s": 0.0, "warmup_batches": 1, "min_batches": 3}


def efflab(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "efflab.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=600,
    )


def sha(p: Path) -> str:
    """The store's sha256 with its -wal when there is one (a write can sit in the log alone)."""
    h = hashlib.sha256(p.read_bytes())
    wal = p.with_name(p.name + "-wal")
    if wal.exists():
        h.update(wal.read_bytes())
    return h.hexdigest()[:12]


def sql(p: Path, statement: str, *params: object) -> None:
    con = sqlite3.connect(p)
    con.execute(statement, params)
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def checkpoint(p: Path) -> None:
    sql(p, "SELECT 1")


def zero_page(p: Path, page: int = 6) -> None:
    raw = bytearray(p.read_bytes())
    raw[(page - 1) * 4096 : page * 4096] = bytes(4096)
    p.write_bytes(bytes(raw))


def build_store(folder: Path) -> tuple[Path, Path]:
    """A real store from a real tiny sweep (8 points, fake sensor) and its task."""
    from conftest import fast_method, write_tiny_task

    from efflab.store import open_store
    from efflab.sweep import SweepSpec, sweep

    task = write_tiny_task(folder / "tiny_task.csv")
    store = folder / "base.sqlite"
    spec = SweepSpec(
        models=("tiny-bert-l1", "tiny-bert-l2"),
        batch_sizes=(1, 4),
        precisions=("fp32", "int8"),
        task=str(task),
        seq_len=32,
        sensor="fake",
        method=fast_method(),
    )
    with open_store(store) as st:
        sweep(spec, st)
    checkpoint(store)
    return store, task


def spec_file(folder: Path, name: str, data: object) -> Path:
    p = folder / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def run_cases(base: Path, work: Path) -> list[tuple[str, int, int, str, str, str]]:
    rows: list[tuple[str, int, int, str, str, str]] = []

    def case(name: str, prepare: Callable[[Path], None] | None, *args: str, cwd: Path | None = None) -> None:
        d = work / f"case{len(rows):02d}"
        d.mkdir()
        store = d / "store.sqlite"
        shutil.copy2(base, store)
        if prepare is not None:
            prepare(store)
        before = sha(store)
        argv = [a.replace("{store}", str(store)).replace("{dir}", str(d)) for a in args]
        r = efflab(*argv, cwd=cwd or d)
        printed = [ln for ln in r.stderr.splitlines() if ln.strip()]
        after = sha(store) if store.exists() else "gone"
        said = printed[-1].removeprefix("efflab: error: ").replace(f"{d}/", "") if printed else ""
        rows.append((name, r.returncode, len(printed), before, after, said))
        subprocess.run(["chattr", "-i", str(d)], capture_output=True)

    def read_only(p: Path) -> None:
        for extra in (p.with_name(p.name + s) for s in ("-wal", "-shm")):
            extra.unlink(missing_ok=True)
        subprocess.run(["chattr", "+i", str(p.parent)], check=True)

    def wal_read_only(p: Path) -> None:
        # a sweep killed before its checkpoint: a committed row only in the -wal, no -shm
        code = (
            "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('PRAGMA wal_autocheckpoint=0'); c.execute(\"INSERT INTO efflab_meta VALUES ('n', 'x')\"); "
            "os._exit(0)"
        )
        subprocess.run([sys.executable, "-c", code, str(p)], check=True)
        p.with_name(p.name + "-shm").unlink(missing_ok=True)
        subprocess.run(["chattr", "+i", str(p.parent)], check=True)

    def claim(p: Path) -> None:
        # a live sweep: this bench process holds the claim (as a sweep records it: pid, host, its start)
        from efflab.store import open_store

        st = open_store(p)
        st.claim_sweep()
        st._sweep_claim = None  # keep the row when this handle closes: the claim stays live
        st.close()
        checkpoint(p)

    one = ["--models", "tiny-bert-l1", "--batch-sizes", "3", "--precisions", "fp32", "--sensor", "fake"]
    case("export --out the store itself", None, "results", "export", "--store", "{store}", "--out", "{store}")
    case("export --format parquet --out the store", None, "results", "export", "--store", "{store}",
         "--format", "parquet", "--out", "{store}")  # fmt: skip
    case("export over an existing results.csv", lambda p: (p.parent / "results.csv").write_text("notes"),
         "results", "export", "--store", "{store}")  # fmt: skip
    case("export --out a folder", None, "results", "export", "--store", "{store}", "--out", "{dir}")
    case(
        "export --out a missing folder",
        None,
        "results",
        "export",
        "--store",
        "{store}",
        "--out",
        "{dir}/no/r.csv",
    )
    xxx = {"models": ["tiny-bert-l1"], "method": {"country": "XXX"}}
    case("sweep --force, method.country XXX", lambda p: spec_file(p.parent, "s.yaml", xxx),
         "sweep", "{dir}/s.yaml", "--store", "{store}", "--force")  # fmt: skip
    for cmd in (["results", "list"], ["recommend"], ["results", "export", "--out", "{dir}/x.csv"],
                ["report", "--out", "{dir}/rep"], ["sweep", *one]):  # fmt: skip
        case(
            f"zeroed page 6: {cmd[0]} {cmd[1] if len(cmd) > 1 and not cmd[1].startswith('-') else ''}".strip(),
            zero_page,
            *cmd,
            "--store",
            "{store}",
        )  # fmt: skip (page 6, as in the issue)
    case("read-only folder: results list (must work)", read_only, "results", "list", "--store", "{store}")
    case("read-only folder: sweep", read_only, "sweep", *one, "--store", "{store}")
    case("read-only folder, points still in the -wal: results list", wal_read_only, "results", "list",
         "--store", "{store}")  # fmt: skip
    bad_version = "UPDATE efflab_meta SET value='abc' WHERE key='schema_version'"
    from conftest import free_port

    dash = ["dashboard", "--no-browser", "--port", str(free_port())]  # a free port: the store decides
    for cmd in (["results", "list"], ["recommend"], dash):
        case(f"schema_version 'abc': {cmd[0]}", lambda p: sql(p, bad_version), *cmd, "--store", "{store}")
    first = "UPDATE points SET record=? WHERE rowid=(SELECT min(rowid) FROM points)"
    for cmd in (["results", "list"], ["recommend"], ["results", "export", "--out", "{dir}/x.csv"]):
        case(f"record not JSON: {cmd[0]} {cmd[1] if len(cmd) > 1 else ''}".strip(),
             lambda p: sql(p, first, "{oops"), *cmd, "--store", "{store}")  # fmt: skip
    case("record not JSON: dashboard", lambda p: sql(p, first, "{oops"), *dash, "--store", "{store}")
    case(
        "ok row, NULL record: results list",
        lambda p: sql(p, first, None),
        "results",
        "list",
        "--store",
        "{store}",
    )
    specs = {
        "binary spec": b"\x89PNG\r\n\x1a\n\x00\xff",
        "method: 5": "models: [tiny-bert-l1]\nmethod: 5\n",
        "method.max_window_s: ten": "models: [tiny-bert-l1]\nmethod: {max_window_s: ten}\n",
        "empty spec": "",
        "comment-only spec": "# nothing\n",
        "10,000-point spec, no --yes": {"models": ["tiny-bert-l1"], "batch_sizes": list(range(1, 5001)),
                                        "precisions": ["fp32", "int8"], "task": None, "sensor": "fake"},
    }  # fmt: skip
    for name, data in specs.items():
        case(
            name,
            lambda p, data=data: spec_file(p.parent, "s.yaml", data),
            "sweep",
            "{dir}/s.yaml",
            "--store",
            "{store}",
        )  # type: ignore[misc]
    case("binary --params", lambda p: spec_file(p.parent, "p.yaml", b"\x00\xff\xfe"),
         "report", "--params", "{dir}/p.yaml", "--store", "{store}", "--out", "{dir}/rep")  # fmt: skip
    case("report -p measure_missing true (no models)", None, "report", "--store", "{store}", "--out", "{dir}/rep",
         "-p", "measure_missing", "true")  # fmt: skip
    case("report --params batch, a set with measure_missing", lambda p: spec_file(p.parent, "b.yaml",
         "- {name: a, measure_missing: true}\n"), "report", "--store", "{store}", "--out", "{dir}/rep",
         "--params", "{dir}/b.yaml")  # fmt: skip
    case("report --out an existing file", lambda p: (p.parent / "notes.txt").write_text("mine"), "report",
         "--store", "{store}", "--out", "{dir}/notes.txt")  # fmt: skip
    case("export --out a FIFO --force", lambda p: os.mkfifo(p.parent / "pipe"), "results", "export",
         "--store", "{store}", "--out", "{dir}/pipe", "--force")  # fmt: skip
    case("report --cell-timeout 0", None, "report", "--store", "{store}", "--cell-timeout", "0")
    case("measure -b 100000000", None, "measure", "--model", "tiny-bert-l1", "-b", "100000000", "--no-task")
    case(
        "measure --seq-len 100000",
        None,
        "measure",
        "--model",
        "tiny-bert-l1",
        "--seq-len",
        "100000",
        "--no-task",
    )
    case("measure, 5,000-character model", None, "measure", "--model", "x" * 5000, "--no-task")
    case("measure --max-window inf", None, "measure", "--max-window", "inf")
    case(
        "sweep --scheduler tcp://127.0.0.1",
        None,
        "sweep",
        *one,
        "--scheduler",
        "tcp://127.0.0.1",
        "--store",
        "{store}",
    )
    case("sweep --scheduler tcp://127.0.0.1:99999", None, "sweep", *one, "--scheduler", "tcp://127.0.0.1:99999",
         "--store", "{store}")  # fmt: skip
    case("sweep --local-cluster 0", None, "sweep", *one, "--local-cluster", "0", "--store", "{store}")
    for flag, value in (("--queries-per-day", "-5"), ("--country", "XXX"), ("--price-per-kwh", "-1")):
        case(f"recommend {flag} {value}", None, "recommend", flag, value, "--store", "{store}")
    case("second sweep while one is running", claim, "sweep", *one, "--store", "{store}")
    # Found in the audit (and fields added since the issue: runs, threads, run spread, generate).
    case("export --out the store's -wal", None, "results", "export", "--store", "{store}",
         "--out", "{store}-wal", "--force")  # fmt: skip
    case("zeroed overflow page (quick_check ok): sweep", zero_overflow, "sweep", *one, "--store", "{store}")
    case(
        "zeroed runs page: sweep",
        lambda p: zero_page(p, _rootpage(p, "runs")),
        "sweep",
        *one,
        "--store",
        "{store}",
    )
    case("runs row latency 'abc': sweep", lambda p: sql(p, "UPDATE runs SET latency_s='abc', flags='' WHERE rowid=1"),
         "sweep", *one, "--store", "{store}")  # fmt: skip
    for name, text in (("method.threads: 0", "{threads: 0}"), ("method.run_spread: -1", "{run_spread: -1}")):
        case(f"spec {name}", lambda p, text=text: spec_file(p.parent, "s.yaml", f"models: [tiny-bert-l1]\nmethod: {text}\n"),
             "sweep", "{dir}/s.yaml", "--store", "{store}")  # fmt: skip
    case("measure generate -b 100000000 (KV cache)", None, "measure", "--model", "tiny-llama", "--workload", "generate",
         "--max-new-tokens", "64", "-b", "100000000", "--no-task")  # fmt: skip
    case("sweep --scheduler where nothing listens", None, "sweep", *one, "--scheduler",
         f"tcp://127.0.0.1:{free_port()}", "--store", "{store}")  # fmt: skip
    case("measure, uncached hub id (offline)", None, "measure", "--model", "someone/not-cached", "--no-task")
    case("renamed task labels (tfidf-logreg)", None, "measure", "--model", "tfidf-logreg", "--task",
         str(renamed_task(work)), "-b", "8", "--sensor", "fake")  # fmt: skip
    return rows


def _rootpage(p: Path, table: str) -> int:
    con = sqlite3.connect(p)
    try:
        return int(con.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (table,)).fetchone()[0])
    finally:
        con.close()


def zero_overflow(p: Path) -> None:
    """Zero the last page of a record's overflow chain: SQLite's checks still pass."""
    con = sqlite3.connect(p)
    pages = [
        r[0] for r in con.execute("SELECT pageno FROM dbstat WHERE name='points' AND pagetype='overflow'")
    ]
    con.close()
    original = p.read_bytes()
    for page in pages:
        zero_page(p, page)
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
        if ok:
            return
        p.write_bytes(original)
    raise SystemExit("no overflow page whose loss SQLite misses")


def renamed_task(work: Path) -> Path:
    """The reviews task with its labels renamed (same rows): must be refused, not paired reversed."""
    import pandas as pd

    from efflab.paths import package_data

    df = pd.read_csv(package_data("reviews.csv"), keep_default_na=False)
    df["label"] = df["label"].map({"great": "5star", "other": "lower"})
    out = work / "renamed.csv"
    df.to_csv(out, index=False)
    return out


def _points(store: Path) -> dict[str, tuple[str, str]]:
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return {
            r[0]: (r[1], r[2] or "")
            for r in con.execute("SELECT key, created_at, record FROM points WHERE status='ok'")
        }
    finally:
        con.close()


def _integrity_ok(store: Path) -> bool:
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return bool(con.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
    except sqlite3.DatabaseError:
        return False
    finally:
        con.close()


def kill_trial(
    work: Path, task: Path, kills: int, seed: int, sig: signal.Signals = signal.SIGKILL
) -> dict[str, Any]:
    """SIGKILL a real, running sweep at ``kills`` random moments, each sweep started on a store with
    points left: when a store is complete the next sweep starts on a new store. After each
    kill: integrity check, no stored point lost, none re-measured (record and timestamp unchanged);
    at the end one more run completes each store without re-measuring anything."""
    rng = random.Random(seed)
    spec = spec_file(
        work,
        "kill.yaml",
        {
            "models": ["tiny-bert-l1", "tiny-bert-l2"],
            "batch_sizes": [1, 2],
            "precisions": ["fp32", "int8"],
            "task": str(task),
            "seq_len": 32,
            "sensor": "fake",
            # max_windows = windows and no paired pass: a stored record only changes if re-measured
            "method": {**FAST, "windows": 2, "max_windows": 2, "threads_source": "bench"},
        },
    )
    n_points = 8
    # How long one whole sweep takes here (start-up included): kill moments fall inside it.
    t0 = time.monotonic()
    full = [
        sys.executable,
        "-m",
        "efflab.cli",
        "sweep",
        str(spec),
        "--no-paired",
        "--store",
        str(work / f"timing-{sig.name}.sqlite"),
    ]
    subprocess.run(full, capture_output=True, check=True, env=ENV)
    whole_s = time.monotonic() - t0
    out: dict[str, Any] = {
        "kills": 0,
        "finished_before_kill": 0,
        "lost": 0,
        "remeasured": 0,
        "bad": 0,
        "stores": 1,
        "stale_rows": 0,
        "exit_codes": {},
    }
    out["whole_sweep_s"] = round(whole_s)
    stored_at_kill: list[int] = []
    seen: dict[Path, dict[str, tuple[str, str]]] = {}
    name = sig.name.lower()
    store = work / f"{name}-1.sqlite"
    while out["kills"] < kills:
        if store.exists() and len(_points(store)) >= n_points:
            out["stores"] += 1
            store = work / f"{name}-{out['stores']}.sqlite"
        cmd = [sys.executable, "-m", "efflab.cli", "sweep", str(spec), "--no-paired", "--store", str(store)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        time.sleep(rng.uniform(1.0, whole_s))
        killed = proc.poll() is None
        if killed:
            proc.send_signal(sig)
            out["kills"] += 1
        else:  # it finished first: not a kill; the next one starts a new store
            out["finished_before_kill"] += 1
        rc = proc.wait()
        if killed:
            out["exit_codes"][rc] = out["exit_codes"].get(rc, 0) + 1
        if store.exists() and sig != signal.SIGKILL:
            con = sqlite3.connect(store)
            try:
                out["stale_rows"] += int(con.execute("SELECT count(*) FROM sweeps").fetchone()[0])
            except sqlite3.Error:
                pass  # no sweeps table: nothing claimed yet
            finally:
                con.close()
        if not store.exists():
            stored_at_kill.append(0)
            continue
        out["bad"] += not _integrity_ok(store)
        before = seen.setdefault(store, {})
        now = _points(store)
        out["lost"] += len(set(before) - set(now))
        out["remeasured"] += sum(1 for k, v in before.items() if k in now and now[k] != v)
        before.update(now)
        if killed:
            stored_at_kill.append(len(now))
    for st, before in seen.items():
        r = subprocess.run(
            [sys.executable, "-m", "efflab.cli", "sweep", str(spec), "--no-paired", "--store", str(st)],
            capture_output=True,
            text=True,
            env=ENV,
        )
        assert r.returncode == 0, r.stderr[-1000:]
        final = _points(st)
        out["remeasured"] += sum(1 for k, v in before.items() if k in final and final[k] != v)
        out["lost"] += len(set(before) - set(final))
        out["bad"] += not _integrity_ok(st)
        out.setdefault("complete", 0)
        out["complete"] += len(final) == n_points
    out["median_stored_at_kill"] = sorted(stored_at_kill)[len(stored_at_kill) // 2] if stored_at_kill else 0
    out["stored_at_kill"] = stored_at_kill
    return out


def quick_check_cost(work: Path) -> tuple[int, float, float]:
    """Opening a 1,000-point store read-only, with and without quick_check (ms, median of 5)."""
    import statistics

    from efflab.store import open_store
    from efflab.store import sqlite as store_sqlite

    src = work / "1000.sqlite"
    base = next(iter(open_store(work / "base.sqlite", readonly=True).points()))
    assert base.measurement is not None
    cfg = {
        "model": base.model,
        "batch_size": 1,
        "precision": "fp32",
        "device": "cpu",
        "seq_len": 32,
        "task": None,
    }
    with open_store(src) as st:
        for i in range(1000):
            st.put(f"k{i}", config=cfg, model_id="m", hardware="hw", measurement=base.measurement)
    checkpoint(src)
    size = src.stat().st_size

    def open_ms() -> float:
        t0 = time.perf_counter()
        open_store(src, readonly=True).close()
        return (time.perf_counter() - t0) * 1000

    with_check = statistics.median(open_ms() for _ in range(5))
    con = sqlite3.connect(src)
    t0 = time.perf_counter()
    con.execute("PRAGMA quick_check").fetchall()
    check_only = (time.perf_counter() - t0) * 1000
    con.close()
    del store_sqlite
    return size, with_check, check_only


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--terms", type=int, default=20, help="SIGTERMs of a running sweep (issue 25)")
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="efflab-faults-") as tmp:
        work = Path(tmp)
        base, task = build_store(work)
        rows = run_cases(base, work)
        print("| case | exit | lines | store sha256 before → after | what it said (first 90 characters) |")
        print("|---|---|---|---|---|")
        for name, code, lines, before, after, said in rows:
            same = "unchanged" if before == after else f"CHANGED → {after}"
            print(f"| {name} | {code} | {lines} | {before} {same} | {said[:90].replace('|', '/')} |")
        one_line = sum(1 for r in rows if r[2] == 1 and r[1] == 2)
        changed = sum(1 for r in rows if r[3] != r[4])
        print(f"\n{len(rows)} cases: {one_line} refused with exit 2 and one line, {changed} stores changed")
        size, with_check, check_only = quick_check_cost(work)
        print(
            f"open of a 1,000-point store ({size / 2**20:.1f} MiB) read-only, quick_check included: "
            f"{with_check:.1f} ms (quick_check alone {check_only:.1f} ms)"
        )
        k = kill_trial(work, task, args.kills, args.seed)
        print(
            f"SIGKILL trial: {k['kills']} kills of a running sweep that started with points left "
            f"({k['finished_before_kill']} runs finished before their kill moment and were not counted), "
            f"over {k['stores']} stores of 8 points (a whole sweep: {k['whole_sweep_s']} s; kills at uniform "
            f"1 s–that); {k['lost']} points lost, {k['remeasured']} re-measured, "
            f"{k['bad']} integrity failures; after one more run {k.get('complete', 0)}/{k['stores']} stores "
            f"complete (points already stored at each kill: {k['stored_at_kill']}, median {k['median_stored_at_kill']})"
        )
        t = kill_trial(work, task, args.terms, args.seed + 1, signal.SIGTERM)
        print(
            f"SIGTERM trial: {t['kills']} SIGTERMs of a running sweep ({t['finished_before_kill']} runs finished "
            f"first), over {t['stores']} stores; exit codes {t['exit_codes']} (target: 143); {t['lost']} points "
            f"lost, {t['remeasured']} re-measured, {t['bad']} integrity failures, {t['stale_rows']} claim rows left "
            f"behind (target 0); after one more run {t.get('complete', 0)}/{t['stores']} stores complete"
        )


if __name__ == "__main__":
    main()
