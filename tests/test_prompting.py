"""Accuracy of a causal LM by prompting: label words, shots and calibration chosen on a validation slice
of the train split, the prefix cache, per-example correctness and the majority-class rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import fast_method

from efflab.config import Config, MethodSettings
from efflab.errors import ConfigError, TaskError
from efflab.tasks import task_from_frames
from efflab.tasks.prompting import (
    Prompter,
    PromptProtocol,
    attach,
    best_threshold,
    choose,
    cross_fitted_hits,
    evaluate_prompting,
    label_token_ids,
    validation_rows,
)


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
    assert PromptProtocol().describe() == "k of 0/4/8, calibration chosen on 100 validation train texts"
    assert PromptProtocol(shots=0, validation=0).describe() == "k=0, uncalibrated"
    assert PromptProtocol(shots_grid=(8, 0, 4, 4)).shots_grid == (0, 4, 8)
    with pytest.raises(ConfigError, match="shots must be a non-negative integer"):
        PromptProtocol(shots=-1)
    with pytest.raises(ConfigError, match="eval_limit must be a positive integer or None"):
        PromptProtocol(eval_limit=0)
    with pytest.raises(ConfigError, match="validation must be 0 .none. or at least 2"):
        PromptProtocol(validation=1)
    with pytest.raises(
        ConfigError, match=r"nothing chooses the number of shots; give it \(--prompt-shots 4\)"
    ):
        PromptProtocol(validation=0)
    assert MethodSettings(prompt_shots=2).prompt_protocol().shots == 2
    assert MethodSettings().prompt_protocol() == PromptProtocol()
    # The cache key changes with the protocol (and its version), not with the batch size.
    assert PromptProtocol(batch_size=2).key() == PromptProtocol().key()
    assert PromptProtocol(shots=4).key() != PromptProtocol().key()
    assert PromptProtocol().key()["version"] >= 2


def test_shots_are_balanced_seeded_nested_and_never_validation_texts(lm) -> None:  # type: ignore[no-untyped-def]
    task = toy_task()
    proto = PromptProtocol(validation=10)
    p8 = Prompter(lm, task, proto, 16, shots=8)
    p4 = Prompter(lm, task, proto, 16, shots=4)
    assert Prompter(lm, task, proto, 16, shots=4).shot_rows == p4.shot_rows  # seeded
    assert set(p4.shot_rows) < set(p8.shot_rows)  # a smaller k's shots are a larger one's
    assert sorted(task.train["label"].to_numpy()[p4.shot_rows].tolist()) == [0, 0, 1, 1]
    val = validation_rows(task, proto)
    assert len(val) == 10 and not set(val) & set(p8.shot_rows)
    assert validation_rows(task, PromptProtocol(validation=10, seed=1)) != val
    text = lm.tokenizer.decode(p4.prompt_ids("review x: yes"))
    assert text.count("Label:") == 5 and text.rstrip().endswith("Label:")
    assert "Each review below is labelled one of: other, great." in text


def test_prefix_cache_scores_equal_the_full_prompt(lm) -> None:  # type: ignore[no-untyped-def]
    import torch

    task = toy_task()
    p = Prompter(lm, task, PromptProtocol(shots=4, validation=0, batch_size=3), 16)
    texts = ["review a: yes", "a much longer review text that says no at the end", "no"]
    cached = p.label_logprobs(texts)
    for i, t in enumerate(texts):
        ids = torch.tensor([p.prompt_ids(t)])
        with torch.inference_mode():
            logits = lm.model(input_ids=ids).logits[0, -1]
        full = torch.log_softmax(logits.float(), -1)[p.label_token_ids].numpy()
        np.testing.assert_allclose(cached[i], full, atol=1e-4)
    # the timed query batch (padded wider than its longest text, as a point's batches are) gives the
    # same scores through the runner's forward pass as through the whole prompt
    lm.prompter = p
    try:
        batch = p.query_batch(texts, width=p.query_width + 7)
        assert batch.cached_prefix and batch.input_ids.shape[1] == max(
            p.query_width + 7, len(p.suffix_ids(texts[1]))
        )
        np.testing.assert_allclose(lm.label_scores(lm.forward(batch)).numpy(), cached, atol=1e-4)
        assert lm.count_flops(batch) < lm.count_flops(lm.pad_left([p.prompt_ids(t) for t in texts]))
        # A point counts FLOPs before any query ran: the prefix computed then is not the query's.
        fresh = Prompter(lm, task, PromptProtocol(shots=4, validation=0, batch_size=3), 16)
        lm.prompter = fresh
        first = lm.count_flops(fresh.query_batch(texts, width=p.query_width + 7))
        assert first == lm.count_flops(fresh.query_batch(texts, width=p.query_width + 7))
    finally:
        lm.prompter = None


def test_a_prompted_lm_s_windows_score_the_test_texts(
    lm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The timed queries of a prompted LM are its test texts (issue 22): their labels under the kept
    rule are what scoring them apart gives; texts no window reached are left to evaluate_prompting."""
    from efflab.measuring.scoring import ScorerPool

    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path))
    task = toy_task()
    proto = PromptProtocol(validation=10, eval_limit=14, batch_size=4)
    p = attach(lm, task, proto, 16)
    try:
        assert p.scored_texts() == task.test["text"].astype(str).tolist()[:14]
        scorer = ScorerPool(max_batch=4).get(lm, task, 16, p)
        fixed = lm.make_batch(None, 4, 16)
        step = scorer.step(lm, 4, fixed)
        for _ in range(2):
            step()
        pred = scorer.predictions()
        assert (pred[:8] >= 0).all() and (pred[8:] == -1).all()
        np.testing.assert_array_equal(pred[:8], p.predict(lm, p.scored_texts()[:8]))
        res = evaluate_prompting(lm, task, proto, seq_len=16, scored=pred)
        ref = evaluate_prompting(lm, task, proto, seq_len=16, use_cache=False)
        assert res.correct == ref.correct and res.n_eval == 14
    finally:
        lm.prompter = None


def test_cross_fitting_scores_each_half_with_the_rule_fitted_on_the_other() -> None:
    # A score biased by +3 toward label 1: the raw argmax says 1 for every text; a threshold fitted on
    # either half (between 2 and 4) gets the other half right.
    truth = np.array([0, 1] * 10)
    s = np.where(truth == 1, 1.0, -1.0) + 3.0
    lp = np.stack([np.zeros_like(s), s], axis=1)
    assert (lp.argmax(axis=1) == truth).mean() == 0.5
    assert cross_fitted_hits(lp, truth).all()
    # A rule that only fits the texts it saw is not rewarded: labels that are noise cross-fit to ~chance.
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(200, 2))
    assert cross_fitted_hits(noise, rng.integers(0, 2, 200)).mean() < 0.62


def test_the_rule_kept_is_the_best_on_validation_ties_to_fewer_shots() -> None:
    truth = np.array([0, 1] * 20)
    right = np.where(truth == 1, 1.0, -1.0)
    good = np.stack([np.zeros_like(right), right], axis=1)  # every text right, raw or calibrated
    biased = np.stack([np.zeros_like(right), right + 3.0], axis=1)  # right only once calibrated
    noise = np.random.default_rng(1).normal(size=(40, 2))
    sel = choose({0: noise, 4: biased, 8: biased}, truth, (0, 4, 8))
    assert (sel.shots, sel.calibrated) == (4, True)  # k=4 and k=8 tie at 100 %: the shorter prompt
    assert sel.validation_accuracy == 1.0 and sel.threshold is not None and 2.0 < sel.threshold < 4.0
    assert sel.n_validation == 40 and len(sel.tried) == 6
    assert sel.validation_ci is not None and sel.validation_ci[1] == pytest.approx(1.0)
    assert sel.describe() == "k=4 of 0/4/8, validation 100.0 % on 40 train texts, calibrated"
    raw = choose({0: noise, 4: good}, truth, (0, 4))
    assert (raw.shots, raw.calibrated, raw.threshold) == (4, False, None)  # a tie: uncalibrated
    three = np.stack([right, -right, np.zeros_like(right)], axis=1) + np.array([0.0, 5.0, 0.0])
    multi = choose({0: three}, np.where(truth == 1, 0, 1), (0,))
    assert multi.calibrated and multi.bias is not None and multi.threshold is None


def test_selection_on_validation_then_the_test_texts(
    lm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A model whose 'great' score is biased by +3, and only with 4 or more shots tells the texts
    apart: the validation slice keeps k=4 calibrated; the test accuracy, its interval, the per-example
    string and the majority-class rate follow; validation texts are train texts, never test texts."""
    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path))
    task = toy_task()
    test_texts = set(task.test["text"])
    seen: list[list[str]] = []

    def fake_scores(self: Prompter, texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        s = np.array([1.0 if t.endswith("yes") else -1.0 for t in texts])
        s = s + 3.0 if self.shots >= 4 else np.zeros(len(texts))
        return np.stack([np.zeros_like(s), s], axis=1)

    monkeypatch.setattr(Prompter, "label_logprobs", fake_scores)
    proto = PromptProtocol(validation=12, eval_limit=None)
    res = evaluate_prompting(lm, task, proto, seq_len=16)
    assert len(seen) == 4  # k = 0, 4, 8 on the validation slice, then the test texts once
    assert all(not set(v) & test_texts for v in seen[:3]) and set(seen[3]) == test_texts
    assert (res.selection.shots, res.selection.calibrated) == (4, True)
    assert res.protocol == "k=4 of 0/4/8, validation 100.0 % on 12 train texts, calibrated"
    assert res.accuracy == 1.0 and res.n_eval == 20 and res.correct == "1" * 20
    assert res.majority_rate == pytest.approx(0.5) and res.above_majority
    assert res.score_s >= 0 and res.selection.seconds >= 0
    assert lm.prompter.shots == 4  # the timed prompt is the kept k's
    sub = evaluate_prompting(lm, task, PromptProtocol(validation=12, eval_limit=8), seq_len=16)
    assert sub.n_eval == 8 and len(sub.correct) == 8 and len(seen) == 5  # the selection is reused
    assert sub.ci[1] - sub.ci[0] > res.ci[1] - res.ci[0]  # fewer texts, a wider interval
    again = evaluate_prompting(lm, task, proto, seq_len=16)
    assert again.cached and again.correct == res.correct and again.selection == res.selection
    assert len(seen) == 5
    lm.prompter = None
    attach(lm, task, proto, 16)  # a new process: the selection comes from the cache
    assert len(seen) == 5 and lm.prompter.selection == res.selection
    fixed = evaluate_prompting(lm, task, PromptProtocol(shots=0, validation=12, eval_limit=None), seq_len=16)
    assert fixed.protocol.startswith("k=0, validation") and fixed.accuracy == 0.5  # a new key, recomputed
    raw = evaluate_prompting(lm, task, PromptProtocol(shots=4, validation=0, eval_limit=None), seq_len=16)
    assert raw.protocol == "k=4, uncalibrated" and raw.accuracy == 0.5


def test_best_threshold() -> None:
    score = np.array([-2.0, -1.0, 0.5, 1.0, 3.0])
    truth = np.array([0, 0, 0, 1, 1])
    t = best_threshold(score, truth)
    assert 0.5 < t < 1.0
    assert ((score > t).astype(int) == truth).all()


def test_measure_records_the_protocol_and_the_majority_rate(tiny_task: Path) -> None:
    from efflab.measuring.measure import measure

    method = MethodSettings(**{**fast_method().to_dict(), "prompt_validation": 6, "prompt_eval_limit": 10})
    m = measure(
        Config(model="tiny-llama", batch_size=2, seq_len=16, task=str(tiny_task)),
        sensor="fake",
        method=method,
    )
    assert m.prompting is not None and m.prompting.startswith("k=")
    assert "of 0/4/8, validation" in m.prompting and "on 6 train texts" in m.prompting
    assert m.majority_rate == pytest.approx(0.5)  # the tiny task's first 10 test texts: 5 and 5
    assert m.n_eval == 10 and m.accuracy is not None and m.accuracy_ci is not None
    assert m.flops_per_query and m.workload == "classify"


def test_classify_without_task_and_prompt_beyond_context(
    lm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
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
    # With k chosen, a k whose prompt does not fit is skipped: k=0 fits a 64-token context.
    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path / "cache"))
    p = attach(short, toy_task(), PromptProtocol(validation=4), 32)
    assert p.selection is not None and p.shots == 0 and {c.shots for c in p.selection.tried} == {0}


def test_a_label_word_that_is_not_one_token_is_one_line_naming_it_and_the_fix(lm) -> None:  # type: ignore[no-untyped-def]
    # " 0" and " 1" are two tokens each for the SmolLM2 tokenizer (tiny-llama shares it).
    df = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": [0, 1, 0, 1]})
    task = task_from_frames("digits", df.iloc[:2], df.iloc[2:])
    with pytest.raises(ConfigError) as e:
        attach(lm, task, PromptProtocol(shots=2, validation=0), 16)
    msg = str(e.value)
    assert "\n" not in msg
    assert "label word '0' is 2 tokens for 'tiny-llama'" in msg
    assert 'digits.labels.json beside it, e.g. {"0": "positive"}' in msg
    named = task_from_frames(
        "digits", df.iloc[:2], df.iloc[2:], label_words={"0": "negative", "1": "positive"}
    )
    assert len(label_token_ids(lm, named)) == 2  # declared words: one token each
    words = task_from_frames("w", df.iloc[:2], df.iloc[2:], label_words={"0": "unhappiest", "1": "yes"})
    with pytest.raises(ConfigError, match="label word 'unhappiest' is [2-9] tokens"):
        Prompter(lm, words, PromptProtocol(shots=2, validation=0), 16)


def test_the_prompt_uses_the_task_s_label_words(lm) -> None:  # type: ignore[no-untyped-def]
    task = toy_task()
    named = task_from_frames(
        "toy", task.train.assign(label=task.train["label"].map({0: "other", 1: "great"})),
        task.test.assign(label=task.test["label"].map({0: "other", 1: "great"})),
        label_names=("other", "great"), label_words={"great": "positive", "other": "negative"},
    )  # fmt: skip
    p = Prompter(lm, named, PromptProtocol(shots=4, validation=0), 16)
    text = lm.tokenizer.decode(p.prompt_ids("fine"))
    assert "labelled one of: negative, positive." in text
    assert "Label: positive" in text and "Label: negative" in text and "Label: great" not in text
    assert p.label_token_ids == [
        lm.tokenizer(" negative")["input_ids"][-1],
        lm.tokenizer(" positive")["input_ids"][-1],
    ]


def test_zoo_build_leaves_the_rule_the_default_sweep_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`efflab zoo build` chooses a prompted LM's rule with the default grid's settings (issue 22), so
    the sweep's first point reads it instead of scoring the validation slice again."""
    import efflab.models.registry as registry
    import efflab.tasks.prompting as prompting
    from efflab.cli.zoo import _choose_prompt
    from efflab.measuring.point import prepare_batch
    from efflab.models import load_runner
    from efflab.tasks import get_task

    source = registry.resolve_model("tiny-llama")
    monkeypatch.setattr(registry, "resolve_model", lambda name, progress=True: source)
    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path))  # chosen here, not read from an earlier run
    _choose_prompt("tiny-llama")
    assert "tiny-llama" in (out := capsys.readouterr().out) and "prompts on reviews: k=" in out

    def no_select(*a: object, **k: object) -> None:
        raise AssertionError("the sweep chose the rule again")

    monkeypatch.setattr(prompting, "select", no_select)
    runner = load_runner(source, "fp32", "cpu")
    try:
        _, p = prepare_batch(runner, Config(model="tiny-llama", batch_size=1, task="reviews"),
                             get_task("reviews"), MethodSettings())  # fmt: skip
        assert p is not None and p.selection is not None and f"k={p.shots}" in out
    finally:
        runner.close()
