"""A Swedish reader sees no English from the catalogue: every page of the app and every PDF, rendered with
``?lang=sv``, is searched for each catalogue msgid whose Swedish translation differs from it.

The pages are found by enumerating the app's GET routes, so a new page is covered without touching this test;
route arguments are filled with real ids (seed contracts, a portfolio with a finished run, that run). Responses
that are not HTML or PDF (the API's JSON, the CSV/XLSX exports, the run status) are not reader-facing text and
are skipped. PDFs are read with poppler's ``pdftotext``.
"""

from __future__ import annotations

import html
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry.models import Contract, PortfolioShare, SimulationRun, User
from tests.web.conftest import login
from tests.web.test_portfolios import create
from web.runs import runs

PO = Path(__file__).resolve().parents[2] / "web" / "translations" / "sv" / "LC_MESSAGES" / "messages.po"

# Msgids that may show on a Swedish page though Swedish translates them: names. (Msgids Swedish leaves as they are,
# "Status", "Region", are never searched for.)
ALLOWED = frozenset({
    "INDIGO",  # the dataset's name
})
MIN_LENGTH = 4  # shorter literal texts ("and", "no", "of") tell nothing: they are also words of Swedish names

# Route arguments: the seed contracts with the most to show, and the portfolio and run made by the fixture.
CONTRACTS = ("se-norrkoping-2016", "uk-peterborough-2010", "se-region-stockholm-hib-2020")
PDF_CONTRACTS = ("se-norrkoping-2016", "uk-peterborough-2010")
REMINDERS_DUE = "2022-01-01"  # a day when seed contracts have a measurement and a payment due within 30 days
# GET routes that answer only with query parameters, and the ones to give them
REQUIRED_QUERY: dict[str, dict[str, object]] = {
    "api.convert_amount": {"amount": "1000", "currency": "GBP", "year": 2015, "to": "SEK", "price_year": 2024},
    # the seed contracts price no employment outcome: a draft's file needs a category with prices (else a 422)
    "drafts.draft_file": {"category": "school_attainment"},
}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdf]|%[sdf]|\{[a-z_]*\}")


@cache
def english_msgids() -> dict[str, re.Pattern[str]]:
    """Catalogue msgids translated differently in Swedish, each with the pattern that finds it in text.

    A placeholder matches any short run of text, so ``Payments made: %(n)s`` is found with its value filled in.
    """
    with PO.open("rb") as fh:
        catalogue = read_po(fh)
    found: dict[str, re.Pattern[str]] = {}
    for message in catalogue:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid, msgstr in zip(ids, strings, strict=False):
            msgid = " ".join(msgid.replace("%%", "%").split())
            literal = PLACEHOLDER.sub("", msgid).strip(" :.,;()–-")
            if msgid == msgstr or len(literal) < MIN_LENGTH or msgid in ALLOWED:
                continue
            parts = [re.escape(p) for p in PLACEHOLDER.split(msgid)]
            # a hyphen joins words of ids and paths (contract-en, payment-terms.md): not a word boundary here
            pattern = r"(?<![\w-])" + r"\S.{0,60}?".join(parts) + r"(?![\w-])"
            found[msgid] = re.compile(pattern)
    return found


class _VisibleText(HTMLParser):
    """Text nodes and the attributes a reader sees or hears (title, alt, aria-label, placeholder).

    Left out: scripts and styles; code (``code``, ``pre``, the YAML editor's ``textarea``: ids, formulas and
    the contract's own file); and elements marked as written in another language (``lang="en"``).
    """

    SKIP = {"script", "style", "code", "pre", "textarea"}
    SHOWN_ATTRIBUTES = {"title", "alt", "aria-label", "placeholder"}
    VOID = {"br", "meta", "link", "img", "hr", "input", "col", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []  # the open elements since the first skipped one

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in self.VOID:
            if not self.skipping:
                self.parts.extend(v for k, v in attrs if k in self.SHOWN_ATTRIBUTES and v)
            return
        if self.skipping or tag in self.SKIP or (attributes.get("lang") or "sv") != "sv":
            self.skipping.append(tag)
            return
        self.parts.extend(v for k, v in attrs if k in self.SHOWN_ATTRIBUTES and v)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and tag in self.skipping:
            while self.skipping and self.skipping.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _VisibleText()
    parser.feed(page)
    return "\n".join(parser.parts)


def pdf_text(pdf: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
        fh.write(pdf)
        fh.flush()
        return subprocess.run(["pdftotext", "-raw", fh.name, "-"], check=True, capture_output=True, text=True).stdout


def _flat(text: str) -> str:
    return " ".join(html.unescape(text).replace("\xa0", " ").replace("\u202f", " ").replace("\u00ad", "").split())


def document_texts(*, session: Session) -> list[str]:
    """The contracts' own prose (descriptions, titles, names: often English), longest first.

    It is what the curators wrote, not the app's labels, so it is cut out of the text before the search.
    """
    texts: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            if " " in value.strip():
                texts.add(_flat(value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for document in session.exec(select(Contract.document)).all():
        walk(document)
    return sorted(texts, key=len, reverse=True)


def english_in(text: str, leave_out: list[str] = []) -> list[str]:  # noqa: B006 - never changed
    """The catalogue's English msgids found in ``text`` (whole words, case as written, spacing normalised),
    after cutting out the texts ``leave_out``."""
    flat = _flat(text)
    for passage in leave_out:
        flat = flat.replace(passage, " ¶ ")
        # a sheet shortens long texts to fit ("…"): cut out what is left of them
        head = passage[:24]
        while len(passage) > 24 and (start := flat.find(head)) >= 0:
            end = flat.find("…", start, start + len(passage) + 1)
            if end < 0 or not passage.startswith(flat[start:end].rstrip()):
                break
            flat = flat[:start] + " ¶ " + flat[end + 1:]
    return [msgid for msgid, pattern in english_msgids().items() if pattern.search(flat)]


@pytest.fixture
def curator_with_results(app: Flask, client: FlaskClient, seeded: list[str], make_user: Callable[..., User],
                         engine: Engine) -> Iterator[dict[str, int]]:
    """The client logged in as a curator who owns a portfolio with a finished run, stress tests and a share
    link: their ids and the link's token."""
    make_user("kurator", role="curator")
    login(client, "kurator")
    portfolio_id = create(client, action="run", scenarios="10000")
    assert runs(app).wait(120)
    with Session(engine) as s:
        run = s.exec(select(SimulationRun).where(SimulationRun.portfolio_id == portfolio_id)).one()
        assert run.status == "done", run.error
    client.post(f"/portfolios/{portfolio_id}/shares")  # the shared view's routes take the link's token
    client.post(f"/portfolios/{portfolio_id}/stress", data={"delay_months": "12"})  # the stress table
    with Session(engine) as s:
        token = s.exec(select(PortfolioShare.token)).one()
        yield {"portfolio_id": portfolio_id, "run_id": int(run.id or 0), "token": token}


def _urls(app: Flask, ids: dict[str, int]) -> list[str]:
    """One URL per GET route and argument value (contract routes once per contract of :data:`CONTRACTS`)."""
    urls: list[str] = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint == "static":
            continue
        contracts = (PDF_CONTRACTS if rule.endpoint.startswith("factsheets.") else CONTRACTS)
        values: list[dict[str, object]] = [{}]
        for argument in rule.arguments:
            if argument == "contract_id":
                values = [{**v, "contract_id": c} for v in values for c in contracts]
            elif argument in ids:
                values = [{**v, argument: ids[argument]} for v in values]
            elif argument == "fmt":
                values = [{**v, "fmt": "csv"} for v in values]
            elif argument == "table":
                values = [{**v, "table": "summary"} for v in values]
            else:
                raise AssertionError(f"no value for the argument {argument!r} of {rule.rule}: add one here")
        with app.test_request_context():
            query = REQUIRED_QUERY.get(rule.endpoint, {})
            urls.extend(url_for(rule.endpoint, **v, **query, lang="sv") for v in values)
    urls.append("/compare?id=" + ",".join(CONTRACTS) + "&lang=sv")
    urls.append(f"/admin/jobs?date={REMINDERS_DUE}&lang=sv")  # the reminders' table, with milestone kinds
    # the outcome-price explorer with seed prices, statistics and paid-out labels, and with unpriced metrics
    urls += ["/outcome-prices?category=school_attainment&lang=sv", "/outcome-prices?category=reoffending&all=1&lang=sv",
             "/outcome-prices?category=unmapped&all=1&lang=sv",
             "/outcome-prices/draft?category=school_attainment&from=us-chicago-cpc-2014&metric=kindergarten_ready&lang=sv",
             "/outcome-prices/draft?category=sick_leave&price=x&cohort=0&term=99&lang=sv"]
    # the builder with search matches, holdings and a contract that cannot be simulated
    urls.append("/portfolios/new?state=1&country=FI&add=se-norrkoping-2016&add=fi-koto-sib-2017&lang=sv")
    urls.append("/portfolios/search?country=FI&lang=sv")
    return urls


@pytest.mark.timeout(600)
def test_no_english_on_swedish_pages_and_pdfs(app: Flask, client: FlaskClient, engine: Engine,
                                              curator_with_results: dict[str, int]) -> None:
    with Session(engine) as s:
        leave_out = document_texts(session=s)
    # Every page shows the tray bar too, here with contracts in both of its lists.
    for kind in ("compare", "portfolio"):
        for contract_id in CONTRACTS[:2]:
            assert client.post(f"/tray/{kind}", data={"op": "add", "id": contract_id}).status_code == 303
    checked: list[str] = []
    found: dict[str, list[str]] = {}
    for url in _urls(app, curator_with_results):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        if response.mimetype == "text/html":
            text = visible_text(response.get_data(as_text=True))
        elif response.mimetype == "application/pdf":
            text = pdf_text(response.data)
        else:
            continue
        checked.append(url)
        if hits := english_in(text, leave_out):
            found[url] = hits
    assert any(u.endswith(".pdf?lang=sv") and "/portfolios/" in u for u in checked)
    assert len(checked) >= 15, checked
    assert {"/map?lang=sv", "/glossary?lang=sv"} <= set(checked)  # the maps and the glossary, found as routes
    assert found == {}


def test_the_check_sees_english() -> None:
    """The search itself: an English label in Swedish text is found, a translated one is not."""
    assert "Probability of losing capital" in english_in("Sannolikhet\nProbability of losing capital 12 %")
    assert english_in("Sannolikhet att förlora kapital") == []


def test_no_message_inside_an_f_string() -> None:
    """``pybabel extract`` does not look inside f-strings (Python 3.11 reads one as a single token), so a
    ``_()`` there never reaches the catalogue and is shown in English: messages are looked up outside them."""
    root = PO.parents[4]
    inside = re.compile(r"""\bf(["'])[^\n]*?\{\s*(?:_|gettext|pgettext|ngettext|N_|NP_)\(""")
    found = [f"{path.relative_to(root)}:{number}" for package in ("web", "registry")
             for path in sorted((root / package).rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1) if inside.search(line)]
    assert found == []
