"""What a sweep will measure before it starts: how many points the store lacks, and the keys it has."""

from __future__ import annotations

from efflab.config import Config
from efflab.store.sqlite import Store
from efflab.sweep.spec import SweepSpec


def pending_configs(
    spec: SweepSpec, store: Store, *, force: bool = False, retry_failed: bool = False
) -> list[Config]:
    """The configurations of ``spec`` the store lacks (all of them with ``force``), without loading a model."""
    from efflab.measuring.measure import load_task
    from efflab.models.registry import model_identity
    from efflab.sweep.run import hardware_key, point_key, sensor_key, task_id

    if force:
        return spec.configs()
    ok = store.keys(status="ok")
    failed = store.keys(status="failed")
    tid = task_id(load_task(spec.task))
    hw = {d: hardware_key(d, spec.method.threads) for d in spec.devices}
    sensors = {d: sensor_key(spec.sensor, d) for d in spec.devices}
    ids = {m: model_identity(m) for m in spec.models}
    out = []
    for cfg in spec.configs():
        key = point_key(cfg, ids[cfg.model], hw[cfg.device], tid, sensor=sensors[cfg.device])
        if key not in ok and (retry_failed or key not in failed):
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
        if key not in ok and (retry_failed or key not in failed):
            todo += 1
    return todo, ok
