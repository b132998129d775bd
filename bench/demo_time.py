"""How long `make demo`'s work takes, phase by phase, and the sweep's duty cycle (issue 22).

Runs what `make demo` runs after set-up — the family build, the default sweep (with its paired pass),
`efflab recommend` and `efflab report` — each as a real command, into a fresh store, and prints each
phase's wall time, the sweep's own phases (timed windows against loads, accuracy, warm-ups, …), the
estimate the sweep printed before it started against what it took, and the totals.

    python bench/demo_time.py                 # with the family and accuracies as cached now
    python bench/demo_time.py --fresh-cache   # as on a fresh machine: a new EFFLAB_CACHE (rebuilds the family)
    python bench/demo_time.py --grid full     # the full grid (78 points that can run)

Targets: `make demo` <= 10 min on a fresh machine (set-up is not run here: add what `make setup` took),
the first report readable within 5 min of the sweep's start, the sweep's duty cycle >= 75 %, the
estimate within 2x of the real time.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _efflab(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "efflab.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT
    )
    wall = time.monotonic() - t0
    if p.returncode not in (0, 1):
        print(p.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"efflab {' '.join(args)} failed ({p.returncode})")
    return wall, p.stderr + p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--fresh-cache", action="store_true", help="a new, empty EFFLAB_CACHE (rebuilds the family)"
    )
    ap.add_argument("--grid", choices=("default", "full"), default="default")
    ap.add_argument("--keep", type=Path, help="copy the demo's store here when done (to read or re-run)")
    ap.add_argument(
        "--log", type=Path, help="write the sweep's own output here (its phases, the paired pass)"
    )
    a = ap.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as d:
        if a.fresh_cache:
            env["EFFLAB_CACHE"] = str(Path(d) / "cache")
        store = Path(d) / "demo.sqlite"
        phases: list[tuple[str, float]] = []
        t, _ = _efflab(["zoo", "build", "--grid", a.grid], env)
        phases.append(("family build", t))
        t_sweep0 = time.monotonic()
        t, log = _efflab(["sweep", "--grid", a.grid, "--store", str(store), "--yes"], env)
        phases.append(("sweep", t))
        if a.log:
            a.log.write_text(log)
        t, rec = _efflab(["recommend", "--store", str(store)], env)
        phases.append(("recommend", t))
        # `efflab recommend` says the cohort first, then "recommended: …"
        recommendation = next(
            (line.strip() for line in rec.splitlines() if line.strip().startswith("recommended:")), "(none)"
        )
        t, _ = _efflab(["report", "--store", str(store), "--out", str(Path(d) / "report"), "--yes"], env)
        phases.append(("report", t))
        first_report = time.monotonic() - t_sweep0
        if a.keep:
            import shutil

            shutil.copy2(store, a.keep)
    est = re.search(r"about (\d+(?:\.\d+)?) (s|min|h)–(\d+(?:\.\d+)?) (s|min|h)", log)
    duty = re.search(r"duty cycle .*", log)
    points = re.search(r"efflab: (\d+) measured, (\d+) failed", log)
    total = sum(s for _, s in phases)
    print(
        f"demo work ({a.grid} grid, {'fresh cache' if a.fresh_cache else 'cache as it is'}), set-up not included:"
    )
    for name, s in phases:
        print(f"  {name:14s} {s / 60:5.1f} min")
    print(
        f"  {'total':14s} {total / 60:5.1f} min; first report {first_report / 60:.1f} min after the sweep started"
    )
    if points:
        print(f"  points: {points.group(1)} measured, {points.group(2)} failed")
    if duty:
        print(f"  sweep {duty.group(0)}")
    if est:
        unit = {"s": 1, "min": 60, "h": 3600}
        lo, hi = float(est.group(1)) * unit[est.group(2)], float(est.group(3)) * unit[est.group(4)]
        sweep_s = dict(phases)["sweep"]
        mid = (lo * hi) ** 0.5
        print(
            f"  estimate {lo / 60:.1f}–{hi / 60:.1f} min against {sweep_s / 60:.1f} min: real/estimate "
            f"{sweep_s / mid:.2f} (target within 2x)"
        )
    print(f"  recommendation: {recommendation}")


if __name__ == "__main__":
    main()
