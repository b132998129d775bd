"""Pareto, knee, stars, recommendation and savings on hand-made frames with known answers (the
uncertainty-aware cases are in test_assess.py)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from efflab.analysis import (
    AssessInputs,
    Point,
    assess,
    energy_stars,
    knee,
    model_ratings,
    nudge,
    pareto_front,
    savings,
)
from efflab.errors import ConfigError


def frame(rows: list[tuple[str, int, str, float, float]], **extra: object) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["model", "batch_size", "precision", "energy_j_per_query", "accuracy"])
    df["status"] = "ok"
    df["cohort"] = "reviews @ cpu"
    df["latency_s"] = 0.01
    df["wh_per_1000_queries"] = df["energy_j_per_query"] * 1000 / 3600
    df["energy_measured"] = False
    df["energy_source"] = "codecarbon"
    df["energy_uncertainty_rel"] = 0.5
    df["hardware"] = "cpu"
    for k, v in extra.items():
        df[k] = v
    return df


def test_stars_follow_the_ai_energy_score_rule() -> None:
    # [0, 10] in five bands of width 2: 0-2 -> 5, 2-4 -> 4, ..., 8-10 -> 1.
    assert energy_stars([0, 1.9, 2, 5, 7.9, 8, 10]) == [5, 5, 4, 3, 2, 1, 1]
    assert energy_stars([3.0]) == [5]
    assert energy_stars([2.0, 2.0, 2.0]) == [5, 5, 5]
    assert energy_stars([1.0, float("nan"), 2.0]) == [5, 0, 1]
    assert energy_stars([]) == []


def test_stars_within_given_bands() -> None:
    # Bands set elsewhere (by the clean points): values outside are rated in the nearest band.
    assert energy_stars([0.5, 1, 3, 100], (1.0, 3.0)) == [5, 5, 1, 1]


def test_pareto_front_with_ties_and_nan() -> None:
    df = frame(
        [
            ("a", 1, "fp32", 1.0, 0.80),
            ("b", 1, "fp32", 2.0, 0.85),
            ("c", 1, "fp32", 3.0, 0.84),  # dominated by b
            ("d", 1, "fp32", 2.0, 0.85),  # identical to b: both on the front
            ("e", 1, "fp32", 0.5, float("nan")),  # no accuracy: never on the front
        ]
    )
    assert pareto_front(df).tolist() == [True, True, False, True, False]


def test_knee_is_the_bend() -> None:
    df = frame(
        [
            ("tiny", 1, "fp32", 0.001, 0.70),
            ("small", 1, "fp32", 0.01, 0.80),
            ("mid", 1, "fp32", 0.1, 0.81),
            ("big", 1, "fp32", 1.0, 0.815),
        ]
    )
    assert df.loc[knee(df), "model"] == "small"
    assert knee(df.iloc[:2]) is None
    assert knee(frame([("x", 1, "fp32", 1.0, 0.8)])) is None


def _rec(df: pd.DataFrame, tolerance: float = 0.01) -> Point:
    rec = assess(df, AssessInputs(accuracy_tolerance=tolerance)).recommendation
    assert rec is not None
    return rec.point


def test_recommend_least_energy_within_tolerance() -> None:
    # No per-example correctness and no sizes: the unpaired test cannot separate 81.5 % from 78 % without
    # n_eval, so give every point 1,000 texts.
    df = frame(
        [
            ("l6", 32, "fp32", 1.0, 0.815),
            ("l6", 32, "int8", 0.4, 0.812),
            ("l2", 32, "int8", 0.1, 0.806),
            ("l1", 32, "int8", 0.05, 0.70),
        ],
        n_eval=1000,
        key=["a", "b", "c", "d"],
    )
    # Unpaired, 0.9 pt on 1,000 texts is known to within about ±3.4 pt: admitted at a 5 pt tolerance,
    # not at the default 1 pt (non-inferiority: the whole interval within the tolerance).
    assert _rec(df, 0.01)["model"] == "l6"
    a = assess(df, AssessInputs(accuracy_tolerance="5pt"))
    assert a.recommendation is not None and a.recommendation.point.model == "l2"
    assert a.recommendation.best_accuracy == pytest.approx(0.815) and a.recommendation.n_candidates == 3
    assert _rec(df, 0.2)["model"] == "l1"
    with pytest.raises(ConfigError, match="accuracy tolerance"):
        AssessInputs(accuracy_tolerance=-0.1)


def test_recommend_single_point_and_nan_accuracy() -> None:
    one = frame([("only", 1, "fp32", 1.0, 0.8)])
    assert _rec(one)["model"] == "only"
    noacc = frame([("a", 1, "fp32", 1.0, float("nan")), ("b", 8, "fp32", 0.5, float("nan"))])
    rec = assess(noacc).recommendation
    assert rec is not None and rec.point.model == "b" and rec.best_accuracy is None
    assert assess(frame([]).astype({"energy_j_per_query": float})).recommendation is None


def test_nudge_words() -> None:
    sel = {"energy_j_per_query": 3.1, "energy_j_per_query_ci": 0.3, "accuracy": 0.819}
    rec = {"energy_j_per_query": 1.0, "energy_j_per_query_ci": 0.1, "accuracy": 0.815}
    assert nudge(sel, rec) == "3.1× the energy for +0.4 pt accuracy"
    assert nudge({**sel, "accuracy": 0.815}, rec) == "3.1× the energy for the same accuracy"
    # Without any interval nothing can be told apart: unknown is not exact.
    bare = {"energy_j_per_query": 3.1, "accuracy": 0.819}
    assert nudge(bare, {"energy_j_per_query": 1.0, "accuracy": 0.815}).startswith("the same energy within")


def test_savings_known_numbers_and_range() -> None:
    base = {
        "energy_j_per_query": 3.6,
        "energy_measured": False,
        "energy_uncertainty_rel": 0.5,
        "energy_source": "codecarbon",
        "hardware": "cpu",
        "energy_j_per_query_ci": 0.0,  # timing known exactly: only the basis' ±50 % is left
    }
    cand = {**base, "energy_j_per_query": 0.36}
    s = savings(base, cand, queries_per_day=1000, country="FRA", price_per_kwh=0.2)
    # 3.6 J x 1000 q/day x 365 d = 365 Wh/yr... in kWh: 3.6*1000*365/3.6e6 = 0.365 kWh
    assert s.baseline_kwh_per_year == pytest.approx(0.365)
    assert s.saved_kwh_per_year == pytest.approx(0.365 * 0.9)
    assert s.saved_cost_per_year == pytest.approx(0.365 * 0.9 * 0.2)
    # The same modelled basis on both: its ±50 % scales the saving.
    assert s.estimated and s.saved_kwh_range == pytest.approx((0.365 * 0.9 * 0.5, 0.365 * 0.9 * 1.5))
    assert s.clear
    assert s.saved_kg_co2e_per_year == pytest.approx(
        s.saved_kwh_per_year * s.carbon_intensity_g_per_kwh / 1000
    )
    measured = {**base, "energy_measured": True, "energy_uncertainty_rel": 0.0, "energy_source": "nvml"}
    s2 = savings(measured, {**measured, "energy_j_per_query": 1.8}, 1000)
    assert not s2.estimated and s2.saved_kwh_range[0] == pytest.approx(s2.saved_kwh_range[1])
    with pytest.raises(ConfigError, match="queries per day"):
        savings(base, cand, -5)
    with pytest.raises(ConfigError, match="unknown country"):
        savings(base, cand, 10, country="ZZZ")
    assert math.isclose(s.saved_fraction, 0.9)


def test_model_ratings_one_per_model_and_cohort() -> None:
    a = frame([("a", 1, "fp32", 1.0, 0.8), ("b", 1, "fp32", 6.0, 0.8)])
    b = frame([("a", 1, "fp32", 50.0, 0.8)], cohort="reviews @ gpu")
    df = pd.concat([a, b], ignore_index=True)
    r = model_ratings(pd.concat([df, frame([("a", 8, "int8", 0.5, 0.79)])], ignore_index=True))
    assert len(r) == 3
    assert r[(r["model"] == "a") & (r["cohort"] == "reviews @ cpu")]["energy_j_per_query"].item() == 0.5
    assert r[r["cohort"] == "reviews @ cpu"].set_index("model")["stars"].to_dict() == {"a": 5, "b": 1}
    unstable = df.assign(flags=["", "unstable", ""])
    assert "b" not in set(model_ratings(unstable)["model"])


def test_a_point_whose_interval_dwarfs_its_value_gives_no_impossible_saving() -> None:
    """A busy machine measured a point as 26 µWh ± 21 mWh (CI's dashboard showed a saving range of
    -2e72 kWh): the ratio's interval stays inside the two points' own ranges and the saving between
    what the candidate could cost and what the baseline uses."""
    from efflab import format as fmt
    from efflab.analysis.compare import compare_energy, describe

    common = {
        "energy_basis": "modelled",
        "energy_source": "fake",
        "hardware": "h",
        "energy_uncertainty_rel": 0.5,
    }
    base = {"key": "a", "energy_j_per_query": 0.0286, "energy_j_per_query_ci": 0.0005, **common}
    wild = {"key": "b", "energy_j_per_query": 9.5e-5, "energy_j_per_query_ci": 0.076, **common}
    c = compare_energy(base, wild)
    assert c.verdict == "no clear difference"
    assert math.isfinite(c.high) and c.high <= (9.5e-5 + 0.076) / (0.0286 - 0.0005) + 1e-12
    assert all(len(part) < 200 for part in describe(c))
    s = savings(base, wild, 1_000_000)
    lo, hi = s.saved_kwh_range
    assert not s.clear and lo < 0 < hi
    assert lo >= -s.candidate_kwh_range[1] - 1e-9 and hi <= s.baseline_kwh_range[1] + 1e-9
    assert len(fmt.saving_range(lo, hi, fmt.kwh)) < 40
    # either side without an interval of its own: unbounded, said as unknown (never a made-up bound)
    bare = {k: v for k, v in wild.items() if k != "energy_j_per_query_ci"}
    assert compare_energy(base, bare).high == math.inf
