"""Deciding under uncertainty: is one accuracy distinguishable from another, do two energies differ,
and what range does a saving have.

The rules (also in docs/decisions.md):

* **Accuracy.** Two configurations evaluated on the same test texts are compared with the exact
  McNemar test on their per-example correctness (two-sided, 95 %): only the texts where they disagree
  count. Without per-example correctness (old stores) the comparison falls back to an unpaired
  two-proportion z-test from each accuracy and its sample size (or its Wilson interval), and says so.
* **Energy of one point.** Two parts, both 95 % half-widths in J per query:
  ``statistical`` (``energy_j_per_query_ci``, the re-run interval: the windows' spread plus the
  machine's run spread, :mod:`efflab.measuring.rerun`; where a point has no energy interval of its
  own, the relative re-run interval of its latency, since energy is power × time) and ``systematic``
  (``energy_uncertainty_rel`` × energy: how far the sensor or power model may be off).
* **Comparing two points** and **savings**: :mod:`efflab.analysis.compare` (paired where the two
  were measured in the same interleaved rounds, else a test on the difference of their re-run
  intervals). Absolute yearly figures (kWh, CO2e, cost of one configuration) carry their point's full
  interval (:func:`absolute_range`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Z95 = 1.959963984540054


def value(row: Any, key: str) -> Any:
    """``row[key]`` or None when absent, None or NaN (rows of old stores lack new columns)."""
    try:
        v = row[key]
    except (KeyError, IndexError, TypeError):
        return None
    if v is None:
        return None
    try:
        if isinstance(v, float) and math.isnan(v):
            return None
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
    except (TypeError, ValueError):
        return None
    return v


def number(row: Any, key: str) -> float | None:
    """``row[key]`` as a finite float, else None."""
    v = value(row, key)
    if v is None or isinstance(v, str):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# ----- accuracy ---------------------------------------------------------------------------------


MIN_PAIRED_TEXTS = 50
"""Fewest shared test texts for the paired (McNemar) comparison; fewer falls back to the unpaired test."""


def mcnemar_exact_p(a_correct: str, b_correct: str) -> float:
    """Two-sided exact McNemar p-value for two '0'/'1' strings of per-example correctness on the same
    texts: a binomial test (p = 1/2) on the texts where exactly one of the two is right."""
    b = sum(1 for x, y in zip(a_correct, b_correct) if x == "1" and y == "0")
    c = sum(1 for x, y in zip(a_correct, b_correct) if x == "0" and y == "1")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def unpaired_p(
    acc_a: float, n_a: float | None, acc_b: float, n_b: float | None, ci_a: Any, ci_b: Any
) -> float:
    """Two-sided p-value of an unpaired two-proportion z-test. Standard errors come from the sample
    sizes, or from the 95 % intervals (``(low, high)`` or None) when the sizes are unknown; 1.0 when
    neither is known (nothing can be told apart)."""

    def se(acc: float, n: float | None, ci: Any) -> float | None:
        if n and n > 0:
            return math.sqrt(max(acc * (1 - acc), 1e-12) / n)
        if ci and ci[0] is not None and ci[1] is not None:
            return (float(ci[1]) - float(ci[0])) / (2 * Z95)
        return None

    sa, sb = se(acc_a, n_a, ci_a), se(acc_b, n_b, ci_b)
    if sa is None or sb is None or sa + sb == 0:
        return 1.0
    z = abs(acc_a - acc_b) / math.sqrt(sa**2 + sb**2)
    return math.erfc(z / math.sqrt(2))


@dataclass(frozen=True)
class AccuracyComparison:
    """How a configuration's accuracy compares with the best's.

    ``method`` is ``paired`` (exact McNemar on per-example correctness), ``unpaired`` (z-test from the
    accuracies and their sizes or Wilson intervals) or ``same`` (the configuration is the best)."""

    difference: float
    p_value: float
    method: str
    within_tolerance: bool
    indistinguishable: bool

    @property
    def admitted(self) -> bool:
        """As accurate as the best: within the tolerance or not distinguishable from it (95 %)."""
        return self.within_tolerance or self.indistinguishable


def compare_accuracy(best: Any, other: Any, tolerance: float) -> AccuracyComparison:
    """Compare ``other``'s accuracy with ``best``'s (rows with ``accuracy`` and, where stored,
    ``accuracy_correct``, ``n_eval``, ``accuracy_ci_low``/``_high``)."""
    ab, ao = float(best["accuracy"]), float(other["accuracy"])
    diff = ab - ao
    within = diff <= tolerance + 1e-12
    cb, co = value(best, "accuracy_correct"), value(other, "accuracy_correct")
    if isinstance(cb, str) and isinstance(co, str) and min(len(cb), len(co)) >= MIN_PAIRED_TEXTS:
        # Both strings are in the task's test order (one cohort = one task), so a point scored on a
        # documented subset (the prompted LLM's first 200 texts) pairs with the others on that prefix.
        n = min(len(cb), len(co))
        p, method = mcnemar_exact_p(cb[:n], co[:n]), "paired"
    else:
        p = unpaired_p(
            ab,
            number(best, "n_eval"),
            ao,
            number(other, "n_eval"),
            (number(best, "accuracy_ci_low"), number(best, "accuracy_ci_high")),
            (number(other, "accuracy_ci_low"), number(other, "accuracy_ci_high")),
        )
        method = "unpaired"
    return AccuracyComparison(diff, p, method, within, diff <= 0 or p >= 0.05)


# ----- energy -----------------------------------------------------------------------------------


def basis_of(row: Any) -> str:
    from efflab.format import energy_basis

    return energy_basis(row)


def statistical_half_j(row: Any) -> float | None:
    """95 % statistical half-width of the energy per query in J: ``energy_j_per_query_ci``, else the
    relative latency interval applied to the energy (energy = power × time); None when neither is known."""
    ci = number(row, "energy_j_per_query_ci")
    if ci is not None:
        return abs(ci)
    e, lat, lci = number(row, "energy_j_per_query"), number(row, "latency_s"), number(row, "latency_ci_s")
    if e is not None and lat and lci is not None:
        return abs(e * lci / lat)
    return None


def statistical_half_wh(row: Any) -> float | None:
    """:func:`statistical_half_j` in the units of ``wh_per_1000_queries`` (Wh per 1000 queries)."""
    half, e, wh = (
        statistical_half_j(row),
        number(row, "energy_j_per_query"),
        number(row, "wh_per_1000_queries"),
    )
    if half is None or not e or wh is None:
        return None
    return wh * half / e


def systematic_half_j(row: Any) -> float:
    """95 % systematic half-width in J per query: ``energy_uncertainty_rel`` × energy."""
    e, u = number(row, "energy_j_per_query"), number(row, "energy_uncertainty_rel")
    return abs((e or 0.0) * (u or 0.0))


def absolute_range(e: float, stat: float, u: float) -> tuple[float, float]:
    """Range of one point's energy (any unit) from its statistical half-width and relative
    systematic uncertainty: ``((e − stat)(1 − u), (e + stat)(1 + u))``, never below zero."""
    return (max(0.0, (e - stat) * (1 - u)), (e + stat) * (1 + u))
