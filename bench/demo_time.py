"""How long `make demo`'s work takes, phase by phase, and the sweep's duty cycle (issue 22).

Runs what `make demo` runs after set-up — read from `make -n demo`: the first family build and sweep
(three models), the first report, the rest of the default grid's build and sweep (with its paired pass),
`efflab recommend` and the report again — each as a real command, into a fresh store, and prints each
phase's wall time, when the first report was written, the sweeps' own phases (timed windows against
loads, accuracy, warm-ups, …), the estimates the sweeps printed before they started against what they
took, and the totals.

    python bench/demo_time.py                 # with the family and accuracies as cached now
    python bench/demo_time.py --fresh-cache   # as on a fresh machine: a new EFFLAB_CACHE (rebuilds the family)
    python bench/demo_time.py --grid full     # one build and sweep of the full grid (78 points that can run)

Targets: `make demo` <= 10 min on a fresh machine (set-up is not run here: add what `make setup` took),
the first report readable within 5 min (set-up included), the sweeps' duty cycle >= 75 %, the estimate
within 2x of the real time.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNIT = {"s": 1, "min": 60, "h": 3600}


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


def demo_commands(store: Path, report: Path) -> list[list[str]]:
    """The efflab commands of `make demo`'s recipe, in order (its set-up and echo lines left out)."""
    out = subprocess.run(
        ["make", "-s", "-n", "demo", f"STORE={store}", f"REPORT_DIR={report}"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout  # fmt: skip
    cmds = []
    for line in out.splitlines():
        if re.match(r"\S*/efflab\s", line):
            cmds.append(shlex.split(line.split(" || ")[0])[1:])
    return cmds


def _name(args: list[str], seen: dict[str, int]) -> str:
    verb = {"zoo": "family build"}.get(args[0], args[0])
    seen[verb] = seen.get(verb, 0) + 1
    return f"{verb} {seen[verb]}" if verb != "recommend" else verb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--fresh-cache", action="store_true", help="a new, empty EFFLAB_CACHE (rebuilds the family)"
    )
    ap.add_argument("--grid", choices=("default", "full"), default="default")
    ap.add_argument("--keep", type=Path, help="copy the demo's store here when done (to read or re-run)")
    ap.add_argument(
        "--log", type=Path, help="write the sweeps' own output here (their phases, the paired pass)"
    )
    a = ap.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as d:
        if a.fresh_cache:
            env["EFFLAB_CACHE"] = str(Path(d) / "cache")
        store, report = Path(d) / "demo.sqlite", Path(d) / "report"
        if a.grid == "full":
            cmds = [
                ["zoo", "build", "--grid", "full"],
                ["sweep", "--grid", "full", "--store", str(store), "--yes"],
                ["recommend", "--store", str(store)],
                ["report", "--store", str(store), "--out", str(report)],
            ]
        else:
            cmds = demo_commands(store, report)
        phases: list[tuple[str, float]] = []
        sweep_logs: list[tuple[float, str]] = []
        seen: dict[str, int] = {}
        first_report = None
        recommendation = "(none)"
        for args in cmds:
            if args[0] in ("sweep", "report"):
                args = [*args, "--yes"]
            t, log = _efflab(args, env)
            phases.append((_name(args, seen), t))
            if args[0] == "sweep":
                sweep_logs.append((t, log))
            if args[0] == "report" and first_report is None:
                first_report = sum(s for _, s in phases)
            if args[0] == "recommend":  # it says the cohort first, then "recommended: …"
                recommendation = next(
                    (ln.strip() for ln in log.splitlines() if ln.strip().startswith("recommended:")), "(none)"
                )
        if a.log:
            a.log.write_text("\n\n".join(log for _, log in sweep_logs))
        if a.keep:
            import shutil

            shutil.copy2(store, a.keep)
    total = sum(s for _, s in phases)
    print(
        f"demo work ({a.grid} grid, {'fresh cache' if a.fresh_cache else 'cache as it is'}), set-up not included:"
    )
    for name, s in phases:
        print(f"  {name:14s} {s / 60:5.1f} min")
    print(
        f"  {'total':14s} {total / 60:5.1f} min; first report written {(first_report or 0) / 60:.1f} min in"
    )
    timed = wall = est_mid = 0.0
    measured = failed = 0
    for i, (t, log) in enumerate(sweep_logs, 1):
        duty = re.search(r"duty cycle .*", log)
        pts = re.search(r"efflab: (\d+) measured, (\d+) failed", log)
        est = re.search(r"about (\d+(?:\.\d+)?) (s|min|h)–(\d+(?:\.\d+)?) (s|min|h)", log)
        tw = re.search(r"timed (\d+) s of (\d+) s", log)
        if pts:
            measured, failed = measured + int(pts.group(1)), failed + int(pts.group(2))
        if tw:
            timed, wall = timed + float(tw.group(1)), wall + float(tw.group(2))
        line = f"  sweep {i}: {duty.group(0) if duty else 'no duty cycle printed'}"
        if est:
            lo, hi = float(est.group(1)) * UNIT[est.group(2)], float(est.group(3)) * UNIT[est.group(4)]
            est_mid += (lo * hi) ** 0.5
            line += f"; estimate {lo / 60:.1f}–{hi / 60:.1f} min against {t / 60:.1f} min"
        print(line)
    print(f"  points: {measured} measured, {failed} failed")
    if wall:
        print(f"  sweeps' duty cycle {100 * timed / wall:.0f} % (timed {timed:.0f} s of {wall:.0f} s)")
    if est_mid:
        sweep_s = sum(t for t, _ in sweep_logs)
        print(f"  sweeps' real/estimate {sweep_s / est_mid:.2f} (target within 2x)")
    print(f"  recommendation: {recommendation}")


if __name__ == "__main__":
    main()
