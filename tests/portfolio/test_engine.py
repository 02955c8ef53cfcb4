"""Engine properties: reproducibility, chunking invariance, ES contributions, correlation, timing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from helpers import binary_contract, homogeneous
from payoffs import Evaluation, Flow, GuaranteedNote, NorrkopingLike

import portfolio as P
from portfolio import risk
from portfolio.outcomes import LatentTransform, latent_cdf


def _norrkoping(**kw) -> P.ContractModel:
    base = dict(
        id="nk", payoff=NorrkopingLike(), capital=10e6, currency="SEK", country="SE",
        sector="child_and_family_welfare", start=date(2016, 8, 1), default_payment_date=date(2021, 3, 1),
        payers=("kommun",), investors=("lsv",), drawdowns=((date(2016, 8, 1), 6e6), (date(2017, 8, 1), 4e6)),
        outcomes={"delivered": P.Bernoulli(0.9),
                  "savings": P.PointMassMixture(0.1, 0.0, P.Normal(6e6, 5e6))},
    )
    base.update(kw)
    return P.ContractModel(**base)


def _guaranteed(i: int, country: str, **kw) -> P.ContractModel:
    return P.ContractModel(
        id=f"g{i}", payoff=GuaranteedNote(capital=1e6), capital=1e6, currency="EUR", country=country,
        sector="health", start=date(2018, 1, 1), default_payment_date=date(2022, 1, 1), payers=("payer",),
        guarantors=("guarantor",), investors=("investor",),
        outcomes={"rate": P.Beta.from_mean_sd(0.9, 0.2, low=0.0, high=1.3)}, **kw)


def _mixed() -> P.Portfolio:
    hs = [P.Holding(_norrkoping(), fx_rate=0.09)]
    hs += [P.Holding(binary_contract(i, 0.1, 0.2, country="US" if i % 2 else "SE")) for i in range(6)]
    hs += [P.Holding(_guaranteed(i, "GB"), weight=0.5) for i in range(3)]
    return P.Portfolio(tuple(hs), copula="t", df=5.0, hurdle_rate=0.05)


def test_fixed_seed_reproduces_exactly_and_seed_matters():
    portfolio = _mixed()
    a = P.simulate(portfolio, n_scenarios=6000, seed=42, block_size=1024)
    b = P.simulate(portfolio, n_scenarios=6000, seed=42, block_size=1024)
    c = P.simulate(portfolio, n_scenarios=6000, seed=43, block_size=1024)
    assert np.array_equal(a.loss, b.loss) and np.array_equal(a.irr, b.irr, equal_nan=True)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.contracts, b.contracts)
    pd.testing.assert_frame_equal(a.exposures, b.exposures)
    assert not np.array_equal(a.loss, c.loss)


def test_results_do_not_depend_on_threads_or_chunk_size():
    portfolio = _mixed()
    ref = P.simulate(portfolio, n_scenarios=7000, seed=9, block_size=1024, threads=1, chunk_size=1024)
    for threads, chunk in ((2, 1024), (2, 3072), (1, 8192)):
        r = P.simulate(portfolio, n_scenarios=7000, seed=9, block_size=1024, threads=threads, chunk_size=chunk)
        assert np.array_equal(ref.loss, r.loss)
        assert np.array_equal(ref.irr, r.irr, equal_nan=True)
        pd.testing.assert_frame_equal(ref.summary, r.summary, check_exact=True)
        pd.testing.assert_frame_equal(ref.contracts, r.contracts, check_exact=True)
        pd.testing.assert_frame_equal(ref.exposures, r.exposures, check_exact=True)


def test_chunk_size_must_be_a_multiple_of_the_block():
    with pytest.raises(ValueError, match="multiple of block_size"):
        P.simulate(_mixed(), n_scenarios=1000, block_size=1024, chunk_size=1500)


def test_es_contributions_add_up_and_var_es_match_the_definition():
    res = P.simulate(_mixed(), n_scenarios=5000, seed=1, block_size=1024)
    loss = np.sort(res.loss)
    n = loss.size
    for a in (95, 99):
        alpha = a / 100
        k = int(np.ceil(n * alpha))
        es = ((k / n - alpha) * loss[k - 1] + loss[k:].sum() / n) / (1 - alpha)
        assert res.value(f"var{a}") == pytest.approx(loss[k - 1], rel=1e-12)
        assert res.value(f"es{a}") == pytest.approx(es, rel=1e-12)
        assert res.contracts[f"es{a}_contribution"].sum() == pytest.approx(es, rel=1e-9)
    # Expected loss per holding adds up to the portfolio's mean net loss.
    mean_l = (res.contracts["capital"] - res.contracts["expected_repayment"]).sum()
    assert mean_l == pytest.approx(res.value("mean_net_loss"), rel=1e-6)


def test_es_contributions_equal_tail_means_of_contract_losses():
    # Two holdings of the same contract see the same outcomes: equal contributions, equal to half the ES.
    c = binary_contract(0, 0.3, 0.2)
    portfolio = P.Portfolio((P.Holding(c), P.Holding(c)))
    res = P.simulate(portfolio, n_scenarios=4000, seed=2, block_size=1024)
    contrib = res.contracts["es99_contribution"].to_numpy()
    assert contrib[0] == pytest.approx(contrib[1]) == pytest.approx(res.value("es99") / 2)


def test_common_random_numbers_keyed_by_contract_id():
    a = binary_contract(0, 0.2, 0.3, country="SE")
    alone = P.simulate(P.Portfolio((P.Holding(a),)), n_scenarios=5000, seed=4, block_size=1024)
    other = binary_contract(1, 0.2, 0.3, country="US", sector="education")
    both = P.simulate(P.Portfolio((P.Holding(other), P.Holding(a))), n_scenarios=5000, seed=4, block_size=1024)
    row_alone = alone.contracts.loc["note-0000"]
    row_both = both.contracts.loc["note-0000"]
    assert row_alone["expected_loss"] == row_both["expected_loss"]
    assert row_alone["loss_sd"] == row_both["loss_sd"]


def _linear_contract(cid: str, country: str, payer: str) -> P.ContractModel:
    class Linear:
        def evaluate(self, o):
            y = np.asarray(o["y"], dtype=np.float64)
            return Evaluation([Flow("pay", "outcome", payer, "inv", y, date(2020, 1, 1))], y)

    return P.ContractModel(id=cid, payoff=Linear(), outcomes={"y": P.Normal(10.0, 1.0)}, capital=10.0,
                           currency="EUR", country=country, sector="child_and_family_welfare",
                           start=date(2017, 1, 1), default_payment_date=date(2020, 1, 1), payers=(payer,),
                           investors=("inv",))


def _pair_correlation(a: P.ContractModel, b: P.ContractModel, n: int = 40_000) -> tuple[float, float]:
    r = P.simulate(P.Portfolio((P.Holding(a), P.Holding(b))), n_scenarios=n, seed=8, block_size=4096)
    sd = r.contracts["loss_sd"].to_numpy()
    cov = (r.loss.var(ddof=1) - sd[0] ** 2 - sd[1] ** 2) / 2
    return cov / (sd[0] * sd[1]), 1.0 / np.sqrt(n)


def test_two_swedish_municipal_contracts_correlate_more_than_swedish_and_us():
    se1 = _linear_contract("se-a", "SE", "kommun-a")
    se2 = _linear_contract("se-b", "SE", "kommun-b")
    us = _linear_contract("us-c", "US", "county-c")
    rho_se, se_ = _pair_correlation(se1, se2)
    rho_x, _ = _pair_correlation(se1, us)
    lo = P.FactorLoadings()
    # Normal marginals under a Gaussian copula: outcome correlation = latent correlation.
    assert rho_se == pytest.approx(lo.global_**2 + lo.country**2 + lo.sector**2, abs=4 * se_)
    assert rho_x == pytest.approx(lo.global_**2 + lo.sector**2, abs=4 * se_)
    assert rho_se - rho_x > 6 * se_


@pytest.mark.parametrize("df", [None, 5.0])
@pytest.mark.parametrize("model", [
    P.Normal(3.0, 2.0), P.LogNormal(5.0, 0.7), P.Beta.from_mean_sd(0.6, 0.15),
    P.PointMassMixture(0.1, 0.0, P.Normal(6e6, 5e6)), P.Empirical((0, 0.5, 1), (-1.0, 0.0, 4.0)),
])
def test_latent_transform_equals_the_quantile_of_the_copula_uniform(model, df):
    x = np.random.default_rng(0).standard_normal(20_000).astype(np.float32) * (1.3 if df else 1.0)
    got = LatentTransform(model, df)(x)
    x64 = x.astype(np.float64)

    def exact(z):
        return model.ppf(latent_cdf(z, df))

    want = exact(x64)
    err = np.abs(got - want) / np.std(want)
    # Interpolation in the latent table: tiny errors, largest in the steep tail just above a point mass.
    assert np.quantile(err, 0.999) < 5e-3
    assert err.max() < 2e-2
    assert got.dtype == np.float32


def test_bernoulli_threshold_is_exact_in_latent_space():
    x = np.linspace(-4, 4, 100_001).astype(np.float32)
    for df in (None, 4.0):
        got = LatentTransform(P.Bernoulli(0.8), df)(x)
        assert got.dtype == bool
        assert np.array_equal(got, latent_cdf(x.astype(np.float64), df) > 0.2)


def test_scalar_payoff_equals_vectorised_payoff():
    pay = NorrkopingLike()
    rng = np.random.default_rng(1)
    d = rng.random(500) < 0.8
    s = rng.normal(8e6, 6e6, 500)
    vec = pay.evaluate({"delivered": d, "savings": s}).investor_repayment
    scalar = np.array([pay.evaluate_scalar(bool(a), float(b)) for a, b in zip(d, s, strict=True)])
    np.testing.assert_allclose(vec, scalar, rtol=0, atol=1e-6)


def test_irr_vectorised_matches_root_of_npv():
    rng = np.random.default_rng(3)
    s = 400
    times = np.array([0.0, 0.5, 1.0, 2.0, 3.5])
    cfs = np.zeros((5, s))
    cfs[0] = -1.0
    cfs[1] = -rng.random(s) * 0.5
    cfs[2:] = rng.random((3, s)) * 0.8
    cfs[:, 0] = [-1, 0, 0, 0, 0]  # total loss
    cfs[:, 1] = [-1, 0, 1.1, 0, 0]  # 10 % over one year
    r = risk.irr(cfs, times)
    assert r[0] == -1.0 and r[1] == pytest.approx(0.1, abs=1e-10)
    ok = np.isfinite(r) & (r > -1)
    assert ok.sum() >= s - 2
    npv = (cfs[:, ok] * (1 + r[None, ok]) ** -times[:, None]).sum(axis=0)
    assert np.max(np.abs(npv)) < 1e-8


def test_window_delay_lowers_repayment_and_shift_delay_only_lowers_irr():
    base = _norrkoping()
    window = P.DelayModel(P.LogNormal(12, 0.5), effect="window", window_months=24, metrics=("savings",))
    shift = P.DelayModel(P.LogNormal(12, 0.5), effect="shift")
    kw = dict(n_scenarios=5000, seed=6, block_size=1024)

    def portfolio_of(c):
        return P.Portfolio((P.Holding(c),), hurdle_rate=0.05)

    r0 = P.simulate(portfolio_of(base), **kw)
    rw = P.simulate(portfolio_of(replace(base, delay=window)), **kw)
    rs = P.simulate(portfolio_of(replace(base, delay=shift)), **kw)
    assert rw.value("expected_repayment") < r0.value("expected_repayment") - 5 * rw.summary.loc[
        "expected_repayment", "std_error"]
    # A delay that only moves payment dates draws its own random numbers: outcomes are unchanged.
    assert rs.value("expected_repayment") == pytest.approx(r0.value("expected_repayment"), rel=1e-12)
    # Paid later: worth less at the hurdle rate (the IRR moves towards 0, up when it is negative).
    assert rs.value("npv_hurdle") < r0.value("npv_hurdle")
    assert not np.array_equal(rs.irr, r0.irr)


def test_drawdowns_and_payment_dates_give_the_irr():
    # A note paying 1.21 two years (730 days) after a single draw of 1 has IRR 10 % in every scenario.
    class Fixed:
        def evaluate(self, o):
            n = np.asarray(o["x"]).shape
            amt = np.full(n, 1.21)
            return Evaluation([Flow("p", "outcome", "payer", "inv", amt, date(2020, 12, 31))], amt)

    c = P.ContractModel(id="fixed", payoff=Fixed(), outcomes={"x": P.Normal(0, 1)}, capital=1.0, currency="EUR",
                        country="SE", sector="health", start=date(2019, 1, 1), default_payment_date=date(2021, 1, 1),
                        payers=("payer",), investors=("inv",))
    r = P.simulate(P.Portfolio((P.Holding(c, weight=3.0),)), n_scenarios=500, seed=0)
    assert np.allclose(r.irr, 0.1, atol=1e-9)
    assert r.value("expected_multiple") == pytest.approx(1.21)
    assert r.value("p_loss") == 0.0


def test_guarantor_and_payer_exposure():
    portfolio = P.Portfolio(tuple(P.Holding(_guaranteed(i, "GB"), weight=0.5) for i in range(3)))
    r = P.simulate(portfolio, n_scenarios=4000, seed=3, block_size=1024)
    g = r.exposures.loc[("guarantor", "guarantor")]
    p = r.exposures.loc[("payer", "outcome_payer")]
    # Full contract scale: three contracts of 1e6, the guarantor tops up to 80 %, the payer pays up to 120 %.
    assert g["max_contractual_exposure"] == pytest.approx(3 * 0.8e6)
    assert p["max_contractual_exposure"] == pytest.approx(3 * 1.2e6, rel=1e-6)
    assert 0 <= g["expected_payment"] <= g["p99_payment"] <= g["max_contractual_exposure"]
    # The investor never gets less than the 80 % floor: the largest loss is 20 % of the capital held.
    assert r.loss.max() <= 0.2 * 1.5e6 + 1e-3
    np.testing.assert_allclose(r.contracts["worst_case_repayment"], 0.8e6 * 0.5)


def test_concentration_hhi():
    hs = [P.Holding(binary_contract(i, 0.1, 0.2, country=c, sector=s)) for i, (c, s) in
          enumerate([("SE", "health"), ("SE", "health"), ("US", "education"), ("GB", "health")])]
    r = P.simulate(P.Portfolio(tuple(hs)), n_scenarios=1000, seed=0)
    assert r.hhi.loc["country", "hhi_capital"] == pytest.approx(0.5**2 + 0.25**2 + 0.25**2)
    assert r.hhi.loc["sector", "hhi_capital"] == pytest.approx(0.75**2 + 0.25**2)
    assert r.hhi.loc["payer", "hhi_capital"] == pytest.approx(4 * 0.25**2)


def test_stresses_side_by_side():
    portfolio = _mixed()
    res = P.stress(portfolio, n_scenarios=3000, seed=1, block_size=1024)
    assert list(res.table.columns) == ["base", "sector_shock", "savings_delayed", "payer_termination", "worst_case"]
    t = res.table
    assert t.loc["expected_repayment", "worst_case"] < t.loc["expected_repayment", "base"]
    assert t.loc["expected_repayment", "sector_shock"] < t.loc["expected_repayment", "base"]
    # Later payments are worth less at the hurdle rate (IRRs below 0 would move towards 0 instead).
    assert t.loc["npv_hurdle", "savings_delayed"] < t.loc["npv_hurdle", "base"]
    assert t.loc["expected_repayment", "savings_delayed"] == pytest.approx(t.loc["expected_repayment", "base"])
    assert t.loc["expected_loss", "payer_termination"] >= t.loc["expected_loss", "base"]
    assert res.to_dict()["table"]["es99"]["base"] == pytest.approx(t.loc["es99", "base"])


def test_default_priors_are_documented_models():
    from portfolio.priors import SECTOR_PRIORS, default_model

    m = default_model("criminal_justice", "rate", target=0.10)
    # P(reaching the first target) is the sector's p_success (the point mass sits below the target).
    u = np.linspace(0, 1, 200_001)[1:-1]
    p_reach = np.mean(m.ppf(u) >= 0.10)
    prior = SECTOR_PRIORS["criminal_justice"]
    assert p_reach == pytest.approx((1 - prior.p_not_delivered) * prior.p_success, abs=1e-3)
    assert default_model("health", "binary").p == SECTOR_PRIORS["health"].p_success
    assert default_model("unknown-sector", "binary").p == SECTOR_PRIORS["other"].p_success


def test_result_to_dict_is_json():
    import json

    r = P.simulate(homogeneous(5, 0.1, 0.2), n_scenarios=1000, seed=0)
    d = json.loads(json.dumps(r.to_dict()))
    assert set(d) >= {"summary", "contracts", "exposures", "concentration", "hhi", "assumptions", "settings"}
    assert d["summary"]["es99"]["estimate"] == pytest.approx(r.value("es99"))


STRESS_TWICE = """
import portfolio
from helpers import homogeneous

holdings = homogeneous(3, 0.1, 0.2)
first = portfolio.stress(holdings, n_scenarios=500, seed=1)
second = portfolio.stress(holdings, n_scenarios=500, seed=1)
assert first.table.equals(second.table), "the second call gave other numbers"
print("ok")
"""


def test_stress_can_be_called_twice_in_a_fresh_interpreter():
    # A submodule named like the function (portfolio.stress) replaced the function on its first import, so
    # in a new process the second call failed; only a fresh interpreter shows the first-import behaviour.
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    done = subprocess.run([sys.executable, "-c", STRESS_TWICE], cwd=here.parents[1], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(here)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_stress_can_be_called_twice():
    import portfolio

    three = homogeneous(3, 0.1, 0.2)
    first = portfolio.stress(three, n_scenarios=500, seed=1)
    second = portfolio.stress(three, n_scenarios=500, seed=1)
    assert callable(portfolio.stress) and not isinstance(portfolio.stress, type(portfolio))
    pd.testing.assert_frame_equal(first.table, second.table)


def test_simulated_irr_is_the_xirr_of_the_same_dated_flows():
    # Three years, two drawdowns and two payments on days inside their months: booked on the first of the
    # month, the simulation gave a higher IRR than `utfall payout` for the same flows.
    from registry.finance import xirr

    draws = ((date(2019, 3, 28), 600_000.0), (date(2019, 9, 30), 400_000.0))
    pays = ((date(2021, 6, 29), "coupon", 80_000.0), (date(2022, 3, 30), "outcome", 1_100_000.0))

    class Dated:
        def evaluate(self, o):
            n = np.asarray(o["x"]).shape
            flows = [Flow(comp, comp, "payer", "inv", np.full(n, amt), when) for when, comp, amt in pays]
            return Evaluation(flows, sum(f.amount for f in flows))

    c = P.ContractModel(id="dated", payoff=Dated(), outcomes={"x": P.Normal(0, 1)}, capital=1e6, currency="SEK",
                        country="SE", sector="health", start=date(2019, 3, 28), drawdowns=draws,
                        default_payment_date=date(2022, 3, 30), payers=("payer",), investors=("inv",))
    r = P.simulate(P.Portfolio((P.Holding(c),)), n_scenarios=200, seed=0)
    want = xirr([d for d, _ in draws] + [d for d, _, _ in pays], [-a for _, a in draws] + [a for _, _, a in pays])
    assert want is not None
    np.testing.assert_allclose(r.irr, want, rtol=0, atol=1e-9)


def test_a_delay_moves_payments_by_whole_months_to_the_same_day():
    # Savings four months late move a payment due 15 March to 15 July (not to the first of a month).
    from registry.finance import xirr

    class Pay:
        def evaluate(self, o):
            amt = np.full(np.asarray(o["x"]).shape, 1.2)
            return Evaluation([Flow("p", "outcome", "payer", "inv", amt, date(2021, 3, 15))], amt)

    c = P.ContractModel(id="late", payoff=Pay(), outcomes={"x": P.Normal(0, 1)}, capital=1.0, currency="EUR",
                        country="SE", sector="health", start=date(2019, 1, 10), default_payment_date=date(2021, 3, 15),
                        payers=("payer",), investors=("inv",))
    r = P.simulate(P.Portfolio((P.Holding(c),)), n_scenarios=200, seed=0,
                   stress=P.Stress("late", extra_delay_months=4))
    want = xirr([date(2019, 1, 10), date(2021, 7, 15)], [-1.0, 1.2])
    np.testing.assert_allclose(r.irr, want, rtol=0, atol=1e-9)


class _Both:
    """Repays 1 when both binary metrics are true, else nothing."""

    def evaluate(self, o):
        both = np.asarray(o["a"]) & np.asarray(o["b"])
        amt = both.astype(np.float64)
        return Evaluation([Flow("pay", "outcome", "payer", "inv", amt, date(2020, 1, 1))], amt)


@pytest.mark.parametrize(("mc", "loadings"), [(0.6, P.FactorLoadings(0.0, 0.0, 0.0, 0.0)),
                                              (0.8, P.FactorLoadings()), (0.0, P.FactorLoadings())])
def test_two_bernoulli_metrics_of_a_contract_match_the_bivariate_normal(mc, loadings):
    # metric_correlation c: each metric's contract-specific part is c*eps + sqrt(1-c^2)*own noise, so two
    # metrics correlate R2 + (1 - R2) c^2 in latent space; P(a and b) is the bivariate normal orthant.
    from scipy import stats

    pa, pb = 0.7, 0.6
    c = P.ContractModel(id="ab", payoff=_Both(), outcomes={"a": P.Bernoulli(pa), "b": P.Bernoulli(pb)}, capital=1.0,
                        currency="EUR", country="SE", sector="health", start=date(2017, 1, 1),
                        default_payment_date=date(2020, 1, 1), payers=("payer",), investors=("inv",),
                        loadings=loadings, metric_correlation=mc)
    n = 60_000
    r = P.simulate(P.Portfolio((P.Holding(c),)), n_scenarios=n, seed=5, block_size=4096)
    rho = loadings.r2 + (1 - loadings.r2) * mc**2
    za, zb = stats.norm.ppf(pa), stats.norm.ppf(pb)
    want = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([za, zb])
    got = r.value("expected_repayment")
    assert got == pytest.approx(want, abs=3 * np.sqrt(want * (1 - want) / n))


def test_a_contracts_correlation_with_others_does_not_depend_on_its_number_of_metrics():
    class OnlyY:
        def evaluate(self, o):
            y = np.asarray(o["y"], dtype=np.float64)
            return Evaluation([Flow("pay", "outcome", "kommun-b", "inv", y, date(2020, 1, 1))], y)

    a = _linear_contract("se-a", "SE", "kommun-a")
    one = _linear_contract("se-b", "SE", "kommun-b")
    two = replace(one, payoff=OnlyY(), outcomes={"y": P.Normal(10.0, 1.0), "z": P.Bernoulli(0.5)})
    rho_one, se_ = _pair_correlation(a, one)
    rho_two, _ = _pair_correlation(a, two)
    lo = P.FactorLoadings()
    assert rho_two == pytest.approx(lo.global_**2 + lo.country**2 + lo.sector**2, abs=4 * se_)
    assert rho_two == pytest.approx(rho_one, abs=4 * se_)


def test_terms_that_pay_the_investors_nothing_report_no_position_not_a_total_loss():
    class ToFund:
        def evaluate(self, o):
            amt = np.where(np.asarray(o["success"]), 1.1, 0.0)
            return Evaluation([Flow("pay", "outcome", "payer", "fund", amt, date(2020, 1, 1))], amt * 0)

    koto = P.ContractModel(id="koto", payoff=ToFund(), outcomes={"success": P.Bernoulli(0.8)}, capital=1.0,
                           currency="EUR", country="JP", sector="health", start=date(2017, 1, 1),
                           default_payment_date=date(2020, 1, 1), payers=("payer",), investors=("inv",))
    other = binary_contract(0, 0.1, 0.2)
    r = P.simulate(P.Portfolio((P.Holding(koto), P.Holding(other))), n_scenarios=2000, seed=1)
    row = r.contracts.loc["koto"]
    assert row["investor_position"] == "none in the payment terms"
    assert row["capital"] == 0 and np.isnan(row["expected_multiple"])
    assert r.settings["holdings_without_investor_flows"] == ["koto"]
    assert r.value("capital") == 1.0  # the other note only
    assert r.value("expected_multiple") > 0.85  # not dragged down by a total loss on koto
    assert r.exposures.loc[("payer", "outcome_payer"), "expected_payment"] > 0  # the payer still pays the fund


def test_irr_closed_form_for_one_draw_and_one_repayment_equals_newton():
    rng = np.random.default_rng(7)
    s = 300
    times = np.array([0.0, 1.3, 2.7])
    single = np.zeros((3, s))
    single[0] = -1.0
    single[2] = rng.random(s) * 2 + 0.01  # one draw, one repayment: the closed form
    both = single.copy()
    both[1, :] = 1e-9  # a tiny second repayment: Newton, a different path to nearly the same rate
    r1, r2 = risk.irr(single, times), risk.irr(both, times)
    np.testing.assert_allclose(r1, single[2] ** (1 / 2.7) - 1, rtol=1e-13)
    np.testing.assert_allclose(r1, r2, atol=1e-8)


def test_tail_larger_than_a_chunk_gives_the_same_contributions_whatever_the_chunking():
    # 5 % of 6000 scenarios is 300, more than a 128-scenario chunk: early chunks hand over every scenario.
    portfolio = _mixed()
    ref = P.simulate(portfolio, n_scenarios=6000, seed=4, block_size=128, threads=1, chunk_size=128)
    order = np.lexsort((np.arange(6000), ref.loss))[-ref.raw.tail_loss.size:]
    assert np.array_equal(ref.raw.tail_index, order)
    for threads, chunk in ((2, 128), (1, 640), (2, 6016)):
        r = P.simulate(portfolio, n_scenarios=6000, seed=4, block_size=128, threads=threads, chunk_size=chunk)
        assert np.array_equal(ref.raw.tail_rows, r.raw.tail_rows)
        pd.testing.assert_frame_equal(ref.contracts, r.contracts, check_exact=True)
