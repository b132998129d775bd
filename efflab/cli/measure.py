"""``efflab measure``: measure one configuration and print a table or JSON."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from efflab.config import (
    DEFAULT_COUNTRY,
    DEFAULT_TASK,
    DEVICES,
    PRECISIONS,
    WORKLOADS,
    Config,
    MethodSettings,
)
from efflab.errors import ConfigError
from efflab.format import nbytes, si
from efflab.records import Measurement

EPILOG = """\
examples:
  efflab measure                                   # minilm-l6, batch 32, fp32, cpu, task reviews
  efflab measure --model minilm-l2 --precision int8 --batch-size 8
  efflab measure --model ./my-model-folder --no-task --json
  efflab measure --model smollm2-135m --task reviews               # a causal LM, scored by prompting
  efflab measure --model smollm2-135m --workload generate --max-new-tokens 16 --batch-size 4 --json
  efflab measure --windows 5 --cpu-power 65 --ram-power 6   # your machine's watts (wall meter, vendor sheet)
method: the point is timed as --windows independent windows (default 5); its interval comes from the
spread of the window means. Disturbed windows (this process got clearly less CPU than it asked for, or
other processes took the machine) are re-measured; a point that stays inconsistent is flagged.
energy: 'measured' figures come from hardware counters (nvml, rapl); 'modelled' ones from CodeCarbon's
CPU-time x watts model, the usual case in VMs (there energy ranks like latency). Every figure says which.
"""


def add_method_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("method")
    g.add_argument(
        "--sensor", default="auto", help="energy sensor: auto, nvml, rapl, codecarbon, fake (default auto)"
    )
    g.add_argument(
        "--windows",
        default=None,
        help="timing windows per point, >= 1 (default 5; 1 = the single-window method of efflab 0.1)",
    )
    g.add_argument(
        "--target-ci",
        default=None,
        help="add windows while the 95%% CI half-width / mean is above this (default 0.05)",
    )
    g.add_argument(
        "--min-window", default=None, help="minimum length of one window, s (default 0.5 CPU, 5 GPU)"
    )
    g.add_argument("--max-window", default=None, help="time cap of one window, s (default 10)")
    g.add_argument(
        "--run-spread",
        default=None,
        help="drift between runs on this machine, as a fraction of the mean, added to every interval "
        "(default: learned from the store's re-runs by a sweep, else 0.06)",
    )
    g.add_argument(
        "--threads",
        default=None,
        help="CPU threads torch measures with: auto (default) probes 1 thread against one per core for "
        "about 1 s and keeps one per core only where it is clearly faster and steady (on a VM whose "
        "vCPUs the host shares, or beside a busy process, it picks 1); default (torch's, one per core, "
        "no probe); or a number. Part of the cohort when not one per core",
    )
    g.add_argument(
        "--cpu-power",
        default=None,
        help="your CPU's full-load power in watts; energy is then 'modelled (user watts)'",
    )
    g.add_argument(
        "--ram-power", default=None, help="your RAM's power in watts (with or without --cpu-power)"
    )
    g.add_argument(
        "--country",
        default=DEFAULT_COUNTRY,
        help=f"ISO alpha-3 code for CO2e intensity (default {DEFAULT_COUNTRY})",
    )
    g.add_argument(
        "--prompt-shots",
        default=None,
        help="causal LMs on a task: train examples in the prompt (default: 0, 4 and 8 tried, the best kept)",
    )
    g.add_argument(
        "--prompt-validation",
        default=None,
        help="causal LMs on a task: train texts the shots and calibration are chosen on, 0 = none (default 100)",
    )
    g.add_argument(
        "--prompt-eval-limit",
        default=None,
        help="causal LMs on a task: score the first N test texts, 0 = all (default 200)",
    )


def _count(name: str, value: str) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        n = -1
    if n < 0:
        msg = f"{name} must be a non-negative integer, got {value!r}; e.g. {name} 4"
        raise ConfigError(msg)
    return n


def method_from_args(args: argparse.Namespace, base: MethodSettings | None = None) -> MethodSettings:
    """MethodSettings from the method flags; flags not given keep ``base``'s values (or the defaults).

    Raises:
        ConfigError: a flag's value is out of range or not a number (the message names the flag).
    """
    d = (base or MethodSettings()).to_dict()
    given = {
        "windows": ("--windows", getattr(args, "windows", None)),
        "target_ci_rel": ("--target-ci", getattr(args, "target_ci", None)),
        "min_window_s": ("--min-window", getattr(args, "min_window", None)),
        "max_window_s": ("--max-window", getattr(args, "max_window", None)),
        "cpu_power_w": ("--cpu-power", getattr(args, "cpu_power", None)),
        "ram_power_w": ("--ram-power", getattr(args, "ram_power", None)),
        "run_spread": ("--run-spread", getattr(args, "run_spread", None)),
        "threads": ("--threads", getattr(args, "threads", None)),
    }
    for name, (flag, raw) in given.items():
        if raw is None:
            continue
        if name == "threads" and str(raw).strip().lower() in ("auto", "default"):
            auto = str(raw).strip().lower() == "auto"
            d["threads"] = None
            d["threads_source"] = "" if auto else "torch's default (--threads default)"
            continue
        d[name] = _number(flag, raw, integer=name in ("windows", "threads"))
        if name == "threads":
            d["threads_source"] = ""
    if getattr(args, "run_spread", None) is not None:
        from efflab.measuring.rerun import USER_SOURCE

        d["run_spread_source"] = USER_SOURCE
    if getattr(args, "country", None):
        d["country"] = args.country
    for name, flag in (("prompt_shots", "--prompt-shots"), ("prompt_validation", "--prompt-validation")):
        raw = getattr(args, name, None)
        if raw is not None:
            d[name] = _count(flag, raw)
    raw_limit = getattr(args, "prompt_eval_limit", None)
    if raw_limit is not None:
        d["prompt_eval_limit"] = _count("--prompt-eval-limit", raw_limit) or None
    return MethodSettings.from_dict(d)


_RULES: dict[str, tuple[str, str]] = {
    # flag: (what it must be, an example)
    "--windows": ("a whole number >= 1", "3"),
    "--target-ci": ("a fraction between 0 and 1", "0.05"),
    "--min-window": ("a number of seconds >= 0", "0.5"),
    "--max-window": ("a number of seconds > 0", "10"),
    "--cpu-power": ("a number of watts > 0", "65"),
    "--ram-power": ("a number of watts > 0", "6"),
    "--run-spread": ("a fraction >= 0 and < 1", "0.05"),
    "--threads": ("auto, default or a whole number >= 1", "1"),
}


def _number(flag: str, raw: object, *, integer: bool) -> float | int:
    """Parse one method flag; ConfigError naming the flag, the value and the fix."""
    what, example = _RULES[flag]
    text = str(raw).strip()
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    ok = math.isfinite(v) and (v.is_integer() if integer else True)
    if ok:
        ok = {
            "--windows": v >= 1,
            "--target-ci": 0 < v < 1,
            "--min-window": v >= 0,
            "--run-spread": 0 <= v < 1,
            "--threads": v >= 1,
        }.get(flag, v > 0)
    if not ok:
        msg = f"{flag} must be {what}, got {text!r}; e.g. {flag} {example}"
        raise ConfigError(msg)
    return int(v) if integer else v


def register(sub: Any) -> None:
    p = sub.add_parser(
        "measure",
        help="measure one configuration (latency, energy, memory, FLOPs, accuracy)",
        description="Measure one model configuration on this machine: warm-up, replicated timing windows "
        "(more while the 95%% CI of the mean batch latency is above the target), energy over the windows, "
        "peak memory, FLOPs and MFU, and accuracy on the task at the same precision.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = Config()  # the defaults, declared once in efflab.config
    p.add_argument(
        "--model",
        "-m",
        default=d.model,
        help=f"zoo name (efflab zoo list), HF folder or hub id (default {d.model})",
    )
    p.add_argument(
        "--batch-size",
        "-b",
        default=str(d.batch_size),
        help=f"queries per forward pass (default {d.batch_size})",
    )
    p.add_argument(
        "--precision",
        "-p",
        default=d.precision,
        help=f"one of {', '.join(PRECISIONS)} (default {d.precision})",
    )
    p.add_argument(
        "--device", "-d", default=d.device, help=f"one of {', '.join(DEVICES)} or cuda:N (default {d.device})"
    )
    p.add_argument(
        "--seq-len",
        default=str(d.seq_len),
        help=f"tokens per query; inputs padded/truncated to it (default {d.seq_len})",
    )
    p.add_argument(
        "--cast",
        default=d.cast,
        help=f"for fp16/bf16: 'model' casts the weights, 'autocast' runs torch.autocast over fp32 weights "
        f"(default {d.cast})",
    )
    p.add_argument(
        "--workload",
        default="classify",
        help=f"one of {', '.join(WORKLOADS)}: one forward pass per query, or a causal LM generating "
        "--max-new-tokens per prompt (default classify)",
    )
    p.add_argument(
        "--max-new-tokens",
        default=None,
        help="generate: tokens per response, end of sequence ignored (default 16)",
    )
    t = p.add_mutually_exclusive_group()
    t.add_argument(
        "--task", default=DEFAULT_TASK, help=f"task name or CSV path for accuracy (default {DEFAULT_TASK})"
    )
    t.add_argument("--no-task", action="store_true", help="measure cost only, no accuracy")
    add_method_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="start a measurement estimated above 2 hours without asking",
    )
    p.set_defaults(func=run)


def confirm_duration(cfg: Config, method: MethodSettings, *, yes: bool) -> None:
    """Refuse (or, on a terminal, ask) before a measurement that would take longer than a sweep
    may without asking (``CONFIRM_SECONDS``, 2 hours), saying about how long it would take.

    Raises:
        ConfigError: not confirmed; the message gives the estimate and the fix.
    """
    from efflab.sweep.spec import CONFIRM_SECONDS, duration_text, point_seconds

    low, high = point_seconds(method, cfg.device, task=cfg.task is not None)
    # The low estimate decides, as for sweeps (the high one assumes every window runs to its cap).
    if yes or low <= CONFIRM_SECONDS:
        return
    plan = (
        f"about {duration_text(low)}–{duration_text(high)} ({method.windows:,} windows of at least "
        f"{method.window_min_s(cfg.device):g} s)"
    )
    fix = "pass fewer --windows (default 5) or a shorter --min-window"
    if not sys.stdin.isatty():
        msg = f"this measurement would take {plan}; {fix}, or --yes to start it anyway"
        raise ConfigError(msg)
    print(f"efflab: this measurement will take {plan}", file=sys.stderr, flush=True)
    if input("efflab: start it? [y/N] ").strip().lower() not in ("y", "yes"):
        msg = f"not started; {fix}, or pass --yes"
        raise ConfigError(msg)


def run(args: argparse.Namespace) -> int:
    from efflab.measuring.carbon import carbon_intensity_g_per_kwh
    from efflab.measuring.measure import load_task, measure
    from efflab.models import resolve_model
    from efflab.models.footprint import check_fits

    cfg = Config(
        model=args.model,
        batch_size=args.batch_size,
        precision=args.precision,
        device=args.device,
        seq_len=args.seq_len,
        task=None if args.no_task else args.task,
        cast=args.cast,
        workload=args.workload,
        max_new_tokens=args.max_new_tokens,
    )
    from efflab.sensors import check_sensor_name

    check_sensor_name(args.sensor)  # an unknown sensor before the imports and loads below
    method = method_from_args(args)
    # Every input is checked before the model is loaded (and before the 1 s threads probe): how long
    # it would take, the country, the task, the model, then whether the batch fits in the memory free
    # now (refused with one line rather than swapping the machine).
    confirm_duration(cfg, method, yes=getattr(args, "yes", False))
    carbon_intensity_g_per_kwh(method.country)
    task = load_task(cfg.task)
    from efflab.models.registry import model_kind

    kind = model_kind(cfg.model)  # known from the name alone (None when only loading can tell)
    if cfg.workload == "generate":
        from efflab.measuring.generate import check_generative

        check_generative(cfg.model, kind)
    elif task is None and kind == "causal-lm":  # refused before it loads
        from efflab.tasks.prompting import needs_task

        raise needs_task(cfg.model)
    source = resolve_model(cfg.model, progress=not args.json)
    _check_hub_cached(source)
    if task is not None and cfg.workload == "classify":
        from efflab.measuring.accuracy import pair_labels
        from efflab.models.footprint import declared_labels

        labels = declared_labels(source)
        if labels is not None:
            pair_labels(labels, task.label_names)  # renamed labels: one line before loading
    check_fits(source, cfg)
    from efflab.measuring.threads import resolve_threads

    method = resolve_threads(method, (cfg.device,))
    if method.run_spread is None:
        from efflab.measuring.rerun import with_spread

        method = with_spread(method, _learned_spread(cfg.device, method.threads))
    progress = _stage_printer() if sys.stderr.isatty() or not args.json else None
    m = measure(cfg, sensor=args.sensor, method=method, progress=progress)
    if args.json:
        print(json.dumps(m.to_dict()))
    else:
        print(render(m))
    return 0


def _check_hub_cached(source: Any) -> None:
    """Offline (the default), a hub id that is not in the local Hugging Face cache is one line
    before anything loads, not a failed download after "loading model…".

    Raises:
        ModelError: the id is not cached and the hub is offline.
    """
    import os

    from efflab.errors import ModelError

    if not source.is_hub or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in (
        "1",
        "true",
        "yes",
        "on",
    ):
        return
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(source.location, "config.json"), str):
        msg = (
            f"model {source.name!r} is not in the local Hugging Face cache, and efflab keeps the hub offline; "
            "pass a zoo name (efflab zoo list) or a local folder, or set EFFLAB_ONLINE=1 to download it"
        )
        raise ModelError(msg)


def _learned_spread(device: str, threads: int | None) -> Any:
    """The run spread the default store's re-runs on this machine teach (read-only; the prior when
    there is no store, it has no re-runs, or it cannot be read: measuring never depends on it)."""
    import dataclasses

    from efflab.errors import EfflabError
    from efflab.measuring.fingerprint import hardware_key
    from efflab.measuring.rerun import learn, prior_spread
    from efflab.paths import default_store
    from efflab.store import open_store

    path = default_store()
    if not path.is_file():
        return prior_spread()
    try:
        with open_store(path, readonly=True) as st:
            got = learn(st.runs(hardware_key(device, threads)))
    except (EfflabError, OSError) as e:
        # Measuring goes on with the prior, but not as if the store simply had no re-runs.
        print(f"efflab: warning: the run spread uses the prior: {' '.join(str(e).split())}", file=sys.stderr)
        return prior_spread()
    return dataclasses.replace(got, source=f"{got.source}, in {path}") if got.df else got


def _stage_printer() -> Any:
    last = {"stage": ""}
    labels = {
        "load": "loading model",
        "warmup": "warming up",
        "timing": "timing batches",
        "accuracy": "scoring accuracy",
    }

    def show(stage: str, frac: float) -> None:
        if stage != last["stage"] and stage in labels:
            print(f"efflab: {labels[stage]}…", file=sys.stderr, flush=True)
        last["stage"] = stage

    return show


def render(m: Measurement) -> str:
    """A readable multi-line summary of one measurement."""
    unc = f"±{m.energy_uncertainty_rel * 100:.0f} %"
    stat = f", ±{si(m.energy_j_per_query_ci, 'J')} run to run" if m.energy_j_per_query_ci is not None else ""
    how = (
        f"95 % re-run interval: {m.n_windows} window(s) + run spread {m.run_spread * 100:.1f} % ({m.run_spread_source})"
        if m.run_spread is not None
        else f"95 % CI from {m.n_windows} window(s)"
    )
    rows: list[tuple[str, str]] = [
        ("model", f"{m.model}  ({m.n_params / 1e6:.1f} M params, {nbytes(m.model_bytes)} at {m.precision})"),
        (
            "config",
            f"batch {m.batch_size} · {m.precision} · {m.device} · seq_len {m.seq_len} · task {m.task or '-'}",
        ),
        (
            "latency / batch",
            f"mean {si(m.latency_s, 's')} ± {si(m.latency_ci_s, 's')} ({how}, "
            f"{m.n_batches} batches) · median {si(m.latency_median_s, 's')} · p95 {si(m.latency_p95_s, 's')}",
        ),
        ("throughput", f"{m.throughput_qps:.1f} queries/s"),
        (
            "energy / query",
            f"{si(m.energy_j_per_query, 'J')} {unc}{stat}  [{m.energy_basis}, {m.energy_source}]",
        ),
        ("energy made of", _energy_parts(m)),
        (
            "per 1000 queries",
            f"{si(m.wh_per_1000_queries, 'Wh', 4)} · {si(m.co2e_g_per_1000_queries, 'g')} CO2e ({m.country}, "
            f"{m.carbon_intensity_g_per_kwh:.0f} g/kWh)",
        ),
        ("peak memory", nbytes(m.peak_mem_bytes)),
        (
            "FLOPs / query",
            f"{si(m.flops_per_query, 'FLOP')} · achieved {si(m.achieved_flops_per_s, 'FLOP/s')} · "
            f"MFU {m.mfu * 100:.1f} % of measured GEMM peak {si(m.gemm_peak_flops_per_s, 'FLOP/s')}"
            if m.mfu is not None
            else "not counted",
        ),
    ]
    from efflab.models.tokens import encoder_tokens_per_query, per_million_tokens

    tokens = encoder_tokens_per_query(
        m.model, m.seq_len, workload=m.workload, prompting=m.prompting, flops_per_query=m.flops_per_query
    )
    if tokens:
        rows.insert(
            rows.index(next(r for r in rows if r[0] == "per 1000 queries")) + 1,
            (
                "per 1M tokens",
                f"{si(per_million_tokens(m.wh_per_1000_queries / 1000, tokens), 'Wh')} · "
                f"{si(per_million_tokens(m.co2e_g_per_1000_queries / 1000, tokens), 'g')} CO2e "
                f"({tokens} tokens per query: padded to seq_len, padding counts)",
            ),
        )
    if m.workload == "generate":
        rows[1:4] = generation_rows(m)
    if m.accuracy is not None and m.accuracy_ci is not None:
        how = f", prompting: {m.prompting}" if m.prompting else ""
        rows.append(
            (
                "accuracy",
                f"{m.accuracy * 100:.1f} % (95 % CI {m.accuracy_ci[0] * 100:.1f}–"
                f"{m.accuracy_ci[1] * 100:.1f}, n={m.n_eval}, at {m.precision}{how})",
            )
        )
    fp = m.fingerprint
    other = f"{fp.other_cpu_share * 100:.0f} %" if fp.other_cpu_share is not None else "n/a"
    rows.append(("machine", f"{fp.hardware_key} · torch {fp.torch_version} · other processes' CPU {other}"))
    rows.append(("energy source", m.energy_detail))
    rows.append(("flags", ", ".join(m.flags) or "none"))
    if m.unstable_reason:
        rows.append(("unstable", m.unstable_reason))
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.rjust(w)}  {v}" for k, v in rows)


def _energy_parts(m: Measurement) -> str:
    """CPU / RAM / GPU parts, and for a model the watts it used, in plain words."""
    parts = [
        f"{name} {si(v, 'J')}"
        for name, v in (("CPU", m.energy_cpu_j), ("RAM", m.energy_ram_j), ("GPU", m.energy_gpu_j))
        if v is not None
    ]
    text = " + ".join(parts) if parts else "not broken down by this sensor"
    if m.energy_basis != "measured" and m.cpu_watts_per_thread is not None:
        matched = {
            True: "CodeCarbon knows this CPU",
            False: "CodeCarbon's generic fallback for an unknown CPU",
        }
        src = (
            "your watts"
            if m.energy_basis == "modelled (user watts)"
            else (matched[m.cpu_power_matched] if m.cpu_power_matched is not None else "CPU match unknown")
        )
        ram = f" + {m.ram_watts:g} W RAM x wall time" if m.ram_watts is not None else ""
        text += (
            f" · modelled from CPU time: {m.cpu_watts_per_thread:.3g} W per thread x "
            f"{si(m.cpu_seconds, 's')} CPU{ram} ({src}); on this machine energy ranks like latency"
        )
    return text


def generation_rows(m: Measurement) -> list[tuple[str, str]]:
    """The config and timing rows of a ``generate`` point (replacing the per-batch latency rows)."""
    ci = f" ± {si(m.itl_ci_s, 's')}" if m.itl_ci_s is not None else ""
    itl = (
        f"{si(m.itl_s, 's')}{ci} (p50 {si(m.itl_p50_s, 's')}, p95 {si(m.itl_p95_s, 's')})"
        if m.itl_s is not None
        else "none (1 new token: no decode step)"
    )
    return [
        (
            "config",
            f"generate {m.max_new_tokens} tokens · batch {m.batch_size} · {m.precision} · {m.device} · "
            f"prompt {m.prompt_tokens or 0:.0f} tokens · task {m.task or '-'}",
        ),
        (
            "TTFT (prefill)",
            f"{si(m.ttft_s, 's')} ± {si(m.ttft_ci_s, 's')} (95 % CI, p50 {si(m.ttft_p50_s, 's')}, "
            f"p95 {si(m.ttft_p95_s, 's')})",
        ),
        ("ITL (decode)", itl),
        (
            "throughput",
            f"{m.tokens_per_s or 0:.1f} output tokens/s · response {si(m.latency_s, 's')} · "
            f"J/token {si(m.energy_j_per_token, 'J')} · prefill {si(m.energy_prefill_j, 'J')} + "
            f"decode {si(m.energy_decode_j, 'J')} per response · KV cache {nbytes(m.kv_cache_bytes)}",
        ),
    ]
