"""A configuration of an assessed cohort as a typed record: what the recommendation, the baseline and
the selection are (``Assessment.point(key)``, ``Recommendation.point``), what renderers read.

Its fields are the figures a surface shows, typed (a status enum, flags as a set of ``Flag``, a
missing figure None — never NaN, never 0). The cohort's table (``Assessment.frame``) stays the view
that plots, tables and exports read; a point also answers ``point["column"]`` from that table's
row, for the frame-reading helpers (``compare_energy``, ``savings``, ``fmt.config_label``) and for
columns rare enough to have no field (per-window spreads, fingerprints, generation timings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from efflab.analysis.uncertainty import number, value
from efflab.records import Flag, PointStatus, parse_flags

if TYPE_CHECKING:
    import pandas as pd


def _int(row: Any, col: str) -> int | None:
    v = number(row, col)
    return None if v is None else int(v)


def _text(row: Any, col: str) -> str | None:
    v = value(row, col)
    return None if v is None or v == "" else str(v)


@dataclass(frozen=True)
class Point:
    """One configuration of a cohort (see the module docstring).

    Attributes:
        key: the store key: what identifies the point on every surface.
        label: ``minilm-l4 · b32 · bf16`` (``efflab.format.config_label``).
        eligible, excluded_reason: whether decisions count it, and why not (one sentence) when not.
        stars: the model's stars in its class (0 = unrated).
        accuracy_ci: the accuracy's 95 % interval (None without one).
        n_eval: test texts scored (None for a cost-only point).
    """

    key: str
    label: str
    model: str
    model_id: str | None
    batch_size: int
    precision: str
    device: str
    task: str | None
    hardware: str | None
    cohort: str | None
    workload: str
    status: PointStatus
    flags: frozenset[Flag]
    eligible: bool
    excluded_reason: str | None
    stars: int
    energy_j_per_query: float | None
    wh_per_1000_queries: float | None
    energy_source: str | None
    energy_measured: bool | None
    energy_uncertainty_rel: float | None
    co2e_g_per_1000_queries: float | None
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None
    n_eval: int | None
    latency_s: float | None
    latency_ci_s: float | None
    latency_per_query_s: float | None
    throughput_qps: float | None
    peak_mem_bytes: float | None
    model_bytes: float | None
    n_params: float | None
    flops_per_query: float | None
    mfu: float | None
    _row: pd.Series = field(repr=False, compare=False)

    @classmethod
    def of(cls, row: pd.Series) -> Point:
        """The point of one row of an assessed cohort's frame (``Assessment.frame``); columns an old
        store lacks read None."""
        from efflab import format as fmt

        lo, hi = number(row, "accuracy_ci_low"), number(row, "accuracy_ci_high")
        measured = value(row, "energy_measured")
        status = _text(row, "status") or "ok"
        eligible = value(row, "eligible")
        return cls(
            key=str(row["key"]),
            label=_text(row, "label") or fmt.config_label(row),
            model=str(row["model"]),
            model_id=_text(row, "model_id"),
            batch_size=_int(row, "batch_size") or 0,
            precision=str(value(row, "precision") or ""),
            device=str(value(row, "device") or ""),
            task=_text(row, "task"),
            hardware=_text(row, "hardware"),
            cohort=_text(row, "cohort"),
            workload=_text(row, "workload") or "classify",
            status=PointStatus(status) if status in {s.value for s in PointStatus} else PointStatus.FAILED,
            flags=parse_flags(value(row, "flags") or ""),
            eligible=bool(eligible) if eligible is not None else status == "ok",
            excluded_reason=_text(row, "excluded_reason"),
            stars=_int(row, "model_stars") or 0,
            energy_j_per_query=number(row, "energy_j_per_query"),
            wh_per_1000_queries=number(row, "wh_per_1000_queries"),
            energy_source=_text(row, "energy_source"),
            energy_measured=None if measured is None else bool(measured),
            energy_uncertainty_rel=number(row, "energy_uncertainty_rel"),
            co2e_g_per_1000_queries=number(row, "co2e_g_per_1000_queries"),
            accuracy=number(row, "accuracy"),
            accuracy_ci=None if lo is None or hi is None else (lo, hi),
            n_eval=_int(row, "n_eval"),
            latency_s=number(row, "latency_s"),
            latency_ci_s=number(row, "latency_ci_s"),
            latency_per_query_s=number(row, "latency_per_query_s"),
            throughput_qps=number(row, "throughput_qps"),
            peak_mem_bytes=number(row, "peak_mem_bytes"),
            model_bytes=number(row, "model_bytes"),
            n_params=number(row, "n_params"),
            flops_per_query=number(row, "flops_per_query"),
            mfu=number(row, "mfu"),
            _row=row,
        )

    @property
    def generates(self) -> bool:
        return self.workload == "generate"

    def __getitem__(self, column: str) -> Any:
        """The cohort table's value of ``column`` for this point (KeyError when the table has no such
        column): what the frame-reading helpers use; code about this point reads the fields."""
        return self._row[column]

    def get(self, column: str, default: Any = None) -> Any:
        """``point[column]``, or ``default`` when the table has no such column."""
        return self._row.get(column, default)

    def as_series(self) -> pd.Series:
        """The point as its row of the cohort's table (every column): for views that build a frame
        (``efflab.plots.ratings_about``) or export one."""
        return self._row


__all__ = ["Point"]
