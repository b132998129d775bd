"""Labels rendered by Chromium: the real text boxes (SVG getBBox) of a label never overlap each
other or the stars, and stay inside the label, for short and long numbers and names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_label import ENERGIES, MODELS, label

from efflab.label import label_svg

pytestmark = pytest.mark.slow

# Per label: the text boxes that overlap one another or leave the label, and the legend of stars.
CHECK = """() => Array.from(document.querySelectorAll('svg.efflab-label-svg')).map(svg => {
  const w = svg.viewBox.baseVal.width, h = svg.viewBox.baseVal.height;
  const items = Array.from(svg.querySelectorAll('text, polygon')).map(e => {
    const b = e.getBBox(); return {t: e.textContent || 'star', x0: b.x, y0: b.y, x1: b.x + b.width, y1: b.y + b.height}; });
  const bad = [];
  for (let i = 0; i < items.length; i++) {
    const a = items[i];
    if (a.x0 < 0 || a.y0 < 0 || a.x1 > w || a.y1 > h) bad.push('outside: ' + a.t);
    for (let j = i + 1; j < items.length; j++) {
      const b = items[j];
      if (a.t === 'star' && b.t === 'star') continue;
      if (a.x0 < b.x1 - 0.5 && b.x0 < a.x1 - 0.5 && a.y0 < b.y1 - 0.5 && b.y0 < a.y1 - 0.5) bad.push(a.t + ' / ' + b.t);
    }
  }
  return bad;
})"""


def test_rendered_label_text_never_overlaps(browser: Any, artifacts: Path) -> None:
    svgs = [label_svg(label(wh, model, stars=1 + i % 5)) for i, (wh, model) in
            enumerate((wh, m) for wh in ENERGIES for m in MODELS)]  # fmt: skip
    html = "<html><body style='display:flex;flex-wrap:wrap;gap:8px'>" + "".join(svgs) + "</body></html>"
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.set_content(html)
        bad = page.evaluate(CHECK)
        assert len(bad) == len(svgs)
        assert all(b == [] for b in bad), [b for b in bad if b]
        page.screenshot(path=str(artifacts / "labels.png"), full_page=True)
    finally:
        page.close()
