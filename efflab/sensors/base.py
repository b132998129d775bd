"""The one protocol every energy sensor follows (after zeus' device abstraction).

A sensor is created once, opened lazily, and reused across many windows::

    sensor.begin_window()          # safe to call again: restarts the window
    ...work...
    reading = sensor.end_window()  # EnergyReading with its source and provenance
    sensor.close()                 # or use it as a context manager
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from efflab.records import EnergyReading


@runtime_checkable
class Sensor(Protocol):
    """An energy sensor: ``available()``, a start/stop window, a reading with its source."""

    name: str
    measured: bool

    def available(self) -> bool:
        """True when this sensor can read on this machine now."""
        ...

    def begin_window(self, *, restart: bool = True) -> None:
        """Start a window; with ``restart`` an open window is discarded and started anew."""
        ...

    def end_window(self) -> EnergyReading:
        """Close the window and return its energy. Raises SensorError if no window is open."""
        ...

    def close(self) -> None:
        """Release the sensor's resources. Safe to call twice."""
        ...


class _WindowClock:
    """Shared bookkeeping of the window's start time."""

    def __init__(self) -> None:
        self._t0: float | None = None

    def _start_clock(self, restart: bool) -> None:
        from efflab.errors import SensorError

        if self._t0 is not None and not restart:
            msg = "a sensor window is already open; call end_window() first or begin_window(restart=True)"
            raise SensorError(msg)
        self._t0 = time.perf_counter()

    def _stop_clock(self) -> float:
        from efflab.errors import SensorError

        if self._t0 is None:
            msg = "end_window() called with no open window; call begin_window() first"
            raise SensorError(msg)
        dt = time.perf_counter() - self._t0
        self._t0 = None
        return dt
