"""What each energy sensor is, in words a reader can act on (reports, dashboards and the CLI show these)."""

from __future__ import annotations

SENSOR_DESCRIPTIONS: dict[str, str] = {
    "nvml": "NVIDIA GPU energy counter (NVML) — measured",
    "rapl": "CPU package energy counter (Linux powercap RAPL) — measured",
    "codecarbon": "CodeCarbon's model of power from TDP × CPU time — modelled",
    "fake": "constant-power fake sensor for tests — not a real measurement",
}


def describe_sensor(name: str | None) -> str:
    """One line saying what the sensor ``name`` is; a pointer to the docs for an unknown one."""
    return SENSOR_DESCRIPTIONS.get(str(name or ""), "see the efflab documentation for this sensor")
