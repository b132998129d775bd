"""``efflab recommend``: the cheapest configuration that is still good enough, and what it saves."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from efflab.paths import default_store


def register(sub: Any) -> None:
    p = sub.add_parser(
        "recommend",
        help="recommend the least-energy configuration within an accuracy tolerance",
        description="Among stored configurations whose accuracy is within --tolerance of the best, pick the one "
        "with the least energy per query, per cohort (same task, same hardware), and project yearly savings "
        "against a baseline (default: the most accurate configuration at batch 1 and fp32, how models are often "
        "deployed).",
    )
    p.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    p.add_argument(
        "--tolerance", type=float, default=0.01, help="accuracy tolerance as a fraction (default 0.01 = 1 pt)"
    )
    p.add_argument(
        "--queries-per-day", type=float, default=1_000_000, help="for yearly savings (default 1e6)"
    )
    p.add_argument("--country", default="USA", help="ISO alpha-3 code for CO2e (default USA)")
    p.add_argument("--price-per-kwh", type=float, default=0.15, help="price per kWh (default 0.15)")
    p.add_argument(
        "--baseline", help="baseline as MODEL:BATCH:PRECISION (default: best accuracy, batch 1, fp32)"
    )
    p.set_defaults(func=run)


def default_baseline(g: Any, spec: str | None = None) -> Any:
    """The baseline row of a cohort: ``MODEL:BATCH:PRECISION`` if given, else the most accurate
    model at its smallest batch size in fp32 (the naive default deployment)."""
    from efflab.errors import ConfigError

    if spec:
        parts = spec.split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            msg = f"baseline must look like MODEL:BATCH:PRECISION (e.g. minilm-l6:1:fp32), got {spec!r}"
            raise ConfigError(msg)
        m = g[(g["model"] == parts[0]) & (g["batch_size"] == int(parts[1])) & (g["precision"] == parts[2])]
        if m.empty:
            msg = f"baseline {spec!r} is not in the store; see `efflab results list`"
            raise ConfigError(msg)
        return m.iloc[0]
    fp32 = g[g["precision"] == "fp32"] if (g["precision"] == "fp32").any() else g
    if fp32["accuracy"].notna().any():
        best_model = fp32.loc[fp32["accuracy"].astype(float).idxmax(), "model"]
        fp32 = fp32[fp32["model"] == best_model]
    return fp32.sort_values("batch_size").iloc[0]


def check_inputs(args: argparse.Namespace) -> None:
    """Every option checked before anything is read or printed.

    Raises:
        ConfigError: a negative or non-finite count, price or tolerance, an unknown country, or a
            baseline that does not look like MODEL:BATCH:PRECISION.
    """
    import math

    from efflab.errors import ConfigError
    from efflab.measuring.carbon import carbon_intensity_g_per_kwh

    for flag, value, low, fix in (
        ("--queries-per-day", args.queries_per_day, 0.0, "e.g. --queries-per-day 1000000"),
        ("--price-per-kwh", args.price_per_kwh, 0.0, "e.g. --price-per-kwh 0.15"),
        ("--tolerance", args.tolerance, 0.0, "a fraction, e.g. --tolerance 0.01 for 1 point"),
    ):
        if not math.isfinite(value) or value < low or (flag == "--tolerance" and value > 1):
            msg = f"{flag} must be a finite number >= 0, got {value:g}; {fix}"
            raise ConfigError(msg)
    carbon_intensity_g_per_kwh(args.country)
    if args.baseline is not None:
        parts = args.baseline.split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            msg = f"baseline must look like MODEL:BATCH:PRECISION (e.g. minilm-l6:1:fp32), got {args.baseline!r}"
            raise ConfigError(msg)


def run(args: argparse.Namespace) -> int:
    from efflab.analysis import compare, recommend_by_cohort, savings
    from efflab.store import load_results

    check_inputs(args)
    df = load_results(args.store or default_store())
    ok = df[df["status"] == "ok"]
    if ok.empty:
        print("efflab: the store has no measured points; run `efflab sweep` first", file=sys.stderr)
        return 1
    recs = recommend_by_cohort(ok, args.tolerance)
    for cohort, rec in recs.items():
        r = rec.row
        g = ok[ok["cohort"] == cohort]
        base = default_baseline(g, args.baseline)
        kind = (
            "measured"
            if r["energy_measured"]
            else f"estimated ({r['energy_source']}, ±{r['energy_uncertainty_rel'] * 100:.0f} %)"
        )
        print(f"cohort: {cohort}")
        print(
            f"  recommended: {r['model']} · batch {int(r['batch_size'])} · {r['precision']} · {r['device']}"
        )
        acc = f"{r['accuracy'] * 100:.1f} %" if r["accuracy"] == r["accuracy"] else "n/a"
        print(
            f"    {r['wh_per_1000_queries']:.4g} Wh per 1000 queries [{kind}] · accuracy {acc} · "
            f"{r['throughput_qps']:.0f} queries/s"
        )
        print(f"    why: {rec.reason}")
        s = savings(base, r, args.queries_per_day, args.country, args.price_per_kwh)
        print(
            f"  baseline: {base['model']} · batch {int(base['batch_size'])} · {base['precision']} "
            f"(vs the recommendation: {compare(base, r)})"
        )
        rng = f" (range {s.saved_kwh_range[0]:.3g}–{s.saved_kwh_range[1]:.3g})" if s.estimated else ""
        print(
            f"  switching saves per year at {args.queries_per_day:,.0f} queries/day: {s.saved_kwh_per_year:.3g} kWh{rng}, "
            f"{s.saved_kg_co2e_per_year:.3g} kg CO2e ({s.country}), {s.saved_cost_per_year:,.2f} at "
            f"{args.price_per_kwh}/kWh" + (" — estimated energy" if s.estimated else "")
        )
    return 0
