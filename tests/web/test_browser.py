"""End to end in a real browser: Debian's Chromium, headless, driven by Playwright (no browser download).

The app runs in a background thread (werkzeug ``make_server`` on 127.0.0.1 and a free port) on the test
database with the seed contracts and a test user, CSRF protection on as in production. The test searches
the registry for Norrköping, opens it, switches to English, logs in, builds a three-contract portfolio,
runs it and reads the results. Screenshots of every step are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from flask import Flask
from werkzeug.serving import make_server

from registry.models import User
from tests.web.conftest import PASSWORD
from web.runs import runs

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium "
                                                     "(apt-get install -y chromium)"),
]


@pytest.fixture
def live_server(csrf_app: Flask, seeded: list[str], make_user: Callable[..., User]) -> Iterator[str]:
    """The app served on a free loopback port in a background thread; yields its base URL."""
    make_user("investor", role="investor")
    server = make_server("127.0.0.1", 0, csrf_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        assert runs(csrf_app).wait(120), "a simulation run did not finish"


def add_from_search(page: Page, words: str, contract_id: str) -> None:
    """Find a contract with the builder's search (matches appear as one types) and add it to the holdings."""
    page.fill("#contract-q", words)
    page.locator(f"#search-results button[name='add'][value='{contract_id}']").click()
    page.wait_for_selector(f"#holding-rows tr[data-contract='{contract_id}']")


def test_search_open_switch_language_build_and_run_a_portfolio(live_server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="sv-SE", viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            # Every page runs under the app's Content-Security-Policy; anything it blocks is a failure.
            blocked: list[str] = []
            page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)

            # Search the registry for Norrköping (the reader's browser says Swedish).
            page.goto(f"{live_server}/contracts")
            expect(page.locator("html")).to_have_attribute("lang", "sv")
            page.fill("#q", "Norrköping")
            page.press("#q", "Enter")
            page.wait_for_url(re.compile(r"q=Norrk"))
            page.screenshot(path=str(ARTIFACTS / "01-search-norrkoping.png"), full_page=True)
            link = page.locator("a[href$='/contracts/se-norrkoping-2016']").first
            expect(link).to_be_visible()

            # Open it.
            link.click()
            page.wait_for_url(re.compile(r"/contracts/se-norrkoping-2016"))
            expect(page.locator("h1")).to_contain_text("Norrköping")
            page.screenshot(path=str(ARTIFACTS / "02-contract-sv.png"), full_page=True)

            # Switch to English.
            page.click(".lang-switch a[data-lang='en']")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.locator("h1")).to_contain_text("Norrköping")
            page.screenshot(path=str(ARTIFACTS / "03-contract-en.png"), full_page=True)

            # Log in (the language choice stays).
            page.goto(f"{live_server}/login?next=/portfolios/new")
            page.fill("#username", "investor")
            page.fill("#password", PASSWORD)
            page.click("form.form button[type=submit]")
            page.wait_for_url(re.compile(r"/portfolios/new"))
            expect(page.locator("html")).to_have_attribute("lang", "en")

            # Build a three-contract portfolio: two Swedish contracts in kronor, Rikers in dollars.
            page.fill("#name", "Three precedents")
            add_from_search(page, "Norrköping", "se-norrkoping-2016")
            add_from_search(page, "HIB Stockholm", "se-region-stockholm-hib-2020")
            add_from_search(page, "Rikers", "us-nyc-rikers-2012")
            page.fill("#h-0-amount", "5000000")
            page.fill("#h-1-amount", "10000000")
            page.fill("#h-2-share", "50")
            page.fill("#fx_USD", "10.5")
            page.click("#advanced summary")
            page.check("#copula-t")
            page.select_option("#scenarios", "20000")
            page.screenshot(path=str(ARTIFACTS / "04-builder-en.png"), full_page=True)

            # Run it: the page polls the run's progress and shows the results when it is done.
            page.click("#save-and-run")
            page.wait_for_url(re.compile(r"/portfolios/\d+"))
            expect(page.locator("#risk-table")).to_be_visible(timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / "05-results-en.png"), full_page=True)

            # Read the results.
            p_loss = page.locator("#risk-table tr[data-metric='p_loss'] td").first.inner_text()
            assert re.fullmatch(r"\d{1,3}\.\d%", p_loss.strip()), p_loss
            capital = page.locator("#risk-table tr[data-metric='capital'] td").first.inner_text()
            assert capital.replace("\u00a0", " ").strip() == "SEK 65,400,000"  # 5 m + 10 m + 50 % of USD 9.6 m
            expect(page.locator("#contributions-table tbody tr")).to_have_count(3)
            expect(page.locator("#exposure-table")).to_contain_text("Norrköping")
            expect(page.locator("svg.histogram")).to_have_count(2)

            # The same results in Swedish: kronor after the number, decimal comma.
            page.click(".lang-switch a[data-lang='sv']")
            expect(page.locator("html")).to_have_attribute("lang", "sv")
            capital_sv = page.locator("#risk-table tr[data-metric='capital'] td").first.inner_text()
            assert capital_sv.replace("\u00a0", " ").replace("\u202f", " ").strip() == "65 400 000 kr"
            page.screenshot(path=str(ARTIFACTS / "06-results-sv.png"), full_page=True)
            assert blocked == []
        finally:
            browser.close()
