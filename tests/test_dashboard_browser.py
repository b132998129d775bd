"""The dashboard in a real browser: `efflab dashboard` serves Voila on 127.0.0.1, headless Debian
Chromium (Playwright) opens it, finds the cards showing what the store implies, types a new number
of queries per day and sees the yearly figures follow, never sees a traceback; an empty store shows
what to run instead."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from conftest import ARTIFACTS, free_port, wait_http

pytestmark = pytest.mark.slow

CARD = "[data-card={}] .efflab-card-value"
LOAD_TIMEOUT_MS = 180_000  # a cold Voila kernel on a busy 2-core machine


@contextmanager
def dashboard(store: Path, tmp_path: Path) -> Iterator[str]:
    """`efflab dashboard` on ``store`` on a free port; yields the URL and always stops the server."""
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "EFFLAB_DASHBOARD_CULL_S": "12",  # the culler's rule, not its two minutes, is what is tested
    }
    log = (tmp_path / "dashboard.log").open("w")
    cmd = [
        sys.executable,
        "-m",
        "efflab.cli",
        "dashboard",
        "--store",
        str(store),
        "--port",
        str(port),
        "--no-browser",
    ]
    # Its own process group: the launcher and Voila are stopped together.
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_http(url, timeout_s=180)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
        log.close()


@dataclasses.dataclass
class Served:
    url: str
    store: Path
    log: Path
    filled: bool = False  # the small store has been written into ``store``


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `efflab dashboard` for this module's tests: a server's start and its pre-heated kernel cost
    20 s on a busy machine, once is enough. It starts on an empty store, which the first visit finds
    (`test_empty_store_shows_what_to_run`); `served` then writes the small store into it, as a first
    sweep would, and a pre-heated kernel re-reads the store when a page visits. A test that commits a
    point leaves it there for the next, so each computes what it expects from the store as it finds it;
    each visit gets a kernel of its own, so nothing a page typed reaches another. (The tests are one
    ``xdist_group``, which `make test`'s ``--dist loadgroup`` runs on one worker, in file order.)"""
    from efflab.store import open_store

    tmp = tmp_path_factory.mktemp("dashboard")
    store = tmp / "store.sqlite"
    open_store(store).close()
    with dashboard(store, tmp) as url:
        yield Served(url, store, tmp / "dashboard.log")


@pytest.fixture
def served(server: Served, small_store: Path) -> Served:
    """The module's server, its store holding the small store's points (written once, at first use)."""
    if not server.filled:
        with closing(sqlite3.connect(small_store)) as src, closing(sqlite3.connect(server.store)) as dst:
            src.backup(dst)  # a real write: the pages' kernels see the store's stamp change
        server.filled = True
    return server


def expected_cards(store: Path, queries_per_day: float = 1_000_000) -> dict[str, str]:
    """The card values the store implies, computed with efflab.analysis.assess and the page's formatters."""
    from efflab import format as fmt
    from efflab.analysis import AssessInputs, assess
    from efflab.store import load_results

    a = assess(load_results(store), AssessInputs(queries_per_day=queries_per_day))
    rec, s = a.recommendation, a.savings
    assert rec is not None and s is not None
    return {
        "recommended": f"Recommended: {rec.label}",
        "energy": fmt.wh(rec.point.wh_per_1000_queries),
        "stars": fmt.stars(a.stars(rec.point.model)),
        "accuracy": fmt.percent(rec.point.accuracy),
        "kwh": fmt.saving_headline(s.saved_kwh_per_year, s.clear, fmt.kwh),
        "co2e": fmt.saving_headline(s.saved_kg_co2e_per_year, s.clear, fmt.kg),
        "cost": fmt.saving_headline(s.saved_cost_per_year, s.clear, fmt.money_fmt("USD")),
        "candidate_kwh": fmt.kwh(s.candidate_kwh_per_year),
    }


# Elements of the page wider than the window (the page must wrap, not scroll sideways).
OVERFLOW = """() => { const W = document.documentElement.clientWidth; return Array.from(document.querySelectorAll(
  '.efflab-dashboard *, .efflab-dashboard-bottom *')).filter(e => { const r = e.getBoundingClientRect();
  return r.width > 0 && r.right > W + 1; }).slice(0, 10).map(e => e.tagName + '.' + String(e.className).slice(0, 60)); }"""

# The widest elements on the page and their text (to say what overflows).
WIDEST = """() => Array.from(document.querySelectorAll('.efflab-dashboard *')).map(e => [Math.round(e.getBoundingClientRect().right), e.className && String(e.className).slice(0, 40), (e.textContent || '').slice(0, 80)])
  .sort((a, b) => b[0] - a[0]).slice(0, 5)"""


def _no_overflow(page: Any) -> None:
    """Nothing wider than the window once the layout has settled (a busy machine reflows the cards late:
    wait up to 10 s for it, then say what still overflows, with a screenshot in artifacts/)."""
    with suppress(Exception):
        page.wait_for_function(f"() => ({OVERFLOW})().length === 0", timeout=10_000)
    bad = page.evaluate(OVERFLOW)
    if bad:
        page.screenshot(
            path=str(ARTIFACTS / f"dashboard-overflow-{page.viewport_size['width']}.png"), full_page=True
        )
    assert bad == [], page.evaluate(WIDEST)


# Every plotly chart: its title, trace names, legend entries and size.
CHARTS = """() => Array.from(document.querySelectorAll('.efflab-dashboard-bottom .js-plotly-plot')).map(gd => ({
  title: String((gd.layout.title || {}).text || ''), traces: gd.data.map(t => t.name),
  legend: Array.from(gd.querySelectorAll('.legendtext')).map(e => e.textContent),
  width: gd.getBoundingClientRect().width, box: gd.parentElement.getBoundingClientRect().width}))"""


def open_page(browser: Any, url: str, width: int = 1400, outside: list[str] | None = None) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 2000})
    if outside is not None:  # requests that leave this machine (a CDN, fonts): recorded and refused
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                else (outside.append(route.request.url), route.abort())
            ),
        )
    page.goto(url, wait_until="commit")
    return page


def no_traceback(page: Any) -> None:
    text = page.inner_text("body")
    assert "Traceback" not in text and "There was an error" not in text


def add_cheaper_point(store: Path) -> None:
    """What a running sweep does: commit one more point (the recommended one at batch 64 and a
    hundredth of the energy, so it becomes the recommendation)."""
    from efflab.analysis import assess
    from efflab.store import load_results, open_store

    rec = assess(load_results(store)).recommendation
    assert rec is not None
    with open_store(store) as st:
        p = next(p for p in st.points() if p.key == rec.key)
        m = p.measurement
        assert m is not None
        m2 = dataclasses.replace(m, batch_size=64, energy_j_per_query=m.energy_j_per_query / 100)
        cfg = {"model": p.model, "batch_size": 64, "precision": p.precision, "device": p.device,
               "seq_len": p.seq_len, "task": p.task}  # fmt: skip
        st.put("written-while-serving", config=cfg, model_id=p.model_id, hardware=p.hardware, measurement=m2)


@pytest.mark.xdist_group("dashboard-server")  # one worker, first: `server` starts on an empty store
def test_empty_store_shows_what_to_run(browser: Any, server: Served, tmp_path: Path, artifacts: Path) -> None:
    from efflab.store import open_store

    def check(url: str) -> None:
        page = open_page(browser, url)
        try:
            guidance = page.get_by_test_id("guidance")
            guidance.wait_for(timeout=LOAD_TIMEOUT_MS)
            assert "efflab sweep" in guidance.inner_text()
            assert (
                page.locator("[data-card]").count() == 0 or not page.locator("[data-card]").first.is_visible()
            )
            no_traceback(page)
            page.screenshot(path=str(artifacts / "dashboard_empty_store.png"), full_page=True)
        finally:
            page.close(run_before_unload=True)

    if not server.filled:
        check(server.url)
        return
    store = tmp_path / "empty.sqlite"  # run after the module's store was filled: a server of its own
    open_store(store).close()
    with dashboard(store, tmp_path) as url:
        check(url)


@pytest.mark.xdist_group("dashboard-server")  # one worker: they share `served`
def test_dashboard_shows_the_store_and_follows_the_inputs(
    browser: Any, served: Served, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    from efflab import format as fmt
    from efflab.store import load_results

    store, url = served.store, served.url
    want = expected_cards(store)
    outside: list[str] = []
    page = open_page(browser, url, outside=outside)
    # The 800 px visit loads (a kernel of its own) while the 1400 px one is tested.
    narrow = open_page(browser, url, width=800, outside=outside)
    try:
        page.wait_for_selector(CARD.format("kwh"), timeout=LOAD_TIMEOUT_MS)
        for key in ("energy", "stars", "accuracy", "kwh", "co2e", "cost"):
            expect(page.locator(CARD.format(key))).to_have_text(want[key])
        expect(page.get_by_test_id("recommended")).to_have_text(want["recommended"])
        assert want["candidate_kwh"] in page.inner_text("[data-card=kwh]")
        # Estimated energy says so, and where the data comes from is on the page.
        assert page.locator("[data-card=energy] .efflab-badge").inner_text() == "modelled"
        note = page.get_by_test_id("data-note").inner_text()
        df = load_results(store)
        assert str(df["hardware"].iloc[0]) in note and str(df["timestamp"].min())[:10] in note
        # Charts and labels come once the cards are up.
        expect(page.locator(".efflab-label svg")).to_have_count(df["model"].nunique(), timeout=60_000)
        expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=60_000)
        assert page.locator(".jp-InputArea, .jp-Cell-inputWrapper, .CodeMirror, .cm-editor").count() == 0
        no_traceback(page)
        page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

        # Pickers grouped by model and searchable; countries by name; the baseline on the chart.
        models = df["model"].nunique()
        expect(page.locator(".efflab-picker").first.locator("optgroup")).to_have_count(models)
        search = page.locator(".efflab-picker-search").first
        search.fill("int8")
        shown = page.locator(".efflab-picker").first.locator("option")
        assert all("int8" in t or t.startswith("Recommended") for t in shown.all_inner_texts())
        search.fill("")
        # (ipywidgets writes the spaces of option labels as no-break spaces)
        names = [
            t.replace("\xa0", " ") for t in page.locator(".efflab-country select option").all_inner_texts()
        ]
        assert names == sorted(names, key=str.casefold) and names[0].startswith("A")
        charts = page.evaluate(CHARTS)
        trade = next(c for c in charts if c["title"].startswith("Energy vs accuracy"))
        assert {"baseline", "recommended"} <= set(trade["traces"]) and "baseline" in trade["legend"]
        assert all(c["width"] <= c["box"] + 1 for c in charts)
        _no_overflow(page)
        assert outside == [], f"the page reached outside: {outside}"

        # Typing a new number of queries per day rescales the yearly figures.
        triple = expected_cards(store, 3_000_000)
        assert triple["candidate_kwh"] != want["candidate_kwh"]
        box = page.locator(".efflab-queries input")
        box.fill("3000000")
        box.press("Enter")
        expect(page.locator(CARD.format("kwh"))).to_have_text(triple["kwh"], timeout=30_000)
        expect(page.locator(CARD.format("cost"))).to_have_text(triple["cost"])
        expect(page.locator("[data-card=kwh]")).to_contain_text(triple["candidate_kwh"], timeout=30_000)
        assert fmt.number(3_000_000) in page.inner_text("[data-card=kwh]")
        expect(page.locator(CARD.format("energy"))).to_have_text(want["energy"])  # per query: unchanged

        # A sweep commits a point while the page is open; "Reload data" shows it.
        add_cheaper_point(store)
        page.locator(".efflab-reload button, button.efflab-reload").first.click()
        n = len(load_results(store))
        expect(page.get_by_test_id("data-note")).to_contain_text(f"{n} configurations", timeout=30_000)
        expect(page.get_by_test_id("recommended")).to_contain_text("batch 64")
        no_traceback(page)
        page.screenshot(path=str(artifacts / "dashboard_after_input.png"), full_page=True)
    except BaseException:
        narrow.close(run_before_unload=True)
        raise
    finally:
        page.close(run_before_unload=True)

    # 800 px wide: the inputs wrap onto the page and the charts fit their boxes.
    page = narrow
    try:
        page.wait_for_selector(CARD.format("kwh"), timeout=LOAD_TIMEOUT_MS)
        expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=60_000)
        _charts_settled(page)
        _no_overflow(page)
        for sel in (".efflab-reload", ".efflab-tolerance", ".efflab-picker"):
            box = page.locator(sel).first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 800, sel
        charts = page.evaluate(CHARTS)
        assert len(charts) == 2 and all(0 < c["width"] <= c["box"] + 1 for c in charts), charts
        no_traceback(page)
        page.screenshot(path=str(artifacts / "dashboard-800.png"), full_page=True)
        assert outside == [], f"the page reached outside: {outside}"
    finally:
        page.close(run_before_unload=True)


KERNEL_ID = "() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
# Each chart's height, and whether plotly's toolbar overlaps its title's text.
CHART_BOXES = """() => Array.from(document.querySelectorAll('.efflab-dashboard-bottom .js-plotly-plot')).map(gd => {
  const r = gd.getBoundingClientRect(); const bar = gd.querySelector('.modebar'); const t = gd.querySelector('.gtitle');
  const b = bar && bar.getBoundingClientRect(); const tb = t && t.getBoundingClientRect();
  const over = !!(b && tb && b.width > 0 && b.left < tb.right && tb.left < b.right && b.top < tb.bottom && tb.top < b.bottom);
  return {height: r.height, drawn: gd._fullLayout.height, width: r.width, box: gd.parentElement.getBoundingClientRect().width, covered: over}; })"""


# Both charts drawn by plotly at the size their elements have now.
CHARTS_SETTLED = """() => { const gds = Array.from(document.querySelectorAll('.efflab-dashboard-bottom .js-plotly-plot'));
  return gds.length === 2 && gds.every(gd => { const r = gd.getBoundingClientRect(), L = gd._fullLayout;
    return !!L && r.width > 0 && Math.abs(L.width - r.width) < 2 && Math.abs(L.height - r.height) < 2; }); }"""
# From now on, each chart notes when plotly has drawn it again.
ARM_REDRAWN = """() => document.querySelectorAll('.efflab-dashboard-bottom .js-plotly-plot').forEach(gd => {
  gd.__efflabRedrawn = false; if (!gd.__efflabArmed) { gd.__efflabArmed = true; gd.on('plotly_afterplot', () => { gd.__efflabRedrawn = true; }); } })"""
REDRAWN = """() => { const gds = Array.from(document.querySelectorAll('.efflab-dashboard-bottom .js-plotly-plot'));
  return gds.length > 0 && gds.every(gd => gd.__efflabRedrawn); }"""


def _charts_settled(page: Any) -> None:
    """Wait until plotly has drawn both charts at their elements' size (up to 30 s: a busy machine draws
    the second chart late); what they then look like is for the caller to check."""
    with suppress(Exception):
        page.wait_for_function(CHARTS_SETTLED, timeout=30_000)


def _resize(page: Any, width: int) -> None:
    """Resize the window and wait until plotly has redrawn every chart for it. The layout around a chart
    follows the window a frame or two late and plotly redraws a responsive chart ~100 ms after that, so
    the sizes alone right after the resize can still be the old window's, consistent and stale; a redraw
    since the resize is the sign. Up to 30 s on a busy machine (a chart whose size the new window does
    not change is not redrawn: it waits those 30 s, then is checked as it is)."""
    page.evaluate(ARM_REDRAWN)
    page.set_viewport_size({"width": width, "height": 2000})
    with suppress(Exception):
        page.wait_for_function(REDRAWN, timeout=30_000)
    _charts_settled(page)


def _charts_ok(page: Any) -> list[dict[str, Any]]:
    """Both charts drawn (once plotly has drawn them at their size), each with its height, within its
    box, its title clear of the toolbar."""
    _charts_settled(page)
    page.locator(".efflab-dashboard-bottom .js-plotly-plot").first.hover()  # the toolbar shows on hover
    boxes = page.evaluate(CHART_BOXES)
    assert len(boxes) == 2, boxes
    for b in boxes:
        assert (
            b["height"] >= 250
            and abs(b["height"] - b["drawn"]) < 2
            and 0 < b["width"] <= b["box"] + 1
            and not b["covered"]
        ), boxes
    return boxes


def _kernel_gone(log: Path, kernel: str, timeout_s: float) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if f"Kernel shutdown: {kernel}" in log.read_text():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.xdist_group("dashboard-server")  # one worker: they share `served`
def test_dashboard_survives_resizing_bad_input_and_closing(
    browser: Any, served: Served, artifacts: Path
) -> None:
    """Issue 21's defects, at 1400 and 800 px: charts narrowed after loading keep their height; a
    tolerance of 200 points or -5 queries a day is refused in the box's own unit with the figures kept;
    the stars card names the configuration it rates; closing the page shuts its kernel down, and a page
    that vanished without closing (a crashed browser) has its kernel culled."""
    from playwright.sync_api import expect

    from efflab.analysis import assess

    CULL_IDLE_S, CULL_INTERVAL_S = 12, 3  # EFFLAB_DASHBOARD_CULL_S in the server fixture
    from efflab.store import load_results

    url, log = served.url, served.log
    want = expected_cards(served.store)
    a = assess(load_results(served.store))
    assert a.recommendation is not None
    rec_label = a.recommendation.label
    # A visit whose browser disappears without closing the page: no beacon, so the culler's job.
    ctx = browser.new_context()
    lost = ctx.new_page()
    lost.goto(url, wait_until="commit")
    # The visits at 1400 and 800 px load meanwhile, each with a kernel of its own. A context of its own
    # each: a page opened with browser.new_page() takes its context down with it on close, before the
    # page's closing beacon leaves (a real tab's beacon does leave).
    tabs = {width: browser.new_context(viewport={"width": width, "height": 2000}) for width in (1400, 800)}
    pages = {width: tab.new_page() for width, tab in tabs.items()}
    try:
        for page in pages.values():
            page.goto(url, wait_until="commit")
        lost.wait_for_selector(CARD.format("kwh"), timeout=LOAD_TIMEOUT_MS)
        lost_kernel = lost.evaluate(KERNEL_ID)
        ctx.close()  # no beforeunload
        for width in (1400, 800):
            tab, page = tabs[width], pages[width]
            try:
                page.wait_for_selector(CARD.format("kwh"), timeout=LOAD_TIMEOUT_MS)
                expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=60_000)
                _charts_ok(page)
                # The stars card names the configuration it rates: the one recommended above it.
                stars = page.inner_text("[data-card=stars] .efflab-card-detail")
                assert stars.startswith(f"{rec_label}: "), stars
                page.screenshot(path=str(artifacts / f"dashboard-{width}.png"), full_page=True)

                # Narrowed (or widened) after loading: the charts follow the window, none vanishes.
                other = 800 if width == 1400 else 1400
                _resize(page, other)
                _charts_ok(page)
                _no_overflow(page)
                page.screenshot(
                    path=str(artifacts / f"dashboard-{width}-resized-to-{other}.png"), full_page=True
                )
                _resize(page, width)
                _charts_ok(page)

                # Bad input: the message in the box's unit, the box keeps it, every figure stays.
                cards = {k: page.inner_text(f"[data-card={k}]") for k in ("energy", "kwh", "cost", "stars")}
                tol = page.locator(".efflab-tolerance input")
                tol.fill("200")
                tol.press("Enter")
                err = page.get_by_test_id("input-error")
                expect(err).to_contain_text("between 0 and 50 points, got 200 points", timeout=30_000)
                assert "fraction" not in err.inner_text() and tol.input_value() == "200"
                queries = page.locator(".efflab-queries input")
                queries.fill("-5")
                queries.press("Enter")
                expect(page.get_by_test_id("input-error")).to_have_count(2, timeout=30_000)
                expect(page.get_by_test_id("input-error").nth(0)).to_contain_text("got -5")
                assert queries.input_value() == "-5"
                # A wrong change of the figures would show a little after the message: no sign on the
                # page says that none is coming, so this one waits a fixed time.
                page.wait_for_timeout(1000)
                assert {k: page.inner_text(f"[data-card={k}]") for k in cards} == cards
                expect(page.locator(CARD.format("kwh"))).to_have_text(want["kwh"])
                _charts_ok(page)
                no_traceback(page)
                page.screenshot(path=str(artifacts / f"dashboard-{width}-bad-input.png"), full_page=True)
                tol.fill("1")
                tol.press("Enter")
                queries.fill("1000000")
                queries.press("Enter")
                expect(page.get_by_test_id("input-error")).to_have_count(0, timeout=30_000)
                expect(page.locator(CARD.format("kwh"))).to_have_text(want["kwh"])
                kernel = page.evaluate(KERNEL_ID)
            finally:
                page.close(run_before_unload=True)
            # Closing the tab shuts its kernel down at once (Voila's beacon, with its XSRF cookie).
            gone = _kernel_gone(log, kernel, 30)
            tab.close()
            assert gone, f"kernel {kernel} still running after its page closed"
    finally:
        for tab in (ctx, *tabs.values()):
            tab.close()  # (a context closed already stays closed)
    # The lost visit's kernel: culled once no page was connected for CULL_IDLE_S.
    assert _kernel_gone(log, lost_kernel, CULL_IDLE_S + 2 * CULL_INTERVAL_S + 30), (
        f"kernel {lost_kernel} of a vanished page was never culled"
    )
