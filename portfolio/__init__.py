"""Portfolio engine for social outcomes contracts: correlated outcomes, payments, risk.

Pure numpy/pandas/scipy. Contracts arrive through :class:`portfolio.contract.ContractModel`; the
registry's glue (``registry.portfolio_file``) builds them from contract documents and portfolio files.

>>> from portfolio import simulate          # doctest: +SKIP
>>> result = simulate(portfolio, n_scenarios=100_000, seed=1)
>>> result.summary, result.contracts, result.exposures, result.concentration
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portfolio.contract import ContractModel, FactorLoadings, Holding, Portfolio
from portfolio.engine import DEFAULT_BLOCK_SIZE, Stress, run
from portfolio.outcomes import (
    Bernoulli,
    Beta,
    DelayModel,
    Empirical,
    LogNormal,
    Normal,
    PointMassMixture,
)
from portfolio.results import SimulationResult, build_result
from portfolio.stresses import StressResult, run_stresses

__all__ = [
    "simulate",
    "stress",
    "SimulationResult",
    "Stress",
    "ContractModel",
    "FactorLoadings",
    "Holding",
    "Portfolio",
    "Normal",
    "LogNormal",
    "Beta",
    "Bernoulli",
    "PointMassMixture",
    "Empirical",
    "DelayModel",
]


def simulate(
    portfolio: Portfolio,
    *,
    n_scenarios: int | None = None,
    seed: int | None = None,
    stress: Stress | None = None,
    threads: int | None = None,
    chunk_size: int | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: Callable[[int], None] | None = None,
    cluster: Any = None,
) -> SimulationResult:
    """Simulate a portfolio of outcome contracts.

    Parameters
    ----------
    portfolio
        Holdings and settings (copula, degrees of freedom, default scenario count and seed).
    n_scenarios, seed
        Override the portfolio's own settings.
    stress
        A deterministic change to the model (see :func:`portfolio.stress`), same random numbers.
    threads
        Worker threads over chunks (default: the number of CPUs). Does not change results.
    chunk_size
        Scenarios per work chunk, a multiple of ``block_size`` (default ``block_size``). Does not
        change results.
    block_size
        Scenarios per random-number block. Part of the seed's identity: results are reproducible for a
        given (seed, block_size).
    progress
        Called with the number of scenarios finished after each chunk (for a progress bar).
    cluster
        A Dask scheduler address (``tcp://host:8786``) or a ``distributed.Client``: run the chunks on
        that cluster (optional extra ``utfall[distributed]``). Same results as in-process.

    Returns
    -------
    SimulationResult
        ``summary`` (estimates with standard errors), ``contracts``, ``exposures``, ``concentration``,
        ``hhi`` and ``assumptions`` tables.
    """
    raw = run(portfolio, n_scenarios=n_scenarios, seed=seed, stress=stress, threads=threads,
              chunk_size=chunk_size, block_size=block_size, progress=progress, cluster=cluster)
    return build_result(raw)


def stress(portfolio: Portfolio, stresses: list[Stress] | None = None, **kwargs: Any) -> StressResult:
    """Base case and named stresses side by side (default: :func:`portfolio.stresses.default_stresses`).

    Keyword arguments go to :func:`simulate` for every run (same seed: common random numbers).
    """
    return run_stresses(portfolio, stresses, **kwargs)
