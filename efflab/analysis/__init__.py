"""Pure functions over the results DataFrame: pareto front, knee, stars, recommendation, savings."""

from efflab.analysis.pareto import knee, pareto_front
from efflab.analysis.recommend import Recommendation, compare, recommend, recommend_by_cohort
from efflab.analysis.savings import Savings, savings
from efflab.analysis.stars import add_stars, energy_stars, energy_stars_quantile, model_ratings

__all__ = [
    "Recommendation",
    "Savings",
    "add_stars",
    "compare",
    "energy_stars",
    "energy_stars_quantile",
    "knee",
    "model_ratings",
    "pareto_front",
    "recommend",
    "recommend_by_cohort",
    "savings",
]
