"""GPU verification (issue 8): run on a machine with an NVIDIA GPU (Volta or newer).

1. the default family sweep on cuda (fp32, fp16, bf16 x batch 1, 8, 32, 128) into a store;
2. energy repeatability: minilm-l6, batch 32, fp16, measured 5 times -> CV of energy per query
   (target <= 3 %);
3. bf16 and fp16 speedup over fp32 at batch >= 32 (throughput ratios, same run);
4. batch 1 -> 32 energy-per-query ratio per precision.

Prints a markdown summary (paste into docs/gpu.md) and writes it with the raw JSON to --out.

    .venv/bin/python bench/gpu_verify.py --out out/gpu [--models minilm-l2,minilm-l6] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("out/gpu"))
    ap.add_argument("--models", default=None, help="comma-separated (default: the transformer family)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="batch 1 and 32 only")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_verify: no CUDA device visible to torch; nothing to verify", file=sys.stderr)
        return 2

    from efflab import Config, MethodSettings
    from efflab.measuring.measure import measure
    from efflab.store import load_results, open_store
    from efflab.sweep import SweepSpec, sweep
    from efflab.sweep.spec import default_models

    args.out.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",") if args.models else [m for m in default_models() if m != "tfidf-logreg"]
    spec = SweepSpec(
        models=tuple(models),
        batch_sizes=(1, 32) if args.quick else (1, 8, 32, 128),
        precisions=("fp32", "fp16", "bf16"),
        devices=("cuda",),
    )
    store_path = args.out / "gpu.sqlite"
    with open_store(store_path) as st:
        for r in sweep(spec, st):
            m = r.measurement
            if m is not None:
                print(
                    f"{r.status:7s} {m.model} b{m.batch_size} {m.precision}: {m.throughput_qps:.0f} q/s "
                    f"{m.energy_j_per_query * 1000:.3f} mJ/q [{m.energy_label}] acc {m.accuracy}",
                    flush=True,
                )
            else:
                print(
                    f"{r.status:7s} {r.config.model} b{r.config.batch_size} {r.config.precision}: {r.error}"
                )
    df = load_results(store_path)
    ok = df[df["status"] == "ok"]

    rep_model = "minilm-l6" if "minilm-l6" in models else models[-1]
    energies = []
    for _ in range(args.repeats):
        m = measure(
            Config(model=rep_model, batch_size=32, precision="fp16", device="cuda", task=None),
            method=MethodSettings(),
        )
        energies.append(m.energy_j_per_query)
    cv = statistics.stdev(energies) / statistics.mean(energies)

    lines = [f"# GPU verification on {torch.cuda.get_device_name(0)}", ""]
    lines.append(
        f"- energy source: {ok['energy_source'].iloc[0] if not ok.empty else 'n/a'} "
        f"({'measured' if ok['energy_measured'].all() else 'NOT all measured'})"
    )
    lines.append(
        f"- energy repeatability, {rep_model} b32 fp16, {args.repeats} repeats: CV {cv * 100:.2f} % "
        f"(target <= 3 %: {'met' if cv <= 0.03 else 'NOT met'})"
    )
    speed = []
    for model, g in ok.groupby("model"):
        for b in sorted(x for x in g["batch_size"].unique() if x >= 32):
            row = g[g["batch_size"] == b].set_index("precision")
            if "fp32" not in row.index:
                continue
            for p in ("fp16", "bf16"):
                if p in row.index:
                    speed.append(
                        (model, int(b), p, row.loc[p, "throughput_qps"] / row.loc["fp32", "throughput_qps"])
                    )
    for model, b, p, s in speed:
        lines.append(f"- {model} batch {b}: {p} throughput / fp32 = {s:.2f}x")
    for (model, p), g in ok.groupby(["model", "precision"]):
        e = g.set_index("batch_size")["energy_j_per_query"]
        if 1 in e.index and 32 in e.index:
            lines.append(f"- {model} {p}: energy per query batch 1 / batch 32 = {e.loc[1] / e.loc[32]:.1f}x")
    text = "\n".join(lines)
    print(text)
    (args.out / "summary.md").write_text(text + "\n")
    (args.out / "repeatability.json").write_text(
        json.dumps({"model": rep_model, "energies_j_per_query": energies, "cv": cv})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
