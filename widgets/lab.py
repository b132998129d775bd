"""The lab's view: ipywidgets controls and plotly ``FigureWidget``s bound to one :class:`LabState`.

Controls write to the state; the state tells the view what changed; the view redraws only those
parts, patching the figures in place (a restyle of the changed traces rather than a new figure), so
a stored point appears at once. Errors a user can act on land in the banner as one line; nothing
here prints a traceback into the notebook.
"""

from __future__ import annotations

import html
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import plotly.graph_objects as go

from efflab.config import DEFAULT_DEVICE, DEFAULT_TOLERANCE
from efflab.errors import EfflabError
from efflab.plots import place_title
from widgets.figures import LabFigure, PlotlyLoader, sync_figure
from widgets.live import SAMPLED_SENSORS, Dispatch, LiveJob, kernel_dispatch, start_live
from widgets.pins import Pins
from widgets.state import ALL_ASPECTS, LabState
from widgets.table import PointsTable, points_table_rows

# The lab's figures: name -> how the state draws it, and which changes redraw it.
_FIGURES: dict[str, tuple[Callable[[LabState], go.Figure], frozenset[str]]] = {
    "tradeoff": (lambda s: s.tradeoff_figure(), frozenset({"data", "cohort", "selection", "recommendation"})),
    "family": (lambda s: s.family_figure(), frozenset({"data", "cohort", "selection", "recommendation"})),
    "latency": (lambda s: s.batch_figure("latency_s"), frozenset({"data", "cohort", "model"})),
    "throughput": (lambda s: s.batch_figure("throughput_qps"), frozenset({"data", "cohort", "model"})),
    "power": (lambda s: s.power_figure(), frozenset({"trace"})),
    "gen_batch": (lambda s: s.generation_batch_figure(), frozenset({"data", "cohort"})),
    "gen_length": (lambda s: s.generation_length_figure(), frozenset({"data", "cohort"})),
}
# Heights (px) of the figures; their widths follow their boxes (see widgets.figures).
_HEIGHTS = {
    "tradeoff": 460,
    "latency": 380,
    "throughput": 380,
    "power": 260,
    "gen_batch": 400,
    "gen_length": 400,
}
# The plot tabs: classification (the tradeoff curves) and generation (the generate workload's).
_TABS = ("classify", "generate")

# Stages of one measurement, in order, as the banner says them.
_STAGES = {
    "": "starting",
    "load": "loading the model",
    "warmup": "warming up",
    "timing": "timing batches",
    "accuracy": "scoring accuracy on the test split",
    "done": "storing the point",
}
_ORDER = ("load", "warmup", "timing", "accuracy")

_LAB_CSS = """<style>
.efflab-lab { max-width: 100%; box-sizing: border-box; }
.efflab-lab .efflab-row { flex-wrap: wrap; gap: 8px 12px; width: 100%; }
.efflab-lab .efflab-row > * { min-width: 0; }
.efflab-lab .efflab-fig { flex: 1 1 440px; min-width: 0; max-width: 100%; }
.efflab-lab .efflab-fig .js-plotly-plot, .efflab-lab .efflab-fig .plot-container { max-width: 100%; }
.efflab-lab .widget-slider, .efflab-lab .widget-dropdown { max-width: 100%; }
.efflab-lab .widget-html, .efflab-lab .widget-html-content { max-width: 100%; min-width: 0; }
.efflab-lab .widget-html-content { white-space: normal; overflow-wrap: anywhere; line-height: 1.4; }
.efflab-lab .widget-inline-hbox, .efflab-lab .widget-dropdown select, .efflab-lab .slider-container { min-width: 0 !important; }
.efflab-lab .efflab-controls > .widget-inline-hbox { max-width: min(460px, calc(100% - 4px)) !important; }
.efflab-lab .widget-readout { min-width: 0; max-width: 9em; overflow: hidden; text-overflow: ellipsis; }
.efflab-lab .efflab-controls { flex: 1 1 460px; min-width: 0; }
.efflab-lab .efflab-live { flex: 1 1 300px; min-width: 0; }
/* The pin table breaks lines between words only ("accurac/y" in a narrow box otherwise). */
.efflab-lab .efflab-pin-table td, .efflab-lab .efflab-pin-table th { overflow-wrap: normal; word-break: normal;
  vertical-align: top; padding: 2px 8px 2px 0; text-align: left; }
.efflab-lab .efflab-pin-table td:first-child { white-space: nowrap; }
</style>"""

_BANNER_CSS = (
    "padding:6px 10px;border-radius:4px;margin:2px 0;"
    "font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;line-height:1.4"
)


def _banner(lines: list[str], kind: str) -> str:
    colors = {
        "info": ("#e8f1fb", "#1f4e79"),
        "warn": ("#fff4e0", "#7a4b00"),
        "ok": ("#e9f7ef", "#1e6b3a"),
        "nudge": ("#fdf0e6", "#7a3b00"),
    }
    bg, fg = colors[kind]
    return "".join(
        f'<div class="efflab-banner efflab-{kind}" style="{_BANNER_CSS};background:{bg};color:{fg}">'
        f"{html.escape(line)}</div>"
        for line in lines
    )


class Lab:
    """The interactive lab on one :class:`LabState`; display it (or its ``widget``) in a notebook.

    Args:
        state: the single source of truth.
        dispatch: how the measurement thread reaches the widgets (default: the kernel's loop).
        load_once: load plotly's widget bundle once for the page and build the figures when it is
            in (for a browser; see :mod:`widgets.figures`); False builds plain FigureWidgets at once.
    """

    def __init__(self, state: LabState, *, dispatch: Dispatch | None = None, load_once: bool = True) -> None:
        self.state = state
        self.dispatch = dispatch or kernel_dispatch()
        self.job: LiveJob | None = None
        self._syncing = False
        s = state
        # ----- banners -----
        self.messages = W.HTML(layout=W.Layout(width="auto", max_width="100%"))
        self.nudge = W.HTML(layout=W.Layout(flex="1 1 300px"))
        self.switch = W.Button(
            description="Switch to recommended", button_style="success", icon="star",
            tooltip="Select the recommended configuration", layout=W.Layout(width="210px"),
        )  # fmt: skip
        # ----- controls -----
        wide = W.Layout(width="100%", max_width="460px")
        style = {"description_width": "110px"}
        self.workload = W.ToggleButtons(
            options=s.workloads, value=s.selection.workload, description="workload", style={**style, "button_width": "90px"},
            tooltips=["classify the task's texts (one forward pass per query)",
                      "generate a response per prompt (causal LMs: J per token, energy per response)"],
        )  # fmt: skip
        # Not bounded: a value below 1 is refused with a line in the banner (as the CLI does), not clamped.
        self.new_tokens = W.IntText(
            value=s.selection.max_new_tokens, description="new tokens", style=style,
            tooltip="tokens generated per response (end of sequence ignored, so configurations compare)",
            layout=W.Layout(width="210px"),
        )  # fmt: skip
        self.model = W.SelectionSlider(
            options=list(s.models) or [s.selection.model], value=s.selection.model, description="model size", readout=True,
            continuous_update=False, layout=wide, style=style,
        )  # fmt: skip
        self.family_names = W.HTML()
        self.batch = W.SelectionSlider(
            options=s.batch_sizes, value=s.selection.batch_size, description="batch size",
            continuous_update=False, layout=wide, style=style,
        )  # fmt: skip
        self.precision = W.ToggleButtons(
            options=s.precisions, value=s.selection.precision, description="precision", style={**style, "button_width": "70px"},
            tooltips=["32-bit float", "bfloat16", "float16", "dynamic int8 (Linear layers, CPU)"],
        )  # fmt: skip
        self.device = W.Dropdown(
            options=s.devices,
            value=s.selection.device,
            description="device",
            style=style,
            layout=W.Layout(width="260px"),
        )
        self.task = W.Dropdown(
            options=s.task_options(), value=s.selection.task or "", description="task", style=style, layout=W.Layout(width="100%", max_width="460px")
        )  # fmt: skip
        self.machine = W.Dropdown(
            options=s.hardwares,
            value=s.hardware,
            description="machine",
            style=style,
            layout=W.Layout(width="100%", max_width="460px"),
        )
        self.tolerance = W.FloatSlider(
            value=s.tolerance * 100, min=0.0, max=10.0, step=0.1, description="tolerance (pt)", readout_format=".1f",
            continuous_update=False, layout=wide, style=style,
        )  # fmt: skip
        # ----- live -----
        auto = W.Layout(width="auto")
        self.measure = W.Button(
            description="Measure",
            button_style="primary",
            icon="play",
            tooltip="Measure the selection live",
            layout=auto,
        )
        self.sweep_batch = W.Button(
            description="Sweep batch sizes",
            icon="forward",
            tooltip="Stream this model and precision over every batch size",
            layout=auto,
        )
        self.sweep_precision = W.Button(
            description="Sweep precisions",
            icon="forward",
            tooltip="Stream this model and batch size over every precision",
            layout=auto,
        )
        self.cancel = W.Button(
            description="Cancel", button_style="danger", icon="stop", disabled=True, layout=auto
        )
        self.auto = W.Checkbox(value=False, description="measure new selections automatically", indent=False)
        self.progress = W.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=W.Layout(width="300px", max_width="100%")
        )
        self.progress_text = W.HTML()
        self.details = W.HTML()
        # ----- figures -----
        self.figs: dict[str, go.FigureWidget] = {}
        self._fig_boxes = {
            name: W.Box(
                [W.HTML("<i style='color:#777'>loading the plots…</i>")],
                layout=W.Layout(width="100%" if name == "power" else "auto"),
            )
            for name in _FIGURES
        }
        for name, box in self._fig_boxes.items():
            box.add_class("efflab-fig")
            box.add_class(f"efflab-fig-{name}")
        self.power_note = W.HTML()
        # ----- analyst's tools: the points table and two pinned configurations -----
        self.table = PointsTable()
        self.table.on_select(self._guard(self._table_selected))
        self.pins = Pins(state)
        self._job_t0 = 0.0
        self._ticker: threading.Event | None = None
        self.loader: PlotlyLoader | None = None
        if load_once:
            self.loader = PlotlyLoader()
            self.loader.observe(self._loader_changed, names=["ready", "error"])
        else:
            self._make_figures(go.FigureWidget)

        # ----- wiring: controls -> state -----
        self.workload.observe(self._guard(lambda ch: s.set_workload(ch["new"])), names="value")
        self.new_tokens.observe(self._guard(lambda ch: s.select(max_new_tokens=ch["new"])), names="value")
        self.model.observe(self._guard(lambda ch: s.select(model=ch["new"])), names="value")
        self.batch.observe(self._guard(lambda ch: s.select(batch_size=ch["new"])), names="value")
        self.precision.observe(self._guard(lambda ch: s.select(precision=ch["new"])), names="value")
        self.device.observe(self._guard(lambda ch: s.select(device=ch["new"])), names="value")
        self.task.observe(self._guard(lambda ch: s.select(task=ch["new"] or None)), names="value")
        self.machine.observe(self._guard(lambda ch: s.set_hardware(ch["new"])), names="value")
        self.tolerance.observe(
            self._guard(lambda ch: s.set_tolerance(round(ch["new"], 3) / 100)), names="value"
        )
        self.switch.on_click(self._guard(lambda _: s.switch_to_recommended()))
        self.measure.on_click(self._guard(lambda _: self.start(None)))
        self.sweep_batch.on_click(self._guard(lambda _: self.start("batch")))
        self.sweep_precision.on_click(self._guard(lambda _: self.start("precision")))
        self.cancel.on_click(self._guard(lambda _: self.stop()))
        s.observe(self._on_state)

        controls = W.VBox(
            [
                self.workload,
                self.model,
                self.family_names,
                self.batch,
                self.new_tokens,
                self.precision,
                W.HBox([self.device]),
                self.task,
                self.machine,
                self.tolerance,
            ]
        )
        live = W.VBox(
            [
                W.HBox([self.measure, self.cancel]),
                W.HBox([self.sweep_batch, self.sweep_precision]),
                self.auto,
                W.HBox([self.progress, self.progress_text], layout=W.Layout(flex_flow="row wrap")),
                self.details,
            ],
            layout=W.Layout(margin="0 0 0 4px", min_width="0"),
        )
        self.generation_note = W.HTML()
        self._gen_row = self._row([self._fig_boxes["gen_batch"], self._fig_boxes["gen_length"]])
        self.plots = W.Tab(
            [
                W.VBox(
                    [
                        self._row([self._fig_boxes["tradeoff"], self._fig_boxes["family"]]),
                        self._row([self._fig_boxes["latency"], self._fig_boxes["throughput"]]),
                    ]
                ),
                W.VBox([self.generation_note, self._gen_row]),
            ],
            titles=["Classification", "Generation"],
            selected_index=_TABS.index(s.selection.workload),
            layout=W.Layout(width="auto", margin="2px 0"),  # 100 % plus the widget margin would overflow
        )
        self.plots.add_class("efflab-plots")
        self.workload.add_class("efflab-workload")
        self.precision.add_class("efflab-precision")
        controls.add_class("efflab-controls")
        live.add_class("efflab-live")
        self.widget = W.VBox(
            [
                W.HTML(
                    "<h3 style='margin:4px 0'>efflab lab — what does this configuration cost, and what is it worth?</h3>"
                ),
                self.messages,
                self._row([self.nudge, self.switch], align_items="center"),
                self._row([controls, live]),
                self.plots,
                self._fig_boxes["power"],
                self.power_note,
                self.pins.widget,
                W.HTML("<h4 style='margin:10px 0 2px 0'>Every point of this cohort</h4>"),
                self.table,
                *([self.loader] if self.loader is not None else []),
                W.HTML(_LAB_CSS),
            ],
            layout=W.Layout(width="100%"),
        )
        self.widget.add_class("efflab-lab")
        self._render(ALL_ASPECTS)

    # ----- figures -----
    def _make_figures(self, cls: type[go.FigureWidget]) -> None:
        if self.figs:
            return
        for name in _FIGURES:
            fw = cls(self._draw(name))
            fw._config = {"responsive": True, "displaylogo": False}
            self.figs[name] = fw
            self._fig_boxes[name].children = (fw,)
        self._bind_clicks()

    def _draw(self, name: str) -> go.Figure:
        """Figure ``name`` as the state draws it, at the lab's height, its width left to its box."""
        fig = _FIGURES[name][0](self.state)
        fig.update_layout(autosize=True, width=None, title_font_size=15)
        title = fig.layout.title.text or ""
        first, br, after = title.partition("<br>")
        if first.endswith(")") and " (" in first:
            # A narrow box has room for the words, not for the parenthesis: it goes below.
            head, _, rest = first.rpartition(" (")
            fig.update_layout(title_text=f"{head}<br><span style='font-size:12px'>({rest}</span>{br}{after}")
        elif "<br>" not in title and ": " in title:  # "model: metric vs batch size"
            head, _, rest = title.partition(": ")
            fig.update_layout(title_text=f"{head}<br><span style='font-size:12px'>{rest}</span>")
        if name in _HEIGHTS:
            fig.update_layout(height=_HEIGHTS[name])
        return place_title(fig)  # below plotly's toolbar, which covered it

    @staticmethod
    def _row(children: list[W.Widget], **layout: Any) -> W.HBox:
        box = W.HBox(children, layout=W.Layout(width="100%", **layout))
        box.add_class("efflab-row")
        return box

    def _loader_changed(self, change: dict[str, Any]) -> None:
        if change["name"] == "ready" and change["new"]:
            self._make_figures(LabFigure)
        elif change["name"] == "error" and change["new"]:
            self._error(f"the plots could not load in this browser: {change['new']}")

    @property
    def fig_tradeoff(self) -> go.FigureWidget | None:
        return self.figs.get("tradeoff")

    @property
    def fig_family(self) -> go.FigureWidget | None:
        return self.figs.get("family")

    @property
    def fig_latency(self) -> go.FigureWidget | None:
        return self.figs.get("latency")

    @property
    def fig_throughput(self) -> go.FigureWidget | None:
        return self.figs.get("throughput")

    @property
    def fig_power(self) -> go.FigureWidget | None:
        return self.figs.get("power")

    @property
    def fig_generation_batch(self) -> go.FigureWidget | None:
        return self.figs.get("gen_batch")

    @property
    def fig_generation_length(self) -> go.FigureWidget | None:
        return self.figs.get("gen_length")

    # ----- display -----
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # ----- errors stay in the banner -----
    def _guard(self, fn: Callable[[Any], Any]) -> Callable[[Any], None]:
        def run(arg: Any) -> None:
            if self._syncing:
                return  # the view is being updated from the state: not a user action
            try:
                fn(arg)
            except EfflabError as e:
                self._render(frozenset({"selection"}))  # the refused value goes back to the state's
                self._error(str(e))
            except Exception as e:  # a widget callback has no caller to report to: say it in the banner
                self._error(f"internal error in the lab: {type(e).__name__}: {e}; please report it")

        return run

    def _error(self, line: str) -> None:
        self.state.notice = line
        self._render(frozenset({"messages"}))

    # ----- live -----
    def start(self, row: str | None) -> LiveJob | None:
        """Measure the selection (``row=None``) or sweep its ``batch`` / ``precision`` row."""
        if self.job is not None and self.job.running:
            self._error("a measurement is already running; cancel it first")
            return None
        self.job = start_live(self.state, row, dispatch=self.dispatch)
        self._job_t0 = time.monotonic()
        self._start_ticker()
        self._render(frozenset({"live"}))
        return self.job

    def _start_ticker(self, period_s: float = 1.0) -> None:
        """While a job runs, redraw the banner every ``period_s`` (the elapsed time moves even
        between progress reports)."""
        if self._ticker is not None:
            self._ticker.set()
        stop = self._ticker = threading.Event()
        job = self.job

        def tick() -> None:
            while not stop.wait(period_s):
                if job is None or not job.running:
                    return
                self.dispatch(lambda: self._render(frozenset({"tick"})))

        threading.Thread(target=tick, daemon=True, name="efflab-lab-ticker").start()

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.progress_text.value = html.escape(f"{self.state.live.description}: cancelling…")

    # ----- clicks on the tradeoff plot select that point -----
    def _bind_clicks(self) -> None:
        fw = self.figs.get("tradeoff")
        guarded = self._guard(self._clicked_args)
        for tr in fw.data if fw is not None else ():
            if tr.customdata is not None:
                # plotly calls on_click(trace, points, selector): three arguments, one tuple here
                tr.on_click(lambda trace, points, selector: guarded((trace, points, selector)))

    def _clicked_args(self, args: Any) -> None:
        trace, points, _ = args
        if not points.point_inds or trace.customdata is None:
            return
        self.select_key(str(trace.customdata[points.point_inds[0]]))

    def _table_selected(self, key: str) -> None:
        self.select_key(key)

    def select_key(self, key: str) -> None:
        """Select the stored point with store key ``key`` (a click on a plot or a table row)."""
        self.state.select_point(key)

    # ----- state -> view -----
    def _on_state(self, changed: frozenset[str]) -> None:
        try:
            self._render(changed)
        except Exception as e:  # never let a redraw put a traceback in the notebook
            self.messages.value = _banner(
                [f"internal error while redrawing: {type(e).__name__}: {e}"], "warn"
            )

    def _set(self, w: W.Widget, **values: Any) -> None:
        self._syncing = True
        try:
            for k, v in values.items():
                if getattr(w, k) != v:
                    setattr(w, k, v)
        finally:
            self._syncing = False

    def _render(self, changed: frozenset[str]) -> None:
        s = self.state
        sel = s.selection
        structural = bool(changed & {"data", "cohort", "workload"})
        if structural or "selection" in changed:
            fam = list(s.models) if sel.model in s.models else [*s.models, sel.model]
            if structural:
                self._syncing = True
                try:
                    if list(self.model.options) != fam:
                        self.model.options = fam
                    if list(self.batch.options) != s.batch_sizes:
                        self.batch.options = s.batch_sizes
                    if list(self.device.options) != s.devices:
                        self.device.options = s.devices
                    if list(self.task.options) != s.task_options():
                        self.task.options = s.task_options()
                    if list(self.machine.options) != s.hardwares:
                        self.machine.options = s.hardwares
                finally:
                    self._syncing = False
                self.machine.layout.display = "" if len(s.hardwares) > 1 else "none"
                self.family_names.value = (
                    "<div style='margin-left:114px;font-size:12px;color:#555'>smallest → largest: "
                    + " · ".join(
                        f"<b>{html.escape(m)}</b>" if m == sel.model else html.escape(m) for m in fam
                    )
                    + "</div>"
                )
            self._set(self.workload, value=sel.workload)
            self._set(self.new_tokens, value=sel.max_new_tokens)
            self.new_tokens.layout.display = "" if sel.generates else "none"
            self._set(self.model, value=sel.model)
            self._set(self.batch, value=sel.batch_size)
            self._set(self.precision, value=sel.precision)
            self._set(self.device, value=sel.device)
            self._set(self.task, value=sel.task or "")
            if s.hardware in self.machine.options:
                self._set(self.machine, value=s.hardware)
            if "model" in changed and not structural:
                self.family_names.value = (
                    "<div style='margin-left:114px;font-size:12px;color:#555'>smallest → largest: "
                    + " · ".join(
                        f"<b>{html.escape(m)}</b>" if m == sel.model else html.escape(m) for m in fam
                    )
                    + "</div>"
                )
        if "recommendation" in changed:
            self._set(self.tolerance, value=round(s.tolerance * 100, 3))
        if "workload" in changed:  # the plots of the chosen workload come to the front
            self.plots.selected_index = _TABS.index(sel.workload)
        if changed & {"data", "cohort", "selection"}:
            note = s.generation_note
            n = len(s.generation_frame)
            self.plots.set_title(1, f"Generation ({n} point{'s' if n != 1 else ''})" if n else "Generation")
            self.generation_note.value = (
                f"<div class='efflab-generation-note' style='font-size:12px;color:#555;margin:6px 0'>{html.escape(note)}</div>"
                if note
                else ""
            )
            self._gen_row.layout.display = "none" if note else ""
        self._render_figures(changed)
        self._render_text(changed)
        if changed & {"data", "cohort", "selection", "workload"}:
            gen = s.selection.generates  # the table lists the points of the workload shown
            self.table.set_rows(*points_table_rows(s.selection_frame, selected=s.selected_key, generate=gen))
        if changed & {"data", "cohort", "selection", "pins"}:
            self.pins.render()
        if changed & {"trace", "live", "data"}:
            self._render_power()

    def _render_power(self) -> None:
        """The power trace only where the sensor reads power live; otherwise one line saying why."""
        s = self.state
        lv = s.live
        source = lv.trace_source or s.sensor
        live = source in SAMPLED_SENSORS
        shown = live and (lv.running or bool(lv.trace_t_s))
        self._fig_boxes["power"].layout.display = "" if shown else "none"
        if shown:
            self.power_note.value = ""
        elif live:
            self.power_note.value = (
                "<div class='efflab-power-note' style='font-size:12px;color:#555'>The power trace appears "
                f"while measuring ({html.escape(source)} reads power live).</div>"
            )
        elif lv.trace_source:
            self.power_note.value = (
                "<div class='efflab-power-note' style='font-size:12px;color:#555'>No power trace: "
                f"{html.escape(lv.trace_source)} has no live power reading (its energy is modelled over each "
                "timed window); each point's energy is in its details.</div>"
            )
        else:
            self.power_note.value = (
                "<div class='efflab-power-note' style='font-size:12px;color:#555'>A power trace appears "
                "while measuring when the sensor reads power live (RAPL, NVML); modelled energy "
                "(CodeCarbon) has none.</div>"
            )

    def _render_figures(self, changed: frozenset[str]) -> None:
        """Redraw only the figures whose inputs changed (patched in place)."""
        for name, fw in self.figs.items():
            inputs = _FIGURES[name][1]
            if not changed & inputs:
                continue
            if (
                name == "tradeoff"
                and not changed & {"data", "cohort", "recommendation"}
                and self._move_selection(fw)
            ):
                continue
            if sync_figure(fw, self._draw(name)) == "replaced" and name == "tradeoff":
                self._bind_clicks()

    def _move_selection(self, fw: go.FigureWidget) -> bool:
        """Only the selection moved: move the "selected" marker in place (one small restyle) to
        where ``tradeoff_figure`` would draw it. False when the figure's traces must change."""
        from efflab.plots import GENERAL_NAME
        from efflab.plots import point_label as _label

        s = self.state
        key, r = s.selected_key, s.selected_row
        marker = next((t for t in fw.data if t.name == "selected"), None)
        if key is None or r is None or marker is None:
            return False
        x, y = r["wh_per_1000_queries"], r["accuracy"]
        if x != x or y != y or x is None or y is None:  # NaN: not on the plot
            return False
        # The prompted general-purpose models may have a panel of their own (efflab.plots.general_panel).
        general = next((t for t in fw.data if t.name == GENERAL_NAME), None)
        axis = "y2" if general is not None and key in list(general.customdata or ()) else "y"
        marker.update(x=[float(x)], y=[float(y)], text=[_label(r)], customdata=[key], yaxis=axis)
        return True

    def _render_text(self, changed: frozenset[str]) -> None:
        s = self.state
        # banners and buttons
        words = changed & {"data", "cohort", "selection", "recommendation", "messages", "live"}
        text = s.text() if words else None  # what to say: widgets.view.lab_text, a pure function
        if text is not None:
            self.messages.value = _banner([m for m in text.messages if m != s.notice], "warn") + (
                _banner([s.notice], "info") if s.notice else ""
            )
            self.details.value = self._details_html(text.details)
        running = (self.job is not None and self.job.running) or s.live.running
        if s.live.running:  # the state's word, not the thread's: it ends with live_finished
            self.nudge.value = _banner([self.measuring_text()], "info")
            self.switch.layout.display = "none"
        elif text is not None:  # generation has no recommendation: its banner only informs
            self.nudge.value = _banner([text.nudge], text.nudge_kind)
            self.switch.layout.display = "" if text.offer_switch else "none"
        stored, here = s.is_stored, s.stored_here
        self.measure.disabled = running or here or s.store_error is not None
        self.measure.description = "Stored ✓" if here else ("Measure here" if stored else "Measure")
        self.sweep_batch.disabled = self.sweep_precision.disabled = running or s.store_error is not None
        self.cancel.disabled = not running
        if changed & {"live", "tick"}:
            lv = s.live
            self.progress.value = lv.fraction if math.isfinite(lv.fraction) else 0.0
            self.progress.bar_style = (
                "info" if lv.running else ("success" if lv.text.endswith("done") else "warning")
            )
            self.progress_text.value = html.escape(self.stage_text() if lv.running else lv.text)
        if (
            "selection" in changed
            and self.auto.value
            and not here
            and not running
            and s.failed_error is None
            and s.store_error is None
        ):
            self.start(None)

    def _stage(self) -> tuple[str, float]:
        """The running point's stage and that stage's fraction done (0..1)."""
        lv = self.state.live
        frac = lv.fraction * max(lv.total, 1) - (max(lv.point, 1) - 1)
        return lv.stage, max(0.0, min(1.0, frac))

    def stage_text(self) -> str:
        """``timing batches 40 %`` · ``scoring accuracy on the test split 30 %``."""
        stage, frac = self._stage()
        words = _STAGES.get(stage, stage)
        if stage == "timing":
            if frac >= 0.99:
                return (
                    f"{words}: minimum window done, repeating until the interval is tight (or the time cap)"
                )
            return f"{words} {frac * 100:.0f} %"
        if stage == "accuracy" and frac > 0:
            return f"{words} {frac * 100:.0f} %"
        return words

    def measuring_text(self) -> str:
        """The banner while a job runs: what, which stage, time elapsed and what is left."""
        lv = self.state.live
        elapsed = time.monotonic() - self._job_t0 if self._job_t0 else 0.0
        stage, _ = self._stage()
        if stage == "done":  # storing the point: the last step, nothing after it
            left: list[str] = []
        else:
            left = list(_ORDER[_ORDER.index(stage) + 1 :]) if stage in _ORDER else list(_ORDER)
        if not self.state.selection.task:  # no task: no accuracy to score
            left = [x for x in left if x != "accuracy"]
        todo = ", then ".join(_STAGES[x] for x in left)
        after = lv.total - max(lv.point, 1)
        more = (
            f"; {after} more point{'s' if after != 1 else ''} after this one"
            if lv.total > 1 and after > 0
            else ""
        )
        point = f" (point {max(lv.point, 1)} of {lv.total})" if lv.total > 1 else ""
        rest = f"; still to do: {todo}" if todo else ""
        return f"Measuring {lv.description}{point} … {self.stage_text()}, {elapsed:.0f} s elapsed{rest}{more}. Cancel stops it."

    @staticmethod
    def _details_html(d: dict[str, str]) -> str:
        if not d:
            return ""
        rows = "".join(
            f"<tr><td style='padding:1px 8px 1px 0;color:#555;white-space:nowrap;vertical-align:top'>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
            for k, v in d.items()
        )
        return f"<table class='efflab-details' style='font-size:12px;margin-top:6px'>{rows}</table>"


def show_lab(
    store: str | None = None,
    *,
    family: list[str] | None = None,
    task: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    sensor: str = "auto",
    method: dict[str, Any] | None = None,
    device: str = DEFAULT_DEVICE,
) -> Any:
    """Build the lab on the results store at ``store`` and return it for display.

    A bad parameter shows its one-line error instead of the lab (no traceback).
    """
    try:
        state = LabState(
            store, family=family, task=task, tolerance=tolerance, sensor=sensor, method=method, device=device
        )
    except EfflabError as e:
        return W.HTML(_banner([f"efflab lab: {e}"], "warn"))
    return Lab(state)
