"""Grid carbon intensity per country, from CodeCarbon's offline data (no network)."""

from __future__ import annotations

import functools
import json
from importlib import resources

from efflab.errors import ConfigError, closest


@functools.cache
def _energy_mix() -> dict[str, dict[str, object]]:
    ref = resources.files("codecarbon") / "data" / "private_infra" / "global_energy_mix.json"
    data: dict[str, dict[str, object]] = json.loads(ref.read_text())
    return data


def countries() -> list[str]:
    """ISO 3166-1 alpha-3 codes that have a carbon intensity."""
    return sorted(k for k, v in _energy_mix().items() if v.get("carbon_intensity") is not None)


def carbon_intensity_g_per_kwh(country: str) -> float:
    """Grid carbon intensity of ``country`` in g CO2e per kWh (CodeCarbon's offline energy mix).

    Raises:
        ConfigError: the code is unknown.
    """
    code = country.strip().upper()
    row = _energy_mix().get(code)
    if row is None or row.get("carbon_intensity") is None:
        msg = f"unknown country {country!r}: use an ISO 3166-1 alpha-3 code such as USA, FRA, DEU.{closest(code, countries())}"
        raise ConfigError(msg)
    return float(row["carbon_intensity"])  # type: ignore[arg-type]


def country_name(country: str) -> str:
    row = _energy_mix().get(country.strip().upper()) or {}
    return str(row.get("country_name", country))
