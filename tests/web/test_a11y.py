"""Accessibility and narrow screens, checked in Debian's Chromium on the seed contracts and INDIGO.

- axe-core (bundled in the ``axe-playwright-python`` package, a test dependency: nothing is fetched at test time)
  runs on the main pages in both languages at 1366×900 and 390×844; any critical or serious violation fails,
  with every one of them printed (rule, impact, page, elements).
- At 390 px no page scrolls sideways: ``scrollWidth`` of the document is at most the window's width (wide tables
  scroll inside their own region).
- The header folds into a menu button on a phone; a skip link comes first; focus is visible.
- Taps on the contract page's fact-sheet and compare links work on a touch screen.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine

from tests.web.conftest import PASSWORD
from tests.web.live import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, INVESTOR, SIZES, populated_app, serve
from web.runs import runs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium "
                                                     "(apt-get install -y chromium)"),
]

NORRKOPING = "se-norrkoping-2016"
INDIGO_CONTRACT = "indigo-poj-0002"
# WCAG 2.0-2.2 A/AA (2.2 brings target-size: 24 px) and Deque's best practices; impacts below serious are reported
# by axe but do not fail the test.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa",
                                                     "best-practice"]},
               "resultTypes": ["violations"]}
FAILING_IMPACTS = {"critical", "serious"}
# The elements (outside the scrolling table regions) whose box or own text reaches past the window's right edge.
WIDER_THAN_THE_WINDOW = """() => {
    const range = document.createRange();
    const past = r => r.right > window.innerWidth + 1;
    const text = e => [...e.childNodes].some(n => n.nodeType === 3 && (range.selectNodeContents(n),
                                                                       past(range.getBoundingClientRect())));
    return [...document.querySelectorAll('body *')]
        .filter(e => !e.closest('.table-scroll') && (past(e.getBoundingClientRect()) || text(e)))
        .slice(0, 5).map(e => e.outerHTML.slice(0, 100));
}"""


def axe_source() -> str:
    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(engine: Engine, db_url_session: str) -> Iterator[dict[str, Any]]:
    """The populated app served once for this module, with one portfolio that has been run."""
    app = populated_app(engine, db_url_session)
    portfolio_id = _run_a_portfolio(app)
    with serve(app) as base:
        yield {"base": base, "portfolio": portfolio_id}


def _run_a_portfolio(app: Flask) -> int:
    """A three-contract portfolio created and simulated through the API, so that the results page has results."""
    token = base64.b64encode(f"{INVESTOR}:{PASSWORD}".encode()).decode()
    auth = {"Authorization": f"Basic {token}"}
    spec = {"name": "Three precedents", "base_currency": "SEK", "fx": {"USD": 10.5}, "scenarios": 2000, "seed": 7,
            "holdings": [{"contract": NORRKOPING, "amount": 5_000_000},
                         {"contract": "se-region-stockholm-hib-2020", "amount": 10_000_000},
                         {"contract": "us-nyc-rikers-2012", "share": 0.5}]}
    client = app.test_client()
    created = client.post("/api/v1/portfolios", json={"name": spec["name"], "spec": spec}, headers=auth)
    assert created.status_code == 201, created.get_data(as_text=True)[:500]
    portfolio_id = int(created.get_json()["id"])
    assert client.post(f"/api/v1/portfolios/{portfolio_id}/runs", json={}, headers=auth).status_code == 202
    assert runs(app).wait(120)
    assert client.get(f"/api/v1/portfolios/{portfolio_id}", headers=auth).get_json()["result"] is not None
    return portfolio_id


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def public_pages() -> dict[str, str]:
    return {"overview": "/", "registry": "/contracts", "contract": f"/contracts/{NORRKOPING}",
            "INDIGO contract": f"/contracts/{INDIGO_CONTRACT}",
            "compare": f"/compare?id={NORRKOPING},{INDIGO_CONTRACT}", "login": "/login", "API docs": "/api/v1/docs",
            "map": "/map", "glossary": "/glossary", "outcome prices": "/outcome-prices"}


def investor_pages(portfolio_id: int) -> dict[str, str]:
    return {"portfolios": "/portfolios", "builder": "/portfolios/new", "results": f"/portfolios/{portfolio_id}"}


def in_language(path: str, lang: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={lang}"


def log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", INVESTOR)
    page.fill("#password", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login)"))


def visit_all(browser: Any, site: dict[str, Any], size: str, lang: str, visit: Any) -> None:
    """Call ``visit(page, name)`` on every main page, first as a visitor, then logged in as the investor."""
    for logged_in, pages in [(False, public_pages()), (True, investor_pages(site["portfolio"]))]:
        context = browser.new_context(viewport=SIZES[size], locale="sv-SE" if lang == "sv" else "en-GB")
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            if logged_in:
                log_in(page, site["base"])
            for name, path in pages.items():
                response = page.goto(site["base"] + in_language(path, lang))
                assert response is not None and response.status == 200, (name, path)
                assert page.locator("html").get_attribute("lang") == lang, (name, path)
                visit(page, name)
        finally:
            context.close()


def describe(violations: list[tuple[str, dict[str, Any]]]) -> str:
    lines = []
    for name, v in violations:
        targets = "; ".join(" ".join(node["target"]) + " " + node["html"][:120] for node in v["nodes"][:5])
        lines.append(f"{name}: {v['impact']} {v['id']} ({v['help']}) on {len(v['nodes'])} element(s): {targets}")
    return "\n".join(lines)


@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("size", list(SIZES))
def test_axe_finds_no_serious_violation(browser: Any, site: dict[str, Any], size: str, lang: str) -> None:
    source = axe_source()
    found: list[tuple[str, dict[str, Any]]] = []
    checked: list[str] = []

    def visit(page: Any, name: str) -> None:
        page.evaluate(source)  # through the DevTools protocol: the app's Content-Security-Policy stays as it is
        result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
        assert result["testEngine"]["name"] == "axe-core"
        checked.append(name)
        found.extend((name, v) for v in result["violations"] if v["impact"] in FAILING_IMPACTS)

    visit_all(browser, site, size, lang, visit)
    assert len(checked) == len(public_pages()) + len(investor_pages(site["portfolio"]))
    assert not found, "axe-core found critical or serious violations:\n" + describe(found)


def test_axe_reports_a_violation_it_is_shown(browser: Any, site: dict[str, Any]) -> None:
    """The check can fail: the same run on a page given an image without a name and a link in a button reports them."""
    page = browser.new_page(viewport=SIZES["desktop"])
    try:
        page.goto(site["base"] + "/login")
        page.evaluate("""() => {
            document.querySelector('main').insertAdjacentHTML('beforeend',
                '<svg role="img" width="20" height="20"></svg><button><a href="/">x</a></button>');
        }""")
        page.evaluate(axe_source())
        result = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    finally:
        page.close()
    assert {"svg-img-alt", "nested-interactive"} <= {v["id"] for v in result["violations"]}


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_no_page_scrolls_sideways_on_a_phone(browser: Any, site: dict[str, Any], lang: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    too_wide: list[str] = []

    def visit(page: Any, name: str) -> None:
        width, window = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if width > window:
            wide = page.evaluate(WIDER_THAN_THE_WINDOW)
            too_wide.append(f"{name}: {width} px in a {window} px window ({', '.join(wide)})")
        slug = re.sub(r"\W+", "-", name.lower())
        page.screenshot(path=str(ARTIFACTS / f"a11y-390-{lang}-{slug}.png"), full_page=True)

    visit_all(browser, site, "phone", lang, visit)
    assert not too_wide, "\n".join(too_wide)


def test_wide_tables_scroll_in_a_named_region(browser: Any, site: dict[str, Any]) -> None:
    page = browser.new_page(viewport=SIZES["phone"])
    try:
        page.goto(site["base"] + "/contracts?lang=en")
        region = page.locator(".table-scroll").first
        assert region.get_attribute("role") == "region" and region.get_attribute("tabindex") == "0"
        assert region.get_attribute("aria-label") == "Contracts"
        inner, outer = region.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert inner > outer  # the table is wider than the phone and scrolls inside its region
        region.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('.table-scroll').scrollLeft > 0")
    finally:
        page.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_the_header_folds_into_a_menu_on_a_phone(browser: Any, site: dict[str, Any], size: str) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport=SIZES[size])
    try:
        page.goto(site["base"] + "/?lang=sv")
        nav = page.locator("nav.main-nav")
        button = page.locator("summary.menu-button")
        if size == "desktop":
            expect(nav).to_be_visible()
            expect(button).to_be_hidden()
            return
        expect(nav).to_be_hidden()
        expect(button).to_be_visible()
        expect(button).to_have_text(re.compile("Meny"))
        header = page.locator("header.site-header").bounding_box()
        assert header is not None and header["height"] <= 80  # was 230 px with the navigation spelt out
        button.click()
        expect(nav).to_be_visible()
        for link in nav.locator("a").all():
            box = link.bounding_box()
            assert box is not None and box["height"] >= 24 and box["width"] >= 24, link.inner_text()
        nav.locator("a", has_text="Register").click()
        page.wait_for_url(re.compile(r"/contracts"))
        expect(page.locator("h1")).to_have_text("Register")
    finally:
        page.close()


@pytest.mark.parametrize(("lang", "text"), [("sv", "Hoppa till innehållet"), ("en", "Skip to content")])
def test_skip_link_comes_first_and_focus_is_visible(browser: Any, site: dict[str, Any], lang: str,
                                                   text: str) -> None:
    page = browser.new_page(viewport=SIZES["phone"])
    try:
        page.goto(site["base"] + f"/contracts?lang={lang}")
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const e = document.activeElement; const r = e.getBoundingClientRect();
            const s = getComputedStyle(e);
            return {text: e.textContent, top: r.top, outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }""")
        assert focused["text"] == text
        assert focused["top"] >= 0  # shown when focused (it sits above the page otherwise)
        assert focused["outline"] != "none" and focused["width"] >= 2
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "content"
        page.keyboard.press("Tab")  # the next stop is inside the main content, past the header
        assert page.evaluate("!!document.activeElement.closest('main')")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
    finally:
        page.close()


def test_taps_on_the_fact_sheet_and_compare_links_work_on_a_phone(browser: Any, site: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=SIZES["phone"], has_touch=True, is_mobile=True, device_scale_factor=2,
                                  accept_downloads=True)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        contract = site["base"] + f"/contracts/{NORRKOPING}?lang=en"
        page.goto(contract)
        # A page wider than the phone was zoomed out and its links moved under the finger: they did not take taps.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        with page.expect_response(lambda r: "/factsheet.pdf" in r.url) as pdf:
            page.locator(".actions a", has_text="Fact sheet").tap()
        assert pdf.value.status == 200 and pdf.value.headers["content-type"] == "application/pdf"
        page = context.new_page()  # the first page is busy with the PDF (a download in headless Chromium)
        page.goto(contract)
        toggle = page.locator(".actions button.toggle", has_text="Comparison")
        toggle.tap()
        expect(page.locator(".actions button.toggle", has_text="Comparison")).to_have_attribute("aria-pressed", "true")
    finally:
        context.close()
