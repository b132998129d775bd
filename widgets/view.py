"""What the lab says, as a pure function: :func:`lab_text` turns :class:`LabFacts` (plain values read from
:class:`widgets.state.LabState` at one moment) into :class:`LabText` (the banners, the selected point's
figures, which banner kind and whether to offer the switch to the recommendation).

Like the dashboard's ``build_view(Snapshot, AssessInputs) -> View``: no widgets, no store, no state here,
so every sentence the lab can show is unit-tested from facts alone (tests/test_lab_view.py), and the
widgets in :mod:`widgets.lab` only put the text where it goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from efflab import format as fmt

if TYPE_CHECKING:
    from efflab.analysis import Assessment, Point


@dataclass(frozen=True)
class LabFacts:
    """What the lab's words are made from, read from the state at one moment.

    Attributes:
        label: the selection as the controls show it (``minilm-l2 · batch 8 · int8``).
        generates: the selection is of the generate workload.
        tokens_text: new tokens per response, in words (generate only).
        selected: the selected configuration's newest point in the shown cohort (None: not measured).
        assessment: the shown cohort's assessment (None: nothing in it).
        recommended_label: the recommendation as the controls would show it (None: no recommendation).
        failed_error: the stored error when the selection was tried on this machine and failed.
        workload_problem: why the selection's model cannot run its workload (one line), or None.
        store_path, store_error, store_exists: the results store and what is wrong with it.
        n_ok, n_failed, first_failure: the store's measured and failed points, the first failure's error.
        hardware, this_hardware: the machine of the shown cohort, and this one.
        cohort_points: how many points the shown cohort holds; cohort_cost_only: none has an accuracy.
        family: the models to classify with.
        notice: one-off news (a point landed, a job was cancelled).
    """

    label: str
    generates: bool = False
    tokens_text: str = ""
    selected: Point | None = None
    assessment: Assessment | None = None
    recommended_label: str | None = None
    failed_error: str | None = None
    workload_problem: str | None = None
    store_path: str = ""
    store_error: str | None = None
    store_exists: bool = True
    n_ok: int = 0
    n_failed: int = 0
    first_failure: str | None = None
    hardware: str | None = None
    this_hardware: str = ""
    cohort_points: int = 0
    cohort_cost_only: bool = False
    family: tuple[str, ...] = ()
    notice: str = ""

    @property
    def recommendation(self) -> Any:
        return None if self.assessment is None else self.assessment.recommendation

    @property
    def selected_key(self) -> str | None:
        return None if self.selected is None else self.selected.key

    @property
    def is_recommended(self) -> bool:
        rec = self.recommendation
        return rec is not None and self.selected_key == rec.key


@dataclass(frozen=True)
class LabText:
    """Everything the lab writes for one :class:`LabFacts`.

    Attributes:
        nudge: the banner comparing the selection with the recommendation.
        nudge_kind: ``ok`` (it is the recommendation), ``nudge`` (another, comparable) or ``info``.
        offer_switch: show "Switch to recommended".
        messages: what the user should know or do, most important first (one line each).
        details: the selected point's figures, label -> text (empty when it is not measured).
    """

    nudge: str
    nudge_kind: str
    offer_switch: bool
    messages: tuple[str, ...] = ()
    details: dict[str, str] = field(default_factory=dict)


def lab_text(f: LabFacts) -> LabText:
    """The lab's words for ``f`` (pure: the same facts give the same text)."""
    comparable = f.recommendation is not None and not f.generates
    return LabText(
        nudge=_generation_nudge(f) if f.generates else _nudge(f),
        nudge_kind="ok" if f.is_recommended else ("nudge" if comparable else "info"),
        offer_switch=comparable and not f.is_recommended,
        messages=tuple(_messages(f)),
        details=_details(f),
    )


def _nudge(f: LabFacts) -> str:
    from efflab.analysis import nudge

    rec, sel, a = f.recommendation, f.selected, f.assessment
    if rec is None:
        if a is not None and a.guidance:
            return f"No recommendation yet: {a.guidance}"
        return "No recommendation yet: nothing is measured in this cohort. Press Measure to add a point."
    rec_label = f.recommended_label or rec.label
    if sel is None:
        if f.failed_error:
            return f"{f.label} failed on this machine: {f.failed_error}. The recommendation is {rec_label}."
        return (
            f"{f.label} is not measured yet. Press Measure to measure it live, "
            f"or switch to the recommended {rec_label}."
        )
    if f.is_recommended:
        return f"This is the recommended configuration. {rec.reason}"
    p = None if a is None else a.point(f.selected_key)
    why = None if p is None else p.excluded_reason
    if why:
        return f"{f.label} is not eligible ({why}). The recommendation is {rec_label}."
    return f"{f.label}: {nudge(sel, rec.point)} vs the recommended {rec_label}; energy {fmt.energy_wording(sel)}."


def _generation_nudge(f: LabFacts) -> str:
    """A generate selection: its cost per token and per response (generation has no task accuracy, so
    there is no recommendation to compare with)."""
    r = f.selected
    if f.workload_problem:
        return f.workload_problem[0].upper() + f.workload_problem[1:] + "."
    if r is None:
        return (
            f"{f.label} is not measured yet. Press Measure to generate {f.tokens_text} per response "
            "live; its energy per token lands on the Generation plots."
        )
    return (
        f"{f.label}: {fmt.si(r['energy_j_per_token'], 'J')} per output token, "
        f"{fmt.wh(r.wh_per_1000_queries)} per 1000 responses; energy {fmt.energy_wording(r)}. "
        "Generation has no task accuracy, so nothing is recommended: compare on the Generation plots."
    )


def _messages(f: LabFacts) -> list[str]:
    out: list[str] = []
    path = f.store_path
    if f.store_error:
        out.append(f"{f.store_error}. Live measurements are off until the store is fixed.")
    elif not f.store_exists:
        out.append(
            f"No results store at {path} yet. Pick a configuration and press Measure (the store is created), "
            f"or run `efflab sweep --store {path}` in a terminal to measure the whole family."
        )
    elif f.n_ok == 0:
        if f.n_failed:
            out.append(
                f"All {f.n_failed} stored points failed (first: {f.first_failure}). Fix that and re-run "
                "`efflab sweep`."
            )
        else:
            out.append(
                f"The store at {path} has no measured points yet. Press Measure, or run "
                f"`efflab sweep --store {path}`."
            )
    if f.hardware and f.hardware != f.this_hardware and f.cohort_points:
        out.append(
            f"These points were measured on another machine ({f.hardware}); this one is {f.this_hardware}. "
            "They are shown as they are; a measurement here starts this machine's own cohort."
        )
    if len(f.family) == 1:
        out.append(
            f"The family has one model ({f.family[0]}): sweep more sizes "
            f"(`efflab sweep --models A B C --store {path}`) to compare model sizes."
        )
    if f.cohort_points and f.cohort_cost_only:
        out.append(
            "These points have no task accuracy (cost only), so the tradeoff plot is empty; "
            "sweep with a task (e.g. `--task reviews`) to see it."
        )
    if f.notice:
        out.append(f.notice)
    return out


def rated_point(a: Assessment | None, key: str | None, generates: bool = False) -> Point | None:
    """The point ``key`` where the assessment counts it (eligible and rated in the shown cohort)."""
    p = None if a is None or generates else a.point(key)
    if a is None or p is None:
        return None
    return p if p.eligible and a.rating(p.model) is not None else None


def _details(f: LabFacts) -> dict[str, str]:
    r = f.selected
    if r is None:
        return {}
    from efflab.analysis import energy_text
    from efflab.analysis.uncertainty import statistical_half_wh

    if f.generates:
        return _generation_details(r, fmt.interval(r.wh_per_1000_queries, statistical_half_wh(r), fmt.wh))
    out = {
        "energy": energy_text(r),
        "latency": f"{fmt.interval(r.latency_s, r.latency_ci_s, lambda x: fmt.si(x, 's'))} per batch"
        f" ({fmt.RERUN_INTERVAL})",
        "throughput": f"{fmt.number(r.throughput_qps)} queries/s",
    }
    a, rated = f.assessment, rated_point(f.assessment, f.selected_key, f.generates)
    if a is not None and rated is not None:
        mr = a.rating(r.model)
        n = a.config_stars(rated.key)
        own = (
            ""
            if mr is None or mr.key == rated.key or mr.stars == n
            else f"; the model's least-energy configuration, {mr.label}, gets {mr.stars}"
        )
        out["stars"] = f"{fmt.stars(n)} this configuration, in its model's class bands{own}"
    if r.accuracy is not None:
        lo, hi = r.accuracy_ci or (None, None)
        out["accuracy"] = fmt.accuracy(r.accuracy, lo, hi)
    if r.peak_mem_bytes is not None:
        out["peak memory"] = fmt.nbytes(int(r.peak_mem_bytes))
    if r.get("flags"):  # the stored text: its order, and flags this version does not know
        out["flags"] = flags_text(r.get("flags"))
    return out


def _generation_details(r: Point, energy: str) -> dict[str, str]:
    def s_ci(v: Any, ci: Any) -> str:
        return fmt.interval(v, ci if ci == ci else None, lambda x: fmt.si(x, "s"))

    itl = r["itl_s"]
    out = {
        "energy": f"{energy} / 1000 responses ({fmt.energy_wording(r)})",
        "per token": f"{fmt.si(r['energy_j_per_token'], 'J')} per output token (prefill "
        f"{fmt.si(r['energy_prefill_j'], 'J')} + decode {fmt.si(r['energy_decode_j'], 'J')} per response)",
        "TTFT (prefill)": f"{s_ci(r['ttft_s'], r['ttft_ci_s'])} (95 % CI)",
        "ITL (decode)": f"{s_ci(itl, r['itl_ci_s'])} per token (95 % CI)"
        if itl == itl and itl is not None
        else "none (1 new token: no decode step)",
        "throughput": f"{fmt.number(r['tokens_per_s'])} output tokens/s",
    }
    if r.peak_mem_bytes is not None:
        kv = r.get("kv_cache_bytes")
        kv_text = f" (KV cache {fmt.nbytes(int(kv))})" if kv == kv and kv is not None else ""
        out["peak memory"] = fmt.nbytes(int(r.peak_mem_bytes)) + kv_text
    if r.get("flags"):
        out["flags"] = flags_text(r.get("flags"))
    return out


def flags_text(flags: Any) -> str:
    """Stored flags (``"hit_time_cap,noisy"``) as a person reads them: ``hit_time_cap, noisy``."""
    from efflab.records import flag_names

    return ", ".join(flag_names(flags))
