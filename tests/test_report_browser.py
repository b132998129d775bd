"""The exported report opened in headless Chromium at 1400 px and 800 px: plots render offline,
labels show with no overlapping text, nothing overflows the page, no scientific notation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_label_browser import CHECK as LABEL_OVERLAPS
from test_report import small_report

# Elements wider than the page (the report must wrap, not scroll sideways).
OVERFLOW = """() => { const W = document.documentElement.clientWidth; return Array.from(document.querySelectorAll(
  '.efflab-report, .efflab-report table, .efflab-labels svg, .js-plotly-plot')).filter(e => e.getBoundingClientRect().right > W + 1)
  .map(e => e.tagName + '.' + e.className); }"""
SCIENTIFIC = r"""() => (document.body.innerText.match(/\d\.?\d*e[+-]\d+/g) || [])"""
# The legend entries of every plot.
LEGENDS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd =>
  Array.from(gd.querySelectorAll('.legendtext')).map(t => t.textContent))"""


# How many 900 px screens the appendix takes.
APPENDIX_SCREENS = """() => { const h = Array.from(document.querySelectorAll('h2')).find(h => h.textContent.startsWith('Appendix'));
  return (document.documentElement.scrollHeight - (h.getBoundingClientRect().top + scrollY)) / 900; }"""


def open_offline(browser: Any, html: Path, width: int) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    outside: list[str] = []
    errors: list[str] = []

    def only_local(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", only_local)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
    return page, outside, errors


@pytest.mark.slow
@pytest.mark.parametrize("width", [1400, 800])
def test_report_html_renders_offline_without_overlap(
    browser: Any, artifacts: Path, small_store: Path, tmp_path_factory: pytest.TempPathFactory, width: int
) -> None:
    html = small_report(small_store, tmp_path_factory) / "report.html"
    page, outside, errors = open_offline(browser, html, width)
    try:
        assert page.locator(".js-plotly-plot").count() >= 3
        assert page.locator(".js-plotly-plot .scatterlayer .point").count() >= 8  # every configuration
        assert page.locator(".efflab-labels svg").count() == 2
        assert page.get_by_text("Recommended:").count() == 1
        assert page.evaluate(LABEL_OVERLAPS) == [[], []]
        assert page.evaluate(OVERFLOW) == []
        assert page.evaluate(SCIENTIFIC) == []
        legends = page.evaluate(LEGENDS)
        assert any("recommended" in lg and "baseline" in lg for lg in legends)  # the tradeoff plot
        assert any({"fp32", "int8"} <= set(lg) for lg in legends)  # the batch-size panels
        # The verdict is on the first screen, the method after it; the appendix reads in a couple of
        # screens (its reference tables folded), where it took 6.7 at 1400 px.
        verdict = page.get_by_test_id("verdict").bounding_box()
        method = page.locator("h3.efflab-method").bounding_box()
        assert verdict is not None and method is not None and verdict["y"] + verdict["height"] < 900
        assert verdict["y"] < method["y"] and page.get_by_test_id("verdict").inner_text().startswith("Run ")
        appendix = page.evaluate(APPENDIX_SCREENS)
        assert appendix < 2.5, appendix
        page.screenshot(path=str(artifacts / f"report-{width}-top.png"))
        page.screenshot(path=str(artifacts / f"report-{width}.png"), full_page=True)
        assert outside == [], f"the report reached outside: {outside}"
        assert errors == [], f"JavaScript errors: {errors}"
    finally:
        page.close()
