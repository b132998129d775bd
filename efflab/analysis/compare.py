"""One comparison of two points, per metric: the ratio b / a with a 95 % interval and a verdict.

Every surface that says "cheaper", "tied", "no clear saving" or "as accurate" asks this module, so
the words agree with the numbers everywhere (``efflab compare``, the recommendation's reason and its
ties, the savings ranges, the lab's pins).

* **Paired** (preferred): the two were visited in the same interleaved rounds of a paired run
  (:mod:`efflab.analysis.paired`); the interval is that of the per-round log-ratios.
* **Re-run intervals** (the fallback, said so): the two were measured in different runs, sweeps,
  days. Each point's re-run half-width ``h`` (where another run's mean lands, 95 %) is √2 times the
  uncertainty of its own mean, so the difference of two means has the 95 % half-width
  ``sqrt(h_a² + h_b²) / √2``; on the log scale, ``log(b/a) ± 1.96 · sqrt(s_a² + s_b²)`` with
  ``s = h / (1.96 · √2 · mean)``. Where the two do not share one energy basis, sensor and machine,
  each side's systematic uncertainty (``energy_uncertainty_rel``) joins in quadrature; where they do,
  it is one factor common to both and cannot decide which is lower.
* **Accuracy**: the difference b − a in points, paired on the same test texts where per-example
  correctness is stored (the discordant texts: ``se = sqrt(n01 + n10 − (n01 − n10)² / n) / n``), else
  from each accuracy's sample size. Its verdict uses the accuracy tolerance as the margin.

The verdicts are those of :class:`efflab.analysis.paired.Verdict`: lower, higher, equivalent (within
the margin), no clear difference.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

from efflab.analysis.paired import DEFAULT_MARGIN, PairedRatio, Pairings, Verdict
from efflab.analysis.uncertainty import Z95, absolute_range, number, statistical_half_j, value

PAIRED = "paired"
RERUN = "re-run intervals"

# What "better" means per metric (a regression goes the other way).
LOWER_IS_BETTER: dict[str, bool] = {"energy": True, "latency": True, "throughput": False, "accuracy": False}
COMPARE_METRICS: tuple[str, ...] = ("energy", "latency", "throughput", "accuracy")


@dataclass(frozen=True)
class Comparison:
    """b against a for one metric.

    Attributes:
        metric: ``energy`` (J per query), ``latency`` (s per query), ``throughput`` (queries/s) or
            ``accuracy`` (a fraction).
        a, b: the two points' keys.
        a_value, b_value: each point's own figure (energy and latency per query, throughput, accuracy).
        ratio, low, high: b / a with its 95 % interval (energy, latency, throughput); for accuracy the
            difference b − a as a fraction (0.019 = 1.9 points) with its interval.
        basis: ``paired`` or ``re-run intervals``.
        n_rounds, n_dropped: the paired rounds used, and those dropped as disturbed (paired only).
        margin: the equivalence margin of the verdict (a fraction of a for ratios; points for accuracy).
        looks: how many looks a paired interval is corrected for.
        common_systematic: the two share one energy basis, sensor and machine (energy only).
    """

    metric: str
    a: str
    b: str
    a_value: float
    b_value: float
    ratio: float
    low: float
    high: float
    basis: str
    n_rounds: int = 0
    n_dropped: int = 0
    margin: float = DEFAULT_MARGIN
    looks: int = 1
    common_systematic: bool = True

    @property
    def is_difference(self) -> bool:
        """True for accuracy (a difference in points), False for ratios."""
        return self.metric == "accuracy"

    @property
    def verdict(self) -> Verdict:
        one = 0.0 if self.is_difference else 1.0
        if self.high < one:
            return Verdict.LOWER
        if self.low > one:
            return Verdict.HIGHER
        lo_m = -self.margin if self.is_difference else 1.0 / (1.0 + self.margin)
        hi_m = self.margin if self.is_difference else 1.0 + self.margin
        if self.low >= lo_m and self.high <= hi_m:
            return Verdict.EQUIVALENT
        return Verdict.NO_CLEAR_DIFFERENCE

    @property
    def paired(self) -> bool:
        return self.basis == PAIRED

    @property
    def percent(self) -> tuple[float, float, float]:
        """b relative to a in percent (ratios) or in points (accuracy): (estimate, low, high)."""
        if self.is_difference:
            return (self.ratio * 100, self.low * 100, self.high * 100)
        return ((self.ratio - 1) * 100, (self.low - 1) * 100, (self.high - 1) * 100)

    def reversed(self) -> Comparison:
        """The same comparison, a against b."""
        import dataclasses

        if self.is_difference:
            lo, hi, r = -self.high, -self.low, -self.ratio
        else:
            lo, hi, r = 1.0 / self.high, 1.0 / self.low, 1.0 / self.ratio
        return dataclasses.replace(
            self, a=self.b, b=self.a, a_value=self.b_value, b_value=self.a_value, ratio=r, low=lo, high=hi
        )

    def regression(self) -> tuple[bool, float]:
        """(whether b is significantly worse than a, by how much in percent or points)."""
        worse = self.verdict is (Verdict.HIGHER if LOWER_IS_BETTER[self.metric] else Verdict.LOWER)
        est = self.percent[0]
        return worse, (est if LOWER_IS_BETTER[self.metric] else -est)

    def how(self) -> str:
        """How the interval was obtained, in words."""
        if self.is_difference:
            if self.paired:
                return f"paired on the same {self.n_rounds:,} test texts"
            return "from their accuracies and sample sizes (no per-example correctness to pair)"
        if self.paired:
            dropped = f", {self.n_dropped} dropped as disturbed" if self.n_dropped else ""
            looks = f"; corrected for {self.looks} looks" if self.looks > 1 else ""
            return f"measured in the same {self.n_rounds} interleaved rounds{dropped}{looks}"
        return "compared by their re-run intervals (not measured in the same rounds)"


def _rel_se(row: Any) -> float | None:
    """Standard error of a point's mean energy per query relative to it (from its re-run interval)."""
    e, h = number(row, "energy_j_per_query"), statistical_half_j(row)
    if e is None or e <= 0 or h is None:
        return None
    return h / (Z95 * math.sqrt(2.0) * e)


def common_systematic(a: Any, b: Any) -> bool:
    """True when the systematic error of ``a`` and ``b`` is one factor common to both: the same energy
    basis, the same sensor and the same hardware."""
    from efflab.format import energy_basis

    return (
        energy_basis(a) == energy_basis(b)
        and value(a, "energy_source") == value(b, "energy_source")
        and value(a, "hardware") == value(b, "hardware")
    )


def _key(row: Any) -> str:
    k = value(row, "key")
    return str(k) if k is not None else ""


def _from_paired(metric: str, a: Any, b: Any, pr: PairedRatio, a_v: float, b_v: float) -> Comparison:
    return Comparison(
        metric=metric,
        a=_key(a),
        b=_key(b),
        a_value=a_v,
        b_value=b_v,
        ratio=pr.ratio,
        low=pr.low,
        high=pr.high,
        basis=PAIRED,
        n_rounds=pr.n_rounds,
        n_dropped=pr.n_dropped,
        margin=pr.margin,
        looks=pr.looks,
    )


def compare_energy(
    a: Any, b: Any, pairings: Pairings | None = None, *, margin: float | None = None
) -> Comparison:
    """Energy per query of ``b`` against ``a`` (rows with ``key``, ``energy_j_per_query`` and their
    intervals), paired where the two share rounds."""
    ea, eb = number(a, "energy_j_per_query"), number(b, "energy_j_per_query")
    if ea is None or eb is None or ea <= 0 or eb <= 0:
        msg = "both points need an energy figure to be compared; pick points with status ok"
        raise ValueError(msg)
    common = common_systematic(a, b)
    m = DEFAULT_MARGIN if margin is None else margin
    if pairings is not None and common:
        pr = pairings.ratio(_key(b), _key(a), "energy")
        if pr is not None:
            return _from_paired("energy", a, b, pr, ea, eb)
    sa, sb = _rel_se(a), _rel_se(b)
    # A point without any interval of its own cannot be told apart from anything: unknown, not exact.
    var = math.inf if sa is None or sb is None else sa**2 + sb**2
    if not common:
        for row in (a, b):
            u = number(row, "energy_uncertainty_rel") or 0.0
            var += (u / Z95) ** 2
    mu = math.log(eb / ea)
    half = Z95 * math.sqrt(var)
    low, high = _exp(mu - half), _exp(mu + half)
    ra, rb = _own_range(a, ea, systematic=not common), _own_range(b, eb, systematic=not common)
    if ra is not None and rb is not None:
        # The log-normal interval is only a good approximation while each point's interval is a fraction
        # of its value; a point measured as 26 µWh ± 21 mWh (a busy machine) would stretch it to 1e243.
        # The ratio can never leave the range of the two points' own intervals: bound it by them.
        low = max(low, rb[0] / ra[1])
        high = min(high, rb[1] / ra[0]) if ra[0] > 0 else high
    return Comparison(
        metric="energy",
        a=_key(a),
        b=_key(b),
        a_value=ea,
        b_value=eb,
        ratio=math.exp(mu),
        low=low,
        high=high,
        basis=RERUN,
        margin=m,
        common_systematic=common,
    )


def _exp(x: float) -> float:
    """``exp(x)``, infinite instead of an OverflowError (an interval that is unbounded)."""
    return math.inf if x > 700 else math.exp(x)


def _own_range(row: Any, e: float, *, systematic: bool) -> tuple[float, float] | None:
    """A point's energy range from its own re-run interval, with its systematic uncertainty or without
    (where it is common to two points, it cancels in their ratio); None when it has no interval."""
    half = statistical_half_j(row)
    if half is None:
        return None
    u = (number(row, "energy_uncertainty_rel") or 0.0) if systematic else 0.0
    return absolute_range(e, half, u)


def _per_query_latency(row: Any) -> float | None:
    lat, bs = number(row, "latency_s"), number(row, "batch_size")
    if lat is None or not bs:
        return number(row, "latency_per_query_s")
    return lat / bs


def compare_time(a: Any, b: Any, pairings: Pairings | None = None, *, metric: str = "latency") -> Comparison:
    """Latency per query (``latency``) or throughput (``throughput``) of ``b`` against ``a``."""
    la, lb = _per_query_latency(a), _per_query_latency(b)
    if la is None or lb is None or la <= 0 or lb <= 0:
        msg = "both points need a latency to be compared"
        raise ValueError(msg)
    inv = metric == "throughput"
    a_v, b_v = (1 / la, 1 / lb) if inv else (la, lb)
    if pairings is not None:
        pr = pairings.ratio(_key(b), _key(a), "latency")
        if pr is not None:
            c = _from_paired(metric, a, b, pr if not inv else pr.inverse(), a_v, b_v)
            return c
    rel = []
    for row in (a, b):
        lat, ci = number(row, "latency_s"), number(row, "latency_ci_s")
        rel.append(ci / (Z95 * math.sqrt(2.0) * lat) if lat and ci is not None else math.inf)
    mu = math.log(b_v / a_v)
    half = Z95 * math.hypot(*rel)
    return Comparison(
        metric, _key(a), _key(b), a_v, b_v, math.exp(mu), math.exp(mu - half), math.exp(mu + half), RERUN
    )


def paired_accuracy_difference(a_correct: str, b_correct: str) -> tuple[float, float, int]:
    """(b − a accuracy, its standard error, texts) from per-example correctness on the same texts
    (the shorter string's length: a point scored on a documented prefix pairs on it)."""
    n = min(len(a_correct), len(b_correct))
    if n == 0:
        return math.nan, math.inf, 0
    n01 = sum(1 for x, y in zip(a_correct[:n], b_correct[:n]) if x == "0" and y == "1")
    n10 = sum(1 for x, y in zip(a_correct[:n], b_correct[:n]) if x == "1" and y == "0")
    diff = (n01 - n10) / n
    var = max(0.0, n01 + n10 - (n01 - n10) ** 2 / n) / n**2
    # Never narrower than one discordant text's worth (no discordant texts: not zero uncertainty).
    se = max(math.sqrt(var), 1.0 / n)
    return diff, se, n


MIN_PAIRED_TEXTS = 50


def compare_accuracy_points(a: Any, b: Any, tolerance: float) -> Comparison:
    """Accuracy of ``b`` against ``a``: the difference b − a with its 95 % interval, paired on the
    same test texts where both stored per-example correctness; the tolerance is the margin."""
    aa, ab = number(a, "accuracy"), number(b, "accuracy")
    if aa is None or ab is None:
        msg = "both points need an accuracy to be compared"
        raise ValueError(msg)
    ca, cb = value(a, "accuracy_correct"), value(b, "accuracy_correct")
    if isinstance(ca, str) and isinstance(cb, str) and min(len(ca), len(cb)) >= MIN_PAIRED_TEXTS:
        diff, se, n = paired_accuracy_difference(ca, cb)
        basis = PAIRED
        rounds = n
    else:
        diff = ab - aa
        ses = []
        for row, acc in ((a, aa), (b, ab)):
            n_ = number(row, "n_eval")
            lo, hi = number(row, "accuracy_ci_low"), number(row, "accuracy_ci_high")
            if n_:
                ses.append(math.sqrt(max(acc * (1 - acc), 1e-12) / n_))
            elif lo is not None and hi is not None:
                ses.append((hi - lo) / (2 * Z95))
            else:
                ses.append(math.inf)
        se = math.hypot(*ses)
        basis, rounds = "unpaired", 0
    half = Z95 * se
    return Comparison(
        metric="accuracy",
        a=_key(a),
        b=_key(b),
        a_value=aa,
        b_value=ab,
        ratio=diff,
        low=diff - half,
        high=diff + half,
        basis=basis,
        n_rounds=rounds,
        margin=tolerance,
    )


def compare_points(
    a: Any, b: Any, pairings: Pairings | None = None, *, tolerance: float = 0.01, margin: float | None = None
) -> dict[str, Comparison]:
    """Every metric both points have: energy, latency, throughput, accuracy (b against a)."""
    out: dict[str, Comparison] = {}
    with contextlib.suppress(ValueError):  # a metric one of the two lacks is left out
        out["energy"] = compare_energy(a, b, pairings, margin=margin)
    for metric in ("latency", "throughput"):
        with contextlib.suppress(ValueError):
            out[metric] = compare_time(a, b, pairings, metric=metric)
    with contextlib.suppress(ValueError):
        out["accuracy"] = compare_accuracy_points(a, b, tolerance)
    return out


def energy_tied(a: Any, b: Any, pairings: Pairings | None = None) -> bool:
    """True when the energies of ``a`` and ``b`` are not told apart (no clear difference, or
    equivalent within the margin): the test on their ratio, paired where they share rounds."""
    return not compare_energy(a, b, pairings).verdict.differs


def saving_range(
    baseline: Any, candidate: Any, scale: float = 1.0, pairings: Pairings | None = None
) -> tuple[float, float, float, Comparison]:
    """``scale × (baseline − candidate)`` energy per query as (saved, low, high) with the comparison it
    comes from. The saved fraction is ``1 − candidate / baseline`` from the ratio's interval (paired
    where the two share rounds), times the baseline's own energy and its interval (and the common
    systematic factor ``[1 − u, 1 + u]``): the range excludes zero exactly when the comparison says
    the two differ, so no surface can call two configurations tied and show a clear saving."""
    c = compare_energy(baseline, candidate, pairings)
    eb = c.a_value * scale
    f_hat, f_lo, f_hi = 1.0 - c.ratio, 1.0 - c.high, 1.0 - c.low
    se = _rel_se(baseline) or 0.0
    k_lo, k_hi = max(0.0, 1.0 - Z95 * se), 1.0 + Z95 * se
    if c.common_systematic:
        u = max(
            number(baseline, "energy_uncertainty_rel") or 0.0,
            number(candidate, "energy_uncertainty_rel") or 0.0,
        )
        k_lo, k_hi = k_lo * (1 - u), k_hi * (1 + u)
    corners = [eb * k * f for k in (k_lo, k_hi) for f in (f_lo, f_hi)]
    lo, hi = min(corners), max(corners)
    if f_lo <= 0 <= f_hi:  # the ratio's interval contains 1: the range must contain zero
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    # Never more saved than the baseline uses, nor more lost than the candidate uses (each at the top
    # of its own range, systematic part included): a wide interval cannot make an impossible saving.
    rb, rc = (
        _own_range(baseline, c.a_value, systematic=True),
        _own_range(candidate, c.b_value, systematic=True),
    )
    if rb is not None:
        hi = min(hi, rb[1] * scale)
    if rc is not None:
        lo = max(lo, -rc[1] * scale)
    return eb * f_hat, lo, hi, c


def describe(c: Comparison) -> tuple[str, str, str]:
    """(b's difference from a, its 95 % interval, the verdict with how it was obtained), in words:
    ``('-47 % (0.53×)', '-50 % to -44 %', 'lower: measured in the same 40 interleaved rounds')``."""
    from efflab import format as fmt

    est, lo, hi = c.percent
    if c.is_difference:
        diff = fmt.signed_points(est)
        span = f"{fmt.signed_points(lo)} to {fmt.signed_points(hi)}"
        margin = f"±{fmt.sig(c.margin * 100, 2)} pt"
    else:
        diff = f"{fmt.signed_percent(est)} ({fmt.sig(c.ratio, 3)}×)"
        span = f"{fmt.signed_percent(lo)} to {fmt.signed_percent(hi)}"
        margin = f"±{fmt.sig(c.margin * 100, 2)} %"
    v = c.verdict
    words = f"equivalent within {margin}" if v is Verdict.EQUIVALENT else str(v)
    return diff, span, f"{words}: {c.how()}"


# ----- a comparison of two configurations, as `efflab compare` reports it --------------------------


@dataclass(frozen=True)
class Gate:
    """A CI gate: fail when ``metric`` regresses significantly by more than ``threshold`` (percent for
    energy, latency and throughput; points for accuracy)."""

    metric: str
    threshold: float

    @property
    def text(self) -> str:
        unit = " pt" if self.metric == "accuracy" else " %"
        return f"{self.metric}:{fmt_num(self.threshold)}{unit.strip()}"


def fmt_num(x: float) -> str:
    from efflab.format import sig

    return sig(x, 3)


def parse_gate(text: str) -> Gate:
    """``energy:5%``, ``latency:10%``, ``throughput:5%`` or ``accuracy:1pt`` as a Gate.

    Raises:
        ConfigError: an unknown metric or a threshold that is not a number >= 0 (naming the fix).
    """
    from efflab.errors import ConfigError, closest

    raw = str(text).strip()
    metric, sep, amount = raw.partition(":")
    metric = metric.strip().lower()
    if not sep or metric not in COMPARE_METRICS:
        msg = (
            f"--fail {raw!r}: unknown metric {metric!r}; use METRIC:THRESHOLD with METRIC one of "
            f"{', '.join(COMPARE_METRICS)}, e.g. --fail energy:5%{closest(metric, COMPARE_METRICS)}"
        )
        raise ConfigError(msg)
    a = amount.strip().lower()
    unit = "pt" if metric == "accuracy" else "%"
    for suffix in ("%", "pt"):
        if a.endswith(suffix):
            a = a[: -len(suffix)].strip()
    try:
        v = float(a)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or v < 0:
        msg = f"--fail {raw!r}: the threshold {amount.strip()!r} is not a number >= 0; e.g. --fail {metric}:5{unit}"
        raise ConfigError(msg)
    return Gate(metric, v)


@dataclass(frozen=True)
class CompareResult:
    """Two configurations compared on every metric both have (b against a).

    Attributes:
        a_label, b_label, a_key, b_key: the two arms.
        comparisons: per metric (energy, latency, throughput, accuracy).
        basis: ``paired`` (interleaved rounds) or ``re-run intervals``.
        rounds, dropped: paired rounds used and dropped as disturbed (0 for re-run intervals).
        wall_s: seconds the paired run took (None when read from the store).
        stopped: why a paired run stopped (settled, budget, rounds, interrupted), "" when read.
        hardware, sensor, energy_basis: where and how the energy was measured, per arm.
        notes: lines to show under the table.
    """

    a_label: str
    b_label: str
    a_key: str
    b_key: str
    comparisons: dict[str, Comparison]
    basis: str
    rounds: int = 0
    dropped: int = 0
    wall_s: float | None = None
    stopped: str = ""
    hardware: tuple[str, str] = ("", "")
    sensor: tuple[str, str] = ("", "")
    energy_basis: tuple[str, str] = ("", "")
    notes: tuple[str, ...] = ()

    def gate(self, gates: list[Gate]) -> list[tuple[Gate, bool, float | None]]:
        """Each gate with whether it fails and b's regression (percent or points; None: metric absent)."""
        out: list[tuple[Gate, bool, float | None]] = []
        for g in gates:
            c = self.comparisons.get(g.metric)
            if c is None:
                out.append((g, False, None))
                continue
            worse, by = c.regression()
            out.append((g, bool(worse and by > g.threshold), by))
        return out

    def to_json(self, gates: list[Gate] | None = None) -> dict[str, Any]:
        """A stable, diffable record (keys sorted by the writer; numbers as plain floats)."""
        units = {"energy": "J/query", "latency": "s/query", "throughput": "queries/s", "accuracy": "fraction"}
        metrics = {}
        for m, c in self.comparisons.items():
            est, lo, hi = c.percent
            metrics[m] = {
                "a": c.a_value,
                "b": c.b_value,
                "unit": units[m],
                ("difference" if c.is_difference else "ratio"): c.ratio,
                "low": c.low,
                "high": c.high,
                ("difference_pt" if c.is_difference else "difference_percent"): [est, lo, hi],
                "verdict": str(c.verdict),
                "basis": c.basis,
                "margin": c.margin,
            }
        return {
            "a": {"label": self.a_label, "key": self.a_key, "hardware": self.hardware[0],
                  "sensor": self.sensor[0], "energy_basis": self.energy_basis[0]},
            "b": {"label": self.b_label, "key": self.b_key, "hardware": self.hardware[1],
                  "sensor": self.sensor[1], "energy_basis": self.energy_basis[1]},
            "basis": self.basis,
            "rounds": self.rounds,
            "dropped": self.dropped,
            "wall_s": self.wall_s,
            "stopped": self.stopped,
            "metrics": metrics,
            "gates": [
                {"gate": g.text, "metric": g.metric, "threshold": g.threshold, "regression": by, "failed": bad}
                for g, bad, by in self.gate(gates or [])
            ],
            "notes": list(self.notes),
        }  # fmt: skip


def compare_stored(
    a: Any, b: Any, pairings: Pairings | None, *, tolerance: float = 0.01, allow_cross: bool = False
) -> CompareResult:
    """Compare two stored points (rows of the results frame), paired where they share rounds.

    Raises:
        ConfigError: the two come from different tasks, or (without ``allow_cross``) from different
            hardware, sensors or energy bases (the message says which and how to allow it).
    """
    from efflab.errors import ConfigError
    from efflab.format import config_label, energy_basis

    for what in ("task", "hardware", "energy_source"):
        va, vb = value(a, what), value(b, what)
        if va != vb and (what == "task" or not allow_cross):
            fix = (
                "compare configurations of one task"
                if what == "task"
                else "pass --allow-cross to compare them anyway (their energy is then not paired and carries both "
                "systematic uncertainties)"
            )
            name = {"energy_source": "sensors"}.get(what, what)
            msg = f"not comparable: the two points differ in {name} ({va!r} vs {vb!r}); {fix}"
            raise ConfigError(msg)
    if energy_basis(a) != energy_basis(b) and not allow_cross:
        msg = (
            f"not comparable: one energy is {energy_basis(a)}, the other {energy_basis(b)}; pass --allow-cross "
            "to compare them anyway"
        )
        raise ConfigError(msg)
    comps = compare_points(a, b, pairings, tolerance=tolerance)
    e = comps.get("energy")
    paired = e is not None and e.paired
    return CompareResult(
        a_label=config_label(a),
        b_label=config_label(b),
        a_key=_key(a),
        b_key=_key(b),
        comparisons=comps,
        basis=PAIRED if paired else RERUN,
        rounds=e.n_rounds if paired and e is not None else 0,
        dropped=e.n_dropped if paired and e is not None else 0,
        hardware=(str(value(a, "hardware") or ""), str(value(b, "hardware") or "")),
        sensor=(str(value(a, "energy_source") or ""), str(value(b, "energy_source") or "")),
        energy_basis=(energy_basis(a), energy_basis(b)),
        notes=()
        if paired
        else (
            "The two were not measured in the same interleaved rounds: compared by their re-run intervals.",
        ),
    )
