"""The lab in a real browser: `efflab lab` serves JupyterLab on 127.0.0.1, Debian Chromium (driven
by Playwright) opens lab.ipynb, runs it, moves a control, measures a new point live, and finds the
plots changed and no traceback anywhere on the page."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, free_port, wait_http

from efflab.plots import NOT_ELIGIBLE_NAME

pytestmark = pytest.mark.slow

TRADEOFF = "Energy per 1000 queries vs accuracy"
# The tradeoff plot's traces that hold one marker per configuration (a point measured on a busy machine
# may come out disturbed: it is drawn apart from the front, still a configuration on the plot).
POINT_TRACES = ["front", "dominated", NOT_ELIGIBLE_NAME]

# Every plotly graph of the lab: its title and its traces' names and points.
READ_PLOTS = """() => {
  const out = {};
  for (const gd of document.querySelectorAll('.efflab-lab .js-plotly-plot')) {
    const t = gd.layout && gd.layout.title;
    const title = (t && (t.text !== undefined ? t.text : t)) || '';
    out[title] = (gd.data || []).map(tr => ({
      name: tr.name, x: Array.from(tr.x || []).map(Number), y: Array.from(tr.y || []).map(Number)}));
  }
  return out;
}"""

# The tradeoff plot's selected point as [[x], [y]], or null; and its number of configurations.
SELECTED = f"""(() => {{ const p = ({READ_PLOTS})(); const k = Object.keys(p).find(k => k.startsWith('{TRADEOFF}'));
  const s = k && p[k].find(t => t.name === 'selected'); return s ? [s.x, s.y] : null; }})"""
N_POINTS = f"""(() => {{ const p = ({READ_PLOTS})(); const k = Object.keys(p).find(k => k.startsWith('{TRADEOFF}'));
  return k ? p[k].filter(t => POINT_TRACES.includes(t.name)).reduce((n, t) => n + t.x.length, 0) : 0; }})""".replace(
    "POINT_TRACES", json.dumps(POINT_TRACES)
)

ERRORS = """() => Array.from(document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'))
  .map(e => e.innerText).filter(t => /Traceback|Error/.test(t))"""


def lab_notebook_copy(dst: Path, name: str = "lab", **params: Any) -> Path:
    """Copy the lab notebook to ``dst/notebooks/<name>.ipynb`` with ``params`` appended to its parameters cell."""
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "lab.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items()) + "\n"
    out = dst / "notebooks" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


# The lab notebook's parameters in the browser tests: the fake sensor, one window long enough to press
# Cancel while it runs.
LAB_PARAMS: dict[str, Any] = {
    "sensor": "fake",
    "method": {
        "min_window_s": 5.0,
        "max_window_s": 6.0,
        "warmup_batches": 1,
        "warmup_s": 0.0,
        "windows": 1,
        "max_windows": 1,
        "remeasure_windows": 0,
    },
}


@contextmanager
def serve_lab(store: Path, tmp_path: Path) -> Iterator[str]:
    """`efflab lab` on a temp root holding a copy of the notebook and ``store``; yields its URL."""
    root = tmp_path / "root"
    lab_notebook_copy(root, **LAB_PARAMS)
    env = dict(os.environ)
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("IPYTHONDIR", "ipython"),
    ):
        env[var] = str(tmp_path / "jupyter" / sub)
    port = free_port()
    log = (tmp_path / "lab.log").open("w")
    cmd = [
        sys.executable,
        "-m",
        "efflab.cli",
        "lab",
        "--store",
        str(store),
        "--port",
        str(port),
        "--no-browser",
    ]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not url:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            m = re.search(r"(http://127\.0\.0\.1:\d+/lab/tree/notebooks/lab\.ipynb\?token=\S+)", line)
            url = m.group(1) if m else ""
        assert url, f"efflab lab printed no URL; log: {(tmp_path / 'lab.log').read_text()[-2000:]}"
        wait_http(url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@dataclasses.dataclass
class Lab:
    url: str
    root: Path  # the server's root: notebooks/lab.ipynb is the notebook at ``url``
    store: Path
    llm_added: bool = False  # `add_prompted_llm` has written into ``store``

    def notebook(self, name: str) -> str:
        """The URL of a second copy of the lab notebook, ``notebooks/<name>.ipynb`` (a kernel of its own),
        in a reset workspace (not the tabs and side bar an earlier visit left)."""
        lab_notebook_copy(self.root, name=name, **LAB_PARAMS)
        return self.url.replace("/notebooks/lab.ipynb?", f"/notebooks/{name}.ipynb?reset&")


@pytest.fixture(scope="module")
def lab(small_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One `efflab lab` for this module's tests, on a copy of the small store (a server's start is 8 s on
    a busy machine). The tests are one ``xdist_group``: one worker runs them, in file order."""
    tmp = tmp_path_factory.mktemp("lab")
    store = tmp / "store.sqlite"
    shutil.copy2(small_store, store)
    with serve_lab(store, tmp) as url:
        yield Lab(url, tmp / "root", store)


def _selected(plots: dict[str, Any]) -> tuple[list[float], list[float]] | None:
    trade = next((v for k, v in plots.items() if k.startswith(TRADEOFF)), None)
    if trade is None:
        return None
    sel = next((t for t in trade if t["name"] == "selected"), None)
    return None if sel is None else (sel["x"], sel["y"])


def _n_points(plots: dict[str, Any]) -> int:
    trade = next((v for k, v in plots.items() if k.startswith(TRADEOFF)), [])
    return sum(len(t["x"]) for t in trade if t["name"] in POINT_TRACES)


# Elements of the lab wider than the output area that holds it, and plots wider than their box.
OVERFLOW = """() => { const lab = document.querySelector('.efflab-lab'); const area = lab.closest('.jp-OutputArea-output') || lab;
  const R = area.getBoundingClientRect().right + 1; const bad = [];
  for (const e of lab.querySelectorAll('*')) { const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > R && !e.closest('.efflab-table-wrap')) bad.push(e.tagName + '.' + String(e.className).slice(0, 60)); }
  for (const box of lab.querySelectorAll('.efflab-fig')) { const svg = box.querySelector('.main-svg');
    if (svg && svg.getBoundingClientRect().width > box.getBoundingClientRect().width + 1) bad.push('plot wider than its box: ' + box.className);
    // Text plotly draws past the figure's edge is cut off (an axis title wider than a narrow plot area).
    const B = box.getBoundingClientRect();
    for (const t of box.querySelectorAll('.main-svg text')) { const r = t.getBoundingClientRect();
      if (r.width > 0 && (r.left < B.left - 1 || r.right > B.right + 1)) bad.push('text cut off: ' + t.textContent.slice(0, 40)); } }
  return bad.slice(0, 10); }"""
FIG_WIDTHS = """() => Array.from(document.querySelectorAll('.efflab-lab .efflab-fig'))
  .map(b => b.getBoundingClientRect().width).filter(w => w > 0)"""
LEGENDS = """() => { const out = {}; for (const gd of document.querySelectorAll('.efflab-lab .js-plotly-plot')) {
  const t = gd.layout && gd.layout.title; out[(t && (t.text || t)) || ''] = Array.from(gd.querySelectorAll('.legendtext')).map(e => e.textContent); }
  return out; }"""
# Screen centre of a front/dominated point of the tradeoff plot that is not the selected one.
OTHER_POINT = f"""() => {{ const sel = {SELECTED}();
  const gd = Array.from(document.querySelectorAll('.efflab-lab .js-plotly-plot')).find(g => String((g.layout.title || {{}}).text || '').startsWith('{TRADEOFF}'));
  for (const [i, tr] of gd.data.entries()) {{ if (tr.name !== 'dominated' && tr.name !== 'front') continue;
    const pts = gd.querySelectorAll('.scatterlayer .trace')[i].querySelectorAll('path.point');
    for (let j = 0; j < tr.x.length; j++) {{ if (sel && Number(tr.x[j]) === sel[0][0] && Number(tr.y[j]) === sel[1][0]) continue;
      const b = pts[j].getBoundingClientRect(); return {{x: b.x + b.width / 2, y: b.y + b.height / 2, px: Number(tr.x[j]), py: Number(tr.y[j])}}; }} }}
  return null; }}"""


# Every banner text the lab shows from now on, recorded as it appears (a stage lasts milliseconds).
RECORD_BANNERS = """() => { window.__efflabBanners = []; const lab = document.querySelector('.efflab-lab');
  const seen = () => lab.querySelectorAll('.efflab-banner').forEach(b => { const t = b.textContent;
    if (window.__efflabBanners[window.__efflabBanners.length - 1] !== t) window.__efflabBanners.push(t); });
  new MutationObserver(seen).observe(lab, {subtree: true, childList: true, characterData: true}); seen(); }"""
# The pin table's first column on one line each (no word broken: "accurac/y"), and every cell of the
# points table inside its box (a narrow box showed 4 of 10 columns).
NARROW_TOOLS = """() => { const bad = [];
  for (const td of document.querySelectorAll('.efflab-lab .efflab-pin-table td:first-child')) {
    const range = document.createRange(); range.selectNodeContents(td);
    const lines = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size;
    if (lines > 1) bad.push('pin cell on ' + lines + ' lines: ' + td.textContent); }
  const wrap = document.querySelector('.efflab-lab .efflab-table-wrap'); const W = wrap.getBoundingClientRect();
  const rows = Array.from(wrap.querySelectorAll('tbody tr')).slice(0, 3);
  for (const tr of rows) for (const td of tr.querySelectorAll('td')) { const r = td.getBoundingClientRect();
    if (r.width === 0 || r.left < W.left - 1 || r.right > W.right + 1) bad.push('table cell out of view: ' + td.dataset.label); }
  if (!rows.length) bad.push('no rows');
  return bad; }"""
# Per plot: whether plotly's toolbar (shown on hover) overlaps the title's text.
TOOLBAR_OVER_TITLE = """(gd) => { const bar = gd.querySelector('.modebar'); const t = gd.querySelector('.gtitle');
  if (!bar || !t) return false; const b = bar.getBoundingClientRect(), r = t.getBoundingClientRect();
  return b.width > 0 && b.left < r.right && r.left < b.right && b.top < r.bottom && r.top < b.bottom; }"""


# From now on, each plot of the lab notes when plotly has drawn it again.
ARM_REDRAWN = """() => document.querySelectorAll('.efflab-lab .js-plotly-plot').forEach(gd => {
  gd.__efflabRedrawn = false; if (!gd.__efflabArmed) { gd.__efflabArmed = true; gd.on('plotly_afterplot', () => { gd.__efflabRedrawn = true; }); } })"""
# Every visible plot drawn again since then, at the width its element has now.
REDRAWN = """() => { const gds = Array.from(document.querySelectorAll('.efflab-lab .js-plotly-plot')).filter(gd => gd.offsetParent !== null);
  return gds.length > 0 && gds.every(gd => gd.__efflabRedrawn && gd._fullLayout
    && Math.abs(gd._fullLayout.width - gd.getBoundingClientRect().width) < 2); }"""
KERNEL_IDLE = "#jp-main-statusbar >> text=Idle"


def _relayout(page: Any, action: Callable[[], Any], until: str = "true") -> None:
    """Do ``action`` (resize the window, close the side bar) and wait until plotly has redrawn every
    visible plot for it and the JS expression ``until`` holds: the boxes follow a frame or two late, the
    plots ~200 ms after them, and until then the old sizes read as a consistent, stale layout. Up to 30 s
    on a busy machine; what the layout then looks like is for the caller to check."""
    # The kernel idle: the last action's redraws are on the page, not taken for this one's.
    page.wait_for_selector(KERNEL_IDLE, timeout=60_000)
    page.evaluate(ARM_REDRAWN)
    action()
    with suppress(Exception):
        page.wait_for_function(f"() => ({REDRAWN})() && ({until})", timeout=30_000)


def _narrow_tools_ok(page: Any) -> None:
    # Text reflows once its box has its width: a few frames on a busy machine.
    with suppress(Exception):
        page.wait_for_function(f"() => ({NARROW_TOOLS})().length === 0", timeout=10_000)
    assert page.evaluate(NARROW_TOOLS) == []


def _toolbars_clear_of_titles(page: Any) -> None:
    """Hover every plot (its toolbar shows) and check that the toolbar leaves the title readable."""
    plots = page.locator(".efflab-lab .efflab-plots .js-plotly-plot:visible")
    for i in range(plots.count()):
        gd = plots.nth(i)
        gd.scroll_into_view_if_needed()
        gd.hover(position={"x": 30, "y": 60})
        gd.locator(".modebar").wait_for(state="attached", timeout=30_000)  # the toolbar is there to check
        assert not gd.evaluate(TOOLBAR_OVER_TITLE), (
            f"the toolbar covers the title of plot {i}: "
            + gd.evaluate(
                "(gd) => JSON.stringify([gd.querySelector('.modebar').getBoundingClientRect(), gd.querySelector('.gtitle').getBoundingClientRect(), gd.layout.title, gd._fullLayout.margin])"
            )
        )


def _run_lab(page: Any, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    page.wait_for_function(
        "document.querySelectorAll('.efflab-lab .js-plotly-plot').length >= 5", timeout=180_000
    )
    page.wait_for_function(f"() => {SELECTED}() !== null", timeout=60_000)


@pytest.mark.xdist_group("lab-server")  # one worker, first: the next test adds an LLM to the store
def test_lab_runs_in_chromium_and_follows_the_controls(
    lab: Lab, browser: Any, artifacts: Path, tmp_path: Path, copy_store: Path
) -> None:
    if lab.llm_added:  # run after the next test: a server of its own on the small store
        with serve_lab(copy_store, tmp_path) as url:
            _follow_the_controls(url, browser, artifacts, tmp_path)
    else:
        _follow_the_controls(lab.url, browser, artifacts, tmp_path)


def _follow_the_controls(url: str, browser: Any, artifacts: Path, tmp_path: Path) -> None:
    import pandas as pd
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
    try:
        _run_lab(page, url)
        before = page.evaluate(READ_PLOTS)
        sel0 = _selected(before)
        assert sel0 is not None, f"no selected point on the tradeoff plot: {list(before)}"
        n0 = _n_points(before)
        assert n0 == 8  # the small store: 2 models x 2 batch sizes x 2 precisions

        # No news question covers the lab; the model slider says which model it is on.
        assert page.get_by_text("official Jupyter news").count() == 0
        readout = page.locator(".efflab-lab .widget-readout").first.inner_text()
        assert readout.startswith("tiny-bert-l"), readout
        # The initial selection is the recommendation; the banner says so.
        assert "recommended configuration" in page.inner_text(".efflab-lab .efflab-ok")
        # Legends: the batch-size plots name their precisions.
        legends = page.evaluate(LEGENDS)
        assert any({"fp32", "int8"} <= set(v) for k, v in legends.items() if "latency" in k), legends
        assert any({"fp32", "int8"} <= set(v) for k, v in legends.items() if "throughput" in k), legends
        assert page.evaluate(OVERFLOW) == []
        _toolbars_clear_of_titles(page)
        # Viewport shots: JupyterLab fills the window, and a full-page shot resizes it for a frame (the
        # plots caught mid-relayout, before their margins grow to fit their axis titles).
        page.screenshot(path=str(artifacts / "lab-1400.png"))

        # Click-to-select: a click on another point of the tradeoff plot selects it.
        page.locator(".efflab-lab .efflab-fig-tradeoff").scroll_into_view_if_needed()
        pt = page.evaluate(OTHER_POINT)
        assert pt is not None
        _click_point(page, pt["px"], pt["py"])

        # A stored point appears at once: the precision toggle moves the selected marker.
        sel1 = _selected(page.evaluate(READ_PLOTS))
        active = page.inner_text(".efflab-lab .efflab-precision .widget-toggle-button.mod-active").strip()
        page.click(".efflab-lab button.efflab-pin:text-is('Pin as A')")
        page.click(f".efflab-lab .widget-toggle-button:text-is('{'fp32' if active == 'int8' else 'int8'}')")
        page.wait_for_function(
            f"(old) => {{ const s = {SELECTED}(); return s !== null && (s[0][0] !== old[0][0] || s[1][0] !== old[1][0]); }}",
            arg=list(sel1),
            timeout=30_000,
        )
        # Pin the new one as B: the comparison says each difference, its interval and its verdict.
        page.click(".efflab-lab button.efflab-pin:text-is('Pin as B')")
        page.wait_for_selector(".efflab-lab .efflab-pin-table", timeout=30_000)
        pins = page.inner_text(".efflab-lab .efflab-pin-table")
        for word in ("energy", "latency per query", "accuracy", "95 % interval"):
            assert word in pins, pins
        assert any(v in pins for v in ("lower", "higher", "equivalent", "no clear difference")), pins

        # The points table: every point, sortable, and its export reads back in pandas.
        rows = page.locator(".efflab-lab .efflab-table tbody tr")
        assert rows.count() == n0
        page.click(".efflab-lab .efflab-table th:text-is('energy / 1000 queries')")
        with page.expect_download() as dl:
            page.click(".efflab-lab .efflab-table-export")
        csv = tmp_path / "points.csv"
        dl.value.save_as(csv)
        table = pd.read_csv(csv)
        assert len(table) == n0 and {"model", "batch_size", "precision", "wh_per_1000_queries"} <= set(table)
        assert list(table["wh_per_1000_queries"]) == sorted(
            table["wh_per_1000_queries"]
        )  # as sorted on the page
        page.fill(".efflab-lab .efflab-table-filter", "int8")
        assert rows.count() == n0 // 2
        page.fill(".efflab-lab .efflab-table-filter", "")

        # An unstored point: Measure shows the measuring banner; Cancel restores the nudge. The batch
        # slider steps on until it shows a batch size the store lacks (the small store is a full grid:
        # every model and precision at the batch sizes of the table).
        stored = {str(b) for b in table["batch_size"]}
        handle = page.locator(".efflab-lab .widget-hslider .noUi-handle").nth(1)
        batch = page.locator(".efflab-lab .widget-readout").nth(1)
        for _ in range(4):
            before = batch.inner_text().strip()
            handle.focus()
            handle.press("ArrowRight")
            expect(batch).not_to_have_text(before, timeout=30_000)
            if batch.inner_text().strip() not in stored:
                break
        measure = page.locator(".efflab-lab button:text-is('Measure'):not([disabled])")
        measure.wait_for(timeout=60_000)
        page.click(".efflab-lab button:text-is('Measure')")
        page.wait_for_selector(".efflab-lab .efflab-info:has-text('Measuring')", timeout=60_000)
        banner = page.inner_text(".efflab-lab .efflab-info:has-text('Measuring')")
        assert "elapsed" in banner and "still to do" in banner, banner
        page.screenshot(path=str(artifacts / "lab-measuring.png"))
        page.click(".efflab-lab button:text-is('Cancel')")
        page.wait_for_selector(".efflab-lab .efflab-nudge:has-text('not measured yet')", timeout=60_000)
        assert page.locator(".efflab-lab .efflab-info:has-text('Measuring')").count() == 0

        # Measured live, it lands on the curve; every banner shown meanwhile is recorded.
        page.evaluate(RECORD_BANNERS)
        page.click(".efflab-lab button:text-is('Measure')")
        page.wait_for_function(f"(n0) => {N_POINTS}() > n0", arg=n0, timeout=180_000)
        final = page.evaluate(READ_PLOTS)
        assert _n_points(final) == n0 + 1
        assert _selected(final) is not None  # the new point is the selection
        page.wait_for_selector(".efflab-lab button:text-is('Stored ✓')", timeout=30_000)
        power = next(v for k, v in final.items() if k.startswith("Power during measurement"))
        assert power and len(power[0]["x"]) >= 1  # the fake sensor reads live: a trace
        expect(rows).to_have_count(n0 + 1, timeout=30_000)  # the table redraws after the plot
        errors = page.evaluate(ERRORS)
        assert not errors, errors
        banners = page.evaluate("() => window.__efflabBanners")
        assert any("Measuring" in b for b in banners), banners
        # At "storing the point", the last stage, nothing is left to do (it listed every stage).
        assert not [b for b in banners if "storing the point" in b and "still to do" in b], banners
        page.screenshot(path=str(artifacts / "lab_live_point.png"))

        # The generate workload: causal LMs only, a max-new-tokens box, the Generation tab (a one-line hint
        # here: the small store has no generate points).
        page.click(".efflab-lab .efflab-workload .widget-toggle-button:text-is('generate')")
        page.wait_for_selector(".efflab-lab .efflab-info:has-text('cannot generate text')", timeout=30_000)
        assert page.locator(
            ".efflab-lab .efflab-generation-note:has-text('No generate points yet')"
        ).is_visible()
        assert page.locator(".efflab-lab .widget-text input").first.input_value() == "16"
        readout = page.locator(".efflab-lab .widget-readout").first.inner_text()
        assert not readout.startswith("tiny-bert"), readout
        # Nothing generated with it yet: batch 1, not the classifier's batch carried over.
        assert page.locator(".efflab-lab .widget-readout").nth(1).inner_text().strip() == "1"

        # 800 px wide with the file browser open (figures ~340 px wide), then closed (~590 px): everything
        # wraps, every plot follows its box and no text of a plot is cut off.
        page.click(".efflab-lab .efflab-workload .widget-toggle-button:text-is('classify')")
        expect(page.locator(".efflab-lab .widget-readout").first).to_have_text(re.compile("^tiny-bert-l"))
        narrowed = f"Math.max(...({FIG_WIDTHS})()) < 400"
        _relayout(page, lambda: page.set_viewport_size({"width": 800, "height": 1800}), until=narrowed)
        widths = page.evaluate(FIG_WIDTHS)
        assert widths and max(widths) < 400, widths  # the file browser is open beside the notebook
        assert page.evaluate(OVERFLOW) == []
        _narrow_tools_ok(page)
        page.screenshot(path=str(artifacts / "lab-800-filebrowser.png"))
        page.locator(".efflab-lab .efflab-pins").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "lab-800-filebrowser-pins-table.png"))
        widened = f"Math.max(...({FIG_WIDTHS})()) > {max(widths) + 100}"
        _relayout(page, lambda: page.keyboard.press("Control+b"), until=widened)  # close the side bar
        page.wait_for_function(f"() => {widened}", timeout=30_000)
        assert page.evaluate(OVERFLOW) == []
        _narrow_tools_ok(page)
        _toolbars_clear_of_titles(page)
        page.screenshot(path=str(artifacts / "lab-800.png"))
    except Exception:
        page.screenshot(path=str(artifacts / "lab_failure.png"))
        raise
    finally:
        page.close()


# Every clickable point of the tradeoff plot: its screen centre, its data, and its drawing order.
CLICKABLE = f"""() => {{ const gd = Array.from(document.querySelectorAll('.efflab-lab .js-plotly-plot')).find(g => String((g.layout.title || {{}}).text || '').includes('{TRADEOFF}'));
  const R = gd.getBoundingClientRect(), L = gd._fullLayout, out = [];
  gd.data.forEach((tr, i) => {{ if (!tr.customdata || tr.hoverinfo === 'skip') return;
    const xa = L.xaxis, ya = tr.yaxis === 'y2' ? L.yaxis2 : L.yaxis;
    Array.from(tr.x).forEach((x, j) => out.push({{trace: tr.name, order: i * 1000 + j, px: Number(x), py: Number(tr.y[j]),
      x: R.left + xa._offset + xa.c2p(x), y: R.top + ya._offset + ya.c2p(tr.y[j])}})); }});
  return {{points: out, family: L.yaxis.range, strip: L.yaxis2 ? L.yaxis2.range : null}}; }}"""


def add_prompted_llm(store: Path) -> float:
    """A prompted general-purpose LM 20 points below the family at 100x the energy (what the demo's
    SmolLM2 is beside the task-specific family); returns its accuracy."""
    import dataclasses

    from efflab.store import load_results, open_store

    df = load_results(store)
    ok = df[df["status"] == "ok"]
    acc = float(ok["accuracy"].min()) - 0.2
    with open_store(store) as st:
        p = next(p for p in st.points() if p.status == "ok")
        m = p.measurement
        assert m is not None
        llm = dataclasses.replace(
            m, model="smollm2-135m", energy_j_per_query=m.energy_j_per_query * 100, accuracy=acc,
            accuracy_ci=(acc - 0.05, acc + 0.05), accuracy_correct=None, prompting="k=4, calibrated",
        )  # fmt: skip
        cfg = {"model": "smollm2-135m", "batch_size": 1, "precision": "fp32", "device": p.device,
               "seq_len": p.seq_len, "task": p.task}  # fmt: skip
        st.put(
            "smollm2-135m:prompted", config=cfg, model_id="smollm2-135m", hardware=p.hardware, measurement=llm
        )
    return acc


def _click_every_point(page: Any, n: int, sample: int | None = None) -> None:
    """A click on a point's centre selects that point, or the one drawn over it there (overlapping markers:
    what the cursor is on); the family's accuracy axis is its own, not stretched down to the LLM.
    ``n``: the points the plot must show; ``sample``: click only that many, spread over the plot (the
    LLM's strip always among them)."""

    page.locator(".efflab-lab .efflab-fig-tradeoff").scroll_into_view_if_needed()
    first = page.evaluate(CLICKABLE)
    targets = [(p["px"], p["py"]) for p in first["points"]]
    assert len(targets) == n, first
    if sample is not None:  # the lowest (the LLM's strip), the highest and some between
        targets = sorted(targets, key=lambda t: t[1])
        step = max(1, (len(targets) - 1) // max(1, sample - 1))
        targets = sorted({*targets[::step][: sample - 1], targets[-1]})
    for px, py in targets:
        _click_point(page, px, py)


# Whether plotly's hover (what a click there selects) is on one of the points ``ok`` of the tradeoff plot.
HOVERED = f"""(ok) => {{ const gd = Array.from(document.querySelectorAll('.efflab-lab .js-plotly-plot')).find(g => String((g.layout.title || {{}}).text || '').includes('{TRADEOFF}'));
  return !!gd && (gd._hoverdata || []).some(d => ok.some(([x, y]) => Math.abs(Number(d.x) - x) <= 1e-9 * Math.max(1, x) && Number(d.y) === y)); }}"""


def _click_point(page: Any, px: float, py: float) -> None:
    """Click the tradeoff plot's point (px, py) and wait until it, or a marker drawn over it there, is the
    selection; clicks again (up to three times, at the point's settled position) if it is not: the page may
    have moved under the cursor, or the click fell while plotly was re-rendering (a busy CPU). Selecting
    the selected point again changes nothing, so a second click cannot select something else."""
    from efflab.plots import POINT_SIZE

    for attempt in range(3):
        pt, now = _settled_position(page, px, py)  # the banner above may have moved the plot
        # The click lands on a whole pixel; markers that cover that pixel (the tiny test models share one
        # accuracy, and plotly answers with the first trace's point where markers overlap): any of them
        # is "the point under the cursor"; a point further away never is.
        cx, cy = round(pt["x"]), round(pt["y"])
        over = [p for p in now if p is not pt and math.dist((p["x"], p["y"]), (cx, cy)) <= POINT_SIZE / 2 + 1]
        ok = [(pt["px"], pt["py"])] + [(p["px"], p["py"]) for p in over]
        page.mouse.move(cx, cy)
        # plotly selects the point its hover names: the click waits for the hover to name one it accepts
        # (then clicks anyway: what it selects then is checked below).
        with suppress(Exception):
            page.wait_for_function(HOVERED, arg=ok, timeout=5_000)
        page.mouse.click(cx, cy)
        try:
            page.wait_for_function(
                f"(ok) => {{ const s = {SELECTED}(); return s && ok.some(([x, y]) => Math.abs(s[0][0] - x) <= 1e-9 * Math.max(1, x) && s[1][0] === y); }}",
                arg=ok, timeout=15_000,
            )  # fmt: skip
            return
        except Exception:
            # a late re-render (the previous selection's banner) can move the plot between reading the
            # point's position and the click, or swallow the click: CI lost one at 800 px beside another
            # worker with nothing moved. The next attempt reads the settled position again.
            if attempt == 2:
                got = page.evaluate(f"() => {SELECTED}()")
                msg = f"clicked {pt['trace']} ({px}, {py}) at ({cx}, {cy}); selected {got}; accepted {ok}"
                raise AssertionError(msg) from None


def _settled_position(page: Any, px: float, py: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The screen position of the point (px, py) once the page has stopped moving (the banner re-renders
    after the plot's selection, and a line more or less moves the plot under the cursor): once the kernel
    is idle (its redraws of the last click are all on the page; the plot moved ~300 ms after the new
    selection showed), and at the same place twice in a row."""
    page.wait_for_selector(KERNEL_IDLE, timeout=60_000)
    last = None
    for _ in range(40):
        now = page.evaluate(CLICKABLE)["points"]
        pt = next(p for p in now if p["px"] == px and p["py"] == py)
        if last is not None and (pt["x"], pt["y"]) == (last["x"], last["y"]):
            return pt, now
        last = pt
        page.wait_for_timeout(250)
    return pt, now


@pytest.mark.xdist_group("lab-server")  # one worker: they share `lab`
def test_clicks_select_the_point_under_the_cursor_beside_a_prompted_llm(
    lab: Lab, browser: Any, artifacts: Path
) -> None:
    """With a prompted LLM 20 points below the family, the family keeps its own accuracy axis (the LLM
    has a strip of its own) and every click selects the point under the cursor, at 1400 px and after
    narrowing the window to 800 px; plotly's toolbar never covers a title."""
    from efflab.store import load_results

    llm_acc = add_prompted_llm(lab.store)
    lab.llm_added = True
    n = len(load_results(lab.store))  # the small store's 8, the point the test before measured, the LLM
    url = lab.notebook("lab_llm")  # a kernel of its own: the store is read afresh
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    try:
        _run_lab(page, url)
        axes = page.evaluate(CLICKABLE)
        assert axes["strip"] is not None and axes["family"][0] > llm_acc + 0.1, axes
        _click_every_point(page, n)
        _toolbars_clear_of_titles(page)
        page.locator(".efflab-lab .efflab-fig-tradeoff").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "lab-1400-llm-strip.png"))
        _relayout(page, lambda: page.set_viewport_size({"width": 800, "height": 1800}))
        assert page.evaluate(OVERFLOW) == []
        _click_every_point(page, n, sample=4)  # four of them at 800 px (every point at 1400 px)
        _toolbars_clear_of_titles(page)
        page.locator(".efflab-lab .efflab-fig-tradeoff").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "lab-800-llm-strip.png"))
        errors = page.evaluate(ERRORS)
        assert not errors, errors
    except Exception:
        page.screenshot(path=str(artifacts / "lab_llm_failure.png"))
        raise
    finally:
        page.close()
