"""``efflab lab``: JupyterLab on 127.0.0.1 with a token, opened on the lab notebook.

The store reaches the notebook through ``$EFFLAB_STORE`` (its ``parameters`` cell leaves ``store``
as None, which reads it). In a checkout the lab opens ``notebooks/lab.ipynb`` of the working folder;
from an installed package, a copy of the shipped ``efflab/notebooks/lab.ipynb`` in the efflab cache
folder (made once, then yours to edit). The token goes to Jupyter through ``$JUPYTER_TOKEN``, not
the command line, so other users of the machine cannot read it from the process list.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import webbrowser
from pathlib import Path
from typing import Any

from efflab.errors import ConfigError
from efflab.paths import cache_dir, default_store
from efflab.servers import HOST, check_port, run_server

NOTEBOOK = Path("notebooks") / "lab.ipynb"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "lab",
        help="open the interactive lab (JupyterLab on 127.0.0.1) on a results store",
        description=(
            "Start JupyterLab on 127.0.0.1 with a fresh token, opened on the lab notebook: move the "
            "controls, measure new configurations live, watch the tradeoff curves grow. Ctrl-C stops it."
        ),
    )
    p.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    p.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1 (default 8888)")
    p.add_argument("--no-browser", action="store_true", help="print the URL but do not open a browser")
    p.set_defaults(func=run)


def shipped_notebook() -> Path:
    """The lab notebook inside the installed package."""
    return Path(__file__).resolve().parents[1] / "notebooks" / "lab.ipynb"


def lab_root(cwd: Path | None = None) -> tuple[Path, Path]:
    """(root folder to serve, notebook path relative to it).

    ``notebooks/lab.ipynb`` under ``cwd`` when there is one (a checkout); else a copy of the shipped
    notebook in ``<efflab cache>/lab/`` (made when missing).

    Raises:
        ConfigError: the shipped notebook is missing too (a broken installation).
    """
    cwd = (cwd or Path.cwd()).resolve()
    if (cwd / NOTEBOOK).is_file():
        return cwd, NOTEBOOK
    src = shipped_notebook()
    root = cache_dir().expanduser().resolve() / "lab"
    dst = root / NOTEBOOK
    if not dst.exists():
        if not src.is_file():
            msg = f"the lab notebook is missing from the installation ({src}); reinstall efflab"
            raise ConfigError(msg)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return root, NOTEBOOK


def lab_settings_dir() -> Path:
    """JupyterLab settings defaults for the lab (``overrides.json``: no news question)."""
    return Path(__file__).resolve().parent / "lab_settings"


def lab_command(port: int, root: Path, notebook: Path, *, python: str | None = None) -> list[str]:
    """The JupyterLab command line: 127.0.0.1 only, no browser (we open one once it answers), no
    news or update checks (no network), ``--allow-root`` when running as root."""
    cmd = [
        python or sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={int(port)}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
        f"--LabApp.default_url=/lab/tree/{notebook.as_posix()}",
        "--LabApp.news_url=None",
        # The "get notified about Jupyter news?" toast asks whenever the setting is unset, whatever
        # news_url says, and covers the lab's controls: efflab's settings overrides answer "no".
        f"--LabApp.app_settings_dir={lab_settings_dir()}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd


def lab_url(port: int, notebook: Path, token: str) -> str:
    return f"http://{HOST}:{port}/lab/tree/{notebook.as_posix()}?token={token}"


def _check_store(store: Path) -> str | None:
    """Fail early (one line) on a file that is not an efflab store or is damaged (a record or run
    that cannot be read); a missing store is fine — the lab says what to do and can measure into it.
    Returns a note for the terminal, or None."""
    from efflab.store import open_store

    if store.exists() and store.stat().st_size > 0:
        with open_store(store, readonly=True) as st:
            st.check_readable()
            if len(st) == 0:
                return (
                    f"the store {store} is empty: measure in the lab, or run `efflab sweep --store {store}`"
                )
        return None
    return (
        f"no store at {store} yet: measure in the lab (it is created), or run `efflab sweep --store {store}`"
    )


def serve(
    store: str | Path,
    port: int = 8888,
    *,
    open_browser: bool = True,
    start_timeout_s: float = 120.0,
    cwd: Path | None = None,
) -> int:
    """Serve the lab on ``store`` until Ctrl-C or SIGTERM; returns JupyterLab's exit status (0 after
    Ctrl-C or SIGTERM).

    Raises:
        ConfigError: a bad or busy port, JupyterLab not installed, or JupyterLab exiting before it
            answers. StoreError: a file that is not an efflab store.
    """
    store = Path(store).expanduser().resolve()
    check_port(port)
    note = _check_store(store)
    try:
        import jupyterlab  # noqa: F401
    except ImportError as e:
        msg = "jupyterlab is not installed; install the lab extras: pip install 'efflab[lab]'"
        raise ConfigError(msg) from e
    root, nb = lab_root(cwd)
    token = secrets.token_urlsafe(24)
    env = {**os.environ, "EFFLAB_STORE": str(store), "JUPYTER_TOKEN": token}
    proc = subprocess.Popen(lab_command(port, root, nb), env=env, cwd=root)

    def ready() -> None:
        url = lab_url(port, nb, token)
        print(f"efflab lab: {url}", flush=True)
        print(f"efflab lab: store {store}; notebook {root / nb}; Ctrl-C to stop", flush=True)
        if note:
            print(f"efflab lab: note: {note}", flush=True)
        if open_browser:
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(url)

    return run_server(proc, port, "jupyterlab", start_timeout_s, ready)


def run(args: argparse.Namespace) -> int:
    return serve(args.store or default_store(), args.port, open_browser=not args.no_browser)
