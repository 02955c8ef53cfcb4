"""The engine against closed forms: finite-N conditional binomial, Vasicek LHP, t-copula pool."""

from __future__ import annotations

import numpy as np
from helpers import homogeneous

import portfolio as P
from portfolio import closed_form as cf

N, PD, RHO = 20, 0.2, 0.3
S = 40_000


def _tail_prob(loss: np.ndarray, k: int) -> tuple[float, float]:
    p = float(np.mean(loss >= k - 0.5))
    return p, float(np.sqrt(max(p * (1 - p), 1e-12) / loss.size))


def test_finite_pool_matches_conditional_binomial():
    res = P.simulate(homogeneous(N, PD, RHO), n_scenarios=S, seed=11, block_size=4096)
    loss = res.loss  # number of failed notes (capital 1 each, nothing recovered)
    assert np.allclose(loss, np.rint(loss), atol=1e-4)
    exact = cf.finite_pool_pmf(N, PD, RHO)
    counts = np.bincount(np.rint(loss).astype(int), minlength=N + 1) / S
    se = np.sqrt(exact * (1 - exact) / S)
    assert np.all(np.abs(counts - exact) <= 4.5 * se + 1e-4), np.abs(counts - exact) / se
    for k in (5, 10, 15):
        p, s = _tail_prob(loss, k)
        assert abs(p - exact[k:].sum()) <= 4 * s
    # Expected loss is N * PD exactly in expectation.
    assert abs(res.value("mean_net_loss") - N * PD) <= 4 * res.summary.loc["mean_net_loss", "std_error"]


def test_large_pool_approaches_vasicek_lhp():
    n, p, rho = 600, 0.05, 0.15
    res = P.simulate(homogeneous(n, p, rho), n_scenarios=12_000, seed=3, block_size=4096)
    frac = res.loss / n
    exact = cf.finite_pool_pmf(n, p, rho)
    for x in (0.02, 0.05, 0.10, 0.20):
        est = float(np.mean(frac <= x + 1e-9))
        se = np.sqrt(est * (1 - est) / frac.size)
        lhp = float(cf.lhp_cdf(x, p, rho))
        # granularity gap of a finite pool, computed exactly; the rest must be Monte Carlo error
        gap = abs(exact[: int(np.floor(x * n + 1e-9)) + 1].sum() - lhp)
        assert abs(est - lhp) <= 4 * se + gap + 1e-3, (x, est, lhp, gap)
    q99 = res.value("var99") / n
    assert abs(q99 - cf.lhp_quantile(0.99, p, rho)) < 0.03
    var_lhp = cf.lhp_variance(p, rho)
    assert abs(frac.var() - (var_lhp + (p - p * p - var_lhp) / n)) < 0.1 * var_lhp


def test_t_copula_matches_closed_form_and_has_heavier_tails():
    gauss = P.simulate(homogeneous(N, PD, RHO), n_scenarios=S, seed=5, block_size=4096)
    t = P.simulate(homogeneous(N, PD, RHO, copula="t", df=4.0), n_scenarios=S, seed=5, block_size=4096)
    exact_t = cf.t_copula_pool_pmf(N, PD, RHO, 4.0)
    exact_g = cf.finite_pool_pmf(N, PD, RHO)
    for k in (10, 15):
        pt, st = _tail_prob(t.loss, k)
        pg, sg = _tail_prob(gauss.loss, k)
        assert abs(pt - exact_t[k:].sum()) <= 4 * st
        assert abs(pg - exact_g[k:].sum()) <= 4 * sg
    # Same marginals, heavier joint tail: P(>= 15 of 20 fail) clearly larger under the t copula.
    pt, st = _tail_prob(t.loss, 15)
    pg, sg = _tail_prob(gauss.loss, 15)
    assert pt - pg > 3 * np.hypot(st, sg)
    assert abs(t.value("mean_net_loss") - gauss.value("mean_net_loss")) < 4 * np.hypot(
        t.summary.loc["mean_net_loss", "std_error"], gauss.summary.loc["mean_net_loss", "std_error"])
    assert t.value("es99") > gauss.value("es99")
