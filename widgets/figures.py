"""Plotly ``FigureWidget``s for the lab, loaded once per page, and patched in place.

Every ``go.FigureWidget`` ships plotly's whole widget bundle (about 5 MB of JavaScript) as its
anywidget module, and the browser parses it once per figure. anywidget gives a model 2 s to
initialise; on a busy machine one parse takes about that long, so with five figures some come up
blank. :class:`PlotlyLoader` sends the bundle once and imports it once; :class:`LabFigure` is a
plain ``FigureWidget`` whose module is a few lines that reuse that import. The lab creates its
figures when the loader reports ``ready`` (or at once where there is no browser, as in tests).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import anywidget
import plotly
import plotly.graph_objects as go
import traitlets
from plotly.utils import PlotlyJSONEncoder

_GLOBAL = "__efflabPlotlyWidget"

_LOADER_ESM = f"""
export default {{
  initialize({{ model }}) {{
    const g = globalThis;
    if (!g.{_GLOBAL}) {{
      const url = URL.createObjectURL(new Blob([model.get("bundle")], {{ type: "text/javascript" }}));
      g.{_GLOBAL} = import(url);
    }}
    // Not awaited: initialise at once, report when the bundle is in.
    g.{_GLOBAL}.then(
      () => {{ model.set("ready", true); model.save_changes(); }},
      (e) => {{ model.set("error", String(e)); model.save_changes(); }},
    );
  }},
  render({{ el }}) {{ el.style.display = "none"; }},
}};
"""

# plotly's anywidget view draws once at the width its element has then (700 px when it is not laid
# out yet) and never follows its box. The figure's ``responsive`` config makes plotly.js resize on
# window "resize" events, so a ResizeObserver on the element turns a box change (a narrower notebook,
# the file browser opening) into one such event.
_FIGURE_ESM = f"""
export default async () => {{
  const g = globalThis;
  for (let i = 0; i < 150 && !g.{_GLOBAL}; i++) await new Promise((r) => setTimeout(r, 10));
  if (!g.{_GLOBAL}) throw new Error("efflab: plotly's widget bundle is not loaded; re-run the lab cell");
  const mod = await g.{_GLOBAL};
  const inner = mod.default();
  return {{
    initialize(ctx) {{ return inner.initialize(ctx); }},
    render(ctx) {{
      const el = ctx.el;
      el.style.width = "100%";
      el.style.maxWidth = "100%";
      const cleanup = inner.render(ctx);
      let last = 0, pending = 0;
      const ro = new ResizeObserver((entries) => {{
        const w = Math.round(entries[0].contentRect.width);
        if (!w || w === last) return;
        last = w;
        cancelAnimationFrame(pending);
        pending = requestAnimationFrame(() => window.dispatchEvent(new Event("resize")));
      }});
      ro.observe(el);
      return () => {{ ro.disconnect(); if (typeof cleanup === "function") cleanup(); }};
    }},
  }};
}};
"""


@lru_cache(maxsize=1)
def _bundle() -> str:
    return (Path(plotly.__file__).parent / "package_data" / "widgetbundle.js").read_text(encoding="utf-8")


class PlotlyLoader(anywidget.AnyWidget):  # type: ignore[misc]
    """Imports plotly's widget bundle once in the page; ``ready`` turns True when it is in."""

    _esm = _LOADER_ESM
    bundle = traitlets.Unicode("").tag(sync=True)
    ready = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(bundle=_bundle(), **kwargs)


class LabFigure(go.FigureWidget):  # type: ignore[misc]
    """A FigureWidget whose JavaScript comes from the page's :class:`PlotlyLoader`."""

    _esm = _FIGURE_ESM


def _js(v: Any) -> str:
    return json.dumps(v, cls=PlotlyJSONEncoder, sort_keys=True)


_SKIP = ("type", "uid")


def sync_figure(fw: go.FigureWidget, fig: go.Figure) -> str:
    """Make ``fw`` show ``fig``, sending only what changed.

    Same traces (type and name, in order): the changed properties are restyled in place. Otherwise
    the traces are replaced. Layout keys are patched one by one; keys the new layout lacks are
    removed, so an "empty" annotation does not outlive the data it stood for.

    Returns ``""`` (nothing to send), ``"patched"`` or ``"replaced"`` (new trace objects: click
    handlers must be bound again).
    """
    new_data = [t.to_plotly_json() for t in fig.data]
    old_data = [t.to_plotly_json() for t in fw.data]
    same = [(d.get("type"), d.get("name")) for d in new_data] == [
        (d.get("type"), d.get("name")) for d in old_data
    ]
    new_layout = fig.layout.to_plotly_json()
    old_layout = fw.layout.to_plotly_json()
    patch: dict[str, Any] = {
        k: v for k, v in new_layout.items() if k not in old_layout or _js(old_layout[k]) != _js(v)
    }
    patch.update({k: None for k in old_layout if k not in new_layout})
    sent = ""
    if not same:
        fw.data = ()
        fw.add_traces(list(fig.data))
        sent = "replaced"
    with fw.batch_update():
        if same:
            for tr, od, nd in zip(fw.data, old_data, new_data):
                tp = {k: v for k, v in nd.items() if k not in _SKIP and (k not in od or _js(od[k]) != _js(v))}
                tp.update({k: None for k in od if k not in nd and k not in _SKIP})
                if tp:
                    tr.update(tp, overwrite=True)
                    sent = sent or "patched"
        if patch:
            fw.layout.update(patch, overwrite=True)
            sent = sent or "patched"
    return sent
