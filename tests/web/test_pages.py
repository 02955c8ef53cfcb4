"""Public pages through the Flask test client, on the real test database."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from tests.web.conftest import sample_document


def text(response) -> str:  # type: ignore[no-untyped-def]
    """The page text with non-breaking spaces as plain spaces (Babel's group separator in Swedish)."""
    return response.get_data(as_text=True).replace("\xa0", " ").replace("&nbsp;", " ")


def test_overview_empty_registry(client):
    response = client.get("/?lang=en")
    assert response.status_code == 200
    assert "at a glance" in text(response)


def test_overview_counts_and_features_nordic_contracts(client, add_contract):
    add_contract(sample_document("se-test-2021"))
    add_contract(sample_document(
        "us-test-2015", classification={"country": "US", "policy_sector": "homelessness"}, stage="complete",
        finance={"currency": "USD", "investor_repayment": "Principal + positive financial returns"}))
    page = text(client.get("/?lang=en"))
    assert "Nordic contracts" in page
    assert "/contracts/se-test-2021" in page
    assert "/contracts/us-test-2015" not in page.split("Contracts by year")[0]  # featured list is Nordic only
    assert "<svg" in page and "United States" in page and "homelessness" in page
    assert "repaid in full" in page  # outcomes of completed contracts
    sv = text(client.get("/?lang=sv"))
    assert "Sverige" in sv and "USA" in sv


def test_language_switch_is_remembered_and_on_every_page(client, add_contract):
    add_contract()
    for url in ("/", "/contracts", "/contracts/test-contract", "/compare", "/login"):
        page = text(client.get(url + "?lang=en"))
        assert 'hreflang="sv"' in page, url
        assert '<html lang="en">' in page
    assert '<html lang="en">' in text(client.get("/contracts"))  # kept in the session
    page = text(client.get("/contracts?lang=sv"))
    assert '<html lang="sv">' in page and 'hreflang="en"' in page


def test_browser_language_decides_when_no_choice_was_made(client):
    assert '<html lang="en">' in text(client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}))
    assert '<html lang="sv">' in text(client.get("/", headers={"Accept-Language": "de"}))


def test_registry_search_filter_sort_paginate(client, add_contract):
    add_contract(sample_document("se-alpha-2020", identity={"names": {"sv": "Alfa", "en": "Alpha"}}))
    add_contract(sample_document("se-beta-2019", identity={"names": {"sv": "Beta", "en": "Beta"}},
                                 classification={"country": "SE", "policy_sector": "health"}))
    add_contract(sample_document("fi-gamma-2018", identity={"names": {"en": "Gamma"}},
                                 classification={"country": "FI", "policy_sector": "health"}, stage="complete"))
    page = text(client.get("/contracts?lang=en"))
    assert 'data-total="3"' in page
    assert page.index("Alpha") < page.index("Beta") < page.index("Gamma")
    assert 'data-total="1"' in text(client.get("/contracts?q=alfa"))
    assert 'data-total="2"' in text(client.get("/contracts?sector=health"))
    assert 'data-total="1"' in text(client.get("/contracts?country=fi"))
    assert 'data-total="1"' in text(client.get("/contracts?stage=complete"))
    desc = text(client.get("/contracts?lang=en&sort=name&dir=desc"))
    assert desc.index("Gamma") < desc.index("Alpha")
    # unknown values are ignored rather than failing
    assert client.get("/contracts?sort=nonsense&page=x&stage=bogus").status_code == 200


def test_registry_filters_by_payer_type_size_and_result(client, add_contract):
    add_contract(sample_document("se-small-2020", finance={"currency": "SEK", "capital_committed": {
        "amount": "5000000", "amount_usd": "500000", "confidence": "unverified"},
        "investor_repayment": "Partly: the guarantee covered most of it."}))
    doc = sample_document("se-large-2020", finance={"currency": "SEK", "capital_committed": {
        "amount": "90000000", "amount_usd": "9000000", "confidence": "unverified"},
        "investor_repayment": "Unknown. Not stated; do not read 'repaid in full'."})
    doc["organisations"][0]["type"] = "regional_government"
    add_contract(doc)
    assert 'data-total="1"' in text(client.get("/contracts?size=small"))
    assert "se-large-2020" in text(client.get("/contracts?size=large"))
    assert 'data-total="0"' in text(client.get("/contracts?size=medium"))
    # A size band holds its lower bound and not its upper one: exactly USD 1 m and 5 m are each in one band.
    for contract_id, usd in (("se-one-million-2020", "1000000"), ("se-five-million-2020", "5000000")):
        add_contract(sample_document(contract_id, finance={"currency": "SEK", "capital_committed": {
            "amount": "10000000", "amount_usd": usd, "confidence": "unverified"}}))
    small, medium, large = (text(client.get(f"/contracts?size={size}")) for size in ("small", "medium", "large"))
    assert "se-one-million-2020" in medium and "se-one-million-2020" not in small
    assert "se-five-million-2020" in large and "se-five-million-2020" not in medium
    api = client.get("/api/v1/contracts?size=medium").get_json()
    assert [item["id"] for item in api["items"]] == ["se-one-million-2020"]
    page = text(client.get("/contracts?payer_type=regional_government"))
    assert 'data-total="1"' in page and "se-large-2020" in page
    assert "se-small-2020" in text(client.get("/contracts?result=partial"))
    unknown = text(client.get("/contracts?result=unknown"))
    assert "se-large-2020" in unknown and "se-small-2020" not in unknown
    assert 'data-total="0"' in text(client.get("/contracts?result=full"))


def test_registry_pagination(client, add_contract):
    for i in range(55):
        add_contract(sample_document(f"se-c{i:02d}-2020", identity={"names": {"en": f"Contract {i:02d}"}}))
    first = text(client.get("/contracts?lang=en"))
    assert 'data-total="55"' in first and "Contract 00" in first and "Contract 50" not in first
    assert 'rel="next"' in first
    second = text(client.get("/contracts?lang=en&page=2"))
    assert "Contract 50" in second and "Contract 00" not in second


def test_registry_download_csv_and_xlsx_of_the_selection(client, add_contract):
    add_contract(sample_document("se-alpha-2020"))
    add_contract(sample_document("fi-gamma-2018", classification={"country": "FI", "policy_sector": "health"}))
    response = client.get("/contracts.csv?lang=en&country=FI")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["id"] for r in rows] == ["fi-gamma-2018"]
    assert rows[0]["capital_committed"] == "1234567.0"
    sv = client.get("/contracts.csv?lang=sv").get_data(as_text=True).lstrip("\ufeff")
    sv_rows = list(csv.DictReader(io.StringIO(sv), delimiter=";"))
    assert {r["id"] for r in sv_rows} == {"se-alpha-2020", "fi-gamma-2018"}
    assert sv_rows[0]["capital_committed"] == "1234567,0"
    xlsx = client.get("/contracts.xlsx?q=alpha")
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    values = list(sheet.values)
    assert values[0][0] == "id" and [v[0] for v in values[1:]] == ["se-alpha-2020"]


def test_contract_page_shows_parties_money_badges_and_sources(client, add_contract):
    add_contract()
    page = text(client.get("/contracts/test-contract?lang=sv"))
    assert "Testkontraktet i Exempelstad" in page
    assert "1 234 567 kr" in page and "2 500 000 kr" in page
    assert "Exempelstads kommun" in page and "Testinvest AB" in page
    assert "utfallsansvariga" in page.lower() or "utfallsansvarig" in page.lower()
    for level in ("verified", "secondary", "unverified"):
        assert f'data-confidence="{level}"' in page
    assert 'href="#source-s1"' in page and 'id="source-s1"' in page
    assert "https://example.org/avtal.pdf" in page
    assert "Andel i arbete" in page  # metric in Swedish
    en = text(client.get("/contracts/test-contract?lang=en"))
    assert "SEK 1,234,567" in en and "outcome payer" in en.lower() and "Share in work" in en
    assert "March 2021" in en  # partial date in words


def test_contract_page_disputed_fact_shows_alternatives_and_go_lab_attribution(client, add_contract):
    doc = sample_document()
    doc["finance"]["capital_committed"] = {
        "amount": "1000000", "confidence": "disputed", "sources": ["s1"],
        "alternatives": [{"value": "1200000", "sources": ["indigo"], "note": "INDIGO figure"}]}
    doc["sources"].append({"id": "indigo", "title": "INDIGO Impact Bond Dataset",
                           "attribution": "Source: INDIGO Impact Bond Dataset, Government Outcomes Lab (GO Lab), "
                                          "University of Oxford"})
    add_contract(doc)
    page = text(client.get("/contracts/test-contract?lang=en"))
    assert 'data-confidence="disputed"' in page and "1200000" in page and "INDIGO figure" in page
    assert "Source: INDIGO Impact Bond Dataset, Government Outcomes Lab (GO Lab), University of Oxford" in page


def test_contract_page_timeline_history_and_amendments(client, add_contract):
    add_contract()
    doc = sample_document()
    doc["stage"] = "complete"
    doc["amendments"] = [{"date": "2022-05", "description": {"en": "Follow-up extended", "sv": "Uppföljning förlängd"},
                          "confidence": "unverified"}]
    doc["history"] = {"payments": [{"date": "2023", "payer": "exempelstad-kommun", "payee": "test-investor",
                                    "component": "outcome", "amount": "400000", "currency": "SEK"}]}
    add_contract(doc, actor="user:anna")
    page = text(client.get("/contracts/test-contract?lang=en"))
    timeline = page[page.index('id="timeline"'):page.index('id="sources"')]
    assert timeline.index("Contract signed") < timeline.index("Follow-up extended") < timeline.index("SEK 400,000")
    history = page[page.index('id="history"'):]
    assert "user:anna" in history and "test" in history and "stage" in history


def test_contract_page_with_payment_terms_embeds_payoff_chart(client, seeded):
    page = text(client.get("/contracts/se-norrkoping-2016?lang=en"))
    assert "<svg" in page[page.index('id="payoff"'):page.index('id="parties"')]


def test_contract_page_404(client):
    assert client.get("/contracts/no-such-contract").status_code == 404


def test_compare_two_contracts(client, add_contract):
    add_contract(sample_document("se-alpha-2020", identity={"names": {"en": "Alpha"}}))
    add_contract(sample_document("fi-gamma-2018", identity={"names": {"en": "Gamma"}},
                                 classification={"country": "FI", "policy_sector": "health"}))
    page = text(client.get("/compare?lang=en&id=se-alpha-2020&id=fi-gamma-2018"))
    assert "Alpha" in page and "Gamma" in page
    assert 'class="differs"' in page and "Finland" in page and "Sweden" in page
    comma = text(client.get("/compare?lang=en&id=se-alpha-2020,fi-gamma-2018,missing-one"))
    assert "Alpha" in comma and "missing-one" in comma
    assert client.get("/compare").status_code == 200


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_seeded_search_for_norrkoping(client, seeded, lang):
    page = text(client.get(f"/contracts?q=norrk%C3%B6ping&lang={lang}"))
    assert "/contracts/se-norrkoping-2016" in page
    contract = text(client.get(f"/contracts/se-norrkoping-2016?lang={lang}"))
    assert "Leksell Social Ventures" in contract
    assert ("10 000 000 kr" if lang == "sv" else "SEK 10,000,000") in contract


def test_seeded_pages_all_render(client, seeded):
    for contract_id in seeded:
        for lang in ("sv", "en"):
            assert client.get(f"/contracts/{contract_id}?lang={lang}").status_code == 200, contract_id
    assert client.get("/?lang=sv").status_code == 200
    assert client.get("/compare?id=" + ",".join(seeded[:4])).status_code == 200
