"""CPU/GPU/RAM energy from CodeCarbon (offline tracker only); on VMs a model, not a measurement.

CodeCarbon reads RAPL or NVML where it can. Without RAPL (the usual case in VMs) its process-mode
figure for a window is (watts per thread x this process's CPU-seconds) + (RAM watts x wall seconds):
when it does not find the CPU in its table it falls back to 4 W per thread, and RAM is a flat
wattage. Such energy is a constant times CPU time, so it ranks like latency. Each reading says so in
fields (``basis``, the CPU/RAM/GPU parts, CPU-seconds, the watts used, whether the CPU matched).

One ``OfflineEmissionsTracker`` (the online one calls the network) is created lazily and reused
through ``start_task``/``stop_task``; ``close()`` stops it. For a CPU run no GPU is tracked.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

from efflab.config import DEFAULT_COUNTRY
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

    def __init__(
        self,
        country: str = DEFAULT_COUNTRY,
        *,
        gpu_ids: list[int] | None = None,
        cpu_power_w: float | None = None,
        ram_power_w: float | None = None,
    ) -> None:
        """``gpu_ids=None`` or ``[]`` tracks no GPU (a CPU run); ``[i]`` tracks GPU ``i`` only.

        ``cpu_power_w`` / ``ram_power_w`` override CodeCarbon's CPU (full-load package) and RAM
        wattage (``force_cpu_power`` / ``force_ram_power``); the energy is then ``modelled (user watts)``.
        """
        super().__init__()
        self.country = country
        self.gpu_ids = list(gpu_ids) if gpu_ids else []
        self.cpu_power_w = cpu_power_w
        self.ram_power_w = ram_power_w
        self._tracker: Any = None
        self._open_task = False
        self.measured = False
        self._detail = ""
        self._facts: dict[str, Any] = {}
        self._cpu0 = 0.0

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
            forced: dict[str, Any] = {}
            if self.cpu_power_w is not None:
                forced["force_cpu_power"] = self.cpu_power_w
            if self.ram_power_w is not None:
                forced["force_ram_power"] = self.ram_power_w
            tracker = OfflineEmissionsTracker(
                country_iso_code=self.country,
                tracking_mode="process",
                allow_multiple_runs=True,
                log_level="error",
                gpu_ids=self.gpu_ids or None,
                **forced,
                **quiet,
            )
            if not self.gpu_ids:
                # CodeCarbon reads None and [] alike as "every GPU": a CPU run must not carry
                # the machine's (idle) GPUs, so their hardware entry is dropped.
                drop_gpus(tracker)
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
        self._facts = self._power_facts(tracker)
        return tracker

    def _power_facts(self, tracker: Any) -> dict[str, Any]:
        """Watts per thread, RAM watts, whether CodeCarbon knew this CPU, and the energy basis."""
        facts: dict[str, Any] = {
            "cpu_watts_per_thread": None,
            "ram_watts": float(self.ram_power_w) if self.ram_power_w is not None else None,
            "cpu_power_matched": None,
        }
        for hw in getattr(tracker, "_hardware", []):
            cls = type(hw).__name__
            if cls == "CPU" and getattr(hw, "_mode", None) in ("cpu_load", "constant"):
                tdp, n = getattr(hw, "_tdp", None), getattr(hw, "_cpu_count", None)
                if tdp and n:
                    facts["cpu_watts_per_thread"] = float(tdp) / float(n)
                facts["cpu_power_matched"] = cpu_power_matched(getattr(hw, "_model", "") or "")
            elif cls == "RAM" and self.ram_power_w is None:
                facts["ram_watts"] = _ram_watts(hw)
        if self.measured:
            facts["basis"] = "measured"
        elif self.cpu_power_w is not None or self.ram_power_w is not None:
            facts["basis"] = "modelled (user watts)"
        else:
            facts["basis"] = "modelled"
        return facts

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
                    n = getattr(hw, "_cpu_count", None) or 1
                    parts.append(
                        f"CPU {model}: modelled as {float(tdp or 0) / n:.3g} W per thread x this process's "
                        "CPU-seconds"
                    )
            elif cls == "RAM":
                measured = False
                parts.append("RAM: modelled as a constant wattage x wall seconds")
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
        self._cpu0 = time.process_time()
        tracker.start_task("efflab-window")
        self._open_task = True

    def end_window(self) -> EnergyReading:
        if not self._open_task:
            msg = "end_window() called with no open codecarbon window; call begin_window() first"
            raise SensorError(msg)
        data = self._tracker.stop_task()
        cpu_s = time.process_time() - self._cpu0
        self._open_task = False
        dt = self._stop_clock()
        if data is None:
            msg = "CodeCarbon returned no data for the window; retry, or use --sensor rapl/nvml"
            raise SensorError(msg)
        cpu_j = float(data.cpu_energy or 0.0) * 3.6e6
        ram_j = float(data.ram_energy or 0.0) * 3.6e6
        gpu_j = float(data.gpu_energy or 0.0) * 3.6e6
        facts = self._facts
        ram_w = facts.get("ram_watts")
        if ram_w is None and getattr(data, "ram_power", None):
            ram_w = float(data.ram_power)
        return EnergyReading(
            # The parts, so that they sum to the total (CodeCarbon's total is their sum x PUE 1).
            energy_j=cpu_j + ram_j + gpu_j,
            duration_s=dt,
            source=self.name,
            measured=self.measured,
            uncertainty_rel=MEASURED_UNCERTAINTY_REL if self.measured else ESTIMATE_UNCERTAINTY_REL,
            detail=self._detail,
            cpu_j=cpu_j,
            ram_j=ram_j,
            gpu_j=gpu_j,
            cpu_seconds=cpu_s,
            cpu_watts_per_thread=facts.get("cpu_watts_per_thread"),
            ram_watts=ram_w,
            cpu_power_matched=facts.get("cpu_power_matched"),
            basis=str(facts.get("basis") or ("measured" if self.measured else "modelled")),
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


def drop_gpus(tracker: Any) -> int:
    """Remove GPU hardware from a CodeCarbon tracker (a CPU run); return how many were removed."""
    hw = list(getattr(tracker, "_hardware", []))
    keep = [h for h in hw if type(h).__name__ != "GPU"]
    if len(keep) != len(hw):
        tracker._hardware = keep
    return len(hw) - len(keep)


def _ram_watts(hw: Any) -> float | None:
    # CodeCarbon 3 models RAM as a constant wattage; read it where the object exposes it.
    for attr in ("_force_ram_power",):
        v = getattr(hw, attr, None)
        if v:
            return float(v)
    try:
        return float(hw.total_power().W)
    except Exception:  # an informative figure only; the reading's ram_power is the fallback
        return None


_MATCHED: dict[str, bool | None] = {}


def cpu_power_matched(model: str) -> bool | None:
    """Whether CodeCarbon's CPU table has ``model`` (False: it uses its generic 4 W per thread)."""
    if model not in _MATCHED:
        try:
            from codecarbon.core.cpu import TDP

            _MATCHED[model] = TDP()._get_cpu_power_from_registry(model) is not None
        except Exception:  # the table is optional information; None says "not known"
            _MATCHED[model] = None
    return _MATCHED[model]
