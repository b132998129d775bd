"""The ``efflab`` command line. Each subcommand lives in its own module with a ``register(sub)``.

Errors a user can act on (:class:`efflab.errors.EfflabError`) print one line and exit non-zero;
Ctrl-C exits 130. No traceback reaches the user on those paths.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from efflab import __version__
from efflab.errors import EfflabError

# Subcommand modules, in the order `efflab --help` lists them. A module that is not there yet
# (a later feature) is skipped.
_COMMANDS = (
    "measure",
    "zoo",
    "sweep",
    "compare",
    "results",
    "recommend",
    "card",
    "report",
    "dashboard",
    "lab",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="efflab",
        description=(
            "Measure what a model configuration costs (energy per query, latency, throughput, memory) "
            "and what it is worth (task accuracy), on this machine. Every energy figure says whether it "
            "was measured (nvml, rapl) or estimated (codecarbon)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"efflab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            mod = importlib.import_module(f"efflab.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"efflab.cli.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, *a: object, **k: object
) -> None:
    # One line, like errors: no source line from deep inside a library.
    print(f"efflab: warning: {message}", file=sys.stderr)


def _terminated(signum: int, frame: object) -> None:
    # SIGTERM before a command installs its own handling (a sweep finishes its point): stop with 143.
    raise SystemExit(143)


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _show_warning  # type: ignore[assignment]
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):
        signal.signal(signal.SIGTERM, _terminated)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EfflabError as e:
        print(f"efflab: error: {' '.join(str(e).split())}", file=sys.stderr)  # always one line
        return e.exit_code
    except KeyboardInterrupt:
        print("efflab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `efflab results list | head`: the reader has what it wanted
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Exception as e:  # last resort: one line, the traceback only on request
        if os.environ.get("EFFLAB_DEBUG"):
            raise
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(
            f"efflab: internal error: {type(e).__name__}: {text[:300]} (a bug: run again with EFFLAB_DEBUG=1 "
            "for the traceback and report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
