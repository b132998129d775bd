"""Pure plotting: a results DataFrame in, a ``plotly.graph_objects.Figure`` out.

The lab's widgets wrap these same figures in a ``FigureWidget``; the report and the dashboard call
them too. Nothing here reads the store or keeps state. Axis titles say "estimated" when any energy
on them was not measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import plotly.io as pio

from efflab.analysis.eligibility import eligible_mask, exclusion_reason
from efflab.analysis.pareto import knee, pareto_front
from efflab.analysis.stars import model_ratings
from efflab.store.results import row_of

if TYPE_CHECKING:
    import pandas as pd

    from efflab.analysis.point import Point

PRECISION_COLORS = {"fp32": "#1f77b4", "bf16": "#ff7f0e", "fp16": "#2ca02c", "int8": "#d62728"}
GREY = "#c7c7c7"
# plotly_white, with every axis making room for its tick labels and title: in a narrow box (the lab
# beside JupyterLab's file browser) a fixed margin cuts the y-axis title off.
TEMPLATE = go.layout.Template(pio.templates["plotly_white"])
TEMPLATE.layout.xaxis.automargin = True
TEMPLATE.layout.yaxis.automargin = True


# plotly's toolbar (the modebar) sits over the top 24 px of a figure, right-aligned; a title starts
# below it so that the toolbar never covers it.
TOOLBAR_PX = 30


def place_title(fig: go.Figure, *, line_px: int | None = None) -> go.Figure:
    """Put ``fig``'s title below plotly's toolbar and make the top margin hold every line of it (a
    ``<br>`` starts a line), in place; returns ``fig``. Surfaces call it before showing a figure."""
    text = str(fig.layout.title.text or "")
    if not text:
        return fig
    size = fig.layout.title.font.size or (fig.layout.font.size or 14) + 3
    per_line = line_px or int(size * 1.3)
    lines = text.count("<br>") + 1
    # plotly draws a title of several lines about 0.75 of its font size higher than one of one line.
    pad = TOOLBAR_PX + (round(0.8 * size) if lines > 1 else 0)
    need = pad + per_line * lines + 12
    top = fig.layout.margin.t
    fig.update_layout(
        title={"yref": "container", "y": 1, "yanchor": "top", "pad": {"t": pad}},
        margin={"t": max(int(top) if top is not None else 0, need)},
    )
    return fig


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"] if "status" in df.columns else df


def energy_kind(df: pd.DataFrame) -> str:
    """'measured', 'modelled' or 'partly modelled' for the energy in ``df``
    (:func:`efflab.format.energy_kind`)."""
    from efflab import format as fmt

    return fmt.energy_kind(df)


def point_label(row: Any) -> str:
    """Short name of a configuration: model · b<batch> · precision (:func:`efflab.format.config_label`)."""
    from efflab import format as fmt

    return fmt.config_label(row, short=True)


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14}
    )
    fig.update_layout(title=title, template=TEMPLATE, xaxis={"visible": False}, yaxis={"visible": False})
    return fig


# Flags that make a point less certain: the batch curves ring such points.
FLAGGED = ("noisy", "hit_time_cap", "shared_host", "unstable", "disturbed")
_RANK = {"fp32": 10, "bf16": 20, "fp16": 30, "int8": 40}
KNEE_NAME = "knee: beyond it, more energy buys little accuracy"
NOT_ELIGIBLE_NAME = "not eligible (unstable or disturbed)"


def _flags(row: Any) -> list[str]:
    from efflab.records import flag_names

    return list(flag_names(row.get("flags")))


def _flagged(row: Any) -> list[str]:
    return [f for f in _flags(row) if f in FLAGGED]


def log_ticks(values: Any, fmt: Any) -> tuple[list[float], list[str]]:
    """Ticks for a log axis spanning ``values``: each decade, and the 1-2-5 steps inside them when
    the span is under two decades, labelled with ``fmt`` (no unlabelled minor ticks)."""
    import numpy as np

    v = np.asarray([float(x) for x in values if x == x and x is not None and float(x) > 0])
    if v.size == 0:
        return [], []
    lo, hi = math.floor(math.log10(v.min())), math.ceil(math.log10(v.max()))
    if hi == lo:
        hi += 1
    steps = (1, 2, 5) if hi - lo <= 2 else (1,)
    ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in steps if m * 10.0**e <= 10.0**hi]
    return ticks, [fmt(t) for t in ticks]


def energy_ticks(values: Any) -> tuple[list[float], list[str]]:
    """Log-axis ticks for Wh per 1000 queries with SI prefixes: ``1 mWh``, ``10 mWh``, ``1 Wh``."""
    from efflab.label import energy_value

    return log_ticks(values, lambda t: " ".join(energy_value(t)))


def _seconds(t: float) -> str:
    from efflab import format as fmt

    return fmt.si(t, "s")


def _log_energy_axis(values: Any, title: str) -> dict[str, Any]:
    ticks, text = energy_ticks(values)
    return {"title": title, "type": "log", "tickvals": ticks, "ticktext": text, "minor": {"showgrid": False}}


POINT_SIZE = 10
"""Every clickable point of the tradeoff plot has this one size, and the rings drawn over points
(selected, recommended, baseline, knee) take no hover: plotly answers a click with the point whose
marker edge is nearest relative to its size, so a bigger ring over a cluster took the clicks meant for
its neighbours (and a bigger front marker beat a nearer dominated one)."""
GENERAL_NAME = "general-purpose (prompted)"
"""The tradeoff plot's trace of prompted general-purpose points when they have a panel of their own."""
SQUEEZE = 2.0
"""Prompted general-purpose points get a panel of their own when they would widen the accuracy axis of
the task-specific family more than this factor (one LLM point at 62 % beside a family between 77 and 83 %
squeezed the family into a third of the plot, and clicks inside its clusters picked a neighbour)."""


def general_panel(df: pd.DataFrame, y: str = "accuracy") -> pd.Series | None:
    """Which rows of ``df`` the tradeoff plot draws in a panel of their own (the general-purpose
    models scored by prompting, :func:`efflab.analysis.stars.group_of`), or None when one panel
    holds everything (no such rows, no others, or they do not squeeze the family's axis)."""
    from efflab.analysis.stars import GENERAL_PURPOSE, group_of

    if df.empty:
        return None
    gp = pd_bool([group_of(r) == GENERAL_PURPOSE for _, r in df.iterrows()], df.index)
    if not gp.any() or gp.all():
        return None
    fam, every = df.loc[~gp, y].astype(float), df[y].astype(float)
    span_fam = max(float(fam.max() - fam.min()), 0.01)
    span_all = float(every.max() - every.min())
    return gp if span_all > SQUEEZE * span_fam else None


def pd_bool(values: list[bool], index: Any) -> pd.Series:
    import pandas as pd

    return pd.Series(values, index=index, dtype=bool)


def point_keys(df: pd.DataFrame) -> list[str]:
    """The store keys of ``df``'s rows: what identifies a point on every surface (a plot's click
    data, a table's rows, the pickers)."""
    return [str(k) for k in df["key"]]


def tradeoff_figure(
    df: pd.DataFrame,
    *,
    x: str = "wh_per_1000_queries",
    y: str = "accuracy",
    selected: str | None = None,
    recommended: str | None = None,
    baseline: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Cost vs accuracy: every configuration, the pareto front as a line, dominated points grey,
    the knee, and the current ``selected``, the ``recommended`` and the ``baseline`` points (store
    keys) marked. Traces are named ``front``, ``dominated``, ``knee: …``, ``baseline``,
    ``recommended``, ``selected``; the clickable traces carry the points' store keys as
    ``customdata`` (a click selects that point).

    Where prompted general-purpose points would squeeze the family's accuracy axis
    (:func:`general_panel`), they get a panel of their own under it (trace ``general-purpose
    (prompted)``, y axis ``y2``, the same log energy axis); the front and the knee are then the
    family's."""
    ok = _ok(df)
    ok = ok[ok[x].notna() & ok[y].notna()]
    kind = energy_kind(ok)
    title = title or f"Energy per 1000 queries vs accuracy ({kind} energy)"
    if ok.empty:
        return _empty(title, "No measured points with accuracy yet — run `efflab sweep`.")
    gp = general_panel(ok, y)
    top = ok if gp is None else ok[~gp]
    # The front and the knee are drawn over the eligible points only (what the recommendation weighs);
    # unstable or disturbed points stay on the plot, apart, and can still be clicked.
    eligible = eligible_mask(top)
    el, out = top[eligible], top[~eligible]
    on = pareto_front(el, x=x, y=y) if len(el) else eligible[eligible]
    front = el[on].sort_values(x)
    dom = el[~on]
    hover = "%{text}<br>%{x:.3~s}Wh / 1000 queries<br>accuracy %{y:.1%}<extra></extra>"
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=dom[x],
            y=dom[y],
            mode="markers",
            name="dominated",
            text=[point_label(r) for _, r in dom.iterrows()],
            marker={"color": GREY, "size": POINT_SIZE},
            hovertemplate=hover,
            customdata=point_keys(dom),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=front[x],
            y=front[y],
            mode="lines+markers",
            name="front",
            text=[point_label(r) for _, r in front.iterrows()],
            marker={
                "color": [PRECISION_COLORS.get(p, "#444") for p in front["precision"]],
                "size": POINT_SIZE,
            },
            line={"color": "#444", "width": 1.5, "shape": "hv"},
            hovertemplate=hover,
            customdata=point_keys(front),
        )
    )
    if len(out):
        fig.add_trace(
            go.Scatter(
                x=out[x],
                y=out[y],
                mode="markers",
                name=NOT_ELIGIBLE_NAME,
                text=[f"{point_label(r)} ({exclusion_reason(r)})" for _, r in out.iterrows()],
                marker={"symbol": "circle-open", "color": "#999", "size": POINT_SIZE, "line": {"width": 1.5}},
                hovertemplate=hover,
                customdata=point_keys(out),
            )
        )
    if gp is not None:
        low = ok[gp]
        good = eligible_mask(low)
        fig.add_trace(
            go.Scatter(
                x=low[x],
                y=low[y],
                mode="markers",
                name=GENERAL_NAME,
                yaxis="y2",
                text=[
                    point_label(r) + ("" if ok_ else f" ({exclusion_reason(r)})")
                    for (_, r), ok_ in zip(low.iterrows(), good)
                ],
                marker={
                    "color": "#8c6bb1",
                    "size": POINT_SIZE,
                    "symbol": ["circle" if g else "circle-open" for g in good],
                },
                hovertemplate=hover,
                customdata=point_keys(low),
            )
        )
    k = knee(el, x=x, y=y) if len(el) else None
    if k is not None:
        r = ok.loc[k]
        fig.add_trace(
            go.Scatter(
                x=[r[x]],
                y=[r[y]],
                mode="markers",
                name=KNEE_NAME,
                text=[point_label(r)],
                marker={"symbol": "diamond-open", "size": 18, "color": "#555"},
                hoverinfo="skip",  # the point under it answers (see POINT_SIZE)
                customdata=point_keys(ok.loc[[k]]),
            )
        )
    for name, label, sym, color, size in (
        ("baseline", baseline, "square-open", "#7b3294", 20),
        ("recommended", recommended, "star", "#2ca02c", 20),
        ("selected", selected, "circle-open", "#000", 24),
    ):
        r = row_of(ok, label)  # efflab.store.results: a point by its store key
        if r is not None:
            fig.add_trace(
                go.Scatter(
                    x=[r[x]],
                    y=[r[y]],
                    mode="markers",
                    name=name,
                    yaxis="y2" if gp is not None and bool(gp.loc[r.name]) else "y",
                    text=[point_label(r)],
                    hoverinfo="skip",  # the point under it answers (see POINT_SIZE)
                    marker={
                        "symbol": sym,
                        "size": size,
                        "color": color,
                        "line": {"width": 2.5, "color": color},
                    },
                )
            )
    yaxis: dict[str, Any] = {
        "title": "accuracy (test split)",
        "tickformat": ".1%",
        "range": _acc_range(top[y]),
    }
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        autosize=True,
        clickmode="event",
        legend={"orientation": "h", "y": -0.22, "x": 0, "font": {"size": 12}},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        xaxis=_log_energy_axis(ok[x], f"Wh per 1000 queries ({kind}, log scale)"),
        yaxis=yaxis,
    )
    if gp is not None:
        # The family above, the prompted general-purpose models in a strip below, on the same energy axis.
        fig.update_layout(
            yaxis={**yaxis, "domain": [0.3, 1.0], "title": "accuracy, task-specific"},
            yaxis2={
                "domain": [0.0, 0.18],
                "anchor": "x",
                "tickformat": ".1%",
                "range": _acc_range(ok.loc[gp, y]),
                "nticks": 3,
                "title": {"text": "prompted", "font": {"size": 11}},
            },
            xaxis={"anchor": "y2"},
        )
    return fig


def _acc_range(acc: pd.Series) -> list[float]:
    """A y range inside [0, 1] with some headroom, even when every accuracy is the same."""
    lo, hi = float(acc.min()), float(acc.max())
    pad = max((hi - lo) * 0.1, 0.01)
    return [max(0.0, lo - pad), min(1.0, hi + pad)]


METRIC_LABELS = {
    "throughput_qps": "throughput (queries/s)",
    "latency_s": "latency per batch (s)",
    "latency_per_query_s": "latency per query (s)",
    "energy_j_per_query": "energy per query (J)",
    "wh_per_1000_queries": "Wh per 1000 queries",
}


def _metric_title(metric: str, df: pd.DataFrame) -> str:
    t = METRIC_LABELS.get(metric, metric)
    if metric in ("energy_j_per_query", "wh_per_1000_queries"):
        t += f" ({energy_kind(df)})"
    return t + (", log scale" if metric != "throughput_qps" else "")


def _flagged_ring(frame: pd.DataFrame, x: str, y: pd.Series, *, showlegend: bool = True) -> go.Scatter | None:
    """A ring over each point of ``frame`` flagged noisy, time-capped or unstable (at ``frame[x]``,
    ``y``), or None when none is; the flags in the hover."""
    keep = [bool(_flagged(r)) for _, r in frame.iterrows()]
    flagged = frame[keep]
    if flagged.empty:
        return None
    return go.Scatter(
        x=flagged[x],
        y=y[keep],
        mode="markers",
        name="flagged (noisy, time-capped or unstable)",
        legendgroup="flagged",
        legendrank=90,
        showlegend=showlegend,
        text=[", ".join(_flagged(r)) for _, r in flagged.iterrows()],
        marker={"symbol": "circle-open", "size": 16, "color": "#b35806", "line": {"width": 2}},
        hovertemplate="flagged: %{text}<extra></extra>",
    )


def _precision_traces(
    g_model: pd.DataFrame, metric: str, *, legend: bool, shown: set[str], recommended: str | None = None
) -> list[go.Scatter]:
    """One line per precision (coloured, in the legend once), flagged points ringed, the
    recommended point starred."""
    out: list[go.Scatter] = []
    for p, g in g_model.sort_values("batch_size").groupby("precision", sort=False):
        p = str(p)
        err = (
            {"type": "data", "array": g["latency_ci_s"], "visible": True, "thickness": 1}
            if metric == "latency_s"
            else None
        )
        out.append(
            go.Scatter(
                x=g["batch_size"],
                y=g[metric],
                mode="lines+markers",
                name=p,
                legendgroup=p,
                legendrank=_RANK.get(p, 50),
                showlegend=legend and p not in shown,
                error_y=err,
                line={"color": PRECISION_COLORS.get(p, "#444")},
                marker={"size": 8},
                hovertemplate=f"{p} · batch %{{x}}<br>%{{y:.3~s}}<extra></extra>",
            )
        )
        shown.add(p)
    ring = _flagged_ring(g_model, "batch_size", g_model[metric], showlegend=legend and "flagged" not in shown)
    if ring is not None:
        out.append(ring)
        shown.add("flagged")
    r = row_of(g_model, recommended)
    if r is not None:
        out.append(
            go.Scatter(
                x=[r["batch_size"]],
                y=[r[metric]],
                mode="markers",
                name="recommended",
                legendgroup="recommended",
                legendrank=95,
                showlegend=legend and "recommended" not in shown,
                marker={
                    "symbol": "star",
                    "size": 18,
                    "color": "#2ca02c",
                    "line": {"width": 1, "color": "#145214"},
                },
                hovertemplate=f"recommended: {point_label(r)}<extra></extra>",
            )
        )
        shown.add("recommended")
    return out


def failed_precisions(df: pd.DataFrame, model: str) -> list[str]:
    """Precisions of ``model`` that failed at every batch size they were tried at."""
    if "status" not in df.columns:
        return []
    g = df[df["model"] == model]
    ok = set(g.loc[g["status"] == "ok", "precision"].astype(str))
    failed = set(g.loc[g["status"] == "failed", "precision"].astype(str))
    return sorted(failed - ok)


def batch_figure(
    df: pd.DataFrame,
    model: str,
    *,
    metric: str = "throughput_qps",
    title: str | None = None,
    recommended: str | None = None,
) -> go.Figure:
    """``metric`` (throughput_qps, latency_s, energy_j_per_query…) vs batch size for ``model``, one
    line per precision (legend "precision"), 95 % CI error bars for latency, flagged points ringed,
    and the precisions that failed named under the title."""
    ok = _ok(df)
    ok = ok[(ok["model"] == model) & ok[metric].notna()]
    title = title or f"{model}: {METRIC_LABELS.get(metric, metric)} vs batch size"
    failed = failed_precisions(df, model)
    if failed:
        title += f"<br><sup>{', '.join(failed)} failed on this machine</sup>"
    if ok.empty:
        return _empty(title, f"No measured points for {model} yet.")
    fig = go.Figure(_precision_traces(ok, metric, legend=True, shown=set(), recommended=recommended))
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        autosize=True,
        showlegend=True,
        # At the figure's foot, not a fraction of the plot's height below it: in a short or narrow plot
        # (the lab at 800 px) that fraction landed on the axis title and the wrapped legend covered it.
        legend={
            "title": {"text": "precision"},
            "orientation": "h",
            "yref": "container",
            "y": 0,
            "yanchor": "bottom",
            "x": 0,
        },
        margin={"l": 60, "r": 20, "t": 60, "b": 100},
        xaxis={
            "title": "batch size (log scale)",
            "type": "log",
            "tickvals": sorted(ok["batch_size"].unique()),
        },
        yaxis=_metric_axis(metric, ok),
    )
    return fig


def _metric_axis(metric: str, ok: pd.DataFrame) -> dict[str, Any]:
    """The y axis of a batch-size plot: log with labelled 1-2-5 ticks (energy in Wh, latency in s),
    linear for throughput."""
    title = _metric_title(metric, ok)
    if metric == "throughput_qps":
        return {"title": title, "type": "linear", "rangemode": "tozero"}
    if metric == "wh_per_1000_queries":
        return _log_energy_axis(ok[metric], title)
    vals = ok[metric]
    if metric == "latency_s" and "latency_ci_s" in ok.columns:
        ci = ok["latency_ci_s"].fillna(0)
        vals = list(ok[metric] + ci) + list((ok[metric] - ci).where(ok[metric] - ci > 0, ok[metric]))
    fmt = _seconds if metric in ("latency_s", "latency_per_query_s") else (lambda t: f"{t:g}")
    ticks, text = log_ticks(vals, fmt)
    return {"title": title, "type": "log", "tickvals": ticks, "ticktext": text, "minor": {"showgrid": False}}


def batch_grid_figure(
    df: pd.DataFrame,
    *,
    metric: str = "wh_per_1000_queries",
    models: Sequence[str] | None = None,
    recommended: str | None = None,
    columns: int = 4,
    title: str | None = None,
) -> go.Figure:
    """``metric`` vs batch size as small multiples, one panel per model, all on one shared,
    labelled log axis: one line per precision (one legend), flagged points ringed, the
    ``recommended`` point (its store key) starred, and each panel's failed precisions named."""
    from plotly.subplots import make_subplots

    ok = _ok(df)
    ok = ok[ok[metric].notna()]
    names = list(models) if models is not None else list(dict.fromkeys(df["model"].astype(str)))
    title = title or f"{METRIC_LABELS.get(metric, metric)} vs batch size, per model"
    if ok.empty or not names:
        return _empty(title, "No measured points yet — run `efflab sweep`.")
    cols = max(1, min(columns, len(names)))
    rows = math.ceil(len(names) / cols)
    subtitles = []
    for m in names:
        failed = failed_precisions(df, m)
        subtitles.append(
            f"<b>{m}</b>"
            + (f"<br><span style='font-size:11px'>{', '.join(failed)} failed</span>" if failed else "")
        )
    fig = make_subplots(
        rows=rows, cols=cols, shared_xaxes=False, shared_yaxes="all", subplot_titles=subtitles,
        horizontal_spacing=0.03, vertical_spacing=0.16 if rows > 1 else 0.1,
    )  # fmt: skip
    shown: set[str] = set()
    for i, m in enumerate(names):
        g = ok[ok["model"] == m]
        r, c = i // cols + 1, i % cols + 1
        for tr in _precision_traces(g, metric, legend=True, shown=shown, recommended=recommended):
            fig.add_trace(tr, row=r, col=c)
        if g.empty:
            fig.add_annotation(text="nothing measured", showarrow=False, row=r, col=c, x=0.5, y=0.5,
                               xref="x domain", yref="y domain", font={"color": "#888"})  # fmt: skip
    batches = sorted(int(b) for b in ok["batch_size"].unique())
    log = metric != "throughput_qps"
    ytitle = _metric_title(metric, ok)
    fig.update_xaxes(
        type="log", tickvals=batches, ticktext=[str(b) for b in batches], minor={"showgrid": False}
    )
    if metric == "wh_per_1000_queries":
        fig.update_yaxes(**_log_energy_axis(ok[metric], ""))
    else:
        fig.update_yaxes(type="log" if log else "linear")
    fig.update_yaxes(title_text=ytitle.replace("Wh per 1000 queries", "Wh / 1000 queries"), col=1)
    for i in range(len(names)):
        if i + cols >= len(names):  # the lowest panel of its column
            fig.update_xaxes(title_text="batch size (log scale)", row=i // cols + 1, col=i % cols + 1)
    fig.update_annotations(font_size=13)
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        autosize=True,
        height=260 * rows + 120,
        legend={
            "title": {"text": "precision"},
            "orientation": "h",
            "y": -0.08 if rows > 1 else -0.25,
            "x": 0,
        },
        margin={"l": 70, "r": 20, "t": 110, "b": 60},
    )
    return fig


def stars_text(n: int) -> str:
    return "★" * int(n) + "☆" * (5 - int(n)) if n else "unrated"


def ratings_about(ratings: pd.DataFrame, row: Point | pd.Series | None, stars: int) -> pd.DataFrame:
    """``ratings`` (one row per model, with ``stars``) with ``row``'s model shown at ``row``'s
    configuration and ``stars``: a surface about one configuration (the recommended or the selected
    one) shows that configuration for its model on its labels and charts, not the model's
    least-energy one. The other models keep their rated rows; the order is kept."""
    import pandas as pd

    if row is None or ratings.empty:
        return ratings
    this: pd.Series = row.as_series() if hasattr(row, "as_series") else row  # a Point: its table row
    model = str(this["model"])
    hit = ratings.index[ratings["model"].astype(str) == model]
    if len(hit) == 0:
        return ratings
    extra = {c: ratings.loc[hit[0], c] for c in ratings.columns if c not in this.index}
    about = pd.Series({**this.to_dict(), **extra, "stars": int(stars)}, name=this.name)
    rows = [about.reindex(ratings.columns) if i == hit[0] else ratings.loc[i] for i in ratings.index]
    return pd.DataFrame(rows, columns=ratings.columns).infer_objects()


def family_figure(
    df: pd.DataFrame,
    *,
    order: Sequence[str] | None = None,
    title: str | None = None,
    ratings: pd.DataFrame | None = None,
    about: tuple[str, str] | None = None,
) -> go.Figure:
    """Energy per 1000 queries across the family at each model's best configuration: one dot per
    model on a labelled log axis, ± the energy's uncertainty as a horizontal bar, and the model's
    stars, configuration and accuracy in its row label (so no error bar crosses text). ``ratings``
    (one row per model with ``stars``) defaults to :func:`efflab.analysis.stars.model_ratings`.
    ``about``: ``(model, word)`` where that model's row is the configuration the surface is about
    (:func:`ratings_about`), e.g. ``("tfidf-logreg", "recommended")``: its label says so."""
    ratings = model_ratings(_ok(df)) if ratings is None else ratings
    kind = energy_kind(ratings)
    if title is None and about is not None:
        title = (
            "Each model at its best configuration<br><span style='font-size:12px'>"
            f"{about[0]} at the {about[1]} one · {kind} energy</span>"
        )
    title = title or f"Each model at its best configuration ({kind} energy)"
    if ratings.empty:
        measured = len(_ok(df))
        if measured:  # every one unstable or disturbed: none is rated
            return _empty(
                title,
                f"All {measured} measured points are unstable or disturbed, so no model is rated.<br>"
                "Re-measure on a quieter machine, or with `efflab sweep --threads 1`.",
            )
        return _empty(title, "No measured points yet — run `efflab sweep`.")
    if order:
        pos = {m: i for i, m in enumerate(order)}
        ratings = ratings.sort_values("model", key=lambda s: s.map(lambda m: pos.get(m, len(pos))))
    ratings = ratings.iloc[::-1]  # the first model on top
    colors = ["#d73027", "#f46d43", "#e6b000", "#66bd63", "#1a9850"]

    def row_label(r: Any) -> str:
        n = int(r.get("stars", 0) or 0)
        acc = r.get("accuracy")
        acc_txt = f" · {acc * 100:.1f} %" if acc is not None and acc == acc else ""
        star = (
            f"<span style='color:{colors[n - 1]}'>{'★' * n}</span><span style='color:#999'>{'☆' * (5 - n)}</span>"
            if n
            else "unrated"
        )
        tag = f" · <i>{about[1]}</i>" if about is not None and str(r["model"]) == about[0] else ""
        return f"<b>{r['model']}</b> {star}<br>{r['precision']} · b{int(r['batch_size'])}{acc_txt}{tag}"

    wh = ratings["wh_per_1000_queries"].astype(float)
    unc = ratings["energy_uncertainty_rel"].astype(float).fillna(0).clip(upper=0.9)
    fig = go.Figure(
        go.Scatter(
            x=wh,
            y=ratings["model"],
            mode="markers",
            text=[stars_text(int(s or 0)) for s in ratings["stars"]],
            marker={
                "size": 14,
                "color": [colors[max(int(s or 0), 1) - 1] for s in ratings["stars"]],
                "line": {"width": 1, "color": "#333"},
            },
            error_x={
                "type": "data",
                "array": wh * unc,
                "arrayminus": wh * unc,
                "visible": True,
                "color": "#999",
            },
            hovertemplate="%{y}<br>%{x:.3~s}Wh / 1000 queries<br>%{text}<extra></extra>",
            name="energy",
        )
    )
    lo, hi = (wh * (1 - unc)).min(), (wh * (1 + unc)).max()
    # Short axis title: it is centred under the dots, which in a narrow box (the lab beside the file
    # browser) get ~110 px beside the row labels; what the bars are is said under the chart's title.
    axis = _log_energy_axis([lo, hi], "Wh / 1000 queries<br>(log scale)")
    axis["title"] = {"text": axis["title"], "font": {"size": 12}}
    axis["range"] = [math.log10(lo) - 0.15, math.log10(hi) + 0.15]
    fig.update_layout(
        title=f"{title}<br><span style='font-size:11px;color:#666'>bars: ± the {kind} energy's uncertainty</span>",
        template=TEMPLATE,
        autosize=True,
        showlegend=False,
        height=max(320, 60 * len(ratings) + 160),
        margin={"l": 10, "r": 20, "t": 90, "b": 70},
        xaxis=axis,
        yaxis={
            "title": "",
            "automargin": True,
            "tickmode": "array",
            "tickvals": list(ratings["model"]),
            "ticktext": [row_label(r) for _, r in ratings.iterrows()],
        },
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


# Lines of the same precision (same colour) differ by their dash: one per output length or batch size.
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def _dash(values: list[Any], v: Any) -> str:
    return _DASHES[sorted(values).index(v) % len(_DASHES)]


def _tokens(n: int) -> str:
    return f"{n} token{'s' if n != 1 else ''}"


def generation_batch_figure(df: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Energy per output token vs batch size (sequences generated together), one line per model and
    precision, for the generate points (at each one's output length)."""
    g = _generate_rows(df)
    kind = energy_kind(g)
    title = title or f"Energy per output token vs batch size ({kind} energy)"
    if g.empty:
        return _empty(title, "No generate points yet — measure with --workload generate.")
    fig = go.Figure()
    lengths = list(g["max_new_tokens"].unique())
    for (model, prec, n_new), part in g.groupby(["model", "precision", "max_new_tokens"], sort=True):
        part = part.sort_values("batch_size")
        fig.add_trace(
            go.Scatter(
                x=part["batch_size"],
                y=part["energy_j_per_token"],
                mode="lines+markers",
                name=f"{model} · {prec} · {_tokens(int(n_new))}",
                line={"color": PRECISION_COLORS.get(str(prec), GREY), "dash": _dash(lengths, n_new)},
                hovertemplate="batch %{x}<br>%{y:.3~s}J per token<extra></extra>",
            )
        )
    ring = _flagged_ring(g, "batch_size", g["energy_j_per_token"])
    if ring is not None:
        fig.add_trace(ring)
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis={
            "title": "batch size (sequences generated together)",
            "type": "log",
            "tickvals": sorted(int(b) for b in g["batch_size"].unique()),
            "minor": {"showgrid": False},
        },
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
    batches = list(g["batch_size"].unique())
    for (model, bs, prec), part in g.groupby(["model", "batch_size", "precision"], sort=True):
        part = part.sort_values("max_new_tokens")
        fig.add_trace(
            go.Scatter(
                x=part["max_new_tokens"],
                y=part["energy_j_per_query"] * 1000 / 3600,
                customdata=part[["energy_prefill_j", "energy_decode_j"]].to_numpy(),
                mode="lines+markers",
                name=f"{model} · b{int(bs)} · {prec}",
                line={"color": PRECISION_COLORS.get(str(prec), GREY), "dash": _dash(batches, bs)},
                hovertemplate="%{x} new tokens<br>%{y:.3~s}Wh / 1000 responses<br>"
                "prefill %{customdata[0]:.3~s}J + decode %{customdata[1]:.3~s}J per response<extra></extra>",
            )
        )
    ring = _flagged_ring(g, "max_new_tokens", g["energy_j_per_query"] * 1000 / 3600)
    if ring is not None:
        fig.add_trace(ring)
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        xaxis={
            "title": "output length (new tokens per response)",
            "tickvals": sorted(int(n) for n in g["max_new_tokens"].unique()),
        },
        yaxis={"title": f"Wh per 1000 responses ({kind})", "rangemode": "tozero"},
    )
    return fig
