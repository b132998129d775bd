"""Statistics of a point measured as several timing windows (pure functions, no torch).

The interval of the mean batch latency comes from the spread of the window means (Student t on
k - 1 degrees of freedom): back-to-back batches are correlated and a window shares the machine's
state of the moment, so the within-window interval describes one window, not what a re-run sees.
It is never narrower than the within-window interval. A window is *disturbed* when other processes
took a large share of the machine or this process got clearly less CPU than in its best window;
a window *disagrees* when its mean is far from the median window mean and outside its own interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from efflab.measuring.stats import mean_ci, t95


@dataclass
class RawWindow:
    """One window as it was timed (mutable bookkeeping; summarised as ``WindowSummary``)."""

    times_s: tuple[float, ...]
    window_s: float
    cpu_s: float | None
    other_cpu_share: float | None
    energy_j: float
    cpu_j: float | None = None
    ram_j: float | None = None
    gpu_j: float | None = None
    hit_cap: bool = False
    used: bool = True
    peak_mem_bytes: int | None = None

    @property
    def n(self) -> int:
        return len(self.times_s)

    @property
    def mean_s(self) -> float:
        return math.fsum(self.times_s) / len(self.times_s) if self.times_s else math.nan

    @property
    def median_s(self) -> float:
        return float(statistics.median(self.times_s)) if self.times_s else math.nan

    @property
    def ci_half_s(self) -> float:
        return mean_ci(self.times_s)[2] if len(self.times_s) > 1 else math.inf

    @property
    def cpu_per_wall(self) -> float | None:
        return self.cpu_s / self.window_s if self.cpu_s is not None and self.window_s > 0 else None


def usual_other_share(windows: Sequence[RawWindow]) -> float:
    """The median share of the machine other processes used over ``windows`` (0 when unreadable)."""
    shares = [w.other_cpu_share for w in windows if w.other_cpu_share is not None]
    return float(statistics.median(shares)) if shares else 0.0


def disturbed(
    windows: Sequence[RawWindow], *, other_share_max: float, cpu_ratio_min: float, check_cpu: bool = True
) -> list[bool]:
    """Per window: others took ``other_share_max`` more of the machine than in the usual window (the
    median of ``windows``: steady load beside the run is not a disturbance of one window), or this
    process's CPU-seconds per wall second fell below ``cpu_ratio_min`` x its best window's (CPU runs)."""
    utils = [w.cpu_per_wall for w in windows if w.cpu_per_wall is not None]
    best = max(utils) if utils else None
    usual = usual_other_share(windows)
    out = []
    for w in windows:
        d = w.other_cpu_share is not None and w.other_cpu_share > usual + other_share_max
        u = w.cpu_per_wall
        if check_cpu and best and u is not None and u < cpu_ratio_min * best:
            d = True
        out.append(d)
    return out


def disagreeing(windows: Sequence[RawWindow], *, outlier_rel: float) -> list[bool]:
    """Per window: its mean is more than ``outlier_rel`` from the median window mean and outside
    its own 95 % interval (needs at least three windows: with two, neither is the odd one)."""
    if len(windows) < 3:
        return [False] * len(windows)
    med = statistics.median(w.mean_s for w in windows)
    out = []
    for w in windows:
        gap = abs(w.mean_s - med)
        ci = w.ci_half_s if math.isfinite(w.ci_half_s) else 0.0
        out.append(gap > outlier_rel * med and gap > ci)
    return out


@dataclass(frozen=True)
class WindowStats:
    """The point's figures over the windows that count."""

    mean_s: float
    ci_half_s: float
    between_ci_half_s: float | None
    within_ci_half_s: float
    std_s: float
    median_s: float
    n_batches: int
    window_s: float


def combine(windows: Sequence[RawWindow]) -> WindowStats:
    """Mean batch latency over all windows' batches (the same totals as throughput), with its 95 %
    interval from the spread of the window means (one window: the within-window interval)."""
    times = [t for w in windows for t in w.times_s]
    _, std, within = mean_ci(times) if len(times) > 1 else (math.nan, math.nan, math.inf)
    mean = math.fsum(times) / len(times) if times else math.nan
    k = len(windows)
    if k >= 2:
        means = [w.mean_s for w in windows]
        between = t95(k - 1) * statistics.stdev(means) / math.sqrt(k)
        ci = max(between, within)
    else:
        between = None
        ci = within
    return WindowStats(
        mean_s=mean,
        ci_half_s=ci,
        between_ci_half_s=between,
        within_ci_half_s=within,
        std_s=std,
        median_s=float(statistics.median(times)) if times else math.nan,
        n_batches=len(times),
        window_s=math.fsum(w.window_s for w in windows),
    )


def per_query_ci(values: Sequence[float]) -> float | None:
    """95 % half-width of the mean of per-window values (None with fewer than two)."""
    vals = [v for v in values if math.isfinite(v)]
    if len(vals) < 2:
        return None
    return t95(len(vals) - 1) * statistics.stdev(vals) / math.sqrt(len(vals))
