"""Moved to :mod:`efflab.stats` (pure statistics, importable from every layer); kept for old imports."""

from efflab.stats import Welford, mean_ci, t95, wilson_interval

__all__ = ["Welford", "mean_ci", "t95", "wilson_interval"]
