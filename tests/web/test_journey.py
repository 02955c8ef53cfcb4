"""The investor's journey end to end in Debian's Chromium, at 1366×900 and 390×844, in Swedish and English.

On the seed contracts and GO Lab's INDIGO snapshot: log in, filter the registry on Sweden and Finland, set ten
contracts aside for a portfolio with the rows' "+ Portfolio" buttons, open the builder from the tray (it leaves
out, with the reason, what cannot be simulated), give each holding an amount (no contract id and no exchange
rate typed: the reference rates are used), save and run, run the stress tests, download the results as Excel and CSV,
make a read-only share link, open it without an account, revoke it. Screenshots of every step are kept in
``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.web.conftest import PASSWORD
from tests.web.live import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, INVESTOR, SIZES, populated_app, serve

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium "
                                                     "(apt-get install -y chromium)"),
]

WANTED = 10  # contracts set aside from the registry
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WORDS = {
    "sv": {"build": "Bygg en portfölj", "excel": "Resultat (Excel)", "portfolio": "Portfölj"},
    "en": {"build": "Build a portfolio", "excel": "Results (Excel)", "portfolio": "Portfolio"},
}


@pytest.fixture(scope="module")
def base_url(engine: Engine, db_url_session: str) -> Iterator[str]:
    with serve(populated_app(engine, db_url_session)) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Journey:
    """One reader's browser: a page, its size and language, and numbered screenshots."""

    def __init__(self, browser: Any, base: str, size: str, lang: str) -> None:
        self.context = browser.new_context(viewport=SIZES[size], locale="sv-SE" if lang == "sv" else "en-GB",
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.base, self.size, self.lang, self.step = base, size, lang, 0
        self.blocked: list[str] = []
        self.page.on("console", lambda m: self.blocked.append(m.text) if "Content Security Policy" in m.text else None)

    def shot(self, what: str) -> None:
        self.step += 1
        self.page.screenshot(path=str(ARTIFACTS / f"journey-{self.size}-{self.lang}-{self.step:02d}-{what}.png"),
                             full_page=True)


def log_in(j: Journey) -> None:
    page = j.page
    page.goto(f"{j.base}/login?lang={j.lang}")
    page.fill("#username", INVESTOR)
    page.fill("#password", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_url(re.compile(r"^(?!.*/login)"))


def set_aside_from_the_registry(j: Journey) -> None:
    """Filter the registry on Sweden, then Finland, and press "+ Portfolio" on the rows (the tray counts them)."""
    from playwright.sync_api import expect

    page = j.page
    added = 0
    for country in ("SE", "FI"):
        page.goto(f"{j.base}/contracts")
        page.select_option("#country", country)
        page.locator("form.filters button[type=submit]").first.click()
        page.wait_for_url(re.compile(rf"country={country}"))
        buttons = page.locator("tbody form[data-tray-kind='portfolio'] button.toggle")
        for i in range(min(buttons.count(), WANTED - added)):
            buttons.nth(i).click()
            expect(buttons.nth(i)).to_have_attribute("aria-pressed", "true")
            added += 1
    assert added == WANTED
    expect(page.locator("#tray [data-tray-part='portfolio'] .tray-count")).to_contain_text(f"{WANTED}/")
    j.shot("registry-set-aside")


def build(j: Journey) -> int:
    """Open the builder from the tray, give every holding an amount, save and run."""
    from playwright.sync_api import expect

    page = j.page
    page.locator("#tray a.tray-action", has_text=WORDS[j.lang]["build"]).click()
    page.wait_for_url(re.compile(r"/portfolios/new"))
    expect(page.locator("#holding-rows")).to_be_visible()
    j.shot("builder-from-tray")
    # A contract that cannot be simulated is not added: the builder says which and why.
    held = page.locator("#holding-rows tr.holding-row").count()
    assert held + page.locator("#form-notices li").count() == WANTED
    assert held >= 3, f"only {held} of {WANTED} Nordic contracts can be simulated"
    assert not page.locator("#holding-rows tr.holding-row.has-error").count()
    page.fill("#name", f"Norden {j.size} {j.lang}")
    for i in range(held):  # an amount in each contract's own currency (a share needs the contract's capital)
        page.fill(f"#h-{i}-amount", "1 000 000")
    assert not page.locator("#fx input[value]:not([value=''])").count()  # no rate typed: reference rates in use
    # The fewest scenarios offered: the run is the engine's, the count only sets how long it takes.
    page.select_option("#scenarios", page.locator("#scenarios option").first.get_attribute("value"))
    j.shot("builder-filled")
    page.click("#save-and-run")
    page.wait_for_load_state()
    errors = page.locator("#form-errors")
    assert not errors.count(), errors.inner_text()
    page.wait_for_url(re.compile(r"/portfolios/\d+"), timeout=300_000)
    expect(page.locator("#risk-table")).to_be_visible(timeout=300_000)
    expect(page.locator("#contributions-table tbody tr")).to_have_count(held)
    j.shot("results")
    return int(re.search(r"/portfolios/(\d+)", page.url).group(1))  # type: ignore[union-attr]


def stress(j: Journey) -> None:
    from playwright.sync_api import expect

    page = j.page
    page.click("#stress-button")
    expect(page.locator("#stress-table")).to_be_visible(timeout=300_000)
    assert page.locator("#stress-table tbody tr").count() >= 2  # the base case and at least one stress
    j.shot("stress")


def export(j: Journey) -> None:
    page = j.page
    with page.expect_download() as xlsx:
        page.locator("#result-links a", has_text=WORDS[j.lang]["excel"]).click()
    assert xlsx.value.suggested_filename.endswith(".xlsx")
    with open(xlsx.value.path(), "rb") as f:
        assert f.read(2) == b"PK"  # a zip container: the workbook
    for table in ("summary", "holdings"):
        href = page.locator(f"a[data-csv='{table}']").get_attribute("href")
        response = page.request.get(j.base + href)
        assert response.status == 200 and response.headers["content-type"].startswith("text/csv"), table
        assert len(response.text().strip().splitlines()) >= 2, table


def share(j: Journey, browser: Any, name: str) -> None:
    """Make a share link, open it in a browser without the investor's session, then revoke it."""
    from playwright.sync_api import expect

    page = j.page
    page.click("#share-button")
    link = page.locator("input.share-url").first
    expect(link).to_be_visible()
    url = link.input_value()
    j.shot("shared")
    stranger = browser.new_context(viewport=SIZES[j.size])
    try:
        view = stranger.new_page()
        assert view.goto(url).status == 200
        expect(view.locator("h1")).to_contain_text(name)
        expect(view.locator("#holdings-table")).to_be_visible()
        expect(view.locator("#share-button")).to_have_count(0)
        page.locator("#share form button.danger").first.click()
        page.wait_for_load_state()
        assert view.goto(url).status == 404
    finally:
        stranger.close()


@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("size", list(SIZES))
def test_build_from_the_registry_run_stress_export_and_share(browser: Any, base_url: str, size: str,
                                                              lang: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    j = Journey(browser, base_url, size, lang)
    try:
        log_in(j)
        set_aside_from_the_registry(j)
        build(j)
        name = j.page.locator("h1").inner_text()
        stress(j)
        export(j)
        share(j, browser, name)
        if size == "phone":
            assert j.page.evaluate("document.documentElement.scrollWidth") <= SIZES["phone"]["width"]
        assert j.blocked == []
    finally:
        j.context.close()
