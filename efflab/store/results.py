"""Results as a pandas DataFrame: one row per point, flat columns, units in the names."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab.store.sqlite import Store, StoredPoint

if TYPE_CHECKING:
    import pandas as pd

# Columns every frame has, in this order, even when the store is empty.
COLUMNS = [
    "key", "status", "error", "created_at", "cohort", "hardware",
    "model", "model_id", "batch_size", "precision", "device", "seq_len", "task",
    "latency_s", "latency_ci_s", "latency_p50_s", "latency_p95_s", "latency_per_query_s", "throughput_qps",
    "energy_j_per_query", "wh_per_1000_queries", "energy_source", "energy_measured", "energy_uncertainty_rel",
    "co2e_g_per_1000_queries", "country", "tokens_per_query", "wh_per_million_tokens",
    "co2e_g_per_million_tokens", "peak_mem_bytes", "model_bytes", "n_params",
    "flops_per_query", "mfu", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "n_eval",
    "flags", "n_batches", "window_s", "timestamp",
]  # fmt: skip
# Derived here, not stored: ``tokens_per_query`` is an encoder point's seq_len (every query is padded
# or truncated to it, so padded tokens count; NaN for other points, see efflab.models.tokens), and the
# per-million-token figures divide the per-query ones by it.


_NUMERIC = [
    "latency_s", "latency_ci_s", "latency_p50_s", "latency_p95_s", "latency_per_query_s", "throughput_qps",
    "energy_j_per_query", "wh_per_1000_queries", "energy_uncertainty_rel", "co2e_g_per_1000_queries",
    "peak_mem_bytes", "model_bytes", "n_params", "flops_per_query", "mfu", "accuracy", "accuracy_ci_low",
    "accuracy_ci_high", "n_eval", "n_batches", "window_s",
]  # fmt: skip


_WINDOW_NUMERIC = [
    "latency_median_s", "energy_j_per_query_ci", "energy_cpu_j", "energy_ram_j", "energy_gpu_j",
    "cpu_seconds", "cpu_watts_per_thread", "ram_watts", "run_spread", "latency_ci_windows_s",
    "energy_ci_windows_j",
]  # fmt: skip


def cohort_of(task: str | None, hardware: str, workload: str = "classify") -> str:
    """Measurements are comparable (stars, pareto) within a cohort: same task, same hardware, same
    workload (a generated response and a classified query are different units of work)."""
    base = f"{task or 'no task'} @ {hardware}"
    return base if workload == "classify" else f"{workload}: {base}"


def load_results(store: Store | str | Path, *, include_failed: bool = True) -> pd.DataFrame:
    """All points of ``store`` as a DataFrame (see ``COLUMNS``; extra fingerprint columns start ``fp_``):
    :func:`frame_of` the store's typed points.

    Failed points have ``status == 'failed'``, their ``error`` and NaN metrics.
    """
    own = not isinstance(store, Store)
    st: Store = store if isinstance(store, Store) else Store(store, readonly=True)
    try:
        points = [p for p in st.points() if include_failed or p.status == "ok"]
    finally:
        if own:
            st.close()
    return frame_of(points)


def frame_of(points: Iterable[StoredPoint]) -> pd.DataFrame:
    """The typed points as the one table every plot, table and export reads (``COLUMNS``, then the
    fingerprint's ``fp_`` columns): the store's records are the data, this frame is a view of them."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for p in points:
        row: dict[str, Any] = {
            "key": p.key,
            "status": str(p.status),
            "error": p.error,
            "created_at": p.created_at,
            "hardware": p.hardware,
            "cohort": cohort_of(p.task, p.hardware),
            "model": p.model,
            "model_id": p.model_id,
            "batch_size": p.batch_size,
            "precision": p.precision,
            "device": p.device,
            "seq_len": p.seq_len,
            "task": p.task,
        }
        m = p.measurement
        if m is not None:
            d = m.to_dict()
            fp = d.pop("fingerprint")
            ci = d.pop("accuracy_ci")
            d.pop("method", None)
            d["flags"] = ",".join(d["flags"])
            d["accuracy_ci_low"], d["accuracy_ci_high"] = ci if ci else (None, None)
            for k in ("model", "batch_size", "precision", "device", "seq_len", "task"):
                d.pop(k, None)
            row.update(d)
            row["cohort"] = cohort_of(p.task, p.hardware, m.workload)
            row.update({f"fp_{k}": (",".join(v) if isinstance(v, list) else v) for k, v in fp.items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = pd.Series(dtype="float64" if c not in ("key", "status", "model", "cohort") else "object")
    for c in _NUMERIC:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    # Fields of replicated windows (issue 12): numbers where present; old rows read NaN, never 0.
    for c in _WINDOW_NUMERIC:
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    if "n_windows" in df.columns:
        df["n_windows"] = pd.to_numeric(df["n_windows"], errors="coerce").astype("Int64")
    for c in ("batch_size", "seq_len"):
        df[c] = df[c].astype("Int64")
    df["energy_measured"] = df["energy_measured"].astype("boolean")
    _add_per_token(df)
    rest = [c for c in df.columns if c not in COLUMNS]
    return df[COLUMNS + rest]


def row_of(df: pd.DataFrame, key: str | None) -> pd.Series | None:
    """The row of ``df`` with store key ``key`` (None for None or a key not in it): how every
    surface finds a point, never by a frame's index label."""
    if key is None or "key" not in df.columns:
        return None
    hit = df[df["key"].astype(str) == str(key)]
    return None if hit.empty else hit.iloc[0]


def _add_per_token(df: pd.DataFrame) -> None:
    """Fill ``tokens_per_query`` and the per-million-token energy and CO2e of encoder points (in place)."""
    from efflab.models.tokens import encoder_tokens_per_query, per_million_tokens

    if df.empty:
        return

    def col(r: Any, c: str) -> Any:
        return r[c] if c in r.index else None

    tokens = [
        encoder_tokens_per_query(
            str(r["model"]),
            r["seq_len"],
            workload=col(r, "workload"),
            prompting=col(r, "prompting"),
            flops_per_query=r["flops_per_query"],
        )
        if r["status"] == "ok"
        else None
        for _, r in df.iterrows()
    ]
    df["tokens_per_query"] = [float("nan") if t is None else float(t) for t in tokens]
    for per_1000, out in (
        ("wh_per_1000_queries", "wh_per_million_tokens"),
        ("co2e_g_per_1000_queries", "co2e_g_per_million_tokens"),
    ):
        vals = [per_million_tokens(v / 1000.0, t) for v, t in zip(df[per_1000], df["tokens_per_query"])]
        df[out] = [float("nan") if v is None else v for v in vals]
