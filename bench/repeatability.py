"""Do re-runs land inside the stored interval? Today's method (one window) against replicated windows.

Stores a measurement of each configuration (8 by default: 2 models x 2 precisions x 2 batch sizes, all
models loaded at once), then re-measures every configuration ``--reruns`` times later, in a shuffled
order per round, the two methods alternating point by point so that both see the same machine. Prints
the fraction of re-run mean batch latencies inside the stored 95 % interval, per method. With
``--busy`` the benchmark also runs the whole thing a second time while a busy process takes one core
half of the time (2 s on, 2 s off). Targets: >= 90 % on a quiet machine, >= 80 % with the neighbour.
Latency only; the fake sensor keeps energy out of it (energy per query inherits the same windows).

    .venv/bin/python bench/repeatability.py [--models minilm-l1,minilm-l2] [--reruns 5] [--busy]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from efflab import Config, MethodSettings
from efflab.measuring.measure import measure_loaded
from efflab.models import load_runner, resolve_model
from efflab.records import Measurement
from efflab.sensors import FakeSensor
from efflab.store import open_store

METHODS = {
    # efflab 0.1: one window >= 1 s, adaptive to a 2 % within-window CI, no re-measuring.
    "today (--windows 1)": MethodSettings(
        windows=1, min_window_s=1.0, target_ci_rel=0.02, min_batches=5, remeasure_windows=0
    ),
    "replicated (default)": MethodSettings(),
}

# A process that keeps one core busy for 2 s, then sleeps 2 s, until killed.
_HALF_BUSY = (
    "import time\nwhile True:\n    t = time.time()\n    while time.time() - t < 2: pass\n    time.sleep(2)\n"
)


def run(
    models: list[str], precisions: list[str], batch_sizes: list[int], reruns: int, seed: int
) -> dict[str, list[bool]]:
    runners = {}
    for m in models:
        for p in precisions:
            runners[(m, p)] = load_runner(resolve_model(m, progress=False), p, "cpu")
    sensor = FakeSensor()
    configs = [
        Config(model=m, batch_size=b, precision=p, task=None) for (m, p) in runners for b in batch_sizes
    ]
    hits: dict[str, list[bool]] = {k: [] for k in METHODS}
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "rep.sqlite") as store:
        # 1. the stored measurements (in the store, read back, as a user would have them)
        for cfg in configs:
            for label, method in METHODS.items():
                m = measure_loaded(runners[(cfg.model, cfg.precision)], cfg, None, sensor, method)
                store.put(
                    f"{label}|{cfg.model}|{cfg.precision}|{cfg.batch_size}",
                    config=cfg.to_dict(),
                    model_id=m.model_id,
                    hardware="bench",
                    measurement=m,
                )
        stored: dict[str, Measurement] = {p.key: p.measurement for p in store.points() if p.measurement}
        # 2. later, interleaved re-runs
        for r in range(reruns):
            order = configs[:]
            rng.shuffle(order)
            for cfg in order:
                labels = list(METHODS)
                if r % 2:
                    labels.reverse()
                for label in labels:
                    m = measure_loaded(runners[(cfg.model, cfg.precision)], cfg, None, sensor, METHODS[label])
                    ref = stored[f"{label}|{cfg.model}|{cfg.precision}|{cfg.batch_size}"]
                    hits[label].append(abs(m.latency_s - ref.latency_s) <= ref.latency_ci_s)
            print(f"  round {r + 1}/{reruns} done", file=sys.stderr, flush=True)
    for rn in runners.values():
        rn.close()
    return hits


def report(title: str, hits: dict[str, list[bool]]) -> None:
    print(f"\n== {title}")
    for label, hs in hits.items():
        print(
            f"{label:24s} {sum(hs):3d}/{len(hs):3d} re-run means inside the stored 95 % interval = {sum(hs) / len(hs) * 100:5.1f} %"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="minilm-l1,minilm-l2")
    ap.add_argument("--precisions", default="fp32,int8")
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--reruns", type=int, default=5)
    ap.add_argument(
        "--busy", action="store_true", help="also run with a busy neighbour on one core half the time"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    models, precisions = args.models.split(","), args.precisions.split(",")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    n = len(models) * len(precisions) * len(batch_sizes)
    print(
        f"{n} configurations x {args.reruns} re-runs per method; load before: {Path('/proc/loadavg').read_text().split()[:3]}"
    )
    t0 = time.perf_counter()
    report(
        "no neighbour started by the benchmark", run(models, precisions, batch_sizes, args.reruns, args.seed)
    )
    if args.busy:
        proc = subprocess.Popen([sys.executable, "-c", _HALF_BUSY])
        try:
            report(
                "a busy process on one core half of the time",
                run(models, precisions, batch_sizes, args.reruns, args.seed + 1),
            )
        finally:
            proc.kill()
            proc.wait()
    print(
        f"\n{(time.perf_counter() - t0) / 60:.1f} min; load after: {Path('/proc/loadavg').read_text().split()[:3]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
