"""The portfolio's results state which exchange rates were used and where each came from."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session

from registry.models import Portfolio, User
from registry.reference_rates import shipped_rate_table
from tests.web.test_portfolios import create
from web.runs import runs


def _rates_section(client: FlaskClient, pid: int, lang: str) -> str:
    html = client.get(f"/portfolios/{pid}?lang={lang}").get_data(as_text=True)
    found = re.search(r'<section id="rates-used">(.*?)</section>', html, re.S)
    assert found, "no rates-used section"
    return re.sub(r"\s+", " ", found.group(1))


def test_results_state_the_reference_rate_and_its_source(app: Flask, client: FlaskClient, seeded: list[str],
                                                         login_as: Callable[..., User], engine: Engine) -> None:
    login_as("anna")
    pid = create(client, fx_USD="", action="run", scenarios="2000")
    assert runs(app).wait(120)
    with Session(engine) as s:
        row = s.get(Portfolio, pid)
        assert row is not None and row.result is not None and "USD" not in row.spec["fx"]
        used = row.result["settings"]["fx_sources"]["USD"]
    quote = shipped_rate_table().fx("USD", "SEK")
    assert used["origin"] == "reference" and used["year"] == quote.year
    section = _rates_section(client, pid, "en")
    assert "1 USD = " in section and "SEK: reference rate, mean of" in section
    assert 'href="https://www.ecb.europa.eu/' in section and "ECB euro foreign exchange reference rates" in section
    assert "referenskurs, medelvärde för" in _rates_section(client, pid, "sv")


def test_results_state_a_rate_the_user_gave(app: Flask, client: FlaskClient, seeded: list[str],
                                            login_as: Callable[..., User]) -> None:
    login_as("anna")
    pid = create(client, action="run", scenarios="2000")
    assert runs(app).wait(120)
    assert "1 USD = 10.5000 SEK: stated in the portfolio" in _rates_section(client, pid, "en")
    assert "angiven i portföljen" in _rates_section(client, pid, "sv")
