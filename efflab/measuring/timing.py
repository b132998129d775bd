"""Warm-up, then adaptive repetitions of whole batches until the mean is known well enough."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from efflab.measuring.stats import Welford

Progress = Callable[[int, float, float], None]
"""Called as ``progress(n_batches, elapsed_s, ci_rel)`` about every 0.25 s of timed work."""


@dataclass(frozen=True)
class TimingResult:
    """Per-batch latencies of the timed window (warm-up excluded), all in seconds."""

    times_s: tuple[float, ...]
    window_s: float
    hit_cap: bool
    cancelled: bool = False

    @property
    def n(self) -> int:
        return len(self.times_s)

    @property
    def mean_s(self) -> float:
        return float(np.mean(self.times_s))

    @property
    def std_s(self) -> float:
        return float(np.std(self.times_s, ddof=1)) if self.n > 1 else math.nan

    @property
    def ci_half_s(self) -> float:
        w = Welford()
        for t in self.times_s:
            w.add(t)
        return w.ci_half

    @property
    def p50_s(self) -> float:
        return float(np.percentile(self.times_s, 50))

    def p95_s(self, min_samples: int) -> float | None:
        """p95, or None when fewer than ``min_samples`` batches were timed."""
        return float(np.percentile(self.times_s, 95)) if self.n >= min_samples else None


WARMUP_ENOUGH_S = 1.0
"""A warm-up that has run this long (at least one batch) is done, whatever ``min_batches`` asks:
a second 2.7 s batch of the prompted LLM warms nothing the first did not."""


def warmup(
    step: Callable[[], object],
    sync: Callable[[], None],
    *,
    min_s: float,
    min_batches: int,
    enough_s: float = WARMUP_ENOUGH_S,
) -> int:
    """Run ``step`` until both ``min_s`` seconds and ``min_batches`` calls have passed (or, after one
    call, ``enough_s`` seconds); return the count."""
    n = 0
    t0 = time.perf_counter()
    while n < min_batches or time.perf_counter() - t0 < min_s:
        step()
        sync()
        n += 1
        if time.perf_counter() - t0 >= max(enough_s, min_s):
            break
    return n


def timed_loop(
    step: Callable[[], object],
    sync: Callable[[], None],
    *,
    min_window_s: float,
    max_window_s: float,
    target_ci_rel: float,
    min_batches: int,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TimingResult:
    """Time whole batches until the 95 % CI half-width of the mean is within ``target_ci_rel``.

    Stops when at least ``min_batches`` were timed, ``min_window_s`` has passed and the CI target
    is met; or when ``max_window_s`` is reached (``hit_cap``); or when ``should_stop()`` turns true
    (``cancelled``). Timestamps are taken back to back so the loop adds one ``perf_counter`` call
    and a few float operations per batch.
    """
    times: list[float] = []
    w = Welford()
    t_start = time.perf_counter()
    t_prev = t_start
    next_report = t_start + 0.25
    hit_cap = cancelled = False
    while True:
        step()
        sync()
        t_now = time.perf_counter()
        dt = t_now - t_prev
        t_prev = t_now
        times.append(dt)
        w.add(dt)
        elapsed = t_now - t_start
        if w.n >= min_batches and elapsed >= min_window_s and w.ci_half <= target_ci_rel * w.mean:
            break
        if elapsed >= max_window_s:
            hit_cap = True
            break
        if t_now >= next_report:
            next_report = t_now + 0.25
            if progress is not None:
                progress(w.n, elapsed, w.ci_half / w.mean if w.mean > 0 else math.inf)
            if should_stop is not None and should_stop():
                cancelled = True
                break
    return TimingResult(tuple(times), t_prev - t_start, hit_cap, cancelled)
