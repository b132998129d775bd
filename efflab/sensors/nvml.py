"""GPU energy from NVIDIA's total-energy counter (Volta and newer); measured.

``pynvml`` (package ``nvidia-ml-py``, extra ``efflab[gpu]``) is imported lazily; its errors become
``SensorError`` at this boundary.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any

from efflab.errors import SensorError
from efflab.records import EnergyReading
from efflab.sensors.base import _WindowClock

# The counter is refreshed about every 100 ms: a window shorter than this is mostly quantisation.
COUNTER_RESOLUTION_S = 0.1
MIN_RELIABLE_WINDOW_S = 5.0


def _import_pynvml() -> Any:
    try:
        import pynvml
    except ImportError as e:
        msg = "the nvml sensor needs nvidia-ml-py; install it with `pip install 'efflab[gpu]'`"
        raise SensorError(msg) from e
    return pynvml


def nvml_index_for(torch_index: int, visible: str | None = None) -> int | str:
    """Map a torch CUDA index to an NVML index or UUID, respecting ``CUDA_VISIBLE_DEVICES``.

    torch numbers only the visible devices; NVML numbers all of them. Returns an int index or a
    UUID string (``GPU-...``/``MIG-...``) for NVML to look up.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    if visible is None or visible.strip() == "":
        return torch_index
    entries = [v.strip() for v in visible.split(",") if v.strip()]
    if torch_index >= len(entries):
        msg = f"cuda:{torch_index} is not visible (CUDA_VISIBLE_DEVICES={visible!r}); pick a lower index"
        raise SensorError(msg)
    entry = entries[torch_index]
    return int(entry) if entry.isdigit() else entry


class NvmlSensor(_WindowClock):
    """Energy-counter deltas (mJ) of one GPU over a window."""

    name = "nvml"
    measured = True
    # NVIDIA documents the power/energy readings to about +/- 5 %.
    uncertainty_rel = 0.05

    def __init__(self, device_index: int = 0) -> None:
        super().__init__()
        self.device_index = device_index
        self._nvml: Any = None
        self._handle: Any = None
        self._start_mj: int | None = None

    def open(self) -> None:
        """Initialise NVML and the device handle. Raises SensorError with the reason."""
        if self._handle is not None:
            return
        nvml = _import_pynvml()
        try:
            nvml.nvmlInit()
            target = nvml_index_for(self.device_index)
            if isinstance(target, int):
                handle = nvml.nvmlDeviceGetHandleByIndex(target)
            else:
                handle = nvml.nvmlDeviceGetHandleByUUID(target)
            nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        except SensorError:
            raise
        except Exception as e:  # NVMLError and friends, raised by the vendor library
            msg = f"NVML cannot read the energy counter of cuda:{self.device_index}: {e}; use --sensor codecarbon"
            raise SensorError(msg) from e
        self._nvml, self._handle = nvml, handle

    def available(self) -> bool:
        try:
            self.open()
        except SensorError:
            return False
        return True

    def gpu_name(self) -> str:
        self.open()
        name = self._nvml.nvmlDeviceGetName(self._handle)
        return name.decode() if isinstance(name, bytes) else str(name)

    def driver_version(self) -> str:
        self.open()
        v = self._nvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)

    def _read_mj(self) -> int:
        try:
            return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except Exception as e:  # NVMLError
            msg = f"NVML energy read failed on cuda:{self.device_index}: {e}"
            raise SensorError(msg) from e

    def begin_window(self, *, restart: bool = True) -> None:
        self.open()
        self._start_clock(restart)
        self._start_mj = self._read_mj()

    def end_window(self) -> EnergyReading:
        end_mj = self._read_mj()
        dt = self._stop_clock()
        start = self._start_mj if self._start_mj is not None else end_mj
        self._start_mj = None
        if dt < MIN_RELIABLE_WINDOW_S:
            warnings.warn(
                f"NVML window of {dt:.2f} s is shorter than {MIN_RELIABLE_WINDOW_S:g} s; the energy counter "
                f"updates about every {COUNTER_RESOLUTION_S * 1000:.0f} ms, so this figure is coarse",
                RuntimeWarning,
                stacklevel=2,
            )
        # Quantisation of +/- one counter update at the mean power, relative to the window.
        quant = COUNTER_RESOLUTION_S / dt if dt > 0 else 1.0
        return EnergyReading(
            energy_j=(end_mj - start) / 1000.0,
            duration_s=dt,
            source=self.name,
            measured=True,
            uncertainty_rel=self.uncertainty_rel + quant,
            detail=f"NVML total-energy counter of {self.gpu_name()} (GPU board only, not CPU/RAM)",
            gpu_j=(end_mj - start) / 1000.0,
            basis="measured",
        )

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._nvml = self._handle = None
