"""Property-based tests of the HTML pages: generated query strings and form posts never give a 5xx.

Hypothesis builds registry filters, compare selections, languages, contract ids with odd characters and
portfolio-builder forms (numbers as people might type them, and worse), and sends them to the app in-process
on the seeded test database (SQLite or PostgreSQL). The runs are bounded (``max_examples``, no deadline) and
deterministic (``derandomize``), so CI sees the same requests every time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.models import User
from tests.web.conftest import login
from web.runs import runs

# Fixtures are shared by every example of a test (the database is not emptied in between): fine here, the
# examples only read, or write portfolios of their own.
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Text that has broken (or could break) the app: NUL (PostgreSQL text cannot hold it), digits that are not
# ASCII (``int()`` reads some, ``str.isdigit`` accepts more), huge numbers, quoting, SQL LIKE wildcards.
NUL = st.sampled_from(["\x00", "a\x00"])
ODD = st.sampled_from(["", " ", "²", "١٢", "𝟙", "-1", "0", "1e309", "nan", "inf", "9" * 30,
                       "%", "_", "'", '"', "\\", "../", "<script>", "\u202e", "\ufffd", "SE", "se", "medium", "full",
                       "name", "capital", "desc", "en", "sv", "x" * 300])
# Text without NUL mostly: a form with a NUL anywhere is turned away before its other fields are read.
CLEAN_TEXT = st.one_of(ODD, st.text(st.characters(exclude_characters="\x00"), max_size=20))
TEXT = st.one_of(CLEAN_TEXT, CLEAN_TEXT, NUL)
REGISTRY_KEYS = ("q", "country", "sector", "stage", "payer_type", "size", "result", "sort", "dir", "page", "lang")
REGISTRY_ARGS = st.dictionaries(st.sampled_from(REGISTRY_KEYS), TEXT, max_size=6)


def _status(client: FlaskClient, method: str, url: str, **kwargs: Any) -> int:
    response = client.open(url, method=method, **kwargs)
    assert response.status_code < 500, (method, url, kwargs, response.get_data(as_text=True)[:300])
    return response.status_code


@given(args=REGISTRY_ARGS, download=st.sampled_from(["", ".csv", ".xlsx"]))
@FUZZ
def test_registry_filters(client: FlaskClient, seeded: list[str], args: dict[str, str], download: str) -> None:
    _status(client, "GET", f"/contracts{download}?{urlencode(args)}")


@given(ids=st.lists(st.one_of(TEXT, st.sampled_from(["se-norrkoping-2016", "fi-koto-sib-2017"])), max_size=6),
       joined=st.booleans(), lang=TEXT)
@FUZZ
def test_compare_selection(client: FlaskClient, seeded: list[str], ids: list[str], joined: bool, lang: str) -> None:
    query = urlencode({"id": ",".join(ids), "lang": lang}) if joined else urlencode(
        [("id", i) for i in ids] + [("lang", lang)])
    _status(client, "GET", f"/compare?{query}")


@given(contract_id=st.one_of(TEXT, st.sampled_from(["se-norrkoping-2016", "se-norrkoping-2016\x00"])),
       suffix=st.sampled_from(["", "/edit", "/yaml", "/factsheet.pdf"]), lang=TEXT)
@FUZZ
def test_contract_pages_with_odd_ids(client: FlaskClient, seeded: list[str], contract_id: str, suffix: str,
                                     lang: str) -> None:
    if suffix == "/factsheet.pdf" and contract_id in seeded:
        suffix = ""  # rendering a real PDF takes seconds and is tested elsewhere; odd ids must still 404
    _status(client, "GET", f"/contracts/{quote(contract_id, safe='')}{suffix}?{urlencode({'lang': lang})}")


@given(page=st.sampled_from(["/", "/login", "/api/v1/docs", "/portfolios/new", "/contracts/new"]), lang=TEXT,
       next_=TEXT)
@FUZZ
def test_language_and_next_on_any_page(client: FlaskClient, seeded: list[str], page: str, lang: str,
                                       next_: str) -> None:
    _status(client, "GET", f"{page}?{urlencode({'lang': lang, 'next': next_})}")


NUMBER = st.one_of(ODD, st.floats(allow_nan=True, allow_infinity=True).map(str),
                   st.integers(min_value=-(10**30), max_value=10**30).map(str), st.sampled_from(["9" * 5000, "1_0"]),
                   st.text(st.characters(exclude_characters="\x00"), max_size=12))
ROW_KEY = st.sampled_from(["0", "1", "2", "10", "²", "١", "𝟙", "x", "-1", "", "9" * 5000])


@st.composite
def builder_forms(draw: st.DrawFn) -> dict[str, str]:
    form: dict[str, str] = {"name": draw(CLEAN_TEXT)}
    for key in ("scenarios", "seed", "metric_correlation", "hurdle_rate", "df", "loading_global", "loading_country",
                "loading_payer", "loading_sector"):
        if draw(st.booleans()):
            form[key] = draw(NUMBER)
    form["base_currency"] = draw(st.sampled_from(["SEK", "USD", "", "sek", "XXX", "ß", "SEK\x00"]))
    form["copula"] = draw(st.sampled_from(["gaussian", "t", "", "clayton"]))
    for currency in draw(st.lists(st.sampled_from(["USD", "EUR", "", "sek", "²", "ß"]), max_size=2)):
        form[f"fx_{currency}"] = draw(NUMBER)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        row = draw(ROW_KEY)
        form[f"h-{row}-contract"] = draw(st.one_of(st.sampled_from(["se-norrkoping-2016", "fi-koto-sib-2017"]),
                                                   CLEAN_TEXT))
        form[f"h-{row}-amount"] = draw(NUMBER)
        form[f"h-{row}-share"] = draw(NUMBER)
    return form


@pytest.fixture
def investor(client: FlaskClient, make_user: Callable[..., User], app: Flask) -> Any:
    user = make_user("fuzzer", role="investor")
    login(client, "fuzzer")
    yield user
    assert runs(app).wait(120), "a simulation run did not finish"


@given(form=builder_forms(), target=st.sampled_from(["new", "existing", "rename"]))
@FUZZ
def test_portfolio_builder_forms(client: FlaskClient, seeded: list[str], investor: User, form: dict[str, str],
                                 target: str) -> None:
    if target == "new":
        _status(client, "POST", "/portfolios", data=form)
        return
    # The owner's portfolio to post changes to (created once, through the form with valid values).
    existing = client.post("/portfolios", data={"name": "Mine", "scenarios": "100", "h-0-share": "50",
                                                "h-0-contract": "se-norrkoping-2016"})
    assert existing.status_code == 302, existing.get_data(as_text=True)[:500]
    url = existing.headers["Location"]
    _status(client, "POST", url if target == "existing" else f"{url}/rename", data=form)


@given(form=st.dictionaries(st.sampled_from(["id", "identity.names.sv", "identity.names.en", "classification.country",
                                             "stage", "finance.currency", "finance.capital_committed.amount",
                                             "rows.organisations", "rows.parties", "rows.sources",
                                             "organisations[0].id", "parties[0].organisation", "parties[0].roles",
                                             "sources[0].id", "dates.signed", "content_hash", "document"]),
                            TEXT, max_size=8),
       path=st.sampled_from(["/contracts/new", "/contracts/new/yaml", "/contracts/se-norrkoping-2016/edit",
                             "/contracts/se-norrkoping-2016/yaml"]))
@FUZZ
def test_curation_forms(client: FlaskClient, seeded: list[str], login_as: Callable[..., User],
                        form: dict[str, str], path: str) -> None:
    if client.get("/contracts/new").status_code != 200:
        login_as("curator", role="curator")
    _status(client, "POST", path, data=form)


@given(username=TEXT, password=TEXT, next_=TEXT)
@FUZZ
def test_login_form(client: FlaskClient, username: str, password: str, next_: str) -> None:
    _status(client, "POST", "/login", data={"username": username, "password": password, "next": next_})
