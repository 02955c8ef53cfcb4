"""One simulation of a portfolio: the engine's run, summarised into result tables.

Re-exported as :func:`portfolio.simulate`; its own module so that :mod:`portfolio.stresses` can run it
without importing the package that imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portfolio.contract import Portfolio
from portfolio.engine import DEFAULT_BLOCK_SIZE, Stress, run
from portfolio.results import SimulationResult, build_result

__all__ = ["simulate"]


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
