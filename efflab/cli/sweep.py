"""``efflab sweep``: measure a grid into the store, resumably, with a progress bar."""

from __future__ import annotations

import _thread
import argparse
import contextlib
import math
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from efflab.format import si
from efflab.paths import default_store

EPILOG = """\
The default grid is five of the built-in family (tfidf-logreg, minilm-l2, minilm-l2-distilled,
minilm-l4, minilm-l6) x batch sizes 1, 32 x fp32, bf16, int8 on cpu, task reviews, plus the
general-purpose smollm2-135m scored by prompting at batch 1 and 4, fp32; --grid full is all seven
x batch sizes 1, 8, 32, 128. Combinations that can never run (tfidf-logreg in bf16 or int8) are
left out and said once. A spec file is YAML with the same fields, e.g.

  models: [minilm-l2, minilm-l6]
  batch_sizes: [1, 32]
  precisions: [fp32, int8]
  devices: [cpu]
  task: reviews
  method: {target_ci_rel: 0.02, max_window_s: 10}
  workloads: [classify, generate]      # generate: causal LMs only
  max_new_tokens: [1, 16, 64]          # output lengths of the generate points
  per_model: {smollm2-135m: {batch_sizes: [1, 4], precisions: [fp32, int8]}}

Re-running the same command measures only the points missing from the store (a crash or kill
loses at most the point in progress). Before it starts, the sweep says how many points it will
measure and about how long that takes; above 100 points or 2 hours it asks (or, when not run
from a terminal, needs --yes). Ctrl-C stops after the current point (it is stored, exit 130); a
second Ctrl-C stops at once. SIGTERM (docker stop, systemd, CI runners) does the same with exit
143. A failed point never replaces a stored measurement; a run whose every point failed exits 1.
One writer at a time writes to a store (a sweep, a report that measures, the lab's Measure).
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="measure a grid of configurations into the results store",
        description="Measure every configuration of a sweep spec that the store does not have yet.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", nargs="?", help="sweep spec YAML (default: the built-in family grid)")
    p.add_argument(
        "--grid",
        choices=("default", "full"),
        default=None,
        help="without a spec: the default grid (5 family models x batch 1, 32 x fp32, bf16, int8, plus the "
        "prompted LLM; minutes) or the full one (all 7 x batch 1, 8, 32, 128)",
    )
    p.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    p.add_argument("--models", help="comma-separated models, overriding the spec")
    p.add_argument("--batch-sizes", help="comma-separated batch sizes, overriding the spec")
    p.add_argument("--precisions", help="comma-separated precisions, overriding the spec")
    p.add_argument("--devices", help="comma-separated devices, overriding the spec")
    p.add_argument(
        "--cast", help="fp16/bf16 points: model (cast the weights) or autocast, overriding the spec"
    )
    p.add_argument("--sensor", help="energy sensor, overriding the spec (auto, nvml, rapl, codecarbon, fake)")
    p.add_argument(
        "--windows", help="timing windows per point, overriding the spec (default 5; 1 = one window)"
    )
    p.add_argument(
        "--target-ci", help="95%% CI half-width / mean of the windows a point aims at (default 0.05)"
    )
    p.add_argument(
        "--cpu-power", help="your CPU's full-load power in watts (energy: 'modelled (user watts)')"
    )
    p.add_argument("--ram-power", help="your RAM's power in watts")
    p.add_argument(
        "--threads",
        help="CPU threads: auto (default: a 1 s probe keeps one per core where it is clearly faster "
        "and steady, else 1), default (torch's, no probe) or a number; part of the cohort when not one per core",
    )
    p.add_argument(
        "--run-spread",
        help="drift between runs as a fraction of the mean, added to every interval "
        "(default: learned from the store's re-runs on this machine, else 0.06)",
    )
    p.add_argument(
        "--no-paired",
        action="store_true",
        help="skip the paired pass: the recommendation's contenders measured in interleaved rounds",
    )
    p.add_argument("--no-adaptive", action="store_true", dest="no_paired", help=argparse.SUPPRESS)
    p.add_argument(
        "--paired-budget",
        type=float,
        metavar="SECONDS",
        help="wall time the paired pass may take (default: a quarter of the first pass, 30-120 s)",
    )
    p.add_argument("--force", action="store_true", help="re-measure points already in the store")
    p.add_argument("--retry-failed", action="store_true", help="re-measure points stored as failed")
    p.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT: run points on its workers")
    p.add_argument("--local-cluster", type=int, metavar="N", help="run on a local Dask cluster of N workers")
    p.add_argument("--print-spec", action="store_true", help="print the resolved spec as YAML and exit")
    p.add_argument("--yes", "-y", action="store_true", help="start a large sweep without asking")
    p.set_defaults(func=run)


def load_spec(args: argparse.Namespace) -> Any:
    from efflab.errors import ConfigError
    from efflab.sweep import SweepSpec

    if args.spec and getattr(args, "grid", None):
        msg = f"give a spec file or --grid {args.grid}, not both"
        raise ConfigError(msg)
    if args.spec:
        spec = SweepSpec.from_yaml(Path(args.spec))
    else:
        spec = SweepSpec.full() if getattr(args, "grid", None) == "full" else SweepSpec()
    over: dict[str, Any] = {}
    for name in ("models", "batch_sizes", "precisions", "devices"):
        v = getattr(args, name)
        if v:
            over[name] = [x.strip() for x in v.split(",") if x.strip()]
    for name in ("sensor", "cast"):
        if getattr(args, name, None):
            over[name] = getattr(args, name)
    if any(
        getattr(args, k, None) is not None
        for k in ("windows", "target_ci", "cpu_power", "ram_power", "run_spread", "threads")
    ):
        from efflab.cli.measure import method_from_args

        args.min_window = args.max_window = None
        args.country = spec.method.country
        over["method"] = method_from_args(args, spec.method).to_dict()
    if over:
        d = spec.to_dict()
        d.update(over)
        # A grid given on the command line applies to every model, the per-model defaults included.
        d["per_model"] = {
            m: {k: v for k, v in o.items() if k not in over} for m, o in (d.get("per_model") or {}).items()
        }
        spec = SweepSpec.from_dict(d)
    return spec


class _StopFlag:
    """First Ctrl-C or SIGTERM: finish the point in progress, store it, then stop. A second: stop now.

    Stopping now raises KeyboardInterrupt once, and never inside a finalizer: one raised in a
    ``__del__`` (a tokenizer's regex objects are collected while a model loads) is printed as
    "Exception ignored in ..." and lost, so the sweep would go on. The signal is delivered again
    once the finalizer is left, and one lost all the same (a generator closed by the garbage
    collector) is caught by :meth:`unraisable` and delivered again, unprinted. Signals during the
    clean-up after that (closing the store, releasing its claim) are noted, not raised.
    """

    def __init__(self) -> None:
        self.requested = False
        self.now = False
        self.terminated = False  # a SIGTERM came: exit 143
        self._signum = signal.SIGINT
        self._raised = False

    def __call__(self) -> bool:
        return self.requested

    def cancel(self) -> bool:
        return self.now

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGTERM:
            self.terminated = True
        if not self.requested:
            self.requested = True
            how = (
                "terminated (SIGTERM): finishing the point in progress, then stopping (SIGTERM or Ctrl-C "
                "again to stop now)"
                if signum == signal.SIGTERM
                else "finishing the point in progress, then stopping (Ctrl-C again to stop now)"
            )
            print(f"\nefflab: {how}", file=sys.stderr, flush=True)
            return
        self.now = True
        self._signum = signal.Signals(signum)
        if self._raised:
            return  # already stopping: let the clean-up finish
        if _in_finalizer(frame):
            _thread.interrupt_main(signal.Signals(signum))  # runs this handler again at the next instruction
            return
        self._raised = True
        raise KeyboardInterrupt

    def unraisable(self, info: Any) -> None:
        """``sys.unraisablehook`` while sweeping: a KeyboardInterrupt of ours that a finalizer
        swallowed is delivered again, unprinted; anything else goes to the hook before."""
        if isinstance(info.exc_value, KeyboardInterrupt) and self._raised:
            self._raised = False
            _thread.interrupt_main(self._signum)
            return
        sys.__unraisablehook__(info)


def _in_finalizer(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside a ``__del__`` (where an exception is printed and dropped)."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


class _Stopping:
    """While a sweep runs: ``stop`` handles SIGINT and SIGTERM, and sees swallowed interrupts."""

    def __init__(self, stop: _StopFlag) -> None:
        self.stop = stop
        self._old: dict[int, Any] = {}
        self._old_hook: Any = None

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self.stop.handler)
        self._old_hook, sys.unraisablehook = sys.unraisablehook, self.stop.unraisable
        return self.stop

    def __exit__(self, *exc: object) -> None:
        sys.unraisablehook = self._old_hook
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _paired_budget(args: argparse.Namespace) -> float | None:
    """``--paired-budget`` in seconds (None: the default share of the first pass)."""
    from efflab.errors import ConfigError

    b = getattr(args, "paired_budget", None)
    if b is None:
        return None
    if not math.isfinite(b) or b < 0:
        msg = f"--paired-budget must be a number of seconds >= 0, got {b}; e.g. --paired-budget 60 (or --no-paired)"
        raise ConfigError(msg)
    return float(b)


def _check_cluster_args(args: argparse.Namespace) -> None:
    from efflab.errors import ConfigError

    if args.local_cluster is not None and args.local_cluster < 1:
        msg = f"--local-cluster must be a positive number of workers, got {args.local_cluster}; e.g. --local-cluster 2"
        raise ConfigError(msg)
    if args.scheduler is not None and args.local_cluster is not None:
        msg = "give either --scheduler tcp://HOST:PORT or --local-cluster N, not both"
        raise ConfigError(msg)
    if args.local_cluster is not None:
        from efflab.sweep.distributed import check_local_cluster

        check_local_cluster(args.local_cluster)  # at most what this machine's CPUs and memory can run
    if args.scheduler is not None:
        from efflab.sweep.distributed import probe_scheduler

        probe_scheduler(args.scheduler)  # its form, then that something listens there


def confirm_plan(
    n: int, total: int, low_s: float, high_s: float, *, yes: bool, always_ask: str | None = None
) -> None:
    """Say what a run will measure and about how long; above the thresholds (or when
    ``always_ask`` gives a reason) ask on a terminal, or refuse without ``--yes`` elsewhere.

    Raises:
        ConfigError: not confirmed.
    """
    from efflab.errors import ConfigError
    from efflab.sweep.spec import CONFIRM_POINTS, CONFIRM_SECONDS, duration_text

    stored = total - n
    plan = (
        f"{n} point{'s' * (n != 1)} ({stored} already in the store), "
        f"about {duration_text(low_s)}–{duration_text(high_s)}"
    )
    # The low estimate decides (the high one assumes every window runs to its cap and is re-measured).
    fine = yes or n == 0 or (always_ask is None and n <= CONFIRM_POINTS and low_s <= CONFIRM_SECONDS)
    if not fine and not sys.stdin.isatty():
        why = f"{always_ask}: " if always_ask else ""
        msg = f"{why}this run would measure {plan}; pass --yes to start it, or name fewer models, batch sizes or precisions"
        raise ConfigError(msg)
    print(f"efflab: will measure {plan}", file=sys.stderr, flush=True)
    if fine:
        return
    answer = input("efflab: start it? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        msg = "not started; name fewer models, batch sizes or precisions, or pass --yes"
        raise ConfigError(msg)


def _preflight(store_path: Path, spec: Any, args: argparse.Namespace) -> tuple[Any, Any, int, set[str]]:
    """Open the store and say (and confirm) what the sweep will measure, before anything is
    written: ``(open store, points to measure, keys stored ok)``. A store this call created is
    removed again when the sweep is refused (a busy store, not confirmed): a refused command
    leaves no new file.

    Raises:
        EfflabError: the store cannot be used, another sweep writes to it, or not confirmed.
    """
    from efflab.store import open_store
    from efflab.sweep.plan import pending_configs
    from efflab.sweep.spec import estimate_seconds

    files = [Path(str(store_path) + suffix) for suffix in ("", "-wal", "-shm")]
    existed = {f for f in files if f.exists()}
    store = None
    try:
        store = open_store(store_path)
        spec = _with_threads(spec, args, store)
        todo = pending_configs(spec, store, force=args.force, retry_failed=args.retry_failed)
        n_todo, ok_before = len(todo), store.keys(status="ok")
        if n_todo:
            store.check_no_other_sweep()  # a busy store is one line, and nothing is written yet
        confirm_plan(n_todo, len(spec), *estimate_seconds(spec, n_todo, todo), yes=args.yes)
        if n_todo:
            for model, left, why in spec.skipped():
                print(f"efflab: {model}: {', '.join(left)} left out ({why})", file=sys.stderr)
            _say_threads(spec)
        return store, spec, n_todo, ok_before
    except BaseException:
        if store is not None:
            store.close()
        if store_path not in existed:
            for f in files:
                if f not in existed and f.exists():
                    # A read-only or immutable folder: nothing was created there, and the
                    # refusal, not the clean-up, is what the user needs to read.
                    with contextlib.suppress(OSError):
                        f.unlink()
        raise


def _with_threads(spec: Any, args: argparse.Namespace, store: Any) -> Any:
    """The spec with its thread count decided: the user's, the one this store remembers for this
    machine (a re-run keeps its cohort), else the probe of ``--threads auto`` (said in one line, and
    remembered by the sweep). Dask workers keep torch's default (they run on other machines)."""
    import dataclasses

    from efflab.measuring.threads import from_memory, remembered_key, resolve_threads

    if args.scheduler is not None or args.local_cluster is not None:
        if spec.method.threads is None and not spec.method.threads_source:
            method = dataclasses.replace(spec.method, threads_source="torch's default on each worker")
            return dataclasses.replace(spec, method=method)
        return spec
    method = from_memory(spec.method, store.meta(remembered_key())) or resolve_threads(
        spec.method, spec.devices
    )
    return dataclasses.replace(spec, method=method)


def _say_threads(spec: Any) -> None:
    """One line on the thread count decided for this run, once it is going to start."""
    m = spec.method
    if m.threads_source.startswith("auto") or "kept from" in m.threads_source:
        n = m.threads or "torch's default"
        print(
            f"efflab: threads: {n} ({m.threads_source})", file=sys.stderr, flush=True
        )  # the sweep remembers it once it holds the store


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args)
    if args.print_spec:
        print(spec.to_yaml(), end="")
        return 0
    _check_cluster_args(args)
    _paired_budget(args)  # a bad budget is one line before anything runs
    store_path = args.store or default_store()
    import time

    from efflab.measuring.phases import Phases

    phases = Phases()
    t_start = time.monotonic()
    stop = _StopFlag()
    store, spec, n_todo, ok_before = _preflight(Path(store_path), spec, args)
    try:
        # The handlers stay until the store is closed: a signal during the clean-up cannot leave
        # its claim behind.
        with _Stopping(stop), store:
            if n_todo:
                store.claim_sweep()
            counts, kept, flagged, first_error = _measure(spec, store, args, stop, ok_before, phases)
    except KeyboardInterrupt:
        if not stop.terminated:
            raise  # efflab: interrupted, exit 130
        print(
            "efflab: terminated; the points stored so far are kept (the one in progress is not): run the "
            "same command again to finish",
            file=sys.stderr,
        )
        return 143
    done = counts["ok"] + counts["failed"] + counts["skipped"]
    kept_text = f", {kept} kept their stored measurement" if kept else ""
    print(
        f"efflab: {counts['ok']} measured, {counts['failed']} failed{kept_text}, {counts['skipped']} already in the "
        f"store ({done}/{len(spec)}), {counts['paired']} paired pass(es) -> {store_path}",
        file=sys.stderr,
    )
    if counts["paired"] == 0 and counts["ok"] and not getattr(args, "no_paired", False):
        print(
            "efflab: no paired pass needed: each cohort's recommendation is clear from the points' own intervals",
            file=sys.stderr,
        )
    if phases.seconds:
        print(f"efflab: {phases.summary(time.monotonic() - t_start)}", file=sys.stderr)
    if flagged and spec.method.threads is None and any(d == "cpu" for d in spec.devices):
        print(
            f"efflab: {flagged} point(s) disturbed or unstable. On a VM whose vCPUs the host shares, the "
            "second thread comes and goes: --threads 1 measures steadier (its own cohort; docs/limits.md)",
            file=sys.stderr,
        )
    if (
        stop.requested
    ):  # interrupted: exit 130 (143 for SIGTERM) even when the last point was the one finished
        if done < len(spec):
            print("efflab: stopped early; run the same command again to finish", file=sys.stderr)
        return 143 if stop.terminated else 130
    if counts["failed"] and not counts["ok"]:
        print(
            f"efflab: every point this run measured failed ({counts['failed']}; the first: {first_error}); "
            "nothing new was stored as measured",
            file=sys.stderr,
        )
        return 1
    return 0


def _measure(
    spec: Any, store: Any, args: argparse.Namespace, stop: _StopFlag, ok_before: set[str], phases: Any = None
) -> tuple[dict[str, int], int, int, str]:
    """Run the sweep, printing one line per point: ``(counts by status, failed points whose stored
    measurement was kept, flagged points, the first error)``."""
    from tqdm import tqdm

    from efflab.records import Flag
    from efflab.sweep import iter_sweep

    counts = {"ok": 0, "failed": 0, "skipped": 0, "paired": 0}
    kept = 0
    flagged = 0
    first_error = ""
    if args.scheduler is not None or args.local_cluster is not None:
        from efflab.sweep.distributed import iter_sweep_distributed

        stream = iter_sweep_distributed(
            spec,
            store,
            scheduler=args.scheduler,
            local_cluster=args.local_cluster,
            force=args.force,
            retry_failed=args.retry_failed,
            should_stop=stop,
        )
    else:
        stream = iter_sweep(
            spec,
            store,
            phases=phases,
            force=args.force,
            retry_failed=args.retry_failed,
            should_stop=stop,
            should_cancel=stop.cancel,
            paired=not getattr(args, "no_paired", False),
            paired_budget_s=_paired_budget(args),
        )
    bar = tqdm(
        total=len(spec),
        unit="pt",
        desc="sweep",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=not sys.stderr.isatty(),
    )
    for r in stream:
        counts[str(r.status)] = counts.get(str(r.status), 0) + 1
        c = r.config
        name = f"{c.model} b{c.batch_size} {c.precision} {c.device}"
        if r.status == "paired" and r.paired is not None:
            bar.write(f"paired  {r.paired.summary()}", file=sys.stderr)
            for why in r.paired.skipped:
                bar.write(f"paired  left out: {why}", file=sys.stderr)
            continue
        if r.status == "ok" and r.measurement is not None:
            m = r.measurement
            acc = f" acc {m.accuracy * 100:.1f}%" if m.accuracy is not None else ""
            kind = "meas" if m.energy_measured else "model"
            odd = [f for f in (Flag.UNSTABLE.value, Flag.DISTURBED.value) if f in m.flags]
            flagged += bool(odd)
            note = f" [{', '.join(odd)}: left out of decisions]" if odd else ""
            bar.write(
                f"ok      {name}: {si(m.latency_s, 's')}/batch ±{m.latency_ci_s / m.latency_s * 100:.1f}% "
                f"({m.n_windows} windows) {m.throughput_qps:.0f} q/s {si(m.wh_per_1000_queries, 'Wh')}/1000q "
                f"({kind}){acc}{note}",
                file=sys.stderr,
            )
        elif r.status == "failed":
            first_error = first_error or f"{name}: {r.error}"
            note = ""
            if r.key in ok_before:
                kept += 1
                note = " (the stored measurement was kept)"
            bar.write(f"failed  {name}: {r.error}{note}", file=sys.stderr)
        bar.update(1)
    bar.close()
    return counts, kept, flagged, first_error
