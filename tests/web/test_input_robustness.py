"""Regression tests for the 5xx the fuzzing found (tests/web/test_api_fuzz.py, test_pages_fuzz.py): each input
once gave a 500 (or ran without end); now it is a 4xx, or a page that ignores what it cannot use.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from registry.models import User
from tests.web.conftest import PASSWORD
from web.guards import MAX_ID, unstorable_path


def basic(username: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()}


def api_error(response: object, status: int, field: str | None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert body["message"] and body["field"] == field, body


# --- ids past the databases' integer types (SQLite: OverflowError; PostgreSQL: integer out of range) ---------


@pytest.mark.parametrize("number", [MAX_ID + 1, 2**63, 10**30])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_api_portfolio_ids_past_the_integer_range_are_404(client: FlaskClient, make_user: Callable[..., User],
                                                           number: int, method: str) -> None:
    make_user("owner")
    response = client.open(f"/api/v1/portfolios/{number}", method=method, json={}, headers=basic("owner"))
    # 404, not the 405 werkzeug gives when a converter refuses a path another method's rule could take.
    api_error(response, 404, None)
    api_error(client.get(f"/api/v1/simulations/{number}", headers=basic("owner")), 404, None)


def test_largest_id_still_reaches_the_view(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user("owner")
    api_error(client.get(f"/api/v1/portfolios/{MAX_ID}", headers=basic("owner")), 404, "portfolio_id")


@pytest.mark.parametrize("path", ["/portfolios/{}", "/portfolios/{}/rename", "/portfolios/runs/{}",
                                  "/portfolios/{}/report.pdf"])
def test_page_ids_past_the_integer_range_are_404(client: FlaskClient, login_as: Callable[..., User],
                                                 path: str) -> None:
    login_as("owner")
    method = "POST" if path.endswith("rename") else "GET"
    assert client.open(path.format(2**63), method=method).status_code == 404


def test_openapi_document_states_the_id_range(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    param = document["paths"]["/api/v1/portfolios/{portfolio_id}"]["get"]["parameters"][0]
    assert param["schema"] == {"type": "integer", "minimum": 0, "maximum": MAX_ID}


def test_api_offset_past_the_integer_range_is_422(client: FlaskClient) -> None:
    api_error(client.get(f"/api/v1/contracts?offset={10**20}"), 422, "offset")
    assert client.get(f"/api/v1/contracts?offset={MAX_ID}").get_json()["items"] == []


def test_registry_page_number_past_the_integer_range_shows_an_empty_page(client: FlaskClient,
                                                                         seeded: list[str]) -> None:
    for page in (10**18, 10**30):
        response = client.get(f"/contracts?page={page}")
        assert response.status_code == 200
        assert 'href="/contracts/' + seeded[0] + '"' not in response.get_data(as_text=True)


# --- NUL (PostgreSQL text cannot hold it) and lone surrogates (no UTF-8 for them) ------------------------


@pytest.mark.parametrize("query", ["q=a%00", "country=%00S", "sort=name&stage=%00"])
def test_nul_in_api_filters_is_422_naming_the_parameter(client: FlaskClient, seeded: list[str], query: str) -> None:
    name = next(part.split("=")[0] for part in query.split("&") if "%00" in part)
    api_error(client.get(f"/api/v1/contracts?{query}"), 422, name)


def test_nul_in_a_contract_id_is_404(client: FlaskClient, seeded: list[str]) -> None:
    api_error(client.get("/api/v1/contracts/se-norrkoping-2016%00"), 404, "contract_id")
    api_error(client.post("/api/v1/contracts/%00/payout", json={"outcomes": {}}), 404, "contract_id")
    for path in ("/contracts/a%00", "/contracts/a%00/factsheet.pdf"):
        assert client.get(path).status_code == 404


@pytest.mark.parametrize("url", ["/contracts?q=%00", "/contracts?country=%00", "/contracts.csv?q=x%00",
                                 "/compare?id=%00", "/compare?id=se-norrkoping-2016,%00"])
def test_nul_in_page_query_strings_is_400(client: FlaskClient, seeded: list[str], url: str) -> None:
    assert client.get(url).status_code == 400


def test_nul_in_json_bodies_is_422_naming_the_field(client: FlaskClient, make_user: Callable[..., User],
                                                    seeded: list[str]) -> None:
    make_user("owner")
    spec = {"base_currency": "SEK", "scenarios": 200, "holdings": [{"contract": "se-norrkoping-2016", "share": 1}]}
    api_error(client.post("/api/v1/portfolios", json={"name": "a\x00", "spec": spec}, headers=basic("owner")),
              422, "name")
    spec["holdings"][0]["contract"] = "se-norrkoping-2016\x00"
    api_error(client.post("/api/v1/simulations", json=spec), 422, "holdings[0].contract")
    api_error(client.post("/api/v1/contracts/se-norrkoping-2016/payout", json={"outcomes": {"x\x00": 1}}),
              422, "outcomes")


def test_lone_surrogate_in_json_is_422(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user("owner")
    raw = '{"name": "\\ud800", "spec": {"holdings": []}}'
    response = client.post("/api/v1/portfolios", data=raw, content_type="application/json", headers=basic("owner"))
    api_error(response, 422, "name")


def test_nul_in_form_posts_is_400(client: FlaskClient, login_as: Callable[..., User]) -> None:
    login_as("owner")
    assert client.post("/portfolios", data={"name": "a\x00", "h-0-contract": "x", "h-0-share": "1"}).status_code == 400
    assert client.post("/login", data={"username": "\x00", "password": "x"}).status_code == 400


def test_unstorable_path_names_the_first_bad_field() -> None:
    assert unstorable_path({"a": [{"b": "ok"}, {"b": "x\x00"}]}) == "a[1].b"
    assert unstorable_path(["ok", {"k": 1}]) is None
    assert unstorable_path("\ud800") == ""
    assert unstorable_path({"outcomes": {"bad\x00key": 1}}) == "outcomes"


# --- the API's repeated query parameters (the second value was silently dropped) ---------------------------


def test_api_repeated_parameter_with_different_values_is_422(client: FlaskClient, seeded: list[str]) -> None:
    api_error(client.get("/api/v1/contracts?origin=indigo&origin=curated"), 422, "origin")
    # A repeated equal value is fine.
    curated = client.get("/api/v1/contracts?origin=curated&origin=curated")
    assert curated.status_code == 200 and curated.get_json()["items"]


@pytest.mark.parametrize("query", ["year_to=", "country=", "limit=", "origin=", "desc="])
def test_api_empty_typed_parameter_is_422_as_documented(client: FlaskClient, seeded: list[str], query: str) -> None:
    # The OpenAPI document types these (an integer, two letters, a choice): an empty value is not one of them.
    api_error(client.get(f"/api/v1/contracts?{query}"), 422, query.rstrip("="))


def test_api_empty_text_search_matches_everything(client: FlaskClient, seeded: list[str]) -> None:
    assert client.get("/api/v1/contracts?q=").get_json()["total"] == len(seeded)


# --- form fields the views read as numbers ------------------------------------------------------------------


@pytest.mark.parametrize("row", ["²", "𝟙", "9" * 5000])
def test_portfolio_builder_row_numbers_that_are_no_ascii_number_are_ignored(
        client: FlaskClient, login_as: Callable[..., User], seeded: list[str], row: str) -> None:
    login_as("owner")
    response = client.post("/portfolios", data={"name": "P", f"h-{row}-contract": "se-norrkoping-2016",
                                                f"h-{row}-share": "50"})
    assert response.status_code == 422  # no holding was read, which the form says
    assert client.post("/portfolios", data={"name": "P", "h-0-contract": "se-norrkoping-2016", "h-0-share": "50",
                                            f"h-{row}-share": "50", "scenarios": "100"}).status_code == 302


@pytest.mark.parametrize("count", ["9" * 30, "-5", "1e9"])
def test_curation_form_row_counts_are_clamped(client: FlaskClient, login_as: Callable[..., User],
                                              seeded: list[str], count: str) -> None:
    """A huge hidden row count rendered the form with that many rows: a request that never ended."""
    login_as("curator", role="curator")
    for path in ("/contracts/new", "/contracts/se-norrkoping-2016/edit"):
        response = client.post(path, data={"rows.organisations": count, "rows.parties": count,
                                           "rows.sources": count, "stage": "nonsense"})
        assert response.status_code == 422
        assert response.get_data(as_text=True).count('name="organisations[') <= 500 * 10


@pytest.mark.parametrize("raw_id", ["\U0001d7d9", "\u0661", "\uff11"])  # mathematical, Arabic-Indic, full-width one
def test_ids_in_other_scripts_digits_are_not_ids(client: FlaskClient, login_as: Callable[..., User],
                                                 seeded: list[str], raw_id: str) -> None:
    from registry.models import Portfolio
    from web.extensions import session as db_session

    owner = login_as("owner")
    with client.application.app_context():
        s = db_session()
        portfolio = Portfolio(owner_id=owner.id or 0, name="Mine", spec={})
        s.add(portfolio)
        s.commit()
        assert portfolio.id == 1
    auth = basic(owner.username)
    assert client.delete(f"/api/v1/portfolios/{raw_id}", headers=auth).status_code == 404
    assert client.get(f"/portfolios/{raw_id}").status_code == 404
    assert client.get("/api/v1/portfolios/1", headers=auth).status_code == 200  # still there
