"""Running a local server (JupyterLab, Voila) for the CLI: free-port check, wait, clean stop."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from types import FrameType

from efflab.errors import ConfigError

HOST = "127.0.0.1"


def check_port(port: int) -> None:
    """Raise ConfigError (one line) unless ``port`` is a valid, free port on 127.0.0.1."""
    if isinstance(port, bool) or not isinstance(port, int) or not (1 <= port <= 65535):
        msg = f"port must be a number from 1 to 65535, got {port!r}"
        raise ConfigError(msg)
    with socket.socket() as s:
        # As the server will: a port left in TIME_WAIT by a server that just stopped is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError as e:
            msg = f"port {port} on {HOST} is not free ({e.strerror}); pass another --port"
            raise ConfigError(msg) from e


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets the server shut its kernels down; SIGKILL if it does not stop in time."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def run_server(
    proc: subprocess.Popen[bytes], port: int, name: str, start_timeout_s: float, on_ready: Callable[[], None]
) -> int:
    """Wait until ``proc`` answers on ``port``, call ``on_ready``, then serve until it exits, Ctrl-C or
    SIGTERM (returns 0 then); the server is always stopped on the way out.

    Raises:
        ConfigError: the server exited or did not answer within ``start_timeout_s``.
    """

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        deadline = time.monotonic() + start_timeout_s
        while not _answers(port):
            if proc.poll() is not None:
                msg = f"{name} exited with status {proc.returncode} before serving on port {port}; see its messages above"
                raise ConfigError(msg)
            if time.monotonic() > deadline:
                msg = f"{name} did not answer on port {port} within {start_timeout_s:.0f} s; see its messages above"
                raise ConfigError(msg)
            time.sleep(0.2)
        on_ready()
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        _terminate(proc)
