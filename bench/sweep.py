"""Sweep targets (issue 4), each printed as figures measured in one run.

1. adaptive repetitions vs a fixed 10 warm-up + 30 repetition baseline, side by side on the same points
   (same loaded model, interleaved): forward passes and 95 % CI half-width of the mean batch latency.
   Shown twice: with efflab's default method (which also enforces a >= 1 s energy window on CPU) and
   with the stopping rule alone (min window 0), because for very fast calls the energy window, not the CI
   rule, decides the count.
2. re-running a fully measured sweep: seconds for `efflab sweep` on a store that has every point.
3. (--default) the whole default sweep from an empty store: minutes (target <= 10).

    .venv/bin/python bench/sweep.py [--models minilm-l2,minilm-l6] [--default]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from efflab import Config, MethodSettings
from efflab.measuring.measure import measure_loaded
from efflab.measuring.stats import mean_ci
from efflab.models import load_runner, resolve_model
from efflab.sensors import make_sensor


def fixed_baseline(runner: object, batch: object) -> tuple[int, float, float]:
    """10 warm-up + 30 timed calls: (forward passes, mean s, CI half-width s)."""
    fwd, sync = runner.forward, runner.synchronize  # type: ignore[attr-defined]
    for _ in range(10):
        fwd(batch)
        sync()
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        fwd(batch)
        sync()
        times.append(time.perf_counter() - t0)
    mean, _, ci = mean_ci(times)
    return 40, mean, ci


def compare_repetitions(models: list[str]) -> None:
    sensor = make_sensor("auto")
    sensor.available()
    methods = {
        "default method": MethodSettings(),
        "CI rule only (min window 0)": MethodSettings(min_window_s=0.0),
    }
    rows: dict[str, list[tuple[str, int, int, float, float]]] = {k: [] for k in methods}
    try:
        for model in models:
            for precision in ("fp32", "int8"):
                try:
                    runner = load_runner(resolve_model(model), precision, "cpu")
                except Exception as e:  # e.g. tfidf-logreg has no int8
                    print(f"skip {model} {precision}: {e}")
                    continue
                for bs in (1, 8, 32, 128):
                    cfg = Config(model=model, batch_size=bs, precision=precision)
                    batch = runner.make_batch(None, bs, cfg.seq_len)
                    for label, method in methods.items():
                        m = measure_loaded(runner, cfg, None, sensor, method)
                        n_fixed, mean_f, ci_f = fixed_baseline(runner, batch)
                        rows[label].append(
                            (
                                f"{model} {precision} b{bs}",
                                m.warmup_batches + m.n_batches,
                                n_fixed,
                                m.latency_ci_s / m.latency_s,
                                ci_f / mean_f,
                            )
                        )
                runner.close()
    finally:
        sensor.close()
    for label, rs in rows.items():
        print(f"\n== adaptive vs fixed 10+30, {label}")
        print(f"{'point':32s} {'adaptive passes':>15s} {'fixed':>6s} {'adaptive CI':>12s} {'fixed CI':>9s}")
        for name, na, nf, ca, cf in rs:
            print(f"{name:32s} {na:15d} {nf:6d} {ca * 100:11.2f}% {cf * 100:8.2f}%")
        tot_a, tot_f = sum(r[1] for r in rs), sum(r[2] for r in rs)
        narrower = sum(1 for r in rs if r[3] <= r[4])
        print(
            f"total forward passes: adaptive {tot_a}, fixed {tot_f} -> fixed/adaptive = {tot_f / tot_a:.2f}x "
            f"(target >= 2x); adaptive CI equal or narrower on {narrower}/{len(rs)} points; "
            f"median CI adaptive {statistics.median(r[3] for r in rs) * 100:.2f}% vs fixed "
            f"{statistics.median(r[4] for r in rs) * 100:.2f}%"
        )


def time_rerun(store: Path, spec: list[str]) -> None:
    cmd = [sys.executable, "-m", "efflab.cli", "sweep", *spec, "--store", str(store)]
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    print(
        f"\n== re-run of a fully measured sweep ({store}): median {statistics.median(times):.2f} s over 3 runs "
        f"(target <= 2 s: {'met' if statistics.median(times) <= 2 else 'NOT met'})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="minilm-l2,minilm-l6")
    ap.add_argument("--default", action="store_true", help="also time the whole default sweep (minutes)")
    ap.add_argument(
        "--store", type=Path, default=None, help="store for the default sweep (default: a temp file)"
    )
    args = ap.parse_args()
    compare_repetitions(args.models.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or Path(tmp) / "bench.sqlite"
        if args.default:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "efflab.cli", "sweep", "--store", str(store)], check=True)
            mins = (time.perf_counter() - t0) / 60
            print(
                f"\n== default sweep from an empty store: {mins:.1f} min (target <= 10: {'met' if mins <= 10 else 'NOT met'})"
            )
            time_rerun(store, [])
        else:
            spec = ["--models", args.models.split(",")[0], "--batch-sizes", "1,8", "--precisions", "fp32"]
            subprocess.run(
                [sys.executable, "-m", "efflab.cli", "sweep", *spec, "--store", str(store)],
                check=True,
                capture_output=True,
            )
            time_rerun(store, spec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
