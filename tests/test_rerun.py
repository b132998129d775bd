"""The re-run interval (efflab.measuring.rerun): another run's mean lands inside the printed interval;
the run spread is learned from the store's re-runs; bad --run-spread values are refused."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import quiet_method

from efflab import MethodSettings
from efflab.errors import ConfigError
from efflab.measuring.rerun import PRIOR, Run, learn, rerun_half, with_spread
from efflab.measuring.windows import RawWindow, combine
from efflab.records import Measurement
from efflab.store import load_results, open_store
from efflab.sweep import SweepSpec, iter_sweep


def _run(rng: np.random.Generator, drift: float, *, k: int = 3, n: int = 30) -> RawWindow | list[RawWindow]:
    """One run: a run-level factor (the machine's state those minutes), then k windows of batches."""
    level = 0.01 * math.exp(drift * rng.standard_normal())
    out = []
    for _ in range(k):
        w = level * (1 + 0.01 * rng.standard_normal())  # windows of one run agree within ~1 %
        xs = w + 0.0005 * rng.standard_normal(n)
        out.append(RawWindow(tuple(float(x) for x in xs), float(np.sum(xs)), None, None, 0.0))
    return out


def _rerun_coverage(drift: float, spread: float | None, reps: int = 300) -> float:
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(reps):
        first = combine(_run(rng, drift))  # type: ignore[arg-type]
        second = combine(_run(rng, drift))  # type: ignore[arg-type]
        half = first.ci_half_s if spread is None else rerun_half(first.mean_s, first.ci_half_s, spread)
        assert half is not None
        hits += abs(second.mean_s - first.mean_s) <= half
    return hits / reps


def test_windows_alone_miss_the_next_run_the_rerun_interval_holds_it() -> None:
    # A machine whose runs drift by 5 % while a run's windows agree within 1 %: the windows' own
    # interval holds the next run's mean far less than 95 % of the time; with the run spread near 95 %.
    assert _rerun_coverage(0.05, None) < 0.6
    cov = _rerun_coverage(0.05, 0.05)
    assert 0.92 <= cov <= 0.995, cov
    # no drift: the interval is the windows' (times sqrt 2) and stays conservative, not silly
    assert _rerun_coverage(0.0, 0.0) >= 0.95


def test_learning_finds_the_machines_spread_and_pools_with_the_prior() -> None:
    rng = np.random.default_rng(3)
    runs = []
    for key in range(30):
        base = 0.001 * (1 + key)  # configurations of very different latency pool on a log scale
        for _ in range(4):
            runs.append(Run(f"k{key}", base * math.exp(0.03 * rng.standard_normal()), base * 0.002, 3))
    got = learn(runs)
    assert 0.025 <= got.value <= 0.035 and got.df == 90
    assert got.source.startswith("learned from 120 runs of 30 configuration(s)")
    # one run per key teaches nothing: the prior, and it says so
    single = learn([Run("a", 0.01, None, 3), Run("b", 0.02, None, 3)])
    assert single.value == PRIOR and single.df == 0 and "prior" in single.source
    # two runs: mostly the prior still
    few = learn([Run("a", 0.010, None, 3), Run("a", 0.010, None, 3)])
    assert PRIOR * 0.85 < few.value < PRIOR


def test_the_spread_the_user_sets_wins_over_a_learned_one() -> None:
    mine = MethodSettings(run_spread=0.02, run_spread_source="set by you (--run-spread)")
    assert with_spread(mine, learn([])).run_spread == 0.02
    learned = with_spread(MethodSettings(), learn([]))
    assert learned.run_spread == PRIOR and "prior" in learned.run_spread_source
    for bad in (-0.1, 1.0, "abc", math.nan):
        with pytest.raises(ConfigError, match="run_spread must be"):
            MethodSettings(run_spread=bad)  # type: ignore[arg-type]


def test_store_keeps_every_run_and_a_sweep_learns_from_them(tmp_path: Path) -> None:
    spec = SweepSpec(
        models=("tiny-bert-l1",),
        batch_sizes=(1, 2),
        precisions=("fp32",),
        task=None,
        seq_len=16,
        sensor="fake",
        method=quiet_method(),  # never flagged disturbed: flagged runs do not count, and CI is loaded
    )
    path = tmp_path / "s.sqlite"
    with open_store(path) as st:
        first = [r for r in iter_sweep(spec, st, adaptive=False) if r.measurement is not None]
        assert {r.measurement.run_spread_source for r in first} == {  # type: ignore[union-attr]
            f"prior {PRIOR * 100:.0f} % (no re-runs on this machine in the store yet)"
        }
        hw = next(iter(st.points())).hardware
        assert len(st.runs(hw)) == 2
        for _ in range(2):
            list(iter_sweep(spec, st, force=True, adaptive=False))
        assert len(st.runs(hw)) == 6  # the points were replaced; their runs were kept
        third = [r.measurement for r in iter_sweep(spec, st, force=True, adaptive=False) if r.measurement]
    for m in third:
        assert m.run_spread_source.startswith("learned from 6 runs of 2 configuration(s)")
        assert m.latency_ci_windows_s is not None and m.latency_ci_s >= m.latency_ci_windows_s
        assert m.latency_ci_s == pytest.approx(
            rerun_half(m.latency_s, m.latency_ci_windows_s, m.run_spread or 0)
        )
    # the store's table of points is one row per key; the frame shows the spread used
    df = load_results(path)
    assert len(df) == 2 and "run_spread" in df.columns and df["run_spread"].notna().all()
    # a store written before runs were kept opens and reads as having none
    con = sqlite3.connect(path)
    con.execute("DROP TABLE runs")
    con.commit()
    con.close()
    with open_store(path, readonly=True) as st:
        assert st.runs(hw) == []


def test_a_refined_point_is_the_same_run_longer(tmp_path: Path, tiny_measurement: Measurement) -> None:
    import dataclasses

    tiny_measurement = dataclasses.replace(
        tiny_measurement, flags=()
    )  # measured under load it may be disturbed
    with open_store(tmp_path / "r.sqlite") as st:
        cfg = {
            "model": "m",
            "batch_size": 1,
            "precision": "fp32",
            "device": "cpu",
            "seq_len": 16,
            "task": None,
        }
        st.put("k", config=cfg, model_id="m", hardware="hw", measurement=tiny_measurement)
        st.put("k", config=cfg, model_id="m", hardware="hw", measurement=tiny_measurement, new_run=False)
        assert len(st.runs("hw")) == 1


def efflab(*args: str) -> Any:
    from conftest import run_cli

    return run_cli(*args)


_RUN_SPREAD_RULE = "--run-spread must be a fraction >= 0 and < 1"


@pytest.mark.parametrize(
    ("flag", "bad", "expect"),
    [
        ("--run-spread", "-0.1", _RUN_SPREAD_RULE),
        ("--run-spread", "1", _RUN_SPREAD_RULE),
        ("--run-spread", "abc", _RUN_SPREAD_RULE),
        ("--threads", "0", "--threads must be auto, default or a whole number >= 1, got '0'"),
        ("--threads", "1.5", "got '1.5'"),
        ("--threads", "4096", "--threads 4096 is more than this machine"),
    ],
)
def test_bad_run_spread_or_threads_is_one_line_exit_2(
    flag: str, bad: str, expect: str, tmp_path: Path
) -> None:
    for cmd in (
        ["measure", "--model", "tiny-bert-l1", "--no-task"],
        ["sweep", "--store", str(tmp_path / "s.sqlite")],
    ):
        r = efflab(*cmd, flag, bad)
        assert r.returncode == 2, r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and expect in lines[0], r.stderr
    assert not (tmp_path / "s.sqlite").exists()


def test_measure_learns_the_spread_from_the_default_store(
    tmp_path: Path, tiny_measurement: Measurement
) -> None:
    import dataclasses
    import json
    import os

    from efflab.measuring.fingerprint import hardware_key

    path = tmp_path / "results.sqlite"
    cfg = {"model": "m", "batch_size": 1, "precision": "fp32", "device": "cpu", "seq_len": 16, "task": None}
    with open_store(path) as st:
        for i, lat in enumerate((0.010, 0.011, 0.0095, 0.0105)):
            m = dataclasses.replace(
                tiny_measurement, latency_s=lat, n_windows=3, latency_ci_windows_s=1e-4, flags=()
            )
            st.put("k", config=cfg, model_id="m", hardware=hardware_key("cpu"), measurement=m)
            assert len(st.runs(hardware_key("cpu"))) == i + 1
    from conftest import run_cli

    env = {**os.environ, "EFFLAB_STORE": str(path)}
    args = "measure --model tiny-bert-l1 --no-task --json --sensor fake --windows 2 --min-window 0.05"
    args += " --max-window 0.3 --seq-len 16 --threads default"
    r = run_cli(*args.split(), env=env)  # in-process: the default store is read from the environment
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["run_spread_source"].startswith("learned from 4 runs of 1 configuration(s)")
    assert str(path) in got["run_spread_source"]
    assert got["latency_ci_s"] > got["latency_ci_windows_s"]


# ----------------------------------------------------------------------------- --threads


def test_threads_are_used_while_measuring_then_restored_and_named_in_the_cohort(tmp_path: Path) -> None:
    import dataclasses

    import torch

    from efflab.measuring.fingerprint import hardware_key

    before = torch.get_num_threads()
    spec = SweepSpec(
        models=("tiny-bert-l1",),
        batch_sizes=(1,),
        precisions=("fp32",),
        task=None,
        seq_len=16,
        sensor="fake",
        method=dataclasses.replace(quiet_method(), threads=1),
    )
    with open_store(tmp_path / "t.sqlite") as st:
        res = [r for r in iter_sweep(spec, st, adaptive=False) if r.measurement is not None]
        assert len(res) == 1 and res[0].measurement is not None
        assert res[0].measurement.fingerprint.threads == 1
        assert torch.get_num_threads() == before
        (p,) = list(st.points())
        assert p.hardware == hardware_key("cpu", 1) and p.hardware.endswith("· 1 thread")
        # the default sweep is another cohort (another key): nothing of it is skipped
        default = dataclasses.replace(spec, method=quiet_method())
        again = list(iter_sweep(default, st, adaptive=False))
        assert [r.status for r in again] == ["ok"] and len(st) == 2
