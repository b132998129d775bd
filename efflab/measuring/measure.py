"""``measure(config) -> Measurement``: what one configuration costs, and how sure we are."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from efflab.config import Config, MethodSettings
from efflab.measuring.carbon import carbon_intensity_g_per_kwh
from efflab.measuring.point import Cancelled, PointSession
from efflab.records import Measurement
from efflab.sensors import make_sensor
from efflab.sensors.base import Sensor
from efflab.tasks import load_task

if TYPE_CHECKING:
    from efflab.models.runners import Runner
    from efflab.tasks import Task

ProgressFn = Callable[[str, float], None]
"""``progress(stage, fraction)`` with stage in load / warmup / timing / accuracy / done."""


__all__ = ["Cancelled", "PointSession", "load_task", "measure", "measure_loaded"]


def _noop(stage: str, frac: float) -> None:
    return None


def measure(
    config: Config,
    *,
    sensor: str | Sensor = "auto",
    method: MethodSettings | None = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Measurement:
    """Measure one configuration on this machine.

    Loads the model at the precision, warms up, times ``method.windows`` windows of whole batches
    (each inside its own energy-sensor window; disturbed or disagreeing windows are re-measured
    within a budget, and windows are added while the interval is above the target), then scores
    accuracy on the task's test split (when ``config.task`` is set).

    Args:
        config: what to measure.
        sensor: ``auto``, ``nvml``, ``rapl``, ``codecarbon``, ``fake`` or a Sensor instance (which
            the caller keeps and closes; a sensor made from a name is closed here).
        method: repetition and window settings (defaults: 2 % CI, 1 s CPU / 5 s GPU minimum window).
        progress: called with (stage, fraction) as the measurement advances.
        should_stop: polled during timing; when it returns True the measurement raises Cancelled.
        (``method.cpu_power_w`` / ``ram_power_w`` make a sensor named by string use those watts.)

    Raises:
        ConfigError, ModelError, DeviceError, TaskError, SensorError: bad input, with the fix.
        Cancelled: ``should_stop`` asked to stop.
    """
    from efflab.measuring.threads import use_threads

    method = method or MethodSettings()
    with use_threads(method.threads):
        return _measure(config, sensor, method, progress, should_stop)


def _measure(
    config: Config,
    sensor: str | Sensor,
    method: MethodSettings,
    progress: ProgressFn | None,
    should_stop: Callable[[], bool] | None,
) -> Measurement:
    from efflab.models import load_runner, resolve_model
    from efflab.models.runners import check_device

    report = progress or _noop
    # Validate everything cheap before building or loading anything.
    carbon_intensity_g_per_kwh(method.country)
    if config.model.lower() != "tfidf-logreg":
        check_device(config.device, config.precision)
    task = load_task(config.task)
    report("load", 0.0)
    source = resolve_model(config.model, progress=progress is not None)
    runner = load_runner(source, config.precision, config.device, config.cast)
    own_sensor = isinstance(sensor, str)
    sens = make_sensor(
        sensor,
        device=config.device,
        country=method.country,
        cpu_power_w=method.cpu_power_w,
        ram_power_w=method.ram_power_w,
    )
    name = sensor if isinstance(sensor, str) else getattr(sensor, "name", "")
    try:
        return measure_loaded(runner, config, task, sens, method, report, should_stop, sensor_name=name)
    finally:
        if own_sensor:
            sens.close()
        runner.close()


def measure_loaded(
    runner: Runner,
    config: Config,
    task: Task | None,
    sensor: Sensor,
    method: MethodSettings,
    report: ProgressFn = _noop,
    should_stop: Callable[[], bool] | None = None,
    *,
    sensor_name: str = "",
) -> Measurement:
    """Measure ``config`` with an already loaded runner and an open sensor, its windows back to back."""
    from efflab.measuring.threads import use_threads

    with use_threads(method.threads):
        return _measure_loaded(runner, config, task, sensor, method, report, should_stop, sensor_name)


def _measure_loaded(
    runner: Runner,
    config: Config,
    task: Task | None,
    sensor: Sensor,
    method: MethodSettings,
    report: ProgressFn,
    should_stop: Callable[[], bool] | None,
    sensor_name: str,
) -> Measurement:
    if config.workload == "generate":
        from efflab.measuring.generate import measure_generation

        return measure_generation(
            runner, config, task, sensor, method, report, should_stop, sensor_name=sensor_name
        )
    session = PointSession(runner, config, task, sensor, method, sensor_name=sensor_name, report=report)
    session.measure_all(should_stop)
    return session.finish()
