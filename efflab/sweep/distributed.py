"""Sweeps across machines: each point is a Dask task on a worker that holds a ``measure`` resource.

The grid is handed to Dask distributed; efflab does not schedule anything itself. Each worker
offers ``measure=1`` (``dask worker ... --resources measure=1``) and every point asks for it, so
at most one measurement runs per worker, i.e. per machine's power domain when each machine runs one
worker. The worker measures the point with the same code as a local sweep and returns the record
with the key of its own hardware and library versions; the client is the only writer of the store
and commits each point, one transaction per point, as it completes.

Resume rule: before submitting anything the client asks every ``measure`` worker for the key it
would give each configuration (hardware, library versions, model identity, task content). A
configuration is done when the store holds it under any of those keys. With identical workers
there is one key per configuration, the same key a local sweep on such a machine gives it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import socket
import sys
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from efflab.config import Config
from efflab.errors import ClusterError, ConfigError, EfflabError, point_error
from efflab.records import Flag
from efflab.store.sqlite import Store
from efflab.sweep.run import (
    PointMeasurer,
    PointResult,
    hardware_key,
    point_key,
    sensor_key,
    task_id,
)
from efflab.sweep.spec import SweepSpec

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as _e:  # an optional extra: say how to get it, in one line
    _msg = "sweeps on Dask need the distributed extra: pip install 'efflab[distributed]'"
    raise ClusterError(_msg) from _e

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

    from efflab.tasks import Task

RESOURCE = "measure"
"""The Dask worker resource a point holds while it is measured."""

SHARED_HOST_FLAG = Flag.SHARED_HOST.value
"""Flag of a point measured on a host where several ``measure`` workers ran at the same time."""

__all__ = [
    "RESOURCE",
    "SHARED_HOST_FLAG",
    "ClusterError",
    "check_local_cluster",
    "iter_sweep_distributed",
    "local_cluster_limit",
    "start_local_cluster",
]


# ----------------------------------------------------------------------------- worker side


def _release_dask_thread_cap() -> None:
    """Give torch the machine's threads back when Dask's Nanny capped them at spawn.

    The Nanny sets ``OMP_NUM_THREADS=1`` (``distributed.nanny.pre-spawn-environ``) so that many
    tasks can share a worker; a ``measure`` worker runs one point on the whole machine, and a point
    must run with the threads a local sweep uses or it measures another configuration. torch's
    inter-op pool keeps its default size (the machine's cores) whatever that variable says.
    """
    import dask

    capped = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    value = capped.get("OMP_NUM_THREADS")
    if value is None or os.environ.get("OMP_NUM_THREADS") != str(value):
        return  # not set by the Nanny: the user's choice (or no cap) stands
    import torch

    n = torch.get_num_interop_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@dataclass(frozen=True)
class _WorkerView:
    """How one worker sees a sweep: its key for each configuration, its hardware, its model ids."""

    keys: tuple[str, ...]
    hardware: dict[str, str]
    model_ids: dict[str, str]
    host: str


class _Slot:
    """What one worker keeps between the points of one sweep: the task, one loaded runner, sensors.

    A point is measured under the lock, so two points never overlap on one worker even if it was
    started with ``measure`` > 1 or several threads.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.closing = False
        self._task: tuple[str | None, Task | None, str | None] | None = None
        self._identities: dict[str, str] = {}
        self._measurers: dict[tuple[str, str], PointMeasurer] = {}

    def task(self, spec_task: str | None) -> tuple[Task | None, str | None]:
        from efflab.measuring.measure import load_task

        if self._task is None or self._task[0] != spec_task:
            task = load_task(spec_task)
            self._task = (spec_task, task, task_id(task))
        return self._task[1], self._task[2]

    def identity(self, model: str) -> str:
        from efflab.models.registry import model_identity

        if model not in self._identities:
            self._identities[model] = model_identity(model)
        return self._identities[model]

    def view(self, spec: SweepSpec, configs: list[Config]) -> _WorkerView:
        with self.lock:
            _, task_id = self.task(spec.task)
            ids = {m: self.identity(m) for m in spec.models}
            hw = {d: hardware_key(d, spec.method.threads) for d in spec.devices}
            sensors = {d: sensor_key(spec.sensor, d) for d in spec.devices}
            keys = tuple(
                point_key(c, ids[c.model], hw[c.device], task_id, sensor=sensors[c.device]) for c in configs
            )
            return _WorkerView(keys, hw, ids, socket.gethostname())

    def _measurer(self, sensor: str, country: str) -> PointMeasurer:
        k = (sensor, country)
        if k not in self._measurers:
            self._measurers[k] = PointMeasurer(sensor, country)
        return self._measurers[k]

    def measure(self, spec: SweepSpec, cfg: Config) -> dict[str, Any]:
        """Measure one point; return a dict: key, hardware, model id, host, the Measurement or error."""

        with self.lock:
            try:
                _release_dask_thread_cap()
                task, task_id = self.task(spec.task)
                identity = self.identity(cfg.model)
                hardware = hardware_key(cfg.device, spec.method.threads)
                key = point_key(cfg, identity, hardware, task_id, sensor=sensor_key(spec.sensor, cfg.device))
                # the record itself, not to_dict(): JSON turns NaN into None, and the caller must
                # see what a local sweep yields
                record, err = self._measurer(spec.sensor, spec.method.country).measure(cfg, task, spec.method)
                return {
                    "key": key,
                    "hardware": hardware,
                    "model_id": identity,
                    "host": socket.gethostname(),
                    "measurement": record,
                    "error": err,
                }
            finally:
                if self.closing:
                    self._close()

    def close(self) -> None:
        """Release the runner and sensors now, or after the point in progress."""
        if self.lock.acquire(blocking=False):
            try:
                self._close()
            finally:
                self.lock.release()
        else:
            self.closing = True

    def _close(self) -> None:
        for m in self._measurers.values():
            m.close()
        self._measurers = {}


class _SlotPlugin(WorkerPlugin):
    """Keeps one :class:`_Slot` per worker for the length of one sweep (unregistered at its end)."""

    def __init__(self) -> None:
        self.slot: _Slot | None = None

    def setup(self, worker: Any) -> None:
        self.slot = _Slot()

    def teardown(self, worker: Any) -> None:
        if self.slot is not None:
            self.slot.close()


def _worker_slot(plugin_name: str) -> tuple[_Slot, bool]:
    """This worker's slot for the sweep, and whether the caller owns it (no plugin: a fresh one)."""
    from distributed import get_worker

    plugin = get_worker().plugins.get(plugin_name)
    if isinstance(plugin, _SlotPlugin) and plugin.slot is not None:
        return plugin.slot, False
    return _Slot(), True


def _probe_task(spec: SweepSpec, configs: list[Config], plugin_name: str) -> _WorkerView:
    slot, own = _worker_slot(plugin_name)
    try:
        return slot.view(spec, configs)
    finally:
        if own:
            slot.close()


def _point_task(spec: SweepSpec, cfg: Config, plugin_name: str) -> dict[str, Any]:
    slot, own = _worker_slot(plugin_name)
    try:
        return slot.measure(spec, cfg)
    finally:
        if own:
            slot.close()


def dask_setup(worker: Any) -> None:
    """Preload of the workers of ``--local-cluster``: leave Ctrl-C to the client.

    A terminal's Ctrl-C reaches the whole process group; the client turns it into "stop after the
    points in flight", which needs the workers to finish those points rather than die.
    """
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# ----------------------------------------------------------------------------- client side


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


_UNCAPPED = {
    f"distributed.nanny.pre-spawn-environ.{v}": None
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
}


# Memory one local measure worker needs, an estimate: a Python process with torch, transformers
# and Dask imported holds about 0.26 GiB, one with MiniLM-L6 loaded about 0.6 GiB (measured on the
# project's VM); a larger model needs more, and check_fits refuses its points before they load.
LOCAL_WORKER_BYTES = 1 << 30


def local_cluster_limit() -> tuple[int, str]:
    """The most ``measure`` workers a local cluster may start on this machine, and what bounds it.

    One worker per CPU this process may run on (a second worker on a CPU only slows both and
    overlaps their power), and no more than the memory available now holds at
    ``LOCAL_WORKER_BYTES`` each. Always at least 1.
    """
    import psutil

    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    cpus = max(1, cpus)
    available = int(psutil.virtual_memory().available)
    by_memory = max(1, available // LOCAL_WORKER_BYTES)
    if by_memory < cpus:
        return by_memory, (
            f"the {available / 2**30:.1f} GiB of memory available now, at about "
            f"{LOCAL_WORKER_BYTES / 2**30:g} GiB per worker"
        )
    return cpus, f"one worker per CPU: this process may use {cpus} CPU{'s' * (cpus != 1)}"


def check_local_cluster(n_workers: object) -> int:
    """``n_workers`` when it is a whole number from 1 to :func:`local_cluster_limit`.

    Raises:
        ConfigError: not a positive whole number, or more workers than this machine can run (the
            message says whether CPUs or memory bound it).
    """
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        msg = (
            f"--local-cluster must be a positive number of workers, got {n_workers!r}; e.g. --local-cluster 2"
        )
        raise ConfigError(msg)
    limit, why = local_cluster_limit()
    if n_workers > limit:
        msg = (
            f"--local-cluster {n_workers} is more workers than this machine can run: at most {limit} "
            f"({why}); use --local-cluster 1 to {limit}, or start workers on more machines and pass "
            "--scheduler tcp://HOST:PORT"
        )
        raise ConfigError(msg)
    return n_workers


def start_local_cluster(n_workers: int) -> LocalCluster:
    """A Dask cluster of ``n_workers`` measure workers on this machine, bound to 127.0.0.1.

    Each worker is a process with one thread and ``measure=1``. Its threads are not capped: the
    Nanny's default ``OMP_NUM_THREADS=1`` would change what is measured, and the Nanny writes it
    into this process's environment too (where a later local measurement would inherit it).

    Raises:
        ClusterError: the cluster could not start.
    """
    import dask
    from distributed import LocalCluster

    try:
        with dask.config.set(_UNCAPPED):
            return LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                resources={RESOURCE: 1},
                host="127.0.0.1",
                dashboard_address=None,
                # no dashboard; the scheduler's HTTP routes still listen: on a free port, not 8787
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                # a measure worker owns its machine: Dask's share of memory per worker would
                # pause or kill a worker that loads a large model
                memory_limit=0,
                preload=["efflab.sweep.distributed"],
                silence_logs=logging.ERROR,
            )
    except (OSError, RuntimeError, TimeoutError) as e:
        msg = f"cannot start a local Dask cluster of {n_workers} workers: {_first_line(e)}"
        raise ClusterError(msg) from e


_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")


def check_scheduler_address(address: str) -> str:
    """Validate a scheduler address before connecting: ``SCHEME://HOST:PORT`` with a port in 1-65535.

    Raises:
        ConfigError: no scheme, no host, no port or a port out of range, with the fix.
    """
    from urllib.parse import urlsplit

    text = str(address).strip()
    fix = "pass it as --scheduler tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
    parts = urlsplit(text if "://" in text else f"tcp://{text}")
    if "://" in text and parts.scheme not in _SCHEMES:
        msg = f"Dask scheduler address {text!r} has an unknown scheme {parts.scheme!r}; {fix}"
        raise ConfigError(msg)
    if parts.scheme == "inproc":
        return text
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or port is None or not 1 <= port <= 65535 or parts.path not in ("", "/"):
        what = "no port" if port is None else "a port that is not a number in 1-65535"
        if not parts.hostname:
            what = "no host"
        msg = f"Dask scheduler address {text!r} has {what}; {fix}"
        raise ConfigError(msg)
    return text


def probe_scheduler(address: str, timeout_s: float = 3.0) -> None:
    """Refuse, before the store is opened, a ``tcp://`` or ``tls://`` scheduler address where
    nothing listens (Dask itself would retry for 30 s): one TCP connect with a short timeout.

    Raises:
        ClusterError: the connection is refused or does not answer within ``timeout_s``.
    """
    from urllib.parse import urlsplit

    text = check_scheduler_address(address)
    parts = urlsplit(text if "://" in text else f"tcp://{text}")
    if parts.scheme not in ("tcp", "tls") or parts.hostname is None or parts.port is None:
        return
    fix = "start one with `dask scheduler` and pass its address as --scheduler tcp://HOST:PORT"
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout_s):
            return
    except ConnectionRefusedError:
        msg = f"no Dask scheduler listens at {text!r} (connection refused); {fix}"
    except TimeoutError:
        msg = f"the Dask scheduler at {text!r} did not answer within {timeout_s:g} s; {fix}"
    except OSError as e:  # an unknown host name, no route
        msg = f"cannot reach the Dask scheduler at {text!r} ({e.strerror or e}); {fix}"
    raise ClusterError(msg)


def _connect(
    scheduler: str | None, local_cluster: int | None, timeout_s: float
) -> tuple[Client, LocalCluster | None]:
    from distributed import Client

    if local_cluster is not None:
        cluster = start_local_cluster(local_cluster)
        try:
            return Client(cluster, set_as_default=False), cluster
        except BaseException:
            cluster.close()
            raise
    try:
        return Client(scheduler, timeout=timeout_s, set_as_default=False), None
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        msg = (
            f"cannot reach the Dask scheduler at {scheduler!r} ({_first_line(e)}); start one with "
            "`dask scheduler` and pass its address as --scheduler tcp://HOST:PORT"
        )
        raise ClusterError(msg) from e


def _measure_workers(client: Client) -> dict[str, float]:
    """Address -> ``measure`` amount of every worker that offers the resource."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    out = {}
    for addr, w in workers.items():
        amount = float((w.get("resources") or {}).get(RESOURCE, 0) or 0)
        if amount >= 1:
            out[addr] = amount
    return out


def _wait_for_measure_workers(client: Client, addr: str, timeout_s: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = _measure_workers(client)
        if found or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if not found:
        n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        what = f"none of its {n} worker(s) offers" if n else "no worker offers"
        msg = (
            f"Dask scheduler {addr}: {what} the {RESOURCE!r} resource; start one worker per machine with "
            f"`dask worker {addr} --nworkers 1 --nthreads 1 --resources {RESOURCE}=1`"
        )
        raise ClusterError(msg)
    return found


def _probe(
    client: Client,
    addr: str,
    spec: SweepSpec,
    configs: list[Config],
    workers: dict[str, float],
    plugin_name: str,
) -> dict[str, _WorkerView]:
    tag = uuid.uuid4().hex[:8]
    futures = {
        w: client.submit(
            _probe_task,
            spec,
            configs,
            plugin_name,
            workers=[w],
            allow_other_workers=False,
            pure=False,
            key=f"efflab-probe-{i}-{tag}",
        )
        for i, w in enumerate(workers)
    }
    views: dict[str, _WorkerView] = {}
    problems: list[str] = []
    for w, fut in futures.items():
        try:
            views[w] = fut.result()
        except EfflabError as e:
            msg = f"worker {w}: {e}"
            raise ClusterError(msg) from e
        except Exception as e:  # a worker that died or left meanwhile: the others carry the sweep
            problems.append(f"{w}: {point_error(e)}")
    if not views:
        msg = f"no measure worker of the Dask scheduler {addr} answered ({'; '.join(problems)}); check the workers' logs"
        raise ClusterError(msg)
    return views


def _key_part(model: str) -> str:
    """A model name or path as a readable part of a Dask task key (shown on Dask's dashboard)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", model.rstrip("/").rsplit("/", 1)[-1])[:40] or "model"


def _killed_text(e: BaseException) -> str:
    attempts = getattr(e, "allowed_failures", None)
    tries = f" {attempts + 1} time(s)" if isinstance(attempts, int) else ""
    return (
        f"the worker measuring this point died{tries} (out of memory or killed); "
        "see the worker's log, then re-run with --retry-failed"
    )


def iter_sweep_distributed(
    spec: SweepSpec,
    store: Store,
    *,
    scheduler: str | None = None,
    local_cluster: int | None = None,
    force: bool = False,
    retry_failed: bool = False,
    should_stop: Callable[[], bool] | None = None,
    timeout_s: float = 30.0,
) -> Iterator[PointResult]:
    """Measure every point of ``spec`` missing from ``store`` on Dask workers; yield each as stored.

    Exactly one of ``scheduler`` (an address such as ``tcp://10.0.0.5:8786``) and ``local_cluster``
    (a number of worker processes on this machine, bound to 127.0.0.1) is given. Each point is a
    task holding the workers' ``measure`` resource; the client (this process) stores each finished
    point in its own transaction as it completes, so a crash loses at most the points in flight.

    Points already stored (under the key any ``measure`` worker gives them, see the module
    docstring) are yielded first as ``skipped`` unless ``force``; failed ones are kept unless
    ``retry_failed``. A point whose measurement fails on the worker is stored as failed with the
    error. A worker that dies mid-point: Dask runs the point again on another worker, up to its
    ``distributed.scheduler.allowed-failures`` limit, after which the point is stored as failed.
    ``should_stop`` is checked as points complete: then nothing more is submitted and the call
    returns once the points in flight are stored. The client and a local cluster made here are
    closed on return.

    Args:
        timeout_s: how long to wait for the scheduler to answer and for a ``measure`` worker.

    Raises:
        ConfigError: neither or both of ``scheduler`` and ``local_cluster``, or a bad count (more
            local workers than this machine's CPUs or memory can run: :func:`check_local_cluster`).
        ClusterError: the scheduler is unreachable, or no worker offers the ``measure`` resource.
        ModelError, TaskError: a model or the task cannot be resolved here (checked before any
            cluster is started; the workers must resolve the same names).
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    from efflab.measuring.measure import load_task
    from efflab.models.registry import model_identity

    if (scheduler is None) == (local_cluster is None):
        msg = "give either a Dask scheduler address (--scheduler tcp://HOST:PORT) or --local-cluster N, not both"
        if scheduler is None:
            msg = "give a Dask scheduler address (--scheduler tcp://HOST:PORT) or --local-cluster N"
        raise ConfigError(msg)
    if local_cluster is not None:
        check_local_cluster(local_cluster)
    if scheduler is not None:
        scheduler = check_scheduler_address(scheduler)

    configs = spec.configs()
    total = len(configs)
    # Bad model names and tasks fail here with their own message, before any cluster starts; it
    # also builds tiny test models once rather than in every worker at the same moment.
    load_task(spec.task)
    for name in spec.models:
        model_identity(name)
    ok_keys = store.keys(status="ok")
    failed_keys = store.keys(status="failed")

    def stored_key(candidates: list[str]) -> str | None:
        """The key a configuration is stored under, when it counts as done (the resume rule,
        :func:`efflab.sweep.plan.counts_as_done`; a success first)."""
        from efflab.sweep.plan import counts_as_done

        done = [
            k
            for k in candidates
            if counts_as_done(k, ok_keys, failed_keys, force=force, retry_failed=retry_failed)
        ]
        return next((k for k in done if k in ok_keys), done[0] if done else None)

    if local_cluster is not None:
        # Local workers see this machine as this process does: when every point is stored already,
        # say so without starting a cluster.
        here = _Slot().view(spec, configs)
        hits = [stored_key([k]) for k in here.keys]
        if all(hits):
            for i, (cfg, hit) in enumerate(zip(configs, hits), 1):
                yield PointResult(cfg, str(hit), "skipped", index=i, total=total)
            return

    client, cluster = _connect(scheduler, local_cluster, timeout_s)
    address = scheduler if cluster is None else cluster.scheduler_address
    plugin_name = f"efflab-sweep-{uuid.uuid4().hex[:8]}"
    registered = False
    try:
        workers = _wait_for_measure_workers(client, str(address), timeout_s)
        client.register_plugin(_SlotPlugin(), name=plugin_name)
        registered = True
        views = _probe(client, str(address), spec, configs, workers, plugin_name)
        first_view = next(iter(views.values()))

        slots_by_host: dict[str, float] = {}
        for addr, view in views.items():
            slots_by_host[view.host] = slots_by_host.get(view.host, 0) + workers.get(addr, 1)
        shared = sorted(h for h, n in slots_by_host.items() if n > 1)
        if shared:
            warnings.warn(
                f"several measure workers run on {', '.join(shared)}: their points overlap in time and power "
                f"and are flagged {SHARED_HOST_FLAG!r}; run one worker per machine for figures you compare",
                stacklevel=2,
            )

        todo: deque[tuple[int, Config]] = deque()
        for i, cfg in enumerate(configs, 1):
            hit = stored_key(list(dict.fromkeys(v.keys[i - 1] for v in views.values())))
            if hit is not None:
                yield PointResult(cfg, hit, "skipped", index=i, total=total)
                continue
            todo.append((i, cfg))

        if should_stop is not None and should_stop():
            return
        tag = uuid.uuid4().hex[:8]
        outstanding: dict[Future, tuple[int, Config]] = {}
        done = as_completed(loop=client.loop)

        def submit_more() -> None:
            # Only as many points as there are measure slots are handed out, so a stop request
            # leaves nothing queued and a point waits for a free machine, not behind another.
            window = max(1, int(sum(_measure_workers(client).values())))
            while todo and len(outstanding) < window:
                i, cfg = todo.popleft()
                fut = client.submit(
                    _point_task,
                    spec,
                    cfg,
                    plugin_name,
                    resources={RESOURCE: 1},
                    retries=1,
                    pure=False,
                    key=f"efflab-{_key_part(cfg.model)}-b{cfg.batch_size}-{cfg.precision}-{cfg.device}-{i}-{tag}",
                )
                outstanding[fut] = (i, cfg)
                done.add(fut)

        submit_more()
        stopping = False
        for fut in done:
            i, cfg = outstanding.pop(fut)
            cfgd = cfg.to_dict()
            out: dict[str, Any] | None = None
            try:
                out = fut.result()
            except KilledWorker as e:
                err = _killed_text(e)
            except Exception as e:  # any task error after Dask's retries: stored as failed, sweep goes on
                err = point_error(e)
            finally:
                fut.release()
            if out is None:
                # The point never reported back: store it under the key of the first worker asked.
                key = first_view.keys[i - 1]
                store.put(
                    key,
                    config=cfgd,
                    model_id=first_view.model_ids[cfg.model],
                    hardware=first_view.hardware[cfg.device],
                    error=err,
                )
                yield PointResult(cfg, key, "failed", error=err, index=i, total=total)
            elif out["measurement"] is not None:
                m = out["measurement"]
                if slots_by_host.get(out["host"], 1) > 1 and SHARED_HOST_FLAG not in m.flags:
                    m = dataclasses.replace(m, flags=(*m.flags, SHARED_HOST_FLAG))
                store.put(
                    out["key"], config=cfgd, model_id=out["model_id"], hardware=out["hardware"], measurement=m
                )
                yield PointResult(cfg, out["key"], "ok", measurement=m, index=i, total=total)
            else:
                store.put(
                    out["key"],
                    config=cfgd,
                    model_id=out["model_id"],
                    hardware=out["hardware"],
                    error=out["error"],
                )
                yield PointResult(cfg, out["key"], "failed", error=out["error"], index=i, total=total)
            if not stopping and should_stop is not None and should_stop():
                stopping = True
            if not stopping:
                submit_more()
    finally:
        # An abandoned generator closed at interpreter exit finds the client and cluster already
        # closed by Dask's own exit hooks; a call through the client then would wait forever.
        if not sys.is_finalizing():
            _close(client, cluster, plugin_name if registered else None)


def _close(client: Client, cluster: LocalCluster | None, plugin_name: str | None) -> None:
    if plugin_name is not None:
        # best effort: a worker that is gone drops the plugin with itself
        with contextlib.suppress(OSError, RuntimeError, TimeoutError, ValueError):
            client.unregister_worker_plugin(plugin_name)
    client.close()
    if cluster is not None:
        cluster.close()
