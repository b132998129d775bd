"""Energy sensors behind one protocol (:class:`Sensor`).

| name         | what                                   | measured? |
|--------------|----------------------------------------|-----------|
| ``nvml``     | GPU total-energy counter               | measured  |
| ``rapl``     | CPU package counters (powercap)        | measured  |
| ``codecarbon``| CodeCarbon offline tracker            | estimated unless it reads counters |
| ``fake``     | constant power, for tests              | never     |

``auto`` picks nvml for a CUDA device, else rapl where readable, else codecarbon.
"""

from __future__ import annotations

from efflab.config import DEFAULT_COUNTRY
from efflab.errors import SensorError, closest
from efflab.sensors.base import Sensor
from efflab.sensors.codecarbon import CodeCarbonSensor
from efflab.sensors.fake import FakeSensor
from efflab.sensors.nvml import NvmlSensor
from efflab.sensors.rapl import RaplSensor

SENSOR_NAMES = ("auto", "nvml", "rapl", "codecarbon", "fake")

__all__ = [
    "SENSOR_NAMES",
    "CodeCarbonSensor",
    "FakeSensor",
    "NvmlSensor",
    "RaplSensor",
    "Sensor",
    "check_sensor_name",
    "make_sensor",
]


def check_sensor_name(spec: str) -> str:
    """``spec`` as a known sensor name (lower case), checked before anything is loaded.

    Raises:
        SensorError: not one of ``SENSOR_NAMES`` (the message lists them and the closest).
    """
    name = spec.strip().lower()
    if name not in SENSOR_NAMES:
        msg = f"unknown sensor {spec!r}; use one of {', '.join(SENSOR_NAMES)}.{closest(name, SENSOR_NAMES)}"
        raise SensorError(msg)
    return name


def make_sensor(
    spec: str | Sensor = "auto",
    *,
    device: str = "cpu",
    country: str = DEFAULT_COUNTRY,
    cpu_power_w: float | None = None,
    ram_power_w: float | None = None,
) -> Sensor:
    """Return a sensor for ``spec`` (a name from ``SENSOR_NAMES`` or a Sensor, returned as is).

    ``cpu_power_w`` / ``ram_power_w`` (user watts) make ``auto`` pick CodeCarbon with those watts
    on a CPU run, since only a model can use them.

    Raises:
        SensorError: an unknown name, or a named sensor that cannot read on this machine.
    """
    if not isinstance(spec, str):
        return spec
    name = check_sensor_name(spec)
    gpu_index = int(device.split(":", 1)[1]) if device.startswith("cuda:") else 0
    gpus = [gpu_index] if device.startswith("cuda") else []
    user = {"cpu_power_w": cpu_power_w, "ram_power_w": ram_power_w}
    if (
        name == "auto"
        and (cpu_power_w is not None or ram_power_w is not None)
        and not device.startswith("cuda")
    ):
        name = "codecarbon"
    if name == "auto":
        if device.startswith("cuda"):
            nv = NvmlSensor(gpu_index)
            if nv.available():
                return nv
        rapl = RaplSensor()
        if rapl.available():
            return rapl
        return CodeCarbonSensor(country, gpu_ids=gpus, **user)
    if name == "nvml":
        nv = NvmlSensor(gpu_index)
        nv.open()  # raises the specific reason (library missing, no counter)
        return nv
    if name == "codecarbon":
        cc = CodeCarbonSensor(country, gpu_ids=gpus, **user)
        cc.open()
        return cc
    if name == "fake":
        return FakeSensor()
    sensor = RaplSensor()  # the last of SENSOR_NAMES
    if not sensor.available():
        why = {
            "rapl": "/sys/class/powercap RAPL counters are absent or unreadable (usual in VMs)",
        }[name]
        msg = f"sensor {name!r} is not available here: {why}; use --sensor auto"
        raise SensorError(msg)
    return sensor
