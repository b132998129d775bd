"""Where a sweep's wall time goes: timed windows against everything around them (the duty cycle).

A :class:`Phases` accumulator is passed to the pieces of a sweep (``PointMeasurer``, ``PointSession``,
the paired pass); each adds the seconds of its phase. ``timed`` is the measurement itself (timing
windows and paired visits); the rest is what it costs to get there: model loads, FLOP counts, GEMM
peaks, warm-ups, accuracy scoring, sensor windows and bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PHASES: tuple[str, ...] = (
    "timed",
    "warmup",
    "load",
    "accuracy",
    "flops",
    "gemm_peak",
    "paired_other",
    "other",
)


@dataclass
class Phases:
    """Seconds per phase (mutable bookkeeping; one per sweep)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, s: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + max(0.0, s)

    @contextmanager
    def timing(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def duty_cycle(self, wall_s: float) -> float:
        """Timed seconds per wall second."""
        return self.seconds.get("timed", 0.0) / wall_s if wall_s > 0 else float("nan")

    def summary(self, wall_s: float) -> str:
        """``duty cycle 78 % (timed 312 s of 400 s; accuracy 40 s, load 21 s, …)``."""
        rest = sorted(((v, k) for k, v in self.seconds.items() if k != "timed" and v >= 0.5), reverse=True)
        accounted = sum(self.seconds.values())
        parts = [f"{k.replace('_', ' ')} {v:.0f} s" for v, k in rest]
        unaccounted = wall_s - accounted
        if unaccounted >= 0.5:
            parts.append(f"other {unaccounted:.0f} s")
        return (
            f"duty cycle {self.duty_cycle(wall_s) * 100:.0f} % (timed {self.seconds.get('timed', 0.0):.0f} s of "
            f"{wall_s:.0f} s" + (f"; {', '.join(parts)}" if parts else "") + ")"
        )
