"""What a sweep will measure before it starts: how many points the store lacks, and the keys it has."""

from __future__ import annotations

from efflab.config import Config
from efflab.store.sqlite import Store
from efflab.sweep.spec import SweepSpec


def counts_as_done(
    key: str, ok: set[str], failed: set[str], *, force: bool = False, retry_failed: bool = False
) -> bool:
    """The resume rule, one place for local and Dask sweeps: a point stored ok is done; one stored as
    failed is done unless ``retry_failed``; nothing is done with ``force``."""
    if force:
        return False
    return key in ok or (key in failed and not retry_failed)


def pending_configs(
    spec: SweepSpec, store: Store, *, force: bool = False, retry_failed: bool = False
) -> list[Config]:
    """The configurations of ``spec`` the store lacks (all of them with ``force``), without loading a model."""
    from efflab.measuring.measure import load_task
    from efflab.models.registry import model_identity
    from efflab.sweep.run import hardware_key, point_key, sensor_key, task_id

    ok = store.keys(status="ok")
    failed = store.keys(status="failed")
    tid = task_id(load_task(spec.task))
    hw = {d: hardware_key(d, spec.method.threads) for d in spec.devices}
    sensors = {d: sensor_key(spec.sensor, d) for d in spec.devices}
    ids = {m: model_identity(m) for m in spec.models}
    out = []
    for cfg in spec.configs():
        key = point_key(cfg, ids[cfg.model], hw[cfg.device], tid, sensor=sensors[cfg.device])
        if not counts_as_done(key, ok, failed, force=force, retry_failed=retry_failed):
            out.append(cfg)
    return out


def pending_points(
    spec: SweepSpec, store: Store, *, force: bool = False, retry_failed: bool = False
) -> tuple[int, set[str]]:
    """``(points to measure, keys stored ok now)`` for ``spec`` on ``store``, without loading a model.

    Raises:
        TaskError, ModelError: the spec's task or a model cannot be resolved (before anything runs).
    """
    from efflab.measuring.measure import load_task
    from efflab.models.registry import model_identity
    from efflab.sweep.run import hardware_key, point_key, sensor_key, task_id

    ok = store.keys(status="ok")
    if force:
        return len(spec), ok
    failed = store.keys(status="failed")
    tid = task_id(load_task(spec.task))
    hw = {d: hardware_key(d, spec.method.threads) for d in spec.devices}
    sensors = {d: sensor_key(spec.sensor, d) for d in spec.devices}
    ids = {m: model_identity(m) for m in spec.models}
    todo = 0
    for cfg in spec.configs():
        key = point_key(cfg, ids[cfg.model], hw[cfg.device], tid, sensor=sensors[cfg.device])
        if not counts_as_done(key, ok, failed, retry_failed=retry_failed):
            todo += 1
    return todo, ok
