"""Energy stars: one rating per model, against the models of its own class, with bands that discriminate.

The AI Energy Score rule splits [least, most] energy per query of a cohort's models into five
equal-width bands (the lowest band gets 5 stars). One outlier then decides every label: with a
prompted 135 M-parameter LLM at 2.5 Wh per 1000 queries beside a family between 559 µWh and 45 mWh,
every task-specific model is in the lowest band (5 stars, an 81x spread alike) and the LLM alone gets 1.

efflab's rule (``RULE_EFFLAB``, the default):

1. **Each class against its own**: task-specific models (classifiers, pipelines) and general-purpose
   models scored by prompting are rated separately; each class's labels say which.
2. **Bands that follow the range**: where a class's energies span at most 10x, five equal-width bands
   (the AI Energy Score rule); where they span more, five bands of equal *ratio* (equal width in log
   energy: each band covers the same factor, e.g. 2.4x for an 81x range), so a 3x gap in the family is
   never lost in one band because of one far model.
3. Bands are set only by models whose best point is not flagged noisy (a noisy best is rated within
   those bands, never moves them); a cohort of one model, or of equal energies, gets 5. A class of one
   beside another class (the one prompted LLM beside the family) is rated in the bands of every model.

The AI Energy Score rule itself stays available (``rule="ai-energy-score"``: one class, linear bands),
as published. Band edges are exact: values are read as the decimals they print as, and the band index
is computed in rational arithmetic (0.6 in [0, 1] is on the edge between the third and fourth band, and
belongs to the higher-energy one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from efflab import format as fmt
from efflab.analysis.eligibility import eligible_mask, sets_bands

if TYPE_CHECKING:
    import pandas as pd

RULE_EFFLAB = "efflab"
RULE_AI_ENERGY_SCORE = "ai-energy-score"
RULES: tuple[str, ...] = (RULE_EFFLAB, RULE_AI_ENERGY_SCORE)
LOG_BANDS_ABOVE = 10.0
"""A class whose energies span more than this factor is rated on bands of equal ratio."""

TASK_SPECIFIC = "task-specific"
GENERAL_PURPOSE = "general-purpose (prompted)"


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def band_index(x: float, lo: float, hi: float, *, log: bool = False, bands: int = 5) -> int:
    """Which of ``bands`` bands over [lo, hi] ``x`` falls in (0 = lowest energy), exactly: an inner
    edge belongs to the higher band, ``hi`` to the top one, values outside to the nearest."""
    if hi <= lo:
        return 0
    if log:
        if lo <= 0:
            msg = f"log bands need positive energies, got a lowest of {lo!r}"
            raise ValueError(msg)
        t = bands * (math.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
        k = math.floor(t + 1e-9)  # a value printed on an edge is on the edge
    else:
        fx, flo, fhi = (Fraction(repr(float(v))) for v in (x, lo, hi))
        k = math.floor(bands * (fx - flo) / (fhi - flo))
    return max(0, min(k, bands - 1))


def energy_stars(
    values: Sequence[Any], bands: tuple[float, float] | None = None, *, log: bool = False
) -> list[int]:
    """Stars for energies of one class (e.g. Wh per 1000 queries): five bands over [min, max] (or
    ``bands`` = (low, high)), equal-width (or, with ``log``, of equal ratio); the lowest band gets 5
    stars, the highest 1. A value exactly on an inner band edge belongs to the higher-energy band;
    the maximum is in the top band (1 star); values outside ``bands`` are rated in the nearest band.
    A class of one, or one where all values are equal, gets 5. NaN or None values get 0 (unrated)
    and do not move the bands."""
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
            out.append(5 - band_index(x, lo, hi, log=log))
    return out


@dataclass(frozen=True)
class ModelRating:
    """One model's energy stars: the rating of its best (least energy) eligible configuration.

    Attributes:
        group: the class it is rated in (``task-specific`` or ``general-purpose (prompted)``).
        rule: the rule and the bands it used, in words (labels print it).
        n_rated: how many models its class has (its stars are "of 5 among n_rated").
        bands: (least, most) Wh per 1000 queries of the bands, and whether they are of equal ratio.
        sets_bands: False where its best point is flagged noisy: rated, but did not move the bands.
    """

    model: str
    stars: int
    key: str
    label: str
    wh_per_1000_queries: float
    energy_basis: str
    sets_bands: bool
    n_configurations: int
    group: str = TASK_SPECIFIC
    rule: str = ""
    n_rated: int = 1
    bands: tuple[float, float, bool] = (math.nan, math.nan, False)

    def stars_for(self, wh_per_1000_queries: float) -> int:
        """Stars of another configuration's energy in this model's bands (0 when unknown)."""
        lo, hi, log = self.bands
        if not (math.isfinite(wh_per_1000_queries) and math.isfinite(lo) and math.isfinite(hi)):
            return 0
        return energy_stars([wh_per_1000_queries], (lo, hi), log=log)[0]


def _best_per_model(eligible: pd.DataFrame) -> pd.DataFrame:
    return eligible.loc[eligible.groupby("model")["wh_per_1000_queries"].idxmin().to_numpy()]


def group_of(row: Any) -> str:
    """A point's rating class: general-purpose when it is a causal LM scored by prompting."""
    from efflab.analysis.uncertainty import value

    return GENERAL_PURPOSE if value(row, "prompting") is not None else TASK_SPECIFIC


def rule_text(lo: float, hi: float, log: bool, rule: str, n: int, group: str) -> str:
    """The rule a class was rated by, in words."""
    if n == 1 or hi <= lo:
        return f"the only {group} model here: 5 stars"
    span = f"{fmt.wh(lo)} to {fmt.wh(hi)} per 1000 queries"
    if rule == RULE_AI_ENERGY_SCORE:
        return f"AI Energy Score rule: five equal-width bands from {span}, every model of the cohort"
    if log:
        step = (hi / lo) ** 0.2
        return (
            f"five bands of equal ratio ({fmt.sig(step, 2)}× each) from {span} among the {n} {group} models "
            f"(they span {fmt.sig(hi / lo, 2)}×, more than {LOG_BANDS_ABOVE:g}×)"
        )
    return f"five equal-width bands from {span} among the {n} {group} models (AI Energy Score rule)"


def rate_models(eligible: pd.DataFrame, rule: str = RULE_EFFLAB) -> tuple[ModelRating, ...]:
    """One rating per model of one cohort's eligible points, least energy first (module rules)."""
    if rule not in RULES:
        msg = f"unknown rating rule {rule!r}; use one of {', '.join(RULES)}"
        raise ValueError(msg)
    if eligible.empty:
        return ()
    best = _best_per_model(eligible)
    counts = eligible["model"].value_counts()
    groups: dict[str, list[Any]] = {}
    for _, r in best.iterrows():
        groups.setdefault(TASK_SPECIFIC if rule == RULE_AI_ENERGY_SCORE else group_of(r), []).append(r)
    every = [r for rows in groups.values() for r in rows]
    out = []
    for group, rows in groups.items():
        # A class of one beside other classes cannot be rated against its own: it is rated in the bands
        # of every model measured (a lone prompted LLM at 100x the family is not "5 of 5").
        alone = len(rows) == 1 and len(every) > 1
        band_rows = every if alone else rows
        band_wh = [float(r["wh_per_1000_queries"]) for r in band_rows]
        setters = [w for w, r in zip(band_wh, band_rows, strict=True) if sets_bands(r)] or band_wh
        lo, hi = min(setters), max(setters)
        log = rule == RULE_EFFLAB and lo > 0 and hi / lo > LOG_BANDS_ABOVE
        wh = [float(r["wh_per_1000_queries"]) for r in rows]
        stars = energy_stars(wh, (lo, hi), log=log)
        label_group = "" if rule == RULE_AI_ENERGY_SCORE else group
        if alone:
            text = (
                f"the only {label_group} model here, so rated against all {len(every)} models: "
                + rule_text(lo, hi, log, rule, len(every), "measured")
            )
        else:
            text = rule_text(lo, hi, log, rule, len(rows), label_group or "rated")
        clean = [sets_bands(r) for r in rows]  # this class's own points: rated, and whether they set bands
        for r, s, c in zip(rows, stars, clean, strict=True):
            out.append(
                ModelRating(
                    model=str(r["model"]),
                    stars=int(s),
                    key=str(r["key"]) if "key" in r.index else fmt.config_label(r),
                    label=fmt.config_label(r),
                    wh_per_1000_queries=float(r["wh_per_1000_queries"]),
                    energy_basis=fmt.energy_basis(r),
                    sets_bands=c or len(setters) == len(band_wh),
                    n_configurations=int(counts[r["model"]]),
                    group=group,
                    rule=text,
                    n_rated=len(band_rows),
                    bands=(lo, hi, log),
                )
            )
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
        ratings = {r.model: r for r in rate_models(g)}
        parts.append(
            best.assign(
                stars=[ratings[str(m)].stars for m in best["model"]],
                star_rule=[ratings[str(m)].rule for m in best["model"]],
                star_group=[ratings[str(m)].group for m in best["model"]],
                star_n=[ratings[str(m)].n_rated for m in best["model"]],
            )
        )
    import pandas as pd

    out = pd.concat(parts)
    sort = ["cohort", column] if "cohort" in out.columns else [column]
    return out.sort_values(sort).reset_index(drop=True)
