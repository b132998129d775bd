"""``efflab results list|export``: read the store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from efflab.errors import ConfigError
from efflab.format import si, table
from efflab.paths import default_store


def register(sub: Any) -> None:
    p = sub.add_parser(
        "results",
        help="list or export the results store",
        description="List or export the points in a results store.",
    )
    rs = p.add_subparsers(dest="results_cmd", metavar="ACTION")
    ls = rs.add_parser("list", help="print a table of the stored points")
    ls.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    ls.add_argument("--failed", action="store_true", help="only failed points, with their errors")
    ls.set_defaults(func=run_list)
    ex = rs.add_parser("export", help="write the points to CSV or Parquet")
    ex.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    ex.add_argument("--format", default="csv", help="csv or parquet (default csv)")
    ex.add_argument(
        "--out",
        "-o",
        type=Path,
        default=None,
        help="output file (default: results.<format>; - for stdout CSV)",
    )
    ex.set_defaults(func=run_export)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def run_list(args: argparse.Namespace) -> int:
    from efflab.analysis import add_stars
    from efflab.store import load_results

    df = load_results(args.store or default_store())
    if df.empty:
        print("the store is empty; run `efflab sweep` first", file=sys.stderr)
        return 0
    if args.failed:
        df = df[df["status"] == "failed"]
        print(
            table(
                [(r.model, r.batch_size, r.precision, r.device, r.error) for r in df.itertuples()],
                ["model", "batch", "precision", "device", "error"],
            )
        )
        return 0
    df = add_stars(df)
    rows = []
    for r in df.itertuples():
        if r.status != "ok":
            rows.append((r.model, r.batch_size, r.precision, r.device, "failed", "", "", "", "", ""))
            continue
        acc = f"{r.accuracy * 100:.1f}" if r.accuracy == r.accuracy and r.accuracy is not None else "-"
        kind = "meas" if r.energy_measured else "est"
        rows.append(
            (
                r.model,
                r.batch_size,
                r.precision,
                r.device,
                si(r.latency_s, "s"),
                f"{r.throughput_qps:.0f}",
                f"{r.wh_per_1000_queries:.3g} ({kind})",
                "★" * int(r.stars),
                acc,
                r.flags,
            )
        )
    print(
        table(
            rows,
            [
                "model",
                "batch",
                "precision",
                "device",
                "latency/batch",
                "q/s",
                "Wh/1000q",
                "stars",
                "acc %",
                "flags",
            ],
        )
    )
    return 0


def run_export(args: argparse.Namespace) -> int:
    from efflab.store import load_results

    fmt = args.format.lower()
    if fmt not in ("csv", "parquet"):
        msg = f"unknown export format {args.format!r}; use csv or parquet"
        raise ConfigError(msg)
    df = load_results(args.store or default_store())
    out = args.out or Path(f"results.{fmt}")
    if str(out) == "-":
        if fmt != "csv":
            msg = "only CSV can go to stdout; pass --out FILE for parquet"
            raise ConfigError(msg)
        df.to_csv(sys.stdout, index=False)
        return 0
    if fmt == "csv":
        df.to_csv(out, index=False)
    else:
        df.to_parquet(out, index=False)
    print(f"efflab: wrote {len(df)} points to {out}", file=sys.stderr)
    return 0
