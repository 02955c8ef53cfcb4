"""``/api/v1/reference-rates``: the rows in force with their sources, and conversions with every step."""

from __future__ import annotations

from decimal import Decimal

from flask.testing import FlaskClient
from sqlmodel import Session

from registry.reference_rates import RatePoint, store_overrides


def test_rates_are_listed_with_their_sources(client: FlaskClient) -> None:
    body = client.get("/api/v1/reference-rates?currency=sek&year=2020").get_json()
    tables = {row["table"]: row for row in body["items"]}
    assert set(tables) == {"fx", "cpi"}
    fx = tables["fx"]
    assert fx["currency"] == "SEK" and Decimal(fx["value"]) > 0 and fx["detail"]["last_date"].startswith("2020-12")
    assert fx["source_url"].startswith("https://www.ecb.europa.eu/") and not fx["overridden"]
    assert "World Bank" in tables["cpi"]["source"]
    assert {"EUR", "SEK", "USD"} <= set(body["currencies"]) and "SEK" in body["currencies_with_index"]
    only_index = client.get("/api/v1/reference-rates?table=cpi&currency=USD").get_json()["items"]
    assert {r["table"] for r in only_index} == {"cpi"} and len(only_index) > 100
    bad = client.get("/api/v1/reference-rates?currency=kronor")
    assert bad.status_code == 422 and bad.get_json()["field"] == "currency"


def test_conversion_with_steps_and_an_override(client: FlaskClient, session: Session) -> None:
    response = client.get("/api/v1/reference-rates/convert?amount=1000&currency=USD&year=2020&to=SEK"
                          "&price_year=2024")
    assert response.status_code == 200
    body = response.get_json()
    fx_step, cpi_step = body["steps"]
    assert (fx_step["kind"], cpi_step["kind"], body["adjusted"]) == ("fx", "cpi", True)
    assert (cpi_step["year"], cpi_step["to_year"]) == (2020, 2024)
    expected = Decimal(1000) * Decimal(fx_step["factor"]) * Decimal(cpi_step["factor"])
    assert Decimal(body["value"]) == expected.quantize(Decimal("0.01"))
    store_overrides("fx", [RatePoint("fx", "SEK", 2020, Decimal("10"), "Test bank", "https://bank.example/",
                                     "2026-12-01")], source="t.csv", session=session)
    session.commit()
    again = client.get("/api/v1/reference-rates/convert?amount=1&currency=EUR&year=2020&to=SEK").get_json()
    assert again["value"] == "10.00" and again["steps"][0]["points"][0]["overridden"]
    missing = client.get("/api/v1/reference-rates/convert?amount=1&currency=XOF&year=2020&to=SEK")
    assert missing.status_code == 404 and missing.get_json()["field"] == "currency"
    assert client.get("/api/v1/reference-rates/convert?amount=1e9&currency=SEK&year=2020&to=EUR").status_code == 422


def test_the_api_index_links_the_list_but_not_the_conversion(client: FlaskClient) -> None:
    resources = {r["path"]: r for r in client.get("/api/v1").get_json()["resources"]}
    assert resources["/api/v1/reference-rates"]["href"] == "/api/v1/reference-rates"
    assert resources["/api/v1/reference-rates/convert"]["href"] is None
