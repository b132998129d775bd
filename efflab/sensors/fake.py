"""A fake sensor for tests: constant power, exact arithmetic, labelled as fake."""

from __future__ import annotations

import time

from efflab.records import EnergyReading
from efflab.sensors.base import _WindowClock


class FakeSensor(_WindowClock):
    """Reports ``power_w`` x window duration. Never measured; never chosen by ``auto``."""

    name = "fake"
    measured = False

    def __init__(self, power_w: float = 10.0, uncertainty_rel: float = 0.0) -> None:
        super().__init__()
        self.power_w = float(power_w)
        self.uncertainty_rel = float(uncertainty_rel)
        self.windows = 0
        self.closed = False
        self._cpu0 = 0.0

    def available(self) -> bool:
        return True

    def begin_window(self, *, restart: bool = True) -> None:
        self._start_clock(restart)
        self._cpu0 = time.process_time()

    def end_window(self) -> EnergyReading:
        dt = self._stop_clock()
        self.windows += 1
        return EnergyReading(
            energy_j=self.power_w * dt,
            duration_s=dt,
            source=self.name,
            measured=False,
            uncertainty_rel=self.uncertainty_rel,
            detail=f"fake sensor: constant {self.power_w:g} W (tests only)",
            cpu_j=self.power_w * dt,
            ram_j=0.0,
            gpu_j=0.0,
            cpu_seconds=time.process_time() - self._cpu0,
            basis="modelled",
        )

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> FakeSensor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
