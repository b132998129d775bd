"""The dashboard page as ipywidgets: what ``notebooks/dashboard.ipynb`` displays under Voila.

A thin layer over :mod:`efflab.dashboard.view`: every input change rebuilds the :class:`View` from
the snapshot of the store already in memory (re-read when the store file changed, or on "Reload"),
then rewrites the cards, the header and the charts. Nothing is measured here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import warnings
from html import escape
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as w
import plotly.graph_objects as go
import plotly.io as pio
import traitlets
from IPython.display import display

# Imported here, not on first use: a pre-heated Voila kernel imports this module before anyone
# visits, so the visit itself pays for none of it.
from efflab.dashboard.picker import GroupedPicker, grouped_options
from efflab.dashboard.view import Inputs, Snapshot, View, build_view, energy_kind, read_store
from efflab.errors import EfflabError
from efflab.plots import place_title

CSS = """
<style>
.efflab-dash { font-family: "DejaVu Sans", Arial, sans-serif; color: #222; }
.efflab-head h2 { margin: 0 0 4px 0; font-size: 22px; }
.efflab-head .efflab-rec { font-size: 18px; font-weight: bold; color: #1a7f37; margin: 4px 0; }
.efflab-head .efflab-reason, .efflab-head .efflab-nudge { color: #444; margin: 2px 0; }
.efflab-head .efflab-nudge.off { color: #b35806; font-weight: bold; }
.efflab-guidance { border: 2px solid #b35806; border-radius: 8px; padding: 14px 18px; background: #fff8f0;
  font-size: 16px; }
.efflab-guidance code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
.efflab-cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(max(230px, 30%), 1fr)); gap: 12px; margin: 8px 0; }
.efflab-dash, .efflab-dash * { line-height: 1.35; }
.efflab-dashboard, .efflab-dashboard-bottom { max-width: 100%; box-sizing: border-box; }
.efflab-wrap { flex-wrap: wrap !important; gap: 6px 16px; max-width: 100%; }
.efflab-wrap > * { min-width: 0; }
.efflab-chart { flex: 1 1 460px !important; min-width: 0 !important; max-width: 100%; }
.efflab-dash svg { max-width: 100%; height: auto; }
.efflab-card { border: 1px solid #ccc; border-radius: 8px; padding: 10px 14px; background: #fff; }
.efflab-card.estimated { border-color: #e0a060; }
.efflab-card-title { font-size: 13px; color: #555; }
.efflab-card-value { font-size: 26px; font-weight: bold; margin: 4px 0; }
.efflab-card[data-card="stars"] .efflab-card-value { color: #1a9850; letter-spacing: 2px; }
.efflab-card-detail, .efflab-card-note { font-size: 12px; color: #555; }
.efflab-card-note { color: #b35806; }
.efflab-badge { font-size: 11px; font-weight: bold; color: #b35806; border: 1px solid #b35806;
  border-radius: 4px; padding: 0 4px; margin-left: 4px; }
.efflab-labels { display: flex; flex-wrap: wrap; gap: 12px; }
.efflab-note { font-size: 12px; color: #555; margin-top: 8px; line-height: 1.4 !important; }
.efflab-error { color: #b00020; font-weight: bold; }
.efflab-bad input { border: 2px solid #b00020 !important; }
</style>
"""


def wait_for_viewer() -> None:
    """In a Voila pre-heated kernel, wait until someone opens the page, so that the store is read
    at the visit rather than when the kernel warmed up (possibly long before). Elsewhere (papermill,
    JupyterLab, Voila without pre-heating) return at once."""
    if os.environ.get("VOILA_PREHEAT", "False") != "True":
        return
    from voila.utils import wait_for_request

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed wait just renders with the data as of now
        wait_for_request()


def cards_html(view: View) -> str:
    """The cards as HTML (``data-card`` names each one for the browser tests)."""
    out = []
    for c in view.cards:
        badge = '<span class="efflab-badge">modelled</span>' if c.estimated else ""
        note = f'<div class="efflab-card-note">{escape(c.note)}</div>' if c.note else ""
        out.append(
            f'<div class="efflab-card{" estimated" if c.estimated else ""}" data-card="{escape(c.key)}">'
            f'<div class="efflab-card-title">{escape(c.title)}{badge}</div>'
            f'<div class="efflab-card-value">{escape(c.value)}</div>'
            f'<div class="efflab-card-detail">{escape(c.detail)}</div>{note}</div>'
        )
    return f'<div class="efflab-dash efflab-cards">{"".join(out)}</div>'


def header_html(view: View) -> str:
    off = "" if view.follows_recommendation else " off"
    return (
        '<div class="efflab-dash efflab-head">'
        "<h2>Which configuration to approve</h2>"
        f'<div class="efflab-rec" data-testid="recommended">{escape(view.headline)}</div>'
        f'<div class="efflab-reason">{escape(view.reason)}</div>'
        f'<div class="efflab-nudge{off}" data-testid="nudge">{escape(view.nudge)}</div>'
        "</div>"
    )


def guidance_html(message: str) -> str:
    """The page for a missing or empty store: what to run, no error."""
    text = escape(message)
    # Show commands in backticks as code.
    parts = text.split("`")
    text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return (
        '<div class="efflab-dash"><h2>efflab dashboard</h2>'
        f'<div class="efflab-guidance" data-testid="guidance">{text}</div></div>'
    )


def labels_html(view: View) -> str:
    """The efficiency label of each model: the Assessment's one rating per model (the same stars as
    the cards, the report and the lab), at its rated configuration."""
    from efflab.label import LabelData, label_svg

    ratings = view.ratings
    svgs = [
        f'<div class="efflab-label" data-model="{escape(str(r["model"]))}">'
        f"{label_svg(LabelData.from_row(r, n_models=len(ratings)))}</div>"
        for _, r in ratings.iterrows()
    ]
    return f'<div class="efflab-dash efflab-labels">{"".join(svgs)}</div>'


def _store_stamp(path: Path) -> tuple[int, ...]:
    """Changes whenever a writer commits (the main file or its WAL). An empty WAL counts as none:
    the first reader creates one, and that is no new data (it made every first input re-read)."""
    out: list[int] = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            st = p.stat()
            out += [st.st_mtime_ns, st.st_size] if st.st_size or p == path else [0, 0]
        except OSError:
            out += [0, 0]
    return tuple(out)


class PageShown(anywidget.AnyWidget):  # type: ignore[misc]
    """Tells the kernel that a browser has drawn the page: ``shown`` turns True when its view renders.

    Drawing a plotly chart blocks the browser for a while (plotly.js loads on the first chart, and
    the renderer then snapshots each chart to PNG); charts drawn only after this signal let the
    cards appear first.
    """

    _esm = "export default { render({ model }) { model.set('shown', true); model.save_changes(); } };"
    shown = traitlets.Bool(False).tag(sync=True)


class Dashboard:
    """The managers' page over the results store at ``store``.

    ``defer_charts``: draw the charts only once a browser shows the page (the cards come first);
    without a browser (tests, papermill) leave it False.
    """

    def __init__(
        self, store: str | Path, inputs: Inputs | None = None, *, defer_charts: bool = False
    ) -> None:
        self.store = Path(store).expanduser()
        self.inputs = inputs or Inputs()
        self._busy = False
        self._charts_on = not defer_charts
        self._tradeoff_key: tuple[Any, ...] = ()
        self._labels_key: tuple[Any, ...] = ()
        self._family_key: tuple[Any, ...] = ()
        self._stamp = _store_stamp(self.store)
        self.snapshot: Snapshot = read_store(self.store)
        self.view: View | None = None

        full = w.Layout(width="auto")
        style = {"description_width": "initial"}
        self.header = w.HTML()
        self.message = w.HTML()
        self.cohort = w.Dropdown(description="Hardware & task", style=style, layout=w.Layout(width="100%"))
        self.config = GroupedPicker(description="Configuration")
        self.baseline = GroupedPicker(description="Current (baseline)")
        # Plain text boxes, not bounded ones: a bounded box silently rewrites a bad number (-5 to 0,
        # 200 to 100); here a bad value gets its one line, in the box's own unit, and the figures
        # already shown stay as they are.
        self.queries = w.IntText(
            value=int(self.inputs.queries_per_day),
            step=100_000,
            description="Queries per day",
            continuous_update=True,
            style=style,
            layout=full,
        )
        from efflab.measuring.carbon import countries, country_name

        self.country = w.Dropdown(
            options=sorted(
                ((f"{country_name(c)} ({c})", c) for c in countries()), key=lambda o: o[0].casefold()
            ),
            value=self.inputs.country,
            description="Country",
            style=style,
            layout=full,
        )
        self.price = w.FloatText(
            value=self.inputs.price_per_kwh,
            step=0.01,
            description="Price per kWh",
            continuous_update=True,
            style=style,
            layout=full,
        )
        self.tolerance = w.FloatText(
            value=round(self.inputs.accuracy_tolerance * 100, 6),
            step=0.5,
            description="Accuracy tolerance (pt)",
            continuous_update=True,
            style=style,
            layout=full,
        )
        self.reload = w.Button(description="Reload data", tooltip="read the store again")
        self.again = w.Button(description="Check again", tooltip="read the store again")
        for widget, name in (
            (self.cohort, "cohort"),
            (self.config, "config"),
            (self.baseline, "baseline"),
            (self.queries, "queries"),
            (self.country, "country"),
            (self.price, "price"),
            (self.tolerance, "tolerance"),
            (self.reload, "reload"),
            (self.again, "again"),
        ):
            widget.add_class(f"efflab-{name}")
        self.cards = w.HTML()
        self.tradeoff = w.Output()
        self.family = w.Output()
        for out, name in ((self.tradeoff, "tradeoff"), (self.family, "family")):
            out.add_class("efflab-chart")
            out.add_class(f"efflab-chart-{name}")
        # Each chart's height as CSS on its plot element. plotly's responsive mode sizes a chart to
        # 100 % of that element on every window resize; an element whose height comes only from its
        # content then measures 0, and the charts vanished when the window was narrowed.
        self._heights: dict[str, int] = {}
        self.chart_css = w.HTML()
        self.labels = w.HTML()
        self.note = w.HTML()
        for widget in (self.cohort, self.config, self.baseline):
            widget.observe(self._on_pick, names="value")
        for widget in (self.queries, self.country, self.price, self.tolerance):
            widget.observe(self._on_input, names="value")
        self.reload.on_click(lambda _: self.refresh())
        self.again.on_click(lambda _: self.refresh())

        pickers = w.HBox([self.config, self.baseline], layout=w.Layout(width="100%"))
        entries = w.HBox([self.queries, self.country, self.price, self.tolerance, self.reload])
        self.controls = w.VBox([pickers, self.cohort, entries], layout=w.Layout(width="100%"))
        self.charts = w.HBox([self.tradeoff, self.family], layout=w.Layout(width="100%"))
        for box in (pickers, entries, self.charts):
            box.add_class("efflab-wrap")
        self.shown = PageShown(layout=w.Layout(display="none"))
        self.shown.observe(self._on_shown, names="shown")
        self.body = w.VBox([self.controls, self.message, self.cards, self.shown])
        self.extra = w.VBox(
            [
                self.chart_css,
                self.charts,
                w.HTML('<h3 class="efflab-dash">Efficiency label of each model</h3>'),
                self.labels,
            ]
        )
        # Two outputs: the browser draws the cards without waiting for plotly.js to draw the charts.
        self.top = w.VBox(
            [w.HTML(CSS), self.header, self.again, self.body, self.note], layout=w.Layout(padding="8px")
        )
        self.bottom = w.VBox([self.extra], layout=w.Layout(padding="0 8px 8px 8px"))
        self.top.add_class("efflab-dashboard")
        self.bottom.add_class("efflab-dashboard-bottom")
        self._render(full=True)

    # ----- events -----
    def _on_pick(self, change: dict[str, Any]) -> None:
        if self._busy:
            return
        if change["owner"] is self.cohort:  # another cohort: its own recommendation and baseline
            with self._quiet():
                self.config.value = ""
                self.baseline.value = ""
            self._render(full=True)
            return
        self._render()

    def _on_shown(self, change: dict[str, Any]) -> None:
        if change["new"] and not self._charts_on:
            self._charts_on = True
            if self.view is not None:
                self._draw_tradeoff(self.view)
                self._draw_family(self.view)

    def _on_input(self, change: dict[str, Any]) -> None:
        if self._busy:
            return
        stamp = _store_stamp(self.store)
        if stamp != self._stamp:  # a sweep committed points since the last read
            self.refresh()
            return
        self._render()

    def refresh(self) -> None:
        """Read the store again and redraw everything (keeps the inputs)."""
        self._stamp = _store_stamp(self.store)
        self.snapshot = read_store(self.store)
        self._render(full=True)

    # ----- drawing -----
    def _read_inputs(self) -> tuple[Inputs, list[str]]:
        """The inputs as the boxes show them, and one line per box holding a bad value (in that
        box's unit). A bad box keeps the last valid value in the returned inputs."""
        from efflab.options import parse_price_per_kwh, parse_queries_per_day, parse_tolerance_points

        last = self.inputs
        values: dict[str, Any] = {}
        errors: list[str] = []
        for box, name, parse in (
            (self.queries, "queries_per_day", parse_queries_per_day),
            (self.price, "price_per_kwh", parse_price_per_kwh),
            (self.tolerance, "accuracy_tolerance", parse_tolerance_points),
        ):
            try:
                values[name] = parse(box.value)
                box.remove_class("efflab-bad")
            except EfflabError as e:
                values[name] = getattr(last, name)
                errors.append(str(e))
                box.add_class("efflab-bad")
        inputs = dataclasses.replace(
            last,
            **values,
            country=str(self.country.value),
            cohort=self.cohort.value or None,
            selected=self.config.value or None,
            baseline=self.baseline.value or None,
        )
        return inputs, errors

    @staticmethod
    def _errors_html(errors: list[str], *, kept: bool) -> str:
        if not errors:
            return ""
        after = " The figures below are still those of the last valid values." if kept else ""
        return "".join(
            f'<div class="efflab-error" data-testid="input-error">{escape(e[0].upper() + e[1:])}.{after}</div>'
            for e in errors
        )

    @contextlib.contextmanager
    def _quiet(self) -> Any:
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    @staticmethod
    def _set_options(dd: w.Dropdown, options: list[tuple[str, str]]) -> None:
        keep = dd.value
        if list(dd.options) != options:
            dd.options = options
        values = [v for _, v in options]
        dd.value = keep if keep in values else values[0]

    @staticmethod
    def _set_picker(picker: GroupedPicker, view: View, first: tuple[str, str]) -> None:
        """The view's configurations grouped by model. Each entry keeps its model's name: a closed
        ``<select>`` shows the chosen option's text only, not its group."""
        frame = view.frame
        model_of = dict(zip(frame["key"].astype(str), frame["model"].astype(str)))
        grouped = grouped_options(list(view.options), model_of, first=first)
        keep = picker.value
        if picker.options != grouped:
            picker.options = grouped
        values = [o[2] for o in grouped]
        picker.value = keep if keep in values else values[0]

    def _render(self, *, full: bool = False) -> None:
        snap = self.snapshot
        guidance = snap.guidance is not None
        self.body.layout.display = "none" if guidance else None
        self.extra.layout.display = "none" if guidance else None
        self.again.layout.display = None if guidance else "none"
        if snap.guidance is not None:
            self.view = None
            self.header.value = guidance_html(snap.guidance)
            self.note.value = f'<div class="efflab-note">Checked {escape(snap.read_at)} UTC.</div>'
            return
        if self.view is None:
            full = True
        errors: list[str] = []
        inputs = self.inputs
        if self.view is not None:
            inputs, errors = self._read_inputs()
            if errors and not full:  # a bad value typed: say so, leave every figure as it is
                self.message.value = self._errors_html(errors, kept=True)
                return
        if inputs.cohort is not None and inputs.cohort not in snap.cohorts:
            inputs = dataclasses.replace(inputs, cohort=None, selected=None, baseline=None)
        try:
            view = build_view(snap, inputs)
        except EfflabError as e:
            # A picked configuration that is gone after a reload: back to the cohort's defaults.
            inputs = dataclasses.replace(inputs, selected=None, baseline=None)
            try:
                view = build_view(snap, inputs)
            except EfflabError:
                self.message.value = f'<div class="efflab-error">{escape(str(e))}</div>'
                return
        self.message.value = self._errors_html(errors, kept=True)
        self.view, self.inputs = view, inputs
        with self._quiet():
            self._set_options(self.cohort, [(c, c) for c in view.cohorts])
            self.cohort.layout.display = None if len(view.cohorts) > 1 else "none"
            rec_label = view.recommendation.label
            base = view.baseline.label if inputs.baseline is None else ""
            self._set_picker(self.config, view, (f"Recommended: {rec_label}", ""))
            self._set_picker(
                self.baseline,
                view,
                (f"Default: {base}" if base else "Default (most accurate, batch 1, fp32)", ""),
            )
        self.header.value = header_html(view)
        self.cards.value = cards_html(view)
        # The labels and the family chart show the selected configuration for its model: redrawn
        # when the data or that configuration changes (not for queries, country or price).
        about = (self.snapshot.read_at, view.cohort, view.selected.key, view.about_word)
        if full or about != self._labels_key:
            self.labels.value = labels_html(view)
            self._labels_key = about
        if self._charts_on:
            self._draw_tradeoff(view)
            self._draw_family(view)
        self.note.value = (
            f'<div class="efflab-note" data-testid="data-note">Data: {escape(view.data_note)}</div>'
        )

    def _replace(self, out: w.Output, name: str, fig: go.Figure) -> None:
        """Show ``fig`` in ``out`` through plotly's mime renderer. The Output widget keeps the figure
        in its synced state, so a page that connects later (pre-heated kernel) still gets it, and
        plotly.js is loaded once as a static file rather than shipped with every figure."""
        fig.update_layout(autosize=True, font={"size": 14}, title_font_size=17)
        if not fig.layout.height:
            fig.update_layout(height=460)
        place_title(fig)
        height = int(fig.layout.height)
        if self._heights.get(name) != height:
            self._heights[name] = height
            rules = "".join(
                f".efflab-chart-{n} .js-plotly-plot {{ height: {h}px; }}"
                for n, h in sorted(self._heights.items())
            )
            self.chart_css.value = f"<style>{rules}</style>"
        spec = json.loads(pio.to_json(fig, validate=False))
        spec["config"] = {"displaylogo": False, "responsive": True}
        title = fig.layout.title.text or "figure"
        out.outputs = (
            {
                "output_type": "display_data",
                "data": {"application/vnd.plotly.v1+json": spec, "text/plain": f"<{title}>"},
                "metadata": {},
            },
        )

    def _draw_tradeoff(self, view: View) -> None:
        from efflab.plots import tradeoff_figure

        # Queries, country and price do not move this chart: redraw only what changed.
        key = (
            self.snapshot.read_at,
            view.cohort,
            view.selected_key,
            view.recommended_key,
            view.baseline_key,
        )
        if key == self._tradeoff_key and self.tradeoff.outputs:
            return
        self._tradeoff_key = key
        fig = tradeoff_figure(
            view.frame,
            selected=None if view.follows_recommendation else view.selected_key,
            recommended=view.recommended_key,
            baseline=view.baseline_key,
            title=f"Energy vs accuracy, every configuration ({energy_kind(view.frame)} energy)",
        )
        self._replace(self.tradeoff, "tradeoff", fig)

    def _draw_family(self, view: View) -> None:
        from efflab.plots import family_figure

        key = (self.snapshot.read_at, view.cohort, view.selected.key, view.about_word)
        if key == self._family_key and self.family.outputs:
            return
        self._family_key = key
        model, word = view.selected.model, view.about_word
        title = (
            f"Each model at its best configuration<br><span style='font-size:13px'>{escape(model)} at "
            f"the {word} one · {energy_kind(view.frame)} energy</span>"
        )
        fig = family_figure(view.frame, title=title, ratings=view.ratings, about=(model, word))
        self._replace(self.family, "family", fig)

    def refresh_if_changed(self) -> bool:
        """Read the store again if a writer committed since the last read; True if it did."""
        if _store_stamp(self.store) == self._stamp:
            return False
        self.refresh()
        return True

    def show(self) -> None:
        display(self.top)
        display(self.bottom)
