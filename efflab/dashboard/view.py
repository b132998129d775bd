"""The dashboard's logic: from the results store and the manager's inputs to what the page shows.

Everything here is plain data (no ipywidgets, no plotly), so it is unit-tested without a browser and
the browser tests compare the page against it. Only :func:`read_store` touches the disk, read-only.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab.dashboard import format as fmt
from efflab.errors import ConfigError, StoreError

if TYPE_CHECKING:
    import pandas as pd

    from efflab.analysis import Recommendation, Savings

DEFAULT_QUERIES_PER_DAY = 1_000_000.0
DEFAULT_COUNTRY = "USA"
DEFAULT_PRICE_PER_KWH = 0.15
DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True)
class Inputs:
    """What the manager set on the page.

    Attributes:
        queries_per_day: traffic the yearly figures assume.
        country: ISO 3166-1 alpha-3 code of the grid (CO2e per kWh).
        price_per_kwh: electricity price, in whatever currency the manager thinks in.
        accuracy_tolerance: fraction (0.01 = 1 point) the recommendation may lose against the best.
        cohort: ``task @ hardware`` to look at; None = the cohort with the most measured points.
        config: store key of the configuration looked at; None = follow the recommendation.
        baseline: store key of the current (baseline) configuration; None = the default baseline
            (most accurate model, smallest batch, fp32; ``efflab.cli.recommend.default_baseline``).
    """

    queries_per_day: float = DEFAULT_QUERIES_PER_DAY
    country: str = DEFAULT_COUNTRY
    price_per_kwh: float = DEFAULT_PRICE_PER_KWH
    accuracy_tolerance: float = DEFAULT_TOLERANCE
    cohort: str | None = None
    config: str | None = None
    baseline: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """The store as read at one moment (``read_at``, UTC). ``guidance`` says what to do when there is
    nothing to show yet (missing or empty store, only failed points, not an efflab store)."""

    path: Path
    frame: pd.DataFrame
    read_at: str
    guidance: str | None = None

    @property
    def ok(self) -> pd.DataFrame:
        """Measured points with an energy figure."""
        df = self.frame
        return df[(df["status"] == "ok") & df["energy_j_per_query"].notna()]

    @property
    def cohorts(self) -> list[str]:
        """Cohorts with measured points, the largest first."""
        counts = self.ok["cohort"].value_counts()
        return sorted(counts.index.astype(str), key=lambda c: (-int(counts[c]), c))


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
        df = load_results(p)
    except StoreError as e:
        return Snapshot(p, _empty_frame(), _now(), str(e))
    except (OSError, ValueError, KeyError, TypeError) as e:
        # Whatever a replaced or half-written file raises, the page says so (never the old figures).
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        msg = f"The results store {p} cannot be read ({type(e).__name__}: {text}); it was left untouched."
        return Snapshot(p, _empty_frame(), _now(), msg)
    snap = Snapshot(p, df, _now())
    if snap.ok.empty:
        failed = int((df["status"] == "failed").sum())
        why = (
            f"only failed points so far ({failed}; see `efflab results list --failed --store {p}`)"
            if failed
            else "no measured points yet"
        )
        return Snapshot(p, df, snap.read_at, f"The results store {p} has {why}: {sweep}.")
    return snap


@dataclass(frozen=True)
class Card:
    """One figure on the page. ``key`` names it for the page and the tests (energy, stars, accuracy,
    kwh, co2e, cost); ``estimated`` marks figures resting on energy that was not measured."""

    key: str
    title: str
    value: str
    detail: str
    estimated: bool = False
    note: str = ""


@dataclass(frozen=True)
class View:
    """Everything the page shows for one set of inputs.

    ``frame`` is the cohort's measured points with stars (index labels of the loaded results), and
    ``*_index`` point into it, ready for ``efflab.plots.tradeoff_figure``.
    """

    inputs: Inputs
    cohort: str
    cohorts: list[str]
    frame: pd.DataFrame
    recommendation: Recommendation
    selected: pd.Series
    selected_index: Any
    baseline: pd.Series
    baseline_index: Any
    savings: Savings
    headline: str
    reason: str
    nudge: str
    cards: tuple[Card, ...]
    data_note: str
    options: list[tuple[str, str]] = field(default_factory=list)

    @property
    def recommended_index(self) -> Any:
        return self.recommendation.index

    @property
    def follows_recommendation(self) -> bool:
        return bool(self.selected_index == self.recommendation.index)

    def card(self, key: str) -> Card:
        for c in self.cards:
            if c.key == key:
                return c
        msg = f"no card {key!r}; cards: {', '.join(c.key for c in self.cards)}"
        raise KeyError(msg)


def energy_kind(df: pd.DataFrame) -> str:
    """'measured', 'estimated' or 'partly estimated' for the energy in ``df``."""
    if df.empty:
        return "estimated"
    m = df["energy_measured"].fillna(False).astype(bool)
    return "measured" if m.all() else ("estimated" if not m.any() else "partly estimated")


def is_measured(row: Any) -> bool:
    """True only where the row's energy was measured (a missing flag counts as estimated)."""
    v = row.get("energy_measured")
    try:
        return bool(v) if v is not None else False
    except TypeError:  # pandas.NA
        return False


def energy_provenance(row: Any) -> str:
    """``measured (nvml)`` or ``estimated (codecarbon, ± 15 %)`` for one results row."""
    source = str(row.get("energy_source") or "unknown source")
    if is_measured(row):
        return f"measured ({source})"
    u = row.get("energy_uncertainty_rel")
    if u is not None and math.isfinite(float(u)) and float(u) > 0:
        return f"estimated ({source}, ± {float(u) * 100:.0f} %)"
    return f"estimated ({source})"


def _model_rating(ratings: pd.DataFrame, model: str) -> str:
    """What the model's label says (its best configuration rated among the models)."""
    hit = ratings[ratings["model"] == model]
    if hit.empty:
        return ""
    return f"{model}'s label: {int(hit['stars'].iloc[0])} of 5 among {len(ratings)} models"


def _row_by_key(g: pd.DataFrame, key: str, what: str) -> Any:
    hit = g.index[g["key"] == key]
    if len(hit) == 0:
        msg = (
            f"{what} {key!r} is not among the measured configurations of this cohort; pick one from the list"
        )
        raise ConfigError(msg)
    return hit[0]


def _dates(df: pd.DataFrame) -> str:
    days = sorted({str(t)[:10] for t in df["timestamp"].dropna()} or {str(t)[:10] for t in df["created_at"]})
    if not days:
        return "at an unknown date"
    return f"on {days[0]}" if len(days) == 1 else f"from {days[0]} to {days[-1]}"


def data_note(g: pd.DataFrame, cohort: str, snapshot_path: Path | None, read_at: str | None) -> str:
    """Where the numbers come from: how many configurations, when, on what hardware, which task,
    whether the energy was measured, and when the store was read."""
    hardware = ", ".join(sorted({str(h) for h in g["hardware"].dropna()})) or "unknown hardware"
    tasks = ", ".join(sorted({str(t) for t in g["task"].dropna()}))
    tasks = f"task {tasks}" if tasks else "no task (cost only)"
    sources = ", ".join(sorted({str(s) for s in g["energy_source"].dropna()})) or "unknown"
    n = len(g)
    text = (
        f"{n} configuration{'s' if n != 1 else ''} measured {_dates(g)} on {hardware} · {tasks} · "
        f"energy {energy_kind(g)} ({sources})"
    )
    if snapshot_path is not None:
        text += f" · read from {snapshot_path} at {read_at} UTC"
    return text


def option_label(row: Any, *, recommended: bool = False, baseline: bool = False) -> str:
    """The text of a configuration in the pickers."""
    tags = [t for t, on in (("recommended", recommended), ("default baseline", baseline)) if on]
    return (
        f"{fmt.config_label(row)} — {fmt.wh(row['wh_per_1000_queries'])}/1000 q · {fmt.percent(row['accuracy'])}"
        + (f" ({', '.join(tags)})" if tags else "")
    )


def build_view(data: Snapshot | pd.DataFrame, inputs: Inputs | None = None) -> View:
    """What the page shows for ``inputs`` over the measured points of ``data``.

    Raises:
        ConfigError: bad inputs (negative queries or price, unknown country, tolerance outside
            0..1, a cohort or configuration key that is not in the data) or no measured point.
    """
    from efflab.analysis import add_stars, compare, model_ratings, recommend, savings
    from efflab.cli.recommend import default_baseline

    inputs = inputs or Inputs()
    snap = data if isinstance(data, Snapshot) else None
    df = data.frame if isinstance(data, Snapshot) else data
    ok = df[(df["status"] == "ok") & df["energy_j_per_query"].notna()]
    if ok.empty:
        msg = "no measured configurations to show; run `efflab sweep` first"
        raise ConfigError(msg)
    counts = ok["cohort"].value_counts()
    cohorts = sorted(counts.index.astype(str), key=lambda c: (-int(counts[c]), c))
    cohort = inputs.cohort or cohorts[0]
    if cohort not in cohorts:
        msg = f"no measured points in cohort {cohort!r}; cohorts: {', '.join(cohorts)}"
        raise ConfigError(msg)
    g = add_stars(ok[ok["cohort"] == cohort])
    rec = recommend(g, inputs.accuracy_tolerance, cohort=cohort)
    if rec is None:  # unreachable: g has measured points
        msg = "no measured configurations to show; run `efflab sweep` first"
        raise ConfigError(msg)
    sel_idx = rec.index if inputs.config is None else _row_by_key(g, inputs.config, "configuration")
    default_base = default_baseline(g)
    default_base_idx = default_base.name
    base_idx = default_base_idx if inputs.baseline is None else _row_by_key(g, inputs.baseline, "baseline")
    sel, base = g.loc[sel_idx], g.loc[base_idx]
    s = savings(base, sel, inputs.queries_per_day, inputs.country, inputs.price_per_kwh)

    est_sel = not is_measured(sel)
    est_any = s.estimated

    def rng(lo: float, hi: float, f: fmt.Formatter) -> str:
        return f"estimated, range {fmt.span(lo, hi, f)}" if est_any and lo != hi else ""

    acc_detail: str
    if rec.best_accuracy is None:
        acc_detail = "no task accuracy measured in this cohort"
    else:
        lo, hi = sel.get("accuracy_ci_low"), sel.get("accuracy_ci_high")
        ci = (
            f"95 % CI {fmt.percent(lo)} – {fmt.percent(hi)} · "
            if lo is not None and hi is not None and lo == lo and hi == hi
            else ""
        )
        acc_detail = f"{ci}best in cohort {fmt.percent(rec.best_accuracy)}"
    per_q = f"at {fmt.number(inputs.queries_per_day)} queries/day"
    cards = (
        Card(
            "energy",
            "Energy per 1000 queries",
            fmt.wh(sel["wh_per_1000_queries"]),
            f"{energy_provenance(sel)} · baseline {fmt.wh(base['wh_per_1000_queries'])}",
            est_sel,
        ),
        Card(
            "stars",
            "Energy rating",
            fmt.stars(int(sel["stars"])),
            f"{int(sel['stars'])} of 5 among {len(g)} configurations on this hardware · "
            f"{_model_rating(model_ratings(g), sel['model'])}"
            + (" · rated on estimated energy" if est_sel else ""),
            est_sel,
        ),
        Card("accuracy", "Accuracy", fmt.percent(sel["accuracy"]), acc_detail),
        Card(
            "kwh",
            "Energy per year vs baseline",
            fmt.saving(s.saved_kwh_per_year, fmt.kwh),
            f"{fmt.kwh(s.candidate_kwh_per_year)} instead of {fmt.kwh(s.baseline_kwh_per_year)} a year {per_q}",
            est_any,
            rng(*s.saved_kwh_range, fmt.kwh),
        ),
        Card(
            "co2e",
            "CO2e per year vs baseline",
            fmt.saving(s.saved_kg_co2e_per_year, fmt.kg),
            f"{fmt.kg(s.candidate_kg_co2e_per_year)} instead of {fmt.kg(s.baseline_kg_co2e_per_year)} · "
            f"grid {s.country} {s.carbon_intensity_g_per_kwh:.0f} g/kWh",
            est_any,
            rng(*s.saved_kg_co2e_range, fmt.kg),
        ),
        Card(
            "cost",
            "Electricity cost per year vs baseline",
            fmt.saving(s.saved_cost_per_year, fmt.money),
            f"{fmt.money(s.candidate_kwh_per_year * s.price_per_kwh)} instead of "
            f"{fmt.money(s.baseline_kwh_per_year * s.price_per_kwh)} at {inputs.price_per_kwh:g} per kWh",
            est_any,
            rng(*s.saved_cost_range, fmt.money),
        ),
    )
    if sel_idx == rec.index:
        nudge = "You are looking at the recommended configuration."
    else:
        nudge = f"Your pick, {fmt.config_label(sel)}: {compare(sel, rec.row)} of the recommendation."
    order = g.sort_values(["wh_per_1000_queries", "accuracy"], ascending=[True, False])
    options = [
        (option_label(r, recommended=i == rec.index, baseline=i == default_base_idx), str(r["key"]))
        for i, r in order.iterrows()
    ]
    return View(
        inputs=inputs,
        cohort=cohort,
        cohorts=cohorts,
        frame=g,
        recommendation=rec,
        selected=sel,
        selected_index=sel_idx,
        baseline=base,
        baseline_index=base_idx,
        savings=s,
        headline=f"Recommended: {fmt.config_label(rec.row)}",
        reason=rec.reason,
        nudge=nudge,
        cards=cards,
        data_note=data_note(g, cohort, snap.path if snap else None, snap.read_at if snap else None),
        options=options,
    )
