"""Where efflab keeps things on disk."""

from __future__ import annotations

import functools
import os
from pathlib import Path


def cache_dir() -> Path:
    """The user's efflab cache folder: ``$EFFLAB_CACHE``, else ``$XDG_CACHE_HOME/efflab``, else
    ``~/.cache/efflab``. Created on demand by the callers that write to it."""
    env = os.environ.get("EFFLAB_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "efflab"


def package_data(name: str) -> Path:
    """Path of a data file shipped inside the installed package (``efflab/data/NAME``)."""
    return Path(__file__).resolve().parent / "data" / name


def default_store() -> Path:
    """Default results store: ``$EFFLAB_STORE`` or ``data/results.sqlite`` in the working directory."""
    env = os.environ.get("EFFLAB_STORE")
    return Path(env).expanduser() if env else Path("data") / "results.sqlite"


@functools.lru_cache(maxsize=64)
def package_version(dist: str, absent: str = "none") -> str:
    """The installed version of ``dist`` (``absent`` when it is not installed), read once per process:
    ``importlib.metadata`` parses the package's METADATA file on every call (about 3 ms), and every point
    key names three versions (planning 5,000 points took 50 s)."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return absent
