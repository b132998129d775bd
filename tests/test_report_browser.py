"""The exported report opened in headless Chromium: plots render offline, labels show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_report import small_report


@pytest.mark.slow
def test_report_html_renders_plots_offline_in_chromium(
    browser: Any, artifacts: Path, small_store: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    html = small_report(small_store, tmp_path_factory) / "report.html"
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    outside: list[str] = []
    errors: list[str] = []

    def only_local(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    try:
        page.route("**/*", only_local)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        assert page.locator(".js-plotly-plot").count() >= 4
        assert page.locator(".js-plotly-plot .scatterlayer .point").count() >= 8  # every configuration
        assert page.locator(".js-plotly-plot .barlayer .point").count() == 2  # one bar per model
        assert page.locator(".efflab-labels svg").count() == 2
        assert page.get_by_text("Recommended:").count() == 1
        page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        assert outside == [], f"the report reached outside: {outside}"
        assert errors == [], f"JavaScript errors: {errors}"
    finally:
        page.close()
