"""The tray and the comparison in a real browser (Debian's Chromium through Playwright, as in test_browser.py):
two contracts added from the registry and one from its contract page, then the comparison opened from the tray
bar and the portfolio list taken to the builder, in Swedish and in English; and the same forms with JavaScript
switched off. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import PASSWORD
from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, live_server  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium "
                                                     "(apt-get install -y chromium)"),
]

NORRKOPING = "se-norrkoping-2016"
BOTKYRKA = "se-botkyrka-2018"
PETERBOROUGH = "uk-peterborough-2010"
WORDS = {
    "sv": {"compare": "Jämför (3)", "build": "Bygg en portfölj (1)", "only": "Visa bara skillnader",
           "all": "Visa alla rader", "added": "lades till i jämförelsen", "country": "Land"},
    "en": {"compare": "Compare (3)", "build": "Build a portfolio (1)", "only": "Show only differences",
           "all": "Show all rows", "added": "was added to the comparison", "country": "Country"},
}


def _toggle(page, kind: str, contract_id: str):  # noqa: ANN001, ANN202 - Playwright's Page and Locator
    return page.locator(f"form[data-tray-kind='{kind}'][data-tray-id='{contract_id}'] button")


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_add_from_the_registry_and_a_contract_page_then_compare(live_server: str, lang: str) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    words = WORDS[lang]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="sv-SE", viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            blocked: list[str] = []
            page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)

            # Two contracts from the registry: the script posts the forms, the page stays where it is.
            page.goto(f"{live_server}/contracts?lang={lang}")
            expect(page.locator("#tray")).to_be_hidden()
            for contract_id in (NORRKOPING, BOTKYRKA):
                button = _toggle(page, "compare", contract_id)
                expect(button).to_have_attribute("aria-pressed", "false")
                button.click()
                expect(button).to_have_attribute("aria-pressed", "true")
            expect(page.locator("#tray-status")).to_contain_text(words["added"])
            assert page.url.endswith(f"/contracts?lang={lang}")  # no reload, no redirect
            expect(page.locator("#tray [data-tray-part='compare'] .tray-count")).to_have_text("2/4")
            page.screenshot(path=str(ARTIFACTS / f"tray-01-registry-{lang}.png"), full_page=True)

            # One from its contract page, for the comparison and for a portfolio.
            page.goto(f"{live_server}/contracts/{PETERBOROUGH}")
            expect(page.locator("#tray")).to_be_visible()  # still there on another page
            _toggle(page, "compare", PETERBOROUGH).click()
            expect(_toggle(page, "compare", PETERBOROUGH)).to_have_attribute("aria-pressed", "true")
            _toggle(page, "portfolio", PETERBOROUGH).click()
            build = page.locator("#tray a.tray-action", has_text=words["build"])
            expect(build).to_have_attribute("href", f"/portfolios/new?add={PETERBOROUGH}")
            page.screenshot(path=str(ARTIFACTS / f"tray-02-contract-{lang}.png"), full_page=True)

            # Open the comparison from the tray bar.
            page.locator("#tray a.tray-action", has_text=words["compare"]).click()
            page.wait_for_url(re.compile(r"/compare\?id="))
            expect(page.locator("table.compare thead th[scope=col] a")).to_have_count(3)
            expect(page.locator("table.compare tbody.compare-group")).to_have_count(7)
            same = page.locator("table.compare tr.same")
            expect(page.locator("table.compare tr.differs").first).to_be_visible()
            assert same.count() > 0
            country_row = re.compile(rf"^{words['country']}\b")
            expect(page.locator("table.compare tr.differs th", has_text=country_row)).to_have_count(1)
            page.screenshot(path=str(ARTIFACTS / f"tray-03-compare-{lang}.png"), full_page=True)

            page.get_by_role("link", name=words["only"]).click()
            expect(page.locator("table.compare tr.same")).to_have_count(0)
            expect(page.get_by_role("link", name=words["all"])).to_be_visible()

            # Printed, the page is the table alone: no header, no tray, no search.
            page.emulate_media(media="print")
            for hidden in (".site-header", "#tray", ".compare-pick", ".compare-tools"):
                expect(page.locator(hidden)).to_be_hidden()
            expect(page.locator("table.compare")).to_be_visible()
            page.emulate_media(media="screen")

            # Taken out from the tray bar: the comparison's list shrinks, the bar keeps the focus.
            page.locator("#tray [data-tray-part='compare'] summary").click()
            page.locator("#tray [data-tray-part='compare'] .tray-remove").first.click()
            expect(page.locator("#tray [data-tray-part='compare'] .tray-count")).to_have_text("2/4")
            assert page.evaluate("document.activeElement.closest('#tray') !== null")

            # The portfolio list opens the builder (after logging in) with the contract as a holding.
            page.locator("#tray a.tray-action", has_text=words["build"]).click()
            page.wait_for_url(re.compile(r"/login\?next="))
            page.fill("#username", "investor")
            page.fill("#password", PASSWORD)
            page.click("form.form button[type=submit]")
            page.wait_for_url(re.compile(rf"/portfolios/new\?add={PETERBOROUGH}"))
            expect(page.locator(f"#holding-rows tr.holding-row[data-contract='{PETERBOROUGH}']")).to_have_count(1)
            expect(page.locator("#holding-rows tr.holding-row")).to_have_count(1)
            expect(page.locator("#tray [data-tray-part='compare'] .tray-count")).to_have_text("2/4")  # kept at login
            page.screenshot(path=str(ARTIFACTS / f"tray-04-builder-{lang}.png"), full_page=True)
            assert blocked == []
        finally:
            browser.close()


def test_the_tray_works_without_javascript(live_server: str) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(java_script_enabled=False, locale="en-GB")
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{live_server}/contracts?lang=en&q=Peterborough")
            _toggle(page, "portfolio", PETERBOROUGH).click()
            page.wait_for_url(re.compile(r"/contracts\?lang=en&q=Peterborough$"))  # back where it was
            expect(_toggle(page, "portfolio", PETERBOROUGH)).to_have_attribute("aria-pressed", "true")
            expect(page.locator(".flash")).to_contain_text("was added to the portfolio selection")
            expect(page.locator("#tray a.tray-action")).to_have_text("Build a portfolio (1)")
        finally:
            browser.close()
