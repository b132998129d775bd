"""Sweeps: a grid of configurations measured into the store, streamed point by point."""

from efflab.sweep.run import PointResult, iter_sweep, point_key, sweep
from efflab.sweep.spec import SweepSpec

__all__ = ["PointResult", "SweepSpec", "iter_sweep", "point_key", "sweep"]
