"""The lab's points table: every configuration of the cohort, sortable, filterable, exportable.

Sorting, filtering and the CSV export run in the browser (no round trip per keystroke); the CSV
holds the raw values with units in the column names (``wh_per_1000_queries``, ``latency_s``…), so
``pandas.read_csv`` reads back exactly the rows the table shows. Clicking a row selects that
configuration in the lab.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from efflab.records import flag_names

if TYPE_CHECKING:
    import pandas as pd

# (column in the results frame, header shown, how the cell is written)
_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("model", "model", "text"),
    ("batch_size", "batch", "int"),
    ("precision", "precision", "text"),
    ("wh_per_1000_queries", "energy / 1000 queries", "energy"),
    ("wh_per_million_tokens", "energy / 1M tokens (padded)", "energy"),
    ("co2e_g_per_million_tokens", "CO2e / 1M tokens", "grams"),
    ("energy_basis", "energy basis", "text"),
    ("accuracy", "accuracy", "percent"),
    ("latency_s", "latency / batch", "ms"),
    ("throughput_qps", "queries / s", "number"),
    ("peak_mem_bytes", "peak memory", "bytes"),
    ("flags", "flags", "text"),
)
# The generate workload's points: a response is the unit of work, so energy per 1000 responses and per token.
_GENERATE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("model", "model", "text"),
    ("batch_size", "batch", "int"),
    ("precision", "precision", "text"),
    ("max_new_tokens", "new tokens", "int"),
    ("wh_per_1000_queries", "energy / 1000 responses", "energy"),
    ("energy_j_per_token", "J / output token", "joule"),
    ("energy_basis", "energy basis", "text"),
    ("ttft_s", "TTFT", "ms"),
    ("itl_s", "ITL", "ms"),
    ("tokens_per_s", "output tokens / s", "number"),
    ("peak_mem_bytes", "peak memory", "bytes"),
    ("flags", "flags", "text"),
)

_ESM = """
function csvCell(v) {
  if (v === null || v === undefined) return "";
  const s = String(v);
  return /[",\\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function render({ model, el }) {
  el.classList.add("efflab-table");
  const bar = document.createElement("div");
  bar.className = "efflab-table-bar";
  const filter = document.createElement("input");
  filter.type = "search";
  filter.placeholder = "filter, e.g. int8 l2";
  filter.className = "efflab-table-filter";
  const count = document.createElement("span");
  count.className = "efflab-table-count";
  const exp = document.createElement("button");
  exp.textContent = "Export CSV";
  exp.className = "efflab-table-export jupyter-button";
  bar.append(filter, exp, count);
  const wrap = document.createElement("div");
  wrap.className = "efflab-table-wrap";
  const table = document.createElement("table");
  wrap.append(table);
  el.append(bar, wrap);
  let sortCol = -1, sortDir = 1;

  function shown() {
    const words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
    let rows = model.get("rows").filter((r) => words.every((w) => r.cells.join(" ").toLowerCase().includes(w)));
    if (sortCol >= 0) {
      rows = rows.slice().sort((a, b) => {
        const x = a.values[sortCol], y = b.values[sortCol];
        if (x === null && y === null) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * sortDir;
      });
    }
    return rows;
  }
  function draw() {
    const cols = model.get("columns");
    const rows = shown();
    const sel = model.get("selected");
    table.replaceChildren();
    const head = table.createTHead().insertRow();
    cols.forEach((c, i) => {
      const th = document.createElement("th");
      th.textContent = c[1] + (i === sortCol ? (sortDir > 0 ? " ▲" : " ▼") : "");
      th.title = "sort by " + c[1];
      th.addEventListener("click", () => { sortDir = i === sortCol ? -sortDir : 1; sortCol = i; draw(); });
      head.append(th);
    });
    const body = table.createTBody();
    for (const r of rows) {
      const tr = body.insertRow();
      tr.dataset.key = r.key;
      if (r.key === sel) tr.className = "efflab-selected";
      r.cells.forEach((c, i) => {
        const td = tr.insertCell();
        td.textContent = c;
        td.dataset.label = cols[i] ? cols[i][1] : "";
      });
      tr.addEventListener("click", () => model.send({ event: "select", key: r.key }));
    }
    count.textContent = `${rows.length} of ${model.get("rows").length} points`;
    fit();
  }
  // Too narrow for every column (beside the file browser at 800 px a table showed 4 of 10): each point
  // becomes a block of "column: value" cells that wraps, the headers a row of sort buttons.
  function fit() {
    el.classList.remove("efflab-stacked");
    if (wrap.clientWidth > 0 && table.scrollWidth > wrap.clientWidth + 1) el.classList.add("efflab-stacked");
  }
  let lastWidth = 0;
  const ro = new ResizeObserver((entries) => {
    const w = Math.round(entries[0].contentRect.width);
    if (w && w !== lastWidth) { lastWidth = w; fit(); }
  });
  ro.observe(el);
  exp.addEventListener("click", () => {
    const cols = model.get("columns");
    const lines = [cols.map((c) => csvCell(c[0])).join(",")];
    for (const r of shown()) lines.push(r.values.map(csvCell).join(","));
    const url = URL.createObjectURL(new Blob([lines.join("\\n") + "\\n"], { type: "text/csv" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = model.get("filename");
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  filter.addEventListener("input", draw);
  model.on("change:rows", draw);
  model.on("change:columns", draw);
  model.on("change:selected", draw);
  draw();
  return () => ro.disconnect();
}
export default { render };
"""

_CSS = """
.efflab-table { max-width: 100%; font-size: 12px; }
.efflab-table-bar { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; margin: 4px 0; }
.efflab-table-filter { width: 16em; max-width: 100%; font-size: 12px; padding: 2px 4px; }
.efflab-table-count { color: #555; }
.efflab-table-wrap { max-width: 100%; max-height: 360px; overflow: auto; }
.efflab-table table { border-collapse: collapse; }
.efflab-table th { position: sticky; top: 0; background: #f3f3f3; cursor: pointer; user-select: none; }
.efflab-table th, .efflab-table td { border: 1px solid #ddd; padding: 2px 4px; text-align: left; white-space: nowrap; }
.efflab-table th { white-space: normal; min-width: 3.5em; vertical-align: bottom; }
.efflab-table td[data-label="flags"] { white-space: normal; overflow-wrap: anywhere; min-width: 8em; }
.efflab-table tbody tr { cursor: pointer; }
.efflab-table tbody tr:hover { background: #f5f9ff; }
.efflab-table tr.efflab-selected { background: #e8f1fb; font-weight: bold; }
.efflab-stacked .efflab-table-wrap { max-height: 520px; }
.efflab-stacked table, .efflab-stacked thead, .efflab-stacked tbody { display: block; }
.efflab-stacked thead tr { display: flex; flex-wrap: wrap; gap: 3px; margin-bottom: 4px; }
.efflab-stacked th { position: static; border-radius: 3px; }
.efflab-stacked tbody tr { display: flex; flex-wrap: wrap; gap: 0 12px; border: 1px solid #ddd; border-radius: 4px;
  margin: 0 0 4px 0; padding: 2px 6px; }
.efflab-stacked th { min-width: 0; font-size: 11px; padding: 1px 5px; }
.efflab-stacked td, .efflab-stacked td[data-label="flags"] { border: none; padding: 1px 0; white-space: normal; min-width: 0; }
.efflab-stacked td::before { content: attr(data-label) ": "; color: #777; font-weight: normal; }
.efflab-stacked td:first-child { flex-basis: 100%; font-weight: bold; }
.efflab-stacked td:first-child::before { content: ""; }
"""


class PointsTable(anywidget.AnyWidget):  # type: ignore[misc]
    """``columns``: ``[csv name, header]`` pairs; ``rows``: ``{"key", "cells", "values"}`` with the
    shown text and the raw values (None for a missing one) per column."""

    _esm = _ESM
    _css = _CSS
    columns = traitlets.List(traitlets.List()).tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    filename = traitlets.Unicode("efflab-points.csv").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_select: list[Callable[[str], None]] = []
        self.on_msg(self._msg)

    def on_select(self, fn: Callable[[str], None]) -> None:
        """Call ``fn(key)`` when a row is clicked."""
        self._on_select.append(fn)

    def _msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "select":
            for fn in self._on_select:
                fn(str(content.get("key", "")))

    def set_rows(self, columns: list[list[str]], rows: list[dict[str, Any]], selected: str = "") -> None:
        with self.hold_sync():
            if self.columns != columns:
                self.columns = columns
            if self.rows != rows:
                self.rows = rows
            self.selected = selected


def _raw(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _cell(v: Any, kind: str) -> str:
    from efflab import format as fmt

    if v is None:
        return fmt.MISSING
    if kind == "int":
        return str(int(v))
    if kind == "energy":
        return fmt.si(float(v), "Wh")
    if kind == "percent":
        return fmt.percent(float(v))
    if kind == "ms":
        return fmt.si(float(v), "s")
    if kind == "joule":
        return fmt.si(float(v), "J")
    if kind == "grams":
        return fmt.si(float(v), "g")
    if kind == "number":
        return fmt.number(float(v))
    if kind == "bytes":
        return fmt.nbytes(int(v))
    return str(v)


def points_table_rows(
    frame: pd.DataFrame, *, selected: str | None = None, generate: bool = False
) -> tuple[list[list[str]], list[dict[str, Any]], str]:
    """``(columns, rows, selected key)`` for :class:`PointsTable` from a results frame; ``selected``:
    the store key of the selected point; ``generate``: the generate workload's columns (per response
    and per output token)."""
    cols = [
        c
        for c in (_GENERATE_COLUMNS if generate else _COLUMNS)
        if c[0] in frame.columns or c[0] == "energy_basis"
    ]
    rows = []
    for idx, r in frame.iterrows():
        values, cells = [], []
        for name, _, kind in cols:
            if name == "energy_basis":
                from efflab import format as fmt

                v: Any = fmt.energy_basis(r)
            else:
                v = _raw(r.get(name))
            if name == "flags" and v is not None:
                v = str(v) or None
            values.append(v)
            cells.append(
                ""
                if name == "flags" and v is None
                else ", ".join(flag_names(v))
                if name == "flags"
                else _cell(v, kind)
            )
        rows.append({"key": str(r.get("key", idx)), "cells": cells, "values": values})
    keys = {row["key"] for row in rows}
    sel = selected if selected is not None and selected in keys else ""
    return [[c[0], c[1]] for c in cols], rows, sel
