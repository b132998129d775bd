"""CPU/GPU/RAM energy estimated by CodeCarbon (offline tracker only); usually an estimate.

CodeCarbon reads RAPL or NVML where it can, and otherwise models CPU power as TDP x load (the usual
case in VMs). efflab reports the figure as *estimated* unless CodeCarbon says it read a hardware
counter. One ``OfflineEmissionsTracker`` (the online one calls the network) is created lazily and
reused through ``start_task``/``stop_task``; ``close()`` stops it.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from efflab.errors import SensorError
from efflab.records import EnergyReading
from efflab.sensors.base import _WindowClock

# TDP x load is a coarse model: the CPU is rarely at TDP, and load is not power. Published
# comparisons of CodeCarbon against wall meters put such estimates tens of percent off; we
# carry +/- 50 % so that ranges (savings, stars) stay honest.
ESTIMATE_UNCERTAINTY_REL = 0.5
MEASURED_UNCERTAINTY_REL = 0.05


class CodeCarbonSensor(_WindowClock):
    """Energy of one window from CodeCarbon's ``OfflineEmissionsTracker`` in process mode."""

    name = "codecarbon"

    def __init__(self, country: str = "USA", *, gpu_ids: list[int] | None = None) -> None:
        super().__init__()
        self.country = country
        self.gpu_ids = gpu_ids
        self._tracker: Any = None
        self._open_task = False
        self.measured = False
        self._detail = ""

    def open(self) -> Any:
        """Create and prime the tracker once. Raises SensorError with the reason."""
        if self._tracker is not None:
            return self._tracker
        try:
            from codecarbon import EmissionsTracker, OfflineEmissionsTracker
        except ImportError as e:
            msg = "the codecarbon sensor needs the codecarbon package; run `make setup` or `pip install codecarbon`"
            raise SensorError(msg) from e
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        try:
            # Nothing is written anywhere: efflab keeps the figures. CodeCarbon 3 names this
            # output_methods=[]; older releases used save_to_file=False.
            quiet: dict[str, Any] = (
                {"output_methods": []}
                if "output_methods" in inspect.signature(EmissionsTracker.__init__).parameters
                else {"save_to_file": False}
            )
            tracker = OfflineEmissionsTracker(
                country_iso_code=self.country,
                tracking_mode="process",
                allow_multiple_runs=True,
                log_level="error",
                gpu_ids=self.gpu_ids,
                **quiet,
            )
        except Exception as e:  # codecarbon raises a variety of errors on odd hardware
            msg = f"CodeCarbon could not start ({type(e).__name__}: {e}); use --sensor rapl or nvml where available"
            raise SensorError(msg) from e
        try:
            # The first task sets up CodeCarbon's hardware (seconds); do it outside any timed window.
            tracker.start_task("efflab-prime")
            tracker.stop_task()
        except Exception as e:
            msg = (
                f"CodeCarbon failed to read this machine ({type(e).__name__}: {e}); use --sensor rapl or nvml"
            )
            raise SensorError(msg) from e
        self._tracker = tracker
        self.measured, self._detail = self._describe(tracker)
        return tracker

    @staticmethod
    def _describe(tracker: Any) -> tuple[bool, str]:
        """Whether CodeCarbon reads hardware counters here, and how it gets the CPU figure."""
        parts = []
        measured = True
        for hw in getattr(tracker, "_hardware", []):
            cls = type(hw).__name__
            mode = getattr(hw, "_mode", None)
            if cls == "CPU":
                tdp = getattr(hw, "_tdp", None)
                model = getattr(hw, "_model", "CPU")
                if mode in ("intel_rapl", "intel_power_gadget", "apple_powermetrics"):
                    parts.append(f"CPU {model}: {mode} counters")
                else:
                    measured = False
                    generic = ", generic TDP" if getattr(hw, "_is_generic_tdp", False) else ""
                    parts.append(f"CPU {model}: {mode} model ({tdp} W TDP x process CPU load{generic})")
            elif cls == "RAM":
                measured = False
                parts.append("RAM: power model from memory size")
            elif cls == "GPU":
                parts.append("GPU: NVML")
            else:
                parts.append(cls)
        return measured, "CodeCarbon offline tracker, process mode; " + "; ".join(parts)

    def available(self) -> bool:
        try:
            self.open()
        except SensorError:
            return False
        return True

    def begin_window(self, *, restart: bool = True) -> None:
        tracker = self.open()
        if self._open_task:
            if not restart:
                msg = "a codecarbon window is already open; call end_window() first"
                raise SensorError(msg)
            tracker.stop_task()
        self._start_clock(restart=True)
        tracker.start_task("efflab-window")
        self._open_task = True

    def end_window(self) -> EnergyReading:
        if not self._open_task:
            msg = "end_window() called with no open codecarbon window; call begin_window() first"
            raise SensorError(msg)
        data = self._tracker.stop_task()
        self._open_task = False
        dt = self._stop_clock()
        if data is None:
            msg = "CodeCarbon returned no data for the window; retry, or use --sensor rapl/nvml"
            raise SensorError(msg)
        kwh = float(data.energy_consumed)
        return EnergyReading(
            energy_j=kwh * 3.6e6,
            duration_s=dt,
            source=self.name,
            measured=self.measured,
            uncertainty_rel=MEASURED_UNCERTAINTY_REL if self.measured else ESTIMATE_UNCERTAINTY_REL,
            detail=self._detail
            + f" (cpu {float(data.cpu_energy) * 3.6e6:.3g} J, ram {float(data.ram_energy) * 3.6e6:.3g} J, "
            f"gpu {float(data.gpu_energy) * 3.6e6:.3g} J)",
        )

    def close(self) -> None:
        if self._tracker is not None:
            try:
                if self._open_task:
                    self._tracker.stop_task()
            finally:
                self._tracker.stop()
                self._tracker = None
                self._open_task = False

    def __enter__(self) -> CodeCarbonSensor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
