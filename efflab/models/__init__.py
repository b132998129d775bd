"""Models: resolve a name to a source, load it at a precision on a device, run it.

- :mod:`efflab.models.registry` turns a name (zoo name, folder, hub id, tiny test model) into a
  :class:`ModelSource`;
- :mod:`efflab.models.runners` loads a source into a :class:`Runner` that the measurement times;
- :mod:`efflab.models.tiny` writes tiny random-init models for tests.
"""

from efflab.models.registry import ModelSource, resolve_model
from efflab.models.runners import Runner, load_runner

__all__ = ["ModelSource", "Runner", "load_runner", "resolve_model"]
