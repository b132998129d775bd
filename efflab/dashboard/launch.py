"""Start Voila on the dashboard notebook, bound to 127.0.0.1.

The store path reaches the notebook through ``$EFFLAB_STORE`` (Voila cannot pass papermill
parameters); the notebook's ``parameters`` cell reads it. A pre-heated kernel runs the notebook's
imports before anyone visits; the notebook then waits for the visit before reading the store, so a
page opened long after start still shows the store as it is now.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path

from efflab.errors import ConfigError
from efflab.servers import HOST, check_port, run_server

STORE_ENV = "EFFLAB_STORE"
CULL_IDLE_S = 120
"""A visitor's kernel left without a page (the tab closed and its shutdown beacon lost) is shut down
after this many seconds without activity (``$EFFLAB_DASHBOARD_CULL_S`` sets another)."""
CULL_INTERVAL_S = 30


def cull_seconds() -> tuple[int, int]:
    """(idle seconds before a page-less kernel is culled, how often the culler looks): the defaults,
    or ``$EFFLAB_DASHBOARD_CULL_S`` (the culler then looks every quarter of it, at least every second)."""
    import os

    raw = os.environ.get("EFFLAB_DASHBOARD_CULL_S", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw), max(1, int(raw) // 4)
    return CULL_IDLE_S, CULL_INTERVAL_S


def notebook_path() -> Path:
    """The dashboard notebook shipped inside the package (``efflab/notebooks/dashboard.ipynb``;
    the repository's ``notebooks/dashboard.ipynb`` links to it)."""
    return Path(__file__).resolve().parents[1] / "notebooks" / "dashboard.ipynb"


def template_dir() -> Path:
    """The data folder holding efflab's Voila template ``efflab`` (Voila's lab template without
    the Font Awesome stylesheets it loads from a CDN); it goes on ``$JUPYTER_PATH``."""
    return Path(__file__).resolve().parent / "share"


def voila_command(port: int, *, notebook: Path | None = None, python: str | None = None) -> list[str]:
    """The Voila command line: one notebook, 127.0.0.1 only, no tracebacks for viewers, no source
    shown, one pre-heated kernel, light theme, and no browser (the launcher opens one itself once
    the server answers)."""
    return [
        python or sys.executable,
        "-m",
        "voila",
        str(notebook or notebook_path()),
        f"--port={int(port)}",
        f"--Voila.ip={HOST}",
        "--Voila.port_retries=0",
        "--no-browser",
        "--show_tracebacks=False",
        "--strip_sources=True",
        "--preheat_kernel=True",
        "--pool_size=1",
        "--theme=light",
        "--template=efflab",
        # The kernel's widgets and files are all the page needs; serve no other files.
        "--VoilaConfiguration.file_allowlist=^$",
        # Front-end extensions the page does not use cost load time on every visit.
        "--VoilaConfiguration.extension_denylist=jupyterlab_pygments",
        # A visitor's kernel is shut down when the tab closes (the page's beacon; the efflab
        # template gives it the XSRF cookie it needs). One the beacon missed (a crashed browser, a
        # killed tab) is culled once no page has been connected to it for CULL_IDLE_S; a kernel
        # with an open page is never culled, however idle.
        f"--MappingKernelManager.cull_idle_timeout={cull_seconds()[0]}",
        f"--MappingKernelManager.cull_interval={cull_seconds()[1]}",
        "--MappingKernelManager.cull_connected=False",
    ]


def _check_store(store: Path) -> str | None:
    """Fail early on a file that is not an efflab store or is damaged — a zeroed page, an
    unreadable schema version, a record that is not JSON (one line, from StoreError); a missing or
    empty store is fine — the page shows guidance. Returns that guidance for the terminal, or None.
    (A store damaged after the start is shown on the page: :mod:`efflab.dashboard.app`.)"""
    from efflab.dashboard.view import read_store
    from efflab.store import open_store

    if store.exists() and store.stat().st_size > 0:
        with open_store(store, readonly=True) as st:
            st.check_readable()
    return read_store(store).guidance


def serve(
    store: str | Path,
    port: int = 8866,
    *,
    open_browser: bool = True,
    start_timeout_s: float = 120.0,
    out: Callable[[str], None] | None = None,
) -> int:
    """Serve the dashboard for ``store`` on http://127.0.0.1:PORT/ until Ctrl-C or SIGTERM; returns
    Voila's exit status (0 after Ctrl-C or SIGTERM).

    Raises:
        ConfigError: a bad or busy port, a file that is not an efflab store, Voila not installed,
            or Voila exiting before it answers.
    """
    say = out or (lambda line: print(line, flush=True))
    store = Path(store).expanduser().resolve()
    check_port(port)
    note = _check_store(store)
    try:
        import voila  # noqa: F401
    except ImportError as e:
        msg = "voila is not installed; install the lab extras: pip install 'efflab[lab]'"
        raise ConfigError(msg) from e
    nb = notebook_path()
    if not nb.exists():
        msg = f"the dashboard notebook is missing from the installation ({nb}); reinstall efflab"
        raise ConfigError(msg)
    jpath = os.pathsep.join(p for p in (str(template_dir()), os.environ.get("JUPYTER_PATH", "")) if p)
    env = {**os.environ, STORE_ENV: str(store), "JUPYTER_PATH": jpath}
    proc = subprocess.Popen(voila_command(port, notebook=nb), env=env)

    def ready() -> None:
        url = f"http://{HOST}:{port}/"
        say(f"efflab dashboard: {url}  (store {store}; Ctrl-C to stop)")
        if note:
            say(f"efflab dashboard: note: {note}")
        if open_browser:
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(url)

    return run_server(proc, port, "voila", start_timeout_s, ready)
