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
from efflab.analysis.eligibility import INELIGIBLE_FLAGS, eligible_mask, exclusion_reason
from efflab.analysis.pareto import knee, pareto_front
from efflab.analysis.savings import Savings, savings
from efflab.analysis.stars import ModelRating, energy_stars, model_ratings, rate_models
from efflab.analysis.uncertainty import compare_accuracy, energy_tied, mcnemar_exact_p

__all__ = [
    "INELIGIBLE_FLAGS",
    "AssessInputs",
    "Assessment",
    "Exclusion",
    "ModelRating",
    "Recommendation",
    "Savings",
    "assess",
    "compare_accuracy",
    "default_baseline",
    "eligible_mask",
    "energy_stars",
    "energy_text",
    "energy_tied",
    "exclusion_reason",
    "knee",
    "mcnemar_exact_p",
    "model_ratings",
    "nudge",
    "pareto_front",
    "rate_models",
    "savings",
]
