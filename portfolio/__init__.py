"""Portfolio engine for social outcomes contracts: correlated outcomes, payments, risk.

Pure numpy/pandas/scipy. Contracts arrive through :class:`portfolio.contract.ContractModel`; the
registry's glue (``registry.portfolio_file``) builds them from contract documents and portfolio files.

>>> from portfolio import simulate          # doctest: +SKIP
>>> result = simulate(portfolio, n_scenarios=100_000, seed=1)
>>> result.summary, result.contracts, result.exposures, result.concentration
"""

from __future__ import annotations

from typing import Any

from portfolio.contract import ContractModel, FactorLoadings, Holding, Portfolio
from portfolio.engine import Stress
from portfolio.outcomes import (
    Bernoulli,
    Beta,
    DelayModel,
    Empirical,
    LogNormal,
    Normal,
    PointMassMixture,
)
from portfolio.results import SimulationResult
from portfolio.simulation import simulate
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


def stress(portfolio: Portfolio, stresses: list[Stress] | None = None, **kwargs: Any) -> StressResult:
    """Base case and named stresses side by side (default: :func:`portfolio.stresses.default_stresses`).

    Keyword arguments go to :func:`simulate` for every run (same seed: common random numbers).
    """
    return run_stresses(portfolio, stresses, **kwargs)
