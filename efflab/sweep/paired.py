"""The sweep's paired pass: the configurations a decision hangs on, measured in interleaved rounds.

After the first pass every point has its own figures with a re-run interval. Most decisions are then
made: a batch-1 point costs several times a batch-32 one. The recommendation of each cohort is not,
when the least-energy candidate and others as accurate are within what their re-run intervals can
tell apart. Those **contenders** (the least one and every admitted candidate not clearly above it) are
loaded at once and visited in randomized interleaved rounds (:mod:`efflab.measuring.rounds`) until
every contender's paired ratio to the least one is settled (a difference, or equivalent within ±3 %),
96 rounds are done, or the pass's time budget is spent. The visits are stored; every surface then
decides with the paired ratios (:mod:`efflab.analysis.compare`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from efflab.config import DEFAULT_TOLERANCE, Config, MethodSettings
from efflab.errors import EfflabError
from efflab.measuring.rounds import Arm, RoundsOutcome, RoundsPlan, run_rounds
from efflab.records import Visit

if TYPE_CHECKING:
    from efflab.analysis.compare import Comparison
    from efflab.models.runners import Runner
    from efflab.store.sqlite import Store
    from efflab.sweep.run import PointMeasurer
    from efflab.tasks import Task

MAX_CONTENDERS = 8
"""Most contenders one paired run loads and visits (the least-energy ones first)."""
PAIRED_SHARE = 0.25
"""The paired pass may take this share of the first pass's wall time, within the bounds below."""
PAIRED_MIN_S = 30.0
PAIRED_MAX_S = 120.0


@dataclass(frozen=True)
class PairedPass:
    """One cohort's paired run as the sweep reports it."""

    cohort: str
    keys: tuple[str, ...]
    labels: dict[str, str]
    outcome: RoundsOutcome
    least: str
    comparisons: tuple[Comparison, ...]  # every other contender against the least one
    skipped: tuple[str, ...] = ()  # contenders that could not be loaded, with why

    def summary(self) -> str:
        """One line for the sweep's log."""
        from efflab.analysis.compare import describe

        o = self.outcome
        dropped = f" ({o.dropped} dropped as disturbed)" if o.dropped else ""
        why = {
            "settled": "every comparison settled",
            "budget": "time budget spent",
            "rounds": "planned rounds done",
            "interrupted": "interrupted",
        }.get(o.stopped, o.stopped)
        parts = []
        for c in self.comparisons:
            diff, span, verdict = describe(c)
            parts.append(f"{self.labels.get(c.b, c.b)} {diff.split(' ')[0]} [{span}] {verdict.split(':')[0]}")
        return (
            f"{len(self.keys)} contenders of {self.cohort}, {o.rounds} interleaved rounds{dropped} in "
            f"{o.wall_s:.0f} s ({why}); least energy: {self.labels.get(self.least, self.least)}"
            + (f"; against it: {'; '.join(parts)}" if parts else "")
        )


def budget_for(first_pass_s: float) -> float:
    """The paired pass's wall budget for a sweep whose first pass took ``first_pass_s``."""
    return min(PAIRED_MAX_S, max(PAIRED_MIN_S, PAIRED_SHARE * first_pass_s))


def is_settled(p: Any, keys: list[str]) -> bool:
    """Every contender's paired ratio to the least one is a difference or equivalent."""
    least = least_of(p, keys)
    for k in keys:
        if k == least:
            continue
        r = p.ratio(k, least)
        if r is None or not r.verdict.settled:
            return False
    return True


def settled_rule(keys: list[str], looks: int) -> Callable[[tuple[Visit, ...]], bool]:
    """``settled(visits)`` of one run: :func:`is_settled` on its visits."""
    from efflab.analysis.paired import Pairings

    def settled(visits: tuple[Visit, ...]) -> bool:
        return is_settled(Pairings(visits, looks={v.session: looks for v in visits[:1]}), keys)

    return settled


def least_of(p: Any, keys: list[str]) -> str:
    """The key with the least energy per query by the paired ratios to the first key."""
    ref = keys[0]
    rel = {ref: 1.0}
    for k in keys[1:]:
        r = p.ratio(k, ref)
        rel[k] = r.ratio if r is not None else math.inf
    return min(keys, key=lambda k: (rel[k], k))


def plan(
    store: Store, keys: set[str], tolerance: float = DEFAULT_TOLERANCE, measured: set[str] | None = None
) -> dict[str, list[str]]:
    """Per cohort, the contenders of its recommendation among the points ``keys`` (least energy first):
    the least-energy candidate and every candidate as accurate as the best whose energy is not
    clearly above it by their re-run intervals. A cohort is left out when the stored paired runs
    already settle its contenders, or when none of them was measured in this sweep (``measured``)
    and every one has stored rounds: a re-run of a finished sweep loads no model."""
    from efflab.analysis.assess import AssessInputs, assess
    from efflab.analysis.paired import load_pairings
    from efflab.store.results import load_results

    df = load_results(store)
    df = df[df["key"].isin(keys)]
    if df.empty:
        return {}
    stored = load_pairings(store, keys)
    out: dict[str, list[str]] = {}
    for cohort in assess(df).cohorts:
        if str(cohort).startswith("generate:"):
            continue
        a = assess(df, AssessInputs(cohort=cohort, accuracy_tolerance=tolerance))
        rec = a.recommendation
        if rec is None or len(rec.tied_keys) < 2:
            continue
        e = dict(zip(a.frame["key"], a.frame["energy_j_per_query"].astype(float), strict=True))
        tied = sorted(rec.tied_keys, key=lambda k: (e.get(k, math.inf), k))[:MAX_CONTENDERS]
        if stored and is_settled(stored, tied):
            continue
        if measured is not None and not (set(tied) & measured) and set(tied) <= stored.keys():
            continue
        out[cohort] = tied
    return out


def _arms(
    measurer: PointMeasurer,
    cfgs: dict[str, Config],
    task: Task | None,
    method: MethodSettings,
) -> tuple[list[Arm], dict[tuple[str, str, str, str], Runner], list[str]]:
    """Load every contender's model once (per model, precision, device, cast) and prepare its batch."""
    from efflab.measuring.point import prepare_batch
    from efflab.models import load_runner, resolve_model
    from efflab.models.footprint import check_fits

    runners: dict[tuple[str, str, str, str], Runner] = {}
    arms: list[Arm] = []
    skipped: list[str] = []
    for key, cfg in cfgs.items():
        group = (cfg.model, cfg.precision, cfg.device, cfg.cast)
        try:
            source = resolve_model(cfg.model, progress=False)
            check_fits(source, cfg)
            if group not in runners:
                with measurer.phases.timing("load"):
                    runners[group] = load_runner(source, cfg.precision, cfg.device, cfg.cast)
            runner = runners[group]
            batch, _ = prepare_batch(runner, cfg, task, method)
        except (EfflabError, RuntimeError, MemoryError, OSError) as e:
            skipped.append(f"{cfg.model} b{cfg.batch_size} {cfg.precision}: {str(e).splitlines()[0][:200]}")
            continue

        def step(r: Runner = runner, b: Any = batch) -> Any:
            return r.forward(b)

        arms.append(
            Arm(
                key=key,
                label=f"{cfg.model} · batch {cfg.batch_size} · {cfg.precision}",
                step=step,
                queries_per_step=cfg.batch_size,
                sync=runner.synchronize,
            )
        )
    return arms, runners, skipped


def run_paired(
    store: Store,
    measurer: PointMeasurer,
    task: Task | None,
    *,
    cfg_of: dict[str, Config],
    hardware_of: Callable[[Config], str],
    methods: dict[str, MethodSettings],
    tolerance: float = DEFAULT_TOLERANCE,
    budget_s: float = PAIRED_MAX_S,
    visit_s: float = 0.4,
    should_stop: Callable[[], bool] | None = None,
    on_round: Callable[[str, int], None] | None = None,
    measured: set[str] | None = None,
) -> Iterator[PairedPass]:
    """Run the paired pass of every cohort with contenders among ``cfg_of``'s keys; store each run's
    visits and yield it. The budget is shared by the cohorts, in order."""
    from efflab.analysis.paired import Pairings
    from efflab.measuring.threads import use_threads

    deadline = time.monotonic() + budget_s
    for cohort, keys in plan(store, set(cfg_of), tolerance, measured).items():
        left = deadline - time.monotonic()
        if left <= 5 or (should_stop is not None and should_stop()):
            return
        cfgs = {k: cfg_of[k] for k in keys}
        device = next(iter(cfgs.values())).device
        method = methods.get(device) or next(iter(methods.values()))
        with use_threads(method.threads):
            arms, runners, skipped = _arms(measurer, cfgs, task, method)
            try:
                if len(arms) < 2:
                    continue
                rplan = RoundsPlan(visit_s=visit_s, budget_s=left)
                hw = hardware_of(next(iter(cfgs.values())))
                outcome = run_rounds(
                    arms,
                    measurer.sensor_for(device),
                    rplan,
                    settled=settled_rule([a.key for a in arms], rplan.looks),
                    hardware=hw,
                    should_stop=should_stop,
                    on_round=_round_reporter(on_round, cohort),
                )
            finally:
                for r in runners.values():
                    with contextlib.suppress(Exception):  # releasing a model never fails a sweep
                        r.close()
        measurer.phases.add("timed", outcome.timed_s)
        measurer.phases.add("paired_other", outcome.wall_s - outcome.timed_s)
        if outcome.rounds == 0:
            return
        store.put_paired(
            outcome.session,
            outcome.visits,
            hardware=hw,
            purpose="sweep",
            looks=outcome.looks,
            visit_s=visit_s,
            rounds=outcome.rounds,
            dropped=outcome.dropped,
            stopped=outcome.stopped,
            wall_s=outcome.wall_s,
        )
        p = Pairings(outcome.visits, looks={outcome.session: outcome.looks})
        arm_keys = [a.key for a in arms]
        least = least_of(p, arm_keys)
        comps = tuple(_vs_least(store, p, least, k) for k in arm_keys if k != least)
        yield PairedPass(
            cohort=cohort,
            keys=tuple(arm_keys),
            labels={a.key: a.label for a in arms},
            outcome=outcome,
            least=least,
            comparisons=tuple(c for c in comps if c is not None),
            skipped=tuple(skipped),
        )
        if outcome.stopped == "interrupted":
            return


def _round_reporter(
    on_round: Callable[[str, int], None] | None, cohort: str
) -> Callable[[int, tuple[Visit, ...]], None] | None:
    if on_round is None:
        return None

    def report(n: int, _visits: tuple[Visit, ...]) -> None:
        on_round(cohort, n)

    return report


def _vs_least(store: Store, p: Any, least: str, key: str) -> Comparison | None:
    from efflab.analysis.compare import PAIRED, Comparison

    r = p.ratio(key, least)
    if r is None:
        return None
    return Comparison(
        metric="energy",
        a=least,
        b=key,
        a_value=math.nan,
        b_value=math.nan,
        ratio=r.ratio,
        low=r.low,
        high=r.high,
        basis=PAIRED,
        n_rounds=r.n_rounds,
        n_dropped=r.n_dropped,
        margin=r.margin,
        looks=r.looks,
    )
