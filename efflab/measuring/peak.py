"""The device's GEMM peak, measured in this process for a device and precision (the MFU denominator).

AMX (bf16, int8) and AVX-512 reach their rate only on large matrices: a 256^3 bf16 matmul runs far
below what the same CPU reaches at 2048^3, and a model's big matmuls then "exceed" the peak (MFU > 1).
So the peak is the best FLOP/s over several sizes, smallest first, each the best of a few trials,
and the ladder stops early when one matmul gets slow (CPUs that emulate bf16/fp16). If a point still
exceeds it, ``refresh_peak`` measures again with more sizes and trials and keeps the larger figure.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

# Per (device, precision, threads): the best FLOP/s seen in this process.
_PEAKS: dict[tuple[str, str, int], float] = {}

_CPU_SIZES = (256, 512, 1024, 2048)
_GPU_SIZES = (2048, 4096, 8192)


def _op(device: str, precision: str, n: int) -> tuple[Callable[[], object], Callable[[], None]]:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}[
        precision
    ]
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype).to(device)
    if precision == "int8":
        # PyTorch's dynamically quantised Linear: the kernel int8 models use (VNNI/AMX where present).
        lin = torch.nn.Linear(n, n, bias=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch.ao.quantization.quantize_dynamic(
                torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8
            )

        def op() -> object:
            return q(a)
    else:
        b = torch.randn(n, n, generator=g).to(dtype).to(device)

        def op() -> object:
            return a @ b

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)

    return op, sync


def _ladder(device: str, precision: str, *, sizes: tuple[int, ...], trials: int, budget_s: float) -> float:
    import torch

    best_rate = 0.0
    t_end = time.perf_counter() + budget_s
    with torch.inference_mode():
        for n in sizes:
            op, sync = _op(device, precision, n)
            op()
            sync()
            best = float("inf")
            for _ in range(trials):
                t0 = time.perf_counter()
                op()
                sync()
                best = min(best, time.perf_counter() - t0)
            best_rate = max(best_rate, 2.0 * n**3 / best)
            # A slow matmul (emulated precision) says the next size would cost too much.
            if best > 0.25 or time.perf_counter() > t_end:
                break
    return best_rate


def gemm_peak_flops(device: str, precision: str, threads: int) -> float:
    """Best FLOP/s of square matmuls at ``precision`` on ``device`` (measured once per process, ~1 s).

    The figure describes the hardware, so it is kept for the life of the process.
    """
    key = (device, precision, threads)
    if key not in _PEAKS:
        sizes = _GPU_SIZES if device.startswith("cuda") else _CPU_SIZES
        _PEAKS[key] = _ladder(device, precision, sizes=sizes, trials=3, budget_s=1.5)
    return _PEAKS[key]


def refresh_peak(device: str, precision: str, threads: int) -> float:
    """Measure the peak again, harder (bigger sizes, more trials); keep and return the larger figure."""
    sizes = (*_GPU_SIZES, 16384) if device.startswith("cuda") else (*_CPU_SIZES, 3072, 4096)
    new = _ladder(device, precision, sizes=sizes, trials=6, budget_s=4.0)
    key = (device, precision, threads)
    _PEAKS[key] = max(new, _PEAKS.get(key, 0.0))
    return _PEAKS[key]


def forget_peaks() -> None:
    """Drop the measured peaks (tests)."""
    _PEAKS.clear()
