"""Spend repetitions where decisions depend on them: the sweep's adaptive second pass.

The first pass gives every point of the grid ``method.windows`` short windows. Most points are then
settled: a batch-1 point of a big model costs several times what a batch-32 point does, and more
windows would not change any decision. The points that matter are the **contenders**: the pareto
front (energy per query vs accuracy) and the recommendation's candidates (accuracy within
``accuracy_tolerance`` of the best). A contender gets one more window while its energy-per-query
interval overlaps the interval of another contender whose accuracy is within the tolerance of its own
(their order decides the recommendation or the front), up to ``method.max_windows`` windows. It stops
as soon as its interval no longer overlaps, i.e. when more windows cannot change the decision.
Points flagged ``unstable`` or ``disturbed`` are not contenders (they are left out of decisions).

The interval used is the statistical re-run interval (the windows' spread plus the run spread, see
:mod:`efflab.measuring.rerun`); when two contenders lie within what the run spread alone leaves open,
more windows cannot separate them and neither gets one. The sensor's systematic uncertainty
(CodeCarbon's model, ±50 %) is shared by every point of the machine and repetition cannot shrink it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from efflab.config import DEFAULT_TOLERANCE, Config, MethodSettings
from efflab.records import Measurement

if TYPE_CHECKING:
    from efflab.measuring.point import PointSession
    from efflab.store.sqlite import Store
    from efflab.sweep.run import PointMeasurer, PointResult
    from efflab.sweep.spec import SweepSpec
    from efflab.tasks import Task

ACCURACY_TOLERANCE = DEFAULT_TOLERANCE


@dataclass(frozen=True)
class Figure:
    """What the rule needs of a point: its cohort, energy interval and accuracy."""

    key: str
    cohort: str
    energy: float
    energy_ci: float
    accuracy: float | None
    eligible: bool
    floor: float = 0.0  # the part of energy_ci from the run spread: more windows cannot shrink it


def figure_of(key: str, cohort: str, m: Measurement) -> Figure:
    """A point's figure; one-window points borrow the latency interval's relative width."""
    ci = m.energy_j_per_query_ci
    if ci is None or not math.isfinite(ci):
        rel = m.latency_ci_s / m.latency_s if m.latency_s > 0 and math.isfinite(m.latency_ci_s) else 0.0
        ci = m.energy_j_per_query * rel
    return Figure(
        key=key,
        cohort=cohort,
        energy=m.energy_j_per_query,
        energy_ci=ci,
        accuracy=m.accuracy,
        eligible=not ({"unstable", "disturbed"} & set(m.flags)) and math.isfinite(m.energy_j_per_query),
        floor=_floor(m.energy_j_per_query, m.run_spread or 0.0),
    )


def _floor(energy: float, spread: float) -> float:
    from efflab.measuring.rerun import rerun_half

    return (rerun_half(energy, None, spread) or 0.0) if math.isfinite(energy) else 0.0


def contenders(figures: list[Figure], accuracy_tolerance: float = ACCURACY_TOLERANCE) -> set[str]:
    """Keys on the pareto front or within ``accuracy_tolerance`` of the best accuracy, per cohort."""
    import pandas as pd

    from efflab.analysis.pareto import pareto_front

    out: set[str] = set()
    by_cohort: dict[str, list[Figure]] = {}
    for f in figures:
        if f.eligible:
            by_cohort.setdefault(f.cohort, []).append(f)
    for figs in by_cohort.values():
        acc = [f.accuracy if f.accuracy is not None else 0.0 for f in figs]
        df = pd.DataFrame({"energy_j_per_query": [f.energy for f in figs], "accuracy": acc})
        front = pareto_front(df)
        best = max(acc)
        for f, a, on in zip(figs, acc, front.tolist(), strict=True):
            if on or a >= best - accuracy_tolerance - 1e-12:
                out.add(f.key)
    return out


def needs_more(key: str, figures: list[Figure], accuracy_tolerance: float = ACCURACY_TOLERANCE) -> bool:
    """Whether point ``key`` is a contender whose energy interval overlaps another contender's that
    is as accurate (within the tolerance): only then can another window change a decision."""
    cont = contenders(figures, accuracy_tolerance)
    if key not in cont:
        return False
    me = next(f for f in figures if f.key == key)
    for f in figures:
        if f.key == key or f.key not in cont or f.cohort != me.cohort:
            continue
        a, b = me.accuracy or 0.0, f.accuracy or 0.0
        if abs(a - b) > accuracy_tolerance + 1e-12:
            continue
        gap = abs(me.energy - f.energy)
        # Overlapping, and not already within what the run spread alone leaves open (there more
        # windows cannot separate them: the decision stays a tie).
        if me.floor + f.floor < gap <= me.energy_ci + f.energy_ci:
            return True
    return False


def refine(
    spec: SweepSpec,
    store: Store,
    measurer: PointMeasurer,
    task: Task | None,
    *,
    groups: list[list[Config]],
    keys: dict[Config, str],
    index: dict[Config, int],
    put: Callable[[Config, Measurement | None, str | None], None],
    methods: dict[str, MethodSettings] | None = None,
    should_stop: Callable[[], bool] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    on_measure_progress: Callable[[str, float], None] | None = None,
    budget_s: float | None = None,
) -> Iterator[PointResult]:
    """The second pass: more windows for the contenders whose intervals overlap, group by group.

    ``budget_s`` bounds the pass (wall seconds): past it no group is started and no window added (the
    windows already taken are kept). The sweep gives it a tenth of its first pass, at least 20 s.

    Each group with such points loads its model once and adds windows round robin; the rule is
    re-evaluated before every window with the latest figures. Refined points replace their stored
    record (same key, more windows) and are yielded as ``refined``.
    """
    from efflab.measuring.measure import Cancelled
    from efflab.store.results import cohort_of
    from efflab.sweep.run import PointResult

    wanted = set(keys.values())
    stored: dict[str, tuple[Measurement, str]] = {}
    for p in store.points():
        if p.key in wanted and p.status == "ok" and p.measurement is not None:
            stored[p.key] = (p.measurement, cohort_of(p.task, p.hardware))
    figures = {k: figure_of(k, c, m) for k, (m, c) in stored.items()}
    total = len(keys)

    def current() -> list[Figure]:
        return list(figures.values())

    deadline = time.monotonic() + budget_s if budget_s is not None else math.inf
    for members in groups:
        if should_stop is not None and should_stop():
            return
        if time.monotonic() >= deadline:
            return
        # A point already at max_windows gets no more: loading its model again would only cost time.
        pts = [
            c
            for c in members
            if keys[c] in stored
            and stored[keys[c]][0].n_windows < spec.method.max_windows
            and needs_more(keys[c], current())
        ]
        if not pts:
            continue
        previous = {c: stored[keys[c]][0] for c in pts}

        def need(c: Config, session: PointSession) -> bool:
            # Update this point's figure from its windows so far, then ask the rule again.
            k = keys[c]
            figures[k] = _figure_from_session(k, figures[k].cohort, session, c)
            return time.monotonic() < deadline and needs_more(k, current())

        try:
            results = measurer.measure_group(
                pts,
                task,
                (methods or {}).get(pts[0].device, spec.method),
                on_measure_progress,
                should_stop,
                should_cancel,
                previous=previous,
                needs_window=need,
            )
        except Cancelled:
            return
        for cfg, m, err in results:
            if m is None:
                continue  # a failure never replaces the stored success
            if m.n_windows == previous[cfg].n_windows and len(m.windows) == len(previous[cfg].windows):
                continue  # nothing was added
            put(cfg, m, err)
            figures[keys[cfg]] = figure_of(keys[cfg], figures[keys[cfg]].cohort, m)
            yield PointResult(cfg, keys[cfg], "refined", measurement=m, index=index[cfg], total=total)
        if measurer.stopped:
            return


def _figure_from_session(key: str, cohort: str, session: PointSession, cfg: Config) -> Figure:
    from efflab.measuring.rerun import rerun_half, run_spread_of
    from efflab.measuring.windows import combine, per_query_ci

    used = session.used
    st = combine(used)
    queries = st.n_batches * cfg.batch_size
    energy = math.fsum(w.energy_j for w in used) / queries if queries else math.nan
    spread = run_spread_of(session.method).value
    ci = per_query_ci([w.energy_j / (w.n * cfg.batch_size) for w in used if w.n])
    half = rerun_half(energy, ci, spread) if ci is not None else None
    prev = session.previous
    return Figure(
        key=key,
        cohort=cohort,
        energy=energy,
        energy_ci=half if half is not None else 0.0,
        accuracy=prev.accuracy if prev is not None else None,
        eligible=True,
        floor=_floor(energy, spread),
    )
