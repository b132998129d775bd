"""The general-purpose sentence: a ratio only for a prompted model above chance, on the same texts."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from efflab.analysis.general import general_vs_specific

N = 1000


def _row(model: str, energy_j: float, correct: str, **kw: Any) -> dict[str, Any]:
    acc = correct.count("1") / len(correct)
    return {
        "status": "ok", "energy_measured": False, "flags": "", "workload": "classify", "batch_size": 8,
        "precision": "fp32", "model": model, "energy_j_per_query": energy_j, "accuracy": acc,
        "n_eval": len(correct), "accuracy_correct": correct, "prompting": None, **kw,
    }  # fmt: skip


def _llm(correct: str, majority: float | None) -> dict[str, Any]:
    return _row(
        "smollm2-135m", 50.0, correct, batch_size=1, majority_rate=majority,
        prompting="k=8 of 0/4/8, validation 74.0 % on 200 train texts, calibrated",
    )  # fmt: skip


def _family(first_200_right: int) -> list[dict[str, Any]]:
    # tfidf: 80 % on all 1,000 texts, but `first_200_right` of the first 200 (the LLM's texts).
    rest = 800 - first_200_right
    tfidf = "1" * first_200_right + "0" * (200 - first_200_right) + "1" * rest + "0" * (800 - rest)
    return [_row("tfidf-logreg", 0.5, tfidf), _row("minilm-l2", 5.0, "1" * 700 + "0" * 300)]


def test_above_chance_the_ratio_is_headlined_with_the_majority_rate_on_the_same_texts() -> None:
    llm = _llm("1" * 150 + "0" * 50, majority=0.615)  # 75.0 %, interval 68.6–80.5 % > 61.5 %
    g = general_vs_specific(pd.DataFrame([llm, *_family(170)]))
    assert g is not None and g.beats_majority is True and g.same_texts
    assert g.specific_model == "tfidf-logreg" and g.specific_accuracy == pytest.approx(0.85)  # its first 200
    assert g.headline() == "100× the energy"
    assert g.sentence() == (
        "The general-purpose model (smollm2-135m, prompted: k=8 of 0/4/8, validation 74.0 % on 200 train "
        "texts, calibrated) costs 100× the modelled energy per query of tfidf-logreg for 10.0 pt less "
        "accuracy on the same 200 test texts: 75.0 % (95 % interval 68.6 % – 80.5 %) vs 85.0 %, where always "
        "answering the majority class scores 61.5 %."
    )


def test_not_above_chance_no_ratio_is_headlined() -> None:
    # 62.5 % on 200 texts whose majority class is 61.5 %: the case, chance.
    llm = _llm("1" * 125 + "0" * 75, majority=0.615)
    g = general_vs_specific(pd.DataFrame([llm, *_family(160)]))
    assert g is not None and g.beats_majority is False
    assert g.headline() == "did not beat the majority class"
    text = g.sentence()
    assert "did not beat the majority class: 62.5 % (95 % interval 55.6 % – 68.9 %) on 200 test texts" in text
    assert "always answering the majority class scores 61.5 %" in text
    assert "×" not in text and "pt less accuracy" not in text
    assert g.energy_ratio == pytest.approx(100.0)  # still there for whoever asks, never headlined


def test_a_point_without_the_majority_rate_is_not_headlined_either() -> None:
    llm = _llm("1" * 150 + "0" * 50, majority=None)  # a point from before the rate was recorded
    g = general_vs_specific(pd.DataFrame([llm, *_family(170)]))
    assert g is not None and g.beats_majority is None
    assert g.headline() == "not checked against chance"
    assert "does not record the majority-class rate" in g.sentence() and "×" not in g.sentence()


def test_without_per_example_strings_the_accuracies_say_their_own_sizes() -> None:
    llm = {**_llm("1" * 150 + "0" * 50, majority=0.615), "accuracy_correct": None}
    fam = [{**r, "accuracy_correct": None} for r in _family(170)]
    g = general_vs_specific(pd.DataFrame([llm, *fam]))
    assert g is not None and not g.same_texts and g.specific_accuracy == pytest.approx(0.8)
    assert g.general_ci is not None and g.general_ci[0] == pytest.approx(0.686, abs=1e-3)  # Wilson from n
    assert (
        ": 75.0 % (95 % interval 68.6 % – 80.5 %) on 200 test texts vs 80.0 % on 1,000, where" in g.sentence()
    )
