"""efflab: what does this model configuration cost, and what is it worth?

The public API is small; everything else is reachable through its module.
``import efflab`` loads neither ipywidgets nor plotly (nor torch: heavy imports are lazy).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# efflab is offline by default: a hub id is read from the local Hugging Face cache and never
# triggers a network lookup. Opt in with EFFLAB_ONLINE=1 (or set HF_HUB_OFFLINE=0 yourself).
if os.environ.get("EFFLAB_ONLINE", "").strip().lower() not in ("1", "true", "yes"):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

from efflab.config import Config, MethodSettings
from efflab.errors import EfflabError
from efflab.records import EnergyReading, Fingerprint, Measurement

if TYPE_CHECKING:
    from efflab.measuring.measure import measure

__all__ = [
    "Config",
    "EfflabError",
    "EnergyReading",
    "Fingerprint",
    "Measurement",
    "MethodSettings",
    "__version__",
    "measure",
]

# Heavy entry points are imported on first use so that `import efflab` stays light.
_LAZY = {
    "measure": ("efflab.measuring.measure", "measure"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    msg = f"module 'efflab' has no attribute {name!r}"
    raise AttributeError(msg)
