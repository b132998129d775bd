"""The results store as the lab read it at one moment (:class:`LabData`), and what follows from the
store alone — no selection: its rows, the measured ones, the model family to show, which models can
generate. :class:`widgets.state.LabState` holds one and reads a new one on every reload.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab.errors import EfflabError, StoreError
from efflab.store.results import COLUMNS

if TYPE_CHECKING:
    import pandas as pd


def zoo_names(which: str = "names") -> list[str]:
    """The zoo's task-specific family (``names``) or every zoo model (``all_names``), smallest first."""
    try:
        import efflab.zoo as zoo
    except ModuleNotFoundError as e:
        if e.name not in ("efflab.zoo", "efflab"):
            raise
        return []
    names = getattr(zoo, which, None)  # a zoo that is half-built (or another version) has none
    if not callable(names):
        return []
    try:
        return [str(n) for n in names()]
    except EfflabError:
        return []


def order_family(models: Iterable[str], sizes: dict[str, float], zoo: Sequence[str] = ()) -> list[str]:
    """Models smallest first: by parameter count where every size is known, else the zoo's own
    order (smallest first) followed by the other models by size (unknown sizes last)."""
    names = list(dict.fromkeys(m for m in models if m))
    if all(m in sizes for m in names):
        return sorted(names, key=lambda m: (sizes[m], m))
    in_zoo = [m for m in zoo if m in names]
    rest = [m for m in names if m not in in_zoo]
    rest.sort(key=lambda m: (sizes.get(m, math.inf), m))
    return in_zoo + rest


def empty_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})


def workloads_of(df: pd.DataFrame) -> pd.Series:
    """Each row's workload; rows without one (failed points, stores from before generation) classify."""
    import pandas as pd

    if "workload" not in df.columns:
        return pd.Series("classify", index=df.index, dtype="object")
    return df["workload"].fillna("classify").astype(str)


def task_mask(df: pd.DataFrame, task: str | None) -> pd.Series:
    """The rows of ``task`` (None: the cost-only rows, without a task)."""
    if task is None:
        return df["task"].isna()
    return df["task"] == task


def common_seq_len(df: pd.DataFrame) -> int | None:
    """The most common tokens per query of ``df``'s rows (None when none says)."""
    if df.empty or not df["seq_len"].notna().any():
        return None
    return int(df["seq_len"].dropna().mode().iloc[0])


@dataclass(frozen=True)
class LabData:
    """One read of the results store.

    Attributes:
        path: the store.
        df: every stored point (``efflab.store.load_results``; an empty frame for a missing store).
        pairings: the paired rounds' visits (``efflab.analysis.paired.load_pairings``), or None.
        exists: the store file exists and is not empty.
        error: why it could not be read (one line), or None.
        family: the models to classify with, smallest first (the family given, else the store's models
            and the zoo's family).
        generative_family: the models that can generate, smallest first.
    """

    path: Path
    df: pd.DataFrame
    pairings: Any = None
    exists: bool = False
    error: str | None = None
    family: tuple[str, ...] = ()
    generative_family: tuple[str, ...] = ()
    _kinds: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False)
    _rows: dict[tuple[str | None, str | None, str], pd.DataFrame] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def read(cls, path: Path, family: Sequence[str] | None = None) -> LabData:
        """Read ``path`` (a missing store is an empty one; a damaged one says why in ``error``)."""
        from efflab.store import load_results

        exists = path.exists() and path.stat().st_size > 0
        df, pairings, error = empty_frame(), None, None
        if exists:
            try:
                from efflab.analysis.paired import load_pairings

                df = load_results(path)
                pairings = load_pairings(path)
            except StoreError as e:
                error, df = str(e), empty_frame()
        data = cls(path, df, pairings, exists, error)
        object.__setattr__(data, "family", data._family(family))
        object.__setattr__(data, "generative_family", data._generative_family(family))
        return data

    @cached_property
    def ok(self) -> pd.DataFrame:
        """The measured (status ok) rows."""
        df = self.df
        return df[df["status"] == "ok"] if not df.empty else df

    def rows(self, task: str | None, hardware: str | None, workload: str) -> pd.DataFrame:
        """The measured rows of one cohort (``task`` on ``hardware``) and ``workload``: what the lab's
        figures plot and its recommendation is made from (kept for this read of the store)."""
        key = (task, hardware, workload)
        if key not in self._rows:
            ok = self.ok
            self._rows[key] = (
                ok
                if ok.empty
                else ok[task_mask(ok, task) & (ok["hardware"] == hardware) & (workloads_of(ok) == workload)]
            )
        return self._rows[key]

    def tasks(self) -> list[str | None]:
        """The tasks of the measured rows (None: cost only), in the store's order."""
        ok = self.ok
        out = [] if ok.empty else [None if t is None or t != t else str(t) for t in ok["task"].unique()]
        return list(dict.fromkeys(out))

    def hardwares(self, task: str | None) -> list[str]:
        """The machines with measured rows of ``task``."""
        ok = self.ok
        return [] if ok.empty else [str(h) for h in ok[task_mask(ok, task)]["hardware"].unique()]

    def initial_task(self, given: str | None) -> str | None:
        """The task to open on: ``given``, else the store's with the most measured rows, else the
        built-in reviews task where the zoo is there."""
        ok = self.ok
        if given is not None:
            return given
        if not ok.empty:
            return str(ok["task"].fillna("").value_counts().idxmax()) or None  # "": the cost-only cohort
        return "reviews" if zoo_names() else None

    def pick_hardware(self, task: str | None, here: str) -> str:
        """This machine when it has rows of ``task`` (or nothing has), else the machine with most."""
        ok = self.ok
        g = ok[task_mask(ok, task)] if not ok.empty else ok
        if g.empty or (g["hardware"] == here).any():
            return here
        return str(g["hardware"].value_counts().idxmax())

    def _sizes(self) -> dict[str, float]:
        ok = self.ok
        if ok.empty:
            return {}
        n = ok.dropna(subset=["n_params"]).groupby("model")["n_params"].max()
        return {str(k): float(v) for k, v in n.items()}

    def _family(self, given: Sequence[str] | None) -> tuple[str, ...]:
        if given:
            return tuple(dict.fromkeys(given))
        models = [str(m) for m in self.df["model"].dropna().unique()]
        zoo = zoo_names()
        return tuple(order_family([*models, *zoo], self._sizes(), zoo))

    def _generative_family(self, given: Sequence[str] | None) -> tuple[str, ...]:
        """The models that can generate, smallest first: of the family given, else of the store's
        models and every zoo model (the task-specific family and the general-purpose models)."""
        zoo = zoo_names("all_names")
        if given:
            names = list(dict.fromkeys(given))
        else:
            names = [*(str(m) for m in self.df["model"].dropna().unique()), *zoo]
        names = [m for m in names if self.model_kind(m) == "causal-lm"]
        return tuple(order_family(names, self._sizes(), zoo))

    def model_kind(self, model: str) -> str | None:
        """``causal-lm`` (can generate), ``hf`` (an encoder classifier), ``sklearn``, or None when
        unknown without loading it: a model with generate points in the store generates; otherwise
        the registry decides from its name, recipe or folder (``efflab.models.registry.model_kind``)."""
        if model not in self._kinds:
            df = self.df
            if not df.empty and ((df["model"] == model) & (workloads_of(df) == "generate")).any():
                self._kinds[model] = "causal-lm"
            else:
                from efflab.models.registry import model_kind

                self._kinds[model] = model_kind(model)
        return self._kinds[model]
