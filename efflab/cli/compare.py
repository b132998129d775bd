"""``efflab compare A B``: two configurations measured in interleaved rounds (or read from the store),
compared per metric with a 95 % interval and a verdict, like a benchmark comparer."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from pathlib import Path
from typing import Any

from efflab.config import DEFAULT_SEQ_LEN, DEFAULT_TASK, DEFAULT_TOLERANCE
from efflab.errors import ConfigError
from efflab.paths import default_store

EPILOG = """\
arms: MODEL:BATCH:PRECISION (e.g. minilm-l4:8:fp32) to measure now, or two store keys
(`efflab results list` shows them) to compare what is stored.

examples:
  efflab compare minilm-l4:8:fp32 minilm-l4:8:bf16            # measure both, interleaved
  efflab compare minilm-l4:8:fp32 minilm-l4:8:fp32            # A/A: should say "no clear difference"
  efflab compare minilm-l2:32:int8 minilm-l3:32:int8 --rounds 30 --json
  efflab compare KEY_A KEY_B --store data/results.sqlite       # two stored points
  efflab compare main:32:fp32 ./candidate:32:fp32 --fail energy:5%   # a CI gate: exit 1 on a regression

method: both arms are loaded at once; each round visits both in a fresh random order (one warm-up
batch, then whole batches for --visit seconds in one sensor window). B / A per round gives a paired
log-ratio; their mean and spread give the ratio and its 95 % interval. A round in which either visit
was disturbed (a burst of other work) is dropped for both. Without --rounds the run looks at rounds 12,
24, 48 and 96 and stops once energy and latency are settled, or after --seconds; its intervals are then
corrected for those looks (repeated confidence intervals, Pocock). With --rounds N it runs N rounds and
looks once.
verdicts (B against A): lower, higher, equivalent (the whole interval within ±--margin), no clear
difference. --fail METRIC:THRESHOLD exits 1 only when B is significantly worse than A on METRIC and
by more than THRESHOLD (energy, latency, throughput in %, accuracy in pt). Exit 0 otherwise, 2 for bad
input, 130 when interrupted.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two configurations: ratio, 95 %% interval and verdict per metric (paired rounds)",
        description="Compare configuration B against A on energy and latency per query, throughput and "
        "accuracy, from randomized interleaved rounds measured now, or from the store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("arms", nargs="*", metavar="ARM", help="A and B: MODEL:BATCH:PRECISION or a store key")
    p.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    p.add_argument("--rounds", default=None, help="run exactly N interleaved rounds (>= 2), looking once")
    p.add_argument(
        "--seconds", default=None, help="time budget of the rounds in seconds (default 60; sequential run)"
    )
    p.add_argument("--visit", default=None, help="timed seconds per visit (default 0.4)")
    p.add_argument("--margin", default=None, help="equivalence margin for energy and latency (default 3%%)")
    p.add_argument(
        "--tolerance",
        default=None,
        help=f"equivalence margin for accuracy, in points (default {DEFAULT_TOLERANCE * 100:g}pt)",
    )
    p.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="METRIC:THRESHOLD",
        help="exit 1 when B is significantly worse than A by more than THRESHOLD (repeatable), "
        "e.g. energy:5%% or accuracy:1pt",
    )
    p.add_argument(
        "--allow-cross",
        action="store_true",
        help="compare stored points from different hardware, sensors or energy bases",
    )
    p.add_argument("--task", default=DEFAULT_TASK, help=f"task for accuracy (default {DEFAULT_TASK})")
    p.add_argument("--no-task", action="store_true", help="compare cost only (no accuracy)")
    p.add_argument("--device", default="cpu", help="device of both arms (default cpu)")
    p.add_argument("--seq-len", default=DEFAULT_SEQ_LEN, help=f"tokens per query (default {DEFAULT_SEQ_LEN})")
    p.add_argument("--sensor", default="auto", help="energy sensor (default auto)")
    p.add_argument("--threads", default=None, help="CPU threads: auto (default, a 1 s probe) or a number")
    p.add_argument("--seed", default=None, help="seed of the random visiting orders")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object (stable keys) instead of a table"
    )
    p.set_defaults(func=run)


def _positive(flag: str, raw: Any, *, integer: bool = False, minimum: float = 0.0) -> float:
    text = str(raw).strip().rstrip("%").strip() if flag == "--margin" else str(raw).strip()
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    ok = math.isfinite(v) and v > minimum and (v.is_integer() if integer else True)
    if not ok:
        what = "a whole number" if integer else "a number"
        bound = f">= {minimum + 1:g}" if integer else f"> {minimum:g}"
        example = {"--rounds": "30", "--seconds": "60", "--visit": "0.4", "--margin": "3%", "--seed": "1"}[
            flag
        ]
        msg = f"{flag} must be {what} {bound}, got {str(raw)!r}; e.g. {flag} {example}"
        raise ConfigError(msg)
    return v


def _is_key(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text.lower())


def parse_arm(text: str, *, device: str, seq_len: Any) -> Any:
    """``MODEL:BATCH:PRECISION`` as a Config (the model may be a folder path with ':' in it: the last
    two fields are batch and precision).

    Raises:
        ConfigError: not of that form, or a bad batch size or precision (naming the fix).
    """
    from efflab.config import Config

    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[0].strip():
        msg = f"arm {text!r} is not MODEL:BATCH:PRECISION (e.g. minilm-l4:8:fp32) or a store key"
        raise ConfigError(msg)
    return Config(model=parts[0], batch_size=parts[1], precision=parts[2], device=device, seq_len=seq_len)  # type: ignore[arg-type]


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nefflab: finishing with the rounds done so far (Ctrl-C again to stop now)", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from efflab.analysis.compare import parse_gate
    from efflab.options import parse_tolerance

    if len(args.arms) != 2:
        got = "no arm" if not args.arms else f"{len(args.arms)} arm(s) ({' '.join(args.arms)})"
        msg = f"efflab compare needs two arms A and B, got {got}; e.g. efflab compare minilm-l4:8:fp32 minilm-l4:8:bf16"
        raise ConfigError(msg)
    gates = [parse_gate(g) for g in args.fail]
    tolerance = parse_tolerance(args.tolerance) if args.tolerance is not None else DEFAULT_TOLERANCE
    margin = _positive("--margin", args.margin) / 100 if args.margin is not None else None
    rounds = (
        int(_positive("--rounds", args.rounds, integer=True, minimum=1)) if args.rounds is not None else None
    )
    seconds = _positive("--seconds", args.seconds) if args.seconds is not None else None
    visit = _positive("--visit", args.visit) if args.visit is not None else 0.4
    seed = int(_positive("--seed", args.seed, integer=True, minimum=-1)) if args.seed is not None else None
    a_txt, b_txt = args.arms
    store_path = Path(args.store or default_store())
    if _is_key(a_txt) and _is_key(b_txt):
        if rounds is not None or seconds is not None:
            msg = "--rounds and --seconds measure configurations; two store keys are read from the store as they are"
            raise ConfigError(msg)
        result = _stored(store_path, a_txt, b_txt, tolerance, args.allow_cross)
    else:
        result = _measured(args, a_txt, b_txt, store_path, tolerance, margin, rounds, seconds, visit, seed)
        if result is None:
            return 130
    checked = result.gate(gates)
    if args.json:
        print(json.dumps(result.to_json(gates), sort_keys=True, indent=2))
    else:
        print(render(result))
        for g, failed, by in checked:
            if by is None:
                print(f"gate {g.text}: no {g.metric} figure to check")
            elif failed:
                unit = "pt" if g.metric == "accuracy" else "%"
                print(
                    f"gate {g.text}: FAILED — B is worse than A by {by:.1f} {unit} (significant, above {g.text})"
                )
            else:
                print(f"gate {g.text}: passed")
    if any(failed for _, failed, _ in checked):
        return 1
    return 130 if result.stopped == "interrupted" else 0


def _stored(store_path: Path, a: str, b: str, tolerance: float, allow_cross: bool) -> Any:
    from efflab.analysis.compare import compare_stored
    from efflab.analysis.paired import load_pairings
    from efflab.store import load_results
    from efflab.store.sqlite import Store

    with Store(store_path, readonly=True) as st:
        df = load_results(st)
        pairings = load_pairings(st, {a, b})
    rows = {}
    for k in (a, b):
        hit = df[df["key"] == k]
        if hit.empty:
            msg = f"no point {k!r} in {str(store_path)!r}; `efflab results list --store {store_path}` shows the keys"
            raise ConfigError(msg)
        r = hit.iloc[0]
        if r["status"] != "ok":
            msg = f"point {k!r} failed ({r['error']}); pick a point with status ok"
            raise ConfigError(msg)
        rows[k] = r
    return compare_stored(rows[a], rows[b], pairings, tolerance=tolerance, allow_cross=allow_cross)


def _measured(
    args: argparse.Namespace,
    a_txt: str,
    b_txt: str,
    store_path: Path,
    tolerance: float,
    margin: float | None,
    rounds: int | None,
    seconds: float | None,
    visit: float,
    seed: int | None,
) -> Any:
    from efflab.analysis.paired import DEFAULT_MARGIN
    from efflab.cli.measure import method_from_args
    from efflab.config import parse_device
    from efflab.measuring.carbon import carbon_intensity_g_per_kwh
    from efflab.measuring.fingerprint import hardware_key
    from efflab.measuring.measure import load_task
    from efflab.measuring.rounds import LOOK_ROUNDS, RoundsPlan
    from efflab.models import resolve_model
    from efflab.models.registry import model_identity
    from efflab.models.runners import check_device
    from efflab.sensors import make_sensor
    from efflab.store import open_store
    from efflab.sweep.compare import measure_pair
    from efflab.sweep.run import point_key, sensor_key, task_id

    device = parse_device(args.device)
    if _is_key(a_txt) or _is_key(b_txt):
        msg = "give both arms as MODEL:BATCH:PRECISION to measure them, or both as store keys to read them"
        raise ConfigError(msg)
    cfgs = [parse_arm(t, device=device, seq_len=args.seq_len) for t in (a_txt, b_txt)]
    plan = RoundsPlan(
        visit_s=visit, rounds=rounds, budget_s=seconds if seconds is not None else 60.0, seed=seed
    )
    from efflab.measuring.threads import resolve_threads

    method = resolve_threads(method_from_args(args), (device,))
    carbon_intensity_g_per_kwh(method.country)
    for c in cfgs:
        resolve_model(c.model, progress=False)  # an unknown model is one line, before anything loads
        if c.model.lower() != "tfidf-logreg":
            check_device(c.device, c.precision)
    task = None if args.no_task else load_task(args.task)
    hardware = hardware_key(device, method.threads)
    sensor = make_sensor(args.sensor, device=device, country=method.country)
    tid = task_id(task)
    skey = sensor_key(args.sensor, device)
    keys = tuple(point_key(c, model_identity(c.model), hardware, tid, sensor=skey) for c in cfgs)
    store = open_store(store_path)
    stop = _Stop()
    old = signal.signal(signal.SIGINT, stop.handler)
    quiet = args.json or not sys.stderr.isatty()
    try:
        store.check_no_other_sweep()
        store.claim_sweep()
        bar = None
        if not quiet:
            from tqdm import tqdm

            bar = tqdm(
                total=rounds or LOOK_ROUNDS[-1], unit="round", desc="compare", file=sys.stderr, leave=False
            )

        def on_round(n: int, visits: Any) -> None:
            if bar is not None:
                bar.update(1)

        def on_stage(text: str) -> None:
            if not args.json:
                print(f"efflab: {text}", file=sys.stderr, flush=True)

        result, _ = measure_pair(
            cfgs[0],
            cfgs[1],
            keys=keys,  # type: ignore[arg-type]
            task=task,
            sensor=sensor,
            method=method,
            plan=plan,
            hardware=hardware,
            tolerance=tolerance,
            margin=DEFAULT_MARGIN if margin is None else margin,
            store=store,
            should_stop=stop,
            on_round=on_round,
            on_stage=on_stage,
        )
        if bar is not None:
            bar.close()
    finally:
        signal.signal(signal.SIGINT, old)
        sensor.close()
        store.close()
    return result


def render(result: Any) -> str:
    """The comparison as a table with a heading, like a benchmark comparer."""
    from efflab import format as fmt
    from efflab.analysis.compare import describe

    names = {
        "energy": "energy / query",
        "latency": "latency / query",
        "throughput": "throughput",
        "accuracy": "accuracy",
    }
    values = {
        "energy": lambda x: fmt.si(x / 3600 * 1000, "Wh") + "/1000q",
        "latency": lambda x: fmt.si(x, "s"),
        "throughput": lambda x: f"{fmt.sig(x, 3)} q/s",
        "accuracy": fmt.percent,
    }
    rows = []
    for m in ("energy", "latency", "throughput", "accuracy"):
        c = result.comparisons.get(m)
        if c is None:
            continue
        diff, span, verdict = describe(c)
        rows.append([names[m], values[m](c.a_value), values[m](c.b_value), diff, span, verdict.split(":")[0]])
    head = f"B = {result.b_label}  against  A = {result.a_label}"
    if result.basis == "paired":
        dropped = f" ({result.dropped} dropped as disturbed)" if result.dropped else ""
        wall = f" in {result.wall_s:.0f} s" if result.wall_s else ""
        how = f"paired: {result.rounds} interleaved rounds{dropped}{wall}"
    else:
        how = "not paired: compared by their re-run intervals"
    where = result.hardware[0] + (
        f" / {result.hardware[1]}" if result.hardware[1] != result.hardware[0] else ""
    )
    energy = result.energy_basis[0] + (
        f" / {result.energy_basis[1]}" if result.energy_basis[1] != result.energy_basis[0] else ""
    )
    lines = [
        head,
        f"{how}; {where}; energy {energy} ({result.sensor[0]})",
        "",
        fmt.table(rows, ["metric", "A", "B", "B vs A", "95 % interval", "verdict"]),
    ]
    lines.extend(result.notes)
    return "\n".join(lines)
