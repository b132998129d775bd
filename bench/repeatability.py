"""Do re-runs land inside the stored interval? Today's method (one window) against replicated windows.

Stores a measurement of each configuration (8 by default: 2 models x 2 precisions x 2 batch sizes, all
models loaded at once), then re-measures every configuration ``--reruns`` times later, in a shuffled
order per round, the two methods alternating point by point so that both see the same machine. Prints
the fraction of re-run mean batch latencies inside the stored 95 % interval, per method: today's (one
window), k windows alone, and the default re-run interval (k windows + the run spread; with an empty
store the 6 % prior); then the run spread these re-runs teach and the coverage it would have given. With
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
from efflab.measuring.rerun import Run, learn, rerun_half
from efflab.models import load_runner, resolve_model
from efflab.records import Measurement
from efflab.sensors import FakeSensor
from efflab.store import open_store

METHODS = {
    # efflab 0.1: one window >= 1 s, adaptive to a 2 % within-window CI, no re-measuring, no run spread.
    "today (--windows 1)": MethodSettings(
        windows=1, min_window_s=1.0, target_ci_rel=0.02, min_batches=5, remeasure_windows=0, run_spread=0.0
    ),
    # k windows, their interval only (issue 12's first step, before the run spread)
    "windows only (k=3)": MethodSettings(run_spread=0.0),
    # the default: k windows + the run spread (the prior here: the bench's store has no re-runs yet)
    "re-run interval (default)": MethodSettings(),
}


def _cfg_key(cfg: Config) -> str:
    return f"{cfg.model}|{cfg.precision}|{cfg.batch_size}"


def stored_half(label: str, m: Measurement) -> float:
    """The interval each method prints: the windows' own for the first two, the re-run one for the default."""
    if label == "re-run interval (default)":
        return m.latency_ci_s
    return m.latency_ci_windows_s if m.latency_ci_windows_s is not None else m.latency_ci_s


# A process that keeps one core busy for 2 s, then sleeps 2 s, until killed.
_HALF_BUSY = (
    "import time\nwhile True:\n    t = time.time()\n    while time.time() - t < 2: pass\n    time.sleep(2)\n"
)


def run(
    models: list[str],
    precisions: list[str],
    batch_sizes: list[int],
    reruns: int,
    seed: int,
    out: Path | None = None,
) -> dict[str, list[tuple[bool, bool]]]:
    runners = {}
    for name in models:
        for prec in precisions:
            runners[(name, prec)] = load_runner(resolve_model(name, progress=False), prec, "cpu")
    sensor = FakeSensor()
    configs = [
        Config(model=m, batch_size=b, precision=p, task=None) for (m, p) in runners for b in batch_sizes
    ]
    # per method: (re-run mean inside the stored interval, both points unflagged), one per re-run
    hits: dict[str, list[tuple[bool, bool]]] = {k: [] for k in METHODS}
    pairs: list[tuple[Measurement, float, bool]] = []  # default method: (stored, a re-run's mean, unflagged)
    rng = random.Random(seed)
    runs: list[Run] = []
    rows: list[str] = []
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
                    clean = not (_flagged(ref) or _flagged(m))
                    hit = abs(m.latency_s - ref.latency_s) <= stored_half(label, ref)
                    hits[label].append((hit, clean))
                    rows.append(
                        f"{r + 1},{label},{_cfg_key(cfg)},{ref.latency_s:.6g},{stored_half(label, ref):.6g},"
                        f"{m.latency_s:.6g},{int(hit)},{'+'.join(ref.flags)},{'+'.join(m.flags)}"
                    )
                    if label == "re-run interval (default)":
                        pairs.append((ref, m.latency_s, clean))
                        if not _flagged(m):
                            runs.append(Run(_cfg_key(cfg), m.latency_s, m.latency_ci_windows_s, m.n_windows))
            print(f"  round {r + 1}/{reruns} done", file=sys.stderr, flush=True)
        for sp in store.points():
            m0 = sp.measurement
            if m0 is not None and sp.key.startswith("re-run interval") and not _flagged(m0):
                cfg0 = Config(model=m0.model, batch_size=m0.batch_size, precision=m0.precision, task=None)
                runs.append(Run(_cfg_key(cfg0), m0.latency_s, m0.latency_ci_windows_s, m0.n_windows))
    for rn in runners.values():
        rn.close()
    # What a store holding these re-runs would have taught a later sweep: the learned spread, and the
    # coverage the stored points would have had with it (the same re-runs; shown, not a target).
    learned = learn(runs)
    hits[f"  with the learned spread {learned.value * 100:.1f} %"] = [
        (
            abs(x - ref.latency_s)
            <= (rerun_half(ref.latency_s, ref.latency_ci_windows_s, learned.value) or 0),
            ok,
        )
        for ref, x, ok in pairs
    ]
    print(f"  learned run spread (unflagged runs): {learned.source}", file=sys.stderr)
    if out is not None:
        out.write_text(
            "round,method,config,stored_s,stored_half_s,rerun_s,inside,stored_flags,rerun_flags\n"
            + "\n".join(rows)
            + "\n"
        )
    return hits


def _flagged(m: Measurement) -> bool:
    """Left out of decisions (and shown as such): the product's own rule."""
    return bool({"disturbed", "unstable"} & set(m.flags))


def report(title: str, hits: dict[str, list[tuple[bool, bool]]]) -> None:
    print(f"\n== {title}")
    print(f"{'':34s} {'all re-runs':>18s}   {'unflagged (decisions use these)':>32s}")
    for label, hs in hits.items():
        n, k = len(hs), sum(h for h, _ in hs)
        clean = [h for h, ok in hs if ok]
        c = f"{sum(clean):3d}/{len(clean):3d} = {sum(clean) / len(clean) * 100:5.1f} %" if clean else "none"
        print(f"{label:34s} {k:3d}/{n:3d} = {k / n * 100:5.1f} %   {c:>32s}")
    print(
        "(inside = the re-run mean lies in the stored point's printed 95 % interval; unflagged = neither is"
    )
    print(" flagged disturbed/unstable, the points stars and recommendations use)")


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
    ap.add_argument(
        "--threads", type=int, default=None, help="measure with this many CPU threads (efflab --threads)"
    )
    ap.add_argument("--csv", type=Path, default=None, help="write every re-run here (one CSV per phase)")
    args = ap.parse_args()
    if args.threads is not None:
        import dataclasses

        for label in METHODS:
            METHODS[label] = dataclasses.replace(METHODS[label], threads=args.threads)
    models, precisions = args.models.split(","), args.precisions.split(",")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    n = len(models) * len(precisions) * len(batch_sizes)
    print(
        f"threads: {args.threads or 'torch default'}; "
        f"{n} configurations x {args.reruns} re-runs per method; load before: {Path('/proc/loadavg').read_text().split()[:3]}"
    )
    t0 = time.perf_counter()
    report(
        "no neighbour started by the benchmark",
        run(models, precisions, batch_sizes, args.reruns, args.seed, args.csv),
    )
    if args.busy:
        proc = subprocess.Popen([sys.executable, "-c", _HALF_BUSY])
        try:
            report(
                "a busy process on one core half of the time",
                run(
                    models,
                    precisions,
                    batch_sizes,
                    args.reruns,
                    args.seed + 1,
                    args.csv.with_name(args.csv.stem + "-busy.csv") if args.csv else None,
                ),
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
