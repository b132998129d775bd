"""How many tokens a classified query is, for the per-token energy of encoders.

An encoder classifier (``hf`` models) tokenizes every query with ``padding="max_length"`` and
``truncation=True`` at the point's ``seq_len`` (:meth:`efflab.models.runners.HFRunner.make_batch`), so
each query is exactly ``seq_len`` tokens, **padding included**: the per-token figures count the tokens
the model computed on, not the tokens of the text. Other points have no such count here: the TF-IDF
baseline has no tokens, a prompted causal LM's prompts vary in length, and generated responses have
their own per-output-token energy (``energy_j_per_token``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

TOKENS_PER_MILLION = 1_000_000
PADDING_NOTE = (
    "per 1M tokens: encoders only; every query is padded or truncated to its seq_len, so padded tokens count"
)
"""The one sentence every surface prints under a per-token figure."""


@lru_cache(maxsize=256)
def _kind(model: str) -> str | None:
    from efflab.models.registry import model_kind

    return model_kind(model)


def _present(v: Any) -> bool:
    if v is None:
        return False
    if isinstance(v, float) and math.isnan(v):
        return False
    try:
        import pandas as pd

        return not bool(pd.isna(v))
    except (TypeError, ValueError):
        return True


def encoder_tokens_per_query(
    model: str,
    seq_len: Any,
    *,
    workload: Any = "classify",
    prompting: Any = None,
    flops_per_query: Any = None,
) -> int | None:
    """Tokens per query of an encoder classification point (``seq_len``, padding counted), else None.

    The model's kind is read without loading it (:func:`efflab.models.registry.model_kind`). A name
    whose kind cannot be told that way (a hub id, a folder since deleted) counts as an encoder only
    when its FLOPs were counted (a transformer forward pass; the sklearn baseline's are not), so a
    per-token figure is never invented for a model without tokens.
    """
    if (_present(workload) and str(workload) != "classify") or _present(prompting):
        return None
    if not _present(seq_len):
        return None
    n = int(seq_len)
    if n <= 0:
        return None
    kind = _kind(str(model))
    if kind == "hf":
        return n
    if kind is None and _present(flops_per_query) and float(flops_per_query) > 0:
        return n
    return None


def per_million_tokens(per_query: Any, tokens_per_query: Any) -> float | None:
    """A per-query figure (J, Wh, g, …) per million tokens; None where either is unknown."""
    if not _present(per_query) or not _present(tokens_per_query) or float(tokens_per_query) <= 0:
        return None
    return float(per_query) / float(tokens_per_query) * TOKENS_PER_MILLION
