"""Portfolio files and the registry glue, with the real seed contracts and compiled payment terms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import portfolio as P
from registry.portfolio_file import PortfolioFileError, build_portfolio, load_portfolio, parse_portfolio
from registry.schema import ContractDocument
from registry.terms import compile_terms

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs/examples/nordic-portfolio.yaml"


@pytest.fixture(scope="module")
def seeds() -> dict[str, ContractDocument]:
    docs = {}
    for f in sorted((ROOT / "seed_contracts").glob("*.yaml")):
        d = ContractDocument.model_validate(yaml.safe_load(f.read_text(encoding="utf-8")))
        docs[d.id] = d
    return docs


def _spec(**kw):
    base = {"base_currency": "SEK", "fx": {"USD": 10.0}, "holdings": [{"contract": "se-norrkoping-2016", "share": 1}]}
    base.update(kw)
    return base


def test_example_portfolio_simulates_every_seed_contract(seeds):
    portfolio = load_portfolio(EXAMPLE, get_contract=seeds.get)
    held = {h.contract.id for h in portfolio.holdings}
    # the Nordic seeds and the international precedents in one portfolio; Örnsköldsvik's terms count in
    # shares of a fee of unknown size, so they cannot enter money totals
    assert set(seeds) - {"se-ornskoldsvik-2018"} <= held
    assert "se-whatif-employment-2027" in held  # plus the inline what-if contract
    res = P.simulate(portfolio, n_scenarios=4000, seed=1)
    s = res.summary
    for metric in ("capital", "expected_repayment", "expected_multiple", "irr_mean", "irr_p5", "irr_p50", "irr_p95",
                   "p_loss", "expected_loss", "var95", "es95", "var99", "es99"):
        assert np.isfinite(s.loc[metric, "estimate"]) and np.isfinite(s.loc[metric, "std_error"]), metric
    assert res.contracts["es99_contribution"].sum() == pytest.approx(res.value("es99"), rel=1e-9)
    assert {"outcome_payer", "guarantor"} == set(res.exposures.index.get_level_values("role"))
    assert set(res.hhi.index) == {"country", "payer", "sector"}
    flagged = res.contracts.loc["us-massachusetts-roca-2014", "default_prior_metrics"]
    assert "payment_terms" in flagged
    assert not res.contracts.loc["us-south-carolina-nfp-2016", "position"]
    assert res.contracts.loc["us-chicago-cpc-2014", "position"]  # passed through to its lenders
    json.dumps(res.to_dict())


def test_seed_payoff_in_the_engine_equals_the_compiled_terms(seeds):
    # Rikers: the guarantor covers the loan up to G, so the position never gets less than G.
    portfolio = build_portfolio(parse_portfolio(_spec(holdings=[{"contract": "us-nyc-rikers-2012", "share": 1}])),
                         get_contract=seeds.get)
    c = portfolio.holdings[0].contract
    res = P.simulate(portfolio, n_scenarios=3000, seed=0)
    g = float(seeds["us-nyc-rikers-2012"].payment_terms.parameters["G"].value) * 10.0
    assert res.loss.max() <= c.capital * 10.0 - g + 1e-3
    assert res.contracts["worst_case_repayment"].iloc[0] == pytest.approx(g)
    assert res.exposures.loc[("bloomberg-philanthropies", "guarantor"), "max_contractual_exposure"] == pytest.approx(g)


def test_compiled_terms_scalar_equals_vectorised(seeds):
    terms = compile_terms(seeds["se-norrkoping-2016"])
    rng = np.random.default_rng(5)
    d, s, k = rng.random(300) < 0.8, rng.normal(8e6, 6e6, 300).astype(np.float32), rng.random(300) < 0.5
    vec = terms.evaluate({"delivered": d, "savings": s, "school_improved": k}).investor_repayment
    one = [float(terms.evaluate({"delivered": bool(a), "savings": float(b), "school_improved": bool(c)})
                 .investor_repayment) for a, b, c in zip(d, s, k, strict=True)]
    np.testing.assert_array_equal(vec, np.array(one))


def test_holding_amount_fx_and_default_priors(seeds):
    spec = _spec(fx={"USD": 10.0, "GBP": 13.0}, holdings=[{"contract": "uk-peterborough-2010", "role": "payer"},
                           {"contract": "us-nyc-rikers-2012", "amount": 960000}])
    portfolio = build_portfolio(parse_portfolio(spec), get_contract=seeds.get)
    rikers = portfolio.holdings[1]
    assert rikers.weight == pytest.approx(0.1) and rikers.fx_rate == 10.0
    assert rikers.capital_base == pytest.approx(9.6e6)
    assert portfolio.holdings[0].contract.default_prior  # no model given: sector default, flagged
    assert not portfolio.holdings[0].position


def test_terms_not_in_money_cannot_enter_a_portfolio(seeds):
    spec = _spec(holdings=[{"contract": "se-ornskoldsvik-2018", "role": "payer"}])
    with pytest.raises(PortfolioFileError, match=r"holdings\[0\]\.contract.*share of Previa's full fee"):
        build_portfolio(parse_portfolio(spec), get_contract=seeds.get)


@pytest.mark.parametrize(("patch", "where", "reason"), [
    ({"holdings": [{"contract": "se-norrkoping-2016", "share": 1, "amount": 5}]}, "holdings[0]", "exactly one"),
    ({"holdings": [{"contract": "se-norrkoping-2016", "share": 1, "colour": 1}]}, "holdings[0].colour", "Extra"),
    ({"copula": {"family": "clayton"}}, "copula.family", "gaussian"),
    ({"loadings": {"global": 0.9, "country": 0.9}}, "loadings", "less than 1"),
    ({"fx": {"usd": 10}}, "fx", "ISO 4217"),
    ({"outcome_models": {"se-norrkoping-2016": {"savings": {"dist": "normal", "mean": 1, "sd": -1}}}},
     "outcome_models.se-norrkoping-2016.savings.sd", "greater than 0"),
])
def test_invalid_files_name_the_field_and_reason(patch, where, reason):
    with pytest.raises(PortfolioFileError) as exc:
        parse_portfolio(_spec(**patch), "p.yaml")
    text = str(exc.value)
    assert text.startswith("p.yaml: ") and where in text and reason in text, text


@pytest.mark.parametrize(("patch", "reason"), [
    ({"holdings": [{"contract": "nope-2020", "share": 1}]}, "no contract 'nope-2020'"),
    ({"outcome_models": {"se-norrkoping-2016": {"delivered": {"dist": "normal", "mean": 1, "sd": 1}}}},
     "give a bernoulli model"),
    ({"outcome_models": {"se-norrkoping-2016": {"colour": {"dist": "bernoulli", "p": 0.5}}}},
     "do not read"),
    ({"holdings": [{"contract": "us-chicago-cpc-2014", "share": 1}]}, "has no target to set a default prior"),
    ({"holdings": [{"contract": "us-south-carolina-nfp-2016", "share": 1}],
      "outcome_models": {"us-south-carolina-nfp-2016": {
          "success_payment_earned": {"dist": "normal", "mean": 9, "sd": 1},
          "medicaid_offset": {"dist": "normal", "mean": 9, "sd": 1}}}},
     "role: payer"),
])
def test_unusable_holdings_are_reported(seeds, patch, reason):
    with pytest.raises(PortfolioFileError) as exc:
        build_portfolio(parse_portfolio(_spec(**patch)), source="p.yaml", get_contract=seeds.get)
    assert reason in str(exc.value), str(exc.value)


def test_an_investor_holding_must_be_reachable_by_the_terms(seeds):
    # Koto's outcome payments go to the fund; without its pass-through to the investors the holding would be a
    # 100 % loss by construction, which is a data gap, not a result
    doc = seeds["fi-koto-sib-2017"].model_dump(mode="json", by_alias=True, exclude_none=True)
    del doc["payment_terms"]["waterfall"]
    spec = _spec(contracts=[doc], fx={"EUR": 11}, holdings=[{"contract": "fi-koto-sib-2017", "share": 1}],
                 outcome_models={"fi-koto-sib-2017": {"completed_trainings": {"dist": "normal", "mean": 9, "sd": 1}}})
    with pytest.raises(PortfolioFileError, match="reaches the investors"):
        build_portfolio(parse_portfolio(spec), source="p.yaml", get_contract=seeds.get)
    # with the pass-through the same holding is a position
    spec["contracts"] = []
    portfolio = build_portfolio(parse_portfolio(spec), source="p.yaml", get_contract=seeds.get)
    assert portfolio.holdings[0].position


def test_inline_contract_replaces_the_registry_one(seeds):
    doc = seeds["se-norrkoping-2016"].model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["payment_terms"]["parameters"]["C"]["value"] = "20000000"
    spec = _spec(contracts=[doc])
    portfolio = build_portfolio(parse_portfolio(spec), get_contract=seeds.get)
    base = build_portfolio(parse_portfolio(_spec()), get_contract=seeds.get)
    a = P.simulate(portfolio, n_scenarios=2000, seed=3)
    b = P.simulate(base, n_scenarios=2000, seed=3)
    assert a.value("expected_repayment") > b.value("expected_repayment")


def test_cli_simulate_and_stress(cli, seed_dir):
    from web.cli import main

    assert cli.invoke(main, ["seed", str(seed_dir)]).exit_code == 0
    r = cli.invoke(main, ["simulate", str(EXAMPLE), "--scenarios", "2000", "--seed", "4", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["settings"]["scenarios"] == 2000 and data["settings"]["seed"] == 4
    r2 = cli.invoke(main, ["simulate", str(EXAMPLE), "--scenarios", "2000", "--seed", "4", "--json"])
    assert json.loads(r2.output)["summary"] == data["summary"]  # same seed, same results
    text = cli.invoke(main, ["simulate", str(EXAMPLE), "--scenarios", "1000"])
    assert text.exit_code == 0 and "Expected shortfall 99 %" in text.output and "bloomberg" in text.output
    s = cli.invoke(main, ["stress", str(EXAMPLE), "--scenarios", "1000", "--json"])
    assert s.exit_code == 0, s.output
    table = json.loads(s.output)["table"]
    assert set(table["es99"]) == {"base", "sector_shock", "savings_delayed", "payer_termination", "worst_case"}


def test_cli_reports_file_errors(cli, tmp_path):
    from web.cli import main

    bad = tmp_path / "p.yaml"
    bad.write_text("base_currency: SEK\nholdings: []\n", encoding="utf-8")
    r = cli.invoke(main, ["simulate", str(bad)])
    assert r.exit_code != 0 and "holdings" in r.output
