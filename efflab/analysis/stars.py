"""Energy stars after the AI Energy Score rule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def energy_stars(values: Sequence[float]) -> list[int]:
    """AI Energy Score stars for energies of one cohort (e.g. Wh per 1000 queries).

    Split [min, max] into five equal-width bands; the lowest band gets 5 stars, the highest 1.
    A cohort of one, or one where all values are equal, gets 5. A value exactly on an inner band
    edge belongs to the higher-energy band; the maximum is in the top band (1 star). NaN or None
    values get 0 (unrated) and do not move the bands.
    """
    finite = _finite(values)
    if not finite:
        return [0 for _ in values]
    lo, hi = min(finite), max(finite)
    out = []
    for v in values:
        if v is None or not math.isfinite(float(v)):
            out.append(0)
        elif hi == lo:
            out.append(5)
        else:
            band = min(int((float(v) - lo) / ((hi - lo) / 5)), 4)
            out.append(5 - band)
    return out


def energy_stars_quantile(values: Sequence[float]) -> list[int]:
    """Quantile variant: the lowest-energy fifth of the cohort gets 5 stars, the highest fifth 1.

    Ties share the better rank; a cohort of one gets 5; NaN/None gets 0.
    """
    finite = sorted(_finite(values))
    n = len(finite)
    out = []
    for v in values:
        if v is None or not math.isfinite(float(v)):
            out.append(0)
            continue
        below = sum(1 for f in finite if f < float(v))  # rank with ties sharing the better one
        out.append(5 - min(int(below * 5 / n), 4))
    return out


def add_stars(df: pd.DataFrame, column: str = "wh_per_1000_queries", by: str = "cohort") -> pd.DataFrame:
    """Copy of ``df`` with ``stars`` and ``stars_quantile`` computed within each cohort over ok rows
    (other rows get 0), and ``stars_estimated`` True where the energy was not measured."""
    out = df.copy()
    out["stars"] = 0
    out["stars_quantile"] = 0
    ok = out["status"] == "ok" if "status" in out.columns else out[column].notna()
    for _, g in out[ok].groupby(by, dropna=False):
        vals = g[column].astype(float).tolist()
        out.loc[g.index, "stars"] = energy_stars(vals)
        out.loc[g.index, "stars_quantile"] = energy_stars_quantile(vals)
    if "energy_measured" in out.columns:
        out["stars_estimated"] = ~out["energy_measured"].fillna(False).astype(bool)
    return out


def model_ratings(df: pd.DataFrame, column: str = "wh_per_1000_queries") -> pd.DataFrame:
    """One row per (cohort, model): the model's lowest-energy configuration, starred within its cohort.

    This rates what each model can do at its best on this hardware (the configuration a user would
    deploy), rather than at one fixed batch size.
    """
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    ok = ok[ok[column].notna()]
    if ok.empty:
        return ok.assign(stars=[], stars_quantile=[])
    best = ok.loc[ok.groupby(["cohort", "model"])[column].idxmin()]
    return add_stars(best, column=column).sort_values(["cohort", column]).reset_index(drop=True)
