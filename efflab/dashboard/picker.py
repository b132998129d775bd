"""A configuration picker for the dashboard: grouped by model, with a search box.

ipywidgets' Dropdown has no option groups and no search; with 80 configurations a manager scrolls
a flat list. :class:`GroupedPicker` is a native ``<select>`` with one ``<optgroup>`` per model (so
the browser's own keyboard handling works) and a search field that narrows it ("l2 int8" keeps
the options whose text holds both words).
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

_ESM = """
function render({ model, el }) {
  el.classList.add("efflab-picker");
  const label = document.createElement("label");
  const title = document.createElement("span");
  title.className = "efflab-picker-title";
  const search = document.createElement("input");
  search.type = "search";
  search.className = "efflab-picker-search";
  search.setAttribute("aria-label", "search configurations");
  const select = document.createElement("select");
  select.className = "efflab-picker-select";
  const count = document.createElement("span");
  count.className = "efflab-picker-count";
  label.append(title, select);
  el.append(label, search, count);

  function draw() {
    title.textContent = model.get("description");
    search.placeholder = model.get("placeholder");
    const words = search.value.toLowerCase().split(/\\s+/).filter(Boolean);
    const value = model.get("value");
    const opts = model.get("options");
    const keep = (o) => o[2] === value || words.every((w) => (o[0] + " " + o[1]).toLowerCase().includes(w));
    const shown = opts.filter(keep);
    select.replaceChildren();
    const groups = new Map();
    for (const [group, text, v] of shown) {
      let parent = select;
      if (group) {
        if (!groups.has(group)) {
          const g = document.createElement("optgroup");
          g.label = group;
          groups.set(group, g);
          select.append(g);
        }
        parent = groups.get(group);
      }
      const o = document.createElement("option");
      o.value = v;
      o.textContent = text;
      o.selected = v === value;
      parent.append(o);
    }
    count.textContent = words.length ? `${shown.length} of ${opts.length} shown` : "";
  }
  select.addEventListener("change", () => { model.set("value", select.value); model.save_changes(); });
  search.addEventListener("input", draw);
  model.on("change:options", draw);
  model.on("change:value", draw);
  model.on("change:description", draw);
  draw();
}
export default { render };
"""

_CSS = """
.efflab-picker { display: flex; flex-wrap: wrap; gap: 4px 8px; align-items: center; min-width: 0; max-width: 100%; }
.efflab-picker label { display: flex; gap: 8px; align-items: center; min-width: 0; max-width: 100%; }
.efflab-picker-title { font-size: 13px; white-space: nowrap; }
.efflab-picker-select { min-width: 0; max-width: 100%; flex: 1 1 auto; font-size: 13px; padding: 2px; }
.efflab-picker-search { width: 12em; max-width: 100%; font-size: 13px; padding: 2px 4px; }
.efflab-picker-count { font-size: 12px; color: #555; }
"""


class GroupedPicker(anywidget.AnyWidget):  # type: ignore[misc]
    """``options``: ``[group, text, value]`` triples (group "" = top level); ``value``: the chosen
    value (a store key, or "" for the default entry)."""

    _esm = _ESM
    _css = _CSS
    options = traitlets.List(traitlets.List()).tag(sync=True)
    value = traitlets.Unicode("").tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("search, e.g. l2 int8").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    @property
    def values(self) -> list[str]:
        return [str(o[2]) for o in self.options]


def grouped_options(
    options: list[tuple[str, str]], group_of: dict[str, str], *, first: tuple[str, str] | None = None
) -> list[list[str]]:
    """``(text, value)`` pairs grouped by ``group_of[value]`` (groups in order of first appearance,
    entries keep their order); ``first`` (text, value) goes on top, outside any group."""
    order: dict[str, list[list[str]]] = {}
    for text, value in options:
        order.setdefault(group_of.get(value, ""), []).append([group_of.get(value, ""), text, value])
    out = [["", first[0], first[1]]] if first is not None else []
    for entries in order.values():
        out += entries
    return out
