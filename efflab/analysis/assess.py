"""One assessment of a results frame: what every surface shows, decided once.

:func:`assess` turns the results frame (``efflab.store.load_results``) and the person's inputs
(:class:`AssessInputs`) into an immutable :class:`Assessment`: the cohort, the newest point per
configuration, which points are eligible (and why the others are not), one star rating per model,
the recommendation and its reason, the baseline, the yearly savings with signed ranges, and the
provenance lines. The CLI, the report, the dashboard and the lab only render it.

Rules (docs/decisions.md; comparing two points is :mod:`efflab.analysis.compare`):

1. **Cohort**: the one named, else the cohort (task @ hardware) with the most eligible points.
2. **Newest point per configuration** (model, batch, precision, device, seq_len, cast, workload):
   the newest successful point; the newest failure only where the configuration never succeeded.
3. **Eligible**: status ok, an energy figure, and none of the flags ``unstable`` or ``disturbed``.
   Every other point is listed with its reason.
4. **Stars, one rating per model**: each model's best (least energy per query) eligible
   configuration, rated against the models of its class (task-specific, or general-purpose scored by
   prompting) on five bands — equal-width (the AI Energy Score rule) where the class spans at most
   10×, of equal ratio where it spans more (:mod:`efflab.analysis.stars`). Bands are set only by
   models whose best point is not flagged ``noisy``; a noisy best is rated within them.
5. **As accurate as the best** is non-inferiority: the 95 % interval of the accuracy difference from
   the most accurate eligible configuration (paired on the same test texts where per-example
   correctness is stored) lies above minus the tolerance. "Not distinguishable" is not enough.
6. **Recommendation**: the least energy per query among those. A configuration whose energy is not
   clearly above the least one's (:mod:`efflab.analysis.compare`: paired where the two were measured
   in the same interleaved rounds, else a test on the difference of their re-run intervals) is tied
   with it: the smaller model (parameters) is preferred, then the lower latency per query, and the
   reason says so, with the comparison.
7. **Baseline**: the one named, else the most accurate model at its smallest batch in fp32.
8. **Savings**: baseline minus recommendation (and minus the selected configuration), with ranges
   from the same comparison as the tie rule: a saving is clear exactly when the two are not tied, and
   "no clear saving" (a range across zero) when they are.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from efflab import format as fmt
from efflab.analysis.compare import PAIRED, Comparison, compare_accuracy_points, compare_energy
from efflab.analysis.eligibility import (
    INELIGIBLE_FLAGS,
    ineligibility,
)
from efflab.analysis.general import GeneralVsSpecific, general_vs_specific
from efflab.analysis.paired import Pairings, Verdict
from efflab.analysis.point import Point
from efflab.analysis.savings import Savings, savings
from efflab.analysis.stars import ModelRating, rate_models
from efflab.analysis.uncertainty import number, statistical_half_wh, value
from efflab.errors import ConfigError, closest
from efflab.options import (
    BASELINE_FORM,
    AssessInputs,
    baseline_parts,
)
from efflab.store.results import frame_of, row_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import pandas as pd

    from efflab.store.sqlite import StoredPoint

# What makes two points the same configuration (beyond the cohort); missing columns are ignored.
CONFIG_COLUMNS: tuple[str, ...] = (
    "model",
    "batch_size",
    "precision",
    "device",
    "seq_len",
    "cast",
    "workload",
    "max_new_tokens",
)


@dataclass(frozen=True)
class Exclusion:
    """A point that is not eligible, why (one sentence), and the kind of reason (``failed``,
    ``unstable``, ``disturbed``, ``unstable and disturbed``, ``no energy figure``: from its status and
    flags, :func:`efflab.analysis.eligibility.ineligibility`)."""

    key: str
    label: str
    reason: str
    kind: str


@dataclass(frozen=True)
class Recommendation:
    """The recommended configuration and why.

    Attributes:
        key, label, point: the recommended point: its store key (what identifies it on every
            surface), its label and the typed point (``efflab.analysis.point.Point``).
        best_key, best_label, best_accuracy: the most accurate eligible configuration (None when the
            cohort has no accuracy: cost only).
        admitted: keys of the configurations as accurate as the best.
        accuracy_method: ``paired`` (exact McNemar), ``unpaired`` (no per-example correctness
            stored), ``mixed`` or ``none`` (no accuracy).
        tied: labels of the configurations tied with the least energy (the recommendation among them).
        reason: the reason sentence(s).
        accuracy_vs_best: (key, comparison with the best) for every other point with an accuracy.
        energy_vs_least: (key, energy comparison with the least-energy candidate) for every other
            candidate (paired where they share rounds).
        least_key: the least-energy candidate (the recommendation may be a tied one).
        tied_keys: the keys of ``tied``, in the order the tie-break ranks them.
        resolution: what the test texts can and cannot resolve, in one sentence.
    """

    key: str
    label: str
    point: Point
    best_key: str | None
    best_label: str | None
    best_accuracy: float | None
    accuracy_tolerance: float
    admitted: tuple[str, ...]
    accuracy_method: str
    tied: tuple[str, ...]
    reason: str
    accuracy_vs_best: tuple[tuple[str, Comparison], ...] = ()
    energy_vs_least: tuple[tuple[str, Comparison], ...] = ()
    least_key: str = ""
    resolution: str = ""
    tied_keys: tuple[str, ...] = ()

    @property
    def n_candidates(self) -> int:
        return len(self.admitted)

    def accuracy_comparison(self, key: str) -> Comparison | None:
        """The point's accuracy against the best's (None for the best itself or no accuracy)."""
        return dict(self.accuracy_vs_best).get(key)

    @property
    def paired_energy(self) -> bool:
        """True when some energy comparison behind the decision is paired (the same rounds)."""
        return any(c.paired for _, c in self.energy_vs_least)


@dataclass(frozen=True)
class Assessment:
    """Everything a surface shows for one frame and one set of inputs (see the module rules).

    Attributes:
        inputs: the inputs it was made with.
        cohort: the cohort decided in (None when the frame has no points).
        cohorts: every cohort of the frame, most eligible points first.
        frame: the cohort's newest point per configuration (all statuses), with columns ``label``,
            ``eligible``, ``excluded_reason`` and ``model_stars`` (the model's rating, on every row of
            the model). Index labels are those of the input frame.
        excluded: the points of ``frame`` that are not eligible, with reasons.
        superseded: how many older repeats of a configuration were set aside.
        ratings: one star rating per model, least energy first.
        recommendation: the decision, None when nothing is eligible.
        baseline_key: store key of the baseline (None when nothing is eligible).
        savings: baseline → recommendation, per year (None when nothing is eligible).
        selected_key: store key of the configuration looked at (the recommendation unless chosen).
            Points are identified by key everywhere (plots' click data, tables, pickers), never by a
            frame's index label.
        selected_savings: baseline → selected, per year.
        nudge: the selected configuration against the recommendation, in words.
        provenance: lines saying where the numbers come from and how they were compared.
        guidance: what to run next when nothing is eligible (None otherwise).
        general: the prompted general-purpose LM against the task-specific family in the cohort
            (``general.sentence()``); None when the cohort lacks either side.
    """

    inputs: AssessInputs
    cohort: str | None
    cohorts: tuple[str, ...]
    frame: pd.DataFrame
    excluded: tuple[Exclusion, ...]
    superseded: int
    ratings: tuple[ModelRating, ...]
    recommendation: Recommendation | None
    baseline_key: str | None
    savings: Savings | None
    selected_key: str | None
    selected_savings: Savings | None
    nudge: str
    provenance: tuple[str, ...]
    guidance: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    general: GeneralVsSpecific | None = None
    pairings: Pairings | None = None

    # ----- convenience for renderers -----
    @property
    def eligible(self) -> pd.DataFrame:
        """The eligible points of the cohort."""
        return self.frame[self.frame["eligible"]]

    def point(self, key: str | None) -> Point | None:
        """The cohort's point with store key ``key`` (None for None or a key not in it)."""
        row = row_of(self.frame, key)
        return None if row is None else Point.of(row)

    @property
    def baseline(self) -> Point | None:
        return self.point(self.baseline_key)

    @property
    def selected(self) -> Point | None:
        return self.point(self.selected_key)

    @property
    def follows_recommendation(self) -> bool:
        rec = self.recommendation
        return rec is not None and self.selected_key == rec.key

    def exclusion_counts(self) -> dict[str, int]:
        """How many points are left out, per kind of reason (``{"failed": 8, "unstable": 3}``)."""
        counts: dict[str, int] = {}
        for e in self.excluded:
            counts[e.kind] = counts.get(e.kind, 0) + 1
        return dict(sorted(counts.items()))

    def stars(self, model: str) -> int:
        """The model's stars (0 = unrated: no eligible point)."""
        for r in self.ratings:
            if r.model == model:
                return r.stars
        return 0

    def ratings_frame(self) -> pd.DataFrame:
        """The row of each model's rated configuration with its ``stars``, least energy first (for
        labels and plots)."""
        idx = [self.frame.index[self.frame["key"] == r.key][0] for r in self.ratings]
        return self.frame.loc[idx].assign(
            stars=[r.stars for r in self.ratings],
            star_rule=[r.rule for r in self.ratings],
            star_group=[r.group for r in self.ratings],
            star_n=[r.n_rated for r in self.ratings],
        )

    def config_stars(self, key: str) -> int:
        """The stars of one configuration (any of a rated model's, e.g. the recommended one) in its
        model's class bands: a surface about that configuration shows these (0 = unrated)."""
        hit = self.frame[self.frame["key"] == key]
        if hit.empty:
            return 0
        r = self.rating(str(hit.iloc[0]["model"]))
        wh = number(hit.iloc[0], "wh_per_1000_queries")
        return 0 if r is None or wh is None else r.stars_for(wh)

    def rating(self, model: str) -> ModelRating | None:
        for r in self.ratings:
            if r.model == model:
                return r
        return None

    @property
    def baseline_nudge(self) -> str:
        """The baseline against the recommendation, in words (``97× the energy for +1.9 pt
        accuracy``); empty when there is no recommendation."""
        rec, base = self.recommendation, self.baseline
        return "" if rec is None or base is None else nudge(base, rec.point, self.pairings)

    @property
    def headline(self) -> str:
        """``Recommended: minilm-l2 · batch 32 · int8`` or the guidance."""
        if self.recommendation is None:
            return self.guidance or "Nothing to recommend yet."
        return f"Recommended: {self.recommendation.label}"

    def verdict_lines(self) -> tuple[str, str, str]:
        """The verdict in three plain lines — what to run, what it saves, how sure — for the top of a
        report or a card (the guidance three times over when there is nothing to recommend)."""
        rec, s, base = self.recommendation, self.savings, self.baseline
        if rec is None or s is None or base is None:
            g = self.guidance or "Nothing to recommend yet."
            return (g, "", "")
        p = rec.point
        acc = f", {fmt.percent(p.accuracy)} accurate" if p.accuracy is not None else ""
        what = f"Run {rec.label}: {_short_energy(p)} per 1000 queries ({fmt.energy_basis(p)}){acc}."
        per_day = fmt.number(s.queries_per_day)
        if rec.key == base.key:
            saves = f"It is the baseline itself ({fmt.config_label(base)}): no saving to claim against it."
        else:
            saves = (
                f"Against {fmt.config_label(base)}: {fmt.saving_headline(s.saved_kwh_per_year, s.clear, fmt.kwh)} "
                f"a year at {per_day} queries a day (range {fmt.saving_range(*s.saved_kwh_range, fmt.kwh)}), "
                f"{fmt.saving_headline(s.saved_cost_per_year, s.clear, fmt.money_fmt(s.currency))}."
            )
        sure = []
        if rec.best_label is not None:
            if rec.key == rec.best_key:
                sure.append("it is the most accurate configuration")
            else:
                c = rec.accuracy_comparison(rec.key)
                if c is not None:
                    sure.append(
                        f"at most {fmt.sig(rec.accuracy_tolerance * 100, 3)} pt less accurate than the best "
                        f"(95 % interval {fmt.signed_points(c.percent[1])} to {fmt.signed_points(c.percent[2])})"
                    )
        if len(rec.tied) > 1:
            sure.append(
                f"tied on energy with {len(rec.tied) - 1} other configuration(s), broken by size and latency"
            )
        elif rec.energy_vs_least or rec.n_candidates > 1:
            comps = [c for _, c in rec.energy_vs_least]
            if comps:
                c = min(comps, key=lambda x: x.ratio)
                est, lo, hi = c.percent
                how = "paired rounds" if c.paired else "re-run intervals"
                sure.append(
                    f"the next candidate uses {fmt.sig(est, 2)} % more energy (95 % interval {fmt.sig(lo, 2)} – "
                    f"{fmt.sig(hi, 2)} %, {how})"
                )
        return (what, saves, ("How sure: " + "; ".join(sure) + ".") if sure else "")

    def point_for(self, key: str) -> Point:
        """The cohort's point with store key ``key``.

        Raises:
            ConfigError: no such point in the cohort (the message says to pick one from the list).
        """
        p = self.point(key)
        if p is None:
            msg = f"configuration {key!r} is not in cohort {self.cohort!r}; pick one from the list"
            raise ConfigError(msg)
        return p


# ----- the pieces -------------------------------------------------------------------------------


def _time(df: pd.DataFrame) -> pd.Series:
    """When each point was stored (``created_at``), else measured (``timestamp``), as sortable text."""
    import pandas as pd

    t = df["created_at"] if "created_at" in df.columns else pd.Series(None, index=df.index, dtype=object)
    if "timestamp" in df.columns:
        t = t.where(t.notna(), df["timestamp"])
    return t.fillna("").astype(str)


def newest_per_configuration(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The newest successful point of each configuration of each cohort (the newest failure where a
    configuration never succeeded), and how many older points were set aside."""
    if df.empty:
        return df, 0
    cols = ["cohort", *[c for c in CONFIG_COLUMNS if c in df.columns]]
    work = df.assign(_ok=(df["status"] == "ok") if "status" in df.columns else True, _t=_time(df))
    key = [
        "|".join("" if v is None or v != v else str(v) for v in row)
        for row in work[cols].itertuples(index=False)
    ]
    work = work.assign(_cfg=key)
    order = work.sort_values(["_cfg", "_ok", "_t"], ascending=[True, False, False], kind="stable")
    keep = order.drop_duplicates("_cfg", keep="first").index
    out = df.loc[[i for i in df.index if i in set(keep)]]
    return out, len(df) - len(out)


def _labels(df: pd.DataFrame) -> list[str]:
    return [fmt.config_label(r) for _, r in df.iterrows()]


def _energy_or_inf(p: Point) -> float:
    return math.inf if p.energy_j_per_query is None else p.energy_j_per_query


def default_baseline(points: Sequence[Point], spec: str | None = None) -> Point:
    """The baseline among the eligible ``points``: ``spec`` (``MODEL:BATCH:PRECISION`` or a store key)
    if given, else the most accurate model at its smallest batch size in fp32 (the naive default
    deployment).

    Raises:
        ConfigError: a malformed or unknown baseline (the message lists what to pick from).
    """
    if spec:
        for p in points:
            if p.key == spec:
                return p
        parts = baseline_parts(spec)
        if parts is None:
            msg = f"baseline {spec!r} is neither a store key of this cohort nor {BASELINE_FORM}"
            raise ConfigError(msg)
        hit = [p for p in points if (p.model, p.batch_size, p.precision) == parts]
        if not hit:
            have = sorted({f"{p.model}:{p.batch_size}:{p.precision}" for p in points})
            shown = ", ".join(have[:8]) + (" …" if len(have) > 8 else "")
            msg = f"baseline {spec!r} is not an eligible configuration of this cohort; pick one of {shown}"
            raise ConfigError(msg)
        return hit[0]
    fp32 = [p for p in points if p.precision == "fp32"] or list(points)
    if any(p.accuracy is not None for p in fp32):
        best_model = most_accurate(fp32).model
        fp32 = [p for p in fp32 if p.model == best_model]
    wh = [math.inf if p.wh_per_1000_queries is None else p.wh_per_1000_queries for p in fp32]
    return min(zip(fp32, wh), key=lambda pw: (pw[0].batch_size, pw[1], pw[0].key))[0]


def most_accurate(points: Sequence[Point]) -> Point:
    """The most accurate of ``points``; equal accuracies go to the least energy, then the key, so the
    choice never depends on the order of the rows (each surface reads the store its own way)."""
    return min(
        points,
        key=lambda p: (-(p.accuracy if p.accuracy is not None else -math.inf), _energy_or_inf(p), p.key),
    )


def _size(p: Point) -> float:
    return p.n_params or p.model_bytes or math.inf


def energy_text(row: Any) -> str:
    """A point's energy as every surface writes it: ``451 µWh ± 80 µWh per 1000 queries (95 % re-run
    interval), modelled (codecarbon, ±50 %)`` (the ± is left out where no interval is known)."""
    half = statistical_half_wh(row)
    wh = number(row, "wh_per_1000_queries")
    which = f" ({fmt.RERUN_INTERVAL})" if half is not None else ""
    return f"{fmt.interval(wh, half, fmt.wh)} per 1000 queries{which}, {fmt.energy_wording(row)}"


def _short_energy(row: Any) -> str:
    return fmt.interval(number(row, "wh_per_1000_queries"), statistical_half_wh(row), fmt.wh)


def _ratio_words(c: Comparison, a_label: str, b_label: str) -> str:
    """``minilm-l2 · b32 · int8 uses 32 % less energy than … (95 % interval 28 % – 36 % less), measured in
    40 interleaved rounds`` — b against a, in the verdict's words."""
    est, lo, hi = c.percent
    v = c.verdict
    how = c.how()
    if v is Verdict.LOWER:
        return (
            f"{b_label} uses {fmt.sig(-est, 2)} % less energy than {a_label} (95 % interval "
            f"{fmt.sig(-hi, 2)} % – {fmt.sig(-lo, 2)} % less), {how}"
        )
    if v is Verdict.HIGHER:
        return (
            f"{b_label} uses {fmt.sig(est, 2)} % more energy than {a_label} (95 % interval "
            f"{fmt.sig(lo, 2)} % – {fmt.sig(hi, 2)} % more), {how}"
        )
    span = f"{fmt.signed_percent(lo)} to {fmt.signed_percent(hi)}"
    if v is Verdict.EQUIVALENT:
        return (
            f"{b_label} and {a_label} use the same energy within ±{fmt.sig(c.margin * 100, 2)} % "
            f"({b_label} {fmt.signed_percent(est)}, 95 % interval {span}), {how}"
        )
    return (
        f"{b_label} and {a_label} show no clear difference in energy ({b_label} {fmt.signed_percent(est)}, "
        f"95 % interval {span}), {how}"
    )


def _how_sure_energy(rec: Point, others: Sequence[Point], pairings: Pairings | None) -> str:
    """How clearly the recommendation's energy is below the next accurate-enough configuration."""
    if not others:
        return ""
    comps = [(compare_energy(rec, p, pairings), p) for p in others]
    comp, nxt = min(comps, key=lambda cp: (cp[0].ratio, cp[1].key))
    return f" {_ratio_words(comp.reversed(), nxt.label, rec.label)}."


def _how_sure_accuracy(best: Point, rec: Point, comp: Comparison | None, tolerance: float) -> str:
    """A clause on how the recommendation's accuracy compares with the best's (non-inferiority)."""
    if comp is None or rec.key == best.key:
        return ""
    est, lo, hi = comp.percent
    gap = -est
    if abs(gap) < 0.05:
        where = "the same as the best's"
    else:
        where = f"{fmt.sig(abs(gap), 2)} pt {'below' if gap > 0 else 'above'} the best"
    return (
        f" Its accuracy, {fmt.percent(rec.accuracy)}, is {where} (95 % interval of the difference "
        f"{fmt.signed_points(lo)} to {fmt.signed_points(hi)}, {_texts(comp)}): at most "
        f"{fmt.sig(tolerance * 100, 3)} pt less accurate."
    )


def _texts(comp: Comparison) -> str:
    return (
        f"paired on the same {fmt.number(comp.n_rounds)} test texts"
        if comp.basis == PAIRED
        else "unpaired: no per-example correctness stored"
    )


def _per_query_latency(p: Point) -> float:
    return p.latency_s / p.batch_size if p.latency_s is not None and p.batch_size else math.inf


def _tie_sentence(tied: Sequence[Point], least: Point, pairings: Pairings | None, rule: str) -> str:
    """Who is tied on energy with the least one, with their comparisons, and which rule broke the tie."""
    names = sorted({p.model for p in tied})
    if len(tied) <= 3:
        parts = [p.label for p in tied]
        who = ", ".join(parts[:-1]) + " and " + parts[-1]
    else:
        who = f"{len(tied)} configurations of {', '.join(names)}"
    details = []
    for p in tied:
        if p.key == least.key:
            continue
        c = compare_energy(least, p, pairings)
        est, lo, hi = c.percent
        words = "equivalent" if c.verdict is Verdict.EQUIVALENT else "no clear difference"
        details.append(
            f"{p.label} {fmt.signed_percent(est)} against {least.label} (95 % interval "
            f"{fmt.signed_percent(lo)} to {fmt.signed_percent(hi)}: {words}; {c.how()})"
        )
    more = f": {'; '.join(details[:2])}" if details else ""
    return f" {who} are tied on energy{more}. Of them, {rule} is recommended."


def _tie_rule(tied: Sequence[Point]) -> str:
    sizes = [_size(p) for p in tied]
    if len(set(sizes)) == 1:
        return "the one with the lowest latency per query"
    if sizes.count(min(sizes)) > 1:
        return "the smaller model's configuration with the lowest latency per query"
    return "the smaller model"


def _least_energy(cands: Sequence[Point], pairings: Pairings | None) -> Point:
    """The least-energy candidate: by the paired ratios where candidates share rounds, else by their
    own figures (a few passes settle a chain of paired and unpaired comparisons)."""
    order = sorted(cands, key=lambda p: (_energy_or_inf(p), p.key))
    least = order[0]
    for _ in range(len(cands)):
        changed = False
        for p in order:
            if p.key == least.key:
                continue
            c = compare_energy(least, p, pairings)
            if c.paired and c.ratio < 1.0:
                least, changed = p, True
        if not changed:
            break
    return least


def admitted_by_accuracy(
    points: Sequence[Point], tolerance: float
) -> tuple[Point, dict[str, Comparison], list[Point]]:
    """(the best, each other point's accuracy comparison with the best by key, the admitted points).

    Non-inferiority: a configuration is as accurate as the best when the 95 % interval of its accuracy
    minus the best's (paired on the same test texts where stored) lies above ``−tolerance``; the best
    itself is always admitted. Points without an accuracy are not admitted while any point has one.
    """
    best = most_accurate(points)
    comps = {
        p.key: compare_accuracy_points(best, p, tolerance)
        for p in points
        if p.accuracy is not None and p.key != best.key
    }
    admitted = {best.key} | {k for k, c in comps.items() if c.low >= -tolerance - 1e-12}
    return best, comps, [p for p in points if p.key in admitted]


def resolution_sentence(comps: dict[str, Comparison], points: Sequence[Point], best: Point) -> str:
    """What the test texts can and cannot resolve, in one sentence."""
    model = {p.key: p.model for p in points}
    other_models = [c.high - c.low for k, c in comps.items() if model[k] != best.model and c.basis == PAIRED]
    same_model = [c.high - c.low for k, c in comps.items() if model[k] == best.model and c.basis == PAIRED]
    n = best.n_eval
    texts = f"{fmt.number(n)} test texts" if n else "the test texts"
    parts = []
    if other_models:
        parts.append(f"about {fmt.sig(statistics.median(other_models) * 50, 2)} pt between two models")
    if same_model:
        parts.append(
            f"about {fmt.sig(statistics.median(same_model) * 50, 2)} pt between precisions or batch sizes of one model"
        )
    if not parts:
        return ""
    return (
        f"With {texts}, an accuracy gap is known to within {' and '.join(parts)} (95 %): smaller gaps "
        "cannot be told apart, so a model is admitted only where its whole interval is within the tolerance."
    )


def decide(
    points: Sequence[Point], tolerance: float, pairings: Pairings | None = None
) -> Recommendation | None:
    """The recommendation among the eligible ``points`` of one cohort (module rules 5 and 6)."""
    if not points:
        return None
    comps: dict[str, Comparison] = {}
    best: Point | None = None
    if any(p.accuracy is not None for p in points):
        best, comps, cands = admitted_by_accuracy(points, tolerance)
        bases = {c.basis for c in comps.values()}
        method = "paired" if bases <= {PAIRED} else ("unpaired" if bases == {"unpaired"} else "mixed")
    else:
        cands, method = list(points), "none"
    least = _least_energy(cands, pairings)
    e_comps = {p.key: compare_energy(least, p, pairings) for p in cands if p.key != least.key}
    tied_keys = {least.key} | {k for k, c in e_comps.items() if c.verdict is not Verdict.HIGHER}
    tied = [p for p in cands if p.key in tied_keys]
    # the tie-break: the smaller model, then the lower latency per query, then the energy, then the key
    pick = sorted(tied, key=lambda p: (_size(p), _per_query_latency(p), _energy_or_inf(p), p.key))
    rec = pick[0]
    label = rec.label
    n = len(cands)
    if best is None:
        reason = f"{label} uses the least energy per query of the {n} eligible configurations (no task accuracy measured)."
    else:
        texts = f"the same {fmt.number(best.n_eval)} test texts" if best.n_eval else "the same test texts"
        how = {
            "paired": f"paired on {texts}",
            "unpaired": "from their accuracies and sample sizes (no per-example correctness stored)",
            "mixed": "paired on the same test texts where per-example correctness is stored, unpaired elsewhere",
        }.get(method, "")
        which = "configuration" if n == 1 else "configurations"
        reason = (
            f"{label} uses the least energy per query among the {n} {which} as accurate as the best "
            f"({best.label}, {fmt.percent(best.accuracy)}): at most "
            f"{fmt.sig(tolerance * 100, 3)} pt less accurate with 95 % confidence ({how})."
        )
        reason += _how_sure_accuracy(best, rec, comps.get(rec.key), tolerance)
    if len(tied) > 1:
        reason += _tie_sentence(pick, least, pairings, _tie_rule(tied))
    else:
        reason += _how_sure_energy(rec, [p for p in cands if p.key not in tied_keys], pairings)
    reason += f" Its energy: {energy_text(rec)}."
    return Recommendation(
        key=rec.key,
        label=label,
        point=rec,
        best_key=None if best is None else best.key,
        best_label=None if best is None else best.label,
        best_accuracy=None if best is None else best.accuracy,
        accuracy_tolerance=tolerance,
        admitted=tuple(p.key for p in cands),
        accuracy_method=method,
        tied=tuple(p.label for p in pick),
        reason=reason,
        accuracy_vs_best=tuple(comps.items()),
        energy_vs_least=tuple(e_comps.items()),
        least_key=least.key,
        resolution=resolution_sentence(comps, points, best) if best is not None else "",
        tied_keys=tuple(p.key for p in pick),
    )


def nudge(selected: Any, recommended: Any, pairings: Pairings | None = None) -> str:
    """The selected configuration against the recommendation, in words, honest about ties:
    ``3.1× the energy for +0.4 pt accuracy`` or ``the same energy within uncertainty …``."""
    e_sel, e_rec = number(selected, "energy_j_per_query"), number(recommended, "energy_j_per_query")
    if e_sel is None or e_rec is None or e_rec <= 0:
        return "energy not comparable"
    a_sel, a_rec = number(selected, "accuracy"), number(recommended, "accuracy")
    if a_sel is None or a_rec is None:
        acc = ""
    elif abs(a_sel - a_rec) < 0.0005:  # below what fmt.points shows: "+0.0 pt" would read as a gain
        acc = " for the same accuracy"
    else:
        acc = f" for {fmt.points(a_sel - a_rec)} accuracy"
    c = compare_energy(recommended, selected, pairings)
    if not c.verdict.differs:
        return f"the same energy within uncertainty{acc}"
    ratio = c.ratio
    return (
        f"{fmt.sig(ratio, 2)}× the energy{acc}"
        if ratio >= 1
        else f"{fmt.sig(ratio, 2)}× the energy (cheaper){acc}"
    )


def _dates(g: pd.DataFrame) -> str:
    days = sorted({t[:10] for t in _time(g) if t})
    if not days:
        return "at an unknown date"
    return f"on {days[0]}" if len(days) == 1 else f"from {days[0]} to {days[-1]}"


def provenance_lines(
    g: pd.DataFrame, eligible: pd.DataFrame, superseded: int, rec: Recommendation | None
) -> tuple[str, ...]:
    """Where the numbers come from, in lines a person reads."""

    def values(col: str) -> str:
        return ", ".join(sorted({str(v) for v in g[col].dropna()})) if col in g.columns else ""

    hardware = values("hardware") or "unknown hardware"
    tasks = values("task") or "no task (cost only)"
    n = len(g)
    lines = [
        f"{n} configuration{'s' if n != 1 else ''} measured {_dates(g)} on {hardware}; task {tasks}; "
        f"{len(eligible)} eligible."
    ]
    if superseded:
        lines.append(f"Newest point per configuration: {superseded} older repeat(s) set aside.")
    words: dict[str, int] = {}
    for _, r in eligible.iterrows():
        w = fmt.energy_wording(r)
        words[w] = words.get(w, 0) + 1
    if words:
        lines.append(
            "Energy: "
            + "; ".join(f"{w} for {k} point{'s' if k != 1 else ''}" for w, k in sorted(words.items()))
            + "."
        )
    us = [number(r, "energy_uncertainty_rel") or 0.0 for _, r in eligible.iterrows()]
    u = max(us, default=0.0)
    if len(words) == 1 and not next(iter(words)).startswith("measured") and u > 0:
        lines.append(
            f"The modelled energy's systematic uncertainty (±{u * 100:.0f} %) is common to every point here: it "
            "cannot decide which configuration is lower, so comparisons leave it out; it widens the absolute "
            "yearly figures."
        )
    if rec is not None and rec.energy_vs_least:
        comps = [c for _, c in rec.energy_vs_least]
        paired = [c for c in comps if c.paired]
        if paired:
            rounds = max(c.n_rounds for c in paired)
            lines.append(
                f"Energy comparisons behind the recommendation: {len(paired)} of {len(comps)} paired (measured in "
                f"the same interleaved rounds, up to {rounds}: the ratio's 95 % interval from the per-round "
                "ratios)"
                + (
                    "; the others from the two points' re-run intervals (a test on their difference)."
                    if len(paired) < len(comps)
                    else "."
                )
            )
        else:
            lines.append(
                "Energy comparisons behind the recommendation: none paired (no interleaved rounds stored for "
                "these points); each from the two points' re-run intervals (a test on their difference)."
            )
    sources = sorted(
        {str(value(r, "run_spread_source")) for _, r in eligible.iterrows() if value(r, "run_spread_source")}
    )
    if sources:
        lines.append(
            f"Every ± is a {fmt.RERUN_INTERVAL}: where another run's mean would land, from the windows' "
            f"spread plus the machine's run spread; run spread: {'; '.join(sources)}."
        )
    if rec is not None and rec.accuracy_method == "paired":
        lines.append(
            "As accurate as the best means non-inferior: the 95 % interval of the accuracy difference, paired on "
            "the same test texts, lies within the tolerance."
        )
    elif rec is not None and rec.accuracy_method in ("unpaired", "mixed"):
        lines.append(
            "Accuracy compared without per-example correctness (not stored for "
            + ("these points" if rec.accuracy_method == "unpaired" else "some points")
            + "): an unpaired interval of the difference, from each accuracy and its sample size, wider than "
            "the paired one on the same texts."
        )
    if rec is not None and rec.resolution:
        lines.append(rec.resolution)
    return tuple(lines)


def guidance_for(df: pd.DataFrame, frame: pd.DataFrame) -> str:
    """What to run next when nothing is eligible."""
    if df.empty:
        return "No results yet: run `efflab sweep` to measure the default grid."
    n_failed = int((frame["status"] != "ok").sum()) if "status" in frame.columns else 0
    n_unstable = len(frame) - n_failed
    if n_failed and not n_unstable:
        return (
            f"Only failed points ({n_failed}): see `efflab results list --failed` for their errors, fix them, "
            "then run `efflab sweep` again."
        )
    return (
        f"No eligible points: {n_unstable} measured point(s) are unstable or disturbed"
        + (f" and {n_failed} failed" if n_failed else "")
        + ". Re-measure on a quieter machine (close other programs) with `efflab sweep`, or with "
        "`efflab sweep --threads 1` on a VM whose second vCPU comes and goes."
    )


# ----- the assessment ---------------------------------------------------------------------------


def assess(
    frame: pd.DataFrame | Iterable[StoredPoint],
    inputs: AssessInputs | None = None,
    pairings: Pairings | None = None,
) -> Assessment:
    """Decide once what every surface shows for ``frame`` (the store's typed points, e.g.
    ``Store.points()``, or their table, ``load_results``) and ``inputs``;
    ``pairings`` (:func:`efflab.analysis.paired.load_pairings`) holds the paired runs' visits, so
    comparisons of points measured in the same interleaved rounds use their paired ratio.

    Never raises for an empty store or one with only failed or unstable points: the assessment then
    has no recommendation and ``guidance`` says what to run next.

    Raises:
        ConfigError: an unknown cohort, baseline or selected configuration (the message lists what
            there is).
    """
    import pandas as pd

    inputs = inputs or AssessInputs()
    df = frame if isinstance(frame, pd.DataFrame) else frame_of(frame)
    if "key" not in df.columns:
        df = df.assign(key=[fmt.config_label(r) for _, r in df.iterrows()])
    if "cohort" not in df.columns:
        df = df.assign(cohort="all")
    why = pd.Series([ineligibility(r) for _, r in df.iterrows()], index=df.index, dtype=object)
    reasons = why.map(lambda w: None if w is None else w.reason).astype(object)
    newest, _ = newest_per_configuration(df)
    elig_counts = newest[reasons.loc[newest.index].isna()]["cohort"].value_counts()
    all_counts = newest["cohort"].value_counts()
    cohorts = tuple(
        sorted(
            (str(c) for c in all_counts.index),
            key=lambda c: (-int(elig_counts.get(c, 0)), -int(all_counts[c]), c),
        )
    )
    if inputs.cohort is not None and inputs.cohort not in cohorts:
        msg = (
            f"unknown cohort {inputs.cohort!r}; pick one of: {', '.join(cohorts) or 'none (the store is empty)'}."
            f"{closest(inputs.cohort, cohorts)}"
        )
        raise ConfigError(msg)
    cohort = inputs.cohort or (cohorts[0] if cohorts else None)
    g_all = df[df["cohort"] == cohort] if cohort is not None else df.iloc[0:0]
    g, superseded = newest_per_configuration(g_all)
    g = g.assign(
        label=_labels(g) if len(g) else pd.Series(dtype=object),
        excluded_reason=reasons.loc[g.index],
        eligible=reasons.loc[g.index].isna().astype(bool),
    )
    eligible = g[g["eligible"]]
    ratings = rate_models(eligible)
    star_of = {r.model: r.stars for r in ratings}
    g = g.assign(model_stars=[int(star_of.get(str(m), 0)) for m in g["model"]])
    excluded = tuple(
        Exclusion(str(r["key"]), str(r["label"]), str(r["excluded_reason"]), why.loc[i].kind)
        for i, r in g[~g["eligible"]].iterrows()
    )
    eligible = g[g["eligible"]]
    general = general_vs_specific(g) if len(g) else None
    if eligible.empty:
        guidance = guidance_for(df, g)
        return Assessment(
            inputs=inputs,
            cohort=cohort,
            cohorts=cohorts,
            frame=g,
            excluded=excluded,
            superseded=superseded,
            ratings=(),
            recommendation=None,
            baseline_key=None,
            savings=None,
            selected_key=None,
            selected_savings=None,
            nudge="",
            provenance=provenance_lines(g, eligible, superseded, None) if len(g) else (),
            guidance=guidance,
            general=general,
            pairings=pairings,
        )
    points = [Point.of(r) for _, r in eligible.iterrows()]
    rec = decide(points, inputs.accuracy_tolerance, pairings)
    if rec is None:  # unreachable: eligible is not empty
        msg = "no eligible configuration to recommend; run `efflab sweep`"
        raise ConfigError(msg)
    base = default_baseline(points, inputs.baseline)
    money = (inputs.queries_per_day, inputs.country, inputs.price_per_kwh, inputs.currency)
    s = savings(base, rec.point, *money, pairings=pairings)
    sel_key = rec.key if inputs.selected is None else inputs.selected
    sel_row = row_of(g, sel_key)
    if sel_row is None:
        msg = f"configuration {inputs.selected!r} is not in cohort {cohort!r}; pick one from the list"
        raise ConfigError(msg)
    sel = Point.of(sel_row)
    if not sel.eligible:
        sel_s = None
        words = f"Your pick, {sel.label}, is not eligible: {sel.excluded_reason}."
    else:
        sel_s = s if sel_key == rec.key else savings(base, sel, *money, pairings=pairings)
        words = (
            "You are looking at the recommended configuration."
            if sel_key == rec.key
            else f"Your pick, {sel.label}: {nudge(sel, rec.point, pairings)}, compared with the recommendation."
        )
    return Assessment(
        inputs=inputs,
        cohort=cohort,
        cohorts=cohorts,
        frame=g,
        excluded=excluded,
        superseded=superseded,
        ratings=ratings,
        recommendation=rec,
        baseline_key=base.key,
        savings=s,
        selected_key=sel_key,
        selected_savings=sel_s,
        nudge=words,
        provenance=provenance_lines(g, eligible, superseded, rec),
        guidance=None,
        general=general,
        pairings=pairings,
    )


__all__ = [
    "INELIGIBLE_FLAGS",
    "AssessInputs",
    "Assessment",
    "Exclusion",
    "ModelRating",
    "Recommendation",
    "assess",
    "default_baseline",
    "energy_text",
    "nudge",
]
