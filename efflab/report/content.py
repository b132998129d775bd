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

from efflab import format as fmt
from efflab.errors import ConfigError, ReportError
from efflab.label import LABEL_WIDTH, LabelData, label_slug, label_svg, task_name, write_label_images
from efflab.records import FLAG_MEANINGS, Flag, flag_names, parse_flags
from efflab.report.params import ReportParams, filter_points
from efflab.sensors.descriptions import SENSOR_DESCRIPTIONS as SENSOR_MEANINGS

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from efflab.analysis import Assessment, Point, Recommendation, Savings

# What each measurement flag means, in words a reader of the report can act on.
# Flags that make a point's latency and energy less certain (the summary counts them).
UNCERTAIN_FLAGS = frozenset({Flag.NOISY, Flag.HIT_TIME_CAP, Flag.SHARED_HOST})


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
    baseline: Point | None = None
    baseline_note: str = ""
    savings: Savings | None = None
    assessment: Assessment | None = None


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
        """The eligible points of every cohort (as each cohort's assessment decided)."""
        import pandas as pd

        parts = [c.points for c in self.cohorts if len(c.points)]
        return pd.concat(parts) if parts else self.points.iloc[0:0]

    @property
    def failed(self) -> pd.DataFrame:
        """The points that are not eligible (failed, unstable, disturbed or without energy)."""
        return self.points.drop(index=self.ok.index)


def _nothing(d: ReportData, what: str) -> str:
    """Why a section has nothing to show: no measured point at all, or every one flagged."""
    pts = d.points
    measured = int(((pts["status"] == "ok") & pts["energy_j_per_query"].notna()).sum()) if len(pts) else 0
    if measured:
        return (
            f"<p>All {measured} measured point{'s are' if measured != 1 else ' is'} flagged unstable or "
            f"disturbed (left out of decisions), so no {what}. Re-measure on a quieter machine, or with "
            "<code>--threads 1</code> on a VM whose vCPUs come and go; the appendix lists every point and "
            "its flags.</p>"
        )
    return f"<p>No measured points, so no {what}.</p>"


def _cohort(params: ReportParams, cohort: str, g_all: pd.DataFrame, pairings: Any = None) -> CohortReport:
    """One cohort's part of the report: a rendering of :func:`efflab.analysis.assess`."""
    from efflab.analysis import assess

    inputs = params.assess_inputs.replace(cohort=cohort)
    note = ""
    try:
        a = assess(g_all, inputs, pairings)
    except ConfigError as e:  # the baseline named is not in this cohort
        a = assess(g_all, inputs.replace(baseline=None), pairings)
        note = f"{e}"
    first = g_all.iloc[0]
    elig = a.eligible
    return CohortReport(
        cohort=cohort,
        task=task_name(first["task"]),
        hardware=str(first["hardware"]),
        points=elig,
        failed=a.frame[~a.frame["eligible"]],
        ratings=a.ratings_frame(),
        recommendation=a.recommendation,
        baseline=None if note else a.baseline,
        baseline_note=note,
        savings=None if note else a.savings,
        assessment=a,
    )


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
            st.claim_sweep()  # one sweep at a time writes to a store (released on close)
            for r in sweep(spec, st):
                if r.status == "ok":
                    run.measured += 1
                elif r.status == "skipped":
                    run.skipped += 1
                elif r.status == "failed":
                    run.failed.append(f"{_cfg(r.config)}: {r.error}")
    df = load_results(store)
    params.check_against(df)
    from efflab.analysis.assess import newest_per_configuration
    from efflab.analysis.paired import load_pairings

    pairings = load_pairings(store)

    sel, superseded = newest_per_configuration(filter_points(df, params))
    sel = sel.sort_values(["cohort", "model", "precision", "batch_size"], kind="stable")
    cohorts = [_cohort(params, str(name), g, pairings) for name, g in sel.groupby("cohort", sort=True)]
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


# ----- formatting (efflab.format) -----
_cfg = fmt.config_label
_kind = fmt.energy_wording


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _acc(row: Any) -> str:
    return fmt.accuracy(row.get("accuracy"), row.get("accuracy_ci_low"), row.get("accuracy_ci_high"))


def _energy(row: Any) -> str:
    from efflab.analysis import energy_text

    return energy_text(row)


def _fp_text(v: Any) -> str:
    """A fingerprint value as a person reads it: whole numbers stored as floats (``2.0`` threads) as ``2``."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return ", ".join(str(v).split(","))  # cpu_flags: a list that wraps at its commas


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
@media (max-width: 1100px) {.efflab-table {display: block; overflow-x: auto;}}
.efflab-table td, .efflab-table th {overflow-wrap: break-word;}
.efflab-table.efflab-anywhere td {overflow-wrap: anywhere;}
.efflab-table th, .efflab-table td {border: 1px solid #ddd; padding: 3px 8px; text-align: left !important;}
.efflab-table th {background: #f3f3f3;}
.efflab-report code {white-space: nowrap;}
.efflab-note {color: #8a4b00; background: #fff6e5; border-left: 4px solid #e69500; padding: 6px 10px;}
.efflab-verdict {border: 2px solid #1a7f37; border-radius: 8px; padding: 8px 16px; margin: 0.5em 0 1em 0;
  font-size: 1.1em; background: #f3fbf5;}
.efflab-verdict p {margin: 0.35em 0;}
.efflab-verdict-run {color: #1a7f37;}
.efflab-report details summary {cursor: pointer; color: #1f4e79;}
.efflab-labels {display: flex; flex-wrap: wrap; gap: 14px;}
.efflab-labels figure {margin: 0;}
.efflab-labels figcaption {font-size: 0.8em; color: #666; max-width: LABEL_WIDTHpx; overflow-wrap: anywhere;}
</style>""".replace("LABEL_WIDTH", str(LABEL_WIDTH))


def _section(title: str, body: str, level: int = 2) -> str:
    return f'<div class="efflab-report">{_STYLE}<h{level}>{escape(title)}</h{level}>{body}</div>'


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
            ("cohort", p.cohort),
        )
        if v is not None
    ]
    return (
        f"None of the {d.store_points} points in <code>{escape(d.store_path)}</code> match this report's "
        f"selection ({escape('; '.join(chosen) or 'everything')}), so there is nothing to report."
    )


def verdict_html(c: CohortReport, *, heading: bool) -> str:
    """The cohort's verdict in three plain lines — what to run, what it saves, how sure
    (:meth:`Assessment.verdict_lines`) — or what to run next when nothing is eligible."""
    a = c.assessment
    head = f"<h3>{escape(c.task)} on {escape(c.hardware)}</h3>" if heading else ""
    if a is None or a.recommendation is None:
        why = (a.guidance if a is not None else None) or "nothing eligible"
        return (
            f'{head}<p class="efflab-note">{escape(why)} The appendix lists every point and why it does not '
            "count.</p>"
        )
    what, saves, sure = a.verdict_lines()
    if c.baseline_note:  # the baseline named is not in this cohort: no saving to state
        saves = f"No savings projection: {c.baseline_note}."
    lines = [f'<p class="efflab-verdict-run"><b>{escape(what)}</b></p>']
    lines += [f"<p>{escape(x)}</p>" for x in (saves, sure) if x]
    return f'{head}<div class="efflab-verdict" data-testid="verdict">{"".join(lines)}</div>'


def _method_html(c: CohortReport) -> str:
    """How one cohort's verdict was reached: what was measured, the decision and its reason, the
    stars and their rule, where the numbers come from, what is uncertain or left out."""
    pts, a, r = c.points, c.assessment, c.recommendation
    models = list(dict.fromkeys(pts["model"]))
    dates = sorted({str(t)[:10] for t in pts["timestamp"].dropna()})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}" if dates else "an unknown date"
    text = [
        f"<p>{len(pts)} configurations of {len(models)} model{'s' if len(models) != 1 else ''} "
        f"({escape(_list(models))}), batch sizes {escape(_list(sorted({int(b) for b in pts['batch_size']})))}, "
        f"precisions {escape(_list(sorted(set(pts['precision']))))}, measured {escape(when)}.</p>"
    ]
    if r is not None:
        text.append(
            f"<p><b>Recommended: {escape(r.label)}</b> — {escape(_energy(r.point))}, accuracy "
            f"{escape(_acc(r.point))}. {escape(r.reason)}</p>"
        )
    if c.baseline is not None and a is not None and c.savings is not None:
        text.append(
            f"<p>Compared with the recommendation, the baseline {escape(_cfg(c.baseline))} uses "
            f"{escape(a.baseline_nudge)}. {escape(_savings_sentence(c.savings))}</p>"
        )
    elif c.baseline_note:
        text.append(f"<p>No savings projection: {escape(c.baseline_note)}.</p>")
    if a is not None and a.ratings:
        rules: dict[str, list[str]] = {}
        for m in a.ratings:
            rules.setdefault(m.rule, []).append(f"{m.model} {fmt.stars(m.stars)}")
        text.append(
            "<p>Stars per model: "
            + "; ".join(f"{escape(' · '.join(ms))} ({escape(rule)})" for rule, ms in rules.items())
            + ".</p>"
        )
    if a is not None and a.provenance:
        text.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in a.provenance) + "</ul>")
    if any(fmt.energy_basis(row) != fmt.MEASURED for _, row in pts.iterrows()):
        srcs = sorted(set(pts["energy_source"].dropna().astype(str)))
        how = "; ".join(f"{x}: {SENSOR_MEANINGS.get(x, 'see the appendix')}" for x in srcs)
        text.append(
            f'<p class="efflab-note">Energy figures here are <b>modelled</b>, not all read from a hardware '
            f"counter ({escape(how)}): compare them with each other; the yearly ranges carry their "
            "uncertainty.</p>"
        )
    flagged = pts[pts["flags"].map(lambda f: bool(parse_flags(f) & UNCERTAIN_FLAGS))]
    if len(flagged):
        text.append(
            f"<p>{len(flagged)} of {len(pts)} points are flagged as noisy, time-capped or shared: treat their "
            "latency and energy as less certain (see the appendix).</p>"
        )
    if len(c.failed):
        counts = a.exclusion_counts() if a is not None else {}
        why = " (" + "; ".join(f"{k}: {fmt.number(n)}" for k, n in counts.items()) + ")" if counts else ""
        text.append(
            f"<p>{len(c.failed)} configurations are left out of the stars and the recommendation{why}; "
            "their errors and flags are in the appendix.</p>"
        )
    return "".join(text)


def summary_html(d: ReportData) -> str:
    """The title, then the verdict of each cohort in three plain lines (what to run, what it saves,
    how sure), then how it was decided: what was measured, the reason, the stars, the provenance."""
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
            parts += [verdict_html(c, heading=True) for c in d.cohorts]
        else:
            parts.append(f'<p class="efflab-note">{_empty_message(d)}</p>')
        return head + "<h2>Summary</h2>" + "".join(parts) + "</div>"
    shown = [c for c in d.cohorts if not c.points.empty]
    many = len(shown) > 1
    verdicts = [verdict_html(c, heading=True) for c in shown]
    methods = [
        (f"<h4>{escape(c.task)} on {escape(c.hardware)}</h4>" if many else "") + _method_html(c)
        for c in shown
    ]
    return (
        head
        + "<h2>Summary</h2>"
        + "".join(parts)
        + "".join(verdicts)
        + '<h3 class="efflab-method">How this was decided</h3>'
        + "".join(methods)
        + "</div>"
    )


def _savings_sentence(s: Savings) -> str:
    money = fmt.money_fmt(s.currency)
    return (
        f"Per year at {fmt.number(s.queries_per_day)} queries a day, switching from the baseline to the "
        f"recommendation: energy {fmt.saving_headline(s.saved_kwh_per_year, s.clear, fmt.kwh)} (range "
        f"{fmt.saving_range(*s.saved_kwh_range, fmt.kwh)}), CO2e "
        f"{fmt.saving_headline(s.saved_kg_co2e_per_year, s.clear, fmt.kg)} ({s.country} grid, "
        f"{s.carbon_intensity_g_per_kwh:.0f} g/kWh), cost {fmt.saving_headline(s.saved_cost_per_year, s.clear, money)} "
        f"at {fmt.price(s.price_per_kwh, s.currency)}."
    )


def tradeoff_figures(d: ReportData) -> list[go.Figure]:
    """Per cohort: accuracy vs energy with the pareto front (baseline and recommendation marked),
    the family at each model's best configuration, and energy vs batch size per model."""
    import pandas as pd

    from efflab.plots import batch_grid_figure, family_figure, tradeoff_figure

    figs = []
    for c in d.cohorts:
        where = f"{c.task} @ {c.hardware}"
        if c.points.empty:
            # Every point flagged: no front or family to draw, but what was measured is still shown,
            # each point ringed as flagged.
            measured = c.failed[c.failed["energy_j_per_query"].notna()] if len(c.failed) else c.failed
            if len(measured):
                grid = batch_grid_figure(
                    c.failed, metric="wh_per_1000_queries", models=list(dict.fromkeys(c.failed["model"]))
                )
                grid.update_layout(
                    title=f"{grid.layout.title.text}<br><sup>{where} — every point flagged, none eligible</sup>"
                )
                figs.append(grid)
            continue
        rec = c.recommendation.key if c.recommendation is not None else None
        base = c.baseline.key if c.baseline is not None else None
        if c.points["accuracy"].notna().any():
            fig = tradeoff_figure(c.points, baseline=base, recommended=rec)
            fig.update_layout(title=f"{fig.layout.title.text}<br><sup>{where}</sup>")
            figs.append(fig)
        ratings, about = _ratings_about_recommendation(c)
        fam = family_figure(c.points, ratings=ratings if len(ratings) else None, about=about)
        fam.update_layout(title=f"{fam.layout.title.text}<br><sup>{where}</sup>")
        figs.append(fam)
        every = pd.concat([c.points, c.failed]) if len(c.failed) else c.points
        grid = batch_grid_figure(
            every, metric="wh_per_1000_queries", models=list(dict.fromkeys(every["model"])), recommended=rec
        )
        grid.update_layout(title=f"{grid.layout.title.text}<br><sup>{where}</sup>")
        figs.append(grid)
    return figs


def _ratings_about_recommendation(c: CohortReport) -> tuple[pd.DataFrame, tuple[str, str] | None]:
    """The cohort's rated rows with the recommended model at the recommended configuration (the
    report is about it: its label and its row in the family chart say what the verdict says)."""
    from efflab.plots import ratings_about

    a, r = c.assessment, c.recommendation
    if a is None or r is None or c.ratings.empty:
        return c.ratings, None
    return ratings_about(c.ratings, r.point, a.config_stars(r.key)), (r.point.model, "recommended")


def general_figures(d: ReportData) -> list[go.Figure]:
    """Per cohort with a prompted general-purpose model: the family, TF-IDF and the LLM at their best
    configurations on one energy × accuracy plot (the same tradeoff figure as above)."""
    from efflab.plots import tradeoff_figure

    figs = []
    for c in d.cohorts:
        a = c.assessment
        g = a.general if a is not None else None
        if a is None or g is None:
            continue
        best = a.ratings_frame()  # each model's least-energy eligible (rated) configuration
        best = best[best["accuracy"].notna()]
        llm = best.loc[best["model"] == g.general_model, "key"]
        fig = tradeoff_figure(
            best,
            selected=str(llm.iloc[0]) if len(llm) else None,
            title=f"General-purpose vs task-specific: each model at its best configuration "
            f"({fmt.energy_basis(best.iloc[0]) if len(best) else 'modelled'} energy)",
        )
        fig.update_layout(title=f"{fig.layout.title.text}<br><sup>{c.task} @ {c.hardware}</sup>")
        name = f"{g.general_model} (general-purpose, prompted)"
        for t in fig.data:
            if t.name == "selected":
                t.name = name
        figs.append(fig)
    return figs


def general_html(d: ReportData) -> str:
    """The sentence of :attr:`Assessment.general` per cohort, with the prompting protocol next to the
    general-purpose model's accuracy; one line when no cohort has a prompted general-purpose model."""
    parts = []
    for c in d.cohorts:
        g = c.assessment.general if c.assessment is not None else None
        if g is None:
            continue
        n = f" on {fmt.number(g.general_n_eval)} test texts" if g.general_n_eval else ""
        ci = f" (95 % interval {fmt.span(*g.general_ci, fmt.percent)})" if g.general_ci else ""
        maj = (
            f", where always answering the majority class scores {fmt.percent(g.majority_rate)}"
            if g.majority_rate is not None
            else ", majority-class rate not recorded"
        )
        same = " on the same texts" if g.same_texts else ""
        parts.append(
            f"<p><b>{escape(c.task)} @ {escape(c.hardware)}</b>: {escape(g.sentence())}</p>"
            f"<p>{escape(g.general_label)}: accuracy {fmt.percent(g.general_accuracy)}{ci}{n}{maj}; scored by "
            f"prompting ({escape(g.protocol)}); {escape(g.specific_label)}: "
            f"{fmt.percent(g.specific_accuracy)}{same}. Energies "
            "are each model's least-energy eligible configuration.</p>"
        )
    if not parts:
        pts = d.points
        prompted = "prompting" in pts.columns and bool(pts["prompting"].notna().any())
        if prompted:
            return _section(
                "General-purpose vs task-specific",
                "<p>A prompted general-purpose model was measured, but its points (or the task-specific "
                "family's) are not eligible — flagged unstable or disturbed, or failed — so there is no "
                "comparison. The appendix lists every point.</p>",
            )
        return _section(
            "General-purpose vs task-specific",
            "<p>No prompted general-purpose model in this store: add <code>smollm2-135m</code> to the sweep "
            "(the default sweep includes it) to compare it with the task-specific family.</p>",
        )
    return _section("General-purpose vs task-specific", "".join(parts))


def write_labels(d: ReportData) -> list[LabelFile]:
    """Write one label per cohort × model (its least-energy configuration, starred in its cohort)
    into ``params.labels_dir`` as SVG and/or PNG; PNG failures become ``d.label_note``."""
    out: list[LabelFile] = []
    folder = Path(d.params.labels_dir).expanduser()
    multi = len([c for c in d.cohorts if not c.ratings.empty]) > 1
    for c in d.cohorts:
        ratings, _ = _ratings_about_recommendation(c)
        for _, row in ratings.iterrows():
            stem = label_slug(str(row["model"]) + (f"-{c.task}-{c.hardware}" if multi else ""))
            data = LabelData.from_row(row, n_models=len(ratings))
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
        return _section("Efficiency labels", _nothing(d, "labels"))
    rules = sorted(
        {m.rule for c in d.cohorts if c.assessment is not None for m in c.assessment.ratings if m.rule}
    )
    intro = (
        "<p>One rating per model within its cohort (same task, same hardware), each class of model "
        "(task-specific, general-purpose prompted) against its own: "
        + escape("; ".join(rules) or "five bands of energy per 1000 queries")
        + ". A model's label shows its least-energy eligible configuration, the recommended model's the "
        "recommended one; noisy points are rated but never set the bands. A label marked MODELLED rates "
        "modelled energy (not read from a hardware counter).</p>"
    )
    figs = []
    for lf in d.labels:
        names = ", ".join(f"{p.parent.name}/{p.name}" for p in lf.files) or "not written to a file"
        figs.append(f"<figure>{label_svg(lf.data)}<figcaption>{escape(names)}</figcaption></figure>")
    note = f'<p class="efflab-note">{escape(d.label_note)}</p>' if d.label_note else ""
    return _section("Efficiency labels", intro + note + f'<div class="efflab-labels">{"".join(figs)}</div>')


def _per_million_tokens(row: Any) -> str:
    """``12.3 mWh · 4.5 mg`` (energy · CO2e) for an encoder point (every query padded to its seq_len, so
    padded tokens count), else n/a."""
    wh = _num(row.get("wh_per_million_tokens"))
    return (
        fmt.MISSING if wh is None else f"{fmt.wh(wh)} · {fmt.si(row.get('co2e_g_per_million_tokens'), 'g')}"
    )


def _row_cells(row: Any) -> list[Any]:
    lat = _num(row.get("latency_per_query_s"))
    return [
        _cfg(row),
        fmt.wh(row["wh_per_1000_queries"]),
        _kind(row),
        _per_million_tokens(row),
        _acc(row),
        fmt.si(lat, "s"),
        fmt.number(row.get("throughput_qps")),
        fmt.nbytes(None if _num(row.get("peak_mem_bytes")) is None else int(row.get("peak_mem_bytes"))),
    ]


_ROW_HEADERS = [
    "configuration",
    "energy per 1000 queries",
    "energy",
    "energy · CO2e per 1M tokens (padded)",
    "accuracy",
    "latency per query",
    "queries/s",
    "peak memory",
]


def recommendation_html(d: ReportData) -> str:
    p = d.params
    if d.ok.empty:
        return _section("Recommendation and yearly savings", _nothing(d, "recommendation"))
    rule = (
        "<p>How it is chosen: the recommendation is the eligible configuration with the least energy per "
        "query among those as accurate as the best in its cohort — non-inferior within "
        f"{fmt.sig(p.accuracy_tolerance * 100)} pt: the 95 % interval of the accuracy difference from the "
        "best, paired on the same test texts where per-example correctness is stored, lies within that "
        "tolerance. A configuration whose energy is not clearly above the least one's is tied with it: the "
        "smaller model is preferred, then the lower latency per query. Points flagged unstable or disturbed "
        "are not eligible. The baseline is "
        + (
            f"<code>{escape(p.baseline)}</code>"
            if p.baseline
            else "the most accurate model at its smallest batch size in fp32 (how models are often deployed)"
        )
        + ".</p>"
    )
    body: list[str] = []
    for c in d.cohorts:
        r = c.recommendation
        if r is None:
            continue
        body.append(f"<h3>{escape(c.task)} on {escape(c.hardware)}</h3>")
        rows = [["recommended", *_row_cells(r.point)]]
        if c.baseline is not None:
            rows.append(["baseline", *_row_cells(c.baseline)])
        body.append(_table(rows, ["", *_ROW_HEADERS]))
        body.append(f"<p>{escape(r.reason)}</p>")
        s = c.savings
        if s is None:
            body.append(f"<p>No savings projection: {escape(c.baseline_note or 'no baseline')}.</p>")
            continue

        money = fmt.money_fmt(s.currency)
        srows = [
            [
                "energy",
                fmt.kwh(s.baseline_kwh_per_year),
                fmt.kwh(s.candidate_kwh_per_year),
                fmt.saving_headline(s.saved_kwh_per_year, s.clear, fmt.kwh),
                fmt.saving_range(*s.saved_kwh_range, fmt.kwh)
                if s.saved_kwh_range[0] != s.saved_kwh_range[1]
                else "—",
            ],
            [
                f"CO2e ({s.country} grid at {s.carbon_intensity_g_per_kwh:.0f} g/kWh)",
                fmt.kg(s.baseline_kg_co2e_per_year),
                fmt.kg(s.candidate_kg_co2e_per_year),
                fmt.saving_headline(s.saved_kg_co2e_per_year, s.clear, fmt.kg),
                fmt.saving_range(*s.saved_kg_co2e_range, fmt.kg)
                if s.saved_kg_co2e_range[0] != s.saved_kg_co2e_range[1]
                else "—",
            ],
            [
                f"cost (at {fmt.price(s.price_per_kwh, s.currency)})",
                money(s.baseline_cost_per_year),
                money(s.candidate_cost_per_year),
                fmt.saving_headline(s.saved_cost_per_year, s.clear, money),
                fmt.saving_range(*s.saved_cost_range, money)
                if s.saved_cost_range[0] != s.saved_cost_range[1]
                else "—",
            ],
        ]
        body.append(f"<p>Per year at {fmt.number(s.queries_per_day)} queries a day:</p>")
        body.append(
            _table(
                srows,
                [
                    "per year",
                    "baseline",
                    "recommended",
                    "saved",
                    "95 % range (re-run intervals and energy basis)",
                ],
            )
        )
        if s.estimated:
            body.append(
                '<p class="efflab-note">These projections rest on modelled energy: the ranges combine both '
                "configurations' re-run intervals and the energy basis; a range that crosses zero reads "
                '"no clear saving".</p>'
            )
    body.append(rule)  # the method after the figures
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
    """One row per energy sensor and basis: uncertainty, points, what it is and how it was read (once)."""
    rows = []
    basis = [fmt.energy_basis(r) for _, r in ok.iterrows()]
    for (src, kind), g in ok.groupby([ok["energy_source"].fillna("unknown").astype(str), basis], sort=True):
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
        rows,
        ["source", "kind", "uncertainty", "points", "what it is", "how it was read"],
    )


# A repeated flag or reason lists its configurations when this few share it (else a count, or the
# few that do not share it).
_FEW = 5


def _which(labels: list[str], every: list[str]) -> str:
    """The configurations ``labels`` among ``every``, in few words: all of them, the few, all but the
    few, or a count."""
    n, m = len(labels), len(every)
    if n == m:
        return f"every point ({m})"
    if n <= _FEW:
        return ", ".join(labels)
    rest = [x for x in every if x not in set(labels)]
    if len(rest) <= _FEW:
        return f"all but {', '.join(rest)}"
    return f"{n} of {m} points"


def flagged_html(pts: pd.DataFrame) -> str:
    """Each flag said once with its count, its meaning and which points carry it (the flags every
    point carries, the basis of the whole run such as ``energy_estimated``, in one sentence first);
    failed points have their own table."""
    if "status" in pts.columns:
        pts = pts[pts["status"] == "ok"]
    flags_per_row = [list(flag_names(x)) for x in pts["flags"]]
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
    labels = [_cfg(r) for _, r in pts.iterrows()]
    carriers: dict[str, list[str]] = {}
    for label, fl in zip(labels, flags_per_row):
        for f in fl:
            if f not in common:
                carriers.setdefault(f, []).append(label)
    if not carriers:
        out.append("<p>No point is flagged with anything else.</p>")
        return "".join(out)
    out.append(
        _table(
            [
                [f, len(who), FLAG_MEANINGS.get(f, "see the efflab documentation"), _which(who, labels)]
                for f, who in sorted(carriers.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            ],
            ["flag", "points", "what it means", "which"],
        )
    )
    return "".join(out)


def failed_html(failed: pd.DataFrame, every: list[str]) -> str:
    """The points that do not count, one row per reason with its count and which configurations."""
    from efflab.analysis import exclusion_reason

    out = ["<h3>Points that do not count (failed, unstable or disturbed)</h3>"]
    if not len(failed):
        return out[0] + "<p>None.</p>"
    why: dict[str, list[str]] = {}
    for _, r in failed.iterrows():
        why.setdefault(exclusion_reason(r) or "unknown", []).append(_cfg(r))
    rows = [
        [reason, len(who), _which(who, every)]
        for reason, who in sorted(why.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    out.append(_table(rows, ["why", "points", "which"]))
    return "".join(out)


def _folded(summary: str, inner: str) -> str:
    """Reference tables of the appendix folded under a one-line summary (a click opens them; the
    exported HTML needs no script for it): the appendix reads in a couple of screens."""
    return f"<details><summary>{escape(summary)}</summary>{inner}</details>"


def appendix_html(d: ReportData) -> str:
    """Methodology and provenance: how the numbers were made, sensors, measured vs modelled,
    fingerprint, flagged and failed points, every point, and this report's parameters."""
    p = d.params
    body = [
        "<h3>How the numbers were made</h3>",
        "<p>Each configuration (model × batch size × precision × device) is warmed up, then timed as "
        "several windows of whole batches (3 by default, at least 0.5 s each on CPU), interleaved with the "
        "other batch sizes of its model so that drift and a neighbour's burst land on different points. "
        "Windows in which the process got clearly less CPU than it asked for are re-measured; a point that "
        "stays inconsistent is flagged unstable or disturbed and left out of every decision. Each interval "
        "is a 95 % re-run interval: where another run's mean would land, from the windows' spread plus the "
        "machine's run spread (learned from the store's re-runs, else a 6 % prior). Energy is read over "
        "each window from the sensor named for each point and divided by the queries served. Accuracy is "
        "scored on the task's test split at the measured precision, with a 95 % Wilson interval. Stars "
        "rate each model at its best eligible configuration against the models of its class, on five bands "
        "of its class's Wh per 1000 queries (equal-width, the AI Energy Score rule, where the class spans at "
        "most 10×; of equal ratio where it spans more). "
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
                    uniq = sorted({_fp_text(v) for v in vals})
                    text = "; ".join(uniq[:4]) + (f" (+{len(uniq) - 4} more)" if len(uniq) > 4 else "")
                frows.append([col[3:], text or "n/a"])
            body.append(
                _folded(
                    f"{len(frows)} fields: CPU, threads, library versions, load",
                    _table(
                        frows, ["field", "value(s) across the points"], cls="efflab-table efflab-anywhere"
                    ),
                )
            )
    body.append(flagged_html(pts))
    failed = d.failed
    body.append(failed_html(failed, [_cfg(r) for _, r in pts.iterrows()]))
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
                    f"±{fmt.si(ci, 's', 2)}" if ci is not None else "n/a",
                    int(r["n_batches"]) if _num(r.get("n_batches")) is not None else "n/a",
                    str(r.get("timestamp") or "")[:16].replace("T", " "),
                ]
            )
        headers = [*_ROW_HEADERS, "batch latency, 95 % re-run interval", "batches", "measured at"]
        kinds = {row[2] for row in rows}
        if len(kinds) == 1:  # one basis for every point: said once, not on every row
            body.append(f"<p>Energy of every point: {escape(kinds.pop())}.</p>")
            rows = [row[:2] + row[3:] for row in rows]
            headers = headers[:2] + headers[3:]
        body.append(_folded(f"{len(rows)} configurations, one row each", _table(rows, headers)))
    body.append("<h3>Parameters of this report</h3>")
    params = p.to_dict()
    body.append(
        _folded(
            f"{len(params)} parameters (store, filters, tolerance, traffic, grid, price)",
            _table(
                [[k, json.dumps(v)] for k, v in params.items()],
                ["parameter", "value"],
                cls="efflab-table efflab-anywhere",
            ),
        )
    )
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

    from efflab.plots import place_title

    place_title(fig)  # below plotly's toolbar, which shows on hover
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
            + ("" if len(d.ok) else _nothing(d, "pareto front or family chart"))
            if figs
            else _nothing(d, "curves"),
        )
    )
    for fig in figs:
        show_figure(d, fig)


def show_general(d: ReportData) -> None:
    _display_html(general_html(d))
    for fig in general_figures(d):
        show_figure(d, fig)


def show_labels(d: ReportData) -> None:
    write_labels(d)
    _display_html(labels_html(d))


def show_recommendation(d: ReportData) -> None:
    _display_html(recommendation_html(d))


def show_appendix(d: ReportData) -> None:
    _display_html(appendix_html(d))
