"""Pure plotting: a results DataFrame in, a ``plotly.graph_objects.Figure`` out.

The lab's widgets wrap these same figures in a ``FigureWidget``; the report and the dashboard call
them too. Nothing here reads the store or keeps state. Axis titles say "estimated" when any energy
on them was not measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from efflab.analysis.pareto import knee, pareto_front
from efflab.analysis.stars import model_ratings

if TYPE_CHECKING:
    import pandas as pd

PRECISION_COLORS = {"fp32": "#1f77b4", "bf16": "#ff7f0e", "fp16": "#2ca02c", "int8": "#d62728"}
GREY = "#c7c7c7"
TEMPLATE = "plotly_white"


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"] if "status" in df.columns else df


def energy_kind(df: pd.DataFrame) -> str:
    """'measured', 'estimated' or 'partly estimated' for the energy in ``df``."""
    if df.empty or "energy_measured" not in df.columns:
        return "estimated"
    m = df["energy_measured"].fillna(False).astype(bool)
    return "measured" if m.all() else ("estimated" if not m.any() else "partly estimated")


def point_label(row: Any) -> str:
    """Short name of a configuration: model · b<batch> · precision."""
    return f"{row['model']} · b{int(row['batch_size'])} · {row['precision']}"


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14}
    )
    fig.update_layout(title=title, template=TEMPLATE, xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def tradeoff_figure(
    df: pd.DataFrame,
    *,
    x: str = "wh_per_1000_queries",
    y: str = "accuracy",
    selected: Any = None,
    recommended: Any = None,
    title: str | None = None,
) -> go.Figure:
    """Cost vs accuracy: every configuration, the pareto front as a line, dominated points grey,
    the knee, the current ``selected`` and the ``recommended`` row (index labels of ``df``) marked.
    Traces are named ``front``, ``dominated``, ``knee``, ``selected``, ``recommended``."""
    ok = _ok(df)
    ok = ok[ok[x].notna() & ok[y].notna()]
    kind = energy_kind(ok)
    title = title or f"Energy per 1000 queries vs accuracy ({kind} energy)"
    if ok.empty:
        return _empty(title, "No measured points with accuracy yet — run `efflab sweep`.")
    on = pareto_front(ok, x=x, y=y)
    front = ok[on].sort_values(x)
    dom = ok[~on]
    hover = "%{text}<br>%{x:.4g} Wh/1000 q<br>accuracy %{y:.1%}<extra></extra>"
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=dom[x],
            y=dom[y],
            mode="markers",
            name="dominated",
            text=[point_label(r) for _, r in dom.iterrows()],
            marker={"color": GREY, "size": 8},
            hovertemplate=hover,
            customdata=list(dom.index),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=front[x],
            y=front[y],
            mode="lines+markers",
            name="front",
            text=[point_label(r) for _, r in front.iterrows()],
            marker={"color": [PRECISION_COLORS.get(p, "#444") for p in front["precision"]], "size": 10},
            line={"color": "#444", "width": 1.5, "shape": "hv"},
            hovertemplate=hover,
            customdata=list(front.index),
        )
    )
    k = knee(ok, x=x, y=y)
    if k is not None:
        r = ok.loc[k]
        fig.add_trace(
            go.Scatter(
                x=[r[x]],
                y=[r[y]],
                mode="markers",
                name="knee",
                text=[point_label(r)],
                marker={"symbol": "diamond-open", "size": 18, "color": "#555"},
                hovertemplate=hover,
            )
        )
    for name, label, sym, color in (
        ("recommended", recommended, "star", "#2ca02c"),
        ("selected", selected, "circle-open", "#000"),
    ):
        if label is not None and label in ok.index:
            r = ok.loc[label]
            fig.add_trace(
                go.Scatter(
                    x=[r[x]],
                    y=[r[y]],
                    mode="markers",
                    name=name,
                    text=[point_label(r)],
                    hovertemplate=hover,
                    marker={
                        "symbol": sym,
                        "size": 20 if name == "recommended" else 22,
                        "color": color,
                        "line": {"width": 2, "color": color},
                    },
                )
            )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        legend={"orientation": "h", "y": -0.2},
        xaxis={"title": f"Wh per 1000 queries ({kind}, log scale)", "type": "log"},
        yaxis={"title": "accuracy (test split)", "tickformat": ".1%", "range": _acc_range(ok[y])},
    )
    return fig


def _acc_range(acc: pd.Series) -> list[float]:
    """A y range inside [0, 1] with some headroom, even when every accuracy is the same."""
    lo, hi = float(acc.min()), float(acc.max())
    pad = max((hi - lo) * 0.1, 0.01)
    return [max(0.0, lo - pad), min(1.0, hi + pad)]


def batch_figure(
    df: pd.DataFrame, model: str, *, metric: str = "throughput_qps", title: str | None = None
) -> go.Figure:
    """``metric`` (throughput_qps, latency_s, energy_j_per_query…) vs batch size for ``model``, one
    line per precision, with 95 % CI error bars for latency."""
    labels = {
        "throughput_qps": "throughput (queries/s)",
        "latency_s": "latency per batch (s)",
        "latency_per_query_s": "latency per query (s)",
        "energy_j_per_query": "energy per query (J)",
        "wh_per_1000_queries": "Wh per 1000 queries",
    }
    ok = _ok(df)
    ok = ok[(ok["model"] == model) & ok[metric].notna()]
    title = title or f"{model}: {labels.get(metric, metric)} vs batch size"
    if ok.empty:
        return _empty(title, f"No measured points for {model} yet.")
    fig = go.Figure()
    for p, g in ok.sort_values("batch_size").groupby("precision", sort=False):
        err = {"type": "data", "array": g["latency_ci_s"], "visible": True} if metric == "latency_s" else None
        fig.add_trace(
            go.Scatter(
                x=g["batch_size"],
                y=g[metric],
                mode="lines+markers",
                name=str(p),
                error_y=err,
                line={"color": PRECISION_COLORS.get(str(p))},
                hovertemplate=f"{p} · batch %{{x}}<br>%{{y:.4g}}<extra></extra>",
            )
        )
    ytitle = labels.get(metric, metric)
    if metric in ("energy_j_per_query", "wh_per_1000_queries"):
        ytitle += f" ({energy_kind(ok)})"
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis={
            "title": "batch size (log scale)",
            "type": "log",
            "tickvals": sorted(ok["batch_size"].unique()),
        },
        yaxis={"title": ytitle, "type": "log" if metric != "throughput_qps" else "linear"},
    )
    return fig


def stars_text(n: int) -> str:
    return "★" * int(n) + "☆" * (5 - int(n)) if n else "unrated"


def family_figure(
    df: pd.DataFrame, *, order: Sequence[str] | None = None, title: str | None = None
) -> go.Figure:
    """Energy per 1000 queries across the family at each model's best configuration, with stars."""
    ratings = model_ratings(_ok(df))
    kind = energy_kind(ratings)
    title = title or f"The family: Wh per 1000 queries at each model's best configuration ({kind})"
    if ratings.empty:
        return _empty(title, "No measured points yet — run `efflab sweep`.")
    if order:
        pos = {m: i for i, m in enumerate(order)}
        ratings = ratings.sort_values("model", key=lambda s: s.map(lambda m: pos.get(m, len(pos))))
    text = [
        f"{stars_text(int(s))}<br>{r['precision']} · b{int(r['batch_size'])}"
        + (
            f" · {r['accuracy'] * 100:.1f} %"
            if r["accuracy"] == r["accuracy"] and r["accuracy"] is not None
            else ""
        )
        for s, (_, r) in zip(ratings["stars"], ratings.iterrows())
    ]
    upper = ratings["wh_per_1000_queries"] * ratings["energy_uncertainty_rel"].fillna(0)
    fig = go.Figure(
        go.Bar(
            x=ratings["model"],
            y=ratings["wh_per_1000_queries"],
            text=text,
            textposition="outside",
            marker={
                "color": [
                    ["#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"][max(int(s), 1) - 1]
                    for s in ratings["stars"]
                ]
            },
            error_y={"type": "data", "array": upper, "visible": True, "color": "#888"},
            hovertemplate="%{x}<br>%{y:.4g} Wh / 1000 queries<extra></extra>",
            name="energy",
        )
    )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        showlegend=False,
        yaxis={"title": f"Wh per 1000 queries ({kind}; bars: ± uncertainty)", "type": "log"},
        xaxis={"title": "model"},
    )
    return fig


def power_trace_figure(
    times_s: Sequence[float], watts: Sequence[float], *, source: str = "", measured: bool = False
) -> go.Figure:
    """Live power (W) over time (s) while a measurement runs."""
    kind = "measured" if measured else "estimated"
    fig = go.Figure(
        go.Scatter(x=list(times_s), y=list(watts), mode="lines", name="power", line={"color": "#d62728"})
    )
    fig.update_layout(
        title=f"Power during measurement ({kind}{', ' + source if source else ''})",
        template=TEMPLATE,
        xaxis={"title": "time (s)"},
        yaxis={"title": f"power (W, {kind})", "rangemode": "tozero"},
        height=260,
        margin={"t": 40, "b": 40},
    )
    return fig


# ----- generative models (the generate workload) -----
def _generate_rows(df: pd.DataFrame) -> pd.DataFrame:
    ok = _ok(df)
    if "workload" not in ok.columns:
        return ok.iloc[0:0]
    return ok[(ok["workload"] == "generate") & ok["energy_j_per_token"].notna()]


def generation_batch_figure(df: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Energy per output token vs batch size (sequences generated together), one line per model and
    precision, for the generate points (at each one's output length)."""
    g = _generate_rows(df)
    kind = energy_kind(g)
    title = title or f"Energy per output token vs batch size ({kind} energy)"
    if g.empty:
        return _empty(title, "No generate points yet — measure with --workload generate.")
    fig = go.Figure()
    for (model, prec, n_new), part in g.groupby(["model", "precision", "max_new_tokens"], sort=True):
        part = part.sort_values("batch_size")
        fig.add_trace(
            go.Scatter(
                x=part["batch_size"],
                y=part["energy_j_per_token"],
                mode="lines+markers",
                name=f"{model} · {prec} · {int(n_new)} tokens",
                line={"color": PRECISION_COLORS.get(str(prec), GREY)},
                hovertemplate="batch %{x}<br>%{y:.3g} J per token<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis={"title": "batch size (sequences generated together)", "type": "log"},
        yaxis={"title": f"J per output token ({kind})", "rangemode": "tozero"},
    )
    return fig


def generation_length_figure(df: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Energy per response (Wh per 1000 responses) vs output length (``max_new_tokens``), one line per
    model, batch size and precision, split into its prefill and decode parts in the hover."""
    g = _generate_rows(df)
    kind = energy_kind(g)
    title = title or f"Energy per response vs output length ({kind} energy)"
    if g.empty:
        return _empty(title, "No generate points yet — measure with --workload generate.")
    fig = go.Figure()
    for (model, bs, prec), part in g.groupby(["model", "batch_size", "precision"], sort=True):
        part = part.sort_values("max_new_tokens")
        fig.add_trace(
            go.Scatter(
                x=part["max_new_tokens"],
                y=part["energy_j_per_query"] * 1000 / 3600,
                customdata=part[["energy_prefill_j", "energy_decode_j"]].to_numpy(),
                mode="lines+markers",
                name=f"{model} · b{int(bs)} · {prec}",
                line={"color": PRECISION_COLORS.get(str(prec), GREY)},
                hovertemplate="%{x} new tokens<br>%{y:.3g} Wh / 1000 responses<br>"
                "prefill %{customdata[0]:.3g} J + decode %{customdata[1]:.3g} J per response<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis={"title": "output length (new tokens per response)"},
        yaxis={"title": f"Wh per 1000 responses ({kind})", "rangemode": "tozero"},
    )
    return fig
