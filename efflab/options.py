"""The one declaration of the options a person sets: each with its default, its help line and its
parser (validation), shared by :class:`efflab.analysis.AssessInputs`, the CLI (``efflab recommend``),
the report parameters (:class:`efflab.report.ReportParams`), the dashboard's inputs and the lab.

The configuration fields themselves (``model``, ``batch_size``, ``precision``, ``device``,
``seq_len``, ``task``, ``cast``) are declared once in :class:`efflab.config.Config` (with their
parsers ``parse_device``, ``parse_precision``, ``positive_int``); the sweep grid, the report filter and
the lab's selection validate with those same parsers.

Every parser accepts the value as the right type or as text (a CLI argument, a papermill ``-p``
parameter, a text box) and raises :class:`~efflab.errors.ConfigError` with one line naming the value
and the fix.

Tolerance is a **fraction** everywhere (``0.01`` = 1 percentage point). Text may say ``1pt`` (points)
or ``1%``; a bare number above 0.5 is refused rather than guessed (``1`` would otherwise mean
"anything within 100 points").
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from efflab.config import (
    DEFAULT_COUNTRY,
    DEFAULT_CURRENCY,
    DEFAULT_PRICE_PER_KWH,
    DEFAULT_QUERIES_PER_DAY,
    DEFAULT_TOLERANCE,
)
from efflab.errors import ConfigError, closest
from efflab.format import sig

MAX_TOLERANCE = 0.5

# ISO 4217 codes accepted for the price (the common ones; the figure is only labelled, never converted).
CURRENCIES: tuple[str, ...] = (
    "USD", "EUR", "GBP", "JPY", "CNY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN", "CZK",
    "HUF", "RON", "BGN", "ISK", "TRY", "INR", "KRW", "SGD", "HKD", "TWD", "THB", "MYR", "IDR", "PHP",
    "VND", "BRL", "MXN", "ARS", "CLP", "COP", "PEN", "ZAR", "NGN", "KES", "EGP", "MAD", "ILS", "AED",
    "SAR", "QAR", "RUB", "UAH", "KZT", "PKR", "BDT", "LKR",
)  # fmt: skip


def _number(name: str, value: Any, fix: str) -> float:
    if isinstance(value, bool):
        msg = f"{name} must be a number, got {value!r}; {fix}"
        raise ConfigError(msg)
    x = value
    if isinstance(value, str):
        try:
            x = float(value.strip().replace("_", "").replace(",", ""))
        except ValueError:
            msg = f"{name} must be a number, got {value!r}; {fix}"
            raise ConfigError(msg) from None
    if not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        msg = f"{name} must be a finite number, got {value!r}; {fix}"
        raise ConfigError(msg)
    return float(x)


def parse_queries_per_day(value: Any) -> float:
    """Queries per day (>= 0) for the yearly figures."""
    x = _number("queries per day", value, "give a non-negative number such as 1000000")
    if x < 0:
        msg = f"queries per day must be >= 0, got {value!r}; give a non-negative number such as 1000000"
        raise ConfigError(msg)
    return x


def parse_price_per_kwh(value: Any) -> float:
    """Electricity price per kWh (>= 0), in :data:`DEFAULT_CURRENCY` unless a currency is given."""
    x = _number("price per kWh", value, "give a non-negative number such as 0.15")
    if x < 0:
        msg = f"price per kWh must be >= 0, got {value!r}; give a non-negative number such as 0.15"
        raise ConfigError(msg)
    return x


def parse_country(value: Any) -> str:
    """An ISO 3166-1 alpha-3 code with a known grid carbon intensity (upper-cased)."""
    from efflab.measuring.carbon import carbon_intensity_g_per_kwh

    if not isinstance(value, str) or not value.strip():
        msg = f"country must be an ISO 3166-1 alpha-3 code such as USA, FRA or DEU, got {value!r}"
        raise ConfigError(msg)
    carbon_intensity_g_per_kwh(value)  # raises ConfigError naming the value
    return value.strip().upper()


def parse_currency(value: Any) -> str:
    """An ISO 4217 currency code (upper-cased); the cost is labelled with it, never converted."""
    code = value.strip().upper() if isinstance(value, str) else value
    if not isinstance(code, str) or code not in CURRENCIES:
        msg = (
            f"unknown currency {value!r}; use an ISO 4217 code such as USD, EUR or GBP."
            f"{closest(str(code), CURRENCIES)}"
        )
        raise ConfigError(msg)
    return code


def parse_tolerance(value: Any) -> float:
    """The accuracy tolerance as a fraction in [0, 0.5] (0.01 = 1 point). Text may be ``0.01``,
    ``1pt``, ``1 pt``, ``1 point(s)`` or ``1%``."""
    fix = "give a fraction such as 0.01, or points such as 1pt"
    m = (
        re.fullmatch(r"([0-9]*\.?[0-9]+)\s*(pt|pts|points?|%)", value.strip().lower())
        if isinstance(value, str)
        else None
    )
    x = float(m.group(1)) / 100 if m else _number("accuracy tolerance", value, fix)
    if not 0 <= x <= MAX_TOLERANCE:
        # Both units in the message: the CLI takes a fraction, the dashboard's box shows points.
        msg = (
            f"accuracy tolerance must be a fraction between 0 and {MAX_TOLERANCE:g} (0.01 = 1 point), got "
            f"{value!r} ({sig(x * 100, 3)} pt); {fix}"
        )
        raise ConfigError(msg)
    return float(x)


def parse_tolerance_points(value: Any) -> float:
    """The accuracy tolerance typed in **points** (a box labelled "pt": ``1`` is one percentage
    point), returned as the fraction every other layer takes; the error speaks in points too.

    Raises:
        ConfigError: not a number, or outside 0 to 50 points (``MAX_TOLERANCE``).
    """
    top = MAX_TOLERANCE * 100
    fix = f"type the points a configuration may lose against the best, from 0 to {top:g} (e.g. 1)"
    x = _number("accuracy tolerance", value, fix)
    if not 0 <= x <= top:
        msg = f"accuracy tolerance must be between 0 and {top:g} points, got {sig(x, 3)} points; {fix}"
        raise ConfigError(msg)
    return min(x / 100, MAX_TOLERANCE)


def parse_optional_text(value: Any) -> str | None:
    """None for None or an empty/``none`` text, else the stripped text."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in ("", "none", "null", "~") else text


BASELINE_FORM = "MODEL:BATCH:PRECISION such as minilm-l6:1:fp32"


def baseline_parts(value: str) -> tuple[str, int, str] | None:
    """``(model, batch, precision)`` of a ``MODEL:BATCH:PRECISION`` baseline; None for anything else (a
    store key). The one reading of a baseline, for the CLI, the report, the dashboard and the lab.

    Raises:
        ConfigError: three parts that are not a model, a positive batch size and a known precision.
    """
    from efflab.config import parse_precision

    parts = [p.strip() for p in value.split(":")]
    if len(parts) != 3:
        return None
    model, batch, prec = parts
    if not model or not batch.isdigit() or int(batch) < 1:
        msg = f"baseline must look like {BASELINE_FORM} (or be a store key), got {value!r}"
        raise ConfigError(msg)
    try:
        return model, int(batch), parse_precision(prec)
    except ConfigError as e:
        raise ConfigError(f"baseline {value!r}: {e}") from None


def parse_baseline(value: Any) -> str | None:
    """None (the default baseline), a store key as given, or ``MODEL:BATCH:PRECISION`` written the one
    way (``m:08:FP32`` -> ``m:8:fp32``); ConfigError for a malformed one."""
    text = parse_optional_text(value)
    parts = None if text is None else baseline_parts(text)
    return text if parts is None else ":".join(map(str, parts))


@dataclass(frozen=True)
class Option:
    """One option a person sets: its name, default, help line, CLI flag and parser."""

    name: str
    default: Any
    help: str
    flag: str
    parse: Callable[[Any], Any]


ASSESS_OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option(
            "accuracy_tolerance",
            DEFAULT_TOLERANCE,
            "accuracy a configuration may lose against the best, a fraction (0.01 is 1 point; 1pt also works)",
            "--tolerance",
            parse_tolerance,
        ),
        Option(
            "queries_per_day",
            DEFAULT_QUERIES_PER_DAY,
            "queries per day the yearly figures assume",
            "--queries-per-day",
            parse_queries_per_day,
        ),
        Option(
            "country",
            DEFAULT_COUNTRY,
            "ISO alpha-3 code of the grid, for CO2e per kWh",
            "--country",
            parse_country,
        ),
        Option(
            "price_per_kwh",
            DEFAULT_PRICE_PER_KWH,
            "electricity price per kWh, in the currency given (currency)",
            "--price-per-kwh",
            parse_price_per_kwh,
        ),
        Option(
            "currency",
            DEFAULT_CURRENCY,
            "ISO 4217 code of the price (labels costs)",
            "--currency",
            parse_currency,
        ),
        Option(
            "baseline",
            None,
            "baseline as MODEL:BATCH:PRECISION or a store key (default: the most accurate model at its "
            "smallest batch in fp32)",
            "--baseline",
            parse_baseline,
        ),
        Option(
            "cohort",
            None,
            "cohort (TASK @ HARDWARE) to decide in (default: the one with the most eligible points)",
            "--cohort",
            parse_optional_text,
        ),
    )
}


@dataclass(frozen=True)
class AssessOptions:
    """The assessment's options, declared once: :class:`AssessInputs` (the CLI, the dashboard, the lab)
    and :class:`efflab.report.ReportParams` (papermill's flat parameters) are made of these fields,
    each parsed by its :data:`ASSESS_OPTIONS` parser.

    Attributes:
        accuracy_tolerance: fraction (0.01 = 1 point) a configuration may lose against the best and
            still count as accurate enough; text ``1pt`` or ``1%`` also works.
        queries_per_day: traffic the yearly figures assume (>= 0).
        country: ISO alpha-3 code of the grid (CO2e per kWh).
        price_per_kwh: electricity price per kWh in ``currency`` (>= 0).
        currency: ISO 4217 code every cost is labelled with (never converted).
        baseline: ``MODEL:BATCH:PRECISION`` or a store key; None = the default baseline.
        cohort: ``TASK @ HARDWARE``; None = the cohort with the most eligible points.

    Raises:
        ConfigError: a value out of range or of the wrong kind (the message names it and the fix).
    """

    accuracy_tolerance: float = DEFAULT_TOLERANCE
    queries_per_day: float = DEFAULT_QUERIES_PER_DAY
    country: str = DEFAULT_COUNTRY
    price_per_kwh: float = DEFAULT_PRICE_PER_KWH
    currency: str = DEFAULT_CURRENCY
    baseline: str | None = None
    cohort: str | None = None

    def __post_init__(self) -> None:
        for name, option in ASSESS_OPTIONS.items():  # each option's one parser
            object.__setattr__(self, name, self._parse_option(option, getattr(self, name)))

    def _parse_option(self, option: Option, raw: Any) -> Any:
        """``raw`` parsed by ``option``'s parser (a subclass may say its errors its own way)."""
        return option.parse(raw)


@dataclass(frozen=True)
class AssessInputs(AssessOptions):
    """What a person sets; parsed and validated here (values may be text, as typed): the
    :class:`AssessOptions` and the configuration being looked at.

    Attributes:
        selected: store key of the configuration a person is looking at; None = the recommendation.

    Raises:
        ConfigError: a value out of range or of the wrong kind (the message names it and the fix).
    """

    selected: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "selected", parse_optional_text(self.selected))

    def replace(self, **changes: Any) -> AssessInputs:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, d: Any) -> AssessInputs:
        """From any object or mapping with some of the fields (e.g. report parameters, argparse);
        None values take the defaults."""
        names = [f.name for f in dataclasses.fields(cls)]
        get = d.get if hasattr(d, "get") else lambda k, default=None: getattr(d, k, default)
        return cls(**{k: get(k) for k in names if get(k) is not None})


def add_assess_arguments(parser: Any, names: tuple[str, ...] | None = None) -> None:
    """Add the assessment options to an argparse parser (as text; :class:`AssessInputs` parses them)."""
    for o in ASSESS_OPTIONS.values():
        if names is not None and o.name not in names:
            continue
        default = (
            "" if o.default is None else f" (default {o.default:g})" if isinstance(o.default, float) else ""
        )
        if isinstance(o.default, str):
            default = f" (default {o.default})"
        parser.add_argument(o.flag, dest=o.name, default=None, help=o.help + default)
