"""Measure two configurations in interleaved rounds and compare them (``efflab compare``).

Both arms are loaded at once; each round visits both, in a fresh random order
(:mod:`efflab.measuring.rounds`). With a fixed ``--rounds`` the run looks once at the end and prints
the plain 95 % intervals; otherwise it looks at rounds 12, 24, 48 and 96 and stops as soon as energy and
latency are settled (a difference, or equivalent within the margin) or ``--seconds`` are spent, and
its intervals are corrected for those looks. Accuracy comes from the task's test split (cached per
model and precision), paired on the same texts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from efflab.analysis.compare import PAIRED, CompareResult, compare_points
from efflab.analysis.paired import DEFAULT_MARGIN, Pairings
from efflab.config import Config, MethodSettings
from efflab.measuring.rounds import Arm, RoundsOutcome, RoundsPlan, run_rounds
from efflab.records import Visit

if TYPE_CHECKING:
    from efflab.models.runners import Runner
    from efflab.sensors.base import Sensor
    from efflab.store.sqlite import Store
    from efflab.tasks import Task

AA_SUFFIX = ("#A", "#B")
"""Visit keys of the two arms when they are the same configuration (an A/A check)."""


def _row(
    key: str, cfg: Config, visits: tuple[Visit, ...], acc: Any, hardware: str, sensor: Sensor
) -> dict[str, Any]:
    """A results-like row of one arm from its clean visits (and its accuracy, where scored)."""
    dropped = {(v.session, v.round) for v in visits if v.disturbed}
    mine = [v for v in visits if v.key == key and (v.session, v.round) not in dropped]
    q = sum(v.queries for v in mine)
    e = math.fsum(v.energy_j for v in mine)
    wall = math.fsum(v.wall_s for v in mine)
    row: dict[str, Any] = {
        "key": key,
        "model": cfg.model,
        "batch_size": cfg.batch_size,
        "precision": cfg.precision,
        "device": cfg.device,
        "cast": cfg.cast,
        "hardware": hardware,
        "energy_source": getattr(sensor, "name", ""),
        "energy_measured": bool(getattr(sensor, "measured", False)),
        "energy_j_per_query": e / q if q else math.nan,
        "latency_s": wall / q * cfg.batch_size if q else math.nan,
    }
    if acc is not None:
        row.update(accuracy=acc.accuracy, accuracy_correct=acc.correct, n_eval=acc.n_eval)
    return row


def settled_both(keys: tuple[str, str], looks: int) -> Callable[[tuple[Visit, ...]], bool]:
    """Energy and latency per query both settled (a difference, or equivalent within the margin)."""

    def settled(visits: tuple[Visit, ...]) -> bool:
        p = Pairings(visits, looks={v.session: looks for v in visits[:1]})
        for metric in ("energy", "latency"):
            r = p.ratio(keys[1], keys[0], metric)
            if r is None or not r.verdict.settled:
                return False
        return True

    return settled


def score(runner: Runner, cfg: Config, task: Task, method: MethodSettings) -> Any:
    """Accuracy of a loaded runner on ``task`` (cached), with its per-example correctness."""
    if runner.kind == "causal-lm":
        from efflab.tasks.prompting import evaluate_prompting

        return evaluate_prompting(runner, task, method.prompt_protocol(), seq_len=cfg.seq_len)  # type: ignore[arg-type]
    from efflab.measuring.accuracy import evaluate

    return evaluate(runner, task, seq_len=cfg.seq_len)


def measure_pair(
    a: Config,
    b: Config,
    *,
    keys: tuple[str, str],
    task: Task | None,
    sensor: Sensor,
    method: MethodSettings,
    plan: RoundsPlan,
    hardware: str,
    tolerance: float = 0.01,
    margin: float = DEFAULT_MARGIN,
    store: Store | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_round: Callable[[int, tuple[Visit, ...]], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[CompareResult, RoundsOutcome]:
    """Load both arms, score their accuracy (when ``task``), run the rounds, compare; store the visits
    in ``store`` (unless it is an A/A check of one configuration against itself).

    Raises:
        EfflabError: a model that cannot load at its precision, or a batch that does not fit.
    """
    from efflab.measuring.point import prepare_batch
    from efflab.measuring.threads import use_threads
    from efflab.models import load_runner, resolve_model
    from efflab.models.footprint import check_fits

    stage = on_stage or (lambda s: None)
    same = a == b
    arm_keys = (keys[0] + AA_SUFFIX[0], keys[1] + AA_SUFFIX[1]) if same else keys
    with use_threads(method.threads):
        runners: dict[tuple[str, str, str, str], Runner] = {}
        try:
            arms = []
            accs = []
            for cfg, k in zip((a, b), arm_keys, strict=True):
                group = (cfg.model, cfg.precision, cfg.device, cfg.cast)
                source = resolve_model(cfg.model, progress=False)
                check_fits(source, cfg)
                if group not in runners:
                    stage(f"loading {cfg.model} ({cfg.precision})")
                    runners[group] = load_runner(source, cfg.precision, cfg.device, cfg.cast)
                runner = runners[group]
                batch, _ = prepare_batch(runner, cfg, task, method)
                acc = None
                if task is not None and (runner.can_predict or runner.kind == "causal-lm"):
                    stage(f"scoring {cfg.model} ({cfg.precision}) on {task.name}")
                    acc = score(runner, cfg, task, method)
                accs.append(acc)

                def step(r: Runner = runner, x: Any = batch) -> Any:
                    return r.forward(x)

                arms.append(
                    Arm(
                        k,
                        f"{cfg.model} · batch {cfg.batch_size} · {cfg.precision}",
                        step,
                        cfg.batch_size,
                        runner.synchronize,
                    )
                )
            stage("interleaved rounds")
            sensor.available()
            outcome = run_rounds(
                arms,
                sensor,
                plan,
                settled=settled_both(arm_keys, plan.looks),
                hardware=hardware,
                on_round=on_round,
                should_stop=should_stop,
            )
        finally:
            for r in runners.values():
                with contextlib.suppress(Exception):  # releasing a model never fails a comparison
                    r.close()
    rows = [
        _row(k, cfg, outcome.visits, acc, hardware, sensor)
        for k, cfg, acc in zip(arm_keys, (a, b), accs, strict=True)
    ]
    pairings = Pairings(outcome.visits, looks={outcome.session: outcome.looks}, margin=margin)
    comps = compare_points(rows[0], rows[1], pairings, tolerance=tolerance, margin=margin)
    comps = {m: dataclasses.replace(c, a=keys[0], b=keys[1]) for m, c in comps.items()}
    e = comps.get("energy")
    if store is not None and not same and outcome.rounds:
        store.put_paired(
            outcome.session,
            outcome.visits,
            hardware=hardware,
            purpose="compare",
            looks=outcome.looks,
            visit_s=plan.visit_s,
            rounds=outcome.rounds,
            dropped=outcome.dropped,
            stopped=outcome.stopped,
            wall_s=outcome.wall_s,
        )
    notes = []
    if e is None or not e.paired:
        clean = outcome.rounds - outcome.dropped
        notes.append(
            f"Too few clean rounds to pair ({clean} of {outcome.rounds}, {outcome.dropped} dropped as disturbed): "
            "run more rounds (--rounds, --seconds) or on a quieter machine."
        )
    if outcome.stopped == "interrupted":
        notes.append("Interrupted: the comparison uses the rounds done so far.")
    if same:
        notes.append("A/A check: one configuration against itself (its visits are not stored).")
    result = CompareResult(
        a_label=arms[0].label,
        b_label=arms[1].label,
        a_key=keys[0],
        b_key=keys[1],
        comparisons=comps,
        basis=PAIRED if e is not None and e.paired else "too few clean rounds",
        rounds=e.n_rounds if e is not None else outcome.rounds,
        dropped=outcome.dropped,
        wall_s=outcome.wall_s,
        stopped=outcome.stopped,
        hardware=(hardware, hardware),
        sensor=(getattr(sensor, "name", ""),) * 2,
        energy_basis=(("measured" if getattr(sensor, "measured", False) else "modelled"),) * 2,
        notes=tuple(notes),
    )
    return result, outcome
