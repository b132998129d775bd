"""Config, MethodSettings and Measurement: validation and JSON round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import JSON_KEYS

from efflab import Config, Measurement, MethodSettings
from efflab.errors import ConfigError


def test_config_defaults_and_normalisation() -> None:
    c = Config(model=" minilm-l6 ", batch_size="8", precision="BF16", device="CUDA:1")
    assert (c.model, c.batch_size, c.precision, c.device) == ("minilm-l6", 8, "bf16", "cuda:1")


@pytest.mark.parametrize("bs", [0, -1, 1.5, "abc", True, None])
def test_bad_batch_size_names_value_and_fix(bs: object) -> None:
    with pytest.raises(ConfigError, match=r"batch size must be a positive integer, got .*--batch-size"):
        Config(batch_size=bs)  # type: ignore[arg-type]


def test_unknown_precision_suggests_closest() -> None:
    with pytest.raises(ConfigError, match="unknown precision 'fp61'.*Did you mean 'fp16'"):
        Config(precision="fp61")


def test_unknown_device() -> None:
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        Config(device="tpu")


def test_method_settings_validation() -> None:
    assert MethodSettings().window_min_s("cpu") == 0.3
    assert MethodSettings().window_min_s("cuda:0") == 5.0
    with pytest.raises(ConfigError):
        MethodSettings(target_ci_rel=0)
    with pytest.raises(ConfigError):
        MethodSettings(min_window_s=5, max_window_s=1)
    with pytest.raises(ConfigError, match="country"):
        MethodSettings(country="France")
    with pytest.raises(ConfigError, match="unknown method setting"):
        MethodSettings.from_dict({"bogus": 1})


def test_measurement_json_round_trip(tiny_measurement: Measurement) -> None:
    text = tiny_measurement.to_json()
    back = Measurement.from_json(text)
    assert back == tiny_measurement
    d = json.loads(text)
    missing = [k for k in JSON_KEYS if k not in d]
    assert not missing, missing
    assert d["wh_per_1000_queries"] == pytest.approx(d["energy_j_per_query"] * 1000 / 3600)


def test_import_efflab_is_light() -> None:
    code = (
        "import sys, efflab, efflab.store, efflab.sweep, efflab.analysis;"
        "bad=[m for m in ('ipywidgets','plotly','widgets','torch') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"import efflab pulled in: {out}"
