"""Energy stars after the AI Energy Score rule: one rating per model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from efflab import format as fmt
from efflab.analysis.eligibility import eligible_mask, sets_bands

if TYPE_CHECKING:
    import pandas as pd


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def energy_stars(values: Sequence[float], bands: tuple[float, float] | None = None) -> list[int]:
    """AI Energy Score stars for energies of one cohort (e.g. Wh per 1000 queries).

    Split [min, max] (or ``bands`` = (low, high) when given) into five equal-width bands; the lowest
    band gets 5 stars, the highest 1. A cohort of one, or one where all values are equal, gets 5. A
    value exactly on an inner band edge belongs to the higher-energy band; the maximum is in the top
    band (1 star); values outside ``bands`` are rated in the nearest band. NaN or None values get 0
    (unrated) and do not move the bands.
    """
    finite = _finite(values)
    if not finite:
        return [0 for _ in values]
    lo, hi = bands if bands is not None else (min(finite), max(finite))
    out = []
    for v in values:
        if v is None or not math.isfinite(float(v)):
            out.append(0)
        elif hi <= lo:
            out.append(5 if float(v) <= hi else 1)
        else:
            x = min(max(float(v), lo), hi)
            band = min(int((x - lo) / ((hi - lo) / 5)), 4)
            out.append(5 - band)
    return out


@dataclass(frozen=True)
class ModelRating:
    """One model's energy stars: the rating of its best (least energy) eligible configuration.

    ``sets_bands`` is False where that point is flagged noisy: it is rated, but did not move the bands.
    """

    model: str
    stars: int
    key: str
    label: str
    wh_per_1000_queries: float
    energy_basis: str
    sets_bands: bool
    n_configurations: int


def _best_per_model(eligible: pd.DataFrame) -> pd.DataFrame:
    return eligible.loc[eligible.groupby("model")["wh_per_1000_queries"].idxmin().to_numpy()]


def rate_models(eligible: pd.DataFrame) -> tuple[ModelRating, ...]:
    """One rating per model of one cohort's eligible points, least energy first.

    Bands span the best configurations of the models not flagged noisy (all of them when every one
    is noisy)."""
    if eligible.empty:
        return ()
    best = _best_per_model(eligible)
    clean = [sets_bands(r) for _, r in best.iterrows()]
    wh = [float(w) for w in best["wh_per_1000_queries"]]
    setters = [w for w, c in zip(wh, clean) if c] or wh
    stars = energy_stars(wh, (min(setters), max(setters)))
    counts = eligible["model"].value_counts()
    out = [
        ModelRating(
            model=str(r["model"]),
            stars=int(s),
            key=str(r["key"]) if "key" in r.index else fmt.config_label(r),
            label=fmt.config_label(r),
            wh_per_1000_queries=float(r["wh_per_1000_queries"]),
            energy_basis=fmt.energy_basis(r),
            sets_bands=c or len(setters) == len(wh),
            n_configurations=int(counts[r["model"]]),
        )
        for (_, r), s, c in zip(best.iterrows(), stars, clean)
    ]
    return tuple(sorted(out, key=lambda m: (m.wh_per_1000_queries, m.model)))


def model_ratings(df: pd.DataFrame, column: str = "wh_per_1000_queries") -> pd.DataFrame:
    """One row per (cohort, model): the model's best eligible configuration with its ``stars`` (the
    same rating :func:`efflab.analysis.assess` gives), for plots and labels. ``column`` must be
    ``wh_per_1000_queries`` (kept for old callers)."""
    elig = df[eligible_mask(df)] if len(df) else df
    elig = elig[elig[column].notna()] if len(elig) else elig
    if elig.empty:
        return elig.assign(stars=[])
    parts = []
    for _, g in elig.groupby("cohort", dropna=False) if "cohort" in elig.columns else [(None, elig)]:
        best = _best_per_model(g)
        stars = {r.model: r.stars for r in rate_models(g)}
        parts.append(best.assign(stars=[stars[str(m)] for m in best["model"]]))
    import pandas as pd

    out = pd.concat(parts)
    sort = ["cohort", column] if "cohort" in out.columns else [column]
    return out.sort_values(sort).reset_index(drop=True)
