"""How many CPU threads a measurement uses (``MethodSettings.threads`` / ``--threads``).

On a VM whose vCPUs the host shares with other guests, a second thread may get its core only part of
the time: on a 2-vCPU cloud VM here, a 2-thread 512³ matmul loop ran at 283–967 calls/s from one second
to the next (its CPU-seconds per wall second 1.2–2.0, no steal reported), while one thread ran at
523–541 (±2 %). Fewer threads measure a slower but steadier configuration; the cohort says which.

The default policy (``--threads auto``) measures what the machine gives: a short probe (about 1.2 s)
times a matmul loop with one thread and with torch's default, alternately, and keeps the default only
where it runs clearly faster (>= 1.3x) and steadily (no block below 75 % of its median). With another
busy process on a 2-vCPU VM the second thread collapses (minilm-l3 at batch 8: 2.6x slower than idle,
per-round spread 0.22 against 0.10 with one thread), and the probe picks one thread.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from efflab.config import MethodSettings


@contextmanager
def use_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (``None``: leave them as they are), restoring
    the previous number afterwards."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


# The probe behind the default thread policy (``--threads auto``).
PROBE_BLOCK_S = 0.1
PROBE_BLOCKS = 6
MIN_SPEEDUP = 1.3
"""More threads are used only where they run at least this much faster than one."""
STEADY = 0.75
"""... and where no probe block ran below this fraction of their median rate (no collapse)."""


@dataclass(frozen=True)
class ThreadProbe:
    """What the probe saw: calls per second of a matmul loop, per block, with 1 and with ``n`` threads."""

    n: int
    one: tuple[float, ...]
    many: tuple[float, ...]

    @property
    def speedup(self) -> float:
        return statistics.median(self.many) / statistics.median(self.one)

    @property
    def steadiness(self) -> float:
        """The slowest block with ``n`` threads as a fraction of their median rate."""
        return min(self.many) / statistics.median(self.many)

    @property
    def choice(self) -> int:
        return self.n if self.speedup >= MIN_SPEEDUP and self.steadiness >= STEADY else 1

    def describe(self) -> str:
        n = self.choice
        verdict = (
            f"{self.n} threads ran {self.speedup:.2g}× one thread's rate, steadily (slowest block "
            f"{self.steadiness * 100:.0f} % of their median)"
            if n == self.n
            else f"{self.n} threads ran {self.speedup:.2g}× one thread's rate, slowest block "
            f"{self.steadiness * 100:.0f} % of their median: not steady or not faster enough, so 1 thread"
        )
        return f"auto: {verdict}"


def probe_threads(n: int, *, block_s: float = PROBE_BLOCK_S, blocks: int = PROBE_BLOCKS) -> ThreadProbe:
    """Time a 256×256 matmul loop in alternating blocks with 1 and ``n`` threads (about
    ``2 · blocks · block_s`` seconds), the way a measurement would use them."""
    import time

    import torch

    a = torch.randn(256, 256)
    b = torch.randn(256, 256)
    before = torch.get_num_threads()
    one: list[float] = []
    many: list[float] = []
    try:
        for i in range(2 * blocks):
            k = 1 if i % 2 == 0 else n
            torch.set_num_threads(k)
            torch.mm(a, b)  # the first call after a change starts the pool
            calls = 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < block_s:
                torch.mm(a, b)
                calls += 1
            (one if k == 1 else many).append(calls / (time.perf_counter() - t0))
    finally:
        torch.set_num_threads(before)
    return ThreadProbe(n, tuple(one), tuple(many))


def remembered_key() -> str:
    """The ``efflab_meta`` key a store keeps this machine's thread decision under."""
    from efflab.measuring.fingerprint import cpu_model

    return f"threads@{cpu_model()} x{os.cpu_count()}"


def from_memory(method: MethodSettings, remembered: str | None) -> MethodSettings | None:
    """``method`` with the thread decision a store remembers for this machine (``N|why``), for
    ``--threads auto``; None when there is none (or the user chose): a re-run into the same store keeps
    its cohort instead of probing again."""
    import dataclasses

    if remembered is None or method.threads is not None or method.threads_source:
        return None
    n, _, why = remembered.partition("|")
    if n == "default":
        threads = None
    elif n.isdigit() and int(n) >= 1:
        threads = int(n)
    else:
        return None
    return dataclasses.replace(
        method, threads=threads, threads_source=f"{why} (kept from this store's first sweep)"
    )


def memory_of(method: MethodSettings) -> str | None:
    """What a store remembers of an ``auto`` decision (``N|why``), or None for one the user set."""
    if not method.threads_source.startswith("auto"):
        return None
    return f"{method.threads if method.threads is not None else 'default'}|{method.threads_source}"


def resolve_threads(method: MethodSettings, devices: Sequence[str] = ("cpu",)) -> MethodSettings:
    """``method`` with its thread count decided: the user's ``--threads N`` as given; else (``auto``)
    the probe's choice on a CPU run — torch's default (one per core, ``threads`` None) where more
    threads run steadily and clearly faster, else 1 — with ``threads_source`` saying why. A method
    whose source is already set is returned as it is."""
    import dataclasses

    if method.threads_source:
        return method
    if method.threads is not None:
        return dataclasses.replace(method, threads_source=f"set by you (--threads {method.threads})")
    cpus = os.cpu_count() or 1
    if not any(d == "cpu" for d in devices):
        return dataclasses.replace(method, threads_source="torch's default (a GPU run)")
    if cpus < 2:
        return dataclasses.replace(method, threads_source="torch's default (one CPU)")
    import torch

    n = torch.get_num_threads()
    if n < 2:
        return dataclasses.replace(method, threads_source=f"torch's default ({n} thread)")
    p = probe_threads(n)
    return dataclasses.replace(
        method, threads=None if p.choice == n else p.choice, threads_source=p.describe()
    )
