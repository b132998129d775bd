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
