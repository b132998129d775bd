"""Sweeps: spec validation, streaming, failed points, resume — including after a real kill -9."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import fast_method, run_cli, steady_method

from efflab.errors import ConfigError
from efflab.store import load_results, open_store
from efflab.sweep import SweepSpec, iter_sweep, sweep


def tiny_spec(**over: object) -> SweepSpec:
    d: dict[str, object] = dict(
        models=("tiny-bert-l1",),
        batch_sizes=(1, 2),
        precisions=("fp32", "int8"),
        task=None,
        seq_len=16,
        sensor="fake",
        method=fast_method(),
    )
    d.update(over)
    return SweepSpec(**d)  # type: ignore[arg-type]


def test_spec_yaml_round_trip_and_validation(tmp_path: Path) -> None:
    spec = tiny_spec()
    back = SweepSpec.from_yaml(spec.to_yaml())
    assert back == spec
    p = tmp_path / "s.yaml"
    p.write_text(spec.to_yaml())
    assert SweepSpec.from_yaml(p) == spec
    assert len(spec) == 4 and len(spec.configs()) == 4
    with pytest.raises(ConfigError, match="unknown sweep spec field"):
        SweepSpec.from_yaml("modles: [a]")
    with pytest.raises(ConfigError, match="batch size must be a positive integer"):
        SweepSpec.from_yaml("batch_sizes: [0]")
    with pytest.raises(ConfigError, match="unknown precision"):
        SweepSpec.from_yaml("precisions: [fp8]")
    with pytest.raises(ConfigError, match="not valid YAML"):
        SweepSpec.from_yaml("models: [a")


def test_default_spec_shows_the_three_axes_and_the_full_grid_is_one_flag_away() -> None:
    spec = SweepSpec()
    assert spec.batch_sizes == (1, 32) and spec.precisions == ("fp32", "bf16", "int8")
    assert spec.devices == ("cpu",) and spec.task == "reviews"
    assert spec.models[:5] == ("tfidf-logreg", "minilm-l2", "minilm-l2-distilled", "minilm-l4", "minilm-l6")
    full = SweepSpec.full()
    assert full.batch_sizes == (1, 8, 32, 128) and len(full.models) > len(spec.models)
    # scikit-learn runs in fp32 only: its bf16 and int8 points are left out and said once
    assert spec.skipped() == [("tfidf-logreg", ("bf16", "int8"), "scikit-learn runs in fp32 on the cpu only")]
    assert not any(c.model == "tfidf-logreg" and c.precision != "fp32" for c in spec.configs())


def test_sweep_streams_and_resumes(tmp_path: Path) -> None:
    # One window per point: streaming and resuming are what is tested, not the window logic.
    spec = tiny_spec(method=steady_method())
    seen = []
    with open_store(tmp_path / "s.sqlite") as st:
        # 6 s: a cohort starts its paired pass with more than 5 s left, so one that ties still streams
        res = sweep(spec, st, on_point=seen.append, paired_budget_s=6)
        # The first pass yields every point once; the paired pass then yields one result per cohort it ran for.
        first = [r.status for r in res if r.status != "paired"]
        assert first == ["ok"] * 4 and len(seen) == len(res)
        again = list(iter_sweep(spec, st, paired_budget_s=6))
        assert [r.status for r in again if r.status != "paired"] == ["skipped"] * 4
        # without its paired pass: the first call streamed one, and a forced point is the subject here
        forced = list(
            iter_sweep(tiny_spec(batch_sizes=(1,), method=steady_method()), st, force=True, paired=False)
        )
        assert [r.status for r in forced if r.status != "paired"] == ["ok", "ok"]
    assert len(load_results(tmp_path / "s.sqlite")) == 4


def test_failed_points_are_stored_and_the_sweep_goes_on(tmp_path: Path) -> None:
    spec = tiny_spec(devices=("cpu", "cuda"), precisions=("fp32",), batch_sizes=(1,))
    with open_store(tmp_path / "f.sqlite") as st:
        res = sweep(spec, st, paired=False)
    by_dev = {r.config.device: r for r in res}
    assert by_dev["cpu"].status == "ok"
    import torch

    if not torch.cuda.is_available():
        assert by_dev["cuda"].status == "failed" and "no CUDA GPU" in (by_dev["cuda"].error or "")
        df = load_results(tmp_path / "f.sqlite")
        assert set(df["status"]) == {"ok", "failed"}


def test_kill_9_then_resume_loses_nothing_and_measures_nothing_twice(tmp_path: Path) -> None:
    # One window of 0.5 s per point (no thread probe): the int8 group (a model to load, then three
    # windows of wall time) is still running when the poll below sees the fp32 group's points.
    spec = tiny_spec(
        batch_sizes=(1, 2, 3),
        precisions=("fp32", "int8"),
        method=dataclasses.replace(steady_method(), min_window_s=0.5, max_window_s=1.0),
    )
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(spec.to_yaml())
    store = tmp_path / "k.sqlite"
    # --no-adaptive: the second pass would legitimately add windows to kept points (a new created_at).
    args = ["sweep", str(spec_path), "--store", str(store), "--no-adaptive"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "efflab.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if store.exists():
                try:
                    done = (
                        sqlite3.connect(f"file:{store}?mode=ro", uri=True)
                        .execute("SELECT count(*) FROM points")
                        .fetchone()[0]
                    )
                except sqlite3.Error:
                    done = 0
            if done >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep finished before it could be killed; make points slower"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = load_results(store)
    assert 2 <= len(before) < len(spec)
    kept = dict(zip(before["key"], before["created_at"]))
    r = run_cli(*args)  # the resume, in this process: only the killed run had to be a real one
    assert r.returncode == 0, r.stderr
    after = load_results(store)
    assert len(after) == len(spec) and after["key"].is_unique
    assert set(after["status"]) == {"ok"}
    # Points committed before the kill were not measured again.
    for key, created in kept.items():
        assert after.loc[after["key"] == key, "created_at"].item() == created
    assert (
        f"{len(spec) - len(before)} measured" in r.stderr
        and f"{len(before)} already in the store" in r.stderr
    )


def test_rerun_of_a_full_sweep_loads_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import efflab.models

    # One window per point; a short paired pass: enough for a cohort that ties to store its rounds,
    # which the re-run's paired pass must then find (a re-run runs none, and loads nothing).
    spec = tiny_spec(method=steady_method())
    with open_store(tmp_path / "r.sqlite") as st:
        sweep(spec, st, paired_budget_s=8)

        def boom(*a: object, **k: object) -> None:
            raise AssertionError("a re-run loaded a model")

        monkeypatch.setattr(efflab.models, "load_runner", boom)
        assert all(r.status == "skipped" for r in iter_sweep(spec, st))
