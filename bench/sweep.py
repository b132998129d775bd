"""Sweep targets (issue 4), each printed as figures measured in one run.

1. adaptive repetitions within a point (more windows while its interval is wide) vs a fixed 10 warm-up
   + 30 repetition baseline, side by side on the same points (same loaded model, interleaved): forward
   passes and 95 % CI half-width of the mean batch latency.
   Shown twice: with efflab's default method (which also enforces a >= 1 s energy window on CPU) and
   with the stopping rule alone (min window 0), because for very fast calls the energy window, not the CI
   rule, decides the count.
2. re-running a fully measured sweep: seconds for `efflab sweep` on a store that has every point.
3. (--default) the whole default sweep from an empty store: minutes (target <= 10).
4. (--methods) issue 12: a sweep with today's method (one window, --windows 1) against the default
   (replicated, interleaved windows and, since issue 20, the paired pass of interleaved rounds that
   replaced the old adaptive second pass), on the same grid one after the other:
   forward passes, wall time, and whether the pareto front and the recommendation are the same
   (unstable/disturbed points left out of the new method's decisions, as the surfaces do).

    .venv/bin/python bench/sweep.py [--models minilm-l2,minilm-l6] [--default]
    .venv/bin/python bench/sweep.py --methods [--models M,M] [--batch-sizes 1,8,32,128] [--precisions fp32,bf16,int8]
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


OLD_METHOD = MethodSettings(
    windows=1, min_window_s=1.0, target_ci_rel=0.02, min_batches=5, remeasure_windows=0
)


def _passes(m: object) -> int:
    ws = getattr(m, "windows", ())
    timed = sum(w.n_batches for w in ws) if ws else m.n_batches  # type: ignore[attr-defined]
    return int(m.warmup_batches) + int(timed)  # type: ignore[attr-defined]


def compare_methods(models: list[str], batch_sizes: list[int], precisions: list[str]) -> None:
    from efflab.analysis import assess
    from efflab.analysis.pareto import pareto_front
    from efflab.store import load_results, open_store
    from efflab.sweep import SweepSpec, sweep

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, method, adaptive in (
            ("today (--windows 1)", OLD_METHOD, False),
            ("default (windows + adaptive)", MethodSettings(), True),
        ):
            spec = SweepSpec(
                models=tuple(models),
                batch_sizes=tuple(batch_sizes),
                precisions=tuple(precisions),
                method=method,
            )
            path = Path(tmp) / f"{len(out)}.sqlite"
            t0 = time.perf_counter()
            with open_store(path) as st:
                res = sweep(spec, st, adaptive=adaptive)
            wall = time.perf_counter() - t0
            df = load_results(path)
            ok = df[df["status"] == "ok"].copy()
            flags = ok["flags"].fillna("")
            eligible = ok[~flags.str.contains("unstable|disturbed")]
            names = eligible.apply(lambda r: f"{r['model']}:{r['batch_size']}:{r['precision']}", axis=1)
            front = set(names[pareto_front(eligible).to_numpy()]) if len(eligible) else set()
            rec = assess(df).recommendation  # the one decision every surface shows
            rec_name = rec.label if rec is not None else None
            ms = {r.key: r.measurement for r in res if r.measurement is not None}  # last record per point
            passes = sum(_passes(m) for m in ms.values())
            refined = sum(1 for r in res if r.status == "refined")
            out[label] = (wall, passes, len(ok), len(ok) - len(eligible), refined, front, rec_name)
    print(f"\n== sweep methods on {len(models)} models x {batch_sizes} x {precisions}")
    for label, (wall, passes, n_ok, n_out, refined, front, rec_name) in out.items():
        print(
            f"{label:30s} {wall / 60:5.1f} min, {passes} forward passes, {n_ok} points "
            f"({n_out} unstable/disturbed, {refined} refined); recommendation {rec_name}; front {sorted(front)}"
        )
    (a, b) = out.values()
    print(f"same recommendation: {a[6] == b[6]}; same pareto front: {a[5] == b[5]}")


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
    ap.add_argument("--methods", action="store_true", help="only: today's method vs the default on a grid")
    ap.add_argument("--batch-sizes", default="1,8,32,128")
    ap.add_argument("--precisions", default="fp32,bf16,int8")
    ap.add_argument(
        "--store", type=Path, default=None, help="store for the default sweep (default: a temp file)"
    )
    args = ap.parse_args()
    if args.methods:
        compare_methods(
            args.models.split(","),
            [int(b) for b in args.batch_sizes.split(",")],
            args.precisions.split(","),
        )
        return 0
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
