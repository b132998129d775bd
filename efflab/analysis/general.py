"""The general-purpose model against the task-specific family, in one sentence (pure).

"the general-purpose model costs N× the energy per query for X pt less accuracy": the prompted causal
LM (a classify point with a ``prompting`` protocol) against the most accurate task-specific model, each
at its least-energy configuration, on the same task and hardware (one cohort).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from efflab import format as fmt

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class GeneralVsSpecific:
    """The comparison behind the sentence. Energies in J per query, accuracies as fractions."""

    general_model: str
    general_label: str
    general_energy_j: float
    general_accuracy: float
    general_n_eval: int | None
    protocol: str
    specific_model: str
    specific_label: str
    specific_energy_j: float
    specific_accuracy: float
    energy_basis: str

    @property
    def energy_ratio(self) -> float:
        return self.general_energy_j / self.specific_energy_j if self.specific_energy_j > 0 else math.inf

    @property
    def accuracy_gap_pt(self) -> float:
        """Task-specific minus general accuracy, in percentage points (positive: the general one is worse)."""
        return (self.specific_accuracy - self.general_accuracy) * 100.0

    def sentence(self) -> str:
        gap = self.accuracy_gap_pt
        more_less = "less" if gap >= 0 else "more"
        ratio = self.energy_ratio
        r = f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.1f}×"
        n = f", n={self.general_n_eval}" if self.general_n_eval else ""
        return (
            f"The general-purpose model ({self.general_model}, prompted: {self.protocol}{n}) costs {r} the "
            f"{self.energy_basis} energy per query of {self.specific_model} for {abs(gap):.1f} pt {more_less} "
            "accuracy."
        )


def general_vs_specific(frame: pd.DataFrame) -> GeneralVsSpecific | None:
    """The comparison in ``frame`` (one cohort's ok rows), or None when it lacks either side.

    Generate points, failed points and points without accuracy or energy are ignored. Unstable or
    disturbed points are left out when the frame has a ``flags`` column.
    """
    if frame is None or frame.empty or "accuracy" not in frame.columns:
        return None
    from efflab.analysis.eligibility import eligible_mask

    df = frame[eligible_mask(frame)]  # the one eligibility rule: ok, an energy figure, not unstable/disturbed
    if "workload" in df.columns:
        df = df[df["workload"].fillna("classify") == "classify"]
    df = df[df["accuracy"].notna() & df["energy_j_per_query"].notna() & (df["energy_j_per_query"] > 0)]
    if df.empty:
        return None
    prompted = df["prompting"].notna() if "prompting" in df.columns else df["accuracy"].isna()
    gen, spec = df[prompted], df[~prompted]
    if gen.empty or spec.empty:
        return None
    g = gen.loc[gen["energy_j_per_query"].idxmin()]
    best_acc = spec.groupby("model")["accuracy"].max()
    top = str(best_acc.idxmax())
    rows = spec[spec["model"] == top]
    s = rows.loc[rows["energy_j_per_query"].idxmin()]
    measured = bool(g.get("energy_measured")) and bool(s.get("energy_measured"))
    n = g.get("n_eval")
    return GeneralVsSpecific(
        general_model=str(g["model"]),
        general_label=fmt.config_label(g),
        general_energy_j=float(g["energy_j_per_query"]),
        general_accuracy=float(g["accuracy"]),
        general_n_eval=int(n) if n is not None and not (isinstance(n, float) and math.isnan(n)) else None,
        protocol=str(g["prompting"]),
        specific_model=top,
        specific_label=fmt.config_label(s),
        specific_energy_j=float(s["energy_j_per_query"]),
        specific_accuracy=float(s["accuracy"]),
        energy_basis="measured" if measured else "modelled",
    )
