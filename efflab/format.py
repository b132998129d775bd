"""How efflab writes numbers and labels for people: one module for the CLI, the report, the dashboard
and the lab, so the same figure reads the same everywhere (and the tests compute their expected text
with these same functions).

Rules: no scientific notation (``0.0000123`` is written ``12.3 µ…`` with an SI prefix, or ``0.0000123``
where a unit has no prefix); ``n/a`` for a missing value, never ``0``; a currency code with every cost;
intervals and signed ranges written low end first with the sign of each end shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

Formatter = Callable[[float | None], str]

STAR = "★"
NO_STAR = "☆"
MISSING = "n/a"

_PREFIXES = (
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "µ"),
    (1e-9, "n"),
)


def _finite(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def sig(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits in plain positional notation (never ``1e-05``):
    ``sig(0.0000123)`` -> ``0.0000123``, ``sig(999.96)`` -> ``1000``, ``sig(123456)`` -> ``123456``."""
    if x == 0:
        return "0"
    exponent = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - exponent)
    text = f"{round(x, decimals):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def si(value: float | None, unit: str, digits: int = 3) -> str:
    """``si(0.0123, 's')`` -> ``12.3 ms``; ``n/a`` for None or NaN. No scientific notation."""
    v = _finite(value)
    if v is None:
        return MISSING
    if v == 0:
        return f"0 {unit}"
    # Round first so 999.96 ms is written 1 s, not 1000 ms.
    exponent = math.floor(math.log10(abs(v)))
    v = round(v, digits - 1 - exponent)
    for scale, p in _PREFIXES:
        if abs(v) >= scale:
            return f"{sig(v / scale, digits)} {p}{unit}"
    scale, p = _PREFIXES[-1]
    return f"{sig(v / scale, digits)} {p}{unit}"


def nbytes(n: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; ``n/a`` for None."""
    if n is None:
        return MISSING
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if x < 1024 or unit == "TiB":
            return f"{x:.1f} {unit}" if unit != "B" else f"{int(x)} B"
        x /= 1024
    return f"{n} B"


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain-text table with a dashed rule under the headers."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def number(x: float | None) -> str:
    """Three significant digits, thousands separated: ``1,234`` · ``12.3`` · ``0.0123``; ``n/a`` for
    None or NaN."""
    v = _finite(x)
    if v is None:
        return MISSING
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return sig(v, 3)


def signed(x: float | None, fmt: Formatter = number) -> str:
    """``+1.2 kWh`` / ``-3.4 kWh`` / ``0 kWh``: the sign always shown (``fmt`` writes the magnitude)."""
    v = _finite(x)
    if v is None:
        return MISSING
    if v == 0:
        return fmt(0.0)
    return ("+" if v > 0 else "-") + fmt(abs(v))


def wh(x: float | None) -> str:
    """Energy in Wh with an SI prefix: ``0.0123`` -> ``12.3 mWh``, ``0.000296`` -> ``296 µWh``."""
    return si(x, "Wh")


def kwh(x: float | None) -> str:
    """Energy in kWh: ``1,234 kWh``."""
    return f"{number(x)} kWh"


def kg(x: float | None) -> str:
    """Mass of CO2-equivalent in kg: ``56.7 kg CO2e``."""
    return f"{number(x)} kg CO2e"


def money(x: float | None, currency: str) -> str:
    """An amount with its currency code: ``12.34 USD`` below 1,000, ``12,345 EUR`` above."""
    v = _finite(x)
    if v is None:
        return MISSING
    amount = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"
    return f"{amount} {currency}"


def money_fmt(currency: str) -> Formatter:
    """A one-argument money formatter for ``span``/``saving``/``signed``."""
    return lambda x: money(x, currency)


def price(per_kwh: float, currency: str) -> str:
    """``0.15 USD/kWh``."""
    return f"{sig(float(per_kwh), 3)} {currency}/kWh"


def percent(fraction: float | None, digits: int = 1) -> str:
    """``0.8123`` -> ``81.2 %``; ``not measured`` for None or NaN."""
    v = _finite(fraction)
    if v is None:
        return "not measured"
    return f"{v * 100:.{digits}f} %"


def accuracy(fraction: float | None, low: float | None = None, high: float | None = None) -> str:
    """``80.9 % (95 % CI 78.3 % – 83.2 %)``; the interval is left out where unknown; ``not measured``
    for a missing accuracy."""
    text = percent(fraction)
    if _finite(fraction) is None or _finite(low) is None or _finite(high) is None:
        return text
    return f"{text} (95 % CI {span(float(low), float(high), percent)})"  # type: ignore[arg-type]


def points(fraction: float | None, digits: int = 1) -> str:
    """A difference of accuracies in percentage points, signed: ``0.004`` -> ``+0.4 pt``."""
    v = _finite(fraction)
    if v is None:
        return MISSING
    return f"{v * 100:+.{digits}f} pt"


def signed_percent(x: float | None) -> str:
    """A relative difference already in percent, signed, two significant digits: ``-12 %``, ``+3.1 %``."""
    v = _finite(x)
    if v is None:
        return MISSING
    if abs(v) < 0.05:
        return "0 %"
    return ("+" if v > 0 else "-") + f"{sig(abs(v), 2)} %"


def signed_points(x: float | None) -> str:
    """A difference already in percentage points, signed, one decimal: ``-1.9 pt``, ``+0.4 pt``."""
    v = _finite(x)
    if v is None:
        return MISSING
    return f"{v:+.1f} pt".replace("+0.0 pt", "0.0 pt").replace("-0.0 pt", "0.0 pt")


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


def signed_span(lo: float, hi: float, fmt: Formatter = number) -> str:
    """A signed range, low end first, each end with its sign: ``-1.2 kWh – +3.4 kWh``."""
    lo, hi = sorted((lo, hi))
    return f"{signed(lo, fmt)} – {signed(hi, fmt)}"


def interval(value: float | None, half: float | None, fmt: Formatter = number) -> str:
    """``12.3 ms ± 0.4 ms``; the value alone when the half-width is unknown."""
    if _finite(value) is None:
        return MISSING
    h = _finite(half)
    return fmt(value) if h is None else f"{fmt(value)} ± {fmt(abs(h))}"


RERUN_INTERVAL = "95 % re-run interval"
"""What every energy and latency ± means (the windows' spread plus the machine's run spread:
:mod:`efflab.measuring.rerun`)."""


def saving(saved: float, fmt: Formatter = number) -> str:
    """``1,234 kWh saved`` for a positive saving, ``56.7 kWh more`` for a negative one, ``no change``
    for zero (``fmt`` is one of the unit formatters above)."""
    if saved == 0 or not math.isfinite(saved):
        return "no change"
    return f"{fmt(abs(saved))} saved" if saved > 0 else f"{fmt(abs(saved))} more"


def _get(row: Any, key: str, default: Any = None) -> Any:
    """``row[key]`` for a results row or dict, ``row.key`` for a record; ``default`` when absent."""
    if hasattr(row, "get"):
        return row.get(key, default)
    return getattr(row, key, default)


def config_label(row: Any, *, short: bool = False) -> str:
    """``minilm-l6 · batch 32 · int8`` for a results row, a Config or a Measurement;
    ``minilm-l6 · b32 · int8`` with ``short`` (plot points and legends)."""
    batch = f"b{int(_get(row, 'batch_size', 0))}" if short else f"batch {int(_get(row, 'batch_size', 0))}"
    return f"{_get(row, 'model')} · {batch} · {_get(row, 'precision')}"


# Energy basis words (contract: Measurement.energy_basis is one of these).
MEASURED = "measured"
MODELLED = "modelled"
MODELLED_USER = "modelled (user watts)"


def energy_basis(row: Any) -> str:
    """The basis of a point's energy: ``measured``, ``modelled`` or ``modelled (user watts)``.
    Old rows without ``energy_basis`` derive it from ``energy_measured``."""
    basis = _get(row, "energy_basis")
    if isinstance(basis, str) and basis:
        return basis
    measured = _get(row, "energy_measured")
    return MEASURED if measured is True or _finite(measured) == 1 else MODELLED


def energy_kind(rows: Any) -> str:
    """``measured``, ``modelled`` or ``partly modelled`` for the energy of several rows (a results
    frame, or any iterable of rows); ``modelled`` when there are none."""
    it = (r for _, r in rows.iterrows()) if hasattr(rows, "iterrows") else iter(rows)
    m = [energy_basis(r) == MEASURED for r in it]
    if not m:
        return MODELLED
    return MEASURED if all(m) else (MODELLED if not any(m) else f"partly {MODELLED}")


def energy_wording(row: Any) -> str:
    """``measured (rapl)`` or ``modelled (codecarbon, ±30 %)``: the basis, the source and, for a modelled
    figure, its systematic uncertainty."""
    basis = energy_basis(row)
    src = _get(row, "energy_source") or "unknown sensor"
    if basis == MEASURED:
        return f"measured ({src})"
    u = _finite(_get(row, "energy_uncertainty_rel"))
    unc = f", ±{u * 100:.0f} %" if u else ""
    return f"{basis} ({src}{unc})"


def saving_headline(saved: float, clear: bool, fmt: Formatter = number) -> str:
    """The headline of a saving: ``1,234 kWh saved``, ``56.7 kWh more``, ``no clear saving`` when its
    range contains zero, ``no change`` when it is exactly zero (the same configuration, no traffic)."""
    if saved == 0:
        return "no change"
    return saving(saved, fmt) if clear else "no clear saving"


def saving_range(lo: float, hi: float, fmt: Formatter = number) -> str:
    """A saving's range in the same sense as its headline: ``1,000 – 1,400 kWh saved`` (both ends
    saved), ``3.95 – 11.9 kWh more`` (both ends cost more), or the signed range ``-1.2 kWh – +3.4 kWh
    saved`` when it crosses zero."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "range unknown (a point has no interval)"
    lo, hi = sorted((lo, hi))
    if lo > 0:
        return f"{span(lo, hi, fmt)} saved"
    if hi < 0:
        return f"{span(-hi, -lo, fmt)} more"
    return f"{signed_span(lo, hi, fmt)} saved"
