"""The portfolio builder in a real browser (Debian's Chromium through Playwright) on a laptop and a phone:
contracts found by name and by country, added without typing an id, one that cannot be simulated shown with
the reason and no add button, an outcome probability changed in its sentence, only the exchange rate the
holdings need, then saved and run.
Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import PASSWORD
from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, live_server  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
]

CANNOT = {"en": "Cannot be simulated", "sv": "Kan inte simuleras"}
OCCUPATIONAL = {"en": "Occupational Well-being", "sv": "Occupational Well-being"}
DEFAULT = {"en": "default, an assumption", "sv": "standardantagande"}
MINE = {"en": "your assumption", "sv": "ditt antagande"}


@pytest.mark.parametrize(("width", "height", "lang"), [(1366, 900, "en"), (390, 844, "sv")])
def test_build_a_portfolio_from_search_and_run_it(live_server: str, width: int, height: int,  # noqa: F811
                                                  lang: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(20_000)
            page.goto(f"{live_server}/login?next=/portfolios/new&lang={lang}")
            page.fill("#username", "investor")
            page.fill("#password", PASSWORD)
            page.click("form.form button[type=submit]")
            page.wait_for_url(re.compile(r"/portfolios/new"))
            page.fill("#name", "Två kontrakt" if lang == "sv" else "Two contracts")

            # By name: the matches appear as one types.
            page.fill("#contract-q", "Norrköping")
            match = page.locator("#search-results li", has_text="Norrköping").first
            match.get_by_role("button").click()
            expect(page.locator("#holding-rows tr.holding-row")).to_have_count(1)
            expect(page.locator("#name")).to_have_value(re.compile("contracts|kontrakt"))  # kept across the add

            # By country: Finland. Koto cannot be simulated: it says why and cannot be added.
            page.fill("#contract-q", "")
            page.select_option("#search-country", "FI")
            koto = page.locator("#search-results li", has_text="Koto")
            expect(koto).to_contain_text(CANNOT[lang])
            expect(koto.get_by_role("button")).to_have_count(0)
            page.locator("#search-results li", has_text=OCCUPATIONAL[lang]).get_by_role("button").click()
            expect(page.locator("#holding-rows tr.holding-row")).to_have_count(2)

            # Only the euro needs a rate into kronor.
            expect(page.locator("input[id^='fx_']")).to_have_count(1)
            page.fill("#h-0-amount", "5 000 000")
            page.fill("#h-1-share", "25")
            page.fill("#fx_EUR", "11,2" if lang == "sv" else "11.2")
            page.select_option("#scenarios", "10000")
            # the outcome models in words; the first one's probability set by hand
            first = page.locator("#h-0-models li").first
            expect(first).to_contain_text(DEFAULT[lang])
            first.locator("input[inputmode]").fill("65")
            page.screenshot(path=str(ARTIFACTS / f"builder-{width}.png"), full_page=True)
            # the holdings table scrolls in its own box; the form never widens the page
            assert page.evaluate("document.getElementById('builder').scrollWidth") <= width

            page.click("#save-and-run")
            page.wait_for_url(re.compile(r"/portfolios/\d+"))
            expect(page.locator("#risk-table")).to_be_visible(timeout=120_000)
            expect(page.locator("#holding-rows tr.holding-row")).to_have_count(2)
            expect(page.locator("#h-0-models li").first).to_contain_text(MINE[lang])
            expect(page.locator("#h-0-models li").first.locator("input[inputmode]")).to_have_value("65")
            page.screenshot(path=str(ARTIFACTS / f"builder-results-{width}.png"), full_page=True)
        finally:
            browser.close()
