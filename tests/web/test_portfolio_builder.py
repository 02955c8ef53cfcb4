"""The portfolio builder's holdings table: search, add and remove, ``?add=`` links, contracts that cannot be
simulated, and every problem reported at once beside its field."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry.indigo import BUNDLED_EXPORT
from registry.indigo.importer import import_export
from registry.models import Contract, Portfolio, User
from registry.portfolio_file import PortfolioFile, build_portfolio
from registry.services.contracts import get_contract
from registry.services.holdings import holdable_ids, holding_problems
from tests.web.test_portfolios import HIB, NORRKOPING, RIKERS, builder_form, errors_of

KOTO = "fi-koto-sib-2017"  # a metric without a target: no default outcome model can be set


def rows_of(html: str) -> list[tuple[str, str, str]]:
    """The holdings table's rows: (contract id, amount, share) as the page shows them."""
    found = []
    for i, cid in re.findall(r'name="h-(\d+)-contract" value="([^"]*)"', html):
        amount = re.search(rf'name="h-{i}-amount" value="([^"]*)"', html)
        share = re.search(rf'name="h-{i}-share" value="([^"]*)"', html)
        found.append((cid, amount.group(1) if amount else "", share.group(1) if share else ""))
    return found


def test_add_links_prefill_only_contracts_that_can_be_simulated(
        client: FlaskClient, seeded: list[str], login_as: Callable[..., User]) -> None:
    login_as("anna")
    query = urlencode([("add", NORRKOPING), ("add", KOTO), ("add", RIKERS), ("add", NORRKOPING), ("add", "nope"),
                       ("lang", "en")])
    html = client.get(f"/portfolios/new?{query}").get_data(as_text=True)
    assert rows_of(html) == [(NORRKOPING, "", ""), (RIKERS, "", "")]
    notices = re.search(r'id="form-notices">(.*?)</div>', html, re.S)
    assert notices is not None
    assert "Koto-SIB" in notices.group(1) and "cannot be simulated" in notices.group(1)
    assert "completed_trainings states no target" in notices.group(1)
    assert "There is no contract nope in the registry." in notices.group(1)
    assert "outcome_models" not in html  # never a hint about a field the form lacks


def test_search_marks_what_cannot_be_simulated_in_both_languages(
        client: FlaskClient, seeded: list[str], login_as: Callable[..., User]) -> None:
    login_as("anna")
    data = client.get("/portfolios/search?country=FI&format=json&lang=en").get_json()
    by_id = {c["id"]: c for c in data["contracts"]}
    assert data["total"] == len(by_id) and KOTO in by_id and all(c["country"] == "FI" for c in by_id.values())
    assert by_id[KOTO]["can_simulate"] is False and "no target" in by_id[KOTO]["problem"]
    assert all(c["can_simulate"] and c["problem"] is None for cid, c in by_id.items() if cid != KOTO)

    html = client.get("/portfolios/search?q=koto&lang=sv").get_data(as_text=True)
    assert "Kan inte simuleras" in html and "inget angivet mål" in html and f'value="{KOTO}"' not in html
    html = client.get("/portfolios/search?q=norrk%C3%B6ping&lang=en").get_data(as_text=True)
    assert f'name="add"\n                value="{NORRKOPING}"' in html or f'value="{NORRKOPING}"' in html
    assert 'formaction="/portfolios/new#holdings"' in html
    assert client.get("/portfolios/search?q=zzzz-nothing&lang=en").get_data(as_text=True).count("No contract") == 1


def test_search_add_and_remove_keep_what_was_typed(
        client: FlaskClient, seeded: list[str], login_as: Callable[..., User]) -> None:
    """Without a script, the search, add and remove buttons send the form to the page, which shows it again."""
    login_as("anna")
    state = {"state": "1", "name": "Utkast", "h-0-contract": NORRKOPING, "h-0-amount": "5 000 000",
             "h-1-contract": RIKERS, "h-1-share": "50", "q": "stockholm", "country": "SE", "loading_global": "0,2",
             "seed": "7", "lang": "en"}
    html = client.get("/portfolios/new?" + urlencode(state)).get_data(as_text=True)
    assert rows_of(html) == [(NORRKOPING, "5 000 000", ""), (RIKERS, "", "50")]
    assert 'value="Utkast"' in html and 'id="seed" value="7"' in html and 'id="loading_global" value="0.2"' in html
    assert f'value="{HIB}"' in html  # among the matches, with an add button
    assert "form-errors" not in html  # a draft is not checked until it is saved

    html = client.get("/portfolios/new?" + urlencode({**state, "add": HIB})).get_data(as_text=True)
    assert [r[0] for r in rows_of(html)] == [NORRKOPING, RIKERS, HIB]
    html = client.get("/portfolios/new?" + urlencode({**state, "remove": "0"})).get_data(as_text=True)
    assert rows_of(html) == [(RIKERS, "", "50")]
    # only the rates the holdings need: Rikers is in dollars
    assert 'id="fx_USD"' in html and not re.search(r'id="fx_(?!USD)', html)


@pytest.mark.parametrize("saved", [False, True])
def test_a_form_sent_by_get_loses_its_csrf_token_from_the_address(
        client: FlaskClient, seeded: list[str], login_as: Callable[..., User], saved: bool) -> None:
    """A browser without scripts sends the whole form, token included, with search, add and remove: the page
    answers with a redirect to the same draft without the token, so it stays out of the address bar and history."""
    login_as("anna")
    path = "/portfolios/new"
    if saved:
        path = client.post("/portfolios", data=builder_form()).headers["Location"].split("?")[0]
    state = [("state", "1"), ("csrf_token", "secret-token"), ("h-0-contract", NORRKOPING), ("h-0-amount", "5 000 000"),
             ("add", RIKERS), ("add", HIB), ("lang", "sv")]
    response = client.get(path + "?" + urlencode(state))
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "csrf_token" not in location and "secret-token" not in location
    assert location.startswith(path + "?")
    html = client.get(location).get_data(as_text=True)
    assert [r[0] for r in rows_of(html)] == [NORRKOPING, RIKERS, HIB]
    assert rows_of(html)[0][1] == "5 000 000"


def test_every_problem_is_reported_at_once_beside_its_field(
        client: FlaskClient, seeded: list[str], login_as: Callable[..., User], engine: Engine) -> None:
    login_as("anna")
    form = builder_form(**{"name": "", "h-0-amount": "fem miljoner", "h-1-share": "200", "fx_USD": "-1",
                           "loading_global": "0.9", "scenarios": "5000000"})
    response = client.post("/portfolios?lang=en", data=form)
    assert response.status_code == 422
    fields = {e.split(":")[0] for e in errors_of(response.get_data(as_text=True))}
    assert {"name", "h-0-amount", "h-1-share", "fx", "loadings", "scenarios"} <= fields, fields
    html = response.get_data(as_text=True)
    assert 'aria-invalid="true" aria-describedby="h-0-amount-error"' in html
    assert '<details id="advanced" open>' in html  # the loadings' problem is not hidden in a closed fold
    with Session(engine) as s:
        assert s.exec(select(Portfolio)).all() == []


def test_problems_in_swedish(client: FlaskClient, seeded: list[str], login_as: Callable[..., User]) -> None:
    login_as("anna")
    response = client.post("/portfolios?lang=sv", data=builder_form(**{"h-0-amount": "x", "h-2-share": "150"}))
    errors = errors_of(response.get_data(as_text=True))
    assert any(e.startswith("h-0-amount: Inte ett tal") for e in errors), errors
    assert "h-2-share: En andel är högst 100\xa0%." in errors, errors


def test_a_contract_that_cannot_be_simulated_is_stopped_at_save(
        client: FlaskClient, seeded: list[str], login_as: Callable[..., User]) -> None:
    """Typed into the request by hand, Koto is refused beside its row before anything runs."""
    login_as("anna")
    response = client.post("/portfolios?lang=en", data=builder_form(**{"h-0-contract": KOTO}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Cannot be simulated: outcome metric completed_trainings states no target" in html
    assert "outcome_models" not in html
    assert any(e.startswith("h-0: outcome metric completed_trainings") for e in errors_of(html)), errors_of(html)


@pytest.fixture
def everything(seeded: list[str], engine: Engine) -> None:
    """The seed contracts and GO Lab's whole INDIGO export, as a deployment has them."""
    with Session(engine) as s:
        import_export(BUNDLED_EXPORT, session=s)
        s.commit()


def test_every_contract_offered_can_be_simulated(everything: None, engine: Engine) -> None:
    with Session(engine) as s:
        ids = list(s.exec(select(Contract.id)).all())
        offered = holdable_ids(session=s)
        problems = holding_problems(session=s, contract_ids=ids)
        # most are offered; the rest each say why in a sentence, never a field of the portfolio file
        assert len(offered) > 0.8 * len(ids) and KOTO not in offered
        refused = {cid: p for cid, p in problems.items() if p is not None}
        assert set(refused) == set(ids) - set(offered) and KOTO in refused
        assert not any("outcome_models" in p or p.startswith(cid) for cid, p in refused.items())
        # one portfolio of every contract offered compiles, with the default outcome models; the rates are
        # placeholders (1.0): this checks the models, not the money
        docs = {cid: get_contract(session=s, contract_id=cid) for cid in offered}
        currencies = {d.finance.currency for d in docs.values() if d is not None} - {"SEK"}
        spec = PortfolioFile.model_validate({
            "base_currency": "SEK", "fx": dict.fromkeys(currencies, 1.0), "scenarios": 200,
            "holdings": [{"contract": cid, "amount": 1000.0} for cid in offered]})
        built = build_portfolio(spec, get_contract=docs.get)
        assert [h.contract.id for h in built.holdings] == offered


def test_rates_in_use_are_shown_with_their_source_for_the_currencies_held(
        client: FlaskClient, seeded: list[str], login_as: Callable[..., User], engine: Engine) -> None:
    login_as("anna")
    html = client.get(f"/portfolios/new?add={NORRKOPING}&add={RIKERS}&lang=en").get_data(as_text=True)
    rates = re.search(r'<table class="table rates">(.*?)</table>', html, re.S)
    assert rates is not None
    assert re.findall(r'<tr data-currency="([A-Z]{3})">', rates.group(1)) == ["USD"]  # kronor need no rate
    assert re.search(r"[\d.,]+ SEK per USD", rates.group(1)) and "ECB" in rates.group(1)
    # saved without typing a rate: the reference rate is used, none is written into the portfolio
    response = client.post("/portfolios", data=builder_form(fx_USD=""))
    assert response.status_code == 302, errors_of(response.get_data(as_text=True))
    with Session(engine) as s:
        row = s.exec(select(Portfolio)).one()
        assert row.spec["fx"] == {}
    html = client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert 'id="fx_USD" value=""' in html


def model_line(html: str, row: int, metric: str) -> str:
    found = re.search(rf'<tr class="holding-models" id="h-{row}-models">.*?<li data-metric="{metric}">(.*?)</li>',
                      html, re.S)
    assert found is not None, metric
    return re.sub(r"\s+", " ", found.group(1))  # no-break spaces too


def test_outcome_models_in_words_in_both_languages(
        client: FlaskClient, seeded: list[str], login_as: Callable[..., User]) -> None:
    login_as("anna")
    en = client.get(f"/portfolios/new?add={NORRKOPING}&add=se-botkyrka-2018&lang=en").get_data(as_text=True)
    delivered = model_line(en, 0, "delivered")
    assert re.search(r"Intervention delivered as contracted: achieved with probability [\d.]+%", delivered)
    assert "default, an assumption:" in delivered and "bernoulli" not in en
    savings = model_line(en, 0, "savings")
    assert re.search(r"reaches its target \(10,000,000\) with probability [\d.]+%", savings)
    assert "normally distributed" in savings  # the model itself in words
    # a contract without executable terms: the sector's repayment prior, in words
    assert re.search(r"Investors repaid in full with probability [\d.]+%", model_line(en, 1, "success"))
    sv = client.get(f"/portfolios/new?add={NORRKOPING}&lang=sv").get_data(as_text=True)
    assert re.search(r"uppnås med sannolikheten [\d,]+ %", model_line(sv, 0, "delivered"))
    assert "standardantagande:" in model_line(sv, 0, "delivered")
    assert re.search(r"når sitt mål \(10 000 000\)", model_line(sv, 0, "savings"))


def test_a_changed_probability_becomes_the_portfolios_assumption(
        client: FlaskClient, seeded: list[str], login_as: Callable[..., User], engine: Engine) -> None:
    login_as("anna")
    form = builder_form(**{"h-0-m-delivered": "60", "h-0-m-delivered-was": "46,3",
                           "h-0-m-savings": "70", "h-0-m-savings-was": "44",
                           "h-0-m-school_improved": "46,3", "h-0-m-school_improved-was": "46,3"})
    response = client.post("/portfolios", data=form)
    assert response.status_code == 302, errors_of(response.get_data(as_text=True))
    with Session(engine) as s:
        models = s.exec(select(Portfolio)).one().spec["outcome_models"]
    assert set(models) == {NORRKOPING} and set(models[NORRKOPING]) == {"delivered", "savings"}  # untouched: default
    assert models[NORRKOPING]["delivered"]["dist"] == "bernoulli" and models[NORRKOPING]["delivered"]["p"] == 0.6
    assert models[NORRKOPING]["savings"]["dist"] == "mixture"
    html = client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "achieved with probability 60%" in model_line(html, 0, "delivered")
    assert "your assumption" in model_line(html, 0, "delivered")
    # the whole model reaches the target with the probability typed (the chance of no delivery included)
    assert "with probability 70%" in model_line(html, 0, "savings")

    # emptied: back to the default; out of range: said beside the field, nothing saved
    url = response.headers["Location"]
    again = client.post(url + "?lang=en", data={**form, "h-0-m-delivered": "", "h-0-m-delivered-was": "60",
                                                 "h-0-m-savings": "150", "h-0-m-savings-was": "70"})
    assert again.status_code == 422
    assert "h-0-m-savings: A probability above 0 and below 100%." in errors_of(again.get_data(as_text=True))
    again = client.post(url, data={**form, "h-0-m-delivered": "", "h-0-m-delivered-was": "60",
                                   "h-0-m-savings": "70", "h-0-m-savings-was": "70"})
    assert again.status_code == 302
    with Session(engine) as s:
        assert set(s.exec(select(Portfolio)).one().spec["outcome_models"][NORRKOPING]) == {"savings"}


def test_a_contract_is_checked_again_after_it_changes(add_contract: Callable[..., str], engine: Engine) -> None:
    from tests.web.conftest import sample_document

    cid = add_contract(sample_document("changing"))
    with Session(engine) as s:
        assert holding_problems(session=s, contract_ids=[cid, "nope"]) == {
            cid: None, "nope": "there is no such contract in the registry"}
    add_contract(sample_document("changing", dates={"service_end": "2024", "confidence": "unverified"}))
    with Session(engine) as s:
        assert holding_problems(session=s, contract_ids=[cid]) == {
            cid: "the contract states neither a signing date nor a service start date"}
