"""The outcome-price explorer: prices read from terms, the service's figures recomputed here from the contracts
written, the page in both languages, its downloads and the API."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session

from registry.outcome_prices import metric_prices, paid_outcome
from registry.reference_rates import load_rate_table
from registry.services.outcome_prices import PriceFilter, category_counts, outcome_price_rows, price_summaries
from tests.web.conftest import sample_document

# (id, country, start year, price per person in work, currency, investor repayment as stated)
PRECEDENTS = [
    ("se-a", "SE", 2016, "30000", "SEK", "Principal repaid in full"),
    ("se-b", "SE", 2018, "45000", "SEK", None),
    ("se-c", "SE", 2019, "52000", "SEK", "Not repaid"),
    ("fi-d", "FI", 2020, "61000", "SEK", "Partial repayment"),
    ("se-e", "SE", 2022, "90000", "SEK", None),
    ("nl-f", "NL", 2017, "2500", "EUR", "Repaid in full"),
]


def priced(cid: str, country: str, year: int, price: str, currency: str, repayment: str | None,
           **overrides: Any) -> dict[str, Any]:
    """A contract paying ``price`` per person moved into work (a count metric), in ``currency``."""
    finance: dict[str, Any] = {"currency": currency}
    if repayment:
        finance["investor_repayment"] = repayment
    doc = sample_document(
        cid,
        classification={"country": country, "policy_sector": "employment_and_training"},
        dates={"service_start": f"{year}-01-01"},
        finance=finance,
        outcome_metrics=[
            {"id": "jobs", "name": {"en": "Entry into employment", "sv": "Personer i arbete"}, "kind": "count",
             "unit": "persons", "measurement": "validated_administrative", "baseline": {"value": "10"},
             "targets": [{"value": "120"}]},
            {"id": "wellbeing", "name": {"en": "Improved wellbeing"}, "kind": "continuous"},
        ],
        payment_terms={
            "parameters": {"price_per_job": {"value": price, "unit": f"{currency} per person", "sources": ["s1"],
                                             "confidence": "verified"}},
            "payments": [{"id": "jobs_payment", "component": "outcome", "payer": "exempelstad-kommun",
                          "payee": "test-investor", "amount": "price_per_job * jobs"}],
        },
    )
    doc.update(overrides)
    return doc


@pytest.fixture
def precedents(add_contract: Callable[..., str]) -> list[str]:
    return [add_contract(priced(*p)) for p in PRECEDENTS]


# --- prices and paid-out status from one document ------------------------------------------------------------


def test_prices_from_products_and_rate_cards() -> None:
    doc = priced("x", "SE", 2020, "30000", "SEK", None)
    (price,) = metric_prices(doc).values()
    assert (price.metric, price.amount, price.currency, price.parameter, price.rule) == \
        ("jobs", Decimal("30000"), "SEK", "price_per_job", "jobs_payment")
    # A rate card; the currency from the unit; cumsum(metric) is still per unit; a price times a share is not
    # a price per unit, nor is a principal repayment.
    doc["outcome_metrics"] += [{"id": "share", "name": {"en": "Share in work"}, "kind": "rate"},
                               {"id": "places", "name": {"en": "Accommodation"}, "kind": "count"},
                               {"id": "courses", "name": {"en": "Courses"}, "kind": "count"}]
    doc["payment_terms"]["parameters"].update({
        "card": {"rate_card": {"places": "1200"}, "unit": "EUR"},
        "fee": {"value": "800"},
        "bonus": {"value": "5"},
    })
    doc["payment_terms"]["payments"] += [
        {"id": "fees", "component": "fee", "payer": "a", "payee": "b", "amount": "cap(fee * cumsum(courses), 1e6)"},
        {"id": "cards", "component": "outcome", "payer": "a", "payee": "b", "amount": "rate_card(card)"},
        {"id": "share_bonus", "component": "outcome", "payer": "a", "payee": "b", "amount": "bonus * share"},
        {"id": "principal", "component": "principal", "payer": "a", "payee": "b", "amount": "bonus * places"},
    ]
    prices = metric_prices(doc)
    assert sorted(prices) == ["courses", "jobs", "places"]
    assert (prices["places"].amount, prices["places"].currency, prices["places"].rule) == (Decimal(1200), "EUR", None)
    assert (prices["courses"].amount, prices["courses"].currency) == (Decimal(800), "SEK")


@pytest.mark.parametrize(("finance", "history", "expected"), [
    ({"investor_repayment": "Principal repaid in full"}, None, ("yes", "repayment")),
    ({"investor_repayment": "Partial repayment"}, None, ("partly", "repayment")),
    ({"investor_repayment": "Not repaid"}, None, ("no", "repayment")),
    ({"investor_repayment": "Not repaid"}, [{"amount": "100", "currency": "SEK", "component": "outcome"}],
     ("partly", "repayment")),
    ({}, [{"amount": "100", "currency": "SEK"}], ("yes", "payments")),
    ({"total_outcome_payments_made": {"amount": "5000"}}, None, ("yes", "payments")),
    ({"investor_repayment": "Not publicly known"}, None, ("unknown", "none")),
    ({}, None, ("unknown", "none")),
])
def test_paid_out(finance: dict[str, Any], history: list[dict[str, Any]] | None, expected: tuple[str, str]) -> None:
    doc = {"finance": {"currency": "SEK", **finance}, "history": {"payments": history} if history else None}
    paid = paid_outcome(doc)
    assert (paid.status, paid.basis) == expected


# --- the service ----------------------------------------------------------------------------------------------


def test_service_figures_recomputed_from_the_contracts(precedents: list[str], engine: Engine) -> None:
    with Session(engine) as s:
        rows = outcome_price_rows(session=s, filters=PriceFilter(category="employment"))
        summaries = {x.currency: x for x in price_summaries(rows)}
        counts = category_counts(session=s)
    assert [(r.contract_id, r.price.amount) for r in rows if r.price] == [  # by currency, then amount
        ("nl-f", Decimal(2500)), ("se-a", Decimal(30000)), ("se-b", Decimal(45000)), ("se-c", Decimal(52000)),
        ("fi-d", Decimal(61000)), ("se-e", Decimal(90000))]
    sek = sorted(Decimal(p[3]) for p in PRECEDENTS if p[4] == "SEK")
    quartiles = statistics.quantiles(sek, n=4, method="inclusive")
    s = summaries["SEK"]
    assert (s.n, s.contracts, s.median, s.p25, s.p75, s.low, s.high) == \
        (5, 5, statistics.median(sek), quartiles[0], quartiles[2], sek[0], sek[-1])
    assert s.median == Decimal(52000) and s.p25 == Decimal(45000) and s.p75 == Decimal(61000)
    assert s.paid == {"yes": 1, "unknown": 2, "no": 1, "partly": 1}
    assert s.paid_share == pytest.approx(2 / 3)
    assert summaries["EUR"].n == 1 and summaries["EUR"].paid == {"yes": 1}
    first = rows[1]
    assert (first.metric_name["sv"], first.unit, first.measurement, first.baseline, first.targets[0].value,
            first.payers) == ("Personer i arbete", "persons", "validated_administrative", Decimal(10), Decimal(120),
                              ("Exempelstads kommun",))
    # Six employment metrics, all priced; six wellbeing metrics, none
    assert counts["employment"] == (6, 6) and counts["wellbeing"] == (6, 0)


def test_filters_and_sorting(precedents: list[str], engine: Engine) -> None:
    def ids(**kwargs: Any) -> list[str]:
        sort = kwargs.pop("sort", "price")
        descending = kwargs.pop("descending", False)
        kwargs.setdefault("category", "employment")
        with Session(engine) as s:
            return [r.contract_id for r in outcome_price_rows(
                session=s, filters=PriceFilter(**kwargs), sort=sort, descending=descending)]

    assert ids(country="SE") == ["se-a", "se-b", "se-c", "se-e"]
    assert ids(year_from=2018, year_to=2020) == ["se-b", "se-c", "fi-d"]
    assert ids(sector="health") == []
    assert ids(sort="year") == ["se-a", "nl-f", "se-b", "se-c", "fi-d", "se-e"]
    assert ids(sort="price", descending=True) == ["se-e", "fi-d", "se-c", "se-b", "se-a", "nl-f"]
    assert ids(sort="paid") == ["nl-f", "se-a", "fi-d", "se-c", "se-b", "se-e"]
    assert ids(category="wellbeing") == []  # unpriced metrics only when asked for
    assert len(ids(category="wellbeing", priced_only=False)) == 6


def test_seed_precedents(seeded: list[str], engine: Engine) -> None:
    with Session(engine) as s:
        reoffending = outcome_price_rows(session=s, filters=PriceFilter(category="reoffending"))
        school = outcome_price_rows(session=s, filters=PriceFilter(category="school_attainment"))
    assert [(r.contract_id, r.metric_id, r.price.amount, r.price.currency) for r in reoffending if r.price] == [
        ("uk-peterborough-2010", "events_avoided", Decimal(22000), "GBP")]
    assert sorted((r.metric_id, r.price.amount) for r in school if r.price) == [
        ("kindergarten_ready", Decimal(2900)), ("special_ed_years_avoided", Decimal(9100)),
        ("third_grade_reading", Decimal(750))]


# --- the page, the downloads, the API ------------------------------------------------------------------------


def test_page_in_swedish_and_english(client: FlaskClient, precedents: list[str]) -> None:
    sv = client.get("/outcome-prices?category=employment&country=SE&currency=orig&lang=sv").get_data(as_text=True)
    assert "<h1>Utfallspriser</h1>" in sv and "Nedre kvartil" in sv and "Personer i arbete" in sv
    assert 'data-median="52000"' not in sv  # four Swedish SEK prices: 30, 45, 52, 90 thousand
    assert 'data-median="48500"' in sv and "48\xa0500\xa0kr" in sv
    assert sv.count('data-metric="jobs"') == 4 and 'data-contract="fi-d"' not in sv
    assert "betalade ut" in sv and "betalade inte ut" in sv
    en = client.get("/outcome-prices?category=employment&lang=en&sort=price&dir=desc&currency=orig")
    en = en.get_data(as_text=True)
    assert "<h1>Outcome prices</h1>" in en and "Entry into employment" in en and "SEK\xa090,000" in en
    assert en.index('data-contract="se-e"') < en.index('data-contract="se-a"')
    assert 'href="/outcome-prices"' in client.get("/contracts?lang=en").get_data(as_text=True)  # in the navigation


def test_page_drops_unknown_values(client: FlaskClient, precedents: list[str]) -> None:
    response = client.get("/outcome-prices?category=nope&country=XYZ&year_from=abc&sort=x&sector=y&currency=QQQ"
                          "&price_year=1&lang=en")
    assert response.status_code == 200 and response.get_data(as_text=True).count('data-metric="jobs"') == 6


def test_downloads(client: FlaskClient, precedents: list[str]) -> None:
    csv_sv = client.get("/outcome-prices.csv?category=employment&currency=orig&lang=sv")
    assert csv_sv.mimetype == "text/csv"
    frame = pd.read_csv(io.BytesIO(csv_sv.data), sep=";", decimal=",", encoding="utf-8-sig")
    assert list(frame["contract_id"]) == ["nl-f", "se-a", "se-b", "se-c", "fi-d", "se-e"]
    assert list(frame["price"]) == [2500, 30000, 45000, 52000, 61000, 90000]
    assert set(frame["paid_out"]) == {"yes", "no", "partly", "unknown"}
    assert frame.loc[0, "metric"] == "Personer i arbete" and frame.loc[0, "outcome_category"] == "employment"
    xlsx = client.get("/outcome-prices.xlsx?category=employment&country=SE&currency=orig&lang=en")
    sheet = pd.read_excel(io.BytesIO(xlsx.data), sheet_name="outcome prices")
    assert list(sheet["price"]) == [30000, 45000, 52000, 90000] and sheet.loc[0, "metric"] == "Entry into employment"


def test_api(client: FlaskClient, precedents: list[str]) -> None:
    body = client.get("/api/v1/outcome-prices?category=employment&country=se").get_json()
    assert body["total"] == 4 and [i["contract_id"] for i in body["items"]] == ["se-a", "se-b", "se-c", "se-e"]
    (summary,) = body["summaries"]
    assert (summary["currency"], summary["median"], summary["prices"]) == ("SEK", "48500", 4)
    item = body["items"][0]
    assert item["price"]["amount"] == "30000" and item["price"]["parameter"] == "price_per_job"
    assert item["paid_out"]["status"] == "yes" and item["targets"] == ["120"]
    assert client.get("/api/v1/outcome-prices?category=wellbeing&include_unpriced=true").get_json()["total"] == 6
    wrong = client.get("/api/v1/outcome-prices?category=nope")
    assert wrong.status_code == 422 and wrong.get_json()["field"] == "category"
    cats = {c["id"]: c for c in client.get("/api/v1/outcome-categories").get_json()["items"]}
    assert (cats["employment"]["metrics"], cats["employment"]["priced"]) == (6, 6)
    assert cats["reoffending"]["label"] == {"en": "Reoffending", "sv": "Återfall i brott"}
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/outcome-prices" in paths and "/api/v1/outcome-categories" in paths


# --- constant money -------------------------------------------------------------------------------------------

REFERENCE = Path(__file__).resolve().parents[2] / "registry" / "reference_data"


def _shipped(name: str, value: str) -> dict[tuple[str, int], Decimal]:
    with open(REFERENCE / name, encoding="utf-8", newline="") as fh:
        return {(r["currency"], int(r["year"])): Decimal(r[value]) for r in csv.DictReader(fh)}


def test_prices_in_constant_kronor_recomputed_from_the_shipped_tables(precedents: list[str], engine: Engine,
                                                                     add_contract: Callable[..., str]) -> None:
    """Each price: the exchange rate of its start year (SEK per EUR from the ECB table), then Swedish consumer
    prices from that year to 2024; recomputed here from the shipped CSV files, not through the converter."""
    add_contract(priced("xof-g", "SN", 2019, "1000000", "XOF", None))  # no reference rate for the CFA franc
    undated = priced("se-h", "SE", 2019, "40000", "SEK", None)
    undated["dates"] = {}
    add_contract(undated)
    fx, cpi = _shipped("fx_annual.csv", "per_eur"), _shipped("cpi_annual.csv", "index")
    with Session(engine) as s:
        rows = outcome_price_rows(session=s, filters=PriceFilter(category="employment"),
                                  rates=load_rate_table(session=s), to_currency="SEK", price_year=2024)
    by_id = {r.contract_id: r for r in rows}
    for cid, _country, year, price, currency, _repayment in PRECEDENTS:
        rate = fx[("SEK", year)] / (fx[(currency, year)] if currency != "EUR" else Decimal(1))
        expected = Decimal(price) * (rate if currency != "SEK" else 1) * cpi[("SEK", 2024)] / cpi[("SEK", year)]
        conversion = by_id[cid].conversion
        assert conversion is not None and abs(conversion.value - expected) <= Decimal("0.01"), (cid, expected)
        assert [st.kind for st in conversion.steps] == (["fx", "cpi"] if currency != "SEK" else ["cpi"])
        assert all(st.source for st in conversion.steps)
    assert (by_id["xof-g"].conversion, by_id["xof-g"].conversion_error) == (None, "no_rate")
    assert (by_id["se-h"].conversion, by_id["se-h"].conversion_error) == (None, "no_start_year")
    (summary,) = price_summaries(rows)  # one currency; the two unconverted prices are left out
    assert (summary.currency, summary.n) == ("SEK", 6)
    assert summary.median == statistics.median(sorted(r.conversion.value for r in rows if r.conversion))


def test_page_in_todays_kronor_by_default_for_swedish_readers(client: FlaskClient, precedents: list[str]) -> None:
    """The question: what have others paid per person moved into work, in today's kronor, and how often did it
    pay out."""
    page = client.get("/outcome-prices?lang=sv").get_data(as_text=True)
    assert 'id="currency"' in page and '<option value="SEK" selected>' in page
    assert "Omräknat till SEK i 2024 års priser" in page
    assert "SEK per EUR, medelkurs 2017" in page and "konsumentpriser i SEK, 2024 mot 2017" in page
    assert "Källa: ECB euro foreign exchange reference rates" in page
    assert "angivet: 2\xa0500\xa0€ (2017)" in page or "angivet: 2\xa0500\xa0EUR (2017)" in page
    assert "75\xa0% av kontrakten med känt resultat betalade ut" in page
    english = client.get("/outcome-prices?lang=en&currency=EUR&price_year=2020").get_data(as_text=True)
    assert "Converted to EUR at 2020 prices" in english and "EUR per SEK, mean of 2016" in english


def test_api_converts(client: FlaskClient, precedents: list[str]) -> None:
    body = client.get("/api/v1/outcome-prices?category=employment&currency=sek&price_year=2024").get_json()
    (summary,) = body["summaries"]
    assert summary["currency"] == "SEK" and summary["prices"] == 6
    item = next(i for i in body["items"] if i["contract_id"] == "nl-f")
    assert item["converted"]["currency"] == "SEK" and item["converted"]["price_year"] == 2024
    assert [s["kind"] for s in item["converted"]["steps"]] == ["fx", "cpi"]
    assert item["converted"]["steps"][0]["points"][0]["currency"] == "SEK"
    wrong = client.get("/api/v1/outcome-prices?currency=QQQ")
    assert wrong.status_code == 422 and wrong.get_json()["field"] == "currency"


def test_paid_out_follows_published_investor_results() -> None:
    """The registry's one repayment class (``registry.market.repayment_of``): results published in the realised
    history settle it before any statement."""
    results = [{"investor": "x", "capital_drawn": {"amount": "100", "currency": "SEK"},
                "repaid": {"amount": "60", "currency": "SEK"}}]
    doc = {"finance": {"currency": "SEK", "investor_repayment": "Repaid in full"},
           "history": {"investor_results": results}}
    assert (paid_outcome(doc).status, paid_outcome(doc).basis) == ("partly", "repayment")
