"""``efflab dashboard``: the managers' page (Voila) over a results store, on 127.0.0.1."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from efflab.paths import default_store


def register(sub: Any) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve the Voila dashboard for managers on 127.0.0.1",
        description="Serve notebooks/dashboard.ipynb with Voila on http://127.0.0.1:PORT/: the recommended "
        "configuration, its stars, and the yearly kWh, CO2e and cost against the current configuration, "
        "read from the store (nothing is measured). No code and no tracebacks are shown to viewers. A missing "
        "or empty store shows what to run instead.",
    )
    p.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    p.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from efflab.dashboard.launch import serve

    return serve(args.store or default_store(), args.port, open_browser=not args.no_browser)
