"""Pareto front (cost vs accuracy) and its knee."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def pareto_front(df: pd.DataFrame, x: str = "energy_j_per_query", y: str = "accuracy") -> pd.Series:
    """Boolean Series: True where no other row has lower-or-equal ``x`` and higher-or-equal ``y``
    with at least one strictly better. Lower ``x`` (cost) and higher ``y`` (accuracy) are better.
    Rows with NaN in either column, or not ``status == 'ok'``, are never on the front.
    Identical points are all on the front.
    """
    import pandas as pd

    xs = pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=float)
    valid = ~(np.isnan(xs) | np.isnan(ys))
    if "status" in df.columns:
        valid &= (df["status"] == "ok").to_numpy()
    on = np.zeros(len(df), dtype=bool)
    idx = np.flatnonzero(valid)
    for i in idx:
        xi, yi = xs[i], ys[i]
        dominated = np.any(valid & (xs <= xi) & (ys >= yi) & ((xs < xi) | (ys > yi)))
        on[i] = not dominated
    return pd.Series(on, index=df.index, name="pareto")


def knee(df: pd.DataFrame, x: str = "energy_j_per_query", y: str = "accuracy", *, log_x: bool = True) -> Any:
    """Index label of the knee of the pareto front: the front point farthest from the chord joining
    its two ends, in min-max normalised coordinates (``log_x`` normalises cost on a log scale, as
    costs span orders of magnitude). None when the front has fewer than three points.
    """
    front = df[pareto_front(df, x, y)]
    if len(front) < 3:
        return None
    xs = front[x].astype(float).to_numpy()
    if log_x:
        xs = np.log10(np.maximum(xs, 1e-300))
    ys = front[y].astype(float).to_numpy()
    order = np.argsort(xs)
    xs, ys, labels = xs[order], ys[order], front.index.to_numpy()[order]
    span_x, span_y = xs[-1] - xs[0], ys.max() - ys.min()
    if span_x <= 0 or span_y <= 0:
        return None
    nx, ny = (xs - xs[0]) / span_x, (ys - ys.min()) / span_y
    # Distance from each point to the chord from the first to the last point.
    x0, y0, x1, y1 = nx[0], ny[0], nx[-1], ny[-1]
    d = np.abs((y1 - y0) * nx - (x1 - x0) * ny + x1 * y0 - y1 * x0) / math.hypot(x1 - x0, y1 - y0)
    best = int(np.argmax(d))
    if d[best] <= 1e-12:
        return None
    return labels[best]
