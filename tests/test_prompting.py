"""Accuracy of a causal LM by prompting: shots, calibration, the prefix cache, per-example correctness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import fast_method

from efflab.config import Config, MethodSettings
from efflab.errors import ConfigError, TaskError
from efflab.tasks import task_from_frames
from efflab.tasks.prompting import Prompter, PromptProtocol, attach, best_threshold, evaluate_prompting


@pytest.fixture(scope="module")
def lm():  # type: ignore[no-untyped-def]
    from efflab.models import load_runner, resolve_model

    r = load_runner(resolve_model("tiny-llama"), "fp32", "cpu")
    yield r
    r.close()


def toy_task(n_train: int = 40, n_test: int = 20):  # type: ignore[no-untyped-def]
    """Texts whose label is written in them: 'great' reviews say 'yes', 'other' ones say 'no'."""
    rows = [{"text": f"review {i}: {'yes' if i % 2 else 'no'}", "label": "great" if i % 2 else "other"}
            for i in range(n_train + n_test)]  # fmt: skip
    df = pd.DataFrame(rows)
    return task_from_frames("toy", df.iloc[:n_train], df.iloc[n_train:], label_names=("other", "great"))


def test_protocol_in_words_and_validation() -> None:
    assert PromptProtocol().describe() == "k=4, calibrated on 100 train texts"
    assert PromptProtocol(shots=0, calibration=0).describe() == "zero-shot, uncalibrated"
    with pytest.raises(ConfigError, match="shots must be a non-negative integer"):
        PromptProtocol(shots=-1)
    with pytest.raises(ConfigError, match="eval_limit must be a positive integer or None"):
        PromptProtocol(eval_limit=0)
    assert MethodSettings(prompt_shots=2).prompt_protocol().shots == 2


def test_shots_are_balanced_seeded_and_not_calibration_texts(lm) -> None:  # type: ignore[no-untyped-def]
    task = toy_task()
    p1 = Prompter(lm, task, PromptProtocol(shots=4, calibration=10), 16)
    p2 = Prompter(lm, task, PromptProtocol(shots=4, calibration=10), 16)
    assert p1.shot_rows == p2.shot_rows and p1.calibration_rows == p2.calibration_rows
    labels = task.train["label"].to_numpy()[p1.shot_rows]
    assert sorted(labels.tolist()) == [0, 0, 1, 1]
    assert not set(p1.shot_rows) & set(p1.calibration_rows) and len(p1.calibration_rows) == 10
    p3 = Prompter(lm, task, PromptProtocol(shots=4, calibration=10, seed=1), 16)
    assert p3.shot_rows != p1.shot_rows
    text = lm.tokenizer.decode(p1.prompt_ids("review x: yes"))
    assert text.count("Label:") == 5 and text.rstrip().endswith("Label:")
    assert "Each review below is labelled one of: other, great." in text


def test_prefix_cache_scores_equal_the_full_prompt(lm) -> None:  # type: ignore[no-untyped-def]
    import torch

    task = toy_task()
    p = Prompter(lm, task, PromptProtocol(shots=4, calibration=0, batch_size=3), 16)
    texts = ["review a: yes", "a much longer review text that says no at the end", "no"]
    cached = p.label_logprobs(texts)
    for i, t in enumerate(texts):
        ids = torch.tensor([p.prompt_ids(t)])
        with torch.inference_mode():
            logits = lm.model(input_ids=ids).logits[0, -1]
        full = torch.log_softmax(logits.float(), -1)[p.label_token_ids].numpy()
        np.testing.assert_allclose(cached[i], full, atol=1e-4)


def test_known_answer_with_calibration(lm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A model whose label score is offset by a constant bias: calibration finds the threshold, and
    accuracy, its interval and the per-example string follow."""
    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path))
    task = toy_task()

    def fake_scores(self: Prompter, texts: list[str]) -> np.ndarray:
        # "yes" texts score +1 for 'great', "no" texts -1, and a bias of +3 toward 'great' for all:
        # uncalibrated, everything is 'great' (50 %); calibrated, every text is right.
        s = np.array([1.0 if t.endswith("yes") else -1.0 for t in texts]) + 3.0
        return np.stack([np.zeros_like(s), s], axis=1)

    monkeypatch.setattr(Prompter, "label_logprobs", fake_scores)
    raw = evaluate_prompting(lm, task, PromptProtocol(shots=2, calibration=0, eval_limit=None), seq_len=16)
    assert raw.accuracy == pytest.approx(0.5) and raw.protocol == "k=2, uncalibrated"
    cal = evaluate_prompting(lm, task, PromptProtocol(shots=2, calibration=20, eval_limit=None), seq_len=16)
    assert cal.accuracy == 1.0 and cal.n_eval == 20 and cal.correct == "1" * 20
    assert cal.threshold is not None and 2.0 < cal.threshold < 4.0
    assert cal.ci[0] < 1.0 <= cal.ci[1] + 1e-12
    sub = evaluate_prompting(lm, task, PromptProtocol(shots=2, calibration=20, eval_limit=8), seq_len=16)
    assert sub.n_eval == 8 and len(sub.correct) == 8
    assert sub.ci[1] - sub.ci[0] > cal.ci[1] - cal.ci[0]  # fewer texts, a wider interval
    again = evaluate_prompting(lm, task, PromptProtocol(shots=2, calibration=20, eval_limit=None), seq_len=16)
    assert again.cached and again.correct == cal.correct


def test_best_threshold() -> None:
    score = np.array([-2.0, -1.0, 0.5, 1.0, 3.0])
    truth = np.array([0, 0, 0, 1, 1])
    t = best_threshold(score, truth)
    assert 0.5 < t < 1.0
    assert ((score > t).astype(int) == truth).all()


def test_measure_records_the_protocol(tiny_task: Path) -> None:
    from efflab.measuring.measure import measure

    method = MethodSettings(**{**fast_method().to_dict(), "prompt_calibration": 6, "prompt_eval_limit": 10})
    m = measure(
        Config(model="tiny-llama", batch_size=2, seq_len=16, task=str(tiny_task)),
        sensor="fake",
        method=method,
    )
    assert m.prompting == "k=4, calibrated on 6 train texts"
    assert m.n_eval == 10 and m.accuracy is not None and m.accuracy_ci is not None
    assert m.flops_per_query and m.workload == "classify"


def test_classify_without_task_and_prompt_beyond_context(lm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from efflab.models import load_runner
    from efflab.models.registry import source_from_folder
    from efflab.models.tiny import write_tiny_causal_lm

    with pytest.raises(ConfigError, match="is a causal LM: --workload classify scores a task by prompting"):
        attach(lm, None, PromptProtocol(), 16)
    short = load_runner(
        source_from_folder(write_tiny_causal_lm(tmp_path / "short", context=64)), "fp32", "cpu"
    )
    with pytest.raises(
        TaskError, match=r"the prompt of 4 shots is \d+ tokens.* exceeds the context .*\(64 tokens\)"
    ):
        attach(short, toy_task(), PromptProtocol(shots=4), 32)


def test_labels_sharing_a_first_token_are_refused(lm) -> None:  # type: ignore[no-untyped-def]
    df = pd.DataFrame(
        {"text": ["a", "b", "c", "d"], "label": ["good one", "good two", "good one", "good two"]}
    )
    task = task_from_frames("same", df.iloc[:2], df.iloc[2:])
    with pytest.raises(TaskError, match="start with the same token"):
        Prompter(lm, task, PromptProtocol(shots=2, calibration=0), 16)
