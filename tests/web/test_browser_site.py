"""The map, the glossary links and the contract page's timeline and payoff chart in a real browser (Debian's
Chromium through Playwright, as in test_browser.py). Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import re

import pytest

from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, live_server  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium "
                                                     "(apt-get install -y chromium)"),
]


def test_map_country_opens_the_filtered_registry_in_swedish(live_server: str) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="sv-SE", viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            blocked: list[str] = []
            page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)

            # From the overview to the map.
            page.goto(f"{live_server}/")
            page.click("a[href='/map']")
            page.wait_for_url(re.compile(r"/map$"))
            sweden = page.locator("svg.world-map a[href='/contracts?country=SE']")
            expect(sweden).to_have_attribute("aria-label", re.compile(r"^Sverige: \d+ kontrakt$"))
            box = sweden.bounding_box()
            norway = page.locator("svg.world-map path[data-country='NO']").bounding_box()
            assert box and norway and box["width"] > 5 and box["height"] > 10  # drawn, at a visible size
            assert norway["x"] < box["x"]  # and west of it lies Norway
            page.screenshot(path=str(ARTIFACTS / "site-01-map-sv.png"), full_page=True)

            # Choosing Sweden on the map opens the registry filtered on it.
            sweden.click()
            page.wait_for_url(re.compile(r"/contracts\?country=SE"))
            expect(page.locator("a[href$='/contracts/se-norrkoping-2016']").first).to_be_visible()
            expect(page.locator("a[href$='/contracts/uk-peterborough-2010']")).to_have_count(0)
            assert blocked == []
        finally:
            browser.close()


def test_contract_timeline_chart_and_glossary_links(live_server: str) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="sv-SE", viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            page.goto(f"{live_server}/contracts/se-norrkoping-2016")

            # Every timeline event starts on its own line: no two items share a top edge.
            tops = page.locator("ol.timeline > li").evaluate_all(
                "items => items.map(li => Math.round(li.getBoundingClientRect().top))")
            assert len(tops) >= 10 and len(set(tops)) == len(tops), tops
            page.locator("#payoff").screenshot(path=str(ARTIFACTS / "site-02-payoff-norrkoping.png"))
            expect(page.locator("#payoff svg circle").first).to_be_visible()  # the payer line's markers

            # A role heading leads to its entry in the glossary, in Swedish.
            page.click("#parties a[href='/glossary#role-outcome_payer']")
            page.wait_for_url(re.compile(r"/glossary#role-outcome_payer$"))
            entry = page.locator("#role-outcome_payer")
            expect(entry).to_contain_text("Utfallsansvarig")
            expect(entry).to_be_in_viewport()
            # The footer links to the API documentation from every page.
            page.click("footer a[href='/api/v1/docs']")
            page.wait_for_url(re.compile(r"/api/v1/docs$"))
            expect(page.locator("h1")).to_contain_text("utfall API")
        finally:
            browser.close()
