"""The measurement method: adaptive timing, statistics, energy window, flags, cancellation."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from conftest import fast_method

from efflab import Config, MethodSettings
from efflab.measuring.measure import Cancelled, measure
from efflab.measuring.stats import Welford, mean_ci, t95, wilson_interval
from efflab.measuring.timing import timed_loop, warmup
from efflab.sensors import FakeSensor


def test_t95_matches_known_values() -> None:
    assert t95(1) == pytest.approx(12.706)
    assert t95(30) == pytest.approx(2.042)
    assert t95(60) == pytest.approx(2.000, abs=2e-3)
    assert t95(1000) == pytest.approx(1.962, abs=2e-3)
    assert t95(0) == math.inf


def test_welford_matches_two_pass() -> None:
    xs = [0.1, 0.12, 0.11, 0.5, 0.09, 0.1]
    w = Welford()
    for x in xs:
        w.add(x)
    _, std, ci = mean_ci(xs)
    assert w.mean == pytest.approx(sum(xs) / len(xs))
    assert w.std == pytest.approx(std)
    assert ci == pytest.approx(t95(5) * std / math.sqrt(6))


def test_wilson_interval_known_confusion() -> None:
    # 80 correct of 100: the textbook Wilson 95 % interval is (0.711, 0.867).
    lo, hi = wilson_interval(80, 100)
    assert lo == pytest.approx(0.7112, abs=1e-3)
    assert hi == pytest.approx(0.8666, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_timed_loop_stops_when_ci_is_reached() -> None:
    r = timed_loop(
        lambda: time.sleep(0.002),
        lambda: None,
        min_window_s=0.05,
        max_window_s=5,
        target_ci_rel=0.5,
        min_batches=5,
    )
    assert not r.hit_cap
    assert r.n >= 5
    assert r.window_s >= 0.05


def test_timed_loop_flags_the_cap() -> None:
    # A target no noisy loop can reach: the cap ends it and says so.
    r = timed_loop(
        lambda: None, lambda: None, min_window_s=0.0, max_window_s=0.05, target_ci_rel=1e-9, min_batches=3
    )
    assert r.hit_cap


def test_timed_loop_can_be_cancelled() -> None:
    r = timed_loop(
        lambda: time.sleep(0.01),
        lambda: None,
        min_window_s=10,
        max_window_s=20,
        target_ci_rel=0.02,
        min_batches=5,
        should_stop=lambda: True,
    )
    assert r.cancelled


def test_warmup_runs_at_least_the_minimum() -> None:
    calls = []
    assert warmup(lambda: calls.append(1), lambda: None, min_s=0, min_batches=3) == 3


def test_measure_tiny_model_with_fake_sensor() -> None:
    sensor = FakeSensor(power_w=20.0)
    m = measure(Config(model="tiny-bert-l1", batch_size=4, seq_len=16), sensor=sensor, method=fast_method())
    assert m.energy_source == "fake" and m.energy_measured is False
    assert "energy_estimated" in m.flags
    # The fake sensor's energy is power x window, split over every query of the window.
    assert m.energy_j_per_query == pytest.approx(m.energy_j / (m.n_batches * 4))
    assert m.energy_j == pytest.approx(20.0 * m.window_s, rel=0.2)
    assert m.throughput_qps == pytest.approx(4 / m.latency_s)
    assert m.flops_per_query and m.flops_per_query > 0
    assert m.mfu is not None and 0 < m.mfu < 5
    assert m.model_bytes > 0 and m.n_params > 0
    assert m.accuracy is None and m.task is None
    assert not sensor.closed  # a sensor passed in belongs to the caller


def test_p95_needs_enough_samples() -> None:
    few = MethodSettings(
        min_window_s=0.0,
        max_window_s=0.3,
        warmup_s=0,
        warmup_batches=1,
        min_batches=3,
        p95_min_samples=10_000,
    )
    m = measure(Config(model="tiny-bert-l1", batch_size=1, seq_len=8), sensor="fake", method=few)
    assert m.latency_p95_s is None
    assert "p95_insufficient_samples" in m.flags


def test_int8_is_smaller_and_counts_fp32_flops() -> None:
    fp32 = measure(
        Config(model="tiny-bert-l2", batch_size=2, seq_len=16), sensor="fake", method=fast_method()
    )
    int8 = measure(
        Config(model="tiny-bert-l2", batch_size=2, seq_len=16, precision="int8"),
        sensor="fake",
        method=fast_method(),
    )
    assert int8.model_bytes < fp32.model_bytes
    assert int8.flops_per_query == pytest.approx(fp32.flops_per_query)


def test_measure_with_task_fills_accuracy(tiny_task: object) -> None:
    m = measure(
        Config(model="tiny-bert-l1", batch_size=4, seq_len=16, task=str(tiny_task)),
        sensor="fake",
        method=fast_method(),
    )
    assert m.accuracy is not None and 0 <= m.accuracy <= 1
    assert m.accuracy_ci is not None and m.accuracy_ci[0] <= m.accuracy <= m.accuracy_ci[1]
    assert m.n_eval == 30


def test_accuracy_scoring_reports_real_progress(
    tiny_task: object, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path))  # no cached figure: the texts are scored
    seen: list[tuple[str, float]] = []
    m = measure(
        Config(model="tiny-bert-l1", batch_size=4, seq_len=16, task=str(tiny_task)),
        sensor="fake",
        method=fast_method(),
        progress=lambda stage, f: seen.append((stage, f)),
    )
    acc = [f for stage, f in seen if stage == "accuracy"]
    # what the windows did not score is scored in chunks (30 texts: one chunk of 64, or none left)
    assert acc[0] == 0.0 and acc[-1] == 1.0 and acc == sorted(acc)
    assert m.accuracy_correct is not None and len(m.accuracy_correct) == m.n_eval


def test_cancel_raises_and_records_nothing() -> None:
    with pytest.raises(Cancelled):
        measure(
            Config(model="tiny-bert-l1", batch_size=1, seq_len=8),
            sensor="fake",
            method=MethodSettings(min_window_s=5, max_window_s=10, warmup_s=0, warmup_batches=1),
            should_stop=lambda: True,
        )


def test_window_scorer_predicts_what_a_separate_pass_predicts(tiny_task: object) -> None:
    """The timed windows' predictions on the test texts are the model's own (issue 22: the windows do
    the accuracy's work); texts no window reached are left to ``evaluate`` (-1)."""
    import numpy as np

    from efflab.measuring.scoring import ScorerPool
    from efflab.models.registry import resolve_model
    from efflab.models.runners import load_runner
    from efflab.tasks.base import load_task

    task = load_task(str(tiny_task))
    assert task is not None
    runner = load_runner(resolve_model("tiny-bert-l1", progress=False), "fp32", "cpu")
    pool = ScorerPool(max_batch=8)
    scorer = pool.get(runner, task, 16)
    assert pool.get(runner, task, 16) is scorer  # the points of one model share it
    fixed = runner.make_batch(["filler"], 4, 16)
    step = scorer.step(runner, 4, fixed)
    for _ in range(3):
        step()
    pred = scorer.predictions()
    assert (pred[:12] >= 0).all() and (pred[12:] == -1).all()
    texts = task.test["text"].astype(str).tolist()
    assert np.array_equal(pred[:12], runner.predict(texts[:12], 4, 16))
    # past the end, the windows go on timing the point's own batch and predict nothing more
    for _ in range(10):
        step()
    assert (scorer.predictions() >= 0).all() and scorer.covered == len(texts)


def test_windows_of_the_largest_batch_cover_the_test_texts(
    tiny_task: object, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no cached accuracy, the point's windows take enough batches to score every test text, so
    nothing is left to score after them, and the accuracy is the one a separate pass gives."""
    import efflab.measuring.accuracy as acc_mod

    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path))
    seen: list[Any] = []
    real = acc_mod.evaluate

    def spy(*a: Any, **k: Any) -> Any:
        seen.append(k.get("scored"))
        return real(*a, **k)

    monkeypatch.setattr(acc_mod, "evaluate", spy)
    cfg = Config(model="tiny-bert-l1", batch_size=4, seq_len=16, task=str(tiny_task))
    m = measure(cfg, sensor="fake", method=fast_method())
    assert len(seen) == 1 and seen[0] is not None and (seen[0] >= 0).all()  # all 30 scored in windows
    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path / "again"))  # a separate pass, nothing scored before
    from efflab.models.registry import resolve_model
    from efflab.models.runners import load_runner
    from efflab.tasks.base import load_task

    task = load_task(str(tiny_task))
    assert task is not None
    runner = load_runner(resolve_model("tiny-bert-l1", progress=False), "fp32", "cpu")
    assert real(runner, task, seq_len=16, use_cache=False).accuracy == m.accuracy
