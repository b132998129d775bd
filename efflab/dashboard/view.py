"""The dashboard's logic: from the results store and the manager's inputs to what the page shows.

Everything here is plain data (no ipywidgets, no plotly), so it is unit-tested without a browser and
the browser tests compare the page against it. Only :func:`read_store` touches the disk, read-only.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab import format as fmt
from efflab.errors import ConfigError, StoreError
from efflab.options import AssessInputs

if TYPE_CHECKING:
    import pandas as pd

    from efflab.analysis import Assessment, Point, Recommendation, Savings


# What the manager sets on the page is what every surface sets: the assessment's inputs, declared once
# (efflab.options); ``selected`` is the configuration looked at (None: follow the recommendation).
Inputs = AssessInputs


@dataclass(frozen=True)
class Snapshot:
    """The store as read at one moment (``read_at``, UTC). ``guidance`` says what to do when there is
    nothing to show yet (missing or empty store, only failed points, not an efflab store)."""

    path: Path
    frame: pd.DataFrame
    read_at: str
    guidance: str | None = None
    pairings: Any = None  # efflab.analysis.paired.Pairings: the paired runs' visits

    @property
    def ok(self) -> pd.DataFrame:
        """Eligible points (``efflab.analysis.eligible_mask``)."""
        from efflab.analysis import eligible_mask

        df = self.frame
        return df[eligible_mask(df)] if len(df) else df

    @property
    def cohorts(self) -> list[str]:
        """Cohorts, the most eligible points first (as :func:`efflab.analysis.assess` orders them)."""
        from efflab.analysis import assess

        return list(assess(self.frame).cohorts) if len(self.frame) else []


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _empty_frame() -> pd.DataFrame:
    import pandas as pd

    from efflab.store.results import COLUMNS

    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})


def read_store(path: str | Path) -> Snapshot:
    """Read the results store at ``path`` (read-only; a sweep may be writing it: SQLite WAL gives
    one consistent snapshot). Never raises for a missing, empty or foreign store: the snapshot then
    carries ``guidance`` — one line saying what to run."""
    from efflab.store import load_results

    p = Path(path).expanduser()
    sweep = f"run `efflab sweep --store {p}` first, then reload this page"
    if not p.exists() or p.stat().st_size == 0:
        return Snapshot(p, _empty_frame(), _now(), f"No results store at {p} yet: {sweep}.")
    try:
        from efflab.analysis.paired import load_pairings

        df = load_results(p)
        pairings = load_pairings(p)
    except StoreError as e:
        return Snapshot(p, _empty_frame(), _now(), str(e))
    except (OSError, ValueError, KeyError, TypeError) as e:
        # Whatever a replaced or half-written file raises, the page says so (never the old figures).
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        msg = f"The results store {p} cannot be read ({type(e).__name__}: {text}); it was left untouched."
        return Snapshot(p, _empty_frame(), _now(), msg)
    from efflab.analysis import assess

    a = assess(df, None, pairings)
    if a.recommendation is None:  # its cohort has the most eligible points: none has any
        return Snapshot(p, df, _now(), f"The results store {p}: {a.guidance}", pairings)
    return Snapshot(p, df, _now(), None, pairings)


@dataclass(frozen=True)
class Card:
    """One figure on the page. ``key`` names it for the page and the tests (energy, stars, accuracy,
    kwh, co2e, cost, general); ``estimated`` marks figures resting on energy that was not measured."""

    key: str
    title: str
    value: str
    detail: str
    estimated: bool = False
    note: str = ""


@dataclass(frozen=True)
class View:
    """Everything the page shows for one set of inputs.

    A rendering of ``assessment``: ``frame`` is the cohort's eligible points and ``*_key`` name
    points of it by store key, ready for ``efflab.plots.tradeoff_figure``.
    """

    inputs: Inputs
    cohort: str
    cohorts: list[str]
    frame: pd.DataFrame
    recommendation: Recommendation
    selected: Point
    selected_key: str
    baseline: Point
    baseline_key: str
    savings: Savings
    headline: str
    reason: str
    nudge: str
    cards: tuple[Card, ...]
    data_note: str
    options: list[tuple[str, str]] = field(default_factory=list)
    assessment: Assessment | None = None

    @property
    def recommended_key(self) -> str:
        return self.recommendation.key

    @property
    def follows_recommendation(self) -> bool:
        return self.selected_key == self.recommendation.key

    @property
    def ratings(self) -> pd.DataFrame:
        """One row per rated model with its ``stars``, least energy first; the selected
        configuration's model at the selected configuration (labels and the family chart show what
        the cards are about)."""
        from efflab.plots import ratings_about

        a = self.assessment
        if a is None or not a.ratings:
            return self.frame.iloc[0:0].assign(stars=[])
        return ratings_about(a.ratings_frame(), self.selected, a.config_stars(self.selected.key))

    @property
    def about_word(self) -> str:
        """What the page is about: ``recommended`` or ``selected``."""
        return "recommended" if self.follows_recommendation else "selected"

    def card(self, key: str) -> Card:
        for c in self.cards:
            if c.key == key:
                return c
        msg = f"no card {key!r}; cards: {', '.join(c.key for c in self.cards)}"
        raise KeyError(msg)


energy_kind = fmt.energy_kind  # 'measured', 'modelled' or 'partly modelled' (efflab.format)


def option_label(row: Any, *, recommended: bool = False, baseline: bool = False) -> str:
    """The text of a configuration in the pickers."""
    tags = [t for t, on in (("recommended", recommended), ("default baseline", baseline)) if on]
    return (
        f"{fmt.config_label(row)} — {fmt.wh(row['wh_per_1000_queries'])}/1000 q · {fmt.percent(row['accuracy'])}"
        + (f" ({', '.join(tags)})" if tags else "")
    )


def _range(rng: tuple[float, float], f: fmt.Formatter) -> str:
    """``range …`` of a saving; empty when it has no width (a configuration against itself)."""
    return f"range {fmt.saving_range(*rng, f)}" if rng[0] != rng[1] else ""


def _rating_text(a: Assessment, sel: Point) -> tuple[str, str]:
    """The stars of the configuration the page is about (``sel``) and the sentence under them: the
    stars of that configuration in its model's class bands, the same as its label and its row in
    the family chart; the model's own rating is added where it differs."""
    model, label = str(sel["model"]), fmt.config_label(sel)
    r = a.rating(model)
    if r is None:
        return fmt.stars(0), f"{model} has no eligible configuration, so no rating"
    n = a.config_stars(str(sel["key"]))
    own = (
        ""
        if str(sel["key"]) == r.key or n == r.stars
        else f" · the model's least-energy configuration, {r.label}, gets {r.stars} of 5"
    )
    noisy = "" if r.sets_bands else " · its best point is noisy: rated within the bands, did not set them"
    return fmt.stars(n), f"{label}: {n} of 5 on this hardware{own} — {r.rule}{noisy}"


def _per_token_text(row: Any) -> str:
    """`` · per 1M tokens (padded): 126 mWh, 46.5 mg CO2e`` for an encoder point, else empty."""
    wh = row.get("wh_per_million_tokens")
    if wh is None or wh != wh:
        return ""
    co2e = fmt.si(row.get("co2e_g_per_million_tokens"), "g")
    return f" · per 1M tokens (padded): {fmt.wh(wh)}, {co2e} CO2e"


def build_view(data: Snapshot | pd.DataFrame, inputs: Inputs | None = None) -> View:
    """What the page shows for ``inputs``: a rendering of :func:`efflab.analysis.assess`.

    Raises:
        ConfigError: bad inputs (negative or non-numeric queries or price, unknown country or currency,
            tolerance out of range, a cohort or configuration key that is not in the data) or nothing
            eligible (the message says what to run next).
    """
    from efflab.analysis import assess
    from efflab.analysis.uncertainty import statistical_half_wh

    inputs = inputs or Inputs()
    snap = data if isinstance(data, Snapshot) else None
    df = data.frame if isinstance(data, Snapshot) else data
    a = assess(df, inputs, snap.pairings if snap is not None else None)
    rec = a.recommendation
    if rec is None or a.savings is None or a.baseline is None or a.selected is None:
        raise ConfigError(a.guidance or "nothing to show; run `efflab sweep` first")
    g = a.eligible
    sel, base = a.selected, a.baseline
    s = a.selected_savings or a.savings
    money = fmt.money_fmt(s.currency)
    acc_detail: str
    if rec.best_accuracy is None:
        acc_detail = "no task accuracy measured in this cohort"
    else:
        ci = (
            f"95 % CI {fmt.percent(sel.accuracy_ci[0])} – {fmt.percent(sel.accuracy_ci[1])} · "
            if sel.accuracy_ci is not None
            else ""
        )
        acc_detail = f"{ci}best in cohort {fmt.percent(rec.best_accuracy)}"
    per_q = f"at {fmt.number(s.queries_per_day)} queries/day"
    half = statistical_half_wh(sel)
    wh = sel.wh_per_1000_queries
    stars, stars_detail = _rating_text(a, sel)
    est_sel = fmt.energy_basis(sel) != fmt.MEASURED
    cards: tuple[Card, ...] = (
        Card(
            "energy",
            "Energy per 1000 queries",
            fmt.wh(wh),
            f"{fmt.energy_wording(sel)} · ± {fmt.wh(half)} ({fmt.RERUN_INTERVAL}){_per_token_text(sel)} · "
            f"baseline {fmt.wh(base.wh_per_1000_queries)}",
            est_sel,
        ),
        Card("stars", "Energy rating of this configuration", stars, stars_detail, est_sel),
        Card("accuracy", "Accuracy", fmt.percent(sel.accuracy), acc_detail),
        Card(
            "kwh",
            "Energy per year vs baseline",
            fmt.saving_headline(s.saved_kwh_per_year, s.clear, fmt.kwh),
            f"{fmt.kwh(s.candidate_kwh_per_year)} instead of {fmt.kwh(s.baseline_kwh_per_year)} a year {per_q}",
            s.estimated,
            _range(s.saved_kwh_range, fmt.kwh),
        ),
        Card(
            "co2e",
            "CO2e per year vs baseline",
            fmt.saving_headline(s.saved_kg_co2e_per_year, s.clear, fmt.kg),
            f"{fmt.kg(s.candidate_kg_co2e_per_year)} instead of {fmt.kg(s.baseline_kg_co2e_per_year)} · "
            f"grid {s.country} {s.carbon_intensity_g_per_kwh:.0f} g/kWh",
            s.estimated,
            _range(s.saved_kg_co2e_range, fmt.kg),
        ),
        Card(
            "cost",
            "Electricity cost per year vs baseline",
            fmt.saving_headline(s.saved_cost_per_year, s.clear, money),
            f"{money(s.candidate_cost_per_year)} instead of {money(s.baseline_cost_per_year)} at "
            f"{fmt.price(s.price_per_kwh, s.currency)}",
            s.estimated,
            _range(s.saved_cost_range, money),
        ),
    )
    if a.general is not None:  # only when the cohort has a prompted LLM and the task-specific family
        gv = a.general
        cards = (
            *cards,
            Card(
                "general",
                "General-purpose vs task-specific",
                gv.headline(),  # no ratio when the prompted model is not above chance
                gv.sentence(),
                gv.energy_basis != fmt.MEASURED,
            ),
        )
    default_base = a.baseline_key if inputs.baseline is None else None
    order = g.sort_values(["wh_per_1000_queries", "accuracy"], ascending=[True, False])
    options = [
        (
            option_label(r, recommended=str(r["key"]) == rec.key, baseline=str(r["key"]) == default_base),
            str(r["key"]),
        )
        for _, r in order.iterrows()
    ]
    note = " · ".join(a.provenance)
    if snap is not None:
        note += f" · read from {snap.path} at {snap.read_at} UTC"
    return View(
        inputs=inputs,
        cohort=str(a.cohort),
        cohorts=list(a.cohorts),
        frame=g,
        recommendation=rec,
        selected=sel,
        selected_key=str(a.selected_key),
        baseline=base,
        baseline_key=str(a.baseline_key),
        savings=s,
        headline=a.headline,
        reason=rec.reason,
        nudge=a.nudge,
        cards=cards,
        data_note=note,
        options=options,
        assessment=a,
    )
