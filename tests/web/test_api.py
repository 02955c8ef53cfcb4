"""The JSON API: contracts, payout, market, simulations, portfolios (owner only), errors, OpenAPI."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry.market import REPAYMENT_CLASSES, repayment_of
from registry.models import Contract, Portfolio, SimulationRun, User
from tests.web.conftest import PASSWORD, login, sample_document
from web.runs import runs

NORRKOPING = "se-norrkoping-2016"
HIB = "se-region-stockholm-hib-2020"
RIKERS = "us-nyc-rikers-2012"


def basic(username: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def spec(**overrides: Any) -> dict[str, Any]:
    """A three-contract portfolio in the portfolio-file schema (SEK, Rikers converted at a stated rate)."""
    data: dict[str, Any] = {
        "name": "API test",
        "base_currency": "SEK",
        "fx": {"USD": 10.5},
        "scenarios": 2000,
        "seed": 7,
        "copula": {"family": "t", "df": 5},
        "holdings": [
            {"contract": NORRKOPING, "amount": 5_000_000},
            {"contract": HIB, "amount": 10_000_000},
            {"contract": RIKERS, "share": 0.5},
        ],
    }
    data.update(overrides)
    return data


def assert_error(response: Any, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert isinstance(body["message"], str) and body["message"]
    assert body["field"] == field, body
    return body


# --- contracts ---------------------------------------------------------------------------------------


def test_contract_list_filters_sorts_and_pages(client: FlaskClient, seeded: list[str]) -> None:
    everything = client.get("/api/v1/contracts?limit=500").get_json()
    assert everything["total"] == len(seeded)
    assert {c["id"] for c in everything["items"]} == set(seeded)

    swedish = client.get("/api/v1/contracts?country=SE&limit=500").get_json()
    assert swedish["items"] and all(c["country"] == "SE" for c in swedish["items"])
    assert swedish["total"] == sum(1 for cid in seeded if cid.startswith("se-"))

    found = client.get("/api/v1/contracts?q=norrk%C3%B6ping").get_json()
    assert [c["id"] for c in found["items"]] == [NORRKOPING]
    assert found["items"][0]["links"]["self"] == f"/api/v1/contracts/{NORRKOPING}"

    page = client.get("/api/v1/contracts?limit=2&offset=1&sort=id").get_json()
    assert [c["id"] for c in page["items"]] == sorted(seeded)[1:3]
    assert page["total"] == len(seeded) and page["limit"] == 2 and page["offset"] == 1

    newest_first = client.get("/api/v1/contracts?sort=year&desc=true&limit=500").get_json()["items"]
    years = [c["start_year"] for c in newest_first if c["start_year"] is not None]
    assert years == sorted(years, reverse=True)


def test_contract_list_filters_by_the_market_statistics_repayment_classes(
        client: FlaskClient, seeded: list[str], engine: Engine) -> None:
    with Session(engine) as s:
        documents = s.exec(select(Contract.id, Contract.document)).all()
    for cls in REPAYMENT_CLASSES:
        expected = {cid for cid, doc in documents if repayment_of(doc).cls == cls}
        found = client.get(f"/api/v1/contracts?result={cls}&limit=500").get_json()
        assert {c["id"] for c in found["items"]} == expected and found["total"] == len(expected)


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=many", "limit"), ("sort=colour", "sort"), ("country=Sweden", "country"),
     ("result=great", "result"), ("bogus=1", "bogus"), ("year_from=12", "year_from")],
)
def test_contract_list_rejects_bad_parameters(client: FlaskClient, query: str, field: str) -> None:
    assert_error(client.get(f"/api/v1/contracts?{query}"), 422, field)


def test_contract_detail(client: FlaskClient, seeded: list[str]) -> None:
    body = client.get(f"/api/v1/contracts/{NORRKOPING}").get_json()
    assert body["id"] == NORRKOPING
    assert body["document"]["schema"] == "utfall-contract/1"
    assert body["document"]["classification"]["country"] == "SE"
    assert set(body["outcome_names"]) == {"delivered", "savings", "school_improved"}
    assert body["currency"] == "SEK" and body["capital_committed"] == 10_000_000


def test_unknown_contract_is_a_json_404(client: FlaskClient, seeded: list[str]) -> None:
    assert_error(client.get("/api/v1/contracts/no-such-contract"), 404, "contract_id")
    assert_error(client.post("/api/v1/contracts/no-such-contract/payout", json={"outcomes": {}}), 404, "contract_id")


# --- payout ------------------------------------------------------------------------------------------


def test_payout_is_exact(client: FlaskClient, seeded: list[str]) -> None:
    outcomes = {"delivered": True, "savings": 4_000_000, "school_improved": False}
    response = client.post(f"/api/v1/contracts/{NORRKOPING}/payout", json={"outcomes": outcomes})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    # 40 % guarantee of C = 10 m, plus 60 % of the 4 m saved; no premium below break-even.
    assert body["investor_capital"] == "10000000.00"
    assert body["investor_repayment"] == "6400000.00"
    assert {p["id"]: p["amount"] for p in body["payments"]} == {
        "activity_guarantee": "4000000.00", "savings_share": "2400000.00", "premium": "0.00"}
    assert body["multiple"] == pytest.approx(0.64)


@pytest.mark.parametrize(
    ("outcomes", "status", "field"),
    [
        ({"delivered": True, "savings": 4e6}, 422, "outcomes.school_improved"),
        ({"delivered": True, "savings": 4e6, "school_improved": False, "weather": 1}, 422, "outcomes.weather"),
        ({"delivered": 3, "savings": 4e6, "school_improved": False}, 422, "outcomes.delivered"),
        ({"delivered": True, "savings": "a lot", "school_improved": False}, 422, "outcomes.savings.bool"),
    ],
)
def test_payout_names_the_outcome_at_fault(client: FlaskClient, seeded: list[str], outcomes: dict[str, Any],
                                          status: int, field: str) -> None:
    response = client.post(f"/api/v1/contracts/{NORRKOPING}/payout", json={"outcomes": outcomes})
    body = assert_error(response, status, field)
    assert any(e["field"] == field for e in body["errors"])


def test_payout_takes_per_period_outcomes(client: FlaskClient, seeded: list[str]) -> None:
    # NSW Newpin's restoration rate is recorded per year ('year 1' to 'year 7'); a missing year is named
    rates = {f"restoration_rate[year {y}]": 0.62 for y in range(1, 8)}
    response = client.post("/api/v1/contracts/au-newpin-2013/payout", json={"outcomes": rates})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert {p["id"]: p["amount"] for p in body["payments"]}["interest[year 4]"] == "525000.00"
    assert body["outcomes"]["restoration_rate[year 1]"] == 0.62
    del rates["restoration_rate[year 7]"]
    body = assert_error(client.post("/api/v1/contracts/au-newpin-2013/payout", json={"outcomes": rates}), 422,
                        "outcomes")
    assert "missing period(s) year 7" in body["message"]


def test_payout_body_must_be_json(client: FlaskClient, seeded: list[str]) -> None:
    url = f"/api/v1/contracts/{NORRKOPING}/payout"
    assert_error(client.post(url, data={"outcomes": "x"}), 415, "body")
    assert_error(client.post(url, data="{not json", content_type="application/json"), 400, "body")
    assert_error(client.post(url, json={"outcome": {}}), 422, "outcomes")


def test_payout_of_a_contract_without_terms(client: FlaskClient, add_contract: Callable[..., str]) -> None:
    cid = add_contract(sample_document("no-terms"))
    assert_error(client.post(f"/api/v1/contracts/{cid}/payout", json={"outcomes": {}}), 422, "contract_id")


def test_api_accepts_json_without_csrf_token(csrf_client: FlaskClient, seeded: list[str]) -> None:
    outcomes = {"delivered": False, "savings": 0, "school_improved": False}
    response = csrf_client.post(f"/api/v1/contracts/{NORRKOPING}/payout", json={"outcomes": outcomes})
    assert response.status_code == 200
    assert response.get_json()["investor_repayment"] == "0.00"


# --- errors are JSON everywhere under /api/ -------------------------------------------------------------


def test_unknown_routes_and_methods_are_json(client: FlaskClient) -> None:
    assert_error(client.get("/api/v1/no-such-thing"), 404, None)
    response = client.delete("/api/v1/contracts")
    assert_error(response, 405, None)
    assert "GET" in response.headers["Allow"]


def test_market_statistics(client: FlaskClient, seeded: list[str]) -> None:
    body = client.get("/api/v1/market").get_json()
    assert body["totals"]["contracts"] == len(seeded)
    assert sum(v["contracts"] for v in body["by_country"].values()) == len(seeded)
    assert body["by_country"]["SE"]["contracts"] == sum(1 for cid in seeded if cid.startswith("se-"))


# --- simulations ---------------------------------------------------------------------------------------


def test_small_simulation_answers_at_once(client: FlaskClient, seeded: list[str]) -> None:
    response = client.post("/api/v1/simulations", json=spec())
    assert response.status_code == 200, response.get_data(as_text=True)[:800]
    result = response.get_json()["result"]
    capital = 5_000_000 + 10_000_000 + 0.5 * 9_600_000 * 10.5
    assert result["summary"]["capital"]["estimate"] == pytest.approx(capital)
    assert {c["holding"] for c in result["contracts"]} == {NORRKOPING, HIB, RIKERS}
    assert sum(result["distributions"]["multiple"]["counts"]) == 2000
    payers = {(e["organisation"], e["role"]) for e in result["exposures"]}
    assert ("norrkopings-kommun", "outcome_payer") in payers
    # the Euler contributions add up to the portfolio's expected shortfall
    es99 = sum(c["es99_contribution"] for c in result["contracts"])
    assert es99 == pytest.approx(result["summary"]["es99"]["estimate"], rel=1e-6)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"holdings": [{"contract": "no-such-contract", "share": 1}]}, "holdings[0].contract"),
        ({"holdings": [{"contract": NORRKOPING, "amount": -5}]}, "holdings[0].amount"),
        ({"holdings": [{"contract": NORRKOPING, "amount": 5, "share": 0.5}]}, "holdings[0]"),
        ({"holdings": []}, "holdings"),
        ({"base_currency": "kronor"}, "base_currency"),
        ({"copula": {"family": "clayton"}}, "copula.family"),
        ({"fx": {"USD": -1}}, "fx"),
        ({"scenarios": 50_000_000}, "scenarios"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_simulation_validation_names_the_field(client: FlaskClient, seeded: list[str], changes: dict[str, Any],
                                               field: str) -> None:
    assert_error(client.post("/api/v1/simulations", json=spec(**changes)), 422, field)


def test_large_simulation_runs_in_the_background(app: Flask, client: FlaskClient, seeded: list[str],
                                                 make_user: Callable[..., User]) -> None:
    app.config["UTFALL_SYNC_SCENARIOS"] = 1000
    assert_error(client.post("/api/v1/simulations", json=spec()), 401, "scenarios")

    make_user("investor1")
    make_user("investor2")
    response = client.post("/api/v1/simulations", json=spec(), headers=basic("investor1"))
    assert response.status_code == 202, response.get_data(as_text=True)[:500]
    status_url = response.headers["Location"]
    assert response.get_json()["links"]["self"] == status_url
    assert runs(app).wait(120)

    done = client.get(status_url, headers=basic("investor1")).get_json()
    assert done["status"] == "done" and done["progress"] == 1.0
    assert done["result"]["settings"]["scenarios"] == 2000
    assert_error(client.get(status_url, headers=basic("investor2")), 404, "run_id")
    assert_error(client.get(status_url), 401, None)


# --- portfolios ----------------------------------------------------------------------------------------


def test_portfolio_lifecycle_and_privacy(app: Flask, client: FlaskClient, seeded: list[str],
                                         make_user: Callable[..., User]) -> None:
    make_user("owner")
    make_user("other")
    owner, other = basic("owner"), basic("other")

    assert_error(client.get("/api/v1/portfolios"), 401, None)
    created = client.post("/api/v1/portfolios", json={"name": "Nordic", "spec": spec()}, headers=owner)
    assert created.status_code == 201, created.get_data(as_text=True)[:500]
    url = created.headers["Location"]
    pid = created.get_json()["id"]
    stored_holding = created.get_json()["spec"]["holdings"][2]
    assert stored_holding["contract"] == RIKERS and stored_holding["share"] == 0.5 and "amount" not in stored_holding

    assert [p["id"] for p in client.get("/api/v1/portfolios", headers=owner).get_json()["items"]] == [pid]
    assert client.get("/api/v1/portfolios", headers=other).get_json()["items"] == []
    assert client.get(url, headers=owner).get_json()["name"] == "Nordic"

    # Nobody else learns that it exists: 404, logged in or not, for every operation.
    for headers in (other, {}):
        assert_error(client.get(url, headers=headers), 404, "portfolio_id")
        assert_error(client.patch(url, json={"name": "Mine now"}, headers=headers), 404, "portfolio_id")
        assert_error(client.post(f"{url}/runs", json={}, headers=headers), 404, "portfolio_id")
        assert_error(client.delete(url, headers=headers), 404, "portfolio_id")

    renamed = client.patch(url, json={"name": "Nordic and US"}, headers=owner)
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "Nordic and US"
    assert_error(client.patch(url, json={"name": ""}, headers=owner), 422, "name")
    assert_error(client.patch(url, json={"spec": spec(holdings=[{"contract": "nope", "share": 1}])}, headers=owner),
                 422, "spec.holdings[0].contract")

    started = client.post(f"{url}/runs", json={}, headers=owner)
    assert started.status_code == 202
    assert runs(app).wait(120)
    run = client.get(started.headers["Location"], headers=owner).get_json()
    assert run["status"] == "done", run
    stored = client.get(url, headers=owner).get_json()
    assert stored["result"]["summary"] == run["result"]["summary"]
    assert stored["result_computed_at"] is not None

    # A new specification makes the old result stale: it is cleared.
    changed = client.patch(url, json={"spec": spec(seed=8)}, headers=owner).get_json()
    assert changed["result"] is None and changed["spec"]["seed"] == 8

    assert client.delete(url, headers=owner).status_code == 204
    assert_error(client.get(url, headers=owner), 404, "portfolio_id")


def test_portfolio_api_with_the_session_cookie(client: FlaskClient, seeded: list[str],
                                               login_as: Callable[..., User], engine: Engine) -> None:
    user = login_as("cookie-user")
    response = client.post("/api/v1/portfolios", json={"name": "From the browser", "spec": spec()})
    assert response.status_code == 201
    with Session(engine) as s:
        row = s.get(Portfolio, response.get_json()["id"])
        assert row is not None and row.owner_id == user.id


def test_running_a_portfolio_needs_a_json_body(client: FlaskClient, seeded: list[str],
                                               login_as: Callable[..., User], engine: Engine) -> None:
    login_as("form-poster")
    pid = client.post("/api/v1/portfolios", json={"name": "P", "spec": spec()}).get_json()["id"]
    # A cross-site form can post only form data; the API refuses it, so no CSRF token is needed.
    assert_error(client.post(f"/api/v1/portfolios/{pid}/runs", data={}), 415, "body")
    with Session(engine) as s:
        assert s.exec(select(SimulationRun)).all() == []


# --- the OpenAPI document and the docs ------------------------------------------------------------------


def test_openapi_document_is_valid_and_complete(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.docs":
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<int:{arg}>", f"{{{arg}}}").replace(f"<{arg}>", f"{{{arg}}}")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served
    payout = document["paths"]["/api/v1/contracts/{contract_id}/payout"]["post"]
    assert set(payout["responses"]) >= {"200", "404", "415", "422"}
    assert payout["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PayoutRequest"}
    assert "PortfolioFile" in document["components"]["schemas"]


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_docs_page_lists_every_endpoint(client: FlaskClient, lang: str) -> None:
    response = client.get(f"/api/v1/docs?lang={lang}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    document = client.get("/api/v1/openapi.json").get_json()
    for path in document["paths"]:
        assert path in html
    assert 'id="schema-PortfolioFile"' in html
    assert "<script src=\"http" not in html  # no CDN


def test_login_then_portfolio_list_via_form_login(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user("formlogin")
    login(client, "formlogin")
    assert client.get("/api/v1/portfolios").get_json() == {"items": []}


@pytest.mark.parametrize("path", ["/api/v1", "/api/v1/"])
def test_api_root_answers_with_an_index_of_its_resources(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    body = response.get_json()
    document = client.get(body["openapi"]).get_json()
    listed = {(r["method"], r["path"]) for r in body["resources"]}
    documented = {(method.upper(), p) for p, item in document["paths"].items() for method in item}
    assert listed == documented
    assert ("GET", "/api/v1/contracts/{contract_id}") in listed
    contracts = next(r for r in body["resources"] if r["path"] == "/api/v1/contracts" and r["method"] == "GET")
    assert contracts["href"] == "/api/v1/contracts"
    assert client.get(contracts["href"]).status_code == 200
    detail = next(r for r in body["resources"] if r["path"] == "/api/v1/contracts/{contract_id}")
    assert detail["href"] is None
    assert client.get(body["docs"]).status_code == 200
