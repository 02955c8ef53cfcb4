"""The portfolio builder pages: forms, owner-only access, background runs with progress, results."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry.loader import delete_contract
from registry.models import Portfolio, SimulationRun, User
from tests.web.conftest import login
from web.portfolio_form import parse_number
from web.runs import runs

NORRKOPING = "se-norrkoping-2016"
HIB = "se-region-stockholm-hib-2020"
RIKERS = "us-nyc-rikers-2012"


def builder_form(**overrides: str) -> dict[str, str]:
    """The builder as a person fills it in: three contracts, amounts typed with spaces and commas."""
    form = {
        "name": "Tre kontrakt",
        "h-0-contract": NORRKOPING, "h-0-amount": "5 000 000", "h-0-share": "",
        "h-1-contract": HIB, "h-1-amount": "10000000", "h-1-share": "",
        "h-2-contract": RIKERS, "h-2-amount": "", "h-2-share": "50",
        "h-3-contract": "", "h-3-amount": "", "h-3-share": "",
        "fx_USD": "10,5", "base_currency": "SEK", "scenarios": "10000", "seed": "3", "hurdle_rate": "5",
        "copula": "t", "df": "5", "loading_global": "0.25", "loading_country": "0.3", "loading_payer": "0.25",
        "loading_sector": "0.3", "metric_correlation": "0.6", "action": "save",
    }
    form.update(overrides)
    return form


def errors_of(html: str) -> list[str]:
    """The form's error list, each as ``field: message`` (without the link to the field)."""
    block = re.search(r'id="form-errors">(.*?)</div>', html, re.S)
    found = re.findall(r'<li data-field="([^"]*)">(.*?)</li>', block.group(1), re.S) if block else []
    return [f"{field}: {re.sub(r'<[^>]+>', '', message)}" for field, message in found]


def create(client: FlaskClient, **overrides: str) -> int:
    response = client.post("/portfolios", data=builder_form(**overrides))
    assert response.status_code == 302, errors_of(response.get_data(as_text=True))
    return int(re.search(r"/portfolios/(\d+)", response.headers["Location"]).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "value"),
    [("5 000 000", 5e6), ("5\u00a0000\u00a0000", 5e6), ("2,5", 2.5), ("1,234.5", 1234.5), ("10_000", 1e4),
     ("", None), ("  ", None)],
)
def test_numbers_as_people_type_them(text: str, value: float | None) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["abc", "1.2.3", "inf", "nan"])
def test_not_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        parse_number(text)


def test_anonymous_visitors_are_sent_to_log_in(client: FlaskClient) -> None:
    for url in ("/portfolios", "/portfolios/new"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_build_save_and_show(client: FlaskClient, seeded: list[str], login_as: Callable[..., User],
                             engine: Engine) -> None:
    user = login_as("anna")
    page = client.get("/portfolios/new").get_data(as_text=True)
    assert 'id="contract-q"' in page and 'id="no-holdings"' in page  # an empty builder: search, then add

    pid = create(client)
    with Session(engine) as s:
        row = s.get(Portfolio, pid)
        assert row is not None and row.owner_id == user.id and row.name == "Tre kontrakt"
        assert row.spec["holdings"][0]["contract"] == NORRKOPING and row.spec["holdings"][0]["amount"] == 5e6
        assert row.spec["holdings"][2]["share"] == 0.5
        assert row.spec["fx"] == {"USD": 10.5}
        assert row.spec["copula"] == {"family": "t", "df": 5.0}
        assert row.spec["hurdle_rate"] == pytest.approx(0.05)
        assert row.spec["schema"] == "utfall-portfolio/1"
    html = client.get(f"/portfolios/{pid}").get_data(as_text=True)
    assert "Tre kontrakt" in html and f'name="h-1-contract" value="{HIB}"' in html
    assert "Tre kontrakt" in client.get("/portfolios").get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"name": ""}, "name: "),
        ({"h-0-amount": "fem miljoner"}, "h-0-amount: "),
        ({"h-0-contract": "no-such-contract"}, "h-0: "),
        ({"fx_USD": "-3"}, "fx: "),
        ({"h-1-share": "20"}, "h-1: "),
        ({"h-0-contract": "", "h-1-contract": "", "h-2-contract": "", "h-0-amount": "", "h-1-amount": "",
          "h-2-share": ""}, "h-0: "),
        ({"loading_global": "0.9"}, "mindre än 1"),  # Swedish by default (web.problems)
        ({"scenarios": "5000000"}, "scenarios"),
    ],
)
def test_builder_reports_what_is_wrong(client: FlaskClient, seeded: list[str], login_as: Callable[..., User],
                                       engine: Engine, overrides: dict[str, str], expected: str) -> None:
    login_as("anna")
    response = client.post("/portfolios", data=builder_form(**overrides))
    assert response.status_code == 422
    errors = errors_of(response.get_data(as_text=True))
    assert errors and any(expected in e for e in errors), errors
    with Session(engine) as s:
        assert s.exec(select(Portfolio)).all() == []


def test_saving_keeps_assumptions_the_form_does_not_show(client: FlaskClient, seeded: list[str],
                                                         login_as: Callable[..., User], engine: Engine) -> None:
    login_as("anna")
    pid = create(client)
    model = {"dist": "bernoulli", "p": 0.9, "label": "judgement"}
    with Session(engine) as s:
        row = s.get(Portfolio, pid)
        assert row is not None
        row.spec = {**row.spec, "outcome_models": {NORRKOPING: {"delivered": model}, HIB: {}}}
        s.add(row)
        s.commit()
    # drop HIB, keep Norrköping: its assumption stays, the one for HIB goes with the holding
    response = client.post(f"/portfolios/{pid}", data=builder_form(**{"h-1-contract": "", "h-1-amount": ""}))
    assert response.status_code == 302, errors_of(response.get_data(as_text=True))
    with Session(engine) as s:
        row = s.get(Portfolio, pid)
        assert row is not None
        assert [h["contract"] for h in row.spec["holdings"]] == [NORRKOPING, RIKERS]
        assert row.spec["outcome_models"] == {NORRKOPING: {"delivered": model}}


def test_rename_and_delete(client: FlaskClient, seeded: list[str], login_as: Callable[..., User],
                           engine: Engine) -> None:
    login_as("anna")
    pid = create(client)
    assert client.post(f"/portfolios/{pid}/rename", data={"name": "Nytt namn"}).status_code == 302
    assert "Nytt namn" in client.get(f"/portfolios/{pid}").get_data(as_text=True)
    client.post(f"/portfolios/{pid}/rename", data={"name": "  "})
    with Session(engine) as s:
        assert s.get(Portfolio, pid).name == "Nytt namn"  # type: ignore[union-attr]
    response = client.post(f"/portfolios/{pid}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/portfolios")
    assert client.get(f"/portfolios/{pid}").status_code == 404


def test_portfolios_are_private(app: Flask, client: FlaskClient, seeded: list[str],
                                login_as: Callable[..., User], make_user: Callable[..., User],
                                engine: Engine) -> None:
    login_as("owner")
    pid = create(client)
    client.post(f"/portfolios/{pid}/run")
    assert runs(app).wait(120)
    with Session(engine) as s:
        run_id = s.exec(select(SimulationRun.id)).one()

    make_user("someone-else")
    for who in ("someone-else", None):
        other = app.test_client()
        if who:
            login(other, who)
        assert other.get(f"/portfolios/{pid}").status_code == 404
        assert other.post(f"/portfolios/{pid}", data=builder_form(name="Stolen")).status_code == 404
        assert other.post(f"/portfolios/{pid}/rename", data={"name": "Stolen"}).status_code == 404
        assert other.post(f"/portfolios/{pid}/run").status_code == 404
        assert other.post(f"/portfolios/{pid}/delete").status_code == 404
        assert other.get(f"/portfolios/runs/{run_id}").status_code == 404
        if who:
            assert "Tre kontrakt" not in other.get("/portfolios").get_data(as_text=True)
    with Session(engine) as s:
        row = s.get(Portfolio, pid)
        assert row is not None and row.name == "Tre kontrakt"
        assert len(s.exec(select(SimulationRun)).all()) == 1


def test_run_in_the_background_and_read_the_results(app: Flask, client: FlaskClient, seeded: list[str],
                                                     login_as: Callable[..., User], engine: Engine) -> None:
    login_as("anna")
    pid = create(client, action="run", scenarios="20000")
    with Session(engine) as s:
        run = s.exec(select(SimulationRun)).one()
        assert run.portfolio_id == pid and run.spec["scenarios"] == 20000
    page = client.get(f"/portfolios/{pid}").get_data(as_text=True)
    if 'id="run-progress"' in page:  # still running: the page polls this URL
        assert f"/portfolios/runs/{run.id}" in page

    seen: list[float] = []
    while True:
        status = client.get(f"/portfolios/runs/{run.id}").get_json()
        seen.append(status["progress"])
        if status["status"] in ("done", "failed"):
            break
        runs(app).wait(0.2)
    assert status["status"] == "done", status
    assert seen == sorted(seen) and seen[-1] == 1.0

    html = client.get(f"/portfolios/{pid}?lang=sv").get_data(as_text=True)
    assert 'id="risk-table"' in html and 'id="exposure-table"' in html and 'id="contributions-table"' in html
    assert html.count('<svg class="histogram"') == 2
    assert "Norrköpings kommun" in html  # the payer's name, not its id
    assert "\u00a0kr" in html  # 1 234 567 kr
    english = client.get(f"/portfolios/{pid}?lang=en").get_data(as_text=True)
    assert "SEK\u00a0" in english
    with Session(engine) as s:
        row = s.get(Portfolio, pid)
        assert row is not None and row.result is not None and row.result_computed_at is not None
        capital = 5_000_000 + 10_000_000 + 0.5 * 9_600_000 * 10.5
        assert row.result["summary"]["capital"]["estimate"] == pytest.approx(capital)
        assert sum(row.result["distributions"]["multiple"]["counts"]) == 20000


def test_a_changed_portfolio_loses_its_stale_result(app: Flask, client: FlaskClient, seeded: list[str],
                                                    login_as: Callable[..., User], engine: Engine) -> None:
    login_as("anna")
    pid = create(client, action="run")
    assert runs(app).wait(120)
    client.post(f"/portfolios/{pid}", data=builder_form(seed="4"))
    with Session(engine) as s:
        row = s.get(Portfolio, pid)
        assert row is not None and row.result is None and row.spec["seed"] == 4
    assert 'id="risk-table"' not in client.get(f"/portfolios/{pid}").get_data(as_text=True)


def test_a_failed_run_says_why(app: Flask, client: FlaskClient, seeded: list[str], login_as: Callable[..., User],
                               engine: Engine) -> None:
    login_as("anna")
    pid = create(client)
    with Session(engine) as s:  # a curator removes a contract the portfolio holds
        delete_contract(HIB, session=s, actor="curator")
        s.commit()
    client.post(f"/portfolios/{pid}/run")
    assert runs(app).wait(120)
    with Session(engine) as s:
        run = s.exec(select(SimulationRun)).one()
    status: dict[str, Any] = client.get(f"/portfolios/runs/{run.id}").get_json()
    assert status["status"] == "failed" and HIB in status["error"]
    page = client.get(f"/portfolios/{pid}").get_data(as_text=True)
    assert HIB in page and 'role="alert"' in page


def test_forms_need_the_csrf_token(csrf_app: Flask, seeded: list[str], make_user: Callable[..., User]) -> None:
    make_user("anna")
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "anna", "password": "correct-horse-battery", "csrf_token": token})
    assert client.post("/portfolios", data=builder_form()).status_code == 400
    page = client.get("/portfolios/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post("/portfolios", data={**builder_form(), "csrf_token": token}).status_code == 302


def test_runs_interrupted_by_a_stop_are_marked_failed(session) -> None:
    from registry.models import SimulationRun
    from registry.services.runs import fail_interrupted_runs

    for status in ("queued", "running", "done"):
        session.add(SimulationRun(status=status, spec={}))
    session.commit()
    assert fail_interrupted_runs(session=session) == 2
    session.commit()
    statuses = sorted((r.status, r.error or "") for r in session.exec(select(SimulationRun)).all())
    assert [s for s, _ in statuses] == ["done", "failed", "failed"]
    assert all("interrupted" in e for s, e in statuses if s == "failed")
