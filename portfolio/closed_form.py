"""Closed-form loss distributions used as test oracles for the simulation (docs/engine.md §1).

Homogeneous binary portfolio: N contracts, each fails with probability ``p``, latent correlation
``rho`` through one Gaussian factor (Vasicek / one-factor Gaussian copula).
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, special, stats

__all__ = [
    "conditional_pd",
    "finite_pool_pmf",
    "lhp_cdf",
    "lhp_quantile",
    "lhp_variance",
    "t_copula_pool_pmf",
]


def conditional_pd(p: float, rho: float, z: np.ndarray | float) -> np.ndarray:
    """``p(z) = Phi((Phi^-1(p) - sqrt(rho) z) / sqrt(1 - rho))``."""
    return special.ndtr((special.ndtri(p) - np.sqrt(rho) * np.asarray(z)) / np.sqrt(1.0 - rho))


def finite_pool_pmf(n: int, p: float, rho: float) -> np.ndarray:
    """``P(D = k)``, k = 0..n: the conditional-binomial distribution integrated over the factor.

    Computed with Gauss-Hermite quadrature (200 nodes) of ``C(n,k) p(z)^k (1-p(z))^(n-k)``.
    """
    x, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / np.sqrt(2.0 * np.pi)
    pz = conditional_pd(p, rho, x)
    k = np.arange(n + 1)
    pmf = stats.binom.pmf(k[:, None], n, pz[None, :]) @ w
    return pmf / pmf.sum()


def t_copula_pool_pmf(n: int, p: float, rho: float, df: float) -> np.ndarray:
    """``P(D = k)`` for the one-factor t copula (latent ``X / sqrt(W/df)``, W ~ chi2_df common).

    Failure of contract i: ``X_i / sqrt(W/df) < t_df^-1(p)``, i.e. ``X_i < t^-1(p) sqrt(W/df)``; the
    pmf is the conditional binomial integrated over the factor Z and over W.
    """
    c = stats.t.ppf(p, df)
    x, wz = np.polynomial.hermite_e.hermegauss(120)
    wz = wz / np.sqrt(2.0 * np.pi)
    k = np.arange(n + 1)

    def integrand(s: float) -> np.ndarray:
        thr = c * np.sqrt(s / df)
        pz = special.ndtr((thr - np.sqrt(rho) * x) / np.sqrt(1.0 - rho))
        return (stats.binom.pmf(k[:, None], n, pz[None, :]) @ wz) * stats.chi2.pdf(s, df)

    lo, hi = stats.chi2.ppf([1e-12, 1 - 1e-12], df)
    pmf, _ = integrate.quad_vec(integrand, lo, hi, epsabs=1e-12, epsrel=1e-10)
    return pmf / pmf.sum()


def lhp_cdf(x: np.ndarray | float, p: float, rho: float) -> np.ndarray:
    """Large-homogeneous-pool CDF of the loss fraction: ``Phi((sqrt(1-rho) Phi^-1(x) - Phi^-1(p)) / sqrt(rho))``."""
    return special.ndtr((np.sqrt(1.0 - rho) * special.ndtri(x) - special.ndtri(p)) / np.sqrt(rho))


def lhp_quantile(alpha: float, p: float, rho: float) -> float:
    """LHP quantile of the loss fraction (the Basel IRB formula)."""
    return float(special.ndtr((special.ndtri(p) + np.sqrt(rho) * special.ndtri(alpha)) / np.sqrt(1.0 - rho)))


def lhp_variance(p: float, rho: float) -> float:
    """Variance of the LHP loss fraction: ``Phi2(Phi^-1(p), Phi^-1(p); rho) - p^2``."""
    q = special.ndtri(p)
    phi2 = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([q, q])
    return float(phi2 - p * p)
