"""Peak memory over a window: the CUDA allocator's peak on GPU, the process's peak RSS on CPU."""

from __future__ import annotations

from pathlib import Path


class PeakMemory:
    """Resets the high-water mark at ``start()``; ``peak_bytes()`` reads it.

    On CPU, Linux's VmHWM is reset by writing 5 to /proc/self/clear_refs, so the peak is the
    window's own (no sampling thread). Where that is not allowed, the process-lifetime peak is
    returned and ``reset_ok`` is False.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.reset_ok = False

    def start(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
            self.reset_ok = True
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.reset_ok = True
        except OSError:
            self.reset_ok = False

    def peak_bytes(self) -> int | None:
        if self.device.startswith("cuda"):
            import torch

            return int(torch.cuda.max_memory_allocated(self.device))
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError):
            return None
        return None
