"""The managers' dashboard: a Voila page over the results store.

``view`` turns the store and the manager's inputs (queries per day, country, price, tolerance,
picked configuration and baseline) into card values, the nudge and the data's provenance (numbers
written by :mod:`efflab.format`, as on every surface); ``app`` lays them out as ipywidgets (imported
by the notebook only); ``launch`` starts Voila on 127.0.0.1. Importing this package loads neither
ipywidgets nor plotly.
"""

from efflab.dashboard.launch import notebook_path, serve, voila_command
from efflab.dashboard.view import Card, Inputs, Snapshot, View, build_view, read_store

__all__ = [
    "Card",
    "Inputs",
    "Snapshot",
    "View",
    "build_view",
    "notebook_path",
    "read_store",
    "serve",
    "voila_command",
]
