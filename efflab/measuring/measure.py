"""``measure(config) -> Measurement``: what one configuration costs, and how sure we are."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from efflab.config import Config, MethodSettings
from efflab.errors import EfflabError
from efflab.measuring.carbon import carbon_intensity_g_per_kwh
from efflab.measuring.fingerprint import CpuWindow, fingerprint
from efflab.measuring.memory import PeakMemory
from efflab.measuring.timing import timed_loop, warmup
from efflab.records import Measurement
from efflab.sensors import make_sensor
from efflab.sensors.base import Sensor
from efflab.tasks import load_task

if TYPE_CHECKING:
    from efflab.models.runners import Runner
    from efflab.tasks import Task

ProgressFn = Callable[[str, float], None]
"""``progress(stage, fraction)`` with stage in load / warmup / timing / accuracy / done."""


class Cancelled(EfflabError):
    """The measurement was cancelled by ``should_stop``; nothing was recorded."""


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

    Loads the model at the precision, warms up, times whole batches adaptively inside an energy
    sensor window, then scores accuracy on the task's test split (when ``config.task`` is set).

    Args:
        config: what to measure.
        sensor: ``auto``, ``nvml``, ``rapl``, ``codecarbon``, ``fake`` or a Sensor instance (which
            the caller keeps and closes; a sensor made from a name is closed here).
        method: repetition and window settings (defaults: 2 % CI, 1 s CPU / 5 s GPU minimum window).
        progress: called with (stage, fraction) as the measurement advances.
        should_stop: polled during timing; when it returns True the measurement raises Cancelled.

    Raises:
        ConfigError, ModelError, DeviceError, TaskError, SensorError: bad input, with the fix.
        Cancelled: ``should_stop`` asked to stop.
    """
    from efflab.models import load_runner, resolve_model
    from efflab.models.runners import check_device

    method = method or MethodSettings()
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
    sens = make_sensor(sensor, device=config.device, country=method.country)
    try:
        return measure_loaded(runner, config, task, sens, method, report, should_stop)
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
) -> Measurement:
    """Measure ``config`` with an already loaded runner and an open sensor (sweeps reuse both)."""
    import torch

    from efflab.measuring.accuracy import evaluate
    from efflab.measuring.peak import gemm_peak_flops
    from efflab.models.runners import cpu_flags

    flags: list[str] = list(runner.flags)
    texts = task.test["text"].astype(str).tolist()[: config.batch_size] if task is not None else None
    batch = runner.make_batch(texts, config.batch_size, config.seq_len)
    flops_batch = runner.count_flops(batch)
    peak = gemm_peak_flops(config.device, config.precision, torch.get_num_threads()) if flops_batch else None
    if flops_batch is None:
        flags.append("flops_not_counted")
    sensor.available()  # opens lazily-initialised sensors outside the timed window

    def step() -> Any:
        return runner.forward(batch)

    report("warmup", 0.0)
    n_warm = warmup(step, runner.synchronize, min_s=method.warmup_s, min_batches=method.warmup_batches)
    min_window = method.window_min_s(config.device)

    def on_timing(n: int, elapsed: float, ci_rel: float) -> None:
        report("timing", min(0.99, elapsed / max(min_window, 1e-9)))

    mem = PeakMemory(config.device)
    mem.start()
    cpu = CpuWindow.start()
    sensor.begin_window(restart=True)
    try:
        timing = timed_loop(
            step,
            runner.synchronize,
            min_window_s=min_window,
            max_window_s=method.max_window_s,
            target_ci_rel=method.target_ci_rel,
            min_batches=method.min_batches,
            progress=on_timing,
            should_stop=should_stop,
        )
    finally:
        reading = sensor.end_window()
    if timing.cancelled:
        msg = f"measurement of {config.model} (batch {config.batch_size}, {config.precision}) was cancelled"
        raise Cancelled(msg)
    peak_mem = mem.peak_bytes()
    if not mem.reset_ok:
        flags.append("peak_mem_is_process_lifetime")
    fp = fingerprint(config.device, window=cpu, cpu_flags=cpu_flags())
    if timing.hit_cap:
        flags.append("hit_time_cap")
    p95 = timing.p95_s(method.p95_min_samples)
    if p95 is None:
        flags.append("p95_insufficient_samples")
    if fp.other_cpu_share is not None and fp.other_cpu_share > method.noisy_other_cpu_share:
        flags.append("noisy")
    if not reading.measured:
        flags.append("energy_estimated")

    accuracy = ci = n_eval = None
    if task is not None and not runner.can_predict:
        flags.append("no_classifier_head")
    elif task is not None:
        report("accuracy", 0.0)
        res = evaluate(runner, task, seq_len=config.seq_len)
        accuracy, ci, n_eval = res.accuracy, res.ci, res.n_eval

    queries = timing.n * config.batch_size
    e_query = reading.energy_j / queries if queries else math.nan
    intensity = carbon_intensity_g_per_kwh(method.country)
    mean = timing.mean_s
    achieved = flops_batch / mean if flops_batch and mean > 0 else None
    report("done", 1.0)
    return Measurement(
        model=config.model,
        model_id=runner.model_id,
        batch_size=config.batch_size,
        precision=config.precision,
        device=config.device,
        seq_len=config.seq_len,
        task=task.name if task is not None else None,
        n_batches=timing.n,
        warmup_batches=n_warm,
        window_s=timing.window_s,
        latency_s=mean,
        latency_std_s=timing.std_s,
        latency_ci_s=timing.ci_half_s,
        latency_p50_s=timing.p50_s,
        latency_p95_s=p95,
        throughput_qps=config.batch_size / mean if mean > 0 else math.nan,
        energy_j=reading.energy_j,
        energy_j_per_query=e_query,
        energy_source=reading.source,
        energy_measured=reading.measured,
        energy_uncertainty_rel=reading.uncertainty_rel,
        energy_detail=reading.detail,
        co2e_g_per_1000_queries=e_query * 1000 / 3.6e6 * intensity,
        country=method.country,
        carbon_intensity_g_per_kwh=intensity,
        peak_mem_bytes=peak_mem,
        model_bytes=runner.model_bytes,
        n_params=runner.n_params,
        flops_per_query=flops_batch / config.batch_size if flops_batch else None,
        achieved_flops_per_s=achieved,
        gemm_peak_flops_per_s=peak,
        mfu=achieved / peak if achieved and peak else None,
        accuracy=accuracy,
        accuracy_ci=ci,
        n_eval=n_eval,
        flags=tuple(dict.fromkeys(flags)),
        fingerprint=fp,
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        method=method.to_dict(),
        cast=config.cast,
    )
