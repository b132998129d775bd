"""Yearly savings of switching from a baseline configuration to a candidate, with signed ranges."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from efflab.analysis.compare import Comparison, saving_range
from efflab.analysis.paired import Pairings
from efflab.analysis.uncertainty import absolute_range, number, statistical_half_j
from efflab.errors import ConfigError
from efflab.measuring.carbon import carbon_intensity_g_per_kwh
from efflab.options import (
    DEFAULT_COUNTRY,
    DEFAULT_CURRENCY,
    DEFAULT_PRICE_PER_KWH,
    parse_currency,
    parse_price_per_kwh,
    parse_queries_per_day,
)

DAYS_PER_YEAR = 365.0


def _key(row: Any) -> Any:
    from efflab.analysis.uncertainty import value

    return value(row, "key")


@dataclass(frozen=True)
class Savings:
    """What switching saves per year. Positive numbers are savings; negative means the candidate costs
    more. ``*_range`` are signed (low, high) 95 % ranges from both points' uncertainty (timing and energy
    basis; see :mod:`efflab.analysis.uncertainty`); ``clear`` is False when the range contains zero
    ("no clear saving"). ``baseline_kwh_range``/``candidate_kwh_range`` are each configuration's own
    yearly energy with its full (statistical and systematic) interval."""

    queries_per_day: float
    country: str
    carbon_intensity_g_per_kwh: float
    price_per_kwh: float
    baseline_kwh_per_year: float
    candidate_kwh_per_year: float
    saved_kwh_per_year: float
    saved_kwh_range: tuple[float, float]
    saved_kg_co2e_per_year: float
    saved_kg_co2e_range: tuple[float, float]
    saved_cost_per_year: float
    saved_cost_range: tuple[float, float]
    estimated: bool
    currency: str = DEFAULT_CURRENCY
    clear: bool = True
    common_systematic: bool = True
    baseline_kwh_range: tuple[float, float] = (math.nan, math.nan)
    candidate_kwh_range: tuple[float, float] = (math.nan, math.nan)
    comparison: Comparison | None = None

    @property
    def paired(self) -> bool:
        """True when the saving comes from a paired comparison (the same interleaved rounds)."""
        return self.comparison is not None and self.comparison.paired

    @property
    def baseline_kg_co2e_per_year(self) -> float:
        return self.baseline_kwh_per_year * self.carbon_intensity_g_per_kwh / 1000

    @property
    def candidate_kg_co2e_per_year(self) -> float:
        return self.candidate_kwh_per_year * self.carbon_intensity_g_per_kwh / 1000

    @property
    def baseline_cost_per_year(self) -> float:
        return self.baseline_kwh_per_year * self.price_per_kwh

    @property
    def candidate_cost_per_year(self) -> float:
        return self.candidate_kwh_per_year * self.price_per_kwh

    @property
    def saved_fraction(self) -> float:
        return (
            self.saved_kwh_per_year / self.baseline_kwh_per_year
            if self.baseline_kwh_per_year > 0
            else math.nan
        )


def savings(
    baseline: Any,
    candidate: Any,
    queries_per_day: float,
    country: str = DEFAULT_COUNTRY,
    price_per_kwh: float = DEFAULT_PRICE_PER_KWH,
    currency: str = DEFAULT_CURRENCY,
    pairings: Pairings | None = None,
) -> Savings:
    """kWh, kg CO2e and cost per year saved by serving ``queries_per_day`` with ``candidate`` instead
    of ``baseline`` (rows or dicts with ``energy_j_per_query`` and, where known,
    ``energy_j_per_query_ci``, ``latency_s``/``latency_ci_s``, ``energy_uncertainty_rel``,
    ``energy_basis``/``energy_measured``, ``energy_source``, ``hardware``).

    Raises:
        ConfigError: negative or non-numeric queries or price, unknown country or currency, or rows
            without energy.
    """
    q = parse_queries_per_day(queries_per_day)
    price = parse_price_per_kwh(price_per_kwh)
    currency = parse_currency(currency)
    intensity = carbon_intensity_g_per_kwh(country)
    eb, ec = number(baseline, "energy_j_per_query"), number(candidate, "energy_j_per_query")
    if eb is None or ec is None:
        msg = "baseline and candidate need a measured energy_j_per_query; pick points with status ok"
        raise ConfigError(msg)
    per_year = q * DAYS_PER_YEAR / 3.6e6  # J/query -> kWh/year
    kb = eb * per_year
    comp: Comparison | None
    saved, lo, hi, comp = saving_range(baseline, candidate, per_year, pairings)
    # Paired, the candidate's yearly energy is the baseline's less the saving (the ratio measured in
    # the same rounds); unpaired it is the candidate's own figure, the same number.
    kc = kb - saved
    common = comp.common_systematic
    same_point = _key(baseline) is not None and _key(baseline) == _key(candidate)
    if same_point:  # one measurement against itself: exactly no saving, no range
        lo = hi = 0.0
        kc, comp = kb, None

    def own(row: Any, e: float) -> tuple[float, float]:
        lo_, hi_ = absolute_range(
            e, statistical_half_j(row) or 0.0, number(row, "energy_uncertainty_rel") or 0.0
        )
        return lo_ * per_year, hi_ * per_year

    from efflab.format import MEASURED, energy_basis

    estimated = not (energy_basis(baseline) == MEASURED and energy_basis(candidate) == MEASURED)
    g = intensity / 1000.0
    return Savings(
        queries_per_day=q,
        country=country.strip().upper(),
        carbon_intensity_g_per_kwh=intensity,
        price_per_kwh=price,
        baseline_kwh_per_year=kb,
        candidate_kwh_per_year=kc,
        saved_kwh_per_year=kb - kc,
        saved_kwh_range=(lo, hi),
        saved_kg_co2e_per_year=(kb - kc) * g,
        saved_kg_co2e_range=(lo * g, hi * g),
        saved_cost_per_year=(kb - kc) * price,
        saved_cost_range=(lo * price, hi * price),
        estimated=estimated,
        currency=currency,
        clear=lo > 0 or hi < 0,
        common_systematic=common,
        baseline_kwh_range=own(baseline, eb),
        candidate_kwh_range=own(candidate, ec),
        comparison=comp,
    )
