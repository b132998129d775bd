"""Shared fixtures: a small real results store, free ports, a headless Debian Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("EFFLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]  # fmt: skip

# The fields issue 2 promises in `efflab measure --json` (and Measurement.to_dict()).
JSON_KEYS = (
    "model", "batch_size", "precision", "device", "latency_s", "latency_ci_s", "throughput_qps",
    "energy_j_per_query", "wh_per_1000_queries", "energy_source", "energy_measured", "peak_mem_bytes",
    "model_bytes", "flops_per_query", "mfu", "accuracy", "flags", "fingerprint",
)  # fmt: skip

POSITIVE = [
    "great coffee, fresh and tasty",
    "love these snacks",
    "excellent tea, will buy again",
    "delicious and healthy",
    "my dog loves this food",
    "best chocolate ever",
]
NEGATIVE = ["stale and bland", "terrible taste, threw it away", "arrived broken and late",
            "awful smell, do not buy", "too salty and greasy", "the worst cereal I have had"]  # fmt: skip


# Modules whose tests time interleaved rounds and drop the disturbed ones: with another test process
# loading the CPU they would drop most of them, so `make test` runs them after the parallel part.
SERIAL_MODULES = {"test_compare.py", "test_paired.py"}
# Single tests that time something against the clock of another process (kill -9 mid-point) or assert a
# difference resolved by a real measurement's interval: under a parallel CPU hog they failed in CI.
SERIAL_TESTS = {
    "test_sweep.py::test_kill_9_then_resume_loses_nothing_and_measures_nothing_twice",
    "test_lab_tools.py::test_pinned_comparison_says_whether_each_difference_is_distinguishable",
    # the real 135 M-parameter LLM scoring 190 prompts: 31 s alone, 105 s beside the browser tests (two
    # torch threads each on two cores), the longest test of the parallel part
    "test_prompting_real.py::test_prompted_smollm2_beats_the_majority_class_on_reviews",
}


def serial_paths() -> list[str]:
    """The files holding the serial tests: `make test`'s second run collects only these (4 s less than
    collecting every module to deselect all but 37 tests)."""
    names = SERIAL_MODULES | {t.split("::")[0] for t in SERIAL_TESTS}
    return sorted(str(Path(__file__).parent / n) for n in names)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SERIAL_MODULES or f"{item.path.name}::{item.name}" in SERIAL_TESTS:
            item.add_marker(pytest.mark.serial)
    # Modules with slow tests first, each kept whole (its module-scoped fixtures are set up once): the two
    # workers start on the long tests and the short ones even out the end.
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


if __name__ == "__main__":  # `make test`: the files of the serial run
    print(" ".join(serial_paths()))


def write_tiny_task(path: Path, n: int = 60) -> Path:
    """A small two-class CSV task (text,label,split) for fast tests."""
    import pandas as pd

    rows = []
    for i in range(n):
        pos = i % 2 == 0
        src = POSITIVE if pos else NEGATIVE
        rows.append(
            {
                "text": f"{src[i % len(src)]} #{i}",
                "label": "positive" if pos else "negative",
                "split": "test" if i % 4 in (0, 1) else "train",
            }
        )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def fast_method() -> Any:
    from efflab.config import MethodSettings

    # torch's default threads, no probe: a test's cohort must not depend on how busy the machine is
    return MethodSettings(
        min_window_s=0.05,
        max_window_s=0.3,
        warmup_s=0.0,
        warmup_batches=1,
        min_batches=3,
        threads_source="torch's default (tests)",
    )


def quiet_method() -> Any:
    """``fast_method`` that never flags a point disturbed or unstable: on a machine shared by several test
    runs every point would be, leaving the surfaces' tests nothing eligible to show. The detection itself
    is tested with ``fast_method`` (tests/test_measure.py, tests/test_sweep.py)."""
    import dataclasses

    return dataclasses.replace(
        fast_method(), noisy_other_cpu_share=1.0, disturbed_cpu_ratio=1e-6, outlier_rel=1e6
    )


def steady_method() -> Any:
    """``quiet_method`` with one window: the fastest store for the surfaces' tests to read."""
    import dataclasses

    return dataclasses.replace(quiet_method(), windows=1, max_windows=1, remeasure_windows=0)


@pytest.fixture(scope="session")
def tiny_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_task(tmp_path_factory.mktemp("task") / "tiny_task.csv")


@pytest.fixture(scope="session")
def small_store(tmp_path_factory: pytest.TempPathFactory, tiny_task: Path) -> Path:
    """A real store from a real (tiny) sweep: 2 tiny models x batch 1, 4 x fp32, int8, fake sensor,
    one window a point (``steady_method``: what the surfaces read, not how windows are timed, which
    tests/test_measure.py and tests/test_method.py check; 5 s to build instead of 21 s).

    Session-scoped and built once; tests that write must copy it (``copy_store``).
    """
    from efflab.store import open_store
    from efflab.sweep import SweepSpec, sweep

    path = tmp_path_factory.mktemp("store") / "small.sqlite"
    spec = SweepSpec(
        models=("tiny-bert-l1", "tiny-bert-l2"),
        batch_sizes=(1, 4),
        precisions=("fp32", "int8"),
        task=str(tiny_task),
        seq_len=32,
        sensor="fake",
        method=steady_method(),
    )
    with open_store(path) as st:
        sweep(spec, st)
    return path


@pytest.fixture
def copy_store(small_store: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "store.sqlite"
    shutil.copy2(small_store, dst)
    return dst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float = 90.0) -> None:
    """Poll ``url`` until it answers (any HTTP status) or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return
        except OSError as e:
            last = e
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s: {last}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Python Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots and other test artifacts (kept after the run)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def tiny_measurement() -> Any:
    """One real measurement of the tiny model with the fake sensor (no task)."""
    from efflab import Config
    from efflab.measuring.measure import measure

    return measure(
        Config(model="tiny-bert-l1", batch_size=2, seq_len=16), sensor="fake", method=fast_method()
    )


class CliResult:
    """What ``run_cli`` returns: the shape of ``subprocess.CompletedProcess`` the tests read."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    """``efflab ARGS`` in this process (``efflab.cli.main``) with its output captured: the CLI as a user
    meets it, without a second interpreter importing torch. A real process is used only where the
    process is the point (signals, exit codes of a real process, import lightness). Restores what
    ``main`` changes: warnings' printer, signal handlers, the working folder and the environment."""
    import contextlib
    import io
    import signal as _signal
    import warnings

    from efflab.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env = dict(os.environ)
    saved_show = warnings.showwarning
    saved_sig = {s: _signal.getsignal(s) for s in (_signal.SIGINT, _signal.SIGTERM)}
    saved_cwd = os.getcwd()
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(list(args))
            except SystemExit as e:  # argparse's own errors and --help
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        warnings.showwarning = saved_show
        for s, h in saved_sig.items():
            _signal.signal(s, h)
    return CliResult(int(rc), out.getvalue(), err.getvalue())
