"""Do paired comparisons resolve? A/A, a known small difference, and the demo's recommendation (issue 20).

Parts (``--part``, default all):

* ``aa``: the same configuration as both arms of a paired comparison (``efflab compare A A``), ``--trials``
  times with a 60 s budget each: target "no clear difference" (or "equivalent") in >= 19 of 20, idle and
  with one busy competing process (``--busy``).
* ``diff``: a real 5–10 % difference — one model at seq_len 128 against 120 (6 % fewer tokens per query,
  the same weights) — its ratio established by a long fixed run (``--long-rounds`` interleaved rounds),
  then ``--trials`` sequential comparisons of at most 60 s of rounds each: target resolved in >= 90 % of
  trials, and the trial's interval covering the long run's ratio in >= 90 %.
* ``demo``: the default demo sweep (``make demo``'s grid) ``--demo-runs`` times into fresh stores: target
  the same recommendation each time, or a declared tie set of at most three that contains the others'
  picks; no more than 10 % of points left out on an idle machine; its wall time. Slow (minutes a run).

    python bench/resolution.py --part aa --trials 20 [--busy]
    python bench/resolution.py --part diff --trials 20
    python bench/resolution.py --part demo --demo-runs 3 [--busy]

Prints one line per trial and the summary ratios; nothing is asserted (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def busy(on: bool) -> Iterator[None]:
    """One competing busy process (a pure-Python spin loop) for the duration, when ``on``."""
    if not on:
        yield
        return
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(1.0)
    try:
        yield
    finally:
        p.kill()
        p.wait()


def _pair(a: object, b: object, plan: object, method: object, sensor: object) -> object:
    from efflab.measuring.fingerprint import hardware_key
    from efflab.sweep.compare import measure_pair

    hw = hardware_key("cpu", method.threads)  # type: ignore[attr-defined]
    result, _ = measure_pair(
        a,  # type: ignore[arg-type]
        b,  # type: ignore[arg-type]
        keys=("a", "b"),
        task=None,
        sensor=sensor,  # type: ignore[arg-type]
        method=method,  # type: ignore[arg-type]
        plan=plan,  # type: ignore[arg-type]
        hardware=hw,
    )
    return result


def part_aa(args: argparse.Namespace) -> None:
    from efflab.config import Config, MethodSettings
    from efflab.measuring.rounds import RoundsPlan
    from efflab.measuring.threads import resolve_threads
    from efflab.sensors import make_sensor

    cfg = Config(model=args.model, batch_size=8, precision="fp32")
    with busy(args.busy):
        method = resolve_threads(MethodSettings())
        sensor = make_sensor("codecarbon", device="cpu")
        print(
            f"== A/A: {cfg.model} b{cfg.batch_size} {cfg.precision}, {'one busy process' if args.busy else 'idle'}; threads: {method.threads or 'default'} ({method.threads_source})"
        )
        ok = 0
        rounds = []
        for i in range(args.trials):
            r = _pair(cfg, cfg, RoundsPlan(budget_s=60.0), method, sensor)
            e = r.comparisons["energy"]  # type: ignore[attr-defined]
            est, lo, hi = e.percent
            good = not e.verdict.differs
            ok += good
            rounds.append(r.rounds)  # type: ignore[attr-defined]
            print(
                f"  trial {i + 1:2d}: {e.verdict!s:20s} {est:+5.1f} % [{lo:+5.1f}, {hi:+5.1f}]  {r.rounds} rounds ({r.dropped} dropped), {r.wall_s:.0f} s"
            )  # type: ignore[attr-defined]
        sensor.close()
    print(
        f"A/A: no clear difference or equivalent in {ok}/{args.trials} trials (target >= 19/20); median rounds {statistics.median(rounds)}"
    )


def part_diff(args: argparse.Namespace) -> None:
    from efflab.config import Config, MethodSettings
    from efflab.measuring.rounds import RoundsPlan
    from efflab.measuring.threads import resolve_threads
    from efflab.sensors import make_sensor

    a = Config(model=args.model, batch_size=8, precision="fp32", seq_len=128)
    b = dataclasses.replace(a, seq_len=120)
    with busy(args.busy):
        method = resolve_threads(MethodSettings())
        sensor = make_sensor("codecarbon", device="cpu")
        print(
            f"== known difference: {a.model} b8 fp32, seq_len 120 against 128; threads: {method.threads or 'default'} ({method.threads_source})"
        )
        t0 = time.monotonic()
        long = _pair(a, b, RoundsPlan(rounds=args.long_rounds, budget_s=None), method, sensor)
        le = long.comparisons["energy"]  # type: ignore[attr-defined]
        truth = le.ratio
        print(
            f"  long run: {le.ratio:.4f} [{le.low:.4f}, {le.high:.4f}] in {long.rounds} rounds, {time.monotonic() - t0:.0f} s"
        )  # type: ignore[attr-defined]
        resolved = covered = 0
        secs = []
        for i in range(args.trials):
            r = _pair(a, b, RoundsPlan(budget_s=60.0), method, sensor)
            e = r.comparisons["energy"]  # type: ignore[attr-defined]
            resolved += e.verdict.differs
            covered += e.low <= truth <= e.high
            secs.append(r.wall_s)  # type: ignore[attr-defined]
            print(
                f"  trial {i + 1:2d}: {e.verdict!s:20s} {e.ratio:.4f} [{e.low:.4f}, {e.high:.4f}]  {r.rounds} rounds, {r.wall_s:.0f} s"
            )  # type: ignore[attr-defined]
        sensor.close()
    n = args.trials
    print(
        f"known difference ({(1 - truth) * 100:.1f} % less energy): resolved in {resolved}/{n} (target >= 90 %), "
        f"interval covers the long run's ratio in {covered}/{n} (target >= 90 %); median {statistics.median(secs):.0f} s of rounds"
    )


def part_demo(args: argparse.Namespace) -> None:
    from efflab.analysis import assess
    from efflab.analysis.paired import load_pairings
    from efflab.store import load_results, open_store
    from efflab.sweep import SweepSpec, sweep

    picks = []
    for i in range(args.demo_runs):
        with busy(args.busy), tempfile.TemporaryDirectory() as d:
            path = Path(d) / "demo.sqlite"
            t0 = time.monotonic()
            with open_store(path) as st:
                res = sweep(SweepSpec(), st)
            wall = time.monotonic() - t0
            df = load_results(path)
            a = assess(df, None, load_pairings(path))
            rec = a.recommendation
            n = len(a.frame)
            out = len(a.excluded) - int((a.frame["status"] != "ok").sum())
            tied = rec.tied if rec is not None else ()
            picks.append((rec.label if rec else None, set(tied)))
            paired = [r for r in res if r.status == "paired"]
            print(f"  run {i + 1}: {wall / 60:.1f} min, {n} points, {out} measured points left out ({out / max(1, n) * 100:.0f} %), "
                  f"{len(paired)} paired pass(es); recommends {rec.label if rec else None}; tie set {sorted(tied)}")  # fmt: skip
    labels = [p for p, _ in picks]
    same = len(set(labels)) == 1
    union = set().union(*(t for _, t in picks))
    declared = all(len(t) <= 3 for _, t in picks) and all(all(p in t for p, _ in picks) for _, t in picks)
    print(f"demo ({'one busy process' if args.busy else 'idle'}): same recommendation in all runs: {same}; "
          f"tie sets of <= 3 containing every run's pick: {declared} (union {sorted(union)})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("aa", "diff", "demo", "all"), default="all")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--long-rounds", type=int, default=150)
    ap.add_argument("--demo-runs", type=int, default=3)
    ap.add_argument("--model", default="minilm-l2")
    ap.add_argument("--busy", action="store_true", help="with one busy competing process")
    args = ap.parse_args()
    if args.part in ("aa", "all"):
        part_aa(args)
    if args.part in ("diff", "all"):
        part_diff(args)
    if args.part in ("demo", "all"):
        part_demo(args)


if __name__ == "__main__":
    main()
