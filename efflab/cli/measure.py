"""``efflab measure``: measure one configuration and print a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from efflab.config import DEVICES, PRECISIONS, Config, MethodSettings
from efflab.format import nbytes, si
from efflab.records import Measurement

EPILOG = """\
examples:
  efflab measure                                   # minilm-l6, batch 32, fp32, cpu, task reviews
  efflab measure --model minilm-l2 --precision int8 --batch-size 8
  efflab measure --model ./my-model-folder --no-task --json
energy: 'measured' figures come from hardware counters (nvml, rapl); 'estimated' ones from
CodeCarbon's TDP x load model, the usual case in VMs. Every figure says which.
"""


def add_method_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("method")
    g.add_argument(
        "--sensor", default="auto", help="energy sensor: auto, nvml, rapl, codecarbon, fake (default auto)"
    )
    g.add_argument(
        "--target-ci", type=float, default=0.02, help="stop at this 95%% CI half-width / mean (default 0.02)"
    )
    g.add_argument(
        "--min-window", type=float, default=None, help="minimum timed window, s (default 1 CPU, 5 GPU)"
    )
    g.add_argument(
        "--max-window", type=float, default=10.0, help="time cap of the timed window, s (default 10)"
    )
    g.add_argument("--country", default="USA", help="ISO alpha-3 code for CO2e intensity (default USA)")


def method_from_args(args: argparse.Namespace) -> MethodSettings:
    return MethodSettings(
        target_ci_rel=args.target_ci,
        min_window_s=args.min_window,
        max_window_s=args.max_window,
        country=args.country,
    )


def register(sub: Any) -> None:
    p = sub.add_parser(
        "measure",
        help="measure one configuration (latency, energy, memory, FLOPs, accuracy)",
        description="Measure one model configuration on this machine: warm-up, adaptive repetitions until the "
        "95%% CI of the mean batch latency is within the target, energy over the timed window, peak memory, "
        "FLOPs and MFU, and accuracy on the task at the same precision.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        "-m",
        default="minilm-l6",
        help="zoo name (efflab zoo list), HF folder or hub id (default minilm-l6)",
    )
    p.add_argument("--batch-size", "-b", default="32", help="queries per forward pass (default 32)")
    p.add_argument("--precision", "-p", default="fp32", help=f"one of {', '.join(PRECISIONS)} (default fp32)")
    p.add_argument(
        "--device", "-d", default="cpu", help=f"one of {', '.join(DEVICES)} or cuda:N (default cpu)"
    )
    p.add_argument(
        "--seq-len", default="128", help="tokens per query; inputs padded/truncated to it (default 128)"
    )
    p.add_argument(
        "--cast",
        default="model",
        help="for fp16/bf16: 'model' casts the weights, 'autocast' runs torch.autocast over fp32 weights",
    )
    t = p.add_mutually_exclusive_group()
    t.add_argument("--task", default="reviews", help="task name or CSV path for accuracy (default reviews)")
    t.add_argument("--no-task", action="store_true", help="measure cost only, no accuracy")
    add_method_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from efflab.measuring.measure import measure

    cfg = Config(
        model=args.model,
        batch_size=args.batch_size,
        precision=args.precision,
        device=args.device,
        seq_len=args.seq_len,
        task=None if args.no_task else args.task,
        cast=args.cast,
    )
    method = method_from_args(args)
    progress = _stage_printer() if sys.stderr.isatty() or not args.json else None
    m = measure(cfg, sensor=args.sensor, method=method, progress=progress)
    if args.json:
        print(json.dumps(m.to_dict()))
    else:
        print(render(m))
    return 0


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
    kind = "measured" if m.energy_measured else "ESTIMATED"
    unc = f"±{m.energy_uncertainty_rel * 100:.0f} %"
    rows: list[tuple[str, str]] = [
        ("model", f"{m.model}  ({m.n_params / 1e6:.1f} M params, {nbytes(m.model_bytes)} at {m.precision})"),
        (
            "config",
            f"batch {m.batch_size} · {m.precision} · {m.device} · seq_len {m.seq_len} · task {m.task or '-'}",
        ),
        (
            "latency / batch",
            f"{si(m.latency_s, 's')} ± {si(m.latency_ci_s, 's')} (95 % CI, {m.n_batches} batches, "
            f"p50 {si(m.latency_p50_s, 's')}, p95 {si(m.latency_p95_s, 's')})",
        ),
        ("throughput", f"{m.throughput_qps:.1f} queries/s"),
        ("energy / query", f"{si(m.energy_j_per_query, 'J')} {unc}  [{kind}, {m.energy_source}]"),
        (
            "per 1000 queries",
            f"{m.wh_per_1000_queries:.4g} Wh · {m.co2e_g_per_1000_queries:.3g} g CO2e ({m.country}, "
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
    if m.accuracy is not None and m.accuracy_ci is not None:
        rows.append(
            (
                "accuracy",
                f"{m.accuracy * 100:.1f} % (95 % CI {m.accuracy_ci[0] * 100:.1f}–"
                f"{m.accuracy_ci[1] * 100:.1f}, n={m.n_eval}, at {m.precision})",
            )
        )
    fp = m.fingerprint
    other = f"{fp.other_cpu_share * 100:.0f} %" if fp.other_cpu_share is not None else "n/a"
    rows.append(("machine", f"{fp.hardware_key} · torch {fp.torch_version} · other processes' CPU {other}"))
    rows.append(("energy source", m.energy_detail))
    rows.append(("flags", ", ".join(m.flags) or "none"))
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.rjust(w)}  {v}" for k, v in rows)
