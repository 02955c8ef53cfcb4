"""Portfolio specifications in the web app: checked against the registry and the app's limits, simulated.

The pages, the API and the background runs (:mod:`web.runs`) share these, so a specification is turned away
for the same reasons wherever it comes from, and a result has the same JSON form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from flask import current_app
from sqlmodel import Session

from portfolio import Portfolio as SimulatedPortfolio
from portfolio import simulate
from portfolio.stresses import default_stresses, default_targets, run_stresses
from registry.calibration import CalibratedPriors
from registry.portfolio_file import PortfolioFile, PortfolioFileError, build_portfolio
from registry.reference_rates import load_rate_table
from registry.services.contracts import get_contract

# Up to this many scenarios the API answers a simulation at once; larger runs go to the background.
SYNC_SCENARIOS = 20_000
MAX_SCENARIOS = 1_000_000
HISTOGRAM_BINS = 30
# Scenarios kept with a result for its export (the first ones, in the engine's order): enough to plot or
# re-aggregate in a spreadsheet, small enough to store with every saved result.
SCENARIO_SAMPLE = 1_000
# Stress tests run while the page waits: the base case and four stresses, each with at most this many scenarios.
STRESS_SCENARIOS = 10_000
STRESS_METRICS = ("expected_multiple", "irr_mean", "p_loss", "expected_loss", "es95", "es99")


@dataclass(frozen=True)
class SpecProblem:
    """Why a specification cannot be simulated: every ``(field, reason)``, the first one in front."""

    message: str
    field: str | None = None
    errors: tuple[tuple[str, str], ...] = ()


def resolve_or_error(spec: PortfolioFile, *, session: Session) -> SimulatedPortfolio | SpecProblem:
    """The engine's portfolio for ``spec`` (holdings looked up in the registry), or what is wrong with it."""
    limit = int(current_app.config.get("UTFALL_MAX_SCENARIOS", MAX_SCENARIOS))
    errors: list[tuple[str, str]] = []
    if spec.scenarios > limit:  # reported with the holdings' problems, all at once
        errors.append(("scenarios", f"at most {limit:,} scenarios in the web app (use the command line for more)"))
    try:
        built = build_portfolio(spec, source="portfolio",
                                get_contract=lambda cid: get_contract(session=session, contract_id=cid),
                                priors=CalibratedPriors.from_session(session),
                                rates=load_rate_table(session=session))
    except PortfolioFileError as exc:
        errors.extend(exc.errors or [("", str(exc))])
    except ValueError as exc:  # the engine's own checks (e.g. a holding's weight)
        if not errors:
            return SpecProblem(str(exc))
        errors.append(("", str(exc)))
    if errors:
        loc, reason = errors[0]
        return SpecProblem(f"{loc}: {reason}" if loc else reason, loc or None, tuple(errors))
    return built


def spec_json(spec: PortfolioFile) -> dict[str, Any]:
    """The stored form of a specification: the file's own field names, defaults written out."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def scenarios_of(spec: PortfolioFile) -> int:
    return spec.scenarios


def simulate_now(resolved: SimulatedPortfolio, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Simulate and return the JSON result: every table, plus histograms of the return distribution."""
    result = simulate(resolved, progress=progress)
    data = result.to_dict()
    capital = float(result.raw.capital)
    multiple = result.raw.repayment / capital if capital > 0 else result.raw.repayment * 0
    data["distributions"] = {"multiple": histogram(multiple), "irr": histogram(result.irr)}
    data["scenario_sample"] = scenario_sample(result.raw.repayment, result.raw.loss, multiple, result.irr)
    return jsonable(data)


def scenario_sample(repayment: np.ndarray, loss: np.ndarray, multiple: np.ndarray, irr: np.ndarray,
                    size: int = SCENARIO_SAMPLE) -> dict[str, Any]:
    """The first ``size`` scenarios' portfolio figures as columns (an undefined IRR as ``None``)."""
    n = min(size, int(repayment.shape[0]))
    return {"scenario": list(range(1, n + 1)), "repayment": repayment[:n].tolist(), "loss": loss[:n].tolist(),
            "multiple": multiple[:n].tolist(), "irr": irr[:n].tolist()}


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, non-finite floats as ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(mode="json"))
    return value


def histogram(values: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Bin edges and counts of the finite values (the return distribution on the page)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return {"edges": [], "counts": [], "n": 0}
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.005, hi + 0.005
    counts, edges = np.histogram(finite, bins=bins, range=(lo, hi))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts], "n": int(finite.size)}


def stress_now(resolved: SimulatedPortfolio, *, sector: str | None = None, payer: str | None = None,
               delay_months: float = 12.0) -> dict[str, Any]:
    """The standard stress scenarios beside the base case, with common random numbers, as JSON.

    ``sector`` and ``payer`` default to those with the most capital; the run uses the portfolio's seed and
    at most :data:`STRESS_SCENARIOS` scenarios (the page waits for it).
    """
    largest_sector, largest_payer = default_targets(resolved)
    sector, payer = sector or largest_sector, payer or largest_payer
    scenarios = min(resolved.n_scenarios, STRESS_SCENARIOS)
    stresses = default_stresses(resolved, sector=sector, payer=payer, delay_months=delay_months)
    result = run_stresses(resolved, stresses, n_scenarios=scenarios, seed=resolved.seed)
    data = result.to_dict()
    return jsonable({
        "settings": {"sector": sector, "payer": payer, "delay_months": delay_months, "scenarios": scenarios,
                     "seed": resolved.seed},
        "scenarios": [s["name"] for s in data["scenarios"]],
        "table": {m: data["table"][m] for m in STRESS_METRICS},
        "std_errors": {m: data["std_errors"][m] for m in STRESS_METRICS},
    })
