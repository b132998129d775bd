"""Randomized multiple interleaved trials: every contender loaded at once, one visit each per round.

Each round visits every contender once, in a fresh random order; a visit is one untimed warm-up
batch (the other contenders ran in between) and whole batches for about ``visit_s`` seconds inside
one sensor window. Rounds continue until ``settled(visits)`` says every decision is made, the planned
rounds are done, the time budget is spent, or ``should_stop()`` asks.

The engine looks at the intervals only at planned rounds (``LOOK_ROUNDS``: 12, 24, 48, 96, and
once more when the budget ends before the next one), at most ``PLANNED_LOOKS`` times, so the paired
intervals can be corrected for those looks (:mod:`efflab.analysis.paired`).

**Disturbed visits.** Sustained load (another busy process for the whole run) slows every visit of
a round alike, and the paired ratio cancels it. What it cannot cancel is a burst that lands on one
visit. A visit is disturbed when, against the run's usual, (a) other processes took a clearly larger
share of the machine than usual, (b) it got clearly less CPU per wall second than its contender
usually does, or (c) its time per query rose by more than ``SLOW_FACTOR`` beyond the round's common
slowdown (a descheduled vCPU stalls a parallel region while its other thread spins: the CPU share does
not show it, the time does). The visit's whole round is then left out for every contender.
"""

from __future__ import annotations

import datetime as _dt
import math
import random
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from efflab.errors import ConfigError
from efflab.measuring.fingerprint import CpuWindow
from efflab.records import Visit
from efflab.sensors.base import Sensor

LOOK_ROUNDS: tuple[int, ...] = (12, 24, 48, 96)
"""The rounds after which a sequential paired run looks at its intervals (and may stop)."""
PLANNED_LOOKS = len(LOOK_ROUNDS)
"""How many looks a sequential run's intervals are corrected for (the budget's end replaces a later one)."""

OTHER_JUMP = 0.25
"""A visit during which other processes took this much more of the machine than usual is disturbed."""
CPU_DROP = 0.6
"""A visit whose CPU seconds per wall second fell below this fraction of its contender's usual."""
SLOW_FACTOR = 1.5
"""A visit slower per query than its contender's usual by this factor beyond its round's common shift."""


@dataclass
class Arm:
    """A contender ready to run: ``step()`` runs one batch of ``queries_per_step`` queries."""

    key: str
    label: str
    step: Callable[[], Any]
    queries_per_step: int
    sync: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class RoundsPlan:
    """How a paired run spends its time.

    Attributes:
        visit_s: timed seconds per visit (whole batches; at least one).
        rounds: a fixed number of rounds (one look at the end), or None: sequential, looking at
            ``LOOK_ROUNDS`` and stopping once settled.
        budget_s: wall seconds the run may take (None: no limit); a run that reaches it stops after the
            round in progress and looks once more.
        warmup_batches: untimed batches before each visit.
        seed: seed of the random visiting orders (None: fresh).
    """

    visit_s: float = 0.4
    rounds: int | None = None
    budget_s: float | None = 90.0
    warmup_batches: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.visit_s, (int, float)) and math.isfinite(self.visit_s) and self.visit_s > 0):
            msg = f"visit length must be a positive number of seconds, got {self.visit_s!r}; e.g. 0.4"
            raise ConfigError(msg)
        if self.rounds is not None and (
            isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 2
        ):
            msg = f"--rounds must be a whole number of at least 2, got {self.rounds!r}; e.g. --rounds 30"
            raise ConfigError(msg)
        if self.budget_s is not None and not (math.isfinite(self.budget_s) and self.budget_s > 0):
            msg = f"--seconds must be a positive number of seconds, got {self.budget_s!r}; e.g. --seconds 60"
            raise ConfigError(msg)

    @property
    def looks(self) -> int:
        """How many looks the intervals of a run under this plan are corrected for."""
        return 1 if self.rounds is not None else PLANNED_LOOKS

    def is_look(self, n_rounds: int) -> bool:
        if self.rounds is not None:
            return n_rounds >= self.rounds
        return n_rounds in LOOK_ROUNDS

    def last_round(self) -> int:
        return self.rounds if self.rounds is not None else LOOK_ROUNDS[-1]


@dataclass(frozen=True)
class RoundsOutcome:
    """What a paired run did: its visits (disturbance classified), why it stopped, what it cost."""

    session: str
    visits: tuple[Visit, ...]
    rounds: int
    dropped: int
    looks: int
    stopped: str  # settled | rounds | budget | interrupted
    wall_s: float
    timed_s: float

    @property
    def duty_cycle(self) -> float:
        """Timed seconds per wall second of the run."""
        return self.timed_s / self.wall_s if self.wall_s > 0 else math.nan


@dataclass
class _Raw:
    round: int
    position: int
    key: str
    queries: int
    wall_s: float
    energy_j: float
    cpu_s: float | None
    other: float | None
    at: str


def classify(raw: Sequence[_Raw], session: str, hardware: str) -> tuple[Visit, ...]:
    """The visits with their ``disturbed`` flag decided against the whole run's usual (see the module)."""
    others = [r.other for r in raw if r.other is not None]
    usual_other = statistics.median(others) if others else None
    by_key: dict[str, list[_Raw]] = {}
    for r in raw:
        by_key.setdefault(r.key, []).append(r)
    usual_cpu = {
        k: statistics.median(c)
        if (c := [r.cpu_s / r.wall_s for r in rs if r.cpu_s is not None and r.wall_s > 0])
        else None
        for k, rs in by_key.items()
    }
    usual_t = {
        k: statistics.median(r.wall_s / r.queries for r in rs if r.queries > 0) if rs else math.nan
        for k, rs in by_key.items()
    }
    # Each visit's log slowdown against its contender's usual; a round's common shift is the median
    # of its visits' (the smaller one with two contenders: a burst on one of two must not set it).
    z: dict[int, float] = {}
    by_round: dict[int, list[int]] = {}
    for i, r in enumerate(raw):
        t = r.wall_s / r.queries if r.queries > 0 else math.nan
        u = usual_t.get(r.key, math.nan)
        z[i] = math.log(t / u) if t > 0 and u > 0 and math.isfinite(t) and math.isfinite(u) else 0.0
        by_round.setdefault(r.round, []).append(i)
    common: dict[int, float] = {}
    for rnd, idx in by_round.items():
        zs = sorted(z[i] for i in idx)
        common[rnd] = zs[0] if len(zs) == 2 else statistics.median(zs)
    out = []
    for i, r in enumerate(raw):
        d = False
        if usual_other is not None and r.other is not None and r.other > usual_other + OTHER_JUMP:
            d = True
        uc = usual_cpu.get(r.key)
        if uc and r.cpu_s is not None and r.wall_s > 0 and r.cpu_s / r.wall_s < CPU_DROP * uc:
            d = True
        if len(by_key) > 1 and z[i] - common[r.round] > math.log(SLOW_FACTOR):
            d = True
        out.append(
            Visit(
                session=session,
                round=r.round,
                position=r.position,
                key=r.key,
                queries=r.queries,
                wall_s=r.wall_s,
                energy_j=r.energy_j,
                cpu_s=r.cpu_s,
                other_cpu_share=r.other,
                disturbed=d,
                hardware=hardware,
                at=r.at,
            )
        )
    return tuple(out)


def new_session() -> str:
    """A fresh session id (sortable by time: UTC timestamp, then random hex)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def run_rounds(
    arms: Sequence[Arm],
    sensor: Sensor,
    plan: RoundsPlan,
    *,
    settled: Callable[[tuple[Visit, ...]], bool] | None = None,
    hardware: str = "",
    session: str | None = None,
    on_round: Callable[[int, tuple[Visit, ...]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RoundsOutcome:
    """Visit every arm once per round in a fresh random order until settled, done or out of time.

    ``settled(visits)`` is asked at each planned look (never between looks); ``on_round(n, visits)``
    after every round. ``should_stop`` is checked between visits: the round in progress is dropped
    and the run returns what it has (``stopped == "interrupted"``).
    """
    if len(arms) < 2 and not (len(arms) == 1 and plan.rounds is not None):
        msg = f"a paired run needs at least two contenders, got {len(arms)}"
        raise ConfigError(msg)
    session = session or new_session()
    rng = random.Random(plan.seed)
    raw: list[_Raw] = []
    t_start = time.monotonic()
    timed = 0.0
    looks = 0
    n = 0
    stopped = "rounds"
    visits: tuple[Visit, ...] = ()
    while True:
        order = list(arms)
        rng.shuffle(order)
        this_round: list[_Raw] = []
        interrupted = False
        for pos, arm in enumerate(order):
            if should_stop is not None and should_stop():
                interrupted = True
                break
            for _ in range(plan.warmup_batches):
                arm.step()
                arm.sync()
            cpu = CpuWindow.start()
            c0 = time.process_time()
            sensor.begin_window(restart=True)
            t0 = time.perf_counter()
            steps = 0
            try:
                while True:
                    arm.step()
                    arm.sync()
                    steps += 1
                    if time.perf_counter() - t0 >= plan.visit_s:
                        break
            finally:
                wall = time.perf_counter() - t0
                reading = sensor.end_window()
            cpu_s = time.process_time() - c0
            timed += wall
            this_round.append(
                _Raw(
                    n,
                    pos,
                    arm.key,
                    steps * arm.queries_per_step,
                    wall,
                    reading.energy_j,
                    cpu_s,
                    cpu.other_share(),
                    _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                )
            )
        if interrupted:
            stopped = "interrupted"
            visits = classify(raw, session, hardware)
            break
        raw.extend(this_round)
        n += 1
        visits = classify(raw, session, hardware)
        if on_round is not None:
            on_round(n, visits)
        out_of_time = plan.budget_s is not None and time.monotonic() - t_start >= plan.budget_s
        if plan.is_look(n) or out_of_time:
            looks += 1
            if plan.rounds is not None and n >= plan.rounds:
                stopped = "rounds"
                break
            if settled is not None and settled(visits):
                stopped = "settled"
                break
            if out_of_time:
                stopped = "budget"
                break
            if plan.rounds is None and n >= plan.last_round():
                stopped = "rounds"
                break
    dropped = len({v.round for v in visits if v.disturbed})
    return RoundsOutcome(
        session=session,
        visits=visits,
        rounds=n,
        dropped=dropped,
        looks=plan.looks,
        stopped=stopped,
        wall_s=time.monotonic() - t_start,
        timed_s=timed,
    )


def with_hardware(visits: Sequence[Visit], hardware: str) -> tuple[Visit, ...]:
    return tuple(replace(v, hardware=hardware) for v in visits)
