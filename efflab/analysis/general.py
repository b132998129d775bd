"""The general-purpose model against the task-specific family, in one sentence (pure).

"the general-purpose model costs N× the energy per query for X pt less accuracy": the prompted causal
LM (a classify point with a ``prompting`` protocol) against the most accurate task-specific model, each
at its least-energy configuration, on the same task and hardware (one cohort). The accuracies are
compared on the same test texts where both points stored their per-example correctness (the prompted
model scores a prefix of the test split, :mod:`efflab.tasks.prompting`).

The ratio is headlined only when the prompted model is above chance: the 95 % interval of its
accuracy lies above its ``majority_rate`` (always answering the most common class on the same texts).
Otherwise the sentence says that it did not beat the majority class (or, for a point measured before
the rate was recorded, that this is not known) and gives no ratio.
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
    """The comparison behind the sentence. Energies in J per query, accuracies as fractions.

    Attributes:
        general_accuracy: the prompted model's accuracy on its ``general_n_eval`` test texts.
        general_ci: its 95 % interval (None when the point stored neither it nor ``n_eval``).
        majority_rate: the fraction of those texts in the most common class (None: not recorded).
        specific_accuracy: the task-specific model's accuracy on the same texts when ``same_texts``,
            else on its own ``specific_n_eval`` texts.
    """

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
    general_ci: tuple[float, float] | None = None
    majority_rate: float | None = None
    specific_n_eval: int | None = None
    same_texts: bool = False

    @property
    def energy_ratio(self) -> float:
        return self.general_energy_j / self.specific_energy_j if self.specific_energy_j > 0 else math.inf

    @property
    def accuracy_gap_pt(self) -> float:
        """Task-specific minus general accuracy, in percentage points (positive: the general one is worse)."""
        return (self.specific_accuracy - self.general_accuracy) * 100.0

    @property
    def beats_majority(self) -> bool | None:
        """The general model's 95 % interval lies above the majority-class rate; None when either is
        unknown (a point from before the rate was recorded)."""
        if self.majority_rate is None or self.general_ci is None:
            return None
        return self.general_ci[0] > self.majority_rate

    def _ratio(self) -> str:
        r = self.energy_ratio
        return f"{fmt.number(r)}×" if r >= 10 else f"{fmt.sig(r, 2)}×"

    def headline(self) -> str:
        """The card's value: ``78× the energy``, or why there is no ratio."""
        beats = self.beats_majority
        if beats:
            return f"{self._ratio()} the energy"
        return "did not beat the majority class" if beats is False else "not checked against chance"

    def _accuracy(self, *, texts: bool = True) -> str:
        """``72.0 % (95 % interval 65.4 % – 77.7 %) on 200 test texts``."""
        acc = fmt.percent(self.general_accuracy)
        if self.general_ci is not None:
            acc += f" (95 % interval {fmt.span(*self.general_ci, fmt.percent)})"
        if texts and self.general_n_eval:
            acc += f" on {fmt.number(self.general_n_eval)} test texts"
        return acc

    def sentence(self) -> str:
        who = f"The general-purpose model ({self.general_model}, prompted: {self.protocol})"
        spec = fmt.percent(self.specific_accuracy)
        beats = self.beats_majority
        if beats is None:
            return (
                f"{who} scored {self._accuracy()}, but its point does not record the majority-class rate "
                "(measured by an older efflab), so it is not known to beat chance and no energy ratio is "
                f"given against {self.specific_model} ({spec}); re-measure it."
            )
        maj = fmt.percent(self.majority_rate)
        if not beats:
            same = " on the same texts" if self.same_texts else ""
            return (
                f"{who} did not beat the majority class: {self._accuracy()}, where always answering the "
                f"majority class scores {maj}; no energy ratio is given against {self.specific_model} "
                f"({spec}{same}) for an accuracy no better than chance."
            )
        gap = self.accuracy_gap_pt
        more_less = "less" if gap >= 0 else "more"
        if self.same_texts:
            where = (
                f" on the same {fmt.number(self.general_n_eval)} test texts: {self._accuracy(texts=False)} vs "
                f"{spec}"
            )
        else:
            other_n = f" on {fmt.number(self.specific_n_eval)}" if self.specific_n_eval else ""
            where = f": {self._accuracy()} vs {spec}{other_n}"
        where += f", where always answering the majority class scores {maj}"
        return (
            f"{who} costs {self._ratio()} the {self.energy_basis} energy per query of {self.specific_model} "
            f"for {abs(gap):.1f} pt {more_less} accuracy{where}."
        )


def _general_ci(g: pd.Series, n: int | None) -> tuple[float, float] | None:
    from efflab.analysis.uncertainty import number
    from efflab.stats import wilson_interval

    lo, hi = number(g, "accuracy_ci_low"), number(g, "accuracy_ci_high")
    if lo is not None and hi is not None:
        return (lo, hi)
    if n:
        return wilson_interval(round(float(g["accuracy"]) * n), n)
    return None


def general_vs_specific(frame: pd.DataFrame) -> GeneralVsSpecific | None:
    """The comparison in ``frame`` (one cohort's ok rows), or None when it lacks either side.

    Generate points, failed points and points without accuracy or energy are ignored. Unstable or
    disturbed points are left out when the frame has a ``flags`` column.
    """
    if frame is None or frame.empty or "accuracy" not in frame.columns:
        return None
    from efflab.analysis.eligibility import eligible_mask
    from efflab.analysis.uncertainty import number, value

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
    n_g, n_s = number(g, "n_eval"), number(s, "n_eval")
    n = int(n_g) if n_g else None
    s_acc = float(s["accuracy"])
    cg, cs = value(g, "accuracy_correct"), value(s, "accuracy_correct")
    same = isinstance(cg, str) and isinstance(cs, str) and 0 < len(cg) <= len(cs)
    if same:
        # Both strings are in the task's test order: the prompted model's texts are a prefix of the
        # family's, so the task-specific accuracy is taken on that prefix.
        prefix = str(cs)[: len(str(cg))]
        s_acc = prefix.count("1") / len(prefix)
    return GeneralVsSpecific(
        general_model=str(g["model"]),
        general_label=fmt.config_label(g),
        general_energy_j=float(g["energy_j_per_query"]),
        general_accuracy=float(g["accuracy"]),
        general_n_eval=n,
        protocol=str(g["prompting"]),
        specific_model=top,
        specific_label=fmt.config_label(s),
        specific_energy_j=float(s["energy_j_per_query"]),
        specific_accuracy=s_acc,
        energy_basis="measured" if measured else "modelled",
        general_ci=_general_ci(g, n),
        majority_rate=number(g, "majority_rate"),
        specific_n_eval=len(str(cg)) if same else (int(n_s) if n_s else None),
        same_texts=same,
    )
