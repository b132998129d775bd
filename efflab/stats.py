"""Small, dependency-free statistics used inside timing loops (cheap enough to run every batch)."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Two-sided 95 % Student t critical values for df = 1..30.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z = 1.959963984540054


def t95(df: int) -> float:
    """Two-sided 95 % Student t critical value for ``df`` degrees of freedom."""
    if df < 1:
        return math.inf
    if df <= 30:
        return _T95[df - 1]
    # Cornish-Fisher expansion; error < 1e-4 for df > 30.
    z = _Z
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


class Welford:
    """Running mean and variance (numerically stable, O(1) per sample)."""

    __slots__ = ("m2", "mean", "n")

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else math.nan

    @property
    def ci_half(self) -> float:
        """95 % CI half-width of the mean."""
        if self.n < 2:
            return math.inf
        return t95(self.n - 1) * self.std / math.sqrt(self.n)


def mean_ci(xs: Sequence[float]) -> tuple[float, float, float]:
    """Mean, sample std and 95 % CI half-width of ``xs``."""
    w = Welford()
    for x in xs:
        w.add(float(x))
    return w.mean, w.std, w.ci_half


def wilson_interval(correct: int, n: int, z: float = _Z) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``correct / n``."""
    if n <= 0:
        return (math.nan, math.nan)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
