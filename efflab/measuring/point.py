"""One point measured as several timing windows: ``PointSession``.

A session prepares a point once (inputs, FLOPs, GEMM peak), then runs windows when asked, so a sweep
can interleave windows of several points (slow drift and a neighbour's burst then land on different
points instead of all on one). ``wants_window`` says whether the point needs another window: until it
has ``method.windows`` of them, while a disturbed or disagreeing window can be re-measured within the
budget, and (``extend``) while its interval is above the target. ``finish`` turns the windows into a
``Measurement``.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from efflab.config import Config, MethodSettings
from efflab.errors import EfflabError
from efflab.format import si
from efflab.measuring.carbon import carbon_intensity_g_per_kwh
from efflab.measuring.fingerprint import CpuWindow, fingerprint
from efflab.measuring.memory import PeakMemory
from efflab.measuring.phases import Phases
from efflab.measuring.rerun import rerun_half, run_spread_of
from efflab.measuring.scoring import ScorerPool, WindowScorer
from efflab.measuring.timing import timed_loop, warmup
from efflab.measuring.windows import (
    RawWindow,
    combine,
    disagreeing,
    disturbed,
    per_query_ci,
    usual_other_share,
)
from efflab.records import Flag, Measurement, WindowSummary
from efflab.sensors.base import Sensor

if TYPE_CHECKING:
    from efflab.models.runners import Runner
    from efflab.tasks import Task

ProgressFn = Callable[[str, float], None]

# FLOPs per query, counted once per (model, precision, cast, device kind, seq_len) and reused for
# every batch size: encoder FLOPs are linear in the batch at a fixed sequence length, as a prompted
# LM's are at a fixed query width and k-shot prefix.
_FLOPS: dict[tuple[str, str, str, str, int, tuple[int, int] | None], float | None] = {}


class Cancelled(EfflabError):
    """The measurement was cancelled by ``should_stop``; nothing was recorded."""


def _noop(stage: str, frac: float) -> None:
    return None


def flops_per_query(runner: Runner, config: Config, batch: Any) -> float | None:
    """FLOPs of one query at ``config``'s precision and seq_len (counted once, then remembered)."""
    p = getattr(runner, "prompter", None)  # a prompted query: the tokens of its prefix and its own
    shape = (len(p.prefix_ids), p.query_width) if p is not None else None
    key = (runner.model_id, config.precision, config.cast, config.device.split(":")[0], config.seq_len, shape)
    if key not in _FLOPS:
        total = runner.count_flops(batch)
        _FLOPS[key] = total / config.batch_size if total else None
    return _FLOPS[key]


def prepare_batch(
    runner: Runner, config: Config, task: Task | None, method: MethodSettings, phases: Phases | None = None
) -> tuple[Any, Any]:
    """The batch a point times (the task's first test texts, or filler) and, for a causal LM scored by
    prompting, its prompter (the batch is then prompts). Renamed task labels fail here, before timing.

    Raises:
        EfflabError: the model's labels do not match the task's, or the prompt does not fit.
    """
    if task is not None and getattr(runner, "label_names", None) is not None:
        from efflab.measuring.accuracy import pair_labels

        pair_labels(runner.label_names, task.label_names)  # type: ignore[arg-type]
    texts = task.test["text"].astype(str).tolist()[: config.batch_size] if task is not None else None
    prompter = None
    if runner.kind == "causal-lm":  # a general-purpose LM classifies by prompting (needs a task)
        from efflab.tasks.prompting import attach

        # choosing k and the calibration scores the validation slice: accuracy work, timed as such
        with (phases or Phases()).timing("accuracy"):
            prompter = attach(runner, task, method.prompt_protocol(), config.seq_len)  # type: ignore[arg-type]
    return runner.make_batch(texts, config.batch_size, config.seq_len), prompter


class PointSession:
    """A point being measured, window by window, with a loaded runner and an open sensor."""

    def __init__(
        self,
        runner: Runner,
        config: Config,
        task: Task | None,
        sensor: Sensor,
        method: MethodSettings,
        *,
        sensor_name: str = "",
        report: ProgressFn = _noop,
        previous: Measurement | None = None,
        phases: Phases | None = None,
        scorers: ScorerPool | None = None,
    ) -> None:
        import torch

        from efflab.measuring.peak import gemm_peak_flops

        self.phases = phases if phases is not None else Phases()

        self.runner, self.config, self.task, self.sensor, self.method = runner, config, task, sensor, method
        # renamed labels fail first
        self.batch, self.prompter = prepare_batch(runner, config, task, method, self.phases)
        # The windows score the test texts where they can (efflab.measuring.scoring), unless cached.
        self.scorer: WindowScorer | None = None
        if task is not None and WindowScorer.wanted(runner, task, self.prompter):
            if self.prompter is not None:
                from efflab.tasks.prompting import result_path

                cached = result_path(runner, task, self.prompter.protocol, config.seq_len)  # type: ignore[arg-type]
            else:
                from efflab.measuring.accuracy import cached_path

                cached = cached_path(runner, task, config.seq_len)
            if not cached.exists():
                pool = scorers if scorers is not None else ScorerPool(config.batch_size)
                with self.phases.timing("accuracy"):
                    self.scorer = pool.get(runner, task, config.seq_len, self.prompter)
        self.sensor_name = sensor_name or getattr(sensor, "name", "")
        self.report = report
        self.flags: list[str] = list(runner.flags)
        with self.phases.timing("flops"):
            self.flops_q = flops_per_query(runner, config, self.batch)
        self.threads = torch.get_num_threads()
        with self.phases.timing("gemm_peak"):
            self.peak = (
                gemm_peak_flops(config.device, config.precision, self.threads) if self.flops_q else None
            )
        sensor.available()  # opens lazily-initialised sensors outside the timed window
        self.windows: list[RawWindow] = []
        self.remeasured = 0
        self.n_warm = 0
        self.mem_reset_ok = True
        self.cpu_window: CpuWindow | None = None
        self.cpu_window_first: CpuWindow | None = None
        self.previous = previous
        if previous is not None:
            self.windows = [_raw_from_summary(w) for w in previous.windows]
            self.n_warm = previous.warmup_batches
            self.remeasured = sum(1 for w in self.windows if not w.used)

    # ----- scheduling -----
    @property
    def used(self) -> list[RawWindow]:
        return [w for w in self.windows if w.used]

    def _suspects(self) -> list[int]:
        """Indices (into ``windows``) of used windows worth re-measuring, worst first: those that
        disagree, and the disturbed ones while at least one window was clean (when every window
        was disturbed the machine is busy throughout, and another window would be disturbed too)."""
        used_idx = [i for i, w in enumerate(self.windows) if w.used]
        used = [self.windows[i] for i in used_idx]
        dist = disturbed(
            used,
            other_share_max=self.method.noisy_other_cpu_share,
            cpu_ratio_min=self.method.disturbed_cpu_ratio,
            check_cpu=self.config.device == "cpu",
        )
        if all(dist):
            dist = [False] * len(dist)
        dis = disagreeing(used, outlier_rel=self.method.outlier_rel)
        if not used:
            return []
        import statistics

        med = statistics.median(w.mean_s for w in used)
        bad = [
            (abs(w.mean_s - med), i) for i, w, a, b in zip(used_idx, used, dist, dis, strict=True) if a or b
        ]
        return [i for _, i in sorted(bad, reverse=True)]

    def ci_rel(self) -> float:
        used = self.used
        if not used:
            return math.inf
        st = combine(used)
        return st.ci_half_s / st.mean_s if st.mean_s > 0 else math.inf

    def wants_window(self, *, extend: bool = True) -> bool:
        """Whether this point needs another window now (re-measuring one that is disturbed or disagrees)."""
        if len(self.used) < self.method.windows:
            return True
        suspects = self._suspects()
        if suspects and self.remeasured < self.method.remeasure_windows:
            self.windows[suspects[0]].used = False
            self.remeasured += 1
            return True
        if suspects:
            return False  # budget spent: more windows would not make it consistent
        if any(
            disturbed(
                self.used,
                other_share_max=self.method.noisy_other_cpu_share,
                cpu_ratio_min=self.method.disturbed_cpu_ratio,
                check_cpu=self.config.device == "cpu",
            )
        ):
            return False  # a busy machine: more windows would be disturbed too
        return bool(
            extend
            and self.method.windows > 1
            and len(self.used) < self.method.max_windows
            and self.ci_rel() > self.method.target_ci_rel
        )

    def wants_more_for_decision(self) -> bool:
        """Room for one more window (the adaptive second pass of a sweep asks before adding one)."""
        return self.method.windows > 1 and len(self.used) < self.method.max_windows

    def _cover_batches(self, batch_s: float) -> int:
        """Batches this window takes so that the point's windows cover the test texts still unscored.

        Only the largest batch of the loaded model's points does it (its windows score the most texts
        per second), spreading the texts over the windows it has left so they stay of one length, each
        kept under 80 % of the window cap (``batch_s``: a batch's time, from the last window or warm-up).
        The rest is scored after the windows, as before; 0 when nothing is left or there is no scorer."""
        sc = self.scorer
        if sc is None or self.config.batch_size != sc.max_batch or sc.covered >= sc.n:
            return 0
        left = max(1, self.method.windows - len(self.used))
        need = math.ceil((sc.n - sc.covered) / (self.config.batch_size * left))
        if batch_s > 0:
            need = min(need, int(0.8 * self.method.max_window_s / batch_s))
        return max(0, need)

    # ----- measuring -----
    def run_window(self, should_stop: Callable[[], bool] | None = None) -> RawWindow:
        """Warm up (fully before the first window, one batch before later ones), then time one window.

        Raises:
            Cancelled: ``should_stop`` turned true during the window (the window is discarded).
        """
        runner, method, cfg = self.runner, self.method, self.config

        if self.scorer is not None:
            step = self.scorer.step(runner, cfg.batch_size, self.batch)
        else:

            def step() -> Any:
                return runner.forward(self.batch)

        min_window = method.window_min_s(cfg.device)
        with self.phases.timing("warmup"):
            t_warm = time.perf_counter()
            n_before = self.n_warm
            if not self.windows and self.n_warm == 0:
                self.report("warmup", 0.0)
                self.n_warm = warmup(
                    step, runner.synchronize, min_s=method.warmup_s, min_batches=method.warmup_batches
                )
            elif not self.windows or self.windows[-1].mean_s < min_window:
                # One batch after other points ran; a batch longer than the window is its own warm-up.
                self.n_warm += warmup(step, runner.synchronize, min_s=0.0, min_batches=1)
            if self.windows:
                batch_s = self.windows[-1].mean_s
            else:  # a cold first batch is slower: an upper bound
                batch_s = (time.perf_counter() - t_warm) / max(1, self.n_warm - n_before)
        k_done = len(self.used)

        def on_timing(n: int, elapsed: float, ci_rel: float) -> None:
            frac = (k_done + min(1.0, elapsed / max(min_window, 1e-9))) / max(1, method.windows)
            self.report("timing", min(0.99, frac))

        mem = PeakMemory(cfg.device)
        mem.start()
        cpu = CpuWindow.start()
        if self.cpu_window_first is None:
            self.cpu_window_first = cpu
        cpu0 = time.process_time()
        self.sensor.begin_window(restart=True)
        try:
            timing = timed_loop(
                step,
                runner.synchronize,
                min_window_s=min_window,
                max_window_s=method.max_window_s,
                # One window is today's method (adaptive within the window); several windows get
                # their interval from the spread of window means, so each window just runs its length.
                target_ci_rel=method.target_ci_rel if method.windows == 1 else math.inf,
                min_batches=max(method.min_batches, self._cover_batches(batch_s)),
                progress=on_timing,
                should_stop=should_stop,
            )
        finally:
            reading = self.sensor.end_window()
        cpu_s = time.process_time() - cpu0
        self.phases.add("timed", timing.window_s)
        other = cpu.other_share()
        self.cpu_window = cpu
        if timing.cancelled:
            msg = f"measurement of {cfg.model} (batch {cfg.batch_size}, {cfg.precision}) was cancelled"
            raise Cancelled(msg)
        if not mem.reset_ok:
            self.mem_reset_ok = False
        self.reading = reading
        w = RawWindow(
            times_s=timing.times_s,
            window_s=timing.window_s,
            cpu_s=cpu_s,
            other_cpu_share=other,
            energy_j=reading.energy_j,
            cpu_j=reading.cpu_j,
            ram_j=reading.ram_j,
            gpu_j=reading.gpu_j,
            hit_cap=timing.hit_cap,
            peak_mem_bytes=mem.peak_bytes(),
        )
        self.windows.append(w)
        return w

    def measure_all(self, should_stop: Callable[[], bool] | None = None) -> None:
        """Run windows back to back until the point needs none (a single ``measure``)."""
        while self.wants_window(extend=True):
            self.run_window(should_stop)

    # ----- result -----
    def finish(self) -> Measurement:
        """The point's Measurement from its windows (scores accuracy when a task is set)."""
        from efflab.measuring.accuracy import evaluate
        from efflab.measuring.peak import refresh_peak
        from efflab.models.runners import cpu_flags

        cfg, method = self.config, self.method
        flags = list(self.flags)
        used_all = self.used
        dist = disturbed(
            used_all,
            other_share_max=method.noisy_other_cpu_share,
            cpu_ratio_min=method.disturbed_cpu_ratio,
            check_cpu=cfg.device == "cpu",
        )
        clean = [w for w, d in zip(used_all, dist, strict=True) if not d]
        # Disturbed windows are left out when enough clean ones remain; a point that could not
        # get its k clean windows within the re-measure budget says so.
        stats_windows = clean if len(clean) >= min(2, len(used_all)) and clean else used_all
        if len(clean) < method.windows:
            flags.append(Flag.DISTURBED.value)
        if stats_windows is used_all and any(dist):
            flags.append(Flag.NOISY.value)
        if usual_other_share(stats_windows) > method.noisy_other_cpu_share:
            flags.append(Flag.BUSY_MACHINE.value)
        for w in self.windows:
            w.used = w in stats_windows
        dis = disagreeing(stats_windows, outlier_rel=method.outlier_rel)
        unstable_reason = None
        st = combine(stats_windows)
        if any(dis):
            flags.append(Flag.UNSTABLE.value)
            means = sorted(w.mean_s for w in stats_windows)
            unstable_reason = (
                f"window means {si(means[0], 's')}–{si(means[-1], 's')} per batch stayed more than "
                f"{method.outlier_rel * 100:.0f} % apart after {self.remeasured} re-measured window(s)"
            )
        if any(w.hit_cap for w in stats_windows) or (
            method.windows > 1
            and len(stats_windows) >= method.max_windows
            and st.mean_s > 0
            and st.ci_half_s / st.mean_s > method.target_ci_rel
        ):
            flags.append(Flag.HIT_TIME_CAP.value)
        times = sorted(t for w in stats_windows for t in w.times_s)
        p95 = float(_percentile(times, 95)) if len(times) >= method.p95_min_samples else None
        if p95 is None:
            flags.append(Flag.P95_INSUFFICIENT_SAMPLES.value)
        if not self.mem_reset_ok:
            flags.append(Flag.PEAK_MEM_IS_PROCESS_LIFETIME.value)
        reading = self.reading if hasattr(self, "reading") else None
        measured = (
            bool(reading.measured)
            if reading is not None
            else bool(self.previous and self.previous.energy_measured)
        )
        if not measured:
            flags.append(Flag.ENERGY_ESTIMATED.value)
        if self.flops_q is None:
            flags.append(Flag.FLOPS_NOT_COUNTED.value)

        accuracy = ci = n_eval = None
        correct = prompting = majority_rate = None
        if self.task is not None and self.prompter is not None:
            from efflab.tasks.prompting import evaluate_prompting

            self.report("accuracy", 0.0)
            t_acc = time.perf_counter()
            pres = evaluate_prompting(
                self.runner,  # type: ignore[arg-type]
                self.task,
                self.prompter.protocol,
                seq_len=cfg.seq_len,
                scored=self.scorer.predictions() if self.scorer is not None else None,
            )
            accuracy, ci, n_eval, correct, prompting, majority_rate = (
                pres.accuracy,
                pres.ci,
                pres.n_eval,
                pres.correct,
                pres.protocol,
                pres.majority_rate,
            )
            self.phases.add("accuracy", time.perf_counter() - t_acc)
        elif self.task is not None and not self.runner.can_predict:
            flags.append(Flag.NO_CLASSIFIER_HEAD.value)
        elif self.task is not None:
            self.report("accuracy", 0.0)
            with self.phases.timing("accuracy"):
                res = evaluate(
                    self.runner,
                    self.task,
                    seq_len=cfg.seq_len,
                    progress=lambda f: self.report("accuracy", f),
                    scored=self.scorer.predictions() if self.scorer is not None else None,
                )
            accuracy, ci, n_eval, correct = res.accuracy, res.ci, res.n_eval, res.correct

        queries = st.n_batches * cfg.batch_size
        energy_j = math.fsum(w.energy_j for w in stats_windows)
        e_query = energy_j / queries if queries else math.nan
        e_ci_windows = per_query_ci([w.energy_j / (w.n * cfg.batch_size) for w in stats_windows if w.n])
        spread = run_spread_of(method)
        lat_ci = rerun_half(st.mean_s, st.ci_half_s, spread.value)
        # one window: no energy spread to widen (surfaces borrow the latency's relative width)
        e_ci = rerun_half(e_query, e_ci_windows, spread.value) if e_ci_windows is not None else None
        intensity = carbon_intensity_g_per_kwh(method.country)
        mean = st.mean_s
        flops_batch = self.flops_q * cfg.batch_size if self.flops_q else None
        achieved = flops_batch / mean if flops_batch and mean > 0 else None
        peak = self.peak
        mfu = achieved / peak if achieved and peak else None
        if mfu is not None and mfu > 1.0:
            with self.phases.timing("gemm_peak"):  # measured again, harder
                peak = refresh_peak(cfg.device, cfg.precision, self.threads)
            mfu = achieved / peak if achieved and peak else None
            if mfu is not None and mfu > 1.0:
                flags.append(Flag.PEAK_UNDERESTIMATED.value)
                mfu = None
        fp = fingerprint(cfg.device, window=self.cpu_window_first, cpu_flags=cpu_flags())
        other_shares = [w.other_cpu_share for w in stats_windows if w.other_cpu_share is not None]
        if other_shares:
            # The fingerprint's window spans the first window's start to now (other points ran in
            # between in a sweep); the busy share that matters is the windows' own.
            import dataclasses

            fp = dataclasses.replace(fp, other_cpu_share=max(other_shares))
        peaks = [w.peak_mem_bytes for w in stats_windows if w.peak_mem_bytes is not None]
        if self.previous is not None and self.previous.peak_mem_bytes is not None:
            peaks.append(self.previous.peak_mem_bytes)
        parts = {
            name: (
                math.fsum(getattr(w, name) for w in stats_windows)
                if all(getattr(w, name) is not None for w in stats_windows)
                else None
            )
            for name in ("cpu_j", "ram_j", "gpu_j")
        }
        cpu_seconds = (
            math.fsum(w.cpu_s for w in stats_windows if w.cpu_s is not None)
            if all(w.cpu_s is not None for w in stats_windows)
            else None
        )
        summaries = tuple(_summary(w, d) for w, d in zip(self.windows, self._disturbed_all(), strict=True))
        prev = self.previous
        self.report("done", 1.0)
        return Measurement(
            model=cfg.model,
            model_id=self.runner.model_id,
            batch_size=cfg.batch_size,
            precision=cfg.precision,
            device=cfg.device,
            seq_len=cfg.seq_len,
            task=self.task.name if self.task is not None else None,
            n_batches=st.n_batches,
            warmup_batches=self.n_warm,
            window_s=st.window_s,
            latency_s=mean,
            latency_std_s=st.std_s,
            latency_ci_s=lat_ci if lat_ci is not None else st.ci_half_s,
            latency_p50_s=st.median_s,
            latency_p95_s=p95,
            throughput_qps=queries / st.window_s if st.window_s > 0 else math.nan,
            energy_j=energy_j,
            energy_j_per_query=e_query,
            energy_source=reading.source if reading is not None else (prev.energy_source if prev else ""),
            energy_measured=measured,
            energy_uncertainty_rel=reading.uncertainty_rel
            if reading is not None
            else (prev.energy_uncertainty_rel if prev else math.nan),
            energy_detail=reading.detail if reading is not None else (prev.energy_detail if prev else ""),
            co2e_g_per_1000_queries=e_query * 1000 / 3.6e6 * intensity,
            country=method.country,
            carbon_intensity_g_per_kwh=intensity,
            peak_mem_bytes=max(peaks) if peaks else None,
            model_bytes=self.runner.model_bytes,
            n_params=self.runner.n_params,
            flops_per_query=self.flops_q,
            achieved_flops_per_s=achieved,
            gemm_peak_flops_per_s=peak,
            mfu=mfu,
            accuracy=accuracy,
            accuracy_ci=ci,
            n_eval=n_eval,
            flags=tuple(dict.fromkeys(flags)),
            fingerprint=fp,
            timestamp=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            method=method.to_dict(),
            cast=cfg.cast,
            n_windows=len(stats_windows),
            windows=summaries,
            latency_median_s=st.median_s,
            energy_j_per_query_ci=e_ci,
            energy_basis=(reading.basis if reading is not None else (prev.energy_basis if prev else "")),
            energy_cpu_j=parts["cpu_j"],
            energy_ram_j=parts["ram_j"],
            energy_gpu_j=parts["gpu_j"],
            cpu_seconds=cpu_seconds,
            cpu_watts_per_thread=reading.cpu_watts_per_thread
            if reading is not None
            else (prev.cpu_watts_per_thread if prev else None),
            ram_watts=reading.ram_watts if reading is not None else (prev.ram_watts if prev else None),
            cpu_power_matched=reading.cpu_power_matched
            if reading is not None
            else (prev.cpu_power_matched if prev else None),
            sensor=self.sensor_name,
            accuracy_correct=correct,
            unstable_reason=unstable_reason,
            prompting=prompting,
            majority_rate=majority_rate,
            run_spread=spread.value,
            run_spread_source=spread.source,
            latency_ci_windows_s=st.ci_half_s if math.isfinite(st.ci_half_s) else None,
            energy_ci_windows_j=e_ci_windows,
        )

    def _disturbed_all(self) -> list[bool]:
        return disturbed(
            self.windows,
            other_share_max=self.method.noisy_other_cpu_share,
            cpu_ratio_min=self.method.disturbed_cpu_ratio,
            check_cpu=self.config.device == "cpu",
        )


def _percentile(sorted_xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(sorted_xs, q))


def _summary(w: RawWindow, is_disturbed: bool) -> WindowSummary:
    ci = w.ci_half_s
    return WindowSummary(
        n_batches=w.n,
        window_s=w.window_s,
        mean_s=w.mean_s,
        median_s=w.median_s,
        ci_half_s=ci if math.isfinite(ci) else None,
        cpu_s=w.cpu_s,
        disturbed=is_disturbed,
        energy_j=w.energy_j,
        other_cpu_share=w.other_cpu_share,
        used=w.used,
        batch_times_us=tuple(max(0, round(t * 1e6)) for t in w.times_s),
        energy_cpu_j=w.cpu_j,
        energy_ram_j=w.ram_j,
        energy_gpu_j=w.gpu_j,
    )


def _raw_from_summary(s: WindowSummary) -> RawWindow:
    times = tuple(t / 1e6 for t in s.batch_times_us) or (s.mean_s,) * max(1, s.n_batches)
    return RawWindow(
        times_s=times,
        window_s=s.window_s,
        cpu_s=s.cpu_s,
        other_cpu_share=s.other_cpu_share,
        energy_j=s.energy_j,
        cpu_j=s.energy_cpu_j,
        ram_j=s.energy_ram_j,
        gpu_j=s.energy_gpu_j,
        used=s.used,
    )
