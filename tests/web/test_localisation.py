"""Swedish pages say everything in Swedish: the catalogue is complete, and problems reported in English by
pydantic, the registry and the portfolio checks reach Swedish readers in Swedish (web.problems)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.web.conftest import login, sample_document
from web.problems import localise

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "web" / "translations" / "sv" / "LC_MESSAGES" / "messages.po"


def test_every_extracted_message_has_a_swedish_translation():
    """What ``pybabel extract -F babel.cfg`` finds (Python and templates) is translated, ids as extracted:
    templates write ``%%`` for a percent sign (Jinja formats every message), so the catalogue must too."""
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    with PO.open("rb") as fh:
        catalogue = read_po(fh)
    missing = []
    for filename, _line, message, _comments, context in extract_from_dir(str(ROOT), method_map, options_map):
        msgid = message[0] if isinstance(message, tuple) else message
        entry = catalogue.get(msgid, context)
        strings = entry.string if entry else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            missing.append(f"{filename}: {msgid}")
    assert missing == []


@pytest.mark.parametrize("english, swedish", [
    ("Field required", "Fältet måste fyllas i."),
    ("Input should be greater than or equal to 0.5", "Måste vara minst 0,5."),
    ("Input should be less than 1", "Måste vara mindre än 1."),
    ("Input should be a valid number, unable to parse string as a number", "Ange ett tal."),
    ("Input should be 'gaussian' or 't'", "Välj ett av 'gaussian' eller 't'."),
    ("Value error, confidence verified needs at least one source id; a fact without a source must be marked "
     "unverified", "”verifierat” kräver minst en källa; en uppgift utan källa ska markeras som overifierad."),
    ("'2021-13' is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD",
     "'2021-13' är inte ett datum på formen ÅÅÅÅ, ÅÅÅÅ-MM eller ÅÅÅÅ-MM-DD."),
    ("no exchange rate for AUD (holding au-newpin-2013); state fx.AUD in SEK per AUD",
     "Växelkurs saknas för AUD (innehavet au-newpin-2013): ange kursen i SEK per AUD."),
    ("the squared loadings must sum to less than 1 (got 1.052)",
     "Faktorladdningar: kvadraternas summa måste vara mindre än 1 (nu 1,052)."),
    ("at most 1,000,000 scenarios in the web app (use the command line for more)",
     "Högst 1\xa0000\xa0000 scenarier i webbappen (använd kommandoraden för fler)."),
    ("something nobody has translated", "something nobody has translated"),
])
def test_problems_in_swedish(app, english, swedish):
    with app.test_request_context("/?lang=sv"):
        assert localise(english) == swedish


def test_problems_stay_english_for_english_readers_without_pydantic_prefixes(app):
    with app.test_request_context("/?lang=en"):
        assert localise("Field required") == "Field required"
        assert localise("Value error, give the text in Swedish (sv), English (en) or both") == (
            "give the text in Swedish (sv), English (en) or both")


@pytest.fixture
def curator(client, make_user):
    make_user("cora-sv", role="curator")
    login(client, "cora-sv")
    return client


def test_curator_yaml_editor_explains_problems_in_the_reader_language(curator, add_contract):
    add_contract()
    data = sample_document()
    data["classification"]["sources"] = []  # verified without a source
    data["dates"]["signed"] = "2021-13"
    text = yaml.safe_dump(data, allow_unicode=True)
    sv = curator.post("/contracts/test-contract/yaml?lang=sv", data={"document": text}).get_data(as_text=True)
    assert "kräver minst en källa" in sv and "needs at least one source" not in sv
    en = curator.post("/contracts/test-contract/yaml?lang=en", data={"document": text}).get_data(as_text=True)
    assert "needs at least one source" in en and "Value error" not in en


def test_portfolio_builder_in_swedish(client, seeded, login_as):
    login_as("anna-sv")
    page = client.get("/portfolios/new?add=se-norrkoping-2016&lang=sv").get_data(as_text=True)
    assert "eller andel (%)" in page and "or share" not in page and "For each contract" not in page
    form = {"name": "Test", "h-0-contract": "se-norrkoping-2016", "h-0-amount": "1 000 000",
            "h-1-contract": "au-newpin-2013", "h-1-share": "10", "seed": "-1", "action": "save"}
    html = client.post("/portfolios?lang=sv", data=form).get_data(as_text=True)
    errors = re.findall(r'<li data-field="[^"]*">(.*?)</li>', html, re.S)
    assert any("Måste vara minst 0." in e for e in errors), errors
    assert not any("Input should" in e for e in errors), errors


def test_percent_labels_follow_the_locale(app):
    from web.formatting import percent_pattern

    with app.test_request_context("/?lang=sv"):
        assert percent_pattern(0.508, "#,##0.#") == "50,8\xa0%"
    with app.test_request_context("/?lang=en"):
        assert percent_pattern(0.508, "#,##0.#") == "50.8%"


@pytest.mark.parametrize(("amount", "currency", "sv", "en"), [
    (12_500, "SEK", "12,5 tkr", "SEK 12.5K"),
    (1_234_567, "SEK", "1,2 mnkr", "SEK 1.2M"),
    (999_960, "SEK", "1 mnkr", "SEK 1M"),  # rounds up into the next word, never "1 000 tkr"
    (3_400_000_000, "SEK", "3,4 mdkr", "SEK 3.4B"),
    (45_000, "DKK", "45 tusen DKK", "DKK 45K"),
    (12_500_000, "USD", "12,5 mn USD", "USD 12.5M"),
    (9_000, "DKK", "9 000 DKK", "DKK 9,000"),  # small amounts in full
])
def test_short_amounts_use_swedish_abbreviations(app, amount, currency, sv, en):
    from web.formatting import money, money_short

    with app.test_request_context("/?lang=sv"):
        assert money_short(amount, currency).replace("\xa0", " ") == sv
        assert money(45_000, "DKK").replace("\xa0", " ") == "45 000 DKK"  # the code, not Babel's "Dkr"
    with app.test_request_context("/?lang=en"):
        assert money_short(amount, currency).replace("\xa0", " ") == en


def test_source_attribution_label_in_the_reader_language(client, add_contract):
    from registry.indigo.values import ATTRIBUTION

    doc = sample_document()
    doc["sources"][0]["attribution"] = ATTRIBUTION
    add_contract(doc)
    sv = client.get("/contracts/test-contract?lang=sv").get_data(as_text=True)
    assert "Källa: INDIGO Impact Bond Dataset" in sv and "Source: INDIGO" not in sv
    en = client.get("/contracts/test-contract?lang=en").get_data(as_text=True)
    assert "Source: INDIGO Impact Bond Dataset" in en
