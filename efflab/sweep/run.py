"""Run a sweep: measure each missing point, commit it, stream it to the caller."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from efflab.config import Config, MethodSettings
from efflab.errors import EfflabError
from efflab.measuring.fingerprint import hardware_key
from efflab.records import Measurement
from efflab.sensors.base import Sensor
from efflab.store.sqlite import Store
from efflab.sweep.spec import SweepSpec

if TYPE_CHECKING:
    from efflab.models.runners import Runner
    from efflab.tasks import Task


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

    def __init__(self, sensor_name: str, country: str, *, sensor: Sensor | None = None) -> None:
        self.sensor_name = sensor_name
        self.country = country
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
                self._runner = load_runner(
                    resolve_model(cfg.model, progress=False), cfg.precision, cfg.device, cfg.cast
                )
            except EfflabError as e:
                self._load_error = str(e)
            except (RuntimeError, OSError, MemoryError) as e:
                self._load_error = _error_text(e)
        return self._runner

    def _sensor_for(self, device: str) -> Sensor:
        if self._given_sensor is not None:
            return self._given_sensor
        if device not in self._sensors:
            from efflab.sensors import make_sensor

            self._sensors[device] = make_sensor(self.sensor_name, device=device, country=self.country)
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

        runner = self._runner_for(cfg)
        if runner is None:
            return None, self._load_error or "model could not be loaded"
        try:
            m = measure_loaded(
                runner,
                cfg,
                task,
                self._sensor_for(cfg.device),
                method,
                progress or (lambda s, f: None),
                should_stop,
            )
        except Cancelled:
            raise
        except EfflabError as e:
            return None, str(e)
        except (RuntimeError, MemoryError) as e:  # torch OOM and kernel failures on one point
            return None, _error_text(e)
        return m, None

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
    on_measure_progress: Callable[[str, float], None] | None = None,
) -> Iterator[PointResult]:
    """Measure every point of ``spec`` missing from ``store``; yield each as it is committed.

    A point is committed (its own transaction) before the next begins, so a crash loses at most the
    point in progress. Points already stored are yielded as ``skipped`` unless ``force``; failed
    points are kept as failed unless ``retry_failed``. Failures (a precision the device cannot do,
    out of memory) are stored with their error and the sweep goes on. ``should_stop`` is checked
    between points.
    """
    from efflab.measuring.measure import Cancelled, load_task
    from efflab.models.registry import model_identity

    configs = spec.configs()
    task = load_task(spec.task)
    tid = task_id(task)
    hardware = {d: hardware_key(d) for d in spec.devices}
    identities = {name: model_identity(name) for name in spec.models}
    ok_keys = store.keys(status="ok")
    failed_keys = store.keys(status="failed")
    measurer = PointMeasurer(spec.sensor, spec.method.country, sensor=sensor)
    total = len(configs)
    try:
        for i, cfg in enumerate(configs, 1):
            key = point_key(cfg, identities[cfg.model], hardware[cfg.device], tid)
            if not force and (key in ok_keys or (key in failed_keys and not retry_failed)):
                yield PointResult(cfg, key, "skipped", index=i, total=total)
                continue
            if should_stop is not None and should_stop():
                return
            try:
                m, err = measurer.measure(cfg, task, spec.method, on_measure_progress, should_stop)
            except Cancelled:
                return  # nothing half-measured is stored
            store.put(
                key,
                config=cfg.to_dict(),
                model_id=identities[cfg.model],
                hardware=hardware[cfg.device],
                measurement=m,
                error=err,
            )
            yield PointResult(
                cfg, key, "ok" if m is not None else "failed", measurement=m, error=err, index=i, total=total
            )
    finally:
        measurer.close()


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
