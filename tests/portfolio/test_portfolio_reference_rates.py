"""Portfolios take the reference exchange rate of a currency the file states no rate for, record where each rate
came from, and let a stated rate or a database override win."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session

import portfolio as P
from registry.portfolio_file import PortfolioFileError, build_portfolio, parse_portfolio
from registry.reference_rates import RatePoint, RateTable, load_rate_table, shipped_rate_table, store_overrides
from registry.schema import ContractDocument

ROOT = Path(__file__).resolve().parents[2]
RIKERS = "us-nyc-rikers-2012"


@pytest.fixture(scope="module")
def seeds() -> dict[str, ContractDocument]:
    docs = {}
    for f in sorted((ROOT / "seed_contracts").glob("*.yaml")):
        d = ContractDocument.model_validate(yaml.safe_load(f.read_text(encoding="utf-8")))
        docs[d.id] = d
    return docs


def _spec(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"base_currency": "SEK", "scenarios": 200,
                               "holdings": [{"contract": "se-norrkoping-2016", "share": 1},
                                            {"contract": RIKERS, "share": 0.5}]}
    base.update(kw)
    return base


def test_a_holding_without_a_stated_rate_gets_the_latest_reference_rate(seeds):
    built = build_portfolio(parse_portfolio(_spec()), get_contract=seeds.get)
    quote = shipped_rate_table().fx("USD", "SEK")
    assert quote.year == shipped_rate_table().years("USD")[-1]
    assert built.fx_rates == {"USD": float(quote.rate)}
    used = built.fx_sources["USD"]
    assert used["origin"] == "reference" and used["year"] == quote.year and used["requested_year"] is None
    assert used["source"].startswith("ECB euro foreign exchange reference rates") and "via EUR" in used["source"]
    assert used["source_urls"] == ["https://www.ecb.europa.eu/stats/policy_and_exchange_rates/"
                                   "euro_reference_exchange_rates/html/index.en.html"]
    assert set(used["days"]) == {"USD", "SEK"} and not used["overridden"]
    rikers = next(h for h in built.holdings if h.contract.id == RIKERS)
    assert rikers.fx_rate == float(quote.rate)
    # The results state the rate and its origin beside the rate itself.
    settings = P.simulate(built, n_scenarios=200, seed=1).to_dict()["settings"]
    assert settings["fx_rates"]["USD"] == float(quote.rate)
    assert settings["fx_sources"]["USD"]["origin"] == "reference"


def test_fx_year_chooses_the_reference_year(seeds):
    built = build_portfolio(parse_portfolio(_spec(fx_year=2015)), get_contract=seeds.get)
    assert built.fx_sources["USD"]["year"] == 2015
    assert built.fx_rates["USD"] == float(shipped_rate_table().fx("USD", "SEK", 2015).rate)
    with pytest.raises(PortfolioFileError, match="fx_year"):
        parse_portfolio(_spec(fx_year=15))


def test_a_stated_rate_wins(seeds):
    built = build_portfolio(parse_portfolio(_spec(fx={"USD": 9.5})), get_contract=seeds.get)
    assert built.fx_rates == {"USD": 9.5}
    assert built.fx_sources == {"USD": {"rate": 9.5, "origin": "stated"}}


def test_no_reference_rate_asks_for_a_stated_one(seeds):
    with pytest.raises(PortfolioFileError) as exc:
        build_portfolio(parse_portfolio(_spec()), source="p.yaml", get_contract=seeds.get, rates=RateTable([]))
    assert exc.value.errors == [("fx", f"no exchange rate for USD (holding {RIKERS}); state fx.USD in SEK per USD")]


def test_a_database_override_is_the_reference(seeds, session: Session):
    year = shipped_rate_table().years("USD")[-1]
    point = RatePoint("fx", "USD", year, Decimal("1.25"), "Test bank", "https://bank.example/", "2026-12-01")
    store_overrides("fx", [point], source="test.csv", session=session)
    session.commit()
    built = build_portfolio(parse_portfolio(_spec()), get_contract=seeds.get, rates=load_rate_table(session=session))
    sek_per_eur = shipped_rate_table().point("fx", "SEK", year)
    assert sek_per_eur is not None
    assert built.fx_rates["USD"] == float(sek_per_eur.value / Decimal("1.25"))
    assert built.fx_sources["USD"]["overridden"] and "Test bank" in built.fx_sources["USD"]["source"]
