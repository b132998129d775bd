"""``efflab results list|export``: read the store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from efflab import format as fmt
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
    from efflab.analysis import AssessInputs, assess

    rows = []
    for cohort in assess(df).cohorts:
        a = assess(df, AssessInputs(cohort=cohort))
        rated = {m.key: m for m in a.ratings}
        for _, r in a.frame.iterrows():
            m = rated.get(str(r["key"]))
            if r["status"] != "ok":
                rows.append(
                    (
                        r["model"],
                        r["batch_size"],
                        r["precision"],
                        r["device"],
                        "",
                        "",
                        "",
                        "",
                        "",
                        r["status"],
                    )
                )
                continue
            rows.append(
                (
                    r["model"],
                    r["batch_size"],
                    r["precision"],
                    r["device"],
                    si(r["latency_s"], "s"),
                    fmt.number(r["throughput_qps"]),
                    f"{fmt.number(r['wh_per_1000_queries'])} ({fmt.energy_basis(r)})",
                    fmt.stars(m.stars) if m is not None else "",
                    fmt.percent(r["accuracy"]) if r["accuracy"] == r["accuracy"] else "-",
                    "eligible" + (f" · {r['flags']}" if r["flags"] else "")
                    if r["eligible"]
                    else str(r["excluded_reason"]).split(":")[0] + (f" · {r['flags']}" if r["flags"] else ""),
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
                "model stars",
                "accuracy",
                "eligible · flags",
            ],
        )
    )
    print(
        "model stars: one rating per model, shown on the configuration that sets it (its least-energy eligible "
        "one); see `efflab recommend`"
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
