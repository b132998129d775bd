"""`efflab measure`: a table or one JSON object; every bad input is one line and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import JSON_KEYS

FAST = ["--sensor", "fake", "--min-window", "0.05", "--max-window", "0.3", "--seq-len", "16"]


def efflab(*args: str, env: dict[str, str] | None = None) -> Any:
    from conftest import run_cli

    return run_cli(*args, env=env)


def test_measure_json() -> None:
    r = efflab("measure", "--model", "tiny-bert-l1", "--batch-size", "2", "--no-task", "--json", *FAST)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    missing = [k for k in JSON_KEYS if k not in d]
    assert not missing, missing
    assert d["energy_source"] == "fake" and d["energy_measured"] is False
    assert d["accuracy"] is None


def test_measure_table_says_modelled(tiny_task: Path) -> None:
    r = efflab("measure", "--model", "tiny-bert-l1", "--batch-size", "2", "--task", str(tiny_task), *FAST)
    assert r.returncode == 0, r.stderr
    assert "modelled" in r.stdout and "accuracy" in r.stdout and "95 % CI" in r.stdout


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--model", "minilm-l7"], "unknown model 'minilm-l7'"),
        (["--model", "tiny-bert", "--batch-size", "0"], "batch size must be a positive integer, got 0"),
        (["--model", "tiny-bert", "--batch-size", "-3"], "got -3"),
        (["--model", "tiny-bert", "--batch-size", "eight"], "got 'eight'"),
        (["--model", "tiny-bert", "--precision", "fp64"], "unknown precision 'fp64'"),
        (["--model", "tiny-bert", "--device", "cuda"], "no CUDA GPU is available"),
        (["--model", "tiny-bert", "--device", "cuda", "--precision", "int8"], "cuda"),
        (["--model", "tiny-bert", "--sensor", "nope"], "unknown sensor 'nope'"),
        (["--model", "tiny-bert", "--country", "XXX"], "unknown country 'XXX'"),
        (["--model", "/no/such/folder/"], "unknown model"),
    ],
)
def test_bad_input_is_one_line(args: list[str], expect: str) -> None:
    r = efflab("measure", "--no-task", *args)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("efflab: error")]
    assert len(lines) == 1, r.stderr
    assert expect in lines[0]
    assert "Traceback" not in r.stderr


def test_unreadable_model_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    r = efflab("measure", "--no-task", "--model", str(tmp_path), *FAST)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "cannot load model" in r.stderr


def test_folder_without_config(tmp_path: Path) -> None:
    r = efflab("measure", "--no-task", "--model", str(tmp_path))
    assert r.returncode != 0 and "has no config.json" in r.stderr


def test_int8_on_cuda_message_names_the_fix() -> None:
    import torch

    from efflab.errors import DeviceError
    from efflab.models.runners import check_device

    if torch.cuda.is_available():
        with pytest.raises(DeviceError, match="int8"):
            check_device("cuda", "int8")
    else:
        with pytest.raises(DeviceError, match="use --device cpu"):
            check_device("cuda", "int8")


def test_help_explains() -> None:
    r = efflab("measure", "--help")
    assert r.returncode == 0
    assert "modelled" in r.stdout and "--windows" in r.stdout and "--batch-size" in r.stdout
