"""Paired comparisons: simulations of the interval's coverage and power (drift, bursts, common-mode
slowdowns), the round scheduler, dropped rounds, the decision layer preferring paired intervals."""

from __future__ import annotations

import math
import random
from typing import Any

import pandas as pd
import pytest

from efflab.analysis import AssessInputs, assess
from efflab.analysis.compare import compare_energy, energy_tied, saving_range
from efflab.analysis.paired import Pairings, Verdict, look_alpha, paired_ratio
from efflab.errors import ConfigError
from efflab.measuring.rounds import LOOK_ROUNDS, Arm, RoundsPlan, classify, run_rounds
from efflab.records import Visit
from efflab.sensors.fake import FakeSensor

# ----------------------------------------------------------------------------- simulated rounds


def simulate(
    ratio: float,
    rounds: int,
    rng: random.Random,
    *,
    noise: float = 0.08,
    drift: float = 0.0,
    burst_p: float = 0.0,
    common: float = 0.0,
    session: str = "s",
) -> list[Visit]:
    """Visits of two arms 'a' and 'b' (true energy b/a = ``ratio``) over ``rounds`` rounds: independent
    lognormal noise per visit, a slow drift and common-mode slowdowns shared by a round, and bursts that
    hit one visit (and are flagged disturbed, as the engine flags them)."""
    out = []
    level = 1.0
    for r in range(rounds):
        level *= math.exp(rng.gauss(0, drift))
        shared = math.exp(rng.gauss(0, common))
        for pos, (key, mu) in enumerate(rng.sample([("a", 1.0), ("b", ratio)], 2)):
            e = mu * level * shared * math.exp(rng.gauss(0, noise))
            burst = rng.random() < burst_p
            if burst:
                e *= rng.uniform(2, 6)
            out.append(Visit(session, r, pos, key, 100, e, e, disturbed=burst))
    return out


@pytest.mark.parametrize(
    ("label", "kw"),
    [
        ("quiet", {}),
        ("drifting", {"drift": 0.05}),
        ("bursty", {"burst_p": 0.1}),
        ("common-mode slowdowns", {"common": 0.5}),
    ],
)
def test_the_paired_interval_covers_the_true_ratio(label: str, kw: dict[str, Any]) -> None:
    rng = random.Random(11)
    covered = 0
    trials = 400
    for _ in range(trials):
        pr = paired_ratio(simulate(1.07, 24, rng, **kw), "b", "a")
        assert pr is not None
        covered += pr.low <= 1.07 <= pr.high
    # nominal 95 %: within what 400 trials can tell (±2.2 points)
    assert covered / trials >= 0.925, label


def test_the_paired_interval_resolves_a_7_percent_difference() -> None:
    rng = random.Random(3)
    resolved = 0
    for _ in range(200):
        pr = paired_ratio(simulate(1.07, 40, rng, drift=0.05, common=0.3), "b", "a")
        assert pr is not None
        resolved += pr.verdict is Verdict.HIGHER
    assert resolved / 200 >= 0.9


def test_aa_reads_no_clear_difference_or_equivalent() -> None:
    rng = random.Random(5)
    wrong = 0
    for _ in range(400):
        pr = paired_ratio(simulate(1.0, 24, rng, drift=0.05, burst_p=0.05), "b", "a", looks=4)
        assert pr is not None
        wrong += pr.verdict.differs
    assert wrong / 400 <= 0.03  # corrected for the looks: under 5 % even at a single look


def test_sequential_looks_keep_the_false_difference_rate() -> None:
    # An A/A run that looks at 12, 24, 48 and 96 rounds and stops at the first "difference": with the
    # Pocock-corrected intervals the chance of any false difference stays near 5 %.
    rng = random.Random(7)
    false = 0
    trials = 300
    for _ in range(trials):
        visits = simulate(1.0, 64, rng)
        for n in LOOK_ROUNDS:
            pr = paired_ratio([v for v in visits if v.round < n], "b", "a", looks=len(LOOK_ROUNDS))
            if pr is not None and pr.verdict.differs:
                false += 1
                break
    assert false / trials <= 0.08
    assert look_alpha(1) == 0.05 and look_alpha(4) == pytest.approx(0.0182)


def test_unpaired_sums_would_call_the_same_difference_a_tie() -> None:
    # The same 7 % difference measured by two points' own re-run intervals (±17 % each, the run spread's
    # floor on these VMs) is no clear difference; paired rounds resolve it.
    a = {"key": "a", "energy_j_per_query": 1.0, "energy_j_per_query_ci": 0.17}
    b = {"key": "b", "energy_j_per_query": 1.07, "energy_j_per_query_ci": 0.17 * 1.07}
    assert energy_tied(a, b)
    visits = simulate(1.07, 32, random.Random(1), noise=0.05)
    p = Pairings(visits)
    c = compare_energy(a, b, p)
    assert c.paired and c.verdict is Verdict.HIGHER and "32 interleaved rounds" in c.how()
    _, lo, hi, _ = saving_range(b, a, 1.0, p)
    assert lo > 0 and hi > lo


# ----------------------------------------------------------------------------- dropped rounds


def test_a_disturbed_round_is_dropped_for_every_contender() -> None:
    visits = [
        Visit(
            "s",
            r,
            p,
            k,
            10,
            1.0,
            1.0 * (1.1 if k == "b" else 1.0) * (1 + 0.01 * r),
            disturbed=(r == 2 and k == "c"),
        )
        for r in range(6)
        for p, k in enumerate("abc")
    ]
    pr = paired_ratio(visits, "b", "a")
    # c's disturbed visit in round 2 drops round 2 for the a/b pair too
    assert pr is not None and pr.n_rounds == 5 and pr.n_dropped == 1


def test_classify_flags_a_burst_not_a_common_slowdown() -> None:
    from efflab.measuring.rounds import _Raw

    raw = []
    for r in range(10):
        slow_round = 3.0 if r == 4 else 1.0  # every visit of round 4 slowed alike: common mode
        for p, k in enumerate("abc"):
            t = 0.01 * slow_round * (5.0 if (r == 7 and k == "b") else 1.0)  # a burst on one visit
            raw.append(_Raw(r, p, k, 10, t * 10, t, t * 10, 0.05, ""))
    visits = classify(raw, "s", "hw")
    flagged = {(v.round, v.key) for v in visits if v.disturbed}
    assert flagged == {(7, "b")}
    # other processes jumping above the run's usual share flags the visit, steady load does not
    raw2 = [_Raw(r, 0, "a", 10, 0.1, 0.1, 0.1, 0.6 if r == 3 else 0.5, "") for r in range(8)]
    raw2 += [_Raw(r, 1, "b", 10, 0.1, 0.1, 0.1, 0.5, "") for r in range(8)]
    assert {(v.round, v.key) for v in classify(raw2, "s", "hw") if v.disturbed} == set()
    raw2[3] = _Raw(3, 0, "a", 10, 0.1, 0.1, 0.1, 0.9, "")
    assert {(v.round, v.key) for v in classify(raw2, "s", "hw") if v.disturbed} == {(3, "a")}


# ----------------------------------------------------------------------------- the scheduler


def test_each_round_visits_every_contender_once_in_a_fresh_random_order() -> None:
    calls: list[str] = []

    def arm(name: str) -> Arm:
        return Arm(name, name, lambda: calls.append(name), 2)

    arms = [arm(k) for k in "abcd"]
    out = run_rounds(arms, FakeSensor(), RoundsPlan(visit_s=0.001, rounds=20, budget_s=None, seed=4))
    assert out.rounds == 20 and out.stopped == "rounds" and out.looks == 1
    orders = []
    for r in range(20):
        vs = sorted((v for v in out.visits if v.round == r), key=lambda v: v.position)
        assert sorted(v.key for v in vs) == list("abcd")
        orders.append(tuple(v.key for v in vs))
    assert len(set(orders)) > 5  # fresh orders, not one fixed rotation
    firsts = {o[0] for o in orders}
    assert firsts == set("abcd")  # every contender goes first sometimes
    assert all(v.queries >= 2 and v.queries % 2 == 0 for v in out.visits)


def test_a_sequential_run_stops_at_a_look_once_settled() -> None:
    arms = [Arm(k, k, lambda: None, 1) for k in "ab"]
    asked: list[int] = []

    def settled(visits: tuple[Visit, ...]) -> bool:
        asked.append(max(v.round for v in visits) + 1)
        return len(asked) == 2

    out = run_rounds(arms, FakeSensor(), RoundsPlan(visit_s=0.001, budget_s=None), settled=settled)
    assert asked == [12, 24] and out.rounds == 24 and out.stopped == "settled"
    assert out.looks == len(LOOK_ROUNDS)


def test_an_interrupted_run_keeps_the_whole_rounds() -> None:
    arms = [Arm(k, k, lambda: None, 1) for k in "ab"]
    n = {"visits": 0}

    def stop() -> bool:
        n["visits"] += 1
        return n["visits"] > 7  # during the fourth round

    out = run_rounds(arms, FakeSensor(), RoundsPlan(visit_s=0.001, rounds=10), should_stop=stop)
    assert out.stopped == "interrupted" and out.rounds == 3 and len(out.visits) == 6


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"rounds": 0}, "--rounds must be a whole number of at least 2"),
        ({"budget_s": -1.0}, "--seconds must be a positive number"),
        ({"visit_s": 0.0}, "visit length must be a positive number"),
    ],
)
def test_bad_plans_are_refused(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RoundsPlan(**kw)


# ----------------------------------------------------------------------------- the decision layer


def _point(key: str, model: str, energy: float, n_params: float, correct: str) -> dict[str, Any]:
    return {
        "key": key,
        "status": "ok",
        "error": None,
        "created_at": "2026-12-03 10:00:00",
        "cohort": "reviews @ cpu",
        "hardware": "cpu",
        "model": model,
        "batch_size": 32,
        "precision": "int8",
        "device": "cpu",
        "seq_len": 128,
        "task": "reviews",
        "cast": "model",
        "latency_s": 0.1,
        "latency_ci_s": 0.02,
        "energy_j_per_query": energy,
        "energy_j_per_query_ci": energy * 0.2,  # ±20 % re-run intervals: unpaired, 1.0 vs 1.1 is a tie
        "wh_per_1000_queries": energy * 1000 / 3600,
        "energy_source": "codecarbon",
        "energy_measured": False,
        "energy_basis": "modelled",
        "energy_uncertainty_rel": 0.5,
        "accuracy": correct.count("1") / len(correct),
        "n_eval": len(correct),
        "accuracy_correct": correct,
        "n_params": n_params,
        "flags": "",
    }


def test_the_decision_prefers_the_paired_interval_and_says_so() -> None:
    correct = "".join("1" if i % 10 else "0" for i in range(1000))
    big = _point("big", "big", 1.0, 2e7, correct)  # cheaper by 9 %, but bigger
    small = _point("small", "small", 1.1, 1e7, correct)
    df = pd.DataFrame([big, small])
    # Unpaired: tied, and the smaller model wins the tie.
    plain = assess(df).recommendation
    assert plain is not None and plain.label.startswith("small") and len(plain.tied) == 2
    assert "compared by their re-run intervals" in plain.reason
    # Paired rounds resolve the 9 %: the cheaper one is recommended, with the rounds in the reason.
    visits = simulate(1.1, 32, random.Random(2), noise=0.05)
    visits = [
        Visit(
            v.session, v.round, v.position, {"a": "big", "b": "small"}[v.key], v.queries, v.wall_s, v.energy_j
        )
        for v in visits
    ]
    a = assess(df, AssessInputs(), Pairings(visits))
    rec = a.recommendation
    assert rec is not None and rec.label.startswith("big") and len(rec.tied) == 1
    assert "less energy than small · batch 32 · int8" in rec.reason
    assert "measured in the same 32 interleaved rounds" in rec.reason
    assert rec.paired_energy
    assert any("1 of 1 paired" in line for line in a.provenance)
    # The saving from the baseline (the smaller model here: both are equally accurate) is clear.
    s = assess(df, AssessInputs(baseline="small"), Pairings(visits)).savings
    assert s is not None and s.clear and s.paired
    # A store written before paired runs (no visits) decides as before and says none is paired.
    old = assess(df, AssessInputs(), Pairings())
    assert old.recommendation is not None and old.recommendation.label.startswith("small")
    assert any("none paired" in line for line in old.provenance)


def test_correlated_rounds_widen_the_interval_to_keep_its_coverage() -> None:
    # Load in spells longer than a round: the per-round log-ratio follows an AR(1).
    from efflab.analysis.paired import autocorrelation_factor, log_ratio_interval

    for rho, floor in ((0.0, 0.93), (0.3, 0.88), (0.6, 0.78)):
        rng = random.Random(9)
        covered = naive = 0
        trials = 300
        for _ in range(trials):
            e, d = 0.0, []
            for _ in range(32):
                e = rho * e + rng.gauss(0, 0.06)
                d.append(math.log(1.05) + e)
            mu, lo, hi = log_ratio_interval(d)
            covered += lo <= math.log(1.05) <= hi
            half = (hi - lo) / 2 / autocorrelation_factor(d)  # the independent-rounds interval
            naive += mu - half <= math.log(1.05) <= mu + half
        assert covered / trials >= floor, rho
        assert covered >= naive
