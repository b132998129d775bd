"""The ``generate`` workload: what a generated response costs, prefill and decode apart.

A response is ``max_new_tokens`` greedy tokens after a left-padded, chat-templated prompt built from a
task text (end of sequence ignored, so every configuration generates the same number of tokens). The
batch is ``batch_size`` sequences generated together with the KV cache.

Two timed windows, each inside its own energy-sensor window, after a warm-up of whole responses:

1. **prefill**: repeated prefills of the batch (prompt through the model into a fresh KV cache, first
   token out). Each call is one time-to-first-token (TTFT) sample.
2. **decode**: repeated decode runs of ``max_new_tokens - 1`` steps from the same prefilled cache
   (cropped back to the prompt before each run, so every run does the same work). Each step is one
   inter-token latency (ITL) sample; the interval of the mean ITL comes from the spread of run means.
   A 1-token response has no decode window.

Per response: ``energy_prefill_j`` + ``energy_decode_j`` = ``energy_j_per_query``; the whole windows'
energy is ``energy_j``. Response latency = TTFT + (max_new_tokens - 1) x ITL.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from efflab.config import Config, MethodSettings
from efflab.errors import ConfigError
from efflab.measuring.carbon import carbon_intensity_g_per_kwh
from efflab.measuring.fingerprint import CpuWindow, fingerprint
from efflab.measuring.memory import PeakMemory
from efflab.measuring.timing import TimingResult, timed_loop, warmup
from efflab.records import EnergyReading, Measurement
from efflab.sensors.base import Sensor

if TYPE_CHECKING:
    from efflab.models.causal import CausalLMRunner
    from efflab.models.runners import Runner
    from efflab.tasks import Task

ProgressFn = Callable[[str, float], None]


def _noop(stage: str, frac: float) -> None:
    return None


def require_causal(runner: Runner, config: Config) -> CausalLMRunner:
    """The runner as a causal LM, or ConfigError for an encoder / classifier."""
    from efflab.models.causal import CausalLMRunner

    if not isinstance(runner, CausalLMRunner):
        msg = (
            f"--workload generate needs a generative (causal) language model, but {config.model!r} is "
            f"{'a scikit-learn pipeline' if runner.kind == 'sklearn' else 'an encoder'}; use --workload "
            "classify for it, or a causal LM such as smollm2-135m"
        )
        raise ConfigError(msg)
    return runner


def _phase(
    step: Callable[[], object],
    sync: Callable[[], None],
    sensor: Sensor,
    method: MethodSettings,
    min_window: float,
    should_stop: Callable[[], bool] | None,
) -> tuple[TimingResult, EnergyReading]:
    sensor.begin_window(restart=True)
    try:
        timing = timed_loop(
            step,
            sync,
            min_window_s=min_window,
            max_window_s=method.max_window_s,
            target_ci_rel=method.target_ci_rel,
            min_batches=method.min_batches,
            should_stop=should_stop,
        )
    finally:
        reading = sensor.end_window()
    return timing, reading


def _p95(xs: list[float] | tuple[float, ...], min_samples: int) -> float | None:
    return float(np.percentile(xs, 95)) if len(xs) >= min_samples else None


def measure_generation(
    runner: Runner,
    config: Config,
    task: Task | None,
    sensor: Sensor,
    method: MethodSettings,
    report: ProgressFn = _noop,
    should_stop: Callable[[], bool] | None = None,
) -> Measurement:
    """Measure the ``generate`` workload of ``config`` with a loaded causal LM and an open sensor.

    Raises:
        ConfigError: the model is not a causal LM, or prompt + new tokens exceed its context.
        Cancelled: ``should_stop`` asked to stop (nothing is returned).
    """
    import torch

    from efflab.measuring.measure import Cancelled
    from efflab.measuring.peak import gemm_peak_flops
    from efflab.models.causal import kv_cache_bytes
    from efflab.models.runners import cpu_flags

    lm = require_causal(runner, config)
    n_new = int(config.max_new_tokens or 1)
    bs = config.batch_size
    flags: list[str] = list(lm.flags)
    texts = task.test["text"].astype(str).tolist()[:bs] if task is not None else None
    batch = lm.pad_left(lm.generation_prompts(texts, bs, config.seq_len))
    lm.check_context(batch.prompt_len, n_new)
    counted = lm.count_generation_flops(batch, n_new)
    lm.release_flop_model()
    if counted is None:
        flags.append("flops_not_counted")
    peak = gemm_peak_flops(config.device, config.precision, torch.get_num_threads()) if counted else None
    sensor.available()

    report("warmup", 0.0)
    n_warm = warmup(
        lambda: lm.generate(batch, n_new),
        lm.synchronize,
        min_s=method.warmup_s,
        min_batches=max(1, method.warmup_batches),
    )
    min_window = method.window_min_s(config.device)
    mem = PeakMemory(config.device)
    mem.start()
    cpu = CpuWindow.start()

    report("timing", 0.0)
    t_pre, r_pre = _phase(lambda: lm.prefill(batch), lm.synchronize, sensor, method, min_window, should_stop)
    if t_pre.cancelled:
        msg = f"measurement of {config.model} (generate, batch {bs}) was cancelled"
        raise Cancelled(msg)

    first, cache = lm.prefill(batch)
    prompt_len = batch.prompt_len
    step_times: list[float] = []
    t_dec: TimingResult | None = None
    r_dec: EnergyReading | None = None
    if n_new > 1:
        report("timing", 0.5)

        def decode_run() -> None:
            extra = cache.get_seq_length() - prompt_len
            if extra > 0:
                cache.crop(-extra)  # back to the prompt (a negative crop removes tokens in every version)
            stamps = [time.perf_counter()]
            lm.decode(batch, first, cache, n_new - 1, on_step=lambda: stamps.append(time.perf_counter()))
            step_times.extend(np.diff(stamps).tolist())

        t_dec, r_dec = _phase(decode_run, lm.synchronize, sensor, method, min_window, should_stop)
        if t_dec.cancelled:
            msg = f"measurement of {config.model} (generate, batch {bs}) was cancelled"
            raise Cancelled(msg)
    kv_bytes = kv_cache_bytes(cache)
    peak_mem = mem.peak_bytes()
    if not mem.reset_ok:
        flags.append("peak_mem_is_process_lifetime")
    fp = fingerprint(config.device, window=cpu, cpu_flags=cpu_flags())
    if t_pre.hit_cap or (t_dec is not None and t_dec.hit_cap):
        flags.append("hit_time_cap")
    if fp.other_cpu_share is not None and fp.other_cpu_share > method.noisy_other_cpu_share:
        flags.append("noisy")
    readings = [r for r in (r_pre, r_dec) if r is not None]
    measured = all(r.measured for r in readings)
    if not measured:
        flags.append("energy_estimated")

    # ----- timing -----
    ttft = t_pre.mean_s
    ttft_p95 = t_pre.p95_s(method.p95_min_samples)
    if t_dec is not None:
        steps = n_new - 1
        itl: float | None = t_dec.mean_s / steps
        itl_ci: float | None = t_dec.ci_half_s / steps
        itl_p50: float | None = float(np.percentile(step_times, 50))
        itl_p95 = _p95(step_times, method.p95_min_samples)
        decode_s, decode_ci, decode_std = t_dec.mean_s, t_dec.ci_half_s, t_dec.std_s
        decode_p50 = t_dec.p50_s
    else:
        itl = itl_ci = itl_p50 = itl_p95 = None
        decode_s = decode_ci = decode_std = decode_p50 = 0.0
    latency = ttft + decode_s
    if ttft_p95 is None:
        flags.append("p95_insufficient_samples")

    # ----- energy (per response = per sequence of the batch) -----
    e_pre = r_pre.energy_j / (t_pre.n * bs)
    e_dec = r_dec.energy_j / (t_dec.n * bs) if (r_dec is not None and t_dec is not None) else 0.0
    e_resp = e_pre + e_dec
    total_j = sum(r.energy_j for r in readings)
    window_s = t_pre.window_s + (t_dec.window_s if t_dec is not None else 0.0)
    intensity = carbon_intensity_g_per_kwh(method.country)
    if counted is not None:
        flops_batch = counted[0] + counted[1]
        flops_resp: float | None = flops_batch / bs
        achieved: float | None = flops_batch / latency if latency > 0 else None
    else:
        flops_resp = achieved = None
    detail = " · ".join(
        f"{name}: {r.detail}"
        for name, r in (("prefill", r_pre), ("decode", r_dec))
        if r is not None and r.detail
    )
    report("done", 1.0)
    return Measurement(
        model=config.model,
        model_id=lm.model_id,
        batch_size=bs,
        precision=config.precision,
        device=config.device,
        seq_len=config.seq_len,
        task=task.name if task is not None else None,
        n_batches=t_pre.n + (t_dec.n if t_dec is not None else 0),
        warmup_batches=n_warm,
        window_s=window_s,
        latency_s=latency,
        latency_std_s=math.sqrt(t_pre.std_s**2 + decode_std**2) if t_pre.n > 1 else math.nan,
        latency_ci_s=math.sqrt(t_pre.ci_half_s**2 + decode_ci**2),
        latency_p50_s=t_pre.p50_s + decode_p50,
        latency_p95_s=None,  # a response is two windows; their p95s are ttft_p95_s and itl_p95_s
        throughput_qps=bs / latency if latency > 0 else math.nan,
        energy_j=total_j,
        energy_j_per_query=e_resp,
        energy_source=r_pre.source,
        energy_measured=measured,
        energy_uncertainty_rel=max(r.uncertainty_rel for r in readings),
        energy_detail=detail,
        co2e_g_per_1000_queries=e_resp * 1000 / 3.6e6 * intensity,
        country=method.country,
        carbon_intensity_g_per_kwh=intensity,
        peak_mem_bytes=peak_mem,
        model_bytes=lm.model_bytes,
        n_params=lm.n_params,
        flops_per_query=flops_resp,
        achieved_flops_per_s=achieved,
        gemm_peak_flops_per_s=peak,
        mfu=achieved / peak if achieved and peak else None,
        accuracy=None,
        accuracy_ci=None,
        n_eval=None,
        flags=tuple(dict.fromkeys(flags)),
        fingerprint=fp,
        timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        method=method.to_dict(),
        cast=config.cast,
        workload="generate",
        max_new_tokens=n_new,
        prompt_tokens=batch.mean_prompt_tokens,
        ttft_s=ttft,
        ttft_p50_s=t_pre.p50_s,
        ttft_p95_s=ttft_p95,
        ttft_ci_s=t_pre.ci_half_s,
        itl_s=itl,
        itl_p50_s=itl_p50,
        itl_p95_s=itl_p95,
        itl_ci_s=itl_ci,
        tokens_per_s=bs * n_new / latency if latency > 0 else None,
        energy_j_per_token=e_resp / n_new,
        energy_prefill_j=e_pre,
        energy_decode_j=e_dec,
        kv_cache_bytes=kv_bytes,
        flops_per_token=flops_resp / n_new if flops_resp is not None else None,
    )
