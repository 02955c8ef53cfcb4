"""The results dashboard of a simulated portfolio: figures equal the stored result, names instead of ids,
models in words, the report and the exports, stress tests and run comparison from the page, share links."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry.models import Portfolio, User
from tests.web.test_portfolios import HIB, NORRKOPING, builder_form, create
from web.runs import runs


def simulated(app: Flask, client: FlaskClient, **overrides: str) -> int:
    """A saved portfolio of three seed contracts, simulated (waits for the background run)."""
    pid = create(client, action="run", scenarios=overrides.pop("scenarios", "4000"), **overrides)
    assert runs(app).wait(120)
    return pid


def stored(engine: Engine, pid: int) -> Portfolio:
    with Session(engine) as s:
        row = s.get(Portfolio, pid)
        assert row is not None and row.result is not None
        return row


def text_of(html: str) -> str:
    """The page's text without tags (entities decoded)."""
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_dashboard_shows_the_stored_figures_with_names(app: Flask, client: FlaskClient, seeded: list[str],
                                                       login_as: Callable[..., User], engine: Engine,
                                                       lang: str) -> None:
    login_as("anna")
    pid = simulated(app, client)
    result = stored(engine, pid).result
    assert result is not None
    with app.test_request_context(f"/?lang={lang}"):
        from web.formatting import money, percent

        summary = result["summary"]
        expected_loss = money(summary["expected_loss"]["estimate"], "SEK", 0)
        es99 = money(summary["es99"]["estimate"], "SEK", 0)
        es99_error = money(summary["es99"]["std_error"], "SEK", 0)
        p_loss = percent(summary["p_loss"]["estimate"], 1)
    html = client.get(f"/portfolios/{pid}?lang={lang}").get_data(as_text=True)
    cards = dict(re.findall(r'<li class="card" data-metric="([a-z0-9_]+)">(.*?)</li>', html, re.S))
    assert {"expected_multiple", "irr_mean", "p_loss", "expected_loss", "var95", "es95", "var99", "es99"} <= set(cards)
    assert expected_loss in cards["expected_loss"] and p_loss in cards["p_loss"]
    assert es99 in cards["es99"] and "± " + es99_error in cards["es99"]
    assert "%" in cards["p_loss"] and "0." not in text_of(cards["p_loss"]).split("±")[0]
    body = text_of(html)
    # holdings and payers by name; no organisation id anywhere on the page
    assert "NYC Adolescent Behavioral Learning Experience (ABLE)" in body and "Norrköpings kommun" in body
    assert "New York City Department of Correction" in body
    assert not re.search(r"\b[a-z]{2}-org-\d+|indigo-org-\d+", body)
    contributions = re.search(r'id="contributions-table".*?</table>', html, re.S).group(0)  # type: ignore[union-attr]
    assert f">{NORRKOPING}<" not in contributions and f">{HIB}<" not in contributions
    for chart in ("holding", "payer", "country", "sector"):
        figure = re.search(rf'<figure id="chart-{chart}">(.*?)</figure>', html, re.S).group(1)  # type: ignore[union-attr]
        assert '<svg class="bars"' in figure and "aria-label=" in figure
    assert f"/portfolios/{pid}/report.pdf?lang={lang}" in html


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_report_pdf_has_holdings_by_name_and_models_in_words(app: Flask, client: FlaskClient, seeded: list[str],
                                                             login_as: Callable[..., User], engine: Engine,
                                                             lang: str) -> None:
    from tests.factsheets.test_factsheets import normalise, pdf_text

    login_as("anna")
    pid = simulated(app, client)
    client.post(f"/portfolios/{pid}/stress", data={"delay_months": "12"})
    response = client.get(f"/portfolios/{pid}/report.pdf?lang={lang}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = normalise(pdf_text(response.data))
    flat = " ".join(text.split())
    # every holding by its whole name (the table is not cut off), the payers by name, the models in words
    assert "NYC Adolescent Behavioral Learning Experience (ABLE) Project for Incarcerated Youth" in flat
    assert "Region Stockholm" in flat and "New York City Department of Correction" in flat
    stress = {"sv": "Besparingarna 12 månader sena", "en": "Savings 12 months late"}
    assert stress[lang] in flat
    words = {"sv": "uppnås med sannolikheten", "en": "achieved with probability"}
    assert words[lang] in flat and "bernoulli(" not in flat
    result = stored(engine, pid).result
    assert result is not None
    with app.test_request_context(f"/?lang={lang}"):
        from web.formatting import money

        assert money(result["summary"]["es99"]["estimate"], "SEK", 0).replace("\xa0", " ") in flat


@pytest.mark.parametrize(
    ("params", "english", "swedish"),
    [
        ({"dist": "bernoulli", "p": 0.6}, "achieved with probability 60%", "uppnås med sannolikheten 60 %"),
        ({"dist": "normal", "mean": 1200.0, "sd": 300.0}, "normally distributed around 1,200 (standard deviation 300)",
         "normalfördelat kring 1 200 (standardavvikelse 300)"),
        ({"dist": "beta", "a": 2.0, "b": 2.0, "low": 0.0, "high": 1.0},
         "between 0 and 1, on average 0.5 (standard deviation 0.22)",
         "mellan 0 och 1, i genomsnitt 0,5 (standardavvikelse 0,22)"),
        ({"dist": "mixture", "point_mass": {"p": 0.05, "value": 0.0}, "base": {"dist": "bernoulli", "p": 0.5}},
         "with probability 5% exactly 0; otherwise achieved with probability 50%",
         "med sannolikheten 5 % exakt 0; annars uppnås med sannolikheten 50 %"),
        ({"dist": "empirical", "values": [0.0, 1.0], "probs": [0.25, 0.75]},
         "one of: 0 (probability 25%), 1 (probability 75%)", "ett av: 0 (sannolikhet 25 %), 1 (sannolikhet 75 %)"),
        ({"dist": "delay", "months": {"dist": "normal", "mean": 6.0, "sd": 3.0}, "effect": "shift"},
         "payments may come late, the delay in months normally distributed around 6 (standard deviation 3)",
         "betalningarna kan komma sent, förseningen i månader normalfördelat kring 6 (standardavvikelse 3)"),
    ],
)
def test_models_in_words(app: Flask, params: dict[str, object], english: str, swedish: str) -> None:
    from web.outcome_words import model_in_words

    for lang, expected in (("en", english), ("sv", swedish)):
        with app.test_request_context(f"/?lang={lang}"):
            assert model_in_words(params, "code").replace("\xa0", " ") == expected


def test_a_model_the_words_do_not_know_keeps_its_notation(app: Flask) -> None:
    from web.outcome_words import model_in_words

    with app.test_request_context("/?lang=en"):
        assert model_in_words({"dist": "weibull", "k": 2}, "weibull(k=2)") == "weibull(k=2)"
        assert model_in_words(None, "bernoulli(p=0.5)") == "bernoulli(p=0.5)"  # a result stored before params
        assert model_in_words({"dist": "bernoulli"}, "bernoulli(?)") == "bernoulli(?)"


def test_stress_tests_from_the_page_equal_the_engine(app: Flask, client: FlaskClient, seeded: list[str],
                                                     login_as: Callable[..., User], engine: Engine) -> None:
    from portfolio.stresses import default_stresses, run_stresses
    from registry.portfolio_file import PortfolioFile
    from web.extensions import session as db_session
    from web.simulations import resolve_or_error

    login_as("anna")
    pid = simulated(app, client)
    response = client.post(f"/portfolios/{pid}/stress",
                           data={"sector": "health", "payer": "", "delay_months": "6"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#stress")
    row = stored(engine, pid)
    stress = row.result["stress"]  # type: ignore[index]
    assert stress["settings"]["sector"] == "health" and stress["settings"]["delay_months"] == 6
    with app.test_request_context("/"):
        resolved = resolve_or_error(PortfolioFile.model_validate(row.spec), session=db_session())
        assert not isinstance(resolved, Exception) and hasattr(resolved, "holdings")
        engine_run = run_stresses(resolved, default_stresses(resolved, sector="health", delay_months=6.0),  # type: ignore[arg-type]
                                  n_scenarios=stress["settings"]["scenarios"], seed=stress["settings"]["seed"])
    for metric in ("expected_multiple", "p_loss", "es99"):
        for name in ("base", "sector_shock", "savings_delayed", "payer_termination", "worst_case"):
            assert stress["table"][metric][name] == pytest.approx(float(engine_run.table.loc[metric, name]))
    html = client.get(f"/portfolios/{pid}?lang=en").get_data(as_text=True)
    table = re.search(r'id="stress-table".*?</table>', html, re.S).group(0)  # type: ignore[union-attr]
    assert "A bad year for health" in text_of(table)
    assert "New York City Department of Correction ends its contracts" in text_of(table)  # the largest payer
    with app.test_request_context("/?lang=en"):
        from web.formatting import money

        delta = stress["table"]["es99"]["sector_shock"] - stress["table"]["es99"]["base"]
        shown_delta = ("+" if delta > 0 else "−") + money(abs(delta), "SEK", 0)
    cell = re.search(r'data-stress="sector_shock".*?data-metric="es99">(.*?)</td>', table, re.S).group(1)  # type: ignore[union-attr]
    assert shown_delta in cell
    swedish = text_of(client.get(f"/portfolios/{pid}?lang=sv").get_data(as_text=True))
    assert "Ett dåligt år för hälsa" in swedish and "Grundfall" in swedish and "Besparingarna 6 månader sena" in swedish


def test_stress_choices_are_checked(app: Flask, client: FlaskClient, seeded: list[str],
                                    login_as: Callable[..., User], engine: Engine) -> None:
    login_as("anna")
    pid = create(client)
    client.post(f"/portfolios/{pid}/stress", data={"sector": "", "payer": "", "delay_months": "12"})
    with Session(engine) as s:
        assert s.get(Portfolio, pid).result is None  # type: ignore[union-attr]  # nothing to stress beside
    pid = simulated(app, client)
    for form in ({"sector": "no-such-sector"}, {"payer": "someone-else"}, {"delay_months": "-3"},
                 {"delay_months": "tolv"}):
        response = client.post(f"/portfolios/{pid}/stress", data={"sector": "", "payer": "", **form})
        assert response.status_code == 302
        assert "stress" not in stored(engine, pid).result  # type: ignore[operator]
        page = client.get(f"/portfolios/{pid}?lang=sv").get_data(as_text=True)
        assert 'class="flash flash-error"' in page


def share_links(html: str) -> list[str]:
    return re.findall(r'value="https?://[^"/]+(/portfolios/shared/[^"]+)"', html)


def test_share_link_shows_the_portfolio_without_an_account(app: Flask, client: FlaskClient, seeded: list[str],
                                                           login_as: Callable[..., User], engine: Engine) -> None:
    login_as("anna")
    pid = simulated(app, client)
    assert client.post(f"/portfolios/{pid}/shares").status_code == 302
    assert client.post(f"/portfolios/{pid}/shares").status_code == 302
    owner_page = client.get(f"/portfolios/{pid}?lang=en").get_data(as_text=True)
    links = share_links(owner_page)
    assert len(links) == 2 and len(set(links)) == 2
    tokens = [link.rsplit("/", 1)[1] for link in links]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", t) for t in tokens)  # 32 random bytes each
    result = stored(engine, pid).result
    assert result is not None

    anonymous = app.test_client()
    for lang in ("sv", "en"):
        response = anonymous.get(f"{links[0]}?lang={lang}")
        assert response.status_code == 200 and response.headers["Referrer-Policy"] == "no-referrer"
        html = response.get_data(as_text=True)
        body = text_of(html)
        assert "Tre kontrakt" in body and "NYC Adolescent Behavioral Learning Experience (ABLE)" in body
        assert 'id="headline"' in html and 'id="holdings-table"' in html
        # read only: no form posts anywhere but the header's own (language, log in); no builder, no owner links
        assert f"/portfolios/{pid}" not in html and "csrf_token" not in html.split('id="holdings"')[1]
        assert 'name="h-0-contract"' not in html and "Delete" not in body and "Radera" not in body
    pdf = anonymous.get(f"{links[0]}/report.pdf?lang=en")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    # the owner's own page stays private
    assert anonymous.get(f"/portfolios/{pid}").status_code in (302, 404)


def test_revoked_or_unknown_links_find_nothing(app: Flask, client: FlaskClient, seeded: list[str],
                                               login_as: Callable[..., User], make_user: Callable[..., User],
                                               engine: Engine) -> None:
    from registry.models import PortfolioShare
    from tests.web.conftest import login

    login_as("anna")
    pid = simulated(app, client)
    client.post(f"/portfolios/{pid}/shares")
    link = share_links(client.get(f"/portfolios/{pid}").get_data(as_text=True))[0]
    with Session(engine) as s:
        share = s.exec(select(PortfolioShare)).one()
    anonymous = app.test_client()
    assert anonymous.get(link).status_code == 200

    # someone else can neither revoke it nor see the owner's links
    make_user("bertil")
    other = app.test_client()
    login(other, "bertil")
    assert other.post(f"/portfolios/{pid}/shares/{share.id}/revoke").status_code == 404
    assert other.post(f"/portfolios/{pid}/shares").status_code == 404
    assert anonymous.get(link).status_code == 200

    assert client.post(f"/portfolios/{pid}/shares/{share.id}/revoke").status_code == 302
    assert anonymous.get(link).status_code == 404
    assert anonymous.get(link + "/report.pdf").status_code == 404
    assert share_links(client.get(f"/portfolios/{pid}").get_data(as_text=True)) == []
    assert client.post(f"/portfolios/{pid}/shares/{share.id}/revoke").status_code == 404  # already revoked
    for token in ("x" * 43, "short", "a" * 200, "%2e%2e"):
        assert anonymous.get(f"/portfolios/shared/{token}").status_code == 404

    # deleting the portfolio removes its links
    client.post(f"/portfolios/{pid}/shares")
    client.post(f"/portfolios/{pid}/delete")
    with Session(engine) as s:
        assert s.exec(select(PortfolioShare)).all() == []


def test_share_forms_need_the_csrf_token(csrf_app: Flask, seeded: list[str], make_user: Callable[..., User],
                                         engine: Engine) -> None:
    make_user("anna")
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "anna", "password": "correct-horse-battery", "csrf_token": token})
    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == "anna")).one()
        row = Portfolio(owner_id=user.id or 0, name="P", spec={})
        s.add(row)
        s.commit()
        pid = row.id
    assert client.post(f"/portfolios/{pid}/shares").status_code == 400
    page = client.get(f"/portfolios/{pid}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post(f"/portfolios/{pid}/shares", data={"csrf_token": token}).status_code == 302


def test_tokens_are_random_and_unique(session: Session) -> None:
    from registry.models import PortfolioShare
    from registry.services.shares import create_share, shared_portfolio

    owner = User(username="anna", password_hash="x", role="investor")
    session.add(owner)
    session.commit()
    row = Portfolio(owner_id=owner.id or 0, name="P", spec={})
    session.add(row)
    session.commit()
    tokens = [create_share(session=session, portfolio=row).token for _ in range(200)]
    assert len(set(tokens)) == 200
    # no shared prefix or suffix beyond chance: the characters at each position vary
    assert all(len({t[i] for t in tokens}) > 20 for i in range(42))  # the 43rd character holds 4 bits
    assert shared_portfolio(session=session, token=tokens[0]) == row
    assert shared_portfolio(session=session, token=tokens[0][:-1] + ("A" if tokens[0][-1] != "A" else "B")) is None
    assert len(session.exec(select(PortfolioShare)).all()) == 200


def test_exports_parse_back_with_the_stored_figures(app: Flask, client: FlaskClient, seeded: list[str],
                                                    login_as: Callable[..., User], engine: Engine) -> None:
    import csv
    import io

    import openpyxl

    login_as("anna")
    pid = simulated(app, client)
    client.post(f"/portfolios/{pid}/stress", data={"delay_months": "12"})
    result = stored(engine, pid).result
    assert result is not None
    response = client.get(f"/portfolios/{pid}/results.xlsx?lang=en")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.data), read_only=True)
    assert book.sheetnames == ["summary", "holdings", "exposures", "concentration", "assumptions", "stress",
                               "scenarios"]

    def sheet(name: str) -> list[dict[str, object]]:
        rows = list(book[name].iter_rows(values_only=True))
        return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]

    summary = {r["metric"]: r for r in sheet("summary")}
    for metric, value in result["summary"].items():
        assert summary[metric]["estimate"] == pytest.approx(value["estimate"])
        assert summary[metric]["std_error"] == pytest.approx(value["std_error"])
    holdings = {r["holding"]: r for r in sheet("holdings")}
    for c in result["contracts"]:
        assert holdings[c["holding"]]["capital"] == pytest.approx(c["capital"])
        assert holdings[c["holding"]]["es99_contribution"] == pytest.approx(c["es99_contribution"])
    assert holdings[HIB]["name"] not in ("", HIB)  # the contract's name beside its id
    exposures = sheet("exposures")
    assert {r["name"] for r in exposures} >= {"Norrköpings kommun", "New York City Department of Correction"}
    scenarios = sheet("scenarios")
    assert len(scenarios) == 1000 and scenarios[0]["scenario"] == 1
    sample = result["scenario_sample"]
    assert [r["loss"] for r in scenarios[:50]] == pytest.approx(sample["loss"][:50])
    assert all(r["repayment"] + r["loss"] == pytest.approx(result["summary"]["capital"]["estimate"])  # type: ignore[operator]
               for r in scenarios[:50])
    stress = {(r["scenario"], r["metric"]): r for r in sheet("stress")}
    assert stress[("sector_shock", "es99")]["value"] == pytest.approx(result["stress"]["table"]["es99"]["sector_shock"])

    # CSV, one table a file: plain in English, ';' and decimal commas in Swedish
    english = client.get(f"/portfolios/{pid}/results/holdings.csv?lang=en")
    assert english.status_code == 200 and english.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(english.get_data(as_text=True))))
    assert {r["holding"]: float(r["capital"]) for r in rows} == pytest.approx(
        {c["holding"]: c["capital"] for c in result["contracts"]})
    swedish = client.get(f"/portfolios/{pid}/results/summary.csv?lang=sv").data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(swedish), delimiter=";"))
    p_loss = next(r for r in rows if r["metric"] == "p_loss")
    assert float(p_loss["estimate"].replace(",", ".")) == pytest.approx(result["summary"]["p_loss"]["estimate"])
    assert p_loss["label"] == "Sannolikhet att förlora kapital"
    assert client.get(f"/portfolios/{pid}/results/nothing.csv").status_code == 404


def test_exports_are_the_owners_and_need_a_result(app: Flask, client: FlaskClient, seeded: list[str],
                                                  login_as: Callable[..., User],
                                                  make_user: Callable[..., User]) -> None:
    from tests.web.conftest import login

    login_as("anna")
    fresh = create(client)
    assert client.get(f"/portfolios/{fresh}/results.xlsx").status_code == 409
    pid = simulated(app, client)
    make_user("bertil")
    other = app.test_client()
    login(other, "bertil")
    assert other.get(f"/portfolios/{pid}/results.xlsx").status_code == 404
    assert other.get(f"/portfolios/{pid}/results/summary.csv").status_code == 404
    assert app.test_client().get(f"/portfolios/{pid}/results/summary.csv").status_code in (302, 404)


def test_two_runs_side_by_side(app: Flask, client: FlaskClient, seeded: list[str], login_as: Callable[..., User],
                               make_user: Callable[..., User], engine: Engine) -> None:
    from registry.models import SimulationRun
    from tests.web.conftest import login

    login_as("anna")
    pid = simulated(app, client)
    page = client.get(f"/portfolios/{pid}/runs?lang=en").get_data(as_text=True)
    assert "Two finished runs are needed" in page and 'id="run-comparison"' not in page
    client.post(f"/portfolios/{pid}", data=builder_form(seed="9", scenarios="8000", action="run"))
    assert runs(app).wait(120)
    with Session(engine) as s:
        first, second = s.exec(select(SimulationRun).order_by(SimulationRun.id)).all()  # type: ignore[arg-type]
    assert first.result and second.result
    html = client.get(f"/portfolios/{pid}/runs?lang=en").get_data(as_text=True)
    settings = re.search(r'id="run-settings".*?</table>', html, re.S).group(0)  # type: ignore[union-attr]
    seed_row = re.search(r'<tr class="differs"><th scope="row">Random seed</th>(.*?)</tr>', settings, re.S)
    assert seed_row is not None and re.findall(r"<td>(.*?)</td>", seed_row.group(1)) == ["3", "9"]
    with app.test_request_context("/?lang=en"):
        from web.formatting import money

        for run in (first, second):
            assert money(run.result["summary"]["es99"]["estimate"], "SEK", 0) in html
        change = second.result["summary"]["es99"]["estimate"] - first.result["summary"]["es99"]["estimate"]
        money_text = money(abs(change), "SEK", 0)
        shown_change = ("+" if change > 0 else "−") + money_text
    row = re.search(r'<tr data-metric="es99">.*?</tr>', html, re.S).group(0)  # type: ignore[union-attr]
    assert shown_change in row
    assert "NYC Adolescent Behavioral Learning Experience (ABLE)" in text_of(html)
    # the runs picked by id; another user's (or no) run is missing
    swapped = client.get(f"/portfolios/{pid}/runs?a={second.id}&b={first.id}&lang=en").get_data(as_text=True)
    swapped_row = re.search(r'<tr data-metric="es99">.*?</tr>', swapped, re.S).group(0)  # type: ignore[union-attr]
    assert ("−" if change > 0 else "+") + money_text in swapped_row
    swedish = text_of(client.get(f"/portfolios/{pid}/runs?lang=sv").get_data(as_text=True))
    assert "Första körningen" in swedish and "Förändring" in swedish and "Random seed" not in swedish
    assert client.get(f"/portfolios/{pid}/runs?a=999999").status_code == 404
    make_user("bertil")
    other = app.test_client()
    login(other, "bertil")
    assert other.get(f"/portfolios/{pid}/runs").status_code == 404
