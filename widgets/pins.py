"""Pin two configurations and compare them side by side: Δ energy, Δ latency, Δ accuracy, and
whether each difference is distinguishable from the measurements' own uncertainty.

Rules (the assessment's own, from :mod:`efflab.analysis.uncertainty`):
- energy: two points of one cohort share the sensor's systematic factor, so they are compared on
  their statistical intervals (the 95 % half-width stored with the point, else the timing
  interval's share of the energy); the systematic part is added only when their bases differ;
- latency per query: the 95 % re-run intervals (the windows' spread plus the run spread);
- accuracy: an exact McNemar test on the per-example correctness of the same test texts where both
  points carry it, else whether the Wilson intervals overlap (said so).
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import ipywidgets as W

if TYPE_CHECKING:
    import pandas as pd

    from widgets.state import LabState


def _num(row: Any, key: str) -> float | None:
    try:
        v = float(row.get(key))
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def compare_pair(a: Any, b: Any) -> list[tuple[str, str, str]]:
    """``(what, difference of B vs A, verdict)`` rows for energy, latency and accuracy."""
    out: list[tuple[str, str, str]] = []
    from efflab import format as fmt
    from efflab.analysis.uncertainty import common_systematic, energy_tied, mcnemar_exact_p

    common = common_systematic(a, b)
    # a generate point's unit of work is a response
    unit = "response" if "generate" in (a.get("workload"), b.get("workload")) else "query"
    ea, eb = _num(a, "energy_j_per_query"), _num(b, "energy_j_per_query")
    if ea and eb:
        apart = not energy_tied(a, b)
        ratio = eb / ea
        wh = (eb - ea) * 1000 / 3600
        diff = f"{fmt.signed(wh, lambda x: fmt.si(x, 'Wh'))} per 1000 {'responses' if unit == 'response' else 'queries'} ({fmt.number(ratio)}× A)"
        why = "intervals apart" if apart else "intervals overlap: a tie"
        basis = (
            "same modelled basis, so statistical intervals"
            if common and fmt.energy_basis(a) != fmt.MEASURED
            else fmt.energy_basis(a)
        )
        out.append(
            ("energy", diff, f"{'distinguishable' if apart else 'not distinguishable'} ({why}; {basis})")
        )
    la, lb = _num(a, "latency_s"), _num(b, "latency_s")
    if la and lb:
        qa, qb = la / float(a["batch_size"]), lb / float(b["batch_size"])
        ca = (_num(a, "latency_ci_s") or 0.0) / float(a["batch_size"])
        cb = (_num(b, "latency_ci_s") or 0.0) / float(b["batch_size"])
        apart = abs(qb - qa) > ca + cb
        d = (qb - qa) * 1000
        out.append(
            (
                f"latency per {unit}",
                f"{'+' if d >= 0 else '-'}{fmt.si(abs(d) / 1000, 's')} ({fmt.number(qb / qa)}× A)",
                "distinguishable (95 % intervals apart)"
                if apart
                else "not distinguishable (95 % intervals overlap)",
            )
        )
    aa, ab = _num(a, "accuracy"), _num(b, "accuracy")
    if aa is not None and ab is not None:
        d = (ab - aa) * 100
        ca, cb = a.get("accuracy_correct"), b.get("accuracy_correct")
        if isinstance(ca, str) and isinstance(cb, str) and ca and len(ca) == len(cb):
            p = mcnemar_exact_p(ca, cb)
            p_text = "p < 0.001" if p < 0.001 else f"p = {fmt.sig(p, 2)}"  # never "p = 1.2e-05"
            verdict = f"{'distinguishable' if p < 0.05 else 'not distinguishable'} (exact McNemar on the same {len(ca):,} texts, {p_text})"
        else:
            lo_a, hi_a, lo_b, hi_b = (
                _num(r, k) for r in (a, b) for k in ("accuracy_ci_low", "accuracy_ci_high")
            )
            if None in (lo_a, hi_a, lo_b, hi_b):
                verdict = "no interval stored"
            else:
                apart = hi_a < lo_b or hi_b < lo_a  # type: ignore[operator]
                verdict = (
                    f"{'distinguishable' if apart else 'not distinguishable'} (95 % Wilson intervals "
                    f"{'apart' if apart else 'overlap'}; no per-example correctness stored for a paired test)"
                )
        out.append(("accuracy", f"{d:+.1f} pt", verdict))
    return out


class Pins:
    """Two pinned configurations (A, B) of the lab and their comparison."""

    def __init__(self, state: LabState) -> None:
        self.state = state
        self.keys: dict[str, str | None] = {"A": None, "B": None}
        self.pin_a = W.Button(
            description="Pin as A",
            tooltip="pin the selected configuration as A",
            layout=W.Layout(width="auto"),
        )
        self.pin_b = W.Button(
            description="Pin as B",
            tooltip="pin the selected configuration as B",
            layout=W.Layout(width="auto"),
        )
        self.clear = W.Button(description="Unpin", layout=W.Layout(width="auto"))
        self.out = W.HTML()
        self.pin_a.on_click(lambda _: self.pin("A"))
        self.pin_b.on_click(lambda _: self.pin("B"))
        self.clear.on_click(lambda _: self.unpin())
        for b in (self.pin_a, self.pin_b, self.clear):
            b.add_class("efflab-pin")
        bar = W.HBox([W.HTML("<b>Compare two configurations</b>"), self.pin_a, self.pin_b, self.clear],
                     layout=W.Layout(flex_flow="row wrap", align_items="center", width="100%"))  # fmt: skip
        self.widget = W.VBox([bar, self.out], layout=W.Layout(width="100%", margin="8px 0 0 0"))
        self.widget.add_class("efflab-pins")
        self.render()

    def _row(self, key: str | None) -> pd.Series | None:
        df = self.state.df
        if key is None or df.empty or "key" not in df.columns:
            return None
        hit = df[(df["key"].astype(str) == key) & (df["status"] == "ok")]
        return None if hit.empty else hit.iloc[0]

    def pin(self, slot: str) -> None:
        """Pin the selected (stored) configuration as ``slot`` A or B."""
        row = self.state.selected_row
        if row is None:
            self.out.value = "<div class='efflab-pin-note'>Only a measured configuration can be pinned: press Measure first.</div>"
            return
        self.keys[slot] = str(row["key"])
        self.render()

    def unpin(self) -> None:
        self.keys = {"A": None, "B": None}
        self.render()

    def render(self) -> None:
        from efflab.plots import point_label

        a, b = self._row(self.keys["A"]), self._row(self.keys["B"])
        if a is None and b is None:
            self.out.value = (
                "<div class='efflab-pin-note' style='font-size:12px;color:#555'>Select a configuration and press "
                "<b>Pin as A</b>, then another and <b>Pin as B</b>, to compare them side by side.</div>"
            )
            return
        head = "".join(
            f"<div><b>{s}</b>: {html.escape(point_label(r)) if r is not None else '<i>not pinned</i>'}</div>"
            for s, r in (("A", a), ("B", b))
        )
        if a is None or b is None:
            self.out.value = f"<div class='efflab-pin-result'>{head}</div>"
            return
        rows = "".join(
            f"<tr><td>{html.escape(w)}</td><td>{html.escape(d)}</td><td>{html.escape(v)}</td></tr>"
            for w, d, v in compare_pair(a, b)
        )
        self.out.value = (
            f"<div class='efflab-pin-result' style='font-size:12px'>{head}"
            "<table class='efflab-pin-table' style='border-collapse:collapse;margin-top:4px'>"
            "<tr><th style='text-align:left'>B vs A</th><th style='text-align:left'>difference</th>"
            f"<th style='text-align:left'>distinguishable?</th></tr>{rows}</table></div>"
        )
