"""Measurement overhead: efflab-measured throughput vs a bare timed loop of the same model call.

Both run in one process, interleaved pair by pair (order alternating), on the same loaded model and
batch, with the energy sensor efflab would use here (auto). Target: median ratio >= 0.98 for model
calls of at least 1 ms. Prints one line per case and the median ratios.

    .venv/bin/python bench/overhead.py [--pairs 7] [--model all-minilm-l6-v2]
"""

from __future__ import annotations

import argparse
import statistics
import time

from efflab import Config, MethodSettings
from efflab.measuring.measure import measure_loaded
from efflab.models import load_runner, resolve_model
from efflab.sensors import make_sensor


def bare_throughput(runner: object, batch: object, batch_size: int, seconds: float) -> float:
    """Queries/s of a plain loop calling the model for about ``seconds``."""
    fwd = runner.forward  # type: ignore[attr-defined]
    sync = runner.synchronize  # type: ignore[attr-defined]
    n = 0
    t0 = time.perf_counter()
    while True:
        fwd(batch)
        sync()
        n += 1
        t = time.perf_counter() - t0
        if t >= seconds:
            return n * batch_size / t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--model", default="all-minilm-l6-v2")
    ap.add_argument("--sensor", default="auto")
    args = ap.parse_args()

    cases = [(1, 16), (8, 128)]  # (batch, seq_len): a ~1-3 ms call and a ~tens-of-ms call
    method = MethodSettings(min_window_s=1.0, max_window_s=3.0)
    sensor = make_sensor(args.sensor)
    sensor.available()
    runner = load_runner(resolve_model(args.model), "fp32", "cpu")
    medians = []
    try:
        for bs, seq in cases:
            cfg = Config(model=args.model, batch_size=bs, seq_len=seq)
            batch = runner.make_batch(None, bs, seq)
            for _ in range(5):
                runner.forward(batch)
            ratios = []
            call_ms = []
            for i in range(args.pairs):
                order = ("efflab", "bare") if i % 2 == 0 else ("bare", "efflab")
                got: dict[str, float] = {}
                for who in order:
                    if who == "efflab":
                        m = measure_loaded(runner, cfg, None, sensor, method)
                        got[who] = m.throughput_qps
                        call_ms.append(m.latency_s * 1000)
                        window = m.window_s
                    else:
                        got[who] = bare_throughput(runner, batch, bs, seconds=max(1.0, got.get("_w", 1.0)))
                    if who == "efflab":
                        got["_w"] = window
                ratios.append(got["efflab"] / got["bare"])
            med = statistics.median(ratios)
            medians.append(med)
            print(
                f"batch {bs:3d} seq {seq:3d}: call {statistics.median(call_ms):7.2f} ms  "
                f"efflab/bare throughput ratio median {med:.3f} "
                f"(min {min(ratios):.3f}, max {max(ratios):.3f}, {args.pairs} interleaved pairs)"
            )
    finally:
        sensor.close()
        runner.close()
    overall = statistics.median(medians)
    print(
        f"median ratio over cases: {overall:.3f}  target >= 0.98: {'met' if overall >= 0.98 else 'NOT met'}"
    )
    print(f"sensor: {getattr(sensor, 'name', sensor)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
