"""The lab's figures, as pure functions of plain values.

The figures where the lab adds something to :mod:`efflab.plots` (the functions the reports and the
dashboard use): the family chart with the selected model shown at the selected configuration, and the
live power trace with its note; the other figures LabState takes from :mod:`efflab.plots` as they are. No state here:
:class:`widgets.state.LabState` reads the values and calls these (one line each); :mod:`widgets.lab`
puts the figures in ``FigureWidget``s.

Plotly loads only when a figure is asked for, so the state stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from efflab.analysis import Assessment
    from efflab.analysis.point import Point

# The power trace's axis note before any measurement ran.
POWER_HINT = "press Measure or Sweep to see the power while it runs"


def family_figure(
    cohort: pd.DataFrame,
    order: Sequence[str],
    assessment: Assessment | None,
    rated: Point | pd.Series | None = None,
    *,
    recommended: bool = False,
) -> go.Figure:
    """Each model of ``cohort`` (in ``order``) at its best configuration, with the ``assessment``'s
    stars; ``rated`` (the selected point where the assessment counts it) stands for its model at its
    configuration, labelled ``recommended`` or ``selected``."""
    from efflab import plots

    a = assessment
    if a is None or not a.ratings:
        return plots.family_figure(cohort, order=order)
    ratings = a.ratings_frame()
    if rated is None:
        return plots.family_figure(cohort, order=order, ratings=ratings)
    # The selected configuration stands for its model (the label and the stars are about it).
    about = plots.ratings_about(ratings, rated, a.config_stars(str(rated["key"])))
    word = "recommended" if recommended else "selected"
    return plots.family_figure(cohort, order=order, ratings=about, about=(str(rated["model"]), word))


def power_figure(
    times_s: Sequence[float], watts: Sequence[float], *, source: str, measured: bool, note: str
) -> go.Figure:
    """Power (W) over time (s since the start) of a live measurement; ``measured``: from the hardware
    counter ``source``, else estimated; ``note`` (how the samples were taken) goes on the time axis."""
    from efflab import plots

    fig = plots.power_trace_figure(times_s, watts, source=source, measured=measured)
    fig.update_layout(xaxis_title=f"time (s) — {note or POWER_HINT}")
    return fig


__all__ = [
    "family_figure",
    "power_figure",
]
