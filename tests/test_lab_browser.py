"""The lab in a real browser: `efflab lab` serves JupyterLab on 127.0.0.1, Debian Chromium (driven
by Playwright) opens lab.ipynb, runs it, moves a control, measures a new point live, and finds the
plots changed and no traceback anywhere on the page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, free_port, wait_http

pytestmark = pytest.mark.slow

TRADEOFF = "Energy per 1000 queries vs accuracy"

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
  return k ? p[k].filter(t => t.name === 'front' || t.name === 'dominated').reduce((n, t) => n + t.x.length, 0) : 0; }})"""

ERRORS = """() => Array.from(document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'))
  .map(e => e.innerText).filter(t => /Traceback|Error/.test(t))"""


def lab_notebook_copy(dst: Path, **params: Any) -> Path:
    """Copy the lab notebook to ``dst/notebooks/lab.ipynb`` with ``params`` appended to its parameters cell."""
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "lab.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items()) + "\n"
    out = dst / "notebooks" / "lab.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return out


@pytest.fixture
def lab_server(copy_store: Path, tmp_path: Path) -> Iterator[str]:
    """`efflab lab` on a temp root holding a copy of the notebook and the small store; yields its URL."""
    root = tmp_path / "root"
    lab_notebook_copy(
        root,
        sensor="fake",
        method={"min_window_s": 0.05, "max_window_s": 0.3, "warmup_batches": 1, "warmup_s": 0.0},
    )
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
        str(copy_store),
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


def _selected(plots: dict[str, Any]) -> tuple[list[float], list[float]] | None:
    trade = next((v for k, v in plots.items() if k.startswith(TRADEOFF)), None)
    if trade is None:
        return None
    sel = next((t for t in trade if t["name"] == "selected"), None)
    return None if sel is None else (sel["x"], sel["y"])


def _n_points(plots: dict[str, Any]) -> int:
    trade = next((v for k, v in plots.items() if k.startswith(TRADEOFF)), [])
    return sum(len(t["x"]) for t in trade if t["name"] in ("front", "dominated"))


def test_lab_runs_in_chromium_and_follows_the_controls(
    lab_server: str, browser: Any, artifacts: Path
) -> None:
    page = browser.new_page(viewport={"width": 1500, "height": 1800})
    try:
        page.goto(lab_server, wait_until="domcontentloaded")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
        page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        page.wait_for_function(
            "document.querySelectorAll('.efflab-lab .js-plotly-plot').length >= 5", timeout=180_000
        )
        page.wait_for_function(f"() => {SELECTED}() !== null", timeout=60_000)
        before = page.evaluate(READ_PLOTS)
        sel0 = _selected(before)
        assert sel0 is not None, f"no selected point on the tradeoff plot: {list(before)}"
        n0 = _n_points(before)
        assert n0 == 8  # the small store: 2 models x 2 batch sizes x 2 precisions

        # The initial selection is the recommendation; the banner says so.
        assert "recommended configuration" in page.inner_text(".efflab-lab .efflab-ok")

        # A stored point appears at once: the precision toggle moves the selected marker.
        active = page.inner_text(".efflab-lab .widget-toggle-button.mod-active").strip()
        page.click(f".efflab-lab .widget-toggle-button:text-is('{'fp32' if active == 'int8' else 'int8'}')")
        page.wait_for_function(
            f"(old) => {{ const s = {SELECTED}(); return s !== null && (s[0][0] !== old[0][0] || s[1][0] !== old[1][0]); }}",
            arg=list(sel0),
            timeout=30_000,
        )
        after = page.evaluate(READ_PLOTS)
        assert _selected(after) != sel0
        assert "Switch to recommended" in page.inner_text(".efflab-lab")
        page.screenshot(path=str(artifacts / "lab_stored_point.png"), full_page=True)

        # An unstored point is measured live and lands on the curve: step the batch size up by
        # keyboard until a size the store lacks (the store has 1 and 4; the slider 1, 4, 8, 32, 128).
        handle = page.locator(".efflab-lab .widget-hslider .noUi-handle").nth(1)
        measure = page.locator(".efflab-lab button:text-is('Measure'):not([disabled])")
        for _ in range(4):
            handle.focus()
            handle.press("ArrowRight")
            try:
                measure.wait_for(timeout=5_000)
                break
            except Exception:
                continue
        page.click(".efflab-lab button:text-is('Measure')")
        page.wait_for_function(f"(n0) => {N_POINTS}() > n0", arg=n0, timeout=180_000)
        final = page.evaluate(READ_PLOTS)
        assert _n_points(final) == n0 + 1
        assert _selected(final) is not None  # the new point is the selection
        page.wait_for_selector(".efflab-lab button:text-is('Stored ✓')", timeout=30_000)
        power = next(v for k, v in final.items() if k.startswith("Power during measurement"))
        assert power and len(power[0]["x"]) >= 1  # the live trace got samples
        assert "estimated" in next(k for k in final if k.startswith("Power during measurement"))
        errors = page.evaluate(ERRORS)
        assert not errors, errors
        page.screenshot(path=str(artifacts / "lab_live_point.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(artifacts / "lab_failure.png"), full_page=True)
        raise
    finally:
        page.close()
