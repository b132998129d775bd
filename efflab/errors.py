"""efflab's exception hierarchy.

Every error a user can reach is an :class:`EfflabError` whose message is one line that names the bad
value and the fix. The CLI prints that line and exits non-zero, without a traceback.
"""

from __future__ import annotations


class EfflabError(Exception):
    """Base class of every error efflab raises on purpose."""

    exit_code = 2


class ConfigError(EfflabError, ValueError):
    """A configuration or spec value is invalid (batch size, precision, parameter types)."""


class ModelError(EfflabError):
    """A model name or folder cannot be resolved or loaded."""


class DeviceError(EfflabError):
    """The requested device or precision is not available on this machine."""


class SensorError(EfflabError):
    """An energy sensor is unavailable or failed while reading."""


class TaskError(EfflabError):
    """A task (data set) is missing, malformed or unusable."""


class StoreError(EfflabError):
    """A results store is not an efflab database, is from a newer schema, or is corrupt."""


class ClusterError(EfflabError):
    """Dask is missing, the scheduler cannot be reached, or none of its workers can measure."""


class ReportError(EfflabError):
    """A report parameter is invalid or a report run failed."""


def closest(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ' Did you mean 'x'?' for the closest choice, or '' when nothing is close."""
    import difflib

    match = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


POINT_ERRORS: tuple[type[BaseException], ...] = (EfflabError, RuntimeError, MemoryError, OSError)
"""What fails one point of a sweep (stored as failed with :func:`point_error`) rather than the sweep."""


def is_out_of_memory(e: BaseException) -> bool:
    """True for an allocation failure: Python's MemoryError, torch's OutOfMemoryError (CUDA), or torch's
    CPU allocator giving up (a RuntimeError from ``DefaultCPUAllocator``: torch has no type for it)."""
    if isinstance(e, MemoryError):
        return True
    import sys

    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom is not None and isinstance(e, oom):
        return True
    return isinstance(e, RuntimeError) and "DefaultCPUAllocator" in str(e)


def point_error(e: BaseException) -> str:
    """The one line a failed point is stored and shown with: an efflab error's own message; an
    allocation failure with the fix (a smaller batch); anything else as ``Type: first line``."""
    if isinstance(e, EfflabError):
        return str(e)
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if is_out_of_memory(e):
        return f"out of memory: {text or type(e).__name__}; try a smaller batch size"
    return f"{type(e).__name__}: {text}"
