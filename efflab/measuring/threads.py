"""How many CPU threads a measurement uses (``MethodSettings.threads`` / ``--threads``).

On a VM whose vCPUs the host shares with other guests, a second thread may get its core only part of
the time: on a 2-vCPU cloud VM here, a 2-thread 512³ matmul loop ran at 283–967 calls/s from one second
to the next (its CPU-seconds per wall second 1.2–2.0, no steal reported), while one thread ran at
523–541 (±2 %). Fewer threads measure a slower but steadier configuration; the cohort says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


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
