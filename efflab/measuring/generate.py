"""The ``generate`` workload: what a generated response costs, prefill and decode apart.

A response is ``max_new_tokens`` greedy tokens after a left-padded, chat-templated prompt built from a
task text (end of sequence ignored, so every configuration generates the same number of tokens). The
batch is ``batch_size`` sequences generated together with the KV cache.

Two phases, each measured with the same replicated, disturbance-aware method as a classification
point (:class:`efflab.measuring.point.PointSession`: warm-up, several windows each inside its own
energy-sensor window, the interval from the spread of window means, disturbed windows re-measured):

1. **prefill**: repeated prefills of the batch (prompt through the model into a fresh KV cache, first
   token out). Each call is one time-to-first-token (TTFT) sample.
2. **decode**: repeated decode runs of ``max_new_tokens - 1`` steps from the same prefilled cache
   (cropped back to the prompt before each run, so every run does the same work). Each step is one
   inter-token latency (ITL) sample (p50/p95 over the steps); the interval of the mean ITL comes from
   the decode windows. A 1-token response has no decode phase.

Per response: ``energy_prefill_j`` + ``energy_decode_j`` = ``energy_j_per_query``; the whole windows'
energy is ``energy_j``. Response latency = TTFT + (max_new_tokens - 1) x ITL.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from efflab.config import Config, MethodSettings
from efflab.errors import ConfigError
from efflab.measuring.carbon import carbon_intensity_g_per_kwh
from efflab.measuring.rerun import rerun_half
from efflab.records import Flag, Measurement
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
        check_generative(config.model, "sklearn" if runner.kind == "sklearn" else "hf")
    return runner  # type: ignore[return-value]


def check_generative(model: str, kind: str | None) -> None:
    """ConfigError when ``kind`` (:func:`efflab.models.registry.model_kind`) cannot generate; a
    kind not known before loading (None) passes, and loading decides."""
    if kind in ("hf", "sklearn"):
        msg = (
            f"--workload generate needs a generative (causal) language model, but {model!r} is "
            f"{'a scikit-learn pipeline' if kind == 'sklearn' else 'an encoder'}; use --workload "
            "classify for it, or a causal LM such as smollm2-135m"
        )
        raise ConfigError(msg)


class _Phase:
    """One phase of a response (prefill or decode) seen as a runner, so that the replicated-window
    method (:class:`efflab.measuring.point.PointSession`) times it: its windows, its interval from
    the spread of window means, disturbed windows re-measured, energy with its parts."""

    kind = "phase"
    can_predict = False
    label_names: tuple[str, ...] | None = None

    def __init__(
        self, lm: CausalLMRunner, phase: str, batch: Any, step: Callable[[], object], flops: float | None
    ):
        self.lm, self._batch, self._step, self._flops = lm, batch, step, flops
        self.name = lm.name
        # FLOPs are remembered per model id: one per phase, batch, prompt and output length.
        self.model_id = f"{lm.model_id}#{phase}-b{batch.batch_size}-p{batch.prompt_len}"
        self.precision, self.device, self.cast = lm.precision, lm.device, lm.cast
        self.n_params, self.model_bytes, self.flags = lm.n_params, lm.model_bytes, lm.flags

    def make_batch(self, texts: Any, batch_size: int, seq_len: int) -> Any:
        return self._batch

    def forward(self, batch: Any) -> Any:
        return self._step()

    def synchronize(self) -> None:
        self.lm.synchronize()

    def count_flops(self, batch: Any) -> float | None:
        return self._flops

    def predict(self, texts: Any, batch_size: int, seq_len: int) -> Any:
        msg = "a generation phase does not predict labels"
        raise ConfigError(msg)

    def close(self) -> None:
        return None


def _sum(*xs: float | None) -> float | None:
    vals = [x for x in xs if x is not None]
    return math.fsum(vals) if vals and len(vals) == len(xs) else None


def _quad(*xs: float | None) -> float | None:
    vals = [x for x in xs if x is not None]
    if len(vals) != len(xs) or not all(math.isfinite(v) for v in vals):
        return None
    return math.sqrt(math.fsum(v * v for v in vals))


def _p95(xs: list[float], min_samples: int) -> float | None:
    return float(np.percentile(xs, 95)) if len(xs) >= min_samples else None


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def measure_generation(
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
    """Measure the ``generate`` workload of ``config`` with a loaded causal LM and an open sensor.

    Raises:
        ConfigError: the model is not a causal LM, or prompt + new tokens exceed its context.
        Cancelled: ``should_stop`` asked to stop (nothing is returned).
    """
    import torch

    from efflab.measuring.peak import gemm_peak_flops
    from efflab.models.causal import kv_cache_bytes

    lm = require_causal(runner, config)
    n_new = int(config.max_new_tokens or 1)
    bs = config.batch_size
    texts = task.test["text"].astype(str).tolist()[:bs] if task is not None else None
    batch = lm.pad_left(lm.generation_prompts(texts, bs, config.seq_len))
    lm.check_context(batch.prompt_len, n_new)
    # int8 keeps its fp32 copy for counting: the next point (another batch size) counts again.
    counted = lm.count_generation_flops(batch, n_new)
    peak = gemm_peak_flops(config.device, config.precision, torch.get_num_threads()) if counted else None
    from efflab.measuring.point import PointSession

    sensor.available()
    phase_cfg = dataclasses.replace(config)

    def run(phase: _Phase) -> Measurement:
        session = PointSession(phase, phase_cfg, None, sensor, method, sensor_name=sensor_name, report=report)
        session.measure_all(should_stop)
        return session.finish()

    flops_pre, flops_dec = counted if counted is not None else (None, None)
    m_pre = run(_Phase(lm, "prefill", batch, lambda: lm.prefill(batch), flops_pre))
    m_dec: Measurement | None = None
    step_times: list[float] = []
    first, cache = lm.prefill(batch)
    prompt_len = batch.prompt_len
    if n_new > 1:

        def decode_run() -> None:
            extra = cache.get_seq_length() - prompt_len
            if extra > 0:
                cache.crop(-extra)  # back to the prompt (a negative crop removes tokens in every version)
            stamps = [time.perf_counter()]
            lm.decode(batch, first, cache, n_new - 1, on_step=lambda: stamps.append(time.perf_counter()))
            step_times.extend(np.diff(stamps).tolist())

        phase = _Phase(lm, f"decode{n_new - 1}", batch, decode_run, flops_dec)
        m_dec = run(phase)
    kv_bytes = kv_cache_bytes(cache)
    return combine(m_pre, m_dec, lm, config, task, step_times, batch, kv_bytes, counted, peak, method)


def combine(
    m_pre: Measurement,
    m_dec: Measurement | None,
    lm: CausalLMRunner,
    config: Config,
    task: Task | None,
    step_times: list[float],
    batch: Any,
    kv_bytes: int | None,
    counted: tuple[float, float] | None,
    peak: float | None,
    method: MethodSettings,
) -> Measurement:
    """One response's Measurement from its prefill and decode phases (each a replicated-window
    measurement of its own)."""
    n_new = int(config.max_new_tokens or 1)
    bs = config.batch_size
    steps = n_new - 1
    flags = list(dict.fromkeys([*lm.flags, *m_pre.flags, *(m_dec.flags if m_dec is not None else ())]))
    if counted is None and Flag.FLOPS_NOT_COUNTED.value not in flags:
        flags.append(Flag.FLOPS_NOT_COUNTED.value)
    flags = [f for f in flags if f != Flag.P95_INSUFFICIENT_SAMPLES.value]
    ttft = m_pre.latency_s
    ttft_p95 = m_pre.latency_p95_s
    if ttft_p95 is None:
        flags.append(Flag.P95_INSUFFICIENT_SAMPLES.value)
    if m_dec is not None:
        itl: float | None = m_dec.latency_s / steps
        itl_ci = _finite(m_dec.latency_ci_s / steps)
        itl_p50: float | None = float(np.percentile(step_times, 50)) if step_times else None
        itl_p95 = _p95(step_times, method.p95_min_samples)
        decode_s = m_dec.latency_s
    else:
        itl = itl_ci = itl_p50 = itl_p95 = None
        decode_s = 0.0
    latency = ttft + decode_s
    e_pre = m_pre.energy_j_per_query
    e_dec = m_dec.energy_j_per_query if m_dec is not None else 0.0
    e_resp = e_pre + e_dec
    parts = [m for m in (m_pre, m_dec) if m is not None]
    intensity = carbon_intensity_g_per_kwh(method.country)
    if counted is not None:
        flops_batch = counted[0] + counted[1]
        flops_resp: float | None = flops_batch / bs
        achieved: float | None = flops_batch / latency if latency > 0 else None
    else:
        flops_resp = achieved = None
    mfu = achieved / peak if achieved and peak else None
    if mfu is not None and mfu > 1:  # never shown: the peak must have been measured too low
        mfu = None
        flags.append(Flag.PEAK_UNDERESTIMATED.value)
    peaks = [m.peak_mem_bytes for m in parts if m.peak_mem_bytes is not None]
    detail = " · ".join(
        f"{n}: {m.energy_detail}" for n, m in zip(("prefill", "decode"), parts) if m.energy_detail
    )
    reasons = [f"{n}: {m.unstable_reason}" for n, m in zip(("prefill", "decode"), parts) if m.unstable_reason]
    # The re-run interval of a whole response: its phases' window intervals combined, then the run
    # spread once (the drift moves both phases of one run together).
    lat_windows = _quad(*(m.latency_ci_windows_s for m in parts))
    e_windows = _quad(*(m.energy_ci_windows_j for m in parts))
    return dataclasses.replace(
        m_pre,
        model=config.model,
        model_id=lm.model_id,
        task=task.name if task is not None else None,
        n_batches=sum(m.n_batches for m in parts),
        warmup_batches=sum(m.warmup_batches for m in parts),
        window_s=math.fsum(m.window_s for m in parts),
        latency_s=latency,
        latency_std_s=_quad(*(m.latency_std_s for m in parts)) or math.nan,
        latency_ci_s=rerun_half(latency, lat_windows, m_pre.run_spread or 0.0)
        or _quad(*(m.latency_ci_s for m in parts))
        or math.nan,
        latency_ci_windows_s=lat_windows,
        energy_ci_windows_j=e_windows,
        latency_p50_s=math.fsum(m.latency_p50_s for m in parts),
        latency_median_s=_sum(*(m.latency_median_s for m in parts)),
        latency_p95_s=None,  # a response spans two phases; their p95s are ttft_p95_s and itl_p95_s
        throughput_qps=bs / latency if latency > 0 else math.nan,
        energy_j=math.fsum(m.energy_j for m in parts),
        energy_j_per_query=e_resp,
        energy_j_per_query_ci=(
            rerun_half(e_resp, e_windows, m_pre.run_spread or 0.0)
            if e_windows is not None
            else _quad(*(m.energy_j_per_query_ci for m in parts))
        ),
        energy_measured=all(m.energy_measured for m in parts),
        energy_uncertainty_rel=max(m.energy_uncertainty_rel for m in parts),
        energy_detail=detail,
        energy_cpu_j=_sum(*(m.energy_cpu_j for m in parts)),
        energy_ram_j=_sum(*(m.energy_ram_j for m in parts)),
        energy_gpu_j=_sum(*(m.energy_gpu_j for m in parts)),
        cpu_seconds=_sum(*(m.cpu_seconds for m in parts)),
        co2e_g_per_1000_queries=e_resp * 1000 / 3.6e6 * intensity,
        peak_mem_bytes=max(peaks) if peaks else None,
        flops_per_query=flops_resp,
        achieved_flops_per_s=achieved,
        gemm_peak_flops_per_s=peak,
        mfu=mfu,
        accuracy=None,
        accuracy_ci=None,
        n_eval=None,
        accuracy_correct=None,
        flags=tuple(dict.fromkeys(flags)),
        n_windows=sum(m.n_windows for m in parts),
        windows=tuple(w for m in parts for w in m.windows),
        unstable_reason="; ".join(reasons) or None,
        cast=config.cast,
        workload="generate",
        max_new_tokens=n_new,
        prompt_tokens=batch.mean_prompt_tokens,
        ttft_s=ttft,
        ttft_p50_s=m_pre.latency_p50_s,
        ttft_p95_s=ttft_p95,
        ttft_ci_s=_finite(m_pre.latency_ci_s),
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
