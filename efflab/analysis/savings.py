"""Yearly savings of switching from a baseline configuration to a candidate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from efflab.errors import ConfigError
from efflab.measuring.carbon import carbon_intensity_g_per_kwh

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class Savings:
    """What switching saves per year. ``*_range`` are (low, high) from the energy uncertainty.

    Positive numbers are savings; negative means the candidate costs more.
    """

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

    @property
    def baseline_kg_co2e_per_year(self) -> float:
        return self.baseline_kwh_per_year * self.carbon_intensity_g_per_kwh / 1000

    @property
    def candidate_kg_co2e_per_year(self) -> float:
        return self.candidate_kwh_per_year * self.carbon_intensity_g_per_kwh / 1000

    @property
    def saved_fraction(self) -> float:
        return (
            self.saved_kwh_per_year / self.baseline_kwh_per_year
            if self.baseline_kwh_per_year > 0
            else math.nan
        )


def _get(row: Any, key: str, default: Any = None) -> Any:
    try:
        v = row[key]
    except (KeyError, IndexError, TypeError):
        return default
    return default if v is None or (isinstance(v, float) and math.isnan(v)) else v


def savings(
    baseline: Any,
    candidate: Any,
    queries_per_day: float,
    country: str = "USA",
    price_per_kwh: float = 0.15,
) -> Savings:
    """kWh, kg CO2e and cost per year saved by serving ``queries_per_day`` with ``candidate``
    instead of ``baseline`` (rows or dicts with ``energy_j_per_query``, ``energy_measured``,
    ``energy_uncertainty_rel``, ``energy_source``, ``hardware``).

    Where energy is estimated the result carries a range. If both rows come from the same sensor on
    the same hardware the estimation error is largely common to both (the same TDP model scales
    both), so the saving scales by (1 ± u); otherwise the bounds combine both rows' intervals.

    Raises:
        ConfigError: negative queries or price, unknown country, or rows without energy.
    """
    for name, v in (("queries per day", queries_per_day), ("price per kWh", price_per_kwh)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            msg = f"{name} must be a non-negative number, got {v!r}"
            raise ConfigError(msg)
    intensity = carbon_intensity_g_per_kwh(country)
    eb, ec = _get(baseline, "energy_j_per_query"), _get(candidate, "energy_j_per_query")
    if eb is None or ec is None:
        msg = "baseline and candidate need a measured energy_j_per_query; pick points with status ok"
        raise ConfigError(msg)
    per_year = float(queries_per_day) * DAYS_PER_YEAR / 3.6e6  # J/query -> kWh/year
    kb, kc = float(eb) * per_year, float(ec) * per_year
    ub = float(_get(baseline, "energy_uncertainty_rel", 0.0))
    uc = float(_get(candidate, "energy_uncertainty_rel", 0.0))
    saved = kb - kc
    same = _get(baseline, "energy_source") == _get(candidate, "energy_source") and _get(
        baseline, "hardware"
    ) == _get(candidate, "hardware")
    if same:
        u = max(ub, uc)
        lo, hi = sorted((saved * (1 - u), saved * (1 + u)))
    else:
        lo, hi = kb * (1 - ub) - kc * (1 + uc), kb * (1 + ub) - kc * (1 - uc)
    estimated = not (
        bool(_get(baseline, "energy_measured", False)) and bool(_get(candidate, "energy_measured", False))
    )
    g = intensity / 1000.0
    return Savings(
        queries_per_day=float(queries_per_day),
        country=country.upper(),
        carbon_intensity_g_per_kwh=intensity,
        price_per_kwh=float(price_per_kwh),
        baseline_kwh_per_year=kb,
        candidate_kwh_per_year=kc,
        saved_kwh_per_year=saved,
        saved_kwh_range=(lo, hi),
        saved_kg_co2e_per_year=saved * g,
        saved_kg_co2e_range=(lo * g, hi * g),
        saved_cost_per_year=saved * price_per_kwh,
        saved_cost_range=(lo * price_per_kwh, hi * price_per_kwh),
        estimated=estimated,
    )
