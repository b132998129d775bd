"""The zoo's cache folder: one entry per (name, recipe hash), published atomically.

Layout: ``cache_dir()/zoo/<name>-<recipe hash>/`` holding the model files and ``efflab_model.json``.
An entry is *built* only when its ``efflab_model.json`` parses and names the same model and hash.
Builds write into ``zoo/.tmp-<name>-<hash>-<pid>-*`` next to the final folder, write
``efflab_model.json`` last, then rename the folder into place, so an interrupted build never leaves
a folder that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from efflab.errors import ModelError
from efflab.paths import cache_dir

META_FILE = "efflab_model.json"
_TMP_PREFIX = ".tmp-"
_PID_RE = re.compile(r"-pid(\d+)-")


def zoo_dir() -> Path:
    """``cache_dir()/zoo`` (not created)."""
    return cache_dir() / "zoo"


def entry_dir(name: str, digest: str) -> Path:
    """Folder of the entry for ``name`` at recipe hash ``digest`` (may not exist)."""
    return zoo_dir() / f"{name}-{digest}"


def read_meta(folder: Path) -> dict[str, Any] | None:
    """The entry's ``efflab_model.json`` as a dict, or None when missing or unreadable."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def problem(folder: Path, name: str, digest: str) -> str | None:
    """Why ``folder`` is not a complete entry for (name, digest), or None when it is."""
    if not folder.is_dir():
        return "missing"
    meta = read_meta(folder)
    if meta is None:
        return f"no valid {META_FILE}"
    if meta.get("name") != name or meta.get("recipe_hash") != digest:
        return f"{META_FILE} names {meta.get('name')!r}@{meta.get('recipe_hash')!r}"
    kind = meta.get("kind")
    needed = (
        ("pipeline.joblib",) if kind == "sklearn" else ("config.json", "model.safetensors", "tokenizer.json")
    )
    absent = [f for f in needed if not (folder / f).is_file()]
    if kind not in ("hf", "sklearn", "causal-lm") or absent:
        return f"missing {absent[0] if absent else 'kind'}"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_abandoned(root: Path) -> None:
    """Remove temp build folders left by processes that no longer run (killed mid-build)."""
    if not root.is_dir():
        return
    for p in root.glob(f"{_TMP_PREFIX}*"):
        m = _PID_RE.search(p.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)


def discard_corrupt(folder: Path, reason: str) -> None:
    """Remove a broken entry before rebuilding it, saying so in one line on stderr."""
    print(f"efflab: rebuilding corrupt cache entry {folder} ({reason})", file=sys.stderr)
    if folder.is_symlink() or folder.is_file():
        with contextlib.suppress(OSError):
            folder.unlink()
    else:
        shutil.rmtree(folder, ignore_errors=True)
    if folder.exists() or folder.is_symlink():
        msg = f"cannot remove the corrupt cache entry {str(folder)!r}; delete it by hand and retry"
        raise ModelError(msg)


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Write ``efflab_model.json`` (flushed to disk: it is the entry's completeness marker)."""
    path = folder / META_FILE
    with open(path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def staging(name: str, digest: str) -> Iterator[Path]:
    """A temp folder to build (name, digest) in; on success it is renamed to :func:`entry_dir`.

    The body must write everything, ``efflab_model.json`` last. On any exception the temp folder is
    removed and the exception propagates; other entries are never touched. If another process
    published the same entry meanwhile, its copy is kept and this one dropped.
    """
    root = zoo_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        msg = f"cannot create the zoo cache folder {str(root)!r} ({e.strerror}); set EFFLAB_CACHE to a writable folder"
        raise ModelError(msg) from e
    sweep_abandoned(root)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{name}-{digest}-pid{os.getpid()}-", dir=root))
    final = entry_dir(name, digest)
    try:
        yield tmp
        if problem(tmp, name, digest) is not None:
            msg = f"internal error: the build of {name!r} did not complete its folder ({problem(tmp, name, digest)})"
            raise ModelError(msg)
        try:
            os.replace(tmp, final)
        except OSError:
            if problem(final, name, digest) is not None:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
