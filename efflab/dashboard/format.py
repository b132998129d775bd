"""How the dashboard writes numbers. The browser tests compute their expected text with these same
functions, so what a manager reads and what the tests check cannot drift apart."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Formatter = Callable[[float | None], str]

STAR = "★"
NO_STAR = "☆"


def number(x: float | None) -> str:
    """Three significant digits, thousands separated: ``1,234`` · ``12.3`` · ``0.0123``; ``n/a`` for
    None or NaN."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    x = float(x)
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def wh(x: float | None) -> str:
    """Energy in Wh: ``0.0123 Wh``."""
    return f"{number(x)} Wh"


def kwh(x: float | None) -> str:
    """Energy in kWh: ``1,234 kWh``."""
    return f"{number(x)} kWh"


def kg(x: float | None) -> str:
    """Mass of CO2-equivalent in kg: ``56.7 kg CO2e``."""
    return f"{number(x)} kg CO2e"


def money(x: float | None) -> str:
    """An amount in the currency of the price per kWh (the dashboard does not assume one):
    two decimals below 1,000 (``12.34``), whole units above (``12,345``)."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    x = float(x)
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.2f}"


def percent(fraction: float | None, digits: int = 1) -> str:
    """``0.8123`` -> ``81.2 %``; ``not measured`` for None or NaN."""
    if fraction is None or not math.isfinite(float(fraction)):
        return "not measured"
    return f"{float(fraction) * 100:.{digits}f} %"


def stars(n: int | None) -> str:
    """``★★★☆☆`` for 3; ``unrated`` for 0 or None."""
    if not n:
        return "unrated"
    n = max(0, min(5, int(n)))
    return STAR * n + NO_STAR * (5 - n)


def span(lo: float, hi: float, fmt: Formatter = number) -> str:
    """A range written with the formatter ``fmt``, low end first: ``1.2 kWh – 3.4 kWh``."""
    lo, hi = sorted((lo, hi))
    return f"{fmt(lo)} – {fmt(hi)}"


def saving(saved: float, fmt: Formatter = number) -> str:
    """``1,234 kWh saved`` for a positive saving, ``56.7 kWh more`` for a negative one, ``no change``
    for zero (``fmt`` is one of the unit formatters above)."""
    if saved == 0 or not math.isfinite(saved):
        return "no change"
    return f"{fmt(abs(saved))} saved" if saved > 0 else f"{fmt(abs(saved))} more"


def config_label(row: Any) -> str:
    """``minilm-l6 · batch 32 · int8`` for a results row."""
    return f"{row['model']} · batch {int(row['batch_size'])} · {row['precision']}"
