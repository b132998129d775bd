"""Sweeps on Dask: a real LocalCluster of worker processes on 127.0.0.1, one writer, resume, faults."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, run_cli, steady_method

from efflab.errors import ConfigError
from efflab.store import load_results, open_store
from efflab.sweep import PointResult, SweepSpec, iter_sweep
from efflab.sweep.distributed import (
    SHARED_HOST_FLAG,
    ClusterError,
    _release_dask_thread_cap,
    iter_sweep_distributed,
    start_local_cluster,
)
from efflab.sweep.run import hardware_key

# Two measure workers on one machine: every cluster sweep here warns so (asserted once below).
pytestmark = pytest.mark.filterwarnings("ignore:several measure workers run on:UserWarning")


def tiny_spec(**over: object) -> SweepSpec:
    """Four points of the tiny model, one window each: what a cluster does with points is tested
    here, not the window logic (tests/test_method.py)."""
    d: dict[str, object] = dict(
        models=("tiny-bert-l1",),
        batch_sizes=(1, 2),
        precisions=("fp32", "int8"),
        task=None,
        seq_len=16,
        sensor="fake",
        method=steady_method(),
    )
    d.update(over)
    return SweepSpec(**d)  # type: ignore[arg-type]


def config_set(results: list[PointResult]) -> set[tuple[str, int, str, str]]:
    return {(r.config.model, r.config.batch_size, r.config.precision, r.config.device) for r in results}


# ----------------------------------------------------------------------------- no cluster


def test_exactly_one_of_scheduler_and_local_cluster(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.sqlite") as st:
        with pytest.raises(ConfigError, match="--local-cluster N"):
            list(iter_sweep_distributed(tiny_spec(), st))
        with pytest.raises(ConfigError, match="not both"):
            list(iter_sweep_distributed(tiny_spec(), st, scheduler="tcp://127.0.0.1:1", local_cluster=1))
        with pytest.raises(ConfigError, match="positive number of workers, got 0"):
            list(iter_sweep_distributed(tiny_spec(), st, local_cluster=0))
        assert len(st) == 0


def test_unreachable_scheduler_is_one_clear_error(tmp_path: Path) -> None:
    addr = f"tcp://127.0.0.1:{free_port()}"
    with open_store(tmp_path / "s.sqlite") as st, pytest.raises(ClusterError) as e:
        list(iter_sweep_distributed(tiny_spec(), st, scheduler=addr, timeout_s=1))
    assert addr in str(e.value) and "dask scheduler" in str(e.value) and "\n" not in str(e.value)


def test_thread_cap_set_by_the_dask_nanny_is_lifted(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setenv("OMP_NUM_THREADS", "7")  # set by the user: left alone
        _release_dask_thread_cap()
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the Nanny's default: lifted
        _release_dask_thread_cap()
        assert torch.get_num_threads() == torch.get_num_interop_threads()
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------------------------- a shared cluster


def _import_models() -> None:
    import transformers.models.bert.modeling_bert  # noqa: F401


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import Client

    c = start_local_cluster(2)
    try:
        with Client(c, set_as_default=False) as warm:  # each worker imports torch once, up front
            warm.run(_import_models)
        yield c
    finally:
        c.close()


@pytest.fixture
def client(cluster: Any) -> Iterator[Any]:
    from distributed import Client

    cl = Client(cluster, set_as_default=False)
    try:
        yield cl
    finally:
        cl.close()


@pytest.mark.xdist_group("dask-cluster")  # one worker: one module-scoped `cluster` for them
@pytest.mark.slow
def test_cluster_sweep_matches_a_local_sweep_and_resumes(cluster: Any, tmp_path: Path) -> None:
    import torch

    # cuda points fail on a machine without one: worker-side errors are stored as failed points
    spec = tiny_spec(devices=("cpu", "cuda"))
    # Dask sweeps have no paired pass (docs/method.md): compare with a local sweep without it, or
    # whether a point comes back ``refined`` depends on this machine's noise.
    with open_store(tmp_path / "local.sqlite") as st:
        local = list(iter_sweep(spec, st, adaptive=False))
    with open_store(tmp_path / "dist.sqlite") as st:
        with pytest.warns(UserWarning, match="several measure workers run on"):
            dist = list(iter_sweep_distributed(spec, st, scheduler=cluster.scheduler_address))
        assert {r.key: r.status for r in dist} == {r.key: r.status for r in local}
        assert config_set(dist) == config_set(local) and len(dist) == len(spec)
        ok = [r for r in dist if r.status == "ok"]
        assert {r.config.device for r in ok} >= {"cpu"}
        for r in ok:
            m = r.measurement
            assert m is not None and m.energy_source == "fake" and not m.energy_measured
            # measured with the threads a local sweep uses, not the Nanny's OMP_NUM_THREADS=1
            assert m.fingerprint.threads == torch.get_num_threads()
            assert SHARED_HOST_FLAG in m.flags  # two measure workers on one machine
        if not torch.cuda.is_available():
            failed = [r for r in dist if r.status == "failed"]
            assert {r.config.device for r in failed} == {"cuda"}
            assert all("no CUDA GPU" in (r.error or "") for r in failed)

        # A re-run measures nothing; --retry-failed re-measures only the failed points.
        again = list(iter_sweep_distributed(spec, st, scheduler=cluster.scheduler_address))
        assert [r.status for r in again] == ["skipped"] * len(spec)
        assert {r.key for r in again} == {r.key for r in dist}
        retried = list(
            iter_sweep_distributed(spec, st, scheduler=cluster.scheduler_address, retry_failed=True)
        )
        n_failed = sum(r.status == "failed" for r in dist)
        assert sum(r.status != "skipped" for r in retried) == n_failed
    df = load_results(tmp_path / "dist.sqlite")
    assert len(df) == len(spec) and df["key"].is_unique
    assert set(df["hardware"]) == set(load_results(tmp_path / "local.sqlite")["hardware"])


@pytest.mark.xdist_group("dask-cluster")  # one worker: one module-scoped `cluster` for them
@pytest.mark.slow
def test_stop_returns_after_the_points_in_flight_are_stored(cluster: Any, tmp_path: Path) -> None:
    spec = tiny_spec(batch_sizes=(1, 2, 3))
    seen: list[PointResult] = []
    with open_store(tmp_path / "s.sqlite") as st:
        for r in iter_sweep_distributed(
            spec, st, scheduler=cluster.scheduler_address, should_stop=lambda: len(seen) >= 1
        ):
            seen.append(r)
        # the first point plus at most the one in flight on the other worker; the rest never started
        assert 1 <= len(seen) <= 2 < len(spec)
        assert len(st) == len(seen) and st.keys() == {r.key for r in seen}
        rest = list(iter_sweep_distributed(spec, st, scheduler=cluster.scheduler_address))
    assert sum(r.status == "skipped" for r in rest) == len(seen)
    assert sum(r.status == "ok" for r in rest) == len(spec) - len(seen)
    assert len(load_results(tmp_path / "s.sqlite")) == len(spec)


class _Killer(threading.Thread):
    """SIGKILLs the worker of the first point task that starts after ``armed`` is set.

    A task seen the moment the scheduler hands it to a worker still has its whole measurement
    ahead, so the kill lands mid-point, not as the result is on its way back.
    """

    def __init__(self, client: Any) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.pids: dict[str, int] = client.run(os.getpid)
        self.armed = threading.Event()
        self.done = threading.Event()
        self.killed: int | None = None  # the index in the spec of the point that was running

    def run(self) -> None:
        seen: set[str] = set()
        while not self.done.is_set():
            for addr, keys in self.client.processing().items():
                for k in map(str, keys):
                    if not k.startswith("efflab-") or "probe" in k or k in seen:
                        continue
                    seen.add(k)
                    if self.armed.is_set() and addr in self.pids:
                        os.kill(self.pids[addr], signal.SIGKILL)
                        self.killed = int(k.rsplit("-", 2)[1])
                        return
            time.sleep(0.01)


@pytest.mark.xdist_group("dask-cluster")  # one worker: one module-scoped `cluster` for them
@pytest.mark.slow
@pytest.mark.parametrize("allowed_failures", [3, 0], ids=["retried", "stored-failed"])
def test_a_worker_killed_mid_point_loses_and_duplicates_nothing(
    cluster: Any, client: Any, tmp_path: Path, allowed_failures: int
) -> None:
    # a window of 0.3 s of wall time: the kill, a few ms after the point starts, lands mid-point
    spec = tiny_spec(batch_sizes=(1, 2, 3), method=dataclasses.replace(steady_method(), min_window_s=0.3))
    scheduler = cluster.scheduler  # in this process: Dask's retry budget can be set for the test
    default = scheduler.allowed_failures
    scheduler.allowed_failures = allowed_failures
    killer = _Killer(client)
    killer.start()
    try:
        results: list[PointResult] = []
        with open_store(tmp_path / "k.sqlite") as st:
            for r in iter_sweep_distributed(spec, st, scheduler=cluster.scheduler_address):
                results.append(r)
                killer.armed.set()  # after the first point: kill the next one to start
    finally:
        killer.done.set()
        killer.join(10)
        scheduler.allowed_failures = default
    killed = killer.killed
    assert killed is not None
    df = load_results(tmp_path / "k.sqlite")
    assert len(results) == len(spec) == len(df) and df["key"].is_unique
    assert {r.key for r in results} == set(df["key"])
    assert config_set(results) == {(c.model, c.batch_size, c.precision, c.device) for c in spec.configs()}
    assert set(df["status"]) <= {"ok", "failed"}
    victim = next(r for r in results if r.index == killed)
    if allowed_failures:
        assert set(df["status"]) == {"ok"}  # the killed point ran again on a worker that lived
    else:
        assert victim.status == "failed" and "worker measuring this point died" in (victim.error or "")
        assert (df["status"] == "failed").sum() == 1


@pytest.mark.slow
def test_no_measure_worker_is_one_clear_error(tmp_path: Path) -> None:
    from distributed import LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as plain,
        open_store(tmp_path / "s.sqlite") as st,
    ):
        with pytest.raises(ClusterError) as e:
            list(iter_sweep_distributed(tiny_spec(), st, scheduler=plain.scheduler_address, timeout_s=1))
        assert len(st) == 0
    assert "--resources measure=1" in str(e.value) and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- the command line


def _cli(spec: SweepSpec, tmp_path: Path, workers: int = 2) -> tuple[list[str], Path]:
    """``efflab sweep`` arguments for ``spec`` on a local cluster of ``workers``, and the store."""
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(spec.to_yaml())
    store = tmp_path / "c.sqlite"
    return ["sweep", str(spec_path), "--store", str(store), "--local-cluster", str(workers)], store


@pytest.mark.slow
def test_cli_sweep_on_a_local_cluster(tmp_path: Path) -> None:
    spec = tiny_spec()
    # One worker: the option and its cluster end to end (two workers sharing the points are the
    # module-scoped cluster's tests above, and the Ctrl-C test below).
    args, store = _cli(spec, tmp_path, workers=1)
    # In this process: the cluster's workers are processes all the same, and no second interpreter
    # imports torch for the client.
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert f"{len(spec)} measured, 0 failed, 0 already in the store" in r.stderr
    assert r.stderr.count("\nok ") + r.stderr.startswith("ok ") == len(spec)  # one line per point
    assert "(model)" in r.stderr  # modelled energy says so
    assert "Traceback" not in r.stderr
    df = load_results(store)
    assert len(df) == len(spec) and df["key"].is_unique and set(df["status"]) == {"ok"}
    assert set(df["hardware"]) == {hardware_key("cpu")}
    # resuming on a cluster: test_cluster_sweep_matches_a_local_sweep_and_resumes (in-process)


@pytest.mark.slow
def test_cli_ctrl_c_stops_after_the_points_in_flight(tmp_path: Path) -> None:
    # One window of 1 s of wall time per point, however busy the machine is: after the first point,
    # five are left for two workers, two seconds and more that the Ctrl-C lands well inside of.
    spec = tiny_spec(
        batch_sizes=(1, 2, 3), method=dataclasses.replace(steady_method(), min_window_s=1.0, max_window_s=2.0)
    )
    args, store = _cli(spec, tmp_path)
    # A real process: Ctrl-C reaches its whole process group.
    proc = subprocess.Popen(
        [sys.executable, "-m", "efflab.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    first_ok = threading.Event()

    lines: list[str] = []

    def read() -> None:  # the CLI prints each finished point on stderr (stdout stays for data)
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("ok "):
                first_ok.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert first_ok.wait(180), "no point finished"
        # Ctrl-C in a terminal reaches the whole process group, the local workers included
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    reader.join(10)
    err = "".join(lines)
    assert proc.returncode == 130, err
    assert "stopped early" in err and "Traceback" not in err and "KeyboardInterrupt" not in err
    stored = len(load_results(store))
    assert f"{stored} measured" in err and 1 <= stored < len(spec)
