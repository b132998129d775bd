"""The re-run interval: where the mean of another run of the same point on this machine will land.

Windows of one run are separated by seconds; the machine drifts over minutes (clock and power states,
the hypervisor's other guests). On a quiet 2-vCPU VM, five back-to-back runs of one configuration
spread by about 5 % of their mean while each run's windows agreed within 1–3 %: an interval built from
one run's windows alone held another run's mean less than half of the time (bench/repeatability.py).

So a point's interval adds a **run spread** ``s`` (the relative standard deviation of a run's mean
beyond what its own windows show) to the windows' standard error ``se`` and is a 95 % interval for the
difference between this run and the next::

    half = sqrt(2) * sqrt(h_w**2 + (1.96 * s * mean)**2)     h_w = the windows' 95 % half-width

``s`` comes from the store: every measurement is also kept as a *run* (key, hardware, mean, its
windows' half-width); where a key was measured more than once on the same hardware, the spread of its
run means (on a log scale, less what the windows explain) estimates ``s`` for that hardware, pooled over
keys and over the prior below (``PRIOR_DF`` degrees of freedom' worth). With no re-runs yet, ``s`` is
the prior, ``PRIOR`` (6 %: the two re-run series observed on these VMs, 5.4 % and 8 %). A user who
knows better sets it (``--run-spread``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from efflab.config import MethodSettings
from efflab.stats import t95

PRIOR = 0.06
PRIOR_DF = 4
_Z = 1.959963984540054


@dataclass(frozen=True)
class RunSpread:
    """The run spread a measurement uses, with where it came from (recorded with the point)."""

    value: float
    source: str
    df: int = 0


USER_SOURCE = "set by you (--run-spread)"


def prior_spread(prior: float = PRIOR) -> RunSpread:
    return RunSpread(prior, f"prior {prior * 100:.0f} % (no re-runs on this machine in the store yet)", 0)


def run_spread_of(method: MethodSettings) -> RunSpread:
    """The run spread ``method`` asks for: its own value (with its source), else the prior."""
    if method.run_spread is None:
        return prior_spread()
    return RunSpread(method.run_spread, method.run_spread_source or USER_SOURCE, 0)


def with_spread(method: MethodSettings, spread: RunSpread) -> MethodSettings:
    """``method`` with a learned run spread, unless the user set one."""
    if method.run_spread is not None:
        return method
    return dataclasses.replace(method, run_spread=spread.value, run_spread_source=spread.source)


def rerun_half(mean: float, within_half: float | None, spread: float) -> float | None:
    """95 % half-width for another run's mean: the windows' half-width and the run spread, both for
    this run and the next (sqrt 2). ``None`` when neither part is known."""
    if not math.isfinite(mean):
        return None
    h = within_half if within_half is not None and math.isfinite(within_half) else None
    drift = _Z * spread * abs(mean)
    if h is None and spread <= 0:
        return None
    return math.sqrt(2.0) * math.hypot(h or 0.0, drift)


@dataclass(frozen=True)
class Run:
    """One measurement of one key, as the store keeps it for learning the run spread."""

    key: str
    mean: float
    within_half: float | None
    n_windows: int


def learn(runs: Iterable[Run], *, prior: float = PRIOR, prior_df: int = PRIOR_DF) -> RunSpread:
    """Pool the spread of repeated runs of the same keys with the prior (method of moments on log
    means: the variance of a key's run means less the part its windows explain)."""
    by_key: dict[str, list[Run]] = {}
    for r in runs:
        if r.mean > 0 and math.isfinite(r.mean):
            by_key.setdefault(r.key, []).append(r)
    ss = 0.0
    explained = 0.0
    df = 0
    for rs in by_key.values():
        if len(rs) < 2:
            continue
        logs = [math.log(r.mean) for r in rs]
        mu = math.fsum(logs) / len(logs)
        ss += math.fsum((x - mu) ** 2 for x in logs)
        df += len(rs) - 1
        # each run's own standard error on the log scale, averaged over the key's runs
        explained += (len(rs) - 1) * _mean_se2(rs)
    if df == 0:
        return prior_spread(prior)
    est2 = max(0.0, (ss - explained) / df)
    value = math.sqrt((prior_df * prior**2 + df * est2) / (prior_df + df))
    n_keys = sum(len(rs) >= 2 for rs in by_key.values())
    return RunSpread(
        value,
        f"learned from {df + n_keys} runs of {n_keys} configuration(s) on this machine "
        f"({math.sqrt(est2) * 100:.1f} %), pooled with the {prior * 100:.0f} % prior",
        df,
    )


def _mean_se2(rs: Sequence[Run]) -> float:
    vals = []
    for r in rs:
        if r.within_half is None or not math.isfinite(r.within_half):
            continue
        t = t95(r.n_windows - 1) if r.n_windows >= 2 else _Z
        vals.append((r.within_half / t / r.mean) ** 2)
    return math.fsum(vals) / len(vals) if vals else 0.0
