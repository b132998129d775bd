"""Generation on SmolLM2-135M: tokens per joule from batch 1 to 16, fp32 vs bf16 vs int8, and energy
per response vs output length. Prints one table row per point, measured in one run (interleaved in
time only within the run: compare ratios, not absolute figures across runs).

    .venv/bin/python bench/generate.py                        # the full grid (tens of minutes on 2 cores)
    .venv/bin/python bench/generate.py --batch-sizes 1,4 --precisions fp32,bf16 --lengths 1,16

Energy is what the sensor gives (on a VM without RAPL: modelled by CodeCarbon from CPU time; say so
when quoting it). Benchmarks are not tests: nothing here asserts.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batch-sizes", default="1,2,4,8,16")
    ap.add_argument("--precisions", default="fp32,bf16,int8")
    ap.add_argument("--lengths", default="1,16,64", help="max_new_tokens values (output lengths)")
    ap.add_argument("--length", type=int, default=16, help="output length of the batch/precision grid")
    ap.add_argument("--seq-len", type=int, default=64, help="review tokens in each prompt")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sensor", default="auto")
    ap.add_argument("--windows", type=int, default=2)
    ap.add_argument("--min-window", type=float, default=None)
    ap.add_argument("--max-window", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (efflab --threads)")
    args = ap.parse_args(argv)

    from efflab.config import Config, MethodSettings
    from efflab.measuring.measure import load_task
    from efflab.sweep.run import PointMeasurer

    method = MethodSettings(
        windows=args.windows, min_window_s=args.min_window, max_window_s=args.max_window, threads=args.threads
    )
    task = load_task("reviews")
    batches = [int(b) for b in args.batch_sizes.split(",")]
    precisions = [p.strip() for p in args.precisions.split(",")]
    lengths = [int(n) for n in args.lengths.split(",")]
    grid = [(p, b, args.length) for p in precisions for b in batches]
    grid += [(precisions[0], batches[0], n) for n in lengths if (precisions[0], batches[0], n) not in grid]
    measurer = PointMeasurer(args.sensor, method.country)
    print(
        "precision  batch  new_tok  ttft_ms  itl_ms  tokens/s  J/token  tokens/J  Wh/1000resp  prefill_J  decode_J  basis"
    )
    t0 = time.perf_counter()
    try:
        for p, b, n in grid:
            cfg = Config(
                model=args.model, batch_size=b, precision=p, device=args.device, seq_len=args.seq_len,
                task="reviews", workload="generate", max_new_tokens=n,
            )  # fmt: skip
            m, err = measurer.measure(cfg, task, method)
            if m is None:
                print(f"{p:<9}  {b:>5}  {n:>7}  failed: {err}")
                continue
            itl = f"{m.itl_s * 1e3:7.1f}" if m.itl_s is not None else "      -"
            per_tok = m.energy_j_per_token or float("nan")
            print(
                f"{p:<9}  {b:>5}  {n:>7}  {(m.ttft_s or 0) * 1e3:7.1f}  {itl}  {m.tokens_per_s or 0:8.1f}  "
                f"{per_tok:7.3f}  {1 / per_tok:8.2f}  {m.wh_per_1000_responses or 0:11.3f}  "
                f"{m.energy_prefill_j or 0:9.3f}  {m.energy_decode_j or 0:8.3f}  {m.energy_basis} ({m.energy_source})"
                + (f"  flags: {','.join(m.flags)}" if m.flags else ""),
                flush=True,
            )
    finally:
        measurer.close()
    print(
        f"# {len(grid)} points in {time.perf_counter() - t0:.0f} s; machine: see `efflab measure` fingerprint"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
