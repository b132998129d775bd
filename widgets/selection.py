"""The lab's selection: one configuration as its controls show it.

:class:`Selection` is what the model slider, the batch-size slider, the precision, device, task, cast,
workload and max-new-tokens controls say now. It is a :class:`efflab.config.Config` less the tokens per
query (the shown cohort's, chosen when a point is measured: :meth:`Selection.config`), and it keeps the
cast and output-length controls' values while they do not apply (fp32, classify) so that they come back.
Both are an :class:`efflab.config.Choice`: its fields are declared, and checked, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from efflab import format as fmt
from efflab.config import DEFAULT_MAX_NEW_TOKENS, Choice, Config, parse_max_new_tokens


@dataclass(frozen=True)
class Selection(Choice):
    """One configuration as the lab's controls show it: a :class:`efflab.config.Choice` (model, batch
    size, precision, device, task, cast, workload, checked by the same code as a Config's) and the
    output-length control's value.

    ``max_new_tokens`` (tokens per response) is the value of its control and applies to ``generate``
    only; ``cast`` keeps the cast control's value at fp32 and int8 (:meth:`config` drops both where they
    do not apply).
    """

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS

    def __post_init__(self) -> None:
        self._check_choice("pick one from the family", "pick e.g. 1, 8, 32")
        object.__setattr__(self, "task", self.task or None)
        object.__setattr__(
            self, "max_new_tokens", parse_max_new_tokens(self.max_new_tokens, "pick e.g. 1, 16 or 64")
        )

    @property
    def generates(self) -> bool:
        return self.workload == "generate"

    @property
    def label(self) -> str:
        base = f"{fmt.config_label(self)} · {self.device}"
        return f"{base} · {self.tokens_text}" if self.generates else base

    @property
    def tokens_text(self) -> str:
        """``16 new tokens`` · ``1 new token``."""
        n = self.max_new_tokens
        return f"{n} new token{'s' if n != 1 else ''}"

    def config(self, seq_len: int) -> Config:
        return Config(
            model=self.model,
            batch_size=self.batch_size,
            precision=self.precision,
            device=self.device,
            seq_len=seq_len,
            task=self.task,
            cast=self.cast if self.precision in ("fp16", "bf16") else "model",
            workload=self.workload,
            max_new_tokens=self.max_new_tokens if self.generates else None,
        )


SELECTION_FIELDS = tuple(f.name for f in fields(Selection))  # what LabState.select accepts


def selection_of(row: Any, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> Selection:
    """The selection of a stored point (a table row or an ``efflab.analysis.Point``).
    ``max_new_tokens``: the output-length control's value, kept when the point is a classification."""
    task = row["task"]
    task = None if task is None or (isinstance(task, float) and math.isnan(task)) else str(task)
    cast = row.get("cast")
    workload = row.get("workload")
    workload = workload if isinstance(workload, str) and workload else "classify"
    n_new = row.get("max_new_tokens")
    if workload != "generate" or n_new is None or n_new != n_new:  # NaN: a classification row
        n_new = max_new_tokens  # the control keeps its value for the next generate selection
    return Selection(
        str(row["model"]),
        int(row["batch_size"]),
        str(row["precision"]),
        str(row["device"]),
        task,
        cast if isinstance(cast, str) and cast else "model",
        workload,
        int(n_new),
    )


__all__ = ["SELECTION_FIELDS", "Selection", "selection_of"]
