"""``efflab recommend``: render the assessment of a store (``efflab.analysis.assess``) as text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab import format as fmt
from efflab.options import add_assess_arguments
from efflab.paths import default_store

if TYPE_CHECKING:
    from efflab.analysis import Assessment


def register(sub: Any) -> None:
    p = sub.add_parser(
        "recommend",
        help="recommend the least-energy configuration that is as accurate as the best",
        description="Per cohort (same task, same hardware): among the eligible configurations that are as accurate "
        "as the best (within --tolerance, or not distinguishable from it on the same test texts), pick the one with "
        "the least energy per query (ties within the energy uncertainty go to the smaller model, then the lower "
        "latency), rate each model, and project yearly savings against a baseline (default: the most accurate "
        "model at batch 1 and fp32, how models are often deployed).",
    )
    p.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    add_assess_arguments(p)
    p.set_defaults(func=run)


def yearly_lines(a: Assessment) -> list[str]:
    """The yearly figures of switching from the baseline to the recommendation, one line each."""
    s, base = a.savings, a.baseline
    if s is None or base is None:
        return []
    money = fmt.money_fmt(s.currency)
    rows = (
        (
            "energy",
            s.saved_kwh_per_year,
            s.saved_kwh_range,
            fmt.kwh,
            s.candidate_kwh_per_year,
            s.baseline_kwh_per_year,
        ),
        (
            "CO2e",
            s.saved_kg_co2e_per_year,
            s.saved_kg_co2e_range,
            fmt.kg,
            s.candidate_kg_co2e_per_year,
            s.baseline_kg_co2e_per_year,
        ),
        (
            "cost",
            s.saved_cost_per_year,
            s.saved_cost_range,
            money,
            s.candidate_cost_per_year,
            s.baseline_cost_per_year,
        ),
    )
    out = [
        f"  per year at {fmt.number(s.queries_per_day)} queries/day ({s.country} grid "
        f"{fmt.number(s.carbon_intensity_g_per_kwh)} g/kWh, {fmt.price(s.price_per_kwh, s.currency)}), "
        "switching from the baseline:"
    ]
    for name, saved, rng, f, cand, basev in rows:
        span = f" (range {fmt.saving_range(*rng, f)})" if rng[0] != rng[1] else ""
        out.append(
            f"    {name}: {fmt.saving_headline(saved, s.clear, f)}{span}; {f(cand)} instead of {f(basev)}"
        )
    return out


def render(a: Assessment) -> list[str]:
    """The assessment of one cohort as lines of text."""
    lines = [f"cohort: {a.cohort}"]
    rec = a.recommendation
    if rec is None:
        lines.append(f"  {a.guidance}")
    else:
        r = rec.point
        lines.append(f"  recommended: {rec.label} · {r.device}")
        from efflab.analysis.assess import energy_text

        lines.append(
            f"    {energy_text(r)} · accuracy {fmt.percent(r.accuracy)} · "
            f"{fmt.number(r.throughput_qps)} queries/s"
        )
        lines.append(f"    why: {rec.reason}")
        lines.append(
            "  stars per model: "
            + " · ".join(
                f"{m.model} {fmt.stars(m.stars)}" + ("" if m.sets_bands else " (noisy)") for m in a.ratings
            )
        )
        base = a.baseline
        if base is not None:
            lines.append(f"  baseline: {base.label} (vs the recommendation: {a.baseline_nudge})")
        lines.extend(yearly_lines(a))
    if a.excluded:
        lines.append(
            f"  not eligible: {len(a.excluded)} point(s) ("
            + "; ".join(f"{k}: {v}" for k, v in a.exclusion_counts().items())
            + "); see `efflab results list`"
        )
    lines.extend(f"  · {p}" for p in a.provenance)
    return lines


def run(args: argparse.Namespace) -> int:
    from efflab.analysis import AssessInputs, assess
    from efflab.analysis.paired import load_pairings
    from efflab.errors import ConfigError
    from efflab.store import load_results
    from efflab.store.sqlite import Store

    inputs = AssessInputs.from_mapping(vars(args))
    with Store(args.store or default_store(), readonly=True) as st:
        df = load_results(st)
        pairings = load_pairings(st)
    first = assess(df, inputs, pairings)
    cohorts = (first.cohort,) if inputs.cohort or first.cohort is None else first.cohorts
    any_rec = False
    for c in cohorts:
        if c == first.cohort:
            a = first
        else:
            try:
                a = assess(df, inputs.replace(cohort=c), pairings)
            except ConfigError as e:  # the baseline named is not in this cohort
                print(f"cohort: {c}\n  not assessed: {e}")
                continue
        if a.recommendation is None and a.cohort is None:
            break
        any_rec |= a.recommendation is not None
        print("\n".join(render(a)))
    if not any_rec:
        print(f"efflab: {first.guidance}", file=sys.stderr)
        return 1
    return 0
