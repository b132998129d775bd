"""Energy sensors: one protocol, honest provenance; RAPL and NVML against fakes of their interfaces."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import pytest

from efflab.errors import SensorError
from efflab.sensors import FakeSensor, NvmlSensor, RaplSensor, Sensor, make_sensor
from efflab.sensors.nvml import nvml_index_for


def test_fake_sensor_protocol() -> None:
    s = FakeSensor(power_w=5)
    assert isinstance(s, Sensor) and s.available()
    s.begin_window()
    time.sleep(0.02)
    r = s.end_window()
    assert r.source == "fake" and not r.measured
    assert r.energy_j == pytest.approx(5 * r.duration_s)
    with pytest.raises(SensorError, match="no open window"):
        s.end_window()
    s.begin_window()
    s.begin_window(restart=True)  # safe to re-run from a notebook cell
    with pytest.raises(SensorError, match="already open"):
        s.begin_window(restart=False)


def _powercap(root: Path, uj: int, max_uj: int = 1000) -> None:
    d = root / "intel-rapl:0"
    d.mkdir(parents=True, exist_ok=True)
    (d / "energy_uj").write_text(str(uj))
    (d / "max_energy_range_uj").write_text(str(max_uj))
    sub = d / "intel-rapl:0:0"  # sub-domains must not be double counted
    sub.mkdir(exist_ok=True)
    (sub / "energy_uj").write_text("5")


def test_rapl_reads_package_counters_and_handles_wrap(tmp_path: Path) -> None:
    _powercap(tmp_path, 900)
    s = RaplSensor(root=tmp_path)
    assert s.available()
    s.begin_window()
    _powercap(tmp_path, 100)  # wrapped past max 1000: 900 -> 1100
    r = s.end_window()
    assert r.measured and r.source == "rapl"
    assert r.energy_j == pytest.approx(200e-6)


def test_rapl_unavailable_without_powercap(tmp_path: Path) -> None:
    assert not RaplSensor(root=tmp_path / "missing").available()


class _FakeNvml(types.ModuleType):
    """Just enough of pynvml: one GPU whose counter rises 1000 mJ per read."""

    def __init__(self) -> None:
        super().__init__("pynvml")
        self.mj = 0
        self.inited = 0
        self.shutdowns = 0
        self.handles: list[object] = []

    def nvmlInit(self) -> None:
        self.inited += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> object:
        self.handles.append(("index", i))
        return ("gpu", i)

    def nvmlDeviceGetHandleByUUID(self, u: str) -> object:
        self.handles.append(("uuid", u))
        return ("gpu", u)

    def nvmlDeviceGetTotalEnergyConsumption(self, h: object) -> int:
        self.mj += 1000
        return self.mj

    def nvmlDeviceGetName(self, h: object) -> str:
        return "NVIDIA H100 80GB HBM3"

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.00"


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> _FakeNvml:
    mod = _FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    return mod


def test_nvml_sensor_counter_delta(fake_nvml: _FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    s = NvmlSensor(0)
    assert s.available()
    s.begin_window()
    with pytest.warns(RuntimeWarning, match="shorter than"):
        r = s.end_window()
    assert r.measured and r.source == "nvml"
    assert r.energy_j == pytest.approx(1.0)  # 1000 mJ between the two reads
    assert "H100" in r.detail
    assert r.uncertainty_rel > 0.05  # a short window adds the counter's quantisation
    s.close()
    assert fake_nvml.shutdowns == 1


def test_nvml_respects_cuda_visible_devices(fake_nvml: _FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    assert nvml_index_for(1, "3,5") == 5
    assert nvml_index_for(0, "GPU-abc") == "GPU-abc"
    assert nvml_index_for(2, "") == 2
    with pytest.raises(SensorError, match="not visible"):
        nvml_index_for(2, "0,1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    NvmlSensor(1).available()
    assert fake_nvml.handles[-1] == ("index", 3)


def test_nvml_missing_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    s = NvmlSensor(0)
    assert not s.available()
    with pytest.raises(SensorError, match=r"efflab\[gpu\]"):
        make_sensor("nvml", device="cuda")


def test_make_sensor_names() -> None:
    assert isinstance(make_sensor("fake"), FakeSensor)
    with pytest.raises(SensorError, match="unknown sensor 'rapel'.*Did you mean 'rapl'"):
        make_sensor("rapel")
    s = FakeSensor()
    assert make_sensor(s) is s


def test_auto_prefers_nvml_on_cuda(fake_nvml: _FakeNvml) -> None:
    assert isinstance(make_sensor("auto", device="cuda:0"), NvmlSensor)


def test_codecarbon_sensor_says_how_it_estimates() -> None:
    """The real CodeCarbon offline tracker: on a VM without RAPL it is an estimate, and says so."""
    from efflab.sensors import CodeCarbonSensor

    with CodeCarbonSensor("FRA") as s:
        assert s.available()
        s.begin_window()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.3:
            pass
        r = s.end_window()
    assert r.source == "codecarbon" and r.energy_j > 0
    assert "CodeCarbon offline tracker" in r.detail
    if not r.measured:
        assert r.uncertainty_rel >= 0.3 and "model" in r.detail
