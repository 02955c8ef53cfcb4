"""The tray (web/tray.py): contracts set aside for the comparison and for a portfolio, kept in the signed session
across requests, changed by POST forms with CSRF tokens; and the compare page (sections, highlighting, search).

The tray tests run with CSRF protection on, as in production: every post carries the token of a rendered page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from hypothesis import given
from hypothesis import strategies as st

from registry.indigo.merge import get_display_document
from registry.models import Contract, User
from tests.web.conftest import PASSWORD, sample_document
from tests.web.test_pages_fuzz import FUZZ, TEXT
from web.contract_view import compare_rows
from web.extensions import session as db_session
from web.tray import COMPARE_MAX, PORTFOLIO_MAX

NORRKOPING = "se-norrkoping-2016"
BOTKYRKA = "se-botkyrka-2018"
ORNSKOLDSVIK = "se-ornskoldsvik-2018"
PETERBOROUGH = "uk-peterborough-2010"
RIKERS = "us-nyc-rikers-2012"


def token(client: FlaskClient) -> str:
    page = client.get("/contracts?lang=en").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the registry page"
    return match.group(1)


def post(client: FlaskClient, kind: str, op: str, contract_id: str = "", next_url: str = "/contracts?lang=en",
         json: bool = False) -> Any:
    headers = {"Accept": "application/json"} if json else {}
    data = {"csrf_token": token(client), "op": op, "id": contract_id, "next": next_url}
    return client.post(f"/tray/{kind}", data=data, headers=headers)


def tray_bar(page: str) -> str:
    """The tray bar's markup in ``page``."""
    return page[page.index('<aside id="tray"'):page.index("</aside>")]


def held(client: FlaskClient) -> dict[str, list[str]]:
    """The ids the tray holds, read from the client's signed session cookie."""
    with client.session_transaction() as session:
        stored = dict(session.get("tray") or {})
    return {kind: list(stored.get(kind, [])) for kind in ("compare", "portfolio")}


class _Buttons(HTMLParser):
    """Every button with its enclosing elements, attributes and text (its accessible name here: the buttons
    have no aria-label, so the name is their text, visually hidden parts included)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.buttons: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "button":
            self.current = {"ancestors": list(self.stack), "attrs": dict(attrs), "text": ""}
        if tag not in ("input", "br", "meta", "link", "img"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self.current is not None:
            self.current["text"] = " ".join(self.current["text"].split())
            self.buttons.append(self.current)
            self.current = None
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.current is not None:
            self.current["text"] += data


def tray_buttons(html: str) -> list[dict[str, Any]]:
    parser = _Buttons()
    parser.feed(html)
    return [b for b in parser.buttons if "aria-pressed" in b["attrs"]]


# --- the tray -----------------------------------------------------------------------------------------------


def test_added_contracts_stay_in_the_tray_across_pages(csrf_client: FlaskClient, seeded: list[str]) -> None:
    response = post(csrf_client, "compare", "add", NORRKOPING, next_url="/contracts?q=x&lang=en")
    assert response.status_code == 303
    assert response.headers["Location"] == "/contracts?q=x&lang=en"
    post(csrf_client, "compare", "add", PETERBOROUGH)
    post(csrf_client, "portfolio", "add", RIKERS)
    assert held(csrf_client) == {"compare": [NORRKOPING, PETERBOROUGH], "portfolio": [RIKERS]}

    # Another page, later: the bar shows both lists by name, with their actions.
    bar = tray_bar(csrf_client.get(f"/contracts/{BOTKYRKA}?lang=en").get_data(as_text=True))
    assert "Norrköping" in bar and "Peterborough" in bar and "(ABLE)" in bar
    assert f'href="/compare?id={NORRKOPING},{PETERBOROUGH}"' in bar
    assert "Compare (2)" in bar and "Build a portfolio (1)" in bar
    assert f'href="/portfolios/new?add={RIKERS}"' in bar

    # Taken out again: gone from the bar, the other one stays.
    post(csrf_client, "compare", "remove", NORRKOPING)
    assert held(csrf_client)["compare"] == [PETERBOROUGH]
    assert "Norrköping" not in tray_bar(csrf_client.get("/?lang=en").get_data(as_text=True))
    post(csrf_client, "portfolio", "clear")
    post(csrf_client, "compare", "clear")
    assert held(csrf_client) == {"compare": [], "portfolio": []}
    assert re.search(r'<aside id="tray"[^>]*\shidden', csrf_client.get("/?lang=en").get_data(as_text=True))


def test_the_builder_link_holds_every_contract_in_order(csrf_client: FlaskClient, seeded: list[str]) -> None:
    for contract_id in (RIKERS, NORRKOPING, PETERBOROUGH):
        post(csrf_client, "portfolio", "add", contract_id)
    page = csrf_client.get("/contracts?lang=en").get_data(as_text=True)
    link = re.search(r'href="(/portfolios/new\?[^"]+)"', page)
    assert link
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query == {"add": [RIKERS, NORRKOPING, PETERBOROUGH]}


def test_the_tray_is_kept_across_login_and_logout(csrf_client: FlaskClient, seeded: list[str],
                                                  make_user: Callable[..., User]) -> None:
    make_user("ines")
    post(csrf_client, "portfolio", "add", RIKERS)
    login = csrf_client.post("/login", data={"csrf_token": token(csrf_client), "username": "ines",
                                             "password": PASSWORD, "next": f"/portfolios/new?add={RIKERS}"})
    assert login.status_code == 302
    with csrf_client.session_transaction() as session:
        assert session.get("user_id") and session["tray"] == {"portfolio": [RIKERS]}
    assert csrf_client.post("/logout", data={"csrf_token": token(csrf_client)}).status_code == 302
    with csrf_client.session_transaction() as session:
        assert "user_id" not in session and session["tray"] == {"portfolio": [RIKERS]}


def test_a_form_without_its_csrf_token_changes_nothing(csrf_client: FlaskClient, seeded: list[str]) -> None:
    response = csrf_client.post("/tray/compare", data={"op": "add", "id": NORRKOPING})
    assert response.status_code == 400
    assert held(csrf_client)["compare"] == []


def test_adding_twice_keeps_one(csrf_client: FlaskClient, seeded: list[str]) -> None:
    post(csrf_client, "compare", "add", NORRKOPING)
    post(csrf_client, "compare", "add", NORRKOPING)
    answer = post(csrf_client, "compare", "add", NORRKOPING, json=True).get_json()
    assert answer["ok"] and "already in the comparison" in answer["message"]
    assert held(csrf_client)["compare"] == [NORRKOPING]


def test_the_comparison_holds_at_most_compare_max(csrf_client: FlaskClient, seeded: list[str]) -> None:
    for contract_id in seeded[:COMPARE_MAX]:
        assert post(csrf_client, "compare", "add", contract_id).status_code == 303
    response = post(csrf_client, "compare", "add", seeded[COMPARE_MAX])
    assert response.status_code == 303  # back to the page, which says why
    page = csrf_client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"At most {COMPARE_MAX} contracts can be compared" in page
    assert held(csrf_client)["compare"] == seeded[:COMPARE_MAX]
    answer = post(csrf_client, "compare", "add", seeded[COMPARE_MAX], json=True)
    assert answer.status_code == 400 and not answer.get_json()["ok"]
    # The portfolio list is not limited by the comparison's size.
    post(csrf_client, "portfolio", "add", seeded[COMPARE_MAX])
    assert held(csrf_client)["portfolio"] == [seeded[COMPARE_MAX]]


def test_the_portfolio_selection_holds_at_most_portfolio_max(csrf_client: FlaskClient,
                                                             add_contract: Callable[..., str]) -> None:
    ids = [add_contract(sample_document(f"se-test-{i:03d}")) for i in range(PORTFOLIO_MAX + 1)]
    for contract_id in ids[:PORTFOLIO_MAX]:
        post(csrf_client, "portfolio", "add", contract_id)
    answer = post(csrf_client, "portfolio", "add", ids[-1], json=True)
    assert answer.status_code == 400
    assert f"at most {PORTFOLIO_MAX} contracts" in answer.get_json()["message"]
    assert held(csrf_client)["portfolio"] == ids[:PORTFOLIO_MAX]
    page = csrf_client.get("/?lang=en").get_data(as_text=True)
    assert f"Build a portfolio ({PORTFOLIO_MAX})" in page
    assert len(csrf_client.get_cookie("session").value) < 4000


@pytest.mark.parametrize("contract_id", ["no-such-contract", "", "x" * 500, "se-norrkoping-2016 OR 1=1"])
def test_an_unknown_contract_is_turned_away(csrf_client: FlaskClient, seeded: list[str], contract_id: str) -> None:
    answer = post(csrf_client, "compare", "add", contract_id, json=True)
    assert answer.status_code == 400
    message = answer.get_json()["message"]
    assert ("There is no contract" in message) if contract_id and len(contract_id) < 200 else ("no valid" in message)
    response = post(csrf_client, "portfolio", "add", contract_id)
    assert response.status_code == 303
    assert held(csrf_client) == {"compare": [], "portfolio": []}
    page = csrf_client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="flash flash-error"' in page


def test_an_unknown_operation_or_list_is_refused(csrf_client: FlaskClient, seeded: list[str]) -> None:
    answer = post(csrf_client, "compare", "toggle", NORRKOPING, json=True)
    assert answer.status_code == 400 and "Unknown tray operation" in answer.get_json()["message"]
    assert post(csrf_client, "favourites", "add", NORRKOPING).status_code == 404
    assert csrf_client.get("/tray/compare").status_code == 405
    assert held(csrf_client) == {"compare": [], "portfolio": []}


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                      "/\t/evil.example", "javascript:alert(1)", ""])
def test_the_way_back_stays_on_the_site(csrf_client: FlaskClient, seeded: list[str], next_url: str) -> None:
    response = post(csrf_client, "compare", "add", NORRKOPING, next_url=next_url)
    assert response.status_code == 303
    assert response.headers["Location"] == "/contracts"


def test_the_json_answer_carries_the_bar_and_the_ids(csrf_client: FlaskClient, seeded: list[str]) -> None:
    answer = post(csrf_client, "compare", "add", NORRKOPING, json=True)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["ok"] and body["compare"] == [NORRKOPING] and body["portfolio"] == []
    assert '<aside id="tray"' in body["html"]
    assert "Norrköping" in body["html"] and "Compare (1)" in body["html"]
    # Its forms come back to the page the change was posted from, should the script fall back to a plain post.
    assert 'name="next" value="/contracts?lang=en"' in body["html"]


def test_tray_forms_on_a_page_answering_a_post_come_back_to_the_registry(csrf_client: FlaskClient,
                                                                        seeded: list[str]) -> None:
    post(csrf_client, "compare", "add", NORRKOPING)
    page = csrf_client.post("/login?lang=en", data={"csrf_token": token(csrf_client), "username": "nobody",
                                                    "password": "wrong"}).get_data(as_text=True)
    bar = tray_bar(page)
    assert "Norrköping" in bar and 'name="next" value="/contracts"' in bar and "/login" not in bar


def test_a_deleted_contract_drops_out_of_the_bar(client: FlaskClient, add_contract: Callable[..., str],
                                                 app: Flask) -> None:
    add_contract(sample_document("se-kept"))
    add_contract(sample_document("se-gone", identity={"names": {"en": "Gone soon"}}))
    for contract_id in ("se-kept", "se-gone"):
        client.post("/tray/compare", data={"op": "add", "id": contract_id})
    with app.app_context():
        session = db_session()
        session.delete(session.get(Contract, "se-gone"))
        session.commit()
    bar = tray_bar(client.get("/?lang=en").get_data(as_text=True))
    assert "Gone soon" not in bar and "Compare (1)" in bar


@given(kind=st.sampled_from(["compare", "portfolio"]), op=st.one_of(st.sampled_from(["add", "remove", "clear"]), TEXT),
       contract_id=st.one_of(TEXT, st.sampled_from([NORRKOPING, PETERBOROUGH])), next_url=TEXT,
       json=st.booleans())
@FUZZ
def test_odd_tray_forms_never_fail(client: FlaskClient, seeded: list[str], kind: str, op: str, contract_id: str,
                                   next_url: str, json: bool) -> None:
    headers = {"Accept": "application/json"} if json else {}
    response = client.post(f"/tray/{kind}", data={"op": op, "id": contract_id, "next": next_url}, headers=headers)
    assert response.status_code in (200, 303, 400), response.get_data(as_text=True)[:300]
    if response.status_code == 303:
        location = response.headers["Location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    with client.session_transaction() as session:
        stored = session.get("tray") or {}
    assert all(i in seeded for ids in stored.values() for i in ids)
    assert len(stored.get("compare", [])) <= COMPARE_MAX


# --- the add buttons ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/contracts?lang=en", f"/contracts/{NORRKOPING}?lang=en"])
def test_add_buttons_are_named_stand_alone_and_show_their_state(client: FlaskClient, seeded: list[str],
                                                                url: str) -> None:
    client.post("/tray/compare", data={"op": "add", "id": NORRKOPING})
    buttons = tray_buttons(client.get(url).get_data(as_text=True))
    assert buttons
    for button in buttons:
        assert "a" not in button["ancestors"] and "button" not in button["ancestors"], button
        assert button["text"].startswith(("+ Comparison: ", "✓ Comparison: ", "+ Portfolio: ", "✓ Portfolio: "))
    norrkoping = [b for b in buttons if "Norrköping" in b["text"]]
    assert {b["text"].split(":")[0]: b["attrs"]["aria-pressed"] for b in norrkoping} == {
        "✓ Comparison": "true", "+ Portfolio": "false"}
    assert all(b["attrs"]["aria-pressed"] == "false" for b in buttons if "Norrköping" not in b["text"])


def test_add_buttons_speak_swedish(client: FlaskClient, seeded: list[str]) -> None:
    client.post("/tray/portfolio", data={"op": "add", "id": NORRKOPING})
    page = client.get(f"/contracts/{NORRKOPING}?lang=sv").get_data(as_text=True)
    texts = [b["text"] for b in tray_buttons(page)]
    assert any(t.startswith("+ Jämförelse: ") for t in texts) and any(t.startswith("✓ Portfölj: ") for t in texts)
    assert "Bygg en portfölj (1)" in page and "Lägg till i:" in page
    assert f'<a href="/compare?id={NORRKOPING}">Jämför med andra</a>' in page  # the compare page, to search there


# --- the compare page ---------------------------------------------------------------------------------------


def _rows(app: Flask, ids: list[str], **options: Any) -> list[dict[str, Any]]:
    with app.test_request_context("/"), force_locale("en"):
        docs = [get_display_document(session=db_session(), contract_id=i) for i in ids]
        return compare_rows([d for d in docs if d], "en", **options)


def test_only_rows_whose_values_differ_are_highlighted(app: Flask, seeded: list[str]) -> None:
    groups = _rows(app, [BOTKYRKA, ORNSKOLDSVIK])
    differs = {row["label"]: row["differs"] for group in groups for row in group["rows"]}
    # Two Swedish municipalities' sick-leave contracts, both self-financed and evaluated by RISE.
    for label in ("Country", "Sector", "Stage", "Intermediaries", "Measurement", "Investor repayment"):
        assert differs[label] is False, label
    for label in ("Region", "Outcome payers", "Providers", "Payment terms", "Result", "Sources"):
        assert differs[label] is True, label
    assert 0 < sum(differs.values()) < len(differs)


def test_a_contract_beside_itself_differs_nowhere(app: Flask, seeded: list[str]) -> None:
    groups = _rows(app, [NORRKOPING, NORRKOPING])
    assert not any(row["differs"] for group in groups for row in group["rows"])
    assert _rows(app, [NORRKOPING, NORRKOPING], only_differences=True) == []


def test_rows_come_in_sections(app: Flask, seeded: list[str]) -> None:
    groups = _rows(app, [NORRKOPING, RIKERS])
    assert [g["key"] for g in groups] == ["contract", "parties", "money", "terms", "outcomes", "results", "sources"]
    labels = {g["key"]: [r["label"] for r in g["rows"]] for g in groups}
    assert labels["parties"] == ["Outcome payers", "Investors", "Providers", "Intermediaries"]
    assert "Capital committed" in labels["money"] and "Result" in labels["results"]
    only = _rows(app, [BOTKYRKA, ORNSKOLDSVIK], only_differences=True)
    assert only and all(row["differs"] for group in only for row in group["rows"])
    assert "money" not in {g["key"] for g in only}  # neither states any amount


def test_the_compare_page_shows_sections_and_only_differences(client: FlaskClient, seeded: list[str]) -> None:
    url = f"/compare?id={BOTKYRKA},{ORNSKOLDSVIK}&lang=en"
    page = client.get(url).get_data(as_text=True)
    assert page.count('class="compare-group"') == 7
    assert page.count('<tr class="differs">') and page.count('<tr class="same">')
    assert f'href="/compare?id={BOTKYRKA},{ORNSKOLDSVIK}&amp;diff=1"' in page
    assert "Show only differences" in page
    assert f'href="/portfolios/new?add={BOTKYRKA}&amp;add={ORNSKOLDSVIK}">Build a portfolio with these 2' in page
    only = client.get(url + "&diff=1").get_data(as_text=True)
    assert '<tr class="same">' not in only and only.count('<tr class="differs">') == page.count(
        '<tr class="differs">')
    assert "Show all rows" in only


def test_the_compare_page_adds_by_search_and_removes(client: FlaskClient, seeded: list[str]) -> None:
    page = client.get(f"/compare?id={NORRKOPING}&q=Peterborough&lang=en").get_data(as_text=True)
    assert f'href="/compare?id={NORRKOPING},{PETERBOROUGH}"' in page
    assert "<select" not in page  # no more dropdowns of every contract
    both = client.get(f"/compare?id={NORRKOPING},{PETERBOROUGH}&lang=en").get_data(as_text=True)
    assert f'href="/compare?id={PETERBOROUGH}"' in both  # remove Norrköping
    assert f'href="/compare?id={NORRKOPING}"' in both
    full = client.get("/compare?lang=en&id=" + ",".join(seeded[:COMPARE_MAX]) + "&q=a").get_data(as_text=True)
    assert "The comparison is full" in full and 'id="compare-q"' not in full


def test_the_compare_page_without_ids_shows_the_trays_comparison(client: FlaskClient, seeded: list[str]) -> None:
    for contract_id in (NORRKOPING, RIKERS):
        client.post("/tray/compare", data={"op": "add", "id": contract_id})
    page = client.get("/compare?lang=en").get_data(as_text=True)
    assert page.count('class="compare-group"') == 7 and "(ABLE)" in page and "Norrköping" in page
    assert "(ABLE)" not in client.get(f"/compare?id={NORRKOPING}&lang=en").get_data(as_text=True).split(
        '<main')[1].split('</main>')[0]
