"""Risk measures and estimators on simulated scenarios.

Conventions (fixed for the whole engine):

- *Loss* is positive: ``L = capital - repayment`` (undiscounted, in the base currency). A gain is a
  negative loss.
- ``alpha`` is the *confidence* level (0.95, 0.99), as in skfolio's ``beta``, not Riskfolio's
  significance level.
- ``VaR_alpha = L_(k)`` with ``k = ceil(n * alpha)`` (lower empirical quantile of the sorted losses).
- ``ES_alpha = 1/(1-alpha) * [(k/n - alpha) * L_(k) + (1/n) * sum_{j>k} L_(j)]``, the exact empirical
  expected shortfall (equal to the Rockafellar-Uryasev form).
- Ties are ordered by scenario index, so the tail is one well-defined set of scenarios.
- Euler ES contributions use the same weights on each contract's losses in the same scenarios, so they
  add up to the portfolio ES exactly (up to floating-point rounding).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = [
    "tail_rank",
    "var_es",
    "tail_weights",
    "es_contributions",
    "irr",
    "batch_standard_error",
    "var_es_rows",
    "hhi",
]


def tail_rank(n: int, alpha: float) -> int:
    """``k = ceil(n * alpha)`` (1-based rank of VaR), guarded against floating-point noise."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k = math.ceil(n * alpha - 1e-9)
    return min(max(k, 1), n)


def _order(loss: np.ndarray) -> np.ndarray:
    # Stable sort: ties keep scenario order, the convention the streaming tail store uses too.
    return np.argsort(loss, kind="stable")


def tail_weights(n: int, alpha: float) -> tuple[int, np.ndarray]:
    """Weights of the sorted order statistics ``L_(k) .. L_(n)`` in ES: returns ``(k, weights)``."""
    k = tail_rank(n, alpha)
    w = np.full(n - k + 1, 1.0 / n)
    w[0] = k / n - alpha
    return k, w / (1.0 - alpha)


def var_es(loss: np.ndarray, alpha: float) -> tuple[float, float]:
    """Empirical VaR and ES of ``loss`` at confidence ``alpha``.

    Parameters
    ----------
    loss
        Scenario losses (1-D).
    alpha
        Confidence level, e.g. 0.99.

    Returns
    -------
    (var, es)
    """
    loss = np.asarray(loss, dtype=np.float64)
    n = loss.size
    k, w = tail_weights(n, alpha)
    tail = np.partition(loss, k - 1)[k - 1:]
    tail.sort()
    return float(tail[0]), float(np.dot(w, tail))


def es_contributions(tail_rows: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """Euler ES contributions from the per-contract losses of the top scenarios.

    Parameters
    ----------
    tail_rows
        ``(m, N)`` per-contract losses of the ``m >= n - k + 1`` largest portfolio losses, sorted
        ascending by (portfolio loss, scenario index).
    n
        Total number of scenarios.
    alpha
        Confidence level.

    Returns
    -------
    ndarray
        ``(N,)`` contributions ``E[L_i | L >= VaR]`` (exact discrete weights); they sum to ES.
    """
    k, w = tail_weights(n, alpha)
    rows = tail_rows[-(n - k + 1):]
    if rows.shape[0] != n - k + 1:
        raise ValueError("not enough tail scenarios stored for this confidence level")
    # Fixed slices of rows in float64: a float64 copy of the whole tail would double the run's peak memory.
    out = np.zeros(rows.shape[1])
    for lo in range(0, rows.shape[0], 4096):
        out += w[lo:lo + 4096] @ rows[lo:lo + 4096].astype(np.float64)
    return out


def irr(cashflows: np.ndarray, times: np.ndarray, *, tol: float = 1e-10, max_iter: int = 50) -> np.ndarray:
    """Annual internal rate of return per scenario, vectorised (Newton with a bisection fallback).

    Parameters
    ----------
    cashflows
        ``(T, S)`` investor cash flows (negative = capital drawn, positive = repayment) at ``times``.
    times
        ``(T,)`` times in years from the first cash flow.

    Returns
    -------
    ndarray
        ``(S,)`` IRR: ``-1.0`` where nothing is repaid (total loss), ``nan`` where no rate solves the
        equation (no capital drawn, or repayments without a sign change).
    """
    cf = np.asarray(cashflows, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)[:, None]
    s = cf.shape[1]
    out = np.full(s, np.nan)
    pos = np.where(cf > 0, cf, 0.0).sum(axis=0)
    neg = -np.where(cf < 0, cf, 0.0).sum(axis=0)
    total_loss = (pos == 0) & (neg > 0)
    out[total_loss] = -1.0
    solve = (pos > 0) & (neg > 0)
    if not solve.any():
        return out
    # One draw and one repayment: the closed form (P / D) ** (1 / (t_P - t_D)) - 1, no iteration.
    one = solve & (np.count_nonzero(cf > 0, axis=0) == 1) & (np.count_nonzero(cf < 0, axis=0) == 1)
    if one.any():
        t_p = (np.where(cf > 0, t, 0.0)).sum(axis=0)
        t_n = (np.where(cf < 0, t, 0.0)).sum(axis=0)
        one &= t_p > t_n
        j = np.flatnonzero(one)
        out[j] = np.expm1(np.log(pos[j] / neg[j]) / (t_p[j] - t_n[j]))
        solve &= ~one
        if not solve.any():
            return out
    idx = np.flatnonzero(solve)
    c = cf[:, idx]
    # Start from MOIC^(1/duration) - 1, where duration is the gap between mean repayment and draw times.
    t_pos = (np.where(c > 0, c, 0.0) * t).sum(axis=0) / pos[idx]
    t_neg = (np.where(c < 0, -c, 0.0) * t).sum(axis=0) / neg[idx]
    dur = np.maximum(t_pos - t_neg, 0.25)
    r = np.clip((pos[idx] / neg[idx]) ** (1.0 / dur) - 1.0, -0.95, 5.0)
    active = np.ones(idx.size, dtype=bool)
    # Newton on a working set of columns, re-gathered only when half of it has converged: gathering
    # the active columns every iteration copied the cash flows more often than it computed with them.
    # Every column sees the same arithmetic whatever set it is in, so results do not depend on it.
    w = np.arange(idx.size)
    cw, tcw = c, t * c
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(max_iter):
            aw = active[w]
            n_active = int(np.count_nonzero(aw))
            if n_active == 0:
                break
            if 2 * n_active < w.size:
                keep = np.flatnonzero(aw)
                w, cw, tcw, aw = w[keep], cw[:, keep], tcw[:, keep], aw[keep]
            rw = r[w]
            disc = np.exp(-t * np.log1p(rw))
            f = (cw * disc).sum(axis=0)
            fp = -(tcw * disc).sum(axis=0) / (1.0 + rw)
            step = np.where(fp != 0, f / fp, 0.0)
            new = rw - step
            bad = ~np.isfinite(new) | (new <= -0.9999) | (new > 1e3)
            new = np.where(bad, np.nan, new)
            r[w] = np.where(aw, new, rw)
            done = ~bad & (np.abs(step) < tol * (1.0 + np.abs(new)))
            active[w[aw & (done | bad)]] = False
    # Bisection for the scenarios Newton left (divergence or no convergence within max_iter).
    left = np.flatnonzero(~np.isfinite(r) | active)
    if left.size:
        r[left] = _bisect_irr(c[:, left], t, tol)
    out[idx] = r
    return out


def _bisect_irr(c: np.ndarray, t: np.ndarray, tol: float) -> np.ndarray:
    """Bisection inside the sign-change bracket of the NPV nearest to a 0 % rate.

    Capital drawn over time between repayments gives several sign changes; the NPV is scanned on a grid of
    ``log(1 + r)`` first, so a root is found whenever one exists in (-99.99 %, 100,000 %).
    """
    grid = np.log1p(np.concatenate([-np.geomspace(0.9999, 1e-4, 24), [0.0], np.geomspace(1e-4, 1e3, 40)]))
    npv_grid = np.stack([(c * np.exp(-t * g)).sum(axis=0) for g in grid])  # (G, S)
    sign = np.sign(npv_grid)
    change = sign[:-1] * sign[1:] <= 0  # (G-1, S): a root in [grid[j], grid[j+1]]
    zero_at = int(np.flatnonzero(grid == 0.0)[0])
    dist = np.abs(np.arange(len(grid) - 1) - zero_at + 0.5)[:, None]
    score = np.where(change, dist, np.inf)
    j = np.argmin(score, axis=0)
    ok = np.isfinite(score[j, np.arange(c.shape[1])])
    lo, hi = grid[j], grid[j + 1]
    f_lo = npv_grid[j, np.arange(c.shape[1])]

    def npv(lg: np.ndarray) -> np.ndarray:
        return (c * np.exp(-t * lg)).sum(axis=0)

    for _ in range(200):
        mid = 0.5 * (lo + hi)
        f_mid = npv(mid)
        same = np.sign(f_mid) == np.sign(f_lo)
        lo = np.where(same, mid, lo)
        f_lo = np.where(same, f_mid, f_lo)
        hi = np.where(same, hi, mid)
        if np.max(hi - lo) < tol:
            break
    return np.where(ok, np.expm1(0.5 * (lo + hi)), np.nan)


def batch_standard_error(
    values: np.ndarray, statistic: Callable[[np.ndarray], float | np.ndarray], n_batches: int = 20
) -> float:
    """Monte Carlo standard error of ``statistic`` by batch means over consecutive scenario batches.

    Used for quantile-type estimators (VaR, ES, IRR percentiles) whose variance has no simple formula.
    ``statistic`` receives a ``(batches, batch_size)`` array (the scenarios that do not fill a whole
    batch are left out) and returns one estimate per batch (row).
    """
    values = np.asarray(values)
    n = values.shape[0]
    n_batches = min(n_batches, max(n // 50, 2))
    size = n // n_batches
    est = np.asarray(statistic(values[: size * n_batches].reshape(n_batches, size)), dtype=np.float64)
    est = est[np.isfinite(est)]
    if est.size < 2:
        return float("nan")
    return float(est.std(ddof=1) / math.sqrt(est.size))


def var_es_rows(loss: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`var_es` of each row of a 2-D array (vectorised, for batch standard errors)."""
    loss = np.asarray(loss, dtype=np.float64)
    n = loss.shape[1]
    k, w = tail_weights(n, alpha)
    tail = np.sort(np.partition(loss, k - 1, axis=1)[:, k - 1:], axis=1)
    return tail[:, 0], tail @ w


def hhi(exposures: np.ndarray) -> float:
    """Herfindahl-Hirschman index ``sum(s_i^2)`` of exposure shares (not the normalised form)."""
    x = np.asarray(exposures, dtype=np.float64)
    if np.any(x < 0) or x.sum() <= 0:
        raise ValueError("HHI needs non-negative exposures with a positive total")
    s = x / x.sum()
    return float(np.dot(s, s))
