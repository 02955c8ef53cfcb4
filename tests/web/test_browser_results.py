"""The results dashboard in a real browser (Debian's Chromium, Playwright): run a saved portfolio from its page,
read the headline figures, run the stress tests, download the workbook, share the portfolio read-only and
revoke the link; at 1366 px and at 390 px, in Swedish and English. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry.models import Portfolio, User
from registry.portfolio_file import PortfolioFile
from tests.web.conftest import PASSWORD
from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, live_server  # noqa: F401 - the fixture
from tests.web.test_portfolios import HIB, NORRKOPING, RIKERS
from web.simulations import spec_json

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture
def saved_portfolio(live_server: str, engine: Engine) -> Iterator[int]:  # noqa: F811 - the imported fixture
    """A saved, not yet simulated portfolio of three seed contracts, owned by the live server's investor."""
    spec = PortfolioFile.model_validate({
        "name": "Tre prejudikat", "base_currency": "SEK", "fx": {"USD": 10.5}, "scenarios": 4000, "seed": 3,
        "holdings": [{"contract": NORRKOPING, "amount": 5_000_000}, {"contract": HIB, "amount": 10_000_000},
                     {"contract": RIKERS, "share": 0.5}],
    })
    with Session(engine) as s:
        owner = s.exec(select(User).where(User.username == "investor")).one()
        row = Portfolio(owner_id=owner.id or 0, name="Tre prejudikat", spec=spec_json(spec))
        s.add(row)
        s.commit()
        yield int(row.id or 0)


WIDER_THAN_PAGE = """() => {
  const limit = document.documentElement.clientWidth + 1;
  if (document.documentElement.scrollWidth <= limit) return [];
  const inScroller = e => { for (let p = e.parentElement; p; p = p.parentElement) {
    const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; } return false; };
  return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > limit && !inScroller(e))
    .slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + [...e.classList].join('.'));
}"""


def _wider_than_page(page: object) -> list[str]:
    """The elements that make the page scroll sideways (none when it does not)."""
    return page.evaluate(WIDER_THAN_PAGE)  # type: ignore[attr-defined, no-any-return]


@pytest.mark.timeout(300)
def test_run_stress_export_and_share(live_server: str, saved_portfolio: int) -> None:  # noqa: F811
    import openpyxl
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            owner = browser.new_context(locale="sv-SE", viewport={"width": 1366, "height": 900}, accept_downloads=True)
            page = owner.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{live_server}/login?next=/portfolios/{saved_portfolio}")
            page.fill("#username", "investor")
            page.fill("#password", PASSWORD)
            page.click("form.form button[type=submit]")
            page.wait_for_url(re.compile(rf"/portfolios/{saved_portfolio}"))

            # Run: the page polls and shows the dashboard.
            page.click("#run-button")
            expect(page.locator("#headline")).to_be_visible(timeout=120_000)
            p_loss = page.locator("#headline [data-metric='p_loss'] .card-figure").inner_text()
            assert re.fullmatch(r"\d{1,3},\d\s%", p_loss.replace("\u00a0", " ").strip()), p_loss
            expect(page.locator("#chart-payer svg")).to_contain_text("New York City Department of Correction")
            delete = page.locator("button.danger", has_text="Ta bort portföljen")
            run = page.locator("#run-button")
            assert delete.evaluate("e => getComputedStyle(e).backgroundColor") != \
                run.evaluate("e => getComputedStyle(e).backgroundColor")
            page.screenshot(path=str(ARTIFACTS / "results-01-dashboard-sv.png"), full_page=True)

            # Stress tests from the page.
            page.fill("input[name=delay_months]", "6")
            page.click("#stress-button")
            expect(page.locator("#stress-table tr[data-stress='savings_delayed']")).to_contain_text("6 månader")
            page.screenshot(path=str(ARTIFACTS / "results-02-stress-sv.png"), full_page=True)

            # The workbook.
            with page.expect_download() as download:
                page.click("text=Resultat (Excel)")
            book = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes()), read_only=True)
            assert "stress" in book.sheetnames and "scenarios" in book.sheetnames

            # A share link, opened by someone without an account, in English.
            page.click("#share-button")
            link = page.locator(".share-url").first.input_value()
            visitor = browser.new_context(locale="en-GB", viewport={"width": 1366, "height": 900})
            shared = visitor.new_page()
            shared.goto(link + "?lang=en")
            expect(shared.locator("h1")).to_have_text("Tre prejudikat")
            expect(shared.locator("#holdings-table")).to_contain_text("NYC Adolescent Behavioral Learning")
            expect(shared.locator("#stress-table")).to_be_visible()
            assert shared.locator("#results form, #holdings form").count() == 0
            shared.screenshot(path=str(ARTIFACTS / "results-03-shared-en.png"), full_page=True)

            # Both at 390 px: no page-level horizontal scroll (wide tables scroll in their own box).
            for view, name in ((page, "owner-sv"), (shared, "shared-en")):
                view.set_viewport_size({"width": 390, "height": 844})
                view.reload()
                expect(view.locator("#headline")).to_be_visible()
                assert _wider_than_page(view) == [], name
                view.screenshot(path=str(ARTIFACTS / f"results-04-{name}-390.png"), full_page=True)

            # Revoked: the link opens nothing.
            page.click("#share button.danger")
            expect(page.locator(".share-url")).to_have_count(0)
            assert shared.goto(link).status == 404
        finally:
            browser.close()
