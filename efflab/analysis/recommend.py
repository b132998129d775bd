"""The nudge: the least-energy configuration whose accuracy is within a tolerance of the best."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from efflab.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Recommendation:
    """The recommended row of a cohort and why.

    Attributes:
        row: the recommended configuration (a row of the results frame).
        index: its index label in the frame.
        cohort: the cohort it was chosen in.
        best_accuracy: the best accuracy in the cohort (None for cost-only cohorts).
        accuracy_tolerance: the tolerance used (fraction: 0.01 = 1 point).
        n_candidates: configurations within the tolerance.
        reason: one sentence saying why.
    """

    row: pd.Series
    index: Any
    cohort: str
    best_accuracy: float | None
    accuracy_tolerance: float
    n_candidates: int
    reason: str


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    out = df[df["status"] == "ok"] if "status" in df.columns else df
    return out[out["energy_j_per_query"].notna()]


def recommend(
    df: pd.DataFrame, accuracy_tolerance: float = 0.01, *, cohort: str | None = None
) -> Recommendation | None:
    """Least energy per query among configurations within ``accuracy_tolerance`` of the best accuracy.

    ``accuracy_tolerance`` is a fraction (0.01 = 1 percentage point). Works on one cohort: the one
    named, else the cohort with the most measured points. Ties on energy go to higher accuracy,
    then lower latency. Cohorts without accuracy (cost-only) recommend the least energy overall.
    Returns None when there is no measured point.

    Raises:
        ConfigError: a negative or non-numeric tolerance, or an unknown cohort.
    """
    if (
        isinstance(accuracy_tolerance, bool)
        or not isinstance(accuracy_tolerance, (int, float))
        or not (0 <= accuracy_tolerance <= 1)
    ):
        msg = f"accuracy tolerance must be a fraction between 0 and 1 (0.01 = 1 point), got {accuracy_tolerance!r}"
        raise ConfigError(msg)
    ok = _ok(df)
    if ok.empty:
        return None
    if cohort is None:
        cohort = str(ok["cohort"].value_counts().idxmax())
    elif cohort not in set(ok["cohort"]):
        msg = f"no measured points in cohort {cohort!r}; cohorts: {', '.join(sorted(set(ok['cohort'])))}"
        raise ConfigError(msg)
    g = ok[ok["cohort"] == cohort]
    acc = g["accuracy"].astype(float)
    if acc.notna().any():
        best = float(acc.max())
        cands = g[acc >= best - accuracy_tolerance - 1e-12]
    else:
        best = None
        cands = g
    cands = cands.sort_values(
        ["energy_j_per_query", "accuracy", "latency_s"], ascending=[True, False, True], na_position="last"
    )
    idx = cands.index[0]
    row = cands.loc[idx]
    cfg = f"{row['model']} · batch {int(row['batch_size'])} · {row['precision']}"
    if best is None:
        reason = (
            f"{cfg} uses the least energy per query of {len(g)} configurations (no task accuracy measured)."
        )
    else:
        reason = (
            f"{cfg} uses the least energy per query among the {len(cands)} configurations within "
            f"{accuracy_tolerance * 100:g} pt of the best accuracy ({best * 100:.1f} %)."
        )
    return Recommendation(row, idx, cohort, best, float(accuracy_tolerance), len(cands), reason)


def recommend_by_cohort(df: pd.DataFrame, accuracy_tolerance: float = 0.01) -> dict[str, Recommendation]:
    """``recommend`` for every cohort of the frame."""
    ok = _ok(df)
    out = {}
    for c in sorted(set(ok["cohort"])):
        r = recommend(ok, accuracy_tolerance, cohort=c)
        if r is not None:
            out[c] = r
    return out


def compare(selected: pd.Series | dict[str, Any], recommended: pd.Series | dict[str, Any]) -> str:
    """The nudge in words: '3.1× the energy for +0.4 pt accuracy' of ``selected`` vs ``recommended``."""
    e_sel, e_rec = float(selected["energy_j_per_query"]), float(recommended["energy_j_per_query"])
    if not (math.isfinite(e_sel) and math.isfinite(e_rec)) or e_rec <= 0:
        return "energy not comparable"
    ratio = e_sel / e_rec
    a_sel, a_rec = selected.get("accuracy"), recommended.get("accuracy")
    acc = ""
    if a_sel is not None and a_rec is not None and not (math.isnan(float(a_sel)) or math.isnan(float(a_rec))):
        acc = f" for {(float(a_sel) - float(a_rec)) * 100:+.1f} pt accuracy"
    if abs(ratio - 1) < 0.005:
        return f"same energy as the recommendation{acc}"
    times = f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.2g}"  # never "2.7e+03×"
    return f"{times}× the energy{acc}" if ratio >= 1 else f"{times}× the energy (cheaper){acc}"
