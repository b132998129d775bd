"""Known answers for ``efflab.analysis.assess``: ties, a noisy outlier, McNemar, savings that cross zero,
a single point, an empty cohort, and the bad inputs."""

from __future__ import annotations

import random
import re
import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from efflab import format as fmt
from efflab.analysis import AssessInputs, assess, mcnemar_exact_p, savings
from efflab.analysis.compare import energy_tied
from efflab.analysis.uncertainty import compare_accuracy
from efflab.errors import ConfigError

N_TEXTS = 1000
SIZES = {"tiny": 1e6, "small": 5e6, "mid": 2e7, "big": 1e8, "huge": 3e8}


def correctness(accuracy: float, seed: int, base: str | None = None, flip: int = 0) -> str:
    """'0'/'1' per text: ``accuracy`` right at random, or ``base`` with ``flip`` right answers made wrong."""
    if base is not None:
        bits = list(base)
        ones = [i for i, b in enumerate(bits) if b == "1"]
        for i in random.Random(seed).sample(ones, flip):
            bits[i] = "0"
        return "".join(bits)
    # exactly round(accuracy * N_TEXTS) right, at places the seed picks: the bits' accuracy is the row's
    right = set(random.Random(seed).sample(range(N_TEXTS), round(accuracy * N_TEXTS)))
    return "".join("1" if i in right else "0" for i in range(N_TEXTS))


def point(model: str, batch: int, precision: str, energy_j: float, **kw: Any) -> dict[str, Any]:
    acc = kw.pop("accuracy", 0.9)
    row: dict[str, Any] = {
        "key": f"{model}:{batch}:{precision}",
        "status": "ok",
        "error": None,
        "created_at": kw.pop("created_at", "2026-12-01 10:00:00"),
        "timestamp": kw.pop("timestamp", None),
        "cohort": kw.pop("cohort", "reviews @ cpu"),
        "hardware": "cpu",
        "model": model,
        "batch_size": batch,
        "precision": precision,
        "device": "cpu",
        "seq_len": 128,
        "task": "reviews",
        "cast": "model",
        "latency_s": kw.pop("latency_s", 0.01),
        "latency_ci_s": kw.pop("latency_ci_s", 0.0001),
        "energy_j_per_query": energy_j,
        "energy_j_per_query_ci": kw.pop("ci", energy_j * 0.01),
        "wh_per_1000_queries": energy_j * 1000 / 3600,
        "energy_source": "codecarbon",
        "energy_measured": False,
        "energy_basis": "modelled",
        "energy_uncertainty_rel": 0.3,
        "accuracy": acc,
        "accuracy_ci_low": None if acc is None else acc - 0.02,
        "accuracy_ci_high": None if acc is None else acc + 0.02,
        "n_eval": N_TEXTS,
        "accuracy_correct": kw.pop(
            "correct", None if acc is None else correctness(acc, zlib.crc32(model.encode()))
        ),
        "n_params": SIZES.get(model, 1e7),
        "flags": kw.pop("flags", ""),
    }
    row.update(kw)
    return row


def frame(*points: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(points))


def test_mcnemar_exact_known_values() -> None:
    # 10 discordant texts all one way: p = 2 / 2**10.
    a, b = "1" * 10 + "0" * 90, "0" * 100
    assert mcnemar_exact_p(a, b) == pytest.approx(2 / 1024)
    assert mcnemar_exact_p(a, a) == 1.0
    # 5 vs 5 discordant: perfectly balanced, p = 1.
    assert mcnemar_exact_p("1" * 5 + "0" * 5, "0" * 5 + "1" * 5) == 1.0


def flipped(base: str, down: int, up: int) -> str:
    """``base`` with ``down`` right answers made wrong and ``up`` wrong ones made right."""
    bits = list(base)
    ones = [i for i, x in enumerate(bits) if x == "1"][:down]
    zeros = [i for i, x in enumerate(bits) if x == "0"][:up]
    for i in ones:
        bits[i] = "0"
    for i in zeros:
        bits[i] = "1"
    return "".join(bits)


def test_as_accurate_is_non_inferiority_not_absence_of_evidence() -> None:
    best = correctness(0.92, 1)
    close = flipped(
        best, 30, 20
    )  # 1 pt below on 50 discordant texts: McNemar p ~ 0.2, interval ~ -2.4..+0.4 pt
    two_apart = flipped(best, 35, 15)  # 2 pt below: the simulated pair
    same = flipped(best, 2, 1)  # another precision of the best model: 3 discordant texts, 0.1 pt below
    df = frame(
        point("big", 8, "fp32", 10.0, accuracy=best.count("1") / N_TEXTS, correct=best),
        point("big", 8, "int8", 5.0, accuracy=same.count("1") / N_TEXTS, correct=same),
        point("small", 8, "fp32", 2.0, accuracy=close.count("1") / N_TEXTS, correct=close),
        point("tiny", 8, "fp32", 1.0, accuracy=two_apart.count("1") / N_TEXTS, correct=two_apart),
    )
    rec = assess(df).recommendation  # the default tolerance, 1 pt
    assert rec is not None
    # Not distinguishable is not enough: small's interval reaches 2.4 pt below the best.
    assert set(rec.admitted) == {"big:8:fp32", "big:8:int8"}
    assert rec.label == "big · batch 8 · int8" and rec.accuracy_method == "paired"
    assert (
        "at most 1 pt less accurate with 95 % confidence" in rec.reason and "1,000 test texts" in rec.reason
    )
    small = rec.accuracy_comparison("small:8:fp32")
    assert small is not None and small.low < -0.01 and small.ratio < 0
    tiny = rec.accuracy_comparison("tiny:8:fp32")
    assert tiny is not None and tiny.ratio == pytest.approx(-0.02) and tiny.low < -0.01
    assert "cannot be told apart" in rec.resolution
    # The tolerance is the one knob, and it changes the answer.
    wide = assess(df, AssessInputs(accuracy_tolerance="3pt")).recommendation
    assert wide is not None and wide.label == "small · batch 8 · fp32"
    widest = assess(df, AssessInputs(accuracy_tolerance="5pt")).recommendation
    assert widest is not None and widest.label == "tiny · batch 8 · fp32"
    zero = assess(df, AssessInputs(accuracy_tolerance=0.0)).recommendation
    assert zero is not None and set(zero.admitted) == {"big:8:fp32"}


def test_a_subset_scored_point_is_paired_on_the_shared_prefix() -> None:
    # The prompted LLM is scored on the first 200 test texts; the encoder on all 1,000, in the same order.
    full = "1" * 900 + "0" * 100
    sub_same = full[:200]  # right wherever the encoder is on the shared texts: indistinguishable
    sub_worse = "0" * 60 + full[60:200]  # 60 discordant texts all one way: clearly worse
    assert (
        compare_accuracy(
            {"accuracy": 0.9, "accuracy_correct": full}, {"accuracy": 1.0, "accuracy_correct": sub_same}, 0.0
        ).method
        == "paired"
    )
    worse = compare_accuracy(
        {"accuracy": 0.9, "accuracy_correct": full}, {"accuracy": 0.7, "accuracy_correct": sub_worse}, 0.0
    )
    assert worse.method == "paired" and not worse.admitted
    short = compare_accuracy(
        {"accuracy": 0.9, "accuracy_correct": full}, {"accuracy": 0.9, "accuracy_correct": full[:10]}, 0.0
    )
    assert short.method == "unpaired"  # too few shared texts to pair


def test_without_per_example_correctness_the_comparison_is_unpaired_and_says_so() -> None:
    df = frame(
        point("big", 8, "fp32", 10.0, accuracy=0.92, correct=None),
        point("small", 8, "fp32", 2.0, accuracy=0.91, correct=None),  # 1 pt: interval about -3.4..+1.4 pt
        point("tiny", 8, "fp32", 1.0, accuracy=0.80, correct=None),  # 12 pt: clearly less accurate
    )
    a = assess(df, AssessInputs(accuracy_tolerance="5pt"))
    assert a.recommendation is not None and a.recommendation.label == "small · batch 8 · fp32"
    assert a.recommendation.accuracy_method == "unpaired"
    assert "no per-example correctness stored" in a.recommendation.reason
    assert any("unpaired" in line for line in a.provenance)
    strict = assess(df, AssessInputs(accuracy_tolerance="1pt"))
    assert strict.recommendation is not None and strict.recommendation.label == "big · batch 8 · fp32"


def test_energy_tie_prefers_the_smaller_model_and_says_so() -> None:
    c = correctness(0.9, 7)
    df = frame(
        point("small", 8, "int8", 1.00, ci=0.05, correct=c),
        point("tiny", 8, "int8", 1.03, ci=0.05, correct=c),  # 1.03 × [0.98, 1.08]: no clear difference
        point("mid", 8, "int8", 2.0, ci=0.05, correct=c),
    )
    rec = assess(df).recommendation
    assert rec is not None
    assert rec.label == "tiny · batch 8 · int8"
    # The reason names the tied configurations, their comparison and the rule that broke the tie.
    assert (
        "tiny · batch 8 · int8 and small · batch 8 · int8 are tied on energy: tiny · batch 8 · int8 +3 % against small · batch 8 · int8 (95 % interval -2 % to +8.2 %: no clear difference; compared by their re-run intervals"
        in rec.reason
    )
    assert "Of them, the smaller model is recommended" in rec.reason
    assert "mid" not in rec.reason.split("Its energy")[0]
    # Same model, tied: the lower latency per query wins (batch 8 at 2 ms per query beats batch 1 at 5 ms).
    df2 = frame(
        point("small", 8, "int8", 1.00, ci=0.05, latency_s=0.016, correct=c),
        point("small", 1, "int8", 1.02, ci=0.05, latency_s=0.005, correct=c),
    )
    rec2 = assess(df2).recommendation
    assert rec2 is not None and rec2.label == "small · batch 8 · int8"
    assert "the one with the lowest latency per query is recommended" in rec2.reason
    # Two configurations of the smaller model tied with a bigger one: size first, then latency, and said so.
    df3 = frame(
        point("small", 8, "int8", 1.00, ci=0.05, latency_s=0.02, correct=c),
        point("small", 1, "int8", 1.02, ci=0.05, latency_s=0.002, correct=c),
        point("mid", 8, "int8", 1.01, ci=0.05, latency_s=0.001, correct=c),
    )
    rec3 = assess(df3).recommendation
    assert rec3 is not None and rec3.label == "small · batch 1 · int8"
    assert "the smaller model's configuration with the lowest latency per query is recommended" in rec3.reason


def test_the_common_systematic_factor_does_not_make_a_tie() -> None:
    # ±30 % modelled basis on both, but statistical intervals of 1 %: 1.0 vs 1.2 is a clear difference.
    c = correctness(0.9, 3)
    df = frame(point("big", 8, "fp32", 1.0, correct=c), point("tiny", 8, "fp32", 1.2, correct=c))
    rec = assess(df).recommendation
    assert rec is not None and rec.label == "big · batch 8 · fp32" and len(rec.tied) == 1
    assert "big · batch 8 · fp32 uses 17 % less energy than tiny · batch 8 · fp32" in rec.reason


def test_a_noisy_outlier_does_not_set_the_star_bands() -> None:
    c = correctness(0.9, 3)
    clean = [point(m, 8, "fp32", e, correct=c) for m, e in (("tiny", 1.0), ("small", 2.0), ("mid", 3.0))]
    outlier = point("big", 8, "fp32", 100.0, flags="noisy", correct=c)
    a = assess(frame(*clean, outlier))
    stars = {r.model: r.stars for r in a.ratings}
    # Bands span 1..3 J (the clean models): tiny 5, small 3 (2.0 is the middle band's edge), mid 1;
    # with the outlier setting the bands, all three clean ones would have had 5 stars.
    assert stars == {"tiny": 5, "small": 3, "mid": 1, "big": 1}
    assert {r.model: r.sets_bands for r in a.ratings}["big"] is False


def test_unstable_and_disturbed_points_are_listed_not_used() -> None:
    c = correctness(0.9, 3)
    df = frame(
        point(
            "tiny",
            8,
            "fp32",
            0.1,
            flags="unstable",
            unstable_reason="window means 0.1 and 0.3 J disagree",
            correct=c,
        ),
        point("small", 8, "fp32", 0.2, flags="disturbed", correct=c),
        point("mid", 8, "fp32", 1.0, correct=c),
        {
            **point("big", 8, "fp32", 1.0),
            "status": "failed",
            "error": "out of memory",
            "energy_j_per_query": None,
        },
    )
    a = assess(df)
    assert a.recommendation is not None and a.recommendation.label == "mid · batch 8 · fp32"
    reasons = {e.label: e.reason for e in a.excluded}
    assert reasons["tiny · batch 8 · fp32"] == "unstable: window means 0.1 and 0.3 J disagree"
    assert reasons["small · batch 8 · fp32"].startswith("disturbed")
    assert reasons["big · batch 8 · fp32"] == "failed: out of memory"
    assert [r.model for r in a.ratings] == ["mid"]


def test_savings_range_crossing_zero_reads_no_clear_saving() -> None:
    base = point("big", 1, "fp32", 1.00, ci=0.10)
    cand = point("tiny", 8, "fp32", 0.95, ci=0.10)
    s = savings(base, cand, 1e6)
    lo, hi = s.saved_kwh_range
    assert lo < 0 < hi and not s.clear
    assert s.saved_kwh_per_year > 0
    assert fmt.saving_headline(s.saved_kwh_per_year, s.clear, fmt.kwh) == "no clear saving"
    assert fmt.saving_range(lo, hi, fmt.kwh).startswith("-") and "+" in fmt.saving_range(lo, hi, fmt.kwh)


def test_a_worse_pick_has_a_range_with_the_sign_of_its_headline() -> None:
    base = point("tiny", 8, "int8", 1.0)
    worse = point("big", 1, "fp32", 3.0)
    s = savings(base, worse, 1e6)
    lo, hi = s.saved_kwh_range
    assert hi < 0 and s.clear
    headline = fmt.saving_headline(s.saved_kwh_per_year, s.clear, fmt.kwh)
    assert headline.endswith("kWh more")
    assert fmt.saving_range(lo, hi, fmt.kwh).endswith("kWh more")
    assert "-" not in fmt.saving_range(lo, hi, fmt.kwh)


def test_savings_combine_timing_and_basis() -> None:
    base, cand = point("big", 1, "fp32", 2.0, ci=0.02), point("tiny", 8, "fp32", 1.0, ci=0.01)
    s = savings(base, cand, 1e6, "USA", 0.2, "EUR")
    per_year = 1e6 * 365 / 3.6e6
    assert s.saved_kwh_per_year == pytest.approx(per_year)
    lo, hi = s.saved_kwh_range
    # Common modelled basis (same sensor, hardware): the saving is known to within the ±30 % factor and
    # the small statistical part.
    assert 0.68 * per_year < lo < 0.7 * per_year and 1.3 * per_year < hi < 1.33 * per_year
    assert s.clear and s.common_systematic and not s.paired
    assert s.currency == "EUR" and s.saved_cost_per_year == pytest.approx(per_year * 0.2)
    other = savings(
        base,
        {**cand, "energy_source": "rapl", "energy_basis": "measured", "energy_uncertainty_rel": 0.05},
        1e6,
    )
    assert not other.common_systematic
    # Different bases: each side's systematic part joins the ratio's interval (30 % and 5 %), which is
    # then wider on the candidate side than the common factor's.
    olo, ohi = other.saved_kwh_range
    assert olo < lo and olo > 0 and ohi > per_year


def test_a_single_point() -> None:
    a = assess(frame(point("tiny", 8, "fp32", 1.0)))
    assert a.recommendation is not None and a.recommendation.label == "tiny · batch 8 · fp32"
    assert a.baseline_key == a.recommendation.key
    assert a.savings is not None and a.savings.saved_kwh_per_year == 0 and a.savings.saved_kwh_range == (0, 0)
    assert fmt.saving_headline(0.0, a.savings.clear, fmt.kwh) == "no change"
    assert [(r.model, r.stars) for r in a.ratings] == [("tiny", 5)]


def test_an_empty_store_and_an_empty_cohort() -> None:
    empty = frame(point("tiny", 8, "fp32", 1.0)).iloc[0:0]
    a = assess(empty)
    assert a.recommendation is None and a.guidance is not None and "efflab sweep" in a.guidance
    failed = frame({**point("tiny", 8, "fp32", 1.0), "status": "failed", "error": "boom"})
    b = assess(failed)
    assert b.recommendation is None and b.guidance is not None and "--failed" in b.guidance
    unstable = frame(point("tiny", 8, "fp32", 1.0, flags="unstable"))
    c = assess(unstable)
    assert c.recommendation is None and c.guidance is not None and "unstable" in c.guidance
    assert [e.label for e in c.excluded] == ["tiny · batch 8 · fp32"]
    # A store with two cohorts, one of them empty of eligible points: the default is the other one;
    # asked for by name, the empty one says what to run and keeps its points listed with reasons.
    two = frame(
        point("tiny", 8, "fp32", 1.0),
        point("tiny", 8, "fp32", 2.0, cohort="reviews @ gpu", flags="disturbed", key="gpu:tiny"),
    )
    d = assess(two)
    assert d.cohort == "reviews @ cpu" and d.cohorts == ("reviews @ cpu", "reviews @ gpu")
    e = assess(two, AssessInputs(cohort="reviews @ gpu"))
    assert e.recommendation is None and e.savings is None and not e.ratings
    assert e.guidance is not None and "efflab sweep" in e.guidance
    assert e.exclusion_counts() == {"disturbed": 1}


def test_newest_point_per_configuration() -> None:
    old = point("tiny", 8, "fp32", 5.0, created_at="2026-11-01 10:00:00")
    new = {**point("tiny", 8, "fp32", 1.0, created_at="2026-12-01 10:00:00"), "key": "tiny:8:fp32:v2"}
    failed_newer = {
        **point("tiny", 8, "fp32", 1.0, created_at="2026-12-02 10:00:00"),
        "key": "tiny:8:fp32:v3",
        "status": "failed",
        "energy_j_per_query": None,
    }
    a = assess(frame(old, new, failed_newer))
    assert list(a.frame["key"]) == ["tiny:8:fp32:v2"] and a.superseded == 2


def test_cohort_baseline_and_selection() -> None:
    c = correctness(0.9, 3)
    df = frame(
        point("tiny", 8, "int8", 1.0, correct=c),
        point("big", 1, "fp32", 4.0, correct=c),
        point("mid", 1, "fp32", 2.0, correct=c, cohort="reviews @ gpu"),
    )
    a = assess(df)
    assert a.cohort == "reviews @ cpu" and a.cohorts == ("reviews @ cpu", "reviews @ gpu")
    assert a.baseline is not None and a.baseline["key"] == "big:1:fp32"
    b = assess(df, AssessInputs(selected="big:1:fp32"))
    assert b.nudge.startswith("Your pick, big · batch 1 · fp32: 4× the energy")
    assert b.selected_savings is not None and b.selected_savings.saved_kwh_per_year == 0
    g = assess(df, AssessInputs(cohort="reviews @ gpu"))
    assert g.recommendation is not None and g.recommendation.label == "mid · batch 1 · fp32"
    with pytest.raises(ConfigError, match="unknown cohort 'reviews @ tpu'.*reviews @ cpu"):
        assess(df, AssessInputs(cohort="reviews @ tpu"))
    with pytest.raises(ConfigError, match="baseline 'huge:1:fp32' is not an eligible configuration"):
        assess(df, AssessInputs(baseline="huge:1:fp32"))
    with pytest.raises(ConfigError, match="MODEL:BATCH:PRECISION"):
        assess(df, AssessInputs(baseline="huge"))


@pytest.mark.parametrize(
    ("field", "bad", "match"),
    [
        ("accuracy_tolerance", 1, "between 0 and 0.5 .*1pt"),
        ("accuracy_tolerance", -0.01, "between 0 and 0.5"),
        ("accuracy_tolerance", "lots", "must be a number, got 'lots'"),
        ("queries_per_day", -5, "queries per day must be >= 0, got -5"),
        ("queries_per_day", "many", "queries per day must be a number, got 'many'"),
        ("price_per_kwh", -0.1, "price per kWh must be >= 0"),
        ("price_per_kwh", "cheap", "price per kWh must be a number"),
        ("currency", "DOLLARS", "unknown currency 'DOLLARS'"),
        ("country", "XYZ", "unknown country 'XYZ'"),
    ],
)
def test_bad_inputs_name_the_value_and_the_fix(field: str, bad: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        AssessInputs(**{field: bad})


def test_tolerance_has_one_unit() -> None:
    assert AssessInputs(accuracy_tolerance="1pt").accuracy_tolerance == pytest.approx(0.01)
    assert AssessInputs(accuracy_tolerance="2 %").accuracy_tolerance == pytest.approx(0.02)
    assert AssessInputs(accuracy_tolerance="0.03").accuracy_tolerance == pytest.approx(0.03)


def test_cost_only_cohort() -> None:
    df = frame(point("tiny", 8, "fp32", 1.0, accuracy=None), point("big", 8, "fp32", 3.0, accuracy=None))
    rec = assess(df).recommendation
    assert rec is not None and rec.label == "tiny · batch 8 · fp32" and rec.accuracy_method == "none"
    assert "no task accuracy measured" in rec.reason


def test_missing_configuration_fields_on_failed_rows() -> None:
    # A failed point has no measurement, so fields such as cast are missing (NaN) in the frame.
    failed = {
        **point("big", 8, "fp32", 1.0),
        "status": "failed",
        "cast": float("nan"),
        "energy_j_per_query": None,
    }
    a = assess(frame(point("tiny", 8, "fp32", 1.0), failed))
    assert a.recommendation is not None and [e.label for e in a.excluded] == ["big · batch 8 · fp32"]


def test_general_vs_specific_is_decided_once_in_the_assessment() -> None:
    llm = point(
        "smollm2-135m",
        1,
        "fp32",
        50.0,
        accuracy=0.7,
        prompting="k=4, calibrated on 100 train texts",
        majority_rate=0.6,
    )
    enc = point("minilm-l6", 8, "fp32", 2.0, accuracy=0.82, prompting=None)
    tfidf = point("tfidf-logreg", 8, "fp32", 0.01, accuracy=0.80, prompting=None)
    a = assess(frame(llm, enc, tfidf))
    assert a.general is not None and a.general.specific_model == "minilm-l6"
    assert re.search(
        r"costs 25× the modelled energy per query of minilm-l6 for 1\d\.\d pt less accuracy on the same "
        r"1,000 test texts",
        a.general.sentence(),
    )
    assert assess(frame(enc, tfidf)).general is None  # no prompted LLM
    assert assess(frame(llm)).general is None  # no task-specific model
    other = point("smollm2-135m", 1, "fp32", 50.0, accuracy=0.7, prompting="k=4", cohort="other @ cpu")
    assert assess(frame(other, enc, tfidf)).general is None  # the cohorts differ


def test_ties_and_savings_use_the_same_comparison() -> None:
    # Re-run intervals of 6 % each: 1.00 vs 1.03 J is no clear difference, and the saving between them
    # is "no clear saving" — never "tied" on one line and a clear saving on the next.
    a = point("tiny", 8, "fp32", 1.00, ci=0.06, energy_ci_windows_j=0.01)
    b = point("small", 8, "fp32", 1.03, ci=0.06, energy_ci_windows_j=0.011)
    assert energy_tied(a, b)
    s = savings(b, a, 1e6)
    assert not s.clear and s.saved_kwh_range[0] < 0 < s.saved_kwh_range[1]
    assert fmt.saving_headline(s.saved_kwh_per_year, s.clear, fmt.kwh) == "no clear saving"
    # The test is on the difference (the two means' own uncertainty), not on overlapping re-run
    # intervals: 1.00 vs 1.10 J with 6 % re-run intervals overlaps, and is a clear difference.
    c = point("small", 8, "fp32", 1.10, ci=0.066)
    assert not energy_tied(a, c) and savings(c, a, 1e6).clear
    # A point without an energy interval of its own uses its latency's re-run interval, in both rules.
    d = point("small", 8, "fp32", 1.03, ci=None, latency_s=0.01, latency_ci_s=0.0006)
    assert energy_tied(a, d) and not savings(d, a, 1e6).clear
    a_rec = assess(
        frame(a, {**d, "accuracy_correct": a["accuracy_correct"]}), AssessInputs(accuracy_tolerance=0.05)
    )
    assert a_rec.recommendation is not None and "are tied on energy" in a_rec.recommendation.reason
    # Over many pairs: tied exactly when the saving is not clear.
    rng = random.Random(5)
    for _ in range(300):
        e1, e2 = rng.uniform(0.5, 2), rng.uniform(0.5, 2)
        p1 = point("tiny", 8, "fp32", e1, ci=e1 * rng.uniform(0.01, 0.3))
        p2 = point("small", 8, "fp32", e2, ci=e2 * rng.uniform(0.01, 0.3))
        assert energy_tied(p1, p2) == (not savings(p1, p2, 1e6).clear)


def test_the_best_and_the_baseline_do_not_depend_on_row_order() -> None:
    # Two configurations of the most accurate model share its accuracy (one text set, the same answers):
    # "the best" is the one with less energy, whichever order the surface read the rows in.
    same = correctness(0.9, 7)
    rows = [
        point("big", 1, "fp32", 0.040, accuracy=0.9, correct=same),
        point("big", 8, "bf16", 0.010, accuracy=0.9, correct=same),
        point("big", 8, "fp32", 0.030, accuracy=0.9, correct=same),
        point("small", 8, "fp32", 0.002, accuracy=0.85, correct=correctness(0.85, 3)),
    ]
    seen = set()
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        a = assess(frame(*[rows[i] for i in order]))
        assert a.recommendation is not None and a.baseline is not None
        seen.add((a.recommendation.best_label, a.recommendation.label, fmt.config_label(a.baseline)))
    assert seen == {("big · batch 8 · bf16", "big · batch 8 · bf16", "big · batch 1 · fp32")}


def test_exclusion_counts_read_as_words() -> None:
    a = assess(
        frame(
            point("big", 1, "fp32", 0.04),
            point("big", 8, "fp32", 0.03, flags="unstable,disturbed", unstable_reason="windows disagree"),
            point("small", 8, "fp32", 0.02, flags="disturbed"),
        )
    )
    assert a.exclusion_counts() == {"disturbed": 1, "unstable and disturbed": 1}


def test_a_100x_outlier_does_not_make_the_family_uniform() -> None:
    from efflab.analysis.stars import energy_stars

    c = correctness(0.9, 3)
    family = [point(m, 8, "fp32", e, correct=c) for m, e in (("tiny", 1.0), ("small", 3.0), ("mid", 4.0))]
    # A general-purpose LM scored by prompting, 100x the family: its own class, and as the only one of it
    # rated in the bands of every model (not "5 of 5" at 100x the energy); the family keeps its bands.
    llm = point("huge", 1, "fp32", 100.0, correct=c, prompting="k=4")
    a = assess(frame(*family, llm))
    stars = {r.model: r.stars for r in a.ratings}
    assert stars["tiny"] == 5 and stars["small"] < 5 and stars["huge"] == 1
    rated = {r.model: r for r in a.ratings}
    assert rated["huge"].group == "general-purpose (prompted)" and "only" in rated["huge"].rule
    assert "all 4 models" in rated["huge"].rule and rated["huge"].n_rated == 4
    assert rated["tiny"].n_rated == 3 and "equal-width" in rated["tiny"].rule
    # A 100x outlier inside the family: bands of equal ratio keep the 3x gap apart.
    spread = [*family, point("big", 8, "fp32", 100.0, correct=c)]
    b = assess(frame(*spread))
    s2 = {r.model: r.stars for r in b.ratings}
    assert s2["tiny"] == 5 and s2["small"] == 4 and s2["big"] == 1
    assert "equal ratio" in b.rating("tiny").rule  # type: ignore[union-attr]
    # The AI Energy Score rule stays available: linear bands, every model together.
    from efflab.analysis.stars import rate_models

    aes = {r.model: r.stars for r in rate_models(b.eligible, rule="ai-energy-score")}
    assert aes["tiny"] == aes["small"] == aes["mid"] == 5 and aes["big"] == 1
    # Exact band edges: 0.6 of [0, 1] is on an inner edge and belongs to the higher-energy band.
    assert energy_stars([0, 0.2, 0.4, 0.6, 0.8, 1.0]) == [5, 4, 3, 2, 1, 1]
    # A surface about one configuration shows that configuration's stars in its model's bands.
    cfg = point("small", 32, "fp32", 1.0, correct=c)
    d = assess(frame(*family, cfg))
    assert d.config_stars("small:32:fp32") == 5 and d.rating("small").stars == 5  # type: ignore[union-attr]


def test_assess_takes_the_stores_typed_points_or_their_table(small_store: Path) -> None:
    """The typed points are the data (``Store.points()``); ``load_results`` is their table: one decision."""
    from efflab.store import load_results, open_store

    with open_store(small_store) as st:
        points = list(st.points())
    by_points, by_frame = assess(points), assess(load_results(small_store))
    assert by_points.recommendation is not None and by_frame.recommendation is not None
    assert by_points.recommendation.key == by_frame.recommendation.key
    assert by_points.baseline_key == by_frame.baseline_key and by_points.headline == by_frame.headline
    assert [r.key for r in by_points.ratings] == [r.key for r in by_frame.ratings]


def test_recommendation_baseline_and_selection_are_typed_points() -> None:
    """What ``assess`` hands a surface is a typed ``Point``: fields with their types, a missing figure
    None (never NaN, never 0), the status an enum, the flags a set of ``Flag``, identity the store key;
    ``point["column"]`` still reads the cohort table's rarer columns."""
    from efflab.analysis import Point
    from efflab.records import Flag, PointStatus

    same = correctness(0.9, 7)  # the same answers: as accurate
    df = frame(
        point(
            "small",
            32,
            "fp32",
            0.01,
            n_params=float("nan"),
            flags="busy_machine",
            run_spread_source="x",
            correct=same,
        ),
        point("big", 32, "fp32", 0.05, correct=same),
        point("big", 1, "fp32", 0.2, status="failed", error="boom", accuracy=None),
    )
    a = assess(df, AssessInputs(baseline="big:32:fp32", selected="big:1:fp32"))
    rec, base, sel = a.recommendation, a.baseline, a.selected
    assert (
        rec is not None
        and isinstance(rec.point, Point)
        and isinstance(base, Point)
        and isinstance(sel, Point)
    )
    p = rec.point
    assert (p.key, p.model, p.batch_size, p.precision) == ("small:32:fp32", "small", 32, "fp32")
    assert p.label == rec.label == fmt.config_label(p)
    assert p.status is PointStatus.OK and p.flags == frozenset({Flag.BUSY_MACHINE})
    assert p.n_params is None and p.accuracy == pytest.approx(0.9) and p.n_eval == N_TEXTS
    assert p.accuracy_ci == pytest.approx((0.88, 0.92)) and p.eligible and p.excluded_reason is None
    assert p.stars == a.stars("small") and p["run_spread_source"] == "x" and p.get("no such column") is None
    assert base.key == a.baseline_key == "big:32:fp32" and base.energy_j_per_query == pytest.approx(0.05)
    assert sel.status is PointStatus.FAILED and not sel.eligible and sel.excluded_reason
    assert sel.accuracy is None and sel.accuracy_ci is None and sel.energy_j_per_query == pytest.approx(0.2)
    assert a.point("no:such:key") is None and a.point_for("small:32:fp32") == p
    with pytest.raises(ConfigError, match="not in cohort"):
        a.point_for("no:such:key")
