"""Run a sweep: measure each missing point, commit it, stream it to the caller."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata

from efflab.config import Config
from efflab.errors import EfflabError
from efflab.records import Measurement
from efflab.sensors.base import Sensor
from efflab.store.sqlite import Store
from efflab.sweep.spec import SweepSpec


@dataclass(frozen=True)
class PointResult:
    """What happened to one configuration of a sweep: ``ok``, ``failed`` or ``skipped`` (already stored)."""

    config: Config
    key: str
    status: str
    measurement: Measurement | None = None
    error: str | None = None
    index: int = 0
    total: int = 0


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "none"


def hardware_key(device: str) -> str:
    """The hardware part of a cohort, computed without importing torch (fast resumes)."""
    from efflab.measuring.fingerprint import cpu_model

    key = f"{cpu_model()} x{os.cpu_count()}"
    if device.startswith("cuda"):
        idx = int(device.split(":", 1)[1]) if ":" in device else 0
        try:
            from efflab.sensors.nvml import NvmlSensor

            key += f" + {NvmlSensor(idx).gpu_name()}"
        except EfflabError:
            key += f" + {device}"
    return key


def point_key(config: Config, model_id: str, hardware: str, task_id: str | None) -> str:
    """Content key of a point: model identity, config, task, hardware and library versions."""
    raw = json.dumps(
        {
            "model_id": model_id,
            "config": {k: v for k, v in config.to_dict().items() if k != "model"},
            "task": task_id,
            "hardware": hardware,
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


def _error_text(e: BaseException) -> str:
    if isinstance(e, EfflabError):
        return str(e)
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if "out of memory" in text.lower() or type(e).__name__ == "OutOfMemoryError":
        return f"out of memory: {text}; try a smaller batch size"
    return f"{type(e).__name__}: {text}"


def iter_sweep(
    spec: SweepSpec,
    store: Store,
    *,
    force: bool = False,
    retry_failed: bool = False,
    sensor: Sensor | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_measure_progress: Callable[[str, float], None] | None = None,
) -> Iterator[PointResult]:
    """Measure every point of ``spec`` missing from ``store``; yield each as it is committed.

    A point is committed (its own transaction) before the next begins, so a crash loses at most the
    point in progress. Points already stored are yielded as ``skipped`` unless ``force``; failed
    points are kept as failed unless ``retry_failed``. Failures (a precision the device cannot do,
    out of memory) are stored with their error and the sweep goes on. ``should_stop`` is checked
    between points.
    """
    from efflab.measuring.measure import Cancelled, load_task, measure_loaded
    from efflab.models import load_runner, resolve_model
    from efflab.models.registry import model_identity
    from efflab.models.runners import Runner
    from efflab.sensors import make_sensor

    configs = spec.configs()
    task = load_task(spec.task)
    task_id = f"{task.name}:{task.content_hash}" if task is not None else None
    hardware = {d: hardware_key(d) for d in spec.devices}
    identities: dict[str, str] = {}
    for name in spec.models:
        identities[name] = model_identity(name)
    ok_keys = store.keys(status="ok")
    failed_keys = store.keys(status="failed")

    sensors: dict[str, Sensor] = {}
    runner: Runner | None = None
    runner_for: tuple[str, str, str, str] | None = None
    load_error: str | None = None
    total = len(configs)
    try:
        for i, cfg in enumerate(configs, 1):
            key = point_key(cfg, identities[cfg.model], hardware[cfg.device], task_id)
            if not force and (key in ok_keys or (key in failed_keys and not retry_failed)):
                yield PointResult(cfg, key, "skipped", index=i, total=total)
                continue
            if should_stop is not None and should_stop():
                return
            group = (cfg.model, cfg.precision, cfg.device, cfg.cast)
            if group != runner_for:
                if runner is not None:
                    runner.close()
                runner, load_error, runner_for = None, None, group
                try:
                    runner = load_runner(resolve_model(cfg.model), cfg.precision, cfg.device, cfg.cast)
                except EfflabError as e:
                    load_error = str(e)
                except (RuntimeError, OSError, MemoryError) as e:
                    load_error = _error_text(e)
            cfgd = cfg.to_dict()
            if runner is None:
                err = load_error or "model could not be loaded"
                store.put(
                    key, config=cfgd, model_id=identities[cfg.model], hardware=hardware[cfg.device], error=err
                )
                yield PointResult(cfg, key, "failed", error=err, index=i, total=total)
                continue
            if sensor is None and cfg.device not in sensors:
                sensors[cfg.device] = make_sensor(spec.sensor, device=cfg.device, country=spec.method.country)
            sens = sensor if sensor is not None else sensors[cfg.device]
            try:
                m = measure_loaded(
                    runner,
                    cfg,
                    task,
                    sens,
                    spec.method,
                    on_measure_progress or (lambda s, f: None),
                    should_stop,
                )
            except Cancelled:
                return  # nothing half-measured is stored
            except EfflabError as e:
                err = str(e)
            except (RuntimeError, MemoryError) as e:  # torch OOM and kernel failures on one point
                err = _error_text(e)
            else:
                store.put(
                    key,
                    config=cfgd,
                    model_id=identities[cfg.model],
                    hardware=hardware[cfg.device],
                    measurement=m,
                )
                yield PointResult(cfg, key, "ok", measurement=m, index=i, total=total)
                continue
            store.put(
                key, config=cfgd, model_id=identities[cfg.model], hardware=hardware[cfg.device], error=err
            )
            yield PointResult(cfg, key, "failed", error=err, index=i, total=total)
    finally:
        if runner is not None:
            runner.close()
        for s in sensors.values():
            s.close()


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
