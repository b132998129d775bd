"""What a measurement ran on, and how busy the machine was while it ran."""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from pathlib import Path

from efflab.records import Fingerprint


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def _own_jiffies() -> int:
    # utime + stime of this process (all threads), and of waited-for children.
    parts = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12]) + int(parts[13]) + int(parts[14])


@dataclass
class CpuWindow:
    """Snapshot of CPU use at a window's start; ``other_share()`` at its end."""

    busy0: int = 0
    total0: int = 0
    own0: int = 0
    load0: float = 0.0
    ok: bool = False

    @classmethod
    def start(cls) -> CpuWindow:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        try:
            busy, total = _cpu_jiffies()
            return cls(busy, total, _own_jiffies(), load, True)
        except (OSError, ValueError, IndexError):
            return cls(load0=load)

    def other_share(self) -> float | None:
        """Share (0..1) of the machine's CPU time used by other processes during the window."""
        if not self.ok:
            return None
        try:
            busy, total = _cpu_jiffies()
            own = _own_jiffies()
        except (OSError, ValueError, IndexError):
            return None
        dt = total - self.total0
        if dt <= 0:
            return 0.0
        return max(0.0, min(1.0, ((busy - self.busy0) - (own - self.own0)) / dt))


def fingerprint(
    device: str,
    *,
    window: CpuWindow | None = None,
    cpu_flags: tuple[str, ...] = (),
) -> Fingerprint:
    """Fingerprint of this machine; with ``window``, the load during that window."""
    import torch
    import transformers

    from efflab import __version__

    gpu_name = gpu_driver = None
    if device.startswith("cuda") and torch.cuda.is_available():
        idx = int(device.split(":", 1)[1]) if ":" in device else 0
        gpu_name = torch.cuda.get_device_name(idx)
        try:
            from efflab.sensors.nvml import NvmlSensor

            gpu_driver = NvmlSensor(idx).driver_version()
        except Exception:  # the driver version is informative only
            gpu_driver = None
    load_now = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    keep = tuple(f for f in cpu_flags if f.startswith(("avx", "amx", "fma", "sse4")) or "vnni" in f)
    return Fingerprint(
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count() or 1,
        threads=torch.get_num_threads(),
        gpu_name=gpu_name,
        gpu_driver=gpu_driver,
        torch_version=torch.__version__,
        transformers_version=transformers.__version__,
        efflab_version=__version__,
        python_version=platform.python_version(),
        platform=platform.platform(terse=True),
        hostname=socket.gethostname(),
        load_avg_1m_before=window.load0 if window else load_now,
        load_avg_1m_after=load_now,
        other_cpu_share=window.other_share() if window else None,
        cpu_flags=keep,
    )


def hardware_key(device: str, threads: int | None = None) -> str:
    """The hardware part of a cohort for ``device`` on this machine, computed without importing torch
    (fast resumes): ``CPU MODEL xN`` (`` · T thread(s)`` when measured with a chosen number of
    threads) plus the GPU's name for a CUDA device."""
    from efflab.errors import EfflabError

    key = f"{cpu_model()} x{os.cpu_count()}"
    if threads is not None:
        key += f" · {threads} thread{'s' if threads != 1 else ''}"
    if device.startswith("cuda"):
        idx = int(device.split(":", 1)[1]) if ":" in device else 0
        try:
            from efflab.sensors.nvml import NvmlSensor

            key += f" + {NvmlSensor(idx).gpu_name()}"
        except EfflabError:
            key += f" + {device}"
    return key
