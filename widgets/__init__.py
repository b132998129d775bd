"""The interactive lab: ipywidgets controls and live plotly tradeoff curves over an efflab store.

``widgets`` imports ``efflab``; ``efflab`` never imports ``widgets``. The state
(:class:`widgets.state.LabState`) is the single source of truth and needs no ipywidgets;
:func:`show_lab` builds the view on it (and is the one call the notebook makes)::

    from widgets import show_lab
    show_lab("data/results.sqlite")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from widgets.selection import Selection
from widgets.state import LabState

if TYPE_CHECKING:
    from widgets.lab import Lab, show_lab

__all__ = ["Lab", "LabState", "Selection", "show_lab"]


def __getattr__(name: str) -> Any:
    # ipywidgets and plotly load only when the view is asked for, so the state stays light.
    if name in ("Lab", "show_lab"):
        from widgets import lab

        return getattr(lab, name)
    msg = f"module 'widgets' has no attribute {name!r}"
    raise AttributeError(msg)
