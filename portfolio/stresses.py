"""Named stress scenarios, run with the same random numbers as the base case and shown side by side."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from portfolio.contract import Portfolio
from portfolio.engine import Stress, run, termination_outcomes, worst_case_outcomes
from portfolio.results import SUMMARY_LABELS, SimulationResult, _jsonable, build_result

__all__ = ["default_stresses", "default_targets", "StressResult", "run_stresses", "SECTOR_SHOCK_SD"]

SECTOR_SHOCK_SD = -2.0
"""Shift of the shocked sector's factor, in standard deviations (about a 1-in-44 bad year for it)."""


def _largest(portfolio: Portfolio, key: Callable[[Any], Sequence[str]]) -> str:
    totals: dict[str, float] = {}
    for h in portfolio.holdings:
        groups = key(h.contract)
        for g in groups:
            totals[g] = totals.get(g, 0.0) + h.capital_base / len(groups)
    return max(sorted(totals), key=lambda g: totals[g])


def default_targets(portfolio: Portfolio) -> tuple[str, str]:
    """The sector and the outcome payer the standard scenarios hit when none is named: those with the most
    capital (a contract with several payers counts a share of its capital for each).

    Returns
    -------
    tuple of str
        ``(sector, payer)``.
    """
    return (_largest(portfolio, lambda c: (c.sector,)),
            _largest(portfolio, lambda c: c.payers or (c.primary_payer,)))


def default_stresses(
    portfolio: Portfolio, *, sector: str | None = None, payer: str | None = None, delay_months: float = 12.0
) -> list[Stress]:
    """The standard named scenarios.

    - ``sector_shock``: the sector with the most capital (or ``sector``) has its factor shifted by
      :data:`SECTOR_SHOCK_SD` standard deviations in every scenario;
    - ``savings_delayed``: every contract's savings arrive ``delay_months`` later (windowed contracts
      measure less; others are paid later);
    - ``payer_termination``: the outcome payer with the most capital (or ``payer``) terminates every
      contract it pays: their outcomes take each model's termination value (the point mass of a mixture,
      ``false`` for binary metrics, the low extreme otherwise);
    - ``worst_case``: every contract at the outcome combination that repays investors least.
    """
    largest_sector, largest_payer = default_targets(portfolio)
    sector, payer = sector or largest_sector, payer or largest_payer
    terminated = {h.contract.id: termination_outcomes(h.contract) for h in portfolio.holdings
                  if payer in (h.contract.payers or (h.contract.primary_payer,))}
    return [
        Stress("sector_shock", f"sector {sector}: factor shifted by {SECTOR_SHOCK_SD:g} sd",
               factor_shift={f"sector:{sector}": SECTOR_SHOCK_SD}),
        Stress("savings_delayed", f"savings delayed by {delay_months:g} months", extra_delay_months=delay_months),
        Stress("payer_termination", f"payer {payer} terminates its {len(terminated)} contract(s)",
               forced=terminated),
        Stress("worst_case", "every contract at the outcomes that repay investors least",
               forced=worst_case_outcomes(portfolio)),
    ]


class StressResult:
    """Base case and stresses side by side.

    Attributes
    ----------
    table
        Index: metric; columns: ``base`` and each stress name (estimates).
    std_errors
        Same shape: Monte Carlo standard errors.
    descriptions
        Stress name -> description.
    results
        Stress name -> the full :class:`~portfolio.results.SimulationResult`.
    """

    def __init__(self, results: dict[str, SimulationResult], descriptions: dict[str, str]) -> None:
        self.results = results
        self.descriptions = descriptions
        self.table = pd.DataFrame({k: r.summary["estimate"] for k, r in results.items()})
        self.std_errors = pd.DataFrame({k: r.summary["std_error"] for k, r in results.items()})
        self.table.index.name = "metric"

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenarios": [{"name": k, "description": self.descriptions[k]} for k in self.results],
            "table": {m: {k: _jsonable(v) for k, v in row.items()} for m, row in self.table.iterrows()},
            "std_errors": {m: {k: _jsonable(v) for k, v in row.items()} for m, row in self.std_errors.iterrows()},
            "labels": SUMMARY_LABELS,
        }


def run_stresses(
    portfolio: Portfolio, stresses: Sequence[Stress] | None = None, **kwargs: Any
) -> StressResult:
    """Simulate the base case and each stress with common random numbers.

    Keyword arguments are :func:`portfolio.simulate`'s; each run is what it returns, built here from the
    engine's run so that this module does not import the package that imports it.
    """
    stresses = list(stresses) if stresses is not None else default_stresses(portfolio)
    results = {"base": build_result(run(portfolio, **kwargs))}
    desc = {"base": "the portfolio's own assumptions"}
    for s in stresses:
        results[s.name] = build_result(run(portfolio, stress=s, **kwargs))
        desc[s.name] = s.description
    return StressResult(results, desc)
