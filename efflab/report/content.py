"""What the report notebook shows, section by section. The notebook only calls these.

``build(params)`` reads (and, with ``measure_missing``, first completes) the store and computes
everything once; the ``*_html`` functions turn that into HTML snippets and ``show_*`` display them
in the notebook. Figures come from :mod:`efflab.plots` and are displayed with plotly.js embedded
once (no CDN), so the exported HTML works offline.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab.errors import ConfigError, ReportError
from efflab.label import LabelData, label_svg, task_name, write_label_images
from efflab.records import FLAG_MEANINGS
from efflab.report.params import ReportParams, filter_points

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from efflab.analysis import Recommendation, Savings

# What each measurement flag means, in words a reader of the report can act on.
# Flags that make a point's latency and energy less certain (the summary counts them).
UNCERTAIN_FLAGS = ("noisy", "hit_time_cap", "shared_host")

SENSOR_MEANINGS: dict[str, str] = {
    "nvml": "NVIDIA GPU energy counter (NVML) — measured",
    "rapl": "CPU package energy counter (Linux powercap RAPL) — measured",
    "codecarbon": "CodeCarbon's model of power from TDP × CPU load — estimated",
    "fake": "constant-power fake sensor for tests — not a real measurement",
}


# ----- the computed report -----
@dataclass
class CohortReport:
    """One cohort (same task, same hardware): its points, recommendation, baseline and savings."""

    cohort: str
    task: str
    hardware: str
    points: pd.DataFrame
    failed: pd.DataFrame
    ratings: pd.DataFrame
    recommendation: Recommendation | None = None
    baseline: pd.Series | None = None
    baseline_note: str = ""
    savings: Savings | None = None


@dataclass
class LabelFile:
    """A label written next to the report."""

    cohort: str
    data: LabelData
    files: list[Path] = field(default_factory=list)


@dataclass
class SweepRun:
    """What ``measure_missing`` did in this run."""

    measured: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass
class ReportData:
    """Everything the report shows, computed once by :func:`build`."""

    params: ReportParams
    store_path: str
    store_points: int
    points: pd.DataFrame  # selected, newest per configuration, every status
    superseded: int
    cohorts: list[CohortReport]
    generated_at: str
    sweep: SweepRun | None = None
    labels: list[LabelFile] = field(default_factory=list)
    label_note: str = ""
    plotly_js_shown: bool = False

    @property
    def ok(self) -> pd.DataFrame:
        return self.points[self.points["status"] == "ok"]

    @property
    def failed(self) -> pd.DataFrame:
        return self.points[self.points["status"] != "ok"]


def _latest_per_config(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep the newest point of each configuration (an ok point over a failed one); count the rest."""
    if df.empty:
        return df, 0
    cols = ["cohort", "model", "batch_size", "precision", "device", "seq_len"]
    d = df.assign(_ok=(df["status"] == "ok").astype(int)).sort_values(["_ok", "created_at"], kind="stable")
    keep = d.drop_duplicates(cols, keep="last").drop(columns="_ok")
    return keep.sort_values(["cohort", "model", "precision", "batch_size"], kind="stable"), len(df) - len(
        keep
    )


def _cohort(params: ReportParams, cohort: str, g_all: pd.DataFrame) -> CohortReport:
    from efflab.analysis import model_ratings, recommend, savings
    from efflab.cli.recommend import default_baseline

    ok = g_all[g_all["status"] == "ok"]
    first = g_all.iloc[0]
    c = CohortReport(
        cohort=cohort,
        task=task_name(first["task"]),
        hardware=str(first["hardware"]),
        points=ok,
        failed=g_all[g_all["status"] != "ok"],
        ratings=model_ratings(ok),
    )
    if ok.empty or not ok["energy_j_per_query"].notna().any():
        return c
    c.recommendation = recommend(ok, params.accuracy_tolerance, cohort=cohort)
    try:
        c.baseline = default_baseline(ok, params.baseline)
    except ConfigError:
        c.baseline_note = f"the baseline {params.baseline} was not measured in this cohort"
    if c.baseline is not None and c.recommendation is not None:
        c.savings = savings(
            c.baseline, c.recommendation.row, params.queries_per_day, params.country, params.price_per_kwh
        )
    return c


def build(params: ReportParams) -> ReportData:
    """Read the store (measuring the grid's missing points first when ``params.measure_missing``)
    and compute every section's content.

    Raises:
        StoreError: the store is missing (read-only mode) or not an efflab store.
        ReportError: a parameter names something the store does not have (see
            ``ReportParams.check_against``); raised before anything is measured.
    """
    from efflab.store import load_results, open_store

    store = Path(params.store_path).expanduser()
    run: SweepRun | None = None
    if params.measure_missing:
        if store.exists():
            params.check_against(load_results(store))
        else:
            store.parent.mkdir(parents=True, exist_ok=True)
        from efflab.sweep import sweep

        spec = params.sweep_spec()
        run = SweepRun()
        with open_store(store) as st:
            for r in sweep(spec, st):
                if r.status == "ok":
                    run.measured += 1
                elif r.status == "skipped":
                    run.skipped += 1
                else:
                    c = r.config
                    run.failed.append(f"{c.model} · batch {c.batch_size} · {c.precision}: {r.error}")
    df = load_results(store)
    params.check_against(df)
    sel, superseded = _latest_per_config(filter_points(df, params))
    cohorts = [_cohort(params, str(name), g) for name, g in sel.groupby("cohort", sort=True)]
    return ReportData(
        params=params,
        store_path=str(store),
        store_points=len(df),
        points=sel,
        superseded=superseded,
        cohorts=cohorts,
        generated_at=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        sweep=run,
    )


# ----- formatting -----
def _cfg(row: Any) -> str:
    return f"{row['model']} · batch {int(row['batch_size'])} · {row['precision']}"


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _g(v: Any, digits: int = 3) -> str:
    """A number for people: ``digits`` significant digits, thousands separated, never scientific
    notation (``1,630`` · ``12.3`` · ``0.00412``)."""
    f = _num(v)
    if f is None:
        return "n/a"
    if f == 0:
        return "0"
    mag = math.floor(math.log10(abs(f)))
    decimals = max(0, digits - 1 - mag)
    return f"{f:,.{decimals}f}"


def _currency(p: ReportParams) -> str:
    """The currency code of the report's price (a parameter once the shared vocabulary has it)."""
    return str(getattr(p, "currency", None) or "USD")


def _money(v: float, p: ReportParams) -> str:
    return f"{v:,.2f} {_currency(p)}"


def _pct(v: Any) -> str:
    f = _num(v)
    return "n/a" if f is None else f"{f * 100:.1f} %"


def _bytes(v: Any) -> str:
    f = _num(v)
    if f is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if f < 1024 or unit == "GiB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return "n/a"


def _kind(row: Any) -> str:
    """'measured (nvml)' or 'estimated (codecarbon, ±30 %)'."""
    src = str(row.get("energy_source") or "unknown")
    if bool(row.get("energy_measured")):
        return f"measured ({src})"
    u = _num(row.get("energy_uncertainty_rel"))
    return f"estimated ({src}, ±{u * 100:.0f} %)" if u else f"estimated ({src})"


def _acc(row: Any) -> str:
    a = _num(row.get("accuracy"))
    if a is None:
        return "not measured"
    lo, hi = _num(row.get("accuracy_ci_low")), _num(row.get("accuracy_ci_high"))
    ci = f" (95 % CI {lo * 100:.1f}–{hi * 100:.1f})" if lo is not None and hi is not None else ""
    return f"{a * 100:.1f} %{ci}"


def _energy(row: Any) -> str:
    from efflab.label import energy_value

    return f"{' '.join(energy_value(_num(row['wh_per_1000_queries']) or math.nan))} per 1000 queries, {_kind(row)}"


def _list(values: Any) -> str:
    vals = [str(v) for v in values]
    return ", ".join(vals)


def _table(rows: list[list[Any]], headers: list[str], cls: str = "efflab-table") -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_STYLE = """<style>
.efflab-report {font-family: DejaVu Sans, Arial, sans-serif; max-width: 1100px;}
.efflab-table {border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 0.9em; max-width: 100%;}
.efflab-table td, .efflab-table th {overflow-wrap: anywhere;}
.efflab-table th, .efflab-table td {border: 1px solid #ddd; padding: 3px 8px; text-align: left !important;}
.efflab-table th {background: #f3f3f3;}
.efflab-note {color: #8a4b00; background: #fff6e5; border-left: 4px solid #e69500; padding: 6px 10px;}
.efflab-labels {display: flex; flex-wrap: wrap; gap: 14px;}
.efflab-labels figure {margin: 0;} .efflab-labels figcaption {font-size: 0.8em; color: #666;}
</style>"""


def _section(title: str, body: str, level: int = 2) -> str:
    return f'<div class="efflab-report">{_STYLE}<h{level}>{escape(title)}</h{level}>{body}</div>'


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "label"


# ----- sections as HTML -----
def _empty_message(d: ReportData) -> str:
    p = d.params
    if d.store_points == 0:
        return (
            f"The store <code>{escape(d.store_path)}</code> has no measured points yet, so there is "
            f"nothing to report. Run <code>efflab sweep --store {escape(d.store_path)}</code>, or run "
            "this report with <code>measure_missing</code> set to true."
        )
    chosen = [
        f"{k} = {v}"
        for k, v in (
            ("models", p.models),
            ("batch sizes", p.batch_sizes),
            ("precisions", p.precisions),
            ("device", p.device),
            ("task", p.task),
            ("seq_len", p.seq_len),
        )
        if v is not None
    ]
    return (
        f"None of the {d.store_points} points in <code>{escape(d.store_path)}</code> match this report's "
        f"selection ({escape('; '.join(chosen) or 'everything')}), so there is nothing to report."
    )


def summary_html(d: ReportData) -> str:
    """The title and a summary in plain words: what was measured, what to run, what it saves."""
    p = d.params
    head = (
        f'<div class="efflab-report">{_STYLE}<h1>{escape(p.title)}</h1>'
        f'<p style="color:#666">Generated {escape(d.generated_at)} from <code>{escape(d.store_path)}</code> '
        f"by efflab {_efflab_version()}.</p>"
    )
    parts: list[str] = []
    if d.sweep is not None:
        s = d.sweep
        parts.append(
            f"<p>This run first measured the missing points of the requested grid: {s.measured} measured, "
            f"{s.skipped} already in the store, {len(s.failed)} failed.</p>"
        )
    if d.ok.empty:
        if not d.points.empty:
            parts.append(
                f'<p class="efflab-note">All {len(d.points)} selected configurations failed to measure; '
                "the appendix lists their errors.</p>"
            )
        else:
            parts.append(f'<p class="efflab-note">{_empty_message(d)}</p>')
        return head + "<h2>Summary</h2>" + "".join(parts) + "</div>"
    for c in d.cohorts:
        if c.points.empty:
            continue
        pts = c.points
        models = list(dict.fromkeys(pts["model"]))
        dates = sorted({str(t)[:10] for t in pts["timestamp"].dropna()})
        when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}" if dates else "an unknown date"
        text = [
            f"<p><b>{escape(c.task)} on {escape(c.hardware)}</b>: {len(pts)} configurations of "
            f"{len(models)} model{'s' if len(models) != 1 else ''} ({escape(_list(models))}), batch sizes "
            f"{escape(_list(sorted({int(b) for b in pts['batch_size']})))}, precisions "
            f"{escape(_list(sorted(set(pts['precision']))))}, measured {escape(when)}.</p>"
        ]
        measured = pts["energy_measured"].fillna(False).astype(bool)
        if measured.all():
            text.append("<p>All energy figures are <b>measured</b> by a hardware energy counter.</p>")
        else:
            srcs = sorted(set(pts.loc[~measured, "energy_source"].dropna().astype(str)))
            how = "; ".join(f"{x}: {SENSOR_MEANINGS.get(x, 'see the appendix')}" for x in srcs)
            u = pts.loc[~measured, "energy_uncertainty_rel"].max()
            unc = f", ±{u * 100:.0f} %" if _num(u) else ""
            which = "All" if not measured.any() else f"{int((~measured).sum())} of {len(pts)}"
            text.append(
                f'<p class="efflab-note">{which} energy figures are <b>estimated</b> ({escape(how)}{unc}), '
                "not measured by a hardware counter: compare them with each other rather than quote them "
                "as absolute numbers.</p>"
            )
        r = c.recommendation
        if r is not None:
            text.append(
                f"<p><b>Recommended: {escape(_cfg(r.row))}</b> — {escape(_energy(r.row))}, accuracy "
                f"{escape(_acc(r.row))}. {escape(r.reason)}</p>"
            )
        if c.baseline is not None and r is not None and c.savings is not None:
            from efflab.analysis import compare

            text.append(
                f"<p>Compared with the recommendation, the baseline {escape(_cfg(c.baseline))} uses "
                f"{escape(compare(c.baseline, r.row))}. {escape(_savings_sentence(c.savings, p))}</p>"
            )
        elif c.baseline_note:
            text.append(f"<p>No savings projection: {escape(c.baseline_note)}.</p>")
        flagged = pts[
            pts["flags"].fillna("").astype(str).map(lambda f: bool(set(f.split(",")) & set(UNCERTAIN_FLAGS)))
        ]
        if len(flagged):
            text.append(
                f"<p>{len(flagged)} of {len(pts)} points are flagged as noisy, time-capped or shared: treat their "
                "latency and energy as less certain (see the appendix).</p>"
            )
        if len(c.failed):
            text.append(f"<p>{len(c.failed)} configurations failed to measure (errors in the appendix).</p>")
        parts.append("".join(text))
    return head + "<h2>Summary</h2>" + "".join(parts) + "</div>"


def _savings_sentence(s: Savings, p: ReportParams) -> str:
    est = " (estimated energy)" if s.estimated else ""
    rng = (
        f" (range {_g(s.saved_kwh_range[0], 3)} to {_g(s.saved_kwh_range[1], 3)} kWh)"
        if s.estimated and s.saved_kwh_range[0] != s.saved_kwh_range[1]
        else ""
    )
    verb = "saves" if s.saved_kwh_per_year >= 0 else "would cost"
    return (
        f"At {p.queries_per_day:,.0f} queries a day, switching {verb} about "
        f"{_g(abs(s.saved_kwh_per_year), 3)} kWh a year{rng}, {_g(abs(s.saved_kg_co2e_per_year), 3)} kg CO2e "
        f"({s.country} grid, {s.carbon_intensity_g_per_kwh:.0f} g/kWh) and "
        f"{_money(abs(s.saved_cost_per_year), p)} at {_g(p.price_per_kwh)} {_currency(p)} per kWh{est}."
    )


def tradeoff_figures(d: ReportData) -> list[go.Figure]:
    """Per cohort: accuracy vs energy with the pareto front (baseline and recommendation marked),
    the family at each model's best configuration, and energy vs batch size per model."""
    import pandas as pd

    from efflab.plots import batch_grid_figure, family_figure, tradeoff_figure

    figs = []
    for c in d.cohorts:
        if c.points.empty:
            continue
        where = f"{c.task} @ {c.hardware}"
        rec = c.recommendation.index if c.recommendation is not None else None
        base = c.baseline.name if c.baseline is not None else None
        if c.points["accuracy"].notna().any():
            fig = tradeoff_figure(c.points, baseline=base, recommended=rec)
            fig.update_layout(title=f"{fig.layout.title.text}<br><sup>{where}</sup>")
            figs.append(fig)
        fam = family_figure(c.points)
        fam.update_layout(title=f"{fam.layout.title.text}<br><sup>{where}</sup>")
        figs.append(fam)
        every = pd.concat([c.points, c.failed]) if len(c.failed) else c.points
        grid = batch_grid_figure(
            every, metric="wh_per_1000_queries", models=list(dict.fromkeys(every["model"])), recommended=rec
        )
        grid.update_layout(title=f"{grid.layout.title.text}<br><sup>{where}</sup>")
        figs.append(grid)
    return figs


def write_labels(d: ReportData) -> list[LabelFile]:
    """Write one label per cohort × model (its least-energy configuration, starred in its cohort)
    into ``params.labels_dir`` as SVG and/or PNG; PNG failures become ``d.label_note``."""
    out: list[LabelFile] = []
    folder = Path(d.params.labels_dir).expanduser()
    multi = len([c for c in d.cohorts if not c.ratings.empty]) > 1
    for c in d.cohorts:
        for _, row in c.ratings.iterrows():
            stem = _slug(str(row["model"]) + (f"-{c.task}-{c.hardware}" if multi else ""))
            data = LabelData.from_row(row, n_models=len(c.ratings))
            out.append(LabelFile(c.cohort, data, [folder / f"label-{stem}"]))
    d.labels = out
    if not out or not d.params.label_formats:
        return out
    items = [(lf.data, lf.files[0]) for lf in out]
    fmts = d.params.label_formats
    try:
        written = write_label_images(items, fmts)
    except ReportError as e:
        d.label_note = f"PNG labels were not written: {e}"
        written = write_label_images(items, [f for f in fmts if f != "png"])
    for lf in out:
        base = lf.files[0]
        lf.files = [f for f in written if f.with_suffix("") == base]
    return out


def labels_html(d: ReportData) -> str:
    if not d.labels:
        return _section("Efficiency labels", "<p>No measured points, so no labels.</p>")
    intro = (
        "<p>One label per model, at its least-energy configuration, rated within its cohort (same task, "
        "same hardware) after the AI Energy Score rule: the cohort's range of Wh per 1000 queries is split "
        "into five equal bands, the lowest band gets 5 stars. A label marked MODELLED rates modelled "
        "energy (not read from a hardware counter).</p>"
    )
    figs = []
    for lf in d.labels:
        names = ", ".join(f"{p.parent.name}/{p.name}" for p in lf.files) or "not written to a file"
        figs.append(f"<figure>{label_svg(lf.data)}<figcaption>{escape(names)}</figcaption></figure>")
    note = f'<p class="efflab-note">{escape(d.label_note)}</p>' if d.label_note else ""
    return _section("Efficiency labels", intro + note + f'<div class="efflab-labels">{"".join(figs)}</div>')


def _row_cells(row: Any) -> list[Any]:
    lat = _num(row.get("latency_per_query_s"))
    return [
        _cfg(row),
        _g(row["wh_per_1000_queries"]),
        _kind(row),
        _acc(row),
        f"{_g(lat * 1000)} ms" if lat is not None else "n/a",
        _g(row.get("throughput_qps")),
        _bytes(row.get("peak_mem_bytes")),
    ]


_ROW_HEADERS = [
    "configuration",
    "Wh / 1000 queries",
    "energy",
    "accuracy",
    "latency per query",
    "queries/s",
    "peak memory",
]


def recommendation_html(d: ReportData) -> str:
    p = d.params
    if d.ok.empty:
        return _section(
            "Recommendation and yearly savings", "<p>No measured points, so no recommendation.</p>"
        )
    body = [
        f"<p>The recommendation is the configuration with the least energy per query among those within "
        f"{p.accuracy_tolerance * 100:g} point{'s' if p.accuracy_tolerance != 0.01 else ''} of the best "
        "accuracy in its cohort. The baseline is "
        + (
            f"<code>{escape(p.baseline)}</code>"
            if p.baseline
            else "the most accurate model at its smallest batch size in fp32 (how models are often deployed)"
        )
        + ".</p>"
    ]
    for c in d.cohorts:
        r = c.recommendation
        if r is None:
            continue
        body.append(f"<h3>{escape(c.task)} on {escape(c.hardware)}</h3>")
        rows = [["recommended", *_row_cells(r.row)]]
        if c.baseline is not None:
            rows.append(["baseline", *_row_cells(c.baseline)])
        body.append(_table(rows, ["", *_ROW_HEADERS]))
        body.append(f"<p>{escape(r.reason)}</p>")
        s = c.savings
        if s is None:
            body.append(f"<p>No savings projection: {escape(c.baseline_note or 'no baseline')}.</p>")
            continue

        def rng(lo: float, hi: float, est: bool, fmt: str) -> str:
            if not est or lo == hi:
                return "—"
            return f"{_money(lo, p)} to {_money(hi, p)}" if fmt == "money" else f"{_g(lo)} to {_g(hi)}"

        srows = [
            [
                "energy (kWh)",
                f"{_g(s.baseline_kwh_per_year, 4)}",
                f"{_g(s.candidate_kwh_per_year, 4)}",
                f"{_g(s.saved_kwh_per_year, 4)}",
                rng(*s.saved_kwh_range, s.estimated, ",.3g"),
            ],
            [
                f"CO2e (kg, {s.country} grid at {s.carbon_intensity_g_per_kwh:.0f} g/kWh)",
                f"{_g(s.baseline_kg_co2e_per_year, 4)}",
                f"{_g(s.candidate_kg_co2e_per_year, 4)}",
                f"{_g(s.saved_kg_co2e_per_year, 4)}",
                rng(*s.saved_kg_co2e_range, s.estimated, ",.3g"),
            ],
            [
                f"cost ({_currency(p)}, at {_g(p.price_per_kwh)} {_currency(p)} per kWh)",
                _money(s.baseline_kwh_per_year * p.price_per_kwh, p),
                _money(s.candidate_kwh_per_year * p.price_per_kwh, p),
                _money(s.saved_cost_per_year, p),
                rng(*s.saved_cost_range, s.estimated, "money"),
            ],
        ]
        body.append(f"<p>Per year at {p.queries_per_day:,.0f} queries a day:</p>")
        body.append(
            _table(srows, ["per year", "baseline", "recommended", "saved", "range (energy uncertainty)"])
        )
        if s.estimated:
            body.append(
                '<p class="efflab-note">These projections rest on estimated energy; the range shows its '
                "uncertainty where the sensor gives one.</p>"
            )
    return _section("Recommendation and yearly savings", "".join(body))


def _sensor_detail(details: Any) -> str:
    """The sensor's description once: per-point readings (``(cpu 12.4 J, ram 15.7 J, …)``) are
    dropped, identical descriptions merged."""
    seen: dict[str, None] = {}
    for x in details:
        if isinstance(x, str) and x:
            seen[re.sub(r"\s*\([^()]*\d[^()]*\bJ\b[^()]*\)", "", x).strip()] = None
    return "; ".join(seen)


def sensors_html(ok: pd.DataFrame) -> str:
    """One row per energy sensor: measured or modelled, uncertainty, points, what it is (once)."""
    rows = []
    src_col = ok["energy_source"].fillna("unknown").astype(str)
    for src, g in ok.groupby(src_col, sort=True):
        meas = g["energy_measured"].fillna(False).astype(bool)
        kind = "measured" if meas.all() else ("modelled" if not meas.any() else "partly modelled")
        u = g["energy_uncertainty_rel"].max()
        detail = _sensor_detail(g["energy_detail"]) if "energy_detail" in g.columns else ""
        rows.append(
            [
                src,
                kind,
                f"±{u * 100:.0f} %" if _num(u) is not None else "n/a",
                len(g),
                SENSOR_MEANINGS.get(str(src), ""),
                detail,
            ]
        )
    return "<h3>Energy sensors: measured or modelled</h3>" + _table(
        rows, ["source", "kind", "uncertainty", "points", "what it is", "how it was read"]
    )


def flagged_html(pts: pd.DataFrame) -> str:
    """Flags every measured point carries (the basis of the whole run, e.g. ``energy_estimated``)
    said once; then only the measured points flagged with something else, with those flags
    (failed points have their own table)."""
    if "status" in pts.columns:
        pts = pts[pts["status"] == "ok"]
    flags_per_row = [[f for f in (x.split(",") if isinstance(x, str) else []) if f] for x in pts["flags"]]
    common = set(flags_per_row[0]).intersection(*map(set, flags_per_row[1:])) if flags_per_row else set()
    out = ["<h3>Flagged points</h3>"]
    if common and len(pts) > 1:
        out.append(
            "<p>Every point of this report carries "
            + "; ".join(
                f"<code>{escape(f)}</code> ({escape(FLAG_MEANINGS.get(f, 'see the efflab documentation'))})"
                for f in sorted(common)
            )
            + ". It is the basis of the whole run, so it is not repeated below.</p>"
        )
    else:
        common = set()
    counts: dict[str, int] = {}
    for fl in flags_per_row:
        for f in fl:
            if f not in common:
                counts[f] = counts.get(f, 0) + 1
    if not counts:
        out.append("<p>No point is flagged with anything else.</p>")
        return "".join(out)
    out.append(
        _table(
            [[f, n, FLAG_MEANINGS.get(f, "see the efflab documentation")] for f, n in sorted(counts.items())],
            ["flag", "points", "what it means"],
        )
    )
    frows = [
        [_cfg(r), ", ".join(f for f in fl if f not in common)]
        for (_, r), fl in zip(pts.iterrows(), flags_per_row)
        if set(fl) - common
    ]
    out.append(_table(frows, ["configuration", "flags"]))
    return "".join(out)


def appendix_html(d: ReportData) -> str:
    """Methodology and provenance: how the numbers were made, sensors, measured vs estimated,
    fingerprint, flagged and failed points, every point, and this report's parameters."""
    p = d.params
    body = [
        "<h3>How the numbers were made</h3>",
        "<p>Each configuration (model × batch size × precision × device) is warmed up, then whole batches "
        "are timed until the 95 % confidence interval of the mean batch latency is within the target "
        "(2 % by default) or a time cap is reached, over a minimum window. Energy is read over the same "
        "window from the sensor named for each point and divided by the queries served. Accuracy is "
        "scored on the task's test split at the measured precision, with a 95 % Wilson interval. Stars "
        "split each cohort's range of Wh per 1000 queries into five equal bands (AI Energy Score rule). "
        "Yearly energy is queries per day × 365 × energy per query; CO2e uses the country's grid "
        "intensity from CodeCarbon's offline data.</p>",
        f"<p>Where the store holds several measurements of one configuration, the newest is used "
        f"({d.superseded} older measurement{'s' if d.superseded != 1 else ''} not shown).</p>",
    ]
    pts = d.points
    ok = d.ok
    if not ok.empty:
        body.append(sensors_html(ok))
        fp_cols = [c for c in pts.columns if c.startswith("fp_")]
        if fp_cols:
            body.append("<h3>Fingerprint of the machine and software</h3>")
            frows = []
            for col in fp_cols:
                vals = ok[col].dropna()
                if col in ("fp_load_avg_1m_before", "fp_load_avg_1m_after", "fp_other_cpu_share"):
                    nums = vals.astype(float)
                    text = f"{nums.min():.2f} to {nums.max():.2f}" if len(nums) else "n/a"
                else:
                    uniq = sorted({str(v) for v in vals})
                    text = "; ".join(uniq[:4]) + (f" (+{len(uniq) - 4} more)" if len(uniq) > 4 else "")
                frows.append([col[3:], text or "n/a"])
            body.append(_table(frows, ["field", "value(s) across the points"]))
    body.append(flagged_html(pts))
    failed = d.failed
    body.append("<h3>Failed points</h3>")
    if len(failed):
        body.append(
            _table(
                [[_cfg(r), r["error"] or "unknown error"] for _, r in failed.iterrows()],
                ["configuration", "error"],
            )
        )
    else:
        body.append("<p>None.</p>")
    if d.sweep is not None and d.sweep.failed:
        body.append("<p>Failed in this run: " + escape("; ".join(d.sweep.failed)) + "</p>")
    if not ok.empty:
        body.append("<h3>Every measured point</h3>")
        rows = []
        for _, r in ok.iterrows():
            ci = _num(r.get("latency_ci_s"))
            rows.append(
                [
                    *_row_cells(r),
                    f"±{_g(ci * 1000, 2)} ms" if ci is not None else "n/a",
                    int(r["n_batches"]) if _num(r.get("n_batches")) is not None else "n/a",
                    str(r.get("timestamp") or "")[:16].replace("T", " "),
                ]
            )
        headers = [*_ROW_HEADERS, "batch latency 95 % CI", "batches", "measured at"]
        kinds = {row[2] for row in rows}
        if len(kinds) == 1:  # one basis for every point: say it once, not on every row
            body.append(f"<p>Energy of every point: {escape(kinds.pop())}.</p>")
            rows = [row[:2] + row[3:] for row in rows]
            headers = headers[:2] + headers[3:]
        body.append(_table(rows, headers))
    body.append("<h3>Parameters of this report</h3>")
    body.append(_table([[k, json.dumps(v)] for k, v in p.to_dict().items()], ["parameter", "value"]))
    return _section("Appendix: methodology and provenance", "".join(body))


def _efflab_version() -> str:
    from efflab import __version__

    return __version__


# ----- display in the notebook -----
def _display_html(html: str) -> None:
    from IPython.display import HTML, display

    display(HTML(html))


def show_figure(d: ReportData, fig: go.Figure) -> None:
    """Display ``fig`` for both worlds: the plotly mimetype (JupyterLab, Voila) and offline HTML for
    nbconvert, with plotly.js embedded once per report and no MathJax or CDN script (plotly's
    ``notebook`` renderer adds a MathJax CDN script to every figure)."""
    import plotly.io as pio
    from IPython.display import display

    if not d.plotly_js_shown:
        from plotly.offline import get_plotlyjs

        _display_html(f'<script type="text/javascript">{get_plotlyjs()}</script>')
        d.plotly_js_shown = True
    html = pio.to_html(
        fig,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        default_width="100%",
        default_height=460,
        config={"displaylogo": False, "responsive": True},
        validate=False,
    )
    bundle = {
        "application/vnd.plotly.v1+json": json.loads(pio.to_json(fig, validate=False)),
        "text/html": html,
        "text/plain": str(fig.layout.title.text or "figure"),
    }
    display(bundle, raw=True)


def show_summary(d: ReportData) -> None:
    _display_html(summary_html(d))


def show_tradeoffs(d: ReportData) -> None:
    figs = tradeoff_figures(d)
    _display_html(
        _section(
            "Tradeoffs",
            "<p>Each point is one configuration. The pareto front joins the configurations that no other "
            "beats on both energy and accuracy; the star marks the recommendation and the open square "
            "the baseline. The knee (open diamond) is the point of the front farthest from the line "
            "joining its two ends: beyond it, more energy buys little accuracy. The batch-size panels "
            "share one log axis; ringed points are flagged (noisy, time-capped or unstable) and each "
            "panel names the precisions that failed.</p>"
            if figs
            else "<p>No measured points, so no curves.</p>",
        )
    )
    for fig in figs:
        show_figure(d, fig)


def show_labels(d: ReportData) -> None:
    write_labels(d)
    _display_html(labels_html(d))


def show_recommendation(d: ReportData) -> None:
    _display_html(recommendation_html(d))


def show_appendix(d: ReportData) -> None:
    _display_html(appendix_html(d))
