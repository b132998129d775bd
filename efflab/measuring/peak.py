"""The device's GEMM peak, measured in this process for a device and precision (the MFU denominator)."""

from __future__ import annotations

import functools
import time
import warnings


@functools.cache
def gemm_peak_flops(device: str, precision: str, threads: int) -> float:
    """Best FLOP/s of a square matmul at ``precision`` on ``device`` (measured, ~0.5 s).

    Memoised per (device, precision, threads) for the life of the process: the number describes the
    hardware, and re-measuring it for every configuration would cost more than the configuration.
    For ``int8`` the GEMM is PyTorch's dynamically quantised Linear, the same kernel int8 models use.
    """
    import torch

    # CPUs without native bf16/fp16 emulate them slowly: a smaller matrix keeps this under a second.
    n = 4096 if device.startswith("cuda") else (1024 if precision in ("fp32", "int8") else 256)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": torch.float32}[
        precision
    ]
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype).to(device)
    if precision == "int8":
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

    flops = 2.0 * n**3
    with torch.inference_mode():
        op()
        sync()
        best = float("inf")
        t_end = time.perf_counter() + (0.5 if precision in ("fp32", "int8") or device != "cpu" else 0.3)
        reps = 0
        while reps < 3 or (time.perf_counter() < t_end and reps < 200):
            t0 = time.perf_counter()
            op()
            sync()
            best = min(best, time.perf_counter() - t0)
            reps += 1
    return flops / best
