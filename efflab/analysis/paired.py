"""Paired comparisons: the ratio of two configurations measured in the same interleaved rounds.

Two points measured minutes apart differ by the machine's drift as well as by what they are: on a
2-vCPU VM a point's re-run interval is at least ±16.6 % (the run spread), so comparing two re-run
intervals cannot tell apart configurations closer than about 1.4×. Randomized multiple interleaved
trials (RMIT, Abedi & Brecht 2017) take that drift out: every contender is loaded at once and each
*round* visits every contender once, in a fresh random order (:mod:`efflab.measuring.rounds`). Within
a round the contenders share the machine's state, so the per-round log-ratio

    d_r = log(x_a,r / x_b,r)          x = energy (J) or wall time (s) per query of a visit

carries what differs between the two and little of what they share. The ratio is the geometric mean
``exp(mean d)`` and its interval ``exp(mean d ± c · sd(d) / sqrt(n))`` over the ``n`` rounds both
were visited in, with ``c`` Student's t on ``n − 1`` degrees of freedom. A round with a disturbed visit
(a burst of other work, a descheduled vCPU) is dropped for every contender at once, so load costs
rounds, not points.

**Looking more than once.** A paired run stops as soon as its decisions are settled, so it looks at
the intervals several times; at a fixed 95 % per look, the chance that an A/A comparison (a
configuration against itself) reads "different" at one of the looks grows with their number. The
interval of a run that may stop at one of ``looks`` planned looks is therefore a *repeated
confidence interval* (Jennison & Turnbull) with Pocock's constant: each look uses the nominal level
that keeps the chance of any false "different" over all the looks at 5 %. A run with a fixed number
of rounds (``efflab compare --rounds N``) looks once and prints the plain 95 % interval.

**Verdicts** on the ratio a / b, with an equivalence margin ``m`` (3 % by default):
``lower`` (the interval lies below 1), ``higher`` (above 1), ``equivalent`` (the interval lies within
[1/(1 + m), 1 + m]: whatever the difference is, it is smaller than the margin) and ``no clear
difference`` (the interval contains 1 and reaches beyond the margin: the rounds could not tell).
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from efflab.records import Visit

METRICS: tuple[str, ...] = ("energy", "latency")
"""What a paired run compares, per query: ``energy`` (J) and ``latency`` (wall seconds)."""

DEFAULT_MARGIN = 0.03
"""Equivalence margin: two configurations whose ratio's interval lies within ±3 % are equivalent."""

MIN_ROUNDS = 3
"""Fewest shared clean rounds a paired ratio is computed from (t on 2 degrees of freedom)."""

# Pocock's nominal two-sided level per look for an overall 5 % over K looks (Jennison & Turnbull,
# "Group Sequential Methods", table 2.1: C_P(K, 0.05) = 1.960, 2.178, 2.289, 2.361, 2.413, 2.453,
# 2.485, 2.512, 2.535, 2.555 for K = 1..10, as two-sided normal tail probabilities).
_POCOCK_ALPHA = (0.05, 0.0294, 0.0221, 0.0182, 0.0158, 0.0142, 0.0130, 0.0120, 0.0112, 0.0106)


class Verdict(str, enum.Enum):
    """What a paired interval says about a / b."""

    LOWER = "lower"
    HIGHER = "higher"
    EQUIVALENT = "equivalent"
    NO_CLEAR_DIFFERENCE = "no clear difference"

    def __str__(self) -> str:
        return self.value

    @property
    def settled(self) -> bool:
        """True when more rounds would not change the decision (a difference, or equivalence)."""
        return self is not Verdict.NO_CLEAR_DIFFERENCE

    @property
    def differs(self) -> bool:
        return self in (Verdict.LOWER, Verdict.HIGHER)


def look_alpha(looks: int) -> float:
    """The two-sided level each of ``looks`` planned looks uses so that all of them together keep a
    5 % chance of a false difference (Pocock; beyond 10 looks, Bonferroni's bound on the 10-look
    value, which is conservative)."""
    if looks < 1:
        msg = f"looks must be at least 1, got {looks!r}"
        raise ValueError(msg)
    if looks <= len(_POCOCK_ALPHA):
        return _POCOCK_ALPHA[looks - 1]
    return _POCOCK_ALPHA[-1] * len(_POCOCK_ALPHA) / looks


def critical_t(n: int, looks: int = 1) -> float:
    """Student t critical value on ``n − 1`` degrees of freedom for one of ``looks`` looks."""
    if n < 2:
        return math.inf
    from scipy.stats import t

    return float(t.ppf(1 - look_alpha(looks) / 2, n - 1))


@dataclass(frozen=True)
class PairedRatio:
    """The ratio a / b of one metric per query, from the rounds both were visited in.

    Attributes:
        metric: ``energy`` or ``latency`` (per query).
        a, b: the two points' store keys.
        ratio: geometric mean of the per-round ratios a / b.
        low, high: its 95 % interval (a repeated confidence interval when ``looks`` > 1).
        n_rounds: clean rounds both were visited in.
        n_dropped: shared rounds dropped because a visit in them was disturbed.
        sessions: how many paired runs the rounds come from.
        margin: the equivalence margin the verdict uses (0.03 = ±3 %).
        looks: how many looks the interval is corrected for (1: a fixed number of rounds).
    """

    metric: str
    a: str
    b: str
    ratio: float
    low: float
    high: float
    n_rounds: int
    n_dropped: int = 0
    sessions: int = 1
    margin: float = DEFAULT_MARGIN
    looks: int = 1

    @property
    def verdict(self) -> Verdict:
        if self.high < 1.0:
            return Verdict.LOWER
        if self.low > 1.0:
            return Verdict.HIGHER
        if self.low >= 1.0 / (1.0 + self.margin) and self.high <= 1.0 + self.margin:
            return Verdict.EQUIVALENT
        return Verdict.NO_CLEAR_DIFFERENCE

    @property
    def percent(self) -> tuple[float, float, float]:
        """The difference a − b relative to b, in percent: (estimate, low, high)."""
        return ((self.ratio - 1) * 100, (self.low - 1) * 100, (self.high - 1) * 100)

    def inverse(self) -> PairedRatio:
        """The same comparison as b / a."""
        return PairedRatio(
            self.metric,
            self.b,
            self.a,
            1.0 / self.ratio,
            1.0 / self.high,
            1.0 / self.low,
            self.n_rounds,
            self.n_dropped,
            self.sessions,
            self.margin,
            self.looks,
        )


def autocorrelation_factor(d: Sequence[float]) -> float:
    """How much wider than the independent-rounds interval the rounds' correlation makes it (>= 1).

    Load on a shared machine comes in spells longer than a round, so consecutive rounds' log-ratios can
    lean the same way; the variance of their mean is then ``var/n · (1 + 2 Σ w_k ρ_k)`` (Bartlett
    weights ``w_k = 1 − k/(L+1)`` over the first ``L ≈ n^(1/3)`` lags, as in Newey–West). The factor is
    the square root of that bracket, never below 1: rounds are never taken as more independent than
    independent."""
    n = len(d)
    if n < 8:
        return 1.0
    mu = math.fsum(d) / n
    dev = [x - mu for x in d]
    c0 = math.fsum(x * x for x in dev) / n
    if c0 <= 0:
        return 1.0
    lags = max(1, round(n ** (1 / 3)))
    acc = 0.0
    for k in range(1, lags + 1):
        ck = math.fsum(dev[i] * dev[i + k] for i in range(n - k)) / n
        acc += (1 - k / (lags + 1)) * ck / c0
    return math.sqrt(max(1.0, 1 + 2 * acc))


def log_ratio_interval(d: Sequence[float], looks: int = 1) -> tuple[float, float, float]:
    """(mean, low, high) of per-round log-ratios ``d`` (widened for correlated rounds,
    :func:`autocorrelation_factor`); an infinite interval with fewer than two."""
    n = len(d)
    if n == 0:
        return math.nan, -math.inf, math.inf
    mu = math.fsum(d) / n
    if n < 2:
        return mu, -math.inf, math.inf
    half = critical_t(n, looks) * statistics.stdev(d) / math.sqrt(n) * autocorrelation_factor(d)
    return mu, mu - half, mu + half


def _rounds(visits: Iterable[Visit]) -> dict[tuple[str, int], dict[str, Visit]]:
    """Visits grouped by round (session, round number) and key."""
    out: dict[tuple[str, int], dict[str, Visit]] = {}
    for v in visits:
        out.setdefault((v.session, v.round), {})[v.key] = v
    return out


def disturbed_rounds(visits: Iterable[Visit]) -> set[tuple[str, int]]:
    """Rounds (session, number) with at least one disturbed visit: dropped for every contender."""
    return {(v.session, v.round) for v in visits if v.disturbed}


def per_round_log_ratios(
    visits: Iterable[Visit], a: str, b: str, metric: str = "energy"
) -> tuple[list[float], int, int]:
    """The log-ratios a / b of the clean rounds both were visited in, how many shared rounds were
    dropped as disturbed, and from how many sessions the clean ones come."""
    if metric not in METRICS:
        msg = f"unknown metric {metric!r}; use one of {', '.join(METRICS)}"
        raise ValueError(msg)
    by_round = _rounds(visits)
    d: list[float] = []
    dropped = 0
    sessions: set[str] = set()
    for (session, _), members in sorted(by_round.items()):
        va, vb = members.get(a), members.get(b)
        if va is None or vb is None:
            continue
        if any(v.disturbed for v in members.values()):
            dropped += 1
            continue
        xa, xb = va.per_query(metric), vb.per_query(metric)
        if not (xa > 0 and xb > 0 and math.isfinite(xa) and math.isfinite(xb)):
            dropped += 1
            continue
        d.append(math.log(xa / xb))
        sessions.add(session)
    return d, dropped, len(sessions)


def paired_ratio(
    visits: Iterable[Visit],
    a: str,
    b: str,
    metric: str = "energy",
    *,
    margin: float = DEFAULT_MARGIN,
    looks: int = 1,
    min_rounds: int = MIN_ROUNDS,
) -> PairedRatio | None:
    """The paired ratio a / b of ``metric`` per query, or None with fewer than ``min_rounds`` shared
    clean rounds (then the two are compared by their re-run intervals instead)."""
    vs = list(visits)
    d, dropped, sessions = per_round_log_ratios(vs, a, b, metric)
    if len(d) < max(2, min_rounds):
        return None
    mu, lo, hi = log_ratio_interval(d, looks)
    return PairedRatio(
        metric=metric,
        a=a,
        b=b,
        ratio=math.exp(mu),
        low=math.exp(lo),
        high=math.exp(hi),
        n_rounds=len(d),
        n_dropped=dropped,
        sessions=sessions,
        margin=margin,
        looks=looks,
    )


class Pairings:
    """Every visit of a set of points, with paired ratios on demand (what the assessment consults).

    ``ratio(a, b)`` is the paired ratio a / b of energy per query, or None where the two share no
    (or too few) clean rounds: they were measured in different sweeps, on other days or machines.
    ``looks`` maps a session to the number of looks its intervals are corrected for (1 when absent).
    """

    def __init__(
        self,
        visits: Iterable[Visit] = (),
        *,
        looks: dict[str, int] | None = None,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        self.visits = tuple(visits)
        self.margin = margin
        self.looks = dict(looks or {})
        self._by_key: dict[str, list[Visit]] = {}
        for v in self.visits:
            self._by_key.setdefault(v.key, []).append(v)
        self._cache: dict[tuple[str, str, str], PairedRatio | None] = {}

    def __bool__(self) -> bool:
        return bool(self.visits)

    def keys(self) -> set[str]:
        return set(self._by_key)

    def ratio(self, a: str, b: str, metric: str = "energy") -> PairedRatio | None:
        """The paired ratio a / b, or None where the two share too few clean rounds."""
        if a == b or a not in self._by_key or b not in self._by_key:
            return None
        k = (a, b, metric)
        if k not in self._cache:
            shared = {v.session for v in self._by_key[a]} & {v.session for v in self._by_key[b]}
            if not shared:
                self._cache[k] = None
            else:
                vs = [v for v in self.visits if v.session in shared]
                looks = max(self.looks.get(s, 1) for s in shared)
                self._cache[k] = paired_ratio(vs, a, b, metric, margin=self.margin, looks=looks)
        return self._cache[k]

    def restricted(self, keys: Iterable[str]) -> Pairings:
        """The visits of the rounds in which any of ``keys`` was visited (every contender of those
        rounds is kept: a disturbed visit of another contender still drops the round)."""
        wanted = set(keys)
        sessions = {v.session for v in self.visits if v.key in wanted}
        return Pairings(
            [v for v in self.visits if v.session in sessions], looks=self.looks, margin=self.margin
        )


def load_pairings(
    store: Any, keys: Iterable[str] | None = None, *, margin: float = DEFAULT_MARGIN
) -> Pairings:
    """The paired runs' visits of ``store`` (a Store or a path), restricted to the runs that visited any
    of ``keys`` when given; empty for a store written before paired runs were kept."""
    from efflab.store.sqlite import Store

    own = not isinstance(store, Store)
    st = Store(store, readonly=True) if own else store
    try:
        visits = st.visits(set(keys) if keys is not None else None)
        looks = st.paired_looks()
    finally:
        if own:
            st.close()
    return Pairings(visits, looks=looks, margin=margin)
