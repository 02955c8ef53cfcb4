"""The registry list: cells in the reader's language, the result filter, and a fixed number of queries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po
from flask_babel import force_locale
from sqlalchemy import event

from tests.web.conftest import sample_document
from web.extensions import db

ROOT = Path(__file__).resolve().parents[2]


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True).replace("\xa0", " ")


def rows(page: str) -> list[str]:
    """The table rows of a registry page, tags stripped and whitespace collapsed (without the tray's buttons)."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    body = re.sub(r'<td class="tray-cell">.*?</td>', "", body, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in body.split("<tr>")[1:]]


def repaid(contract_id: str, statement: str, **overrides: object) -> dict:
    doc = sample_document(contract_id, **overrides)
    doc["finance"]["investor_repayment"] = statement
    return doc


def test_registry_cells_follow_the_reader_language(client, add_contract):
    add_contract(repaid("se-full-2020", "Repaid in full with a return.",
                        classification={"country": "SE", "region": "Exempelstad", "policy_sector": "health"},
                        stage="complete"))
    add_contract(sample_document(
        "us-none-2015", identity={"names": {"en": "Only English"}},
        classification={"country": "US", "policy_sector": "homelessness"},
        finance={"currency": "USD", "capital_committed": {"amount": "12500000", "confidence": "unverified"}}))
    sv = rows(text(client.get("/contracts?lang=sv")))
    en = rows(text(client.get("/contracts?lang=en")))
    assert sv == [
        "Only English USA hemlöshet genomförande 2021 12,5 mn USD –",
        "Testkontraktet i Exempelstad Sverige Exempelstad hälsa avslutat 2021 1,2 mnkr återbetalt i sin helhet",
    ]
    assert en == [
        "Only English United States homelessness implementation 2021 USD 12.5M –",
        "The Exempelstad test contract Sweden Exempelstad health complete 2021 SEK 1.2M repaid in full",
    ]


def test_registry_filter_menus_are_translated_and_sorted_by_the_shown_name(client, add_contract):
    add_contract(sample_document("se-a-2020"))
    add_contract(sample_document("de-b-2020", classification={"country": "DE", "policy_sector": "health"}))
    add_contract(sample_document("at-c-2020", classification={"country": "AT", "policy_sector": "health"}))
    sv = text(client.get("/contracts?lang=sv"))
    countries = re.search(r'<select id="country".*?</select>', sv, re.S).group(0)
    assert re.findall(r'value="(\w\w)"', countries) == ["SE", "DE", "AT"]  # Sverige, Tyskland, Österrike
    assert ">delvis återbetalt</option>" in sv and ">kommun</option>" in sv
    en = text(client.get("/contracts?lang=en"))
    countries = re.search(r'<select id="country".*?</select>', en, re.S).group(0)
    assert re.findall(r'value="(\w\w)"', countries) == ["AT", "DE", "SE"]  # Austria, Germany, Sweden
    assert ">local government</option>" in en and ">partly repaid</option>" in en


@pytest.mark.parametrize("cls, expected", [
    ("full", {"se-full-a-2020", "se-full-b-2020"}),
    ("partial", {"se-part-2020"}),
    ("unknown", {"se-unknown-2020", "se-silent-2020"}),
    ("none", set()),
])
def test_result_filter_classifies_each_distinct_statement(client, add_contract, cls, expected):
    # Two contracts share one statement; one contract states nothing, so what its investors got is unknown.
    add_contract(repaid("se-full-a-2020", "Investors were repaid in full."))
    add_contract(repaid("se-full-b-2020", "Investors were repaid in full."))
    add_contract(repaid("se-part-2020", "Partly: the guarantee covered most of it."))
    add_contract(repaid("se-unknown-2020", "Not stated."))
    add_contract(sample_document("se-silent-2020"))
    page = text(client.get(f"/contracts?lang=en&result={cls}"))
    shown = set(re.findall(r'href="/contracts/([\w-]+)"', page))
    assert shown == expected
    assert f'data-total="{len(expected)}"' in page


def test_registry_page_runs_a_fixed_number_of_queries(app, client, add_contract):
    for i in range(12):
        add_contract(repaid(f"se-q{i:02d}-2020", f"Statement {i % 3}: repaid in full"))
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        for url in ("/contracts?lang=sv", "/contracts?lang=en&result=full&sector=employment_and_training"):
            statements.clear()
            assert client.get(url).status_code == 200
            # list, count, country menu (+ the distinct statements for a result filter): never one per row
            assert len(statements) <= 4, statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_vocabulary_translation_cache_keeps_languages_apart(app):
    from web.formatting import translate
    from web.vocabulary import vocab

    with app.test_request_context("/?lang=sv"):
        assert vocab("health", "sector") == "hälsa"
        with force_locale("en"):
            assert vocab("health", "sector") == "health"
            assert translate("repaid in full") == "repaid in full"
        assert vocab("health", "sector") == "hälsa"
        assert translate("repaid in full") == "återbetalt i sin helhet"
        assert vocab("no_such_value", "sector") == "no such value"


def test_vocabulary_is_extracted_by_pybabel_and_translated():
    """Labels marked with ``N_`` (or ``NP_`` with a context) are found by ``pybabel extract`` with babel.cfg's
    keywords and have Swedish text."""
    from babel.messages.frontend import parse_mapping_cfg

    from web.vocabulary import VOCABULARY

    with (ROOT / "babel.cfg").open() as fh:
        _method_map, options_map = parse_mapping_cfg(fh)
    keywords = {**DEFAULT_KEYWORDS, **options_map["web/**.py"].get("keywords", {})}
    extracted = {(context, message) for _line, message, _comments, context
                 in extract_from_file("python", str(ROOT / "web" / "vocabulary.py"), keywords=keywords)}
    with (ROOT / "web" / "translations" / "sv" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalogue = read_po(fh)
    for kind, labels in VOCABULARY.items():
        for key, label in labels.items():
            context, msgid = label if isinstance(label, tuple) else (None, label)
            assert (context, msgid) in extracted, (kind, key)
            entry = catalogue.get(msgid, context)
            assert entry is not None and entry.string, (kind, key, label)


@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("sort", ["name", "name&dir=desc", "capital&dir=desc", "year", "country"])
def test_pages_together_list_the_selection_in_download_order(client, add_contract, lang, sort):
    """Each page picks its ids first and then loads them; paging through must give the download's order."""
    for i in range(57):
        names = [{"sv": f"Kontrakt {i:02d}"}, {"en": f"Contract {56 - i:02d}"},
                 {"sv": f"Avtal {i % 7}", "en": f"Agreement {i % 5}"}][i % 3]  # ties, gaps in each language
        finance = {"currency": "SEK"}
        if i % 4:
            finance["capital_committed"] = {"amount": str(1_000_000 * (i % 6)), "amount_usd": str(100_000 * (i % 6)),
                                            "confidence": "unverified"}
        add_contract(sample_document(f"se-p{i:02d}-{2010 + i % 9}", identity={"names": names}, finance=finance,
                                     dates={"signed": str(2010 + i % 9), "confidence": "unverified"}))
    paged: list[str] = []
    for page in (1, 2):
        html = text(client.get(f"/contracts?lang={lang}&sort={sort}&page={page}"))
        paged += re.findall(r'<td><a href="/contracts/([\w-]+)">', html)
    download = client.get(f"/contracts.csv?lang={lang}&sort={sort}").get_data(as_text=True)
    ids = [line.split(";" if lang == "sv" else ",")[0] for line in download.lstrip("\ufeff").splitlines()[1:]]
    assert len(paged) == 57
    assert paged == ids
