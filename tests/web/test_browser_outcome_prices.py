"""The outcome-price explorer in a real browser (Debian's Chromium through Playwright, the app on a loopback port
with the seed contracts, as in test_browser.py): a Swedish reader picks a category, reads the prices in today's
kronor with how each was converted, sorts them, switches to the contracts' own currencies and downloads the
selection. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, live_server, pytestmark  # noqa: F401


def test_explorer_pick_read_sort_convert_download(live_server: str) -> None:  # noqa: F811 - the fixture
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="sv-SE", viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.set_default_timeout(20_000)
            blocked: list[str] = []
            page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)

            # From the main navigation.
            page.goto(f"{live_server}/contracts")
            page.locator("nav.main-nav a[href='/outcome-prices']").click()
            page.wait_for_url(re.compile(r"/outcome-prices"))
            expect(page.locator("h1")).to_have_text("Utfallspriser")

            # Pick school attainment: Chicago's three prices, converted to kronor at the latest price year.
            page.select_option("#category", "school_attainment")
            page.get_by_role("button", name="Visa").click()
            page.wait_for_url(re.compile(r"category=school_attainment"))
            rows = page.locator("table.outcome-prices tbody tr")
            expect(rows).to_have_count(3)
            expect(page.locator(".price-summary")).to_contain_text("Omräknat till SEK")
            expect(page.locator(".price-summary tbody tr")).to_have_count(1)
            page.screenshot(path=str(ARTIFACTS / "explorer-01-school-sek.png"), full_page=True)

            # How one price was converted: open its details.
            first = rows.first.locator("details.conversion")
            first.locator("summary").click()
            expect(first.locator("li").first).to_contain_text("SEK per USD")
            expect(first).to_contain_text("Källa")

            # Sort by price, highest first: the special-education year (USD 9,100) leads.
            page.locator("th a", has_text="Pris per enhet").click()
            page.wait_for_url(re.compile(r"dir=desc"))
            expect(rows.first).to_have_attribute("data-metric", "special_ed_years_avoided")
            prices = [float(v) for v in rows.evaluate_all("rs => rs.map(r => r.querySelector('[data-price]')"
                                                          ".dataset.price)")]
            assert prices == sorted(prices, reverse=True)

            # Each contract's own currency.
            page.select_option("#currency", "orig")
            page.get_by_role("button", name="Visa").click()
            page.wait_for_url(re.compile(r"currency=orig"))
            expect(rows.first.locator("[data-price]")).to_have_attribute("data-price", "9100")
            page.screenshot(path=str(ARTIFACTS / "explorer-02-school-usd.png"), full_page=True)

            # Download the selection as CSV.
            with page.expect_download() as info:
                page.get_by_role("link", name="CSV").click()
            download = info.value
            assert download.suggested_filename == "utfall-outcome-prices-school_attainment.csv"
            text = Path(download.path()).read_text(encoding="utf-8-sig")
            assert "special_ed_years_avoided" in text and text.startswith("contract_id;")
            assert blocked == []
        finally:
            browser.close()


def test_draft_from_a_precedent_simulate_adjust_save(live_server: str) -> None:  # noqa: F811 - the fixture
    from playwright.sync_api import expect, sync_playwright

    from registry.loader import parse_document

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="sv-SE", viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.set_default_timeout(30_000)
            page.goto(f"{live_server}/outcome-prices?category=school_attainment")
            page.locator("table.outcome-prices a", has_text="Gör ett utkast från detta pris").first.click()
            page.wait_for_url(re.compile(r"/outcome-prices/draft\?"))
            expect(page.locator("h1")).to_have_text("Gör ett utkast till kontrakt")
            expect(page.locator("main, body").first).to_contain_text("Utgångspris: Chicago")
            first = float(page.locator("[data-multiple]").get_attribute("data-multiple") or "nan")

            # A higher price for the same target and capital: a higher expected multiple.
            price = float(page.input_value("#price"))
            page.fill("#price", str(int(price * 2)))
            page.get_by_role("button", name="Simulera").click()
            page.wait_for_url(re.compile(r"price=\d+"))
            second = float(page.locator("[data-multiple]").get_attribute("data-multiple") or "nan")
            assert second > first
            page.screenshot(path=str(ARTIFACTS / "explorer-03-draft.png"), full_page=True)

            # A bad value is named next to its field, in Swedish, and nothing is simulated.
            page.fill("#cohort", "-3")
            page.get_by_role("button", name="Simulera").click()
            expect(page.locator("#cohort-error")).to_have_text("Ange ett helt antal personer, minst en.")
            expect(page.locator("[data-multiple]")).to_have_count(0)
            page.fill("#cohort", "100")
            page.get_by_role("button", name="Simulera").click()
            expect(page.locator("[data-multiple]")).to_have_count(1)

            with page.expect_download() as info:
                page.get_by_role("link", name="Spara som kontraktsfil (YAML)").click()
            download = info.value
            doc = yaml.safe_load(Path(download.path()).read_text(encoding="utf-8"))
            assert download.suggested_filename == f"{doc['id']}.yaml"
            parsed = parse_document(doc, download.suggested_filename)
            assert parsed.payment_terms.parameters["price"].value == int(price * 2)
        finally:
            browser.close()
