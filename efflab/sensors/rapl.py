"""CPU package energy from Linux powercap (Intel RAPL / AMD RAPL); measured where readable."""

from __future__ import annotations

from pathlib import Path

from efflab.errors import SensorError
from efflab.records import EnergyReading
from efflab.sensors.base import _WindowClock

POWERCAP = Path("/sys/class/powercap")


def _package_domains(root: Path = POWERCAP) -> list[Path]:
    # Top-level domains only (intel-rapl:0, intel-rapl:1): sub-domains (core, dram) are inside them.
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.glob("*-rapl:*")):
        if d.name.count(":") == 1 and (d / "energy_uj").exists():
            out.append(d)
    return out


class RaplSensor(_WindowClock):
    """Sums ``energy_uj`` over CPU package domains, handling counter wrap-around.

    The counter covers the whole socket (every process), so other load on the machine is included;
    the fingerprint's ``other_cpu_share`` says how much there was.
    """

    name = "rapl"
    measured = True
    uncertainty_rel = 0.05

    def __init__(self, root: Path = POWERCAP) -> None:
        super().__init__()
        self.root = root
        self._start: dict[Path, int] = {}

    def _read(self) -> dict[Path, int]:
        try:
            return {d: int((d / "energy_uj").read_text()) for d in _package_domains(self.root)}
        except (OSError, ValueError) as e:
            msg = f"cannot read RAPL counters under {self.root}: {e}; run as root or use --sensor codecarbon"
            raise SensorError(msg) from e

    def available(self) -> bool:
        try:
            return bool(self._read())
        except SensorError:
            return False

    def begin_window(self, *, restart: bool = True) -> None:
        self._start_clock(restart)
        self._start = self._read()

    def end_window(self) -> EnergyReading:
        end = self._read()
        dt = self._stop_clock()
        total_uj = 0
        for d, e1 in end.items():
            e0 = self._start.get(d, e1)
            if e1 < e0:  # wrapped
                try:
                    span = int((d / "max_energy_range_uj").read_text())
                except (OSError, ValueError):
                    span = 0
                e1 += span
            total_uj += e1 - e0
        return EnergyReading(
            energy_j=total_uj / 1e6,
            duration_s=dt,
            source=self.name,
            measured=True,
            uncertainty_rel=self.uncertainty_rel,
            detail=f"RAPL package counters ({len(end)} domain(s)), whole socket incl. other processes",
            cpu_j=total_uj / 1e6,
            basis="measured",
        )

    def close(self) -> None:
        self._start = {}
