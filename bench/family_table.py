"""The README's family table from a results store: parameters, bytes, accuracy, and fp32 / bf16 / int8
latency per batch and energy per query at one batch size (default 32).

    .venv/bin/python bench/family_table.py [--store data/results.sqlite] [--batch-size 32]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from efflab.store import load_results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=Path("data/results.sqlite"))
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    df = load_results(args.store)
    ok = df[(df["status"] == "ok") & (df["batch_size"] == args.batch_size)]
    precisions = ("fp32", "bf16", "int8")
    head = ["model", "params", "bytes (fp32)", "accuracy (fp32)"]
    head += [f"{p} ms/batch" for p in precisions] + [f"{p} mJ/query" for p in precisions]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    kinds = set()
    for model, g in ok.groupby("model", sort=False):
        by = g.set_index("precision")
        fp32 = by.loc["fp32"] if "fp32" in by.index else g.iloc[0]
        acc = f"{fp32['accuracy'] * 100:.1f} %" if fp32["accuracy"] == fp32["accuracy"] else "-"
        cells = [str(model), f"{fp32['n_params'] / 1e6:.2f} M", f"{fp32['model_bytes'] / 2**20:.1f} MiB", acc]
        cells += [f"{by.loc[p, 'latency_s'] * 1000:.0f}" if p in by.index else "–" for p in precisions]
        cells += [
            f"{by.loc[p, 'energy_j_per_query'] * 1000:.1f}" if p in by.index else "–" for p in precisions
        ]
        kinds |= set(g["energy_source"])
        print("| " + " | ".join(cells) + " |")
    est = ok["energy_measured"].fillna(False).astype(bool)
    label = "measured" if est.all() else "estimated"
    print(
        f"\nEnergy: {label} ({', '.join(sorted(kinds))}); batch {args.batch_size}, seq_len 128, task reviews."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
