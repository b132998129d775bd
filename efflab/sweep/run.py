"""Run a sweep: measure each missing point, commit it, stream it to the caller."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from efflab.config import Config, MethodSettings
from efflab.errors import POINT_ERRORS, EfflabError, point_error
from efflab.measuring.fingerprint import hardware_key
from efflab.measuring.phases import Phases
from efflab.measuring.scoring import ScorerPool
from efflab.paths import package_version
from efflab.records import Measurement, PointStatus
from efflab.sensors.base import Sensor
from efflab.store.sqlite import Store
from efflab.sweep.spec import SweepSpec

if TYPE_CHECKING:
    from efflab.measuring.point import PointSession
    from efflab.models.runners import Runner
    from efflab.sweep.paired import PairedPass
    from efflab.tasks import Task


@dataclass(frozen=True)
class PointResult:
    """What happened to one configuration of a sweep: ``ok``, ``failed``, ``skipped`` (already stored)
    or ``paired`` (the paired pass measured a cohort's contenders in interleaved rounds: ``paired``
    says what it found; ``config`` is the least-energy contender)."""

    config: Config
    key: str
    status: PointStatus | str
    measurement: Measurement | None = None
    error: str | None = None
    index: int = 0
    total: int = 0
    paired: PairedPass | None = None


def _version(pkg: str) -> str:
    return package_version(pkg)


def sensor_key(name: str, device: str) -> str:
    """The sensor a point is measured with, as it enters the point key: ``auto`` resolved to the
    sensor it picks on this machine (so ``auto`` and ``codecarbon`` share points where they agree)."""
    name = name.strip().lower()
    if name != "auto":
        return name
    from efflab.sensors import make_sensor

    try:
        return make_sensor("auto", device=device).name
    except EfflabError:
        return name


def point_key(
    config: Config, model_id: str, hardware: str, task_id: str | None, *, sensor: str | None = None
) -> str:
    """Content key of a point: model identity, config, task, hardware, sensor and library versions.

    The sensor is part of the key: a point measured with the ``fake`` test sensor never satisfies
    a sweep asking for ``codecarbon``. Config fields left at None are not part of the key. A causal
    LM's classify point (a task scored by prompting) records how its query is timed: through the
    cached k-shot prefix since 2026-12 (:meth:`efflab.tasks.prompting.Prompter.run`), so a point
    timed over the whole prompt before is not reused for it.
    """
    from efflab.models.registry import model_kind

    extra = {}
    if config.workload == "classify" and task_id is not None and model_kind(config.model) == "causal-lm":
        extra["query"] = "prefix-cached"
    raw = json.dumps(
        {
            **extra,
            "model_id": model_id,
            "config": {k: v for k, v in config.to_dict().items() if k != "model" and v is not None},
            "task": task_id,
            "hardware": hardware,
            "sensor": sensor,
            "versions": [
                _version("torch"),
                _version("transformers"),
                _version("scikit-learn"),
                platform.python_version(),
            ],
        },
        sort_keys=True,
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def task_id(task: Task | None) -> str | None:
    """The task part of a point key: name and content hash (None for cost-only sweeps)."""
    return f"{task.name}:{task.content_hash}" if task is not None else None


class PointMeasurer:
    """Measures sweep points one after another, keeping one loaded model (per model, precision,
    device, cast) and one sensor per device between them; used by local and Dask sweeps alike.

    ``measure`` returns ``(measurement, None)`` or ``(None, error)``: a model that cannot load at a
    precision, a sensor that cannot read, out of memory — each fails only its point. It raises
    ``Cancelled`` when ``should_stop`` asks.
    """

    def __init__(
        self,
        sensor_name: str,
        country: str,
        *,
        sensor: Sensor | None = None,
        cpu_power_w: float | None = None,
        ram_power_w: float | None = None,
        phases: Phases | None = None,
    ) -> None:
        self.phases = phases if phases is not None else Phases()
        self.sensor_name = sensor_name
        self.country = country
        self.cpu_power_w = cpu_power_w
        self.ram_power_w = ram_power_w
        self.stopped = False
        self._given_sensor = sensor
        self._sensors: dict[str, Sensor] = {}
        self._runner: Runner | None = None
        self._group: tuple[str, str, str, str] | None = None
        self._load_error: str | None = None

    def _runner_for(self, cfg: Config) -> Runner | None:
        from efflab.models import load_runner, resolve_model

        group = (cfg.model, cfg.precision, cfg.device, cfg.cast)
        if group != self._group:
            if self._runner is not None:
                self._runner.close()
            self._runner, self._load_error, self._group = None, None, group
            try:
                with self.phases.timing("load"):
                    self._runner = load_runner(
                        resolve_model(cfg.model, progress=False), cfg.precision, cfg.device, cfg.cast
                    )
            except POINT_ERRORS as e:
                self._load_error = point_error(e)
        return self._runner

    def _refuse(self, cfg: Config) -> str | None:
        """Why ``cfg`` cannot run here (too long a sequence, more memory than is free), before loading."""
        from efflab.models import resolve_model
        from efflab.models.footprint import check_fits

        try:
            check_fits(resolve_model(cfg.model, progress=False), cfg)
        except EfflabError as e:
            return str(e)
        return None

    def sensor_for(self, device: str) -> Sensor:
        """The sensor points on ``device`` are measured with (opened once, kept for the sweep)."""
        if self._given_sensor is not None:
            return self._given_sensor
        if device not in self._sensors:
            from efflab.sensors import make_sensor

            self._sensors[device] = make_sensor(
                self.sensor_name,
                device=device,
                country=self.country,
                cpu_power_w=self.cpu_power_w,
                ram_power_w=self.ram_power_w,
            )
        return self._sensors[device]

    def measure(
        self,
        cfg: Config,
        task: Task | None,
        method: MethodSettings,
        progress: Callable[[str, float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[Measurement | None, str | None]:
        from efflab.measuring.measure import Cancelled, measure_loaded

        refused = self._refuse(cfg)
        if refused is not None:
            return None, refused
        runner = self._runner_for(cfg)
        if runner is None:
            return None, self._load_error or "model could not be loaded"
        try:
            m = measure_loaded(
                runner,
                cfg,
                task,
                self.sensor_for(cfg.device),
                method,
                progress or (lambda s, f: None),
                should_stop,
                sensor_name=self.sensor_name,
            )
        except Cancelled:
            raise
        except POINT_ERRORS as e:  # torch OOM and kernel failures fail one point
            return None, point_error(e)
        return m, None

    def measure_group(
        self,
        cfgs: list[Config],
        task: Task | None,
        method: MethodSettings,
        progress: Callable[[str, float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        *,
        previous: dict[Config, Measurement] | None = None,
        needs_window: Callable[[Config, PointSession], bool] | None = None,
    ) -> list[tuple[Config, Measurement | None, str | None]]:
        """Measure points that share one loaded model, their windows interleaved round robin.

        Round ``r`` runs window ``r`` of every point before any point gets window ``r + 1``, so a
        burst of load or slow drift lands on several points' different windows rather than on one
        point. A disturbed or disagreeing window is re-measured in a later round (bounded budget).
        With ``previous`` (stored measurements) the points continue from their stored windows and
        ``needs_window(cfg, session)`` decides each round whether a point gets one more.

        ``should_stop`` (checked between windows): the point whose window just ran is completed
        (its remaining windows back to back) and returned; the others are dropped and
        ``self.stopped`` is set. ``should_cancel`` (polled inside windows) raises ``Cancelled``.
        Per-point failures come back as ``(cfg, None, error)``. Runs with ``method.threads``.
        """
        from efflab.measuring.threads import use_threads

        with use_threads(method.threads):
            return self._measure_group(
                cfgs,
                task,
                method,
                progress,
                should_stop,
                should_cancel,
                previous=previous,
                needs_window=needs_window,
            )

    def _measure_group(
        self,
        cfgs: list[Config],
        task: Task | None,
        method: MethodSettings,
        progress: Callable[[str, float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        *,
        previous: dict[Config, Measurement] | None = None,
        needs_window: Callable[[Config, PointSession], bool] | None = None,
    ) -> list[tuple[Config, Measurement | None, str | None]]:
        from efflab.measuring.measure import Cancelled, PointSession

        if any(c.workload == "generate" for c in cfgs):
            # Generate points time their own prefill and decode windows (efflab.measuring.generate):
            # measured one after another, then the classify points of the group as usual.
            gen = [
                (c, *self.measure(c, task, method, progress, should_cancel))
                for c in cfgs
                if c.workload == "generate"
            ]
            rest = [c for c in cfgs if c.workload != "generate"]
            if not rest or (should_stop is not None and should_stop()):
                return gen
            return gen + self.measure_group(
                rest,
                task,
                method,
                progress,
                should_stop,
                should_cancel,
                previous=previous,
                needs_window=needs_window,
            )

        refused = {c: r for c in cfgs if (r := self._refuse(c)) is not None}
        fits = [c for c in cfgs if c not in refused]
        if not fits:
            return [(c, None, refused[c]) for c in cfgs]
        runner = self._runner_for(fits[0])
        if runner is None:
            err = self._load_error or "model could not be loaded"
            return [(c, None, refused.get(c, err)) for c in cfgs]
        report = progress or (lambda s, f: None)
        sessions: dict[Config, PointSession] = {}
        errors: dict[Config, str] = dict(refused)
        # the batch sizes of this model advance through the test texts together (measuring.scoring)
        scorers = ScorerPool(max(c.batch_size for c in fits))
        for c in fits:
            try:
                sessions[c] = PointSession(
                    runner,
                    c,
                    task,
                    self.sensor_for(c.device),
                    method,
                    sensor_name=self.sensor_name,
                    report=report,
                    previous=(previous or {}).get(c),
                    phases=self.phases,
                    scorers=scorers,
                )
            except POINT_ERRORS as e:
                errors[c] = point_error(e)

        def wants(c: Config) -> bool:
            s = sessions[c]
            if s.wants_window(extend=False):
                return True
            return needs_window is not None and s.wants_more_for_decision() and needs_window(c, s)

        active = [c for c in cfgs if c in sessions]
        keep = set(active)
        while active:
            for c in list(active):
                if not wants(c):
                    active.remove(c)
                    continue
                try:
                    sessions[c].run_window(should_cancel)
                except Cancelled:
                    raise
                except POINT_ERRORS as e:
                    errors[c] = point_error(e)
                    active.remove(c)
                    continue
                if should_stop is not None and should_stop():
                    # Finish the point in progress, drop the rest: stop soon, keep what is whole.
                    try:
                        while sessions[c].wants_window(extend=False):
                            sessions[c].run_window(should_cancel)
                    except Cancelled:
                        raise
                    except POINT_ERRORS as e:
                        errors[c] = point_error(e)
                    keep = {c} if previous is None else keep
                    self.stopped = True
                    active = []
                    break
        out: list[tuple[Config, Measurement | None, str | None]] = []
        for c in cfgs:
            if c in errors:
                out.append((c, None, errors[c]))
                continue
            if c not in keep or c not in sessions:
                continue
            try:
                out.append((c, sessions[c].finish(), None))
            except POINT_ERRORS as e:
                out.append((c, None, point_error(e)))
        return out

    def close(self) -> None:
        """Release the model and the sensors this measurer opened (not one it was given)."""
        if self._runner is not None:
            self._runner.close()
        for s in self._sensors.values():
            s.close()
        self._runner, self._group, self._sensors = None, None, {}


def iter_sweep(
    spec: SweepSpec,
    store: Store,
    *,
    force: bool = False,
    retry_failed: bool = False,
    sensor: Sensor | None = None,
    should_stop: Callable[[], bool] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    on_measure_progress: Callable[[str, float], None] | None = None,
    paired: bool = True,
    adaptive: bool | None = None,
    phases: Phases | None = None,
    paired_budget_s: float | None = None,
) -> Iterator[PointResult]:
    """Measure every point of ``spec`` missing from ``store``; yield each as it is committed.

    Points sharing a loaded model (one model, precision, device, cast: the batch sizes) are
    measured together, their timing windows interleaved round robin, and committed one transaction
    per point when the group is done, so a crash loses at most the group in progress. Points
    already stored are yielded as ``skipped`` unless ``force``; failed points are kept as failed
    unless ``retry_failed``. Failures (a precision the device cannot do, out of memory) are stored
    with their error and the sweep goes on; a failure never replaces a stored success
    (``Store.put``); a batch that cannot fit in memory is refused before loading.

    With ``paired`` (``adaptive`` is its old name), a second pass measures the contenders of each
    cohort's recommendation in randomized interleaved rounds (:mod:`efflab.sweep.paired`), stores the
    visits, and yields one ``paired`` result per cohort it ran for (``PointResult.paired``), within
    ``paired_budget_s`` seconds of wall time (default :func:`efflab.sweep.paired.budget_for` of the
    first pass: a quarter of it, 30–120 s).

    ``should_stop`` is checked between windows: the point in progress is finished and committed,
    then the sweep returns. ``should_cancel`` is polled inside windows and stops at once, storing
    nothing half-measured.
    """
    import dataclasses

    from efflab.measuring.measure import Cancelled, load_task
    from efflab.measuring.threads import from_memory, memory_of, remembered_key, resolve_threads
    from efflab.models.registry import model_identity
    from efflab.sweep.plan import counts_as_done

    method = from_memory(spec.method, store.meta(remembered_key())) or resolve_threads(
        spec.method, spec.devices
    )
    if (mem := memory_of(method)) is not None and store.meta(remembered_key()) is None and not store.readonly:
        store.set_meta(remembered_key(), mem)
    spec = dataclasses.replace(spec, method=method)
    configs = spec.configs()
    task = load_task(spec.task)
    tid = task_id(task)
    hardware = {d: hardware_key(d, spec.method.threads) for d in spec.devices}
    identities = {name: model_identity(name) for name in spec.models}
    ok_keys = store.keys(status="ok")
    failed_keys = store.keys(status="failed")
    measurer = PointMeasurer(
        spec.sensor,
        spec.method.country,
        sensor=sensor,
        cpu_power_w=spec.method.cpu_power_w,
        ram_power_w=spec.method.ram_power_w,
        phases=phases,
    )
    sensors = {d: sensor.name if sensor is not None else sensor_key(spec.sensor, d) for d in spec.devices}
    cancel = should_stop if should_cancel is None else should_cancel
    total = len(configs)
    keys = {
        cfg: point_key(cfg, identities[cfg.model], hardware[cfg.device], tid, sensor=sensors[cfg.device])
        for cfg in configs
    }
    index = {cfg: i for i, cfg in enumerate(configs, 1)}
    groups: dict[tuple[str, str, str, str], list[Config]] = {}
    for cfg in configs:
        groups.setdefault((cfg.model, cfg.precision, cfg.device, cfg.cast), []).append(cfg)

    # The run spread each device's points use: learned from this store's re-runs on its hardware.
    from efflab.measuring.rerun import learn, with_spread

    methods = {d: with_spread(spec.method, learn(store.runs(hardware[d]))) for d in spec.devices}

    def put(cfg: Config, m: Measurement | None, err: str | None, *, new_run: bool = True) -> None:
        store.put(
            keys[cfg],
            config=cfg.to_dict(),
            model_id=identities[cfg.model],
            hardware=hardware[cfg.device],
            measurement=m,
            error=err,
            new_run=new_run,
        )

    started = time.monotonic()
    measured: set[str] = set()
    try:
        for members in groups.values():
            todo = []
            for cfg in members:
                key = keys[cfg]
                if counts_as_done(key, ok_keys, failed_keys, force=force, retry_failed=retry_failed):
                    yield PointResult(cfg, key, PointStatus.SKIPPED, index=index[cfg], total=total)
                else:
                    todo.append(cfg)
            if not todo:
                continue
            if should_stop is not None and should_stop():
                return
            try:
                results = measurer.measure_group(
                    todo, task, methods[todo[0].device], on_measure_progress, should_stop, cancel
                )
            except Cancelled:
                return  # nothing half-measured is stored
            for cfg, m, err in results:
                put(cfg, m, err)
                if m is not None:
                    measured.add(keys[cfg])
                status = PointStatus.OK if m is not None else PointStatus.FAILED
                yield PointResult(
                    cfg, keys[cfg], status, measurement=m, error=err, index=index[cfg], total=total
                )
            if measurer.stopped:
                return
        if (paired if adaptive is None else adaptive) and not (measurer.stopped or _stopped(should_stop)):
            from efflab.sweep.paired import budget_for, run_paired

            cfg_of = {keys[c]: c for c in configs if c.workload == "classify"}
            for pp in run_paired(
                store,
                measurer,
                task,
                cfg_of=cfg_of,
                hardware_of=lambda c: hardware[c.device],
                methods=methods,
                budget_s=(
                    budget_for(time.monotonic() - started) if paired_budget_s is None else paired_budget_s
                ),
                should_stop=should_stop,
                measured=measured,
            ):
                least = cfg_of[pp.least]
                yield PointResult(least, pp.least, "paired", index=index[least], total=total, paired=pp)
    finally:
        measurer.close()


def _stopped(should_stop: Callable[[], bool] | None) -> bool:
    return should_stop is not None and should_stop()


def sweep(
    spec: SweepSpec,
    store: Store,
    *,
    on_point: Callable[[PointResult], None] | None = None,
    **kwargs: object,
) -> list[PointResult]:
    """Run ``iter_sweep`` to the end, calling ``on_point`` for each point; return all results."""
    out = []
    for r in iter_sweep(spec, store, **kwargs):  # type: ignore[arg-type]
        if on_point is not None:
            on_point(r)
        out.append(r)
    return out
