"""Pin two configurations and compare them side by side: Δ energy, Δ latency, Δ accuracy, and
whether each difference is distinguishable from the measurements' own uncertainty.

Rules: the assessment's own comparison (:mod:`efflab.analysis.compare`): energy and latency per
query as a ratio B / A with a 95 % interval, paired where the two were measured in the same
interleaved rounds, else from their re-run intervals (said so); accuracy as the difference B − A,
paired on the same test texts where both carry per-example correctness.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as W

if TYPE_CHECKING:
    import pandas as pd

    from widgets.state import LabState


def compare_pair(a: Any, b: Any, pairings: Any = None, tolerance: float = 0.01) -> list[tuple[str, str, str]]:
    """``(what, difference of B vs A, verdict)`` rows for energy, latency and accuracy: the one comparison
    (:func:`efflab.analysis.compare.compare_points`) that ``efflab compare`` and the report use."""
    from efflab import format as fmt
    from efflab.analysis.compare import compare_points, describe

    # a generate point's unit of work is a response
    unit = "response" if "generate" in (a.get("workload"), b.get("workload")) else "query"
    comps = compare_points(a, b, pairings, tolerance=tolerance)
    out: list[tuple[str, str, str]] = []
    names = {"energy": "energy", "latency": f"latency per {unit}", "accuracy": "accuracy"}
    for metric in ("energy", "latency", "accuracy"):
        c = comps.get(metric)
        if c is None:
            continue
        diff, span, verdict = describe(c)
        if metric == "energy":
            wh = (c.b_value - c.a_value) * 1000 / 3600
            per = "responses" if unit == "response" else "queries"
            diff = f"{fmt.signed(wh, lambda x: fmt.si(x, 'Wh'))} per 1000 {per}, {diff}"
        out.append((names[metric], diff, f"{verdict} (95 % interval {span})"))
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
            for w, d, v in compare_pair(
                a, b, getattr(self.state, "pairings", None), getattr(self.state, "tolerance", 0.01)
            )
        )
        self.out.value = (
            f"<div class='efflab-pin-result' style='font-size:12px'>{head}"
            "<table class='efflab-pin-table' style='border-collapse:collapse;margin-top:4px'>"
            "<tr><th style='text-align:left'>B vs A</th><th style='text-align:left'>difference</th>"
            f"<th style='text-align:left'>verdict</th></tr>{rows}</table></div>"
        )
