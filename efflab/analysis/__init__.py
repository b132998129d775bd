"""Pure functions over the results frame. :func:`assess` decides, once, what every surface shows
(cohort, eligible points, stars per model, recommendation, baseline, savings, provenance)."""

from efflab.analysis.assess import (
    AssessInputs,
    Assessment,
    Exclusion,
    Recommendation,
    assess,
    default_baseline,
    energy_text,
    nudge,
)
from efflab.analysis.compare import Comparison, compare_points, energy_tied
from efflab.analysis.eligibility import INELIGIBLE_FLAGS, eligible_mask, exclusion_reason
from efflab.analysis.paired import PairedRatio, Pairings, Verdict, load_pairings, paired_ratio
from efflab.analysis.pareto import knee, pareto_front
from efflab.analysis.point import Point
from efflab.analysis.savings import Savings, savings
from efflab.analysis.stars import ModelRating, energy_stars, model_ratings, rate_models
from efflab.analysis.uncertainty import compare_accuracy, mcnemar_exact_p

__all__ = [
    "INELIGIBLE_FLAGS",
    "AssessInputs",
    "Assessment",
    "Comparison",
    "Exclusion",
    "ModelRating",
    "PairedRatio",
    "Pairings",
    "Point",
    "Recommendation",
    "Savings",
    "Verdict",
    "assess",
    "compare_accuracy",
    "compare_points",
    "default_baseline",
    "eligible_mask",
    "energy_stars",
    "energy_text",
    "energy_tied",
    "exclusion_reason",
    "knee",
    "load_pairings",
    "mcnemar_exact_p",
    "model_ratings",
    "nudge",
    "paired_ratio",
    "pareto_front",
    "rate_models",
    "savings",
]
