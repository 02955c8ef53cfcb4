"""The small protocol through which the engine sees a contract, and the portfolio it simulates.

``portfolio`` never imports the registry. A contract reaches the engine as a :class:`ContractModel`:
identity and classification, who pays and who guarantees, the investor position (capital and
drawdowns), the outcome metrics with their models, and a *payoff* object. In production the payoff is
``registry.terms.CompiledTerms``; anything with the same ``evaluate`` works (tests use small numpy
classes).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from portfolio.outcomes import DelayModel, OutcomeModel

__all__ = [
    "FlowLike",
    "EvaluationLike",
    "Payoff",
    "FactorLoadings",
    "ContractModel",
    "Holding",
    "Portfolio",
    "month_index",
    "payment_day",
    "add_months",
]


@runtime_checkable
class FlowLike(Protocol):
    """One payment stream of an evaluation (``registry.terms.Flow`` satisfies this)."""

    id: str
    component: str
    payer: str
    payee: str
    tags: Sequence[str]
    date: Any  # datetime.date, partial ISO date string ("2019-03") or None (contract's default date)
    amount: Any  # ndarray over scenarios (or a scalar for a constant payment)


@runtime_checkable
class EvaluationLike(Protocol):
    flows: Sequence[FlowLike]
    investor_repayment: Any


@runtime_checkable
class Payoff(Protocol):
    """Payment terms evaluated on outcome arrays: binary metrics as bool arrays, others as floats."""

    def evaluate(self, outcomes: Mapping[str, Any]) -> EvaluationLike: ...


@dataclass(frozen=True)
class FactorLoadings:
    """Loadings of a contract's latent score on the systemic factors.

    Factors are independent standard normals: one global factor, one per country, one per outcome
    payer and one per policy sector. The latent score of contract i is
    ``X_i = g*F_global + c*F_country(i) + p*F_payer(i) + s*F_sector(i) + sqrt(1 - R2) * eps_i`` with
    ``R2 = g^2 + c^2 + p^2 + s^2 < 1``. Two contracts' latent correlation is the sum of the products of
    the loadings on the factors they share: two Swedish municipal contracts share the global and the
    Swedish factor (and the payer factor if it is the same municipality); a Swedish and a US contract
    share only the global factor.
    """

    global_: float = 0.25
    country: float = 0.30
    payer: float = 0.25
    sector: float = 0.30

    def __post_init__(self) -> None:
        if self.r2 >= 1.0:
            raise ValueError(f"factor loadings: the squares must sum to less than 1, got {self.r2:.3f}")

    @property
    def r2(self) -> float:
        return self.global_**2 + self.country**2 + self.payer**2 + self.sector**2

    def as_dict(self) -> dict[str, float]:
        return {"global": self.global_, "country": self.country, "payer": self.payer, "sector": self.sector}


@dataclass(frozen=True)
class ContractModel:
    """A contract as the engine sees it. Amounts are in the contract's currency.

    Attributes
    ----------
    outcomes
        Metric id -> outcome model (binary metrics need a :class:`~portfolio.outcomes.Bernoulli`).
    default_prior
        Metric ids whose model is the registry's default prior for the sector rather than a stated
        assumption; reported as such.
    investors
        Organisation ids whose receipts form the investor position held.
    capital
        Investor capital at risk (the position's full size).
    drawdowns
        ``(date, amount)`` capital draws; if empty, ``capital`` is drawn at ``start``.
    default_payment_date
        Date of payments whose flow has no date (and of repayment not assigned to a dated flow).
    metric_correlation
        ``c`` in ``[0, 1]``: how much a contract's metrics (and its delay) share the contract's own
        shock. Every metric takes the contract's systemic factor part in full, and as its
        contract-specific part ``c * eps + sqrt(1 - c^2) * eps_metric``; so a metric correlates
        ``R2 + (1 - R2) * c`` with the contract's latent score, two metrics of one contract
        ``R2 + (1 - R2) * c^2`` with each other, and a contract's correlation with other contracts does
        not depend on how many metrics it has. A contract with one metric uses its score directly.
    documented_max_loss
        Maximum loss as a fraction of capital where the contract documents one (reported beside the
        simulated worst case).
    """

    id: str
    payoff: Payoff
    outcomes: Mapping[str, OutcomeModel]
    capital: float
    currency: str
    country: str
    sector: str
    start: date
    default_payment_date: date
    payers: tuple[str, ...] = ()
    guarantors: tuple[str, ...] = ()
    investors: tuple[str, ...] = ()
    drawdowns: tuple[tuple[date, float], ...] = ()
    name: str = ""
    loadings: FactorLoadings = field(default_factory=FactorLoadings)
    delay: DelayModel | None = None
    metric_correlation: float = 0.6
    default_prior: tuple[str, ...] = ()
    documented_max_loss: float | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.capital >= 0:
            raise ValueError(f"{self.id}: investor capital must be >= 0")
        if not 0.0 <= self.metric_correlation <= 1.0:
            raise ValueError(f"{self.id}: metric_correlation must be in [0, 1]")
        if not self.outcomes:
            raise ValueError(f"{self.id}: no outcome models")

    @property
    def primary_payer(self) -> str:
        return self.payers[0] if self.payers else f"{self.id}:payer"

    def drawdown_schedule(self) -> tuple[tuple[date, float], ...]:
        return self.drawdowns or ((self.start, self.capital),)


@dataclass(frozen=True)
class Holding:
    """A position in one contract: ``weight`` is the share of the contract's investor position held.

    ``fx_rate`` converts the contract currency to the portfolio's base currency (base units per unit).
    ``position=False`` includes the contract for its payers' and guarantors' exposure only (a public
    payer's view): no capital, no investor cash flows, no loss.
    """

    contract: ContractModel
    weight: float = 1.0
    fx_rate: float = 1.0
    label: str = ""
    position: bool = True

    def __post_init__(self) -> None:
        if not (self.weight > 0 and math.isfinite(self.weight)):
            raise ValueError(f"{self.contract.id}: holding weight must be > 0")
        if self.position and not self.contract.capital > 0:
            raise ValueError(f"{self.contract.id}: no investor capital to hold; include it as a payer-only "
                             "holding (position=False) or state the capital")
        if not (self.fx_rate > 0 and math.isfinite(self.fx_rate)):
            raise ValueError(f"{self.contract.id}: exchange rate must be > 0")

    @property
    def capital_base(self) -> float:
        """Capital of the holding in the base currency (0 for a payer-only holding)."""
        return self.contract.capital * self.weight * self.fx_rate if self.position else 0.0


@dataclass(frozen=True)
class Portfolio:
    """Holdings plus the simulation settings a portfolio file states."""

    holdings: tuple[Holding, ...]
    base_currency: str = "EUR"
    copula: Literal["gaussian", "t"] = "gaussian"
    df: float = 5.0
    n_scenarios: int = 100_000
    seed: int = 0
    name: str = ""
    hurdle_rate: float = 0.0
    fx_rates: Mapping[str, float] = field(default_factory=dict)
    fx_sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per currency, where its rate in ``fx_rates`` comes from (for the results to state; the engine ignores it)."""

    def __post_init__(self) -> None:
        if not self.holdings:
            raise ValueError("a portfolio needs at least one holding")
        if self.copula not in ("gaussian", "t"):
            raise ValueError(f"copula must be 'gaussian' or 't', got {self.copula!r}")
        if self.copula == "t" and not self.df > 2:
            raise ValueError("t copula: degrees of freedom must be > 2")
        if self.n_scenarios < 100:
            raise ValueError("n_scenarios must be at least 100")

    @property
    def capital(self) -> float:
        return float(sum(h.capital_base for h in self.holdings))


def month_index(value: Any, default: date | None = None) -> int:
    """Months since year 0 of a date, a partial ISO date string or ``None`` (-> ``default``)."""
    if value is None:
        if default is None:
            raise ValueError("a payment has no date and the contract no default payment date")
        value = default
    if isinstance(value, date):
        return value.year * 12 + value.month - 1
    if isinstance(value, str):
        parts = value.split("-")
        return int(parts[0]) * 12 + (int(parts[1]) - 1 if len(parts) > 1 else 0)
    if isinstance(value, np.datetime64):
        d = value.astype("datetime64[M]").astype(int)
        return int(d) + 1970 * 12
    raise TypeError(f"cannot read a payment date from {value!r}")


def payment_day(value: Any, default: date | None = None) -> date:
    """The day a payment falls on: a date, an ISO date string or ``None`` (-> ``default``).

    A partial date string (``"2019-03"``, ``"2019"``) means its last day, as in the payment terms: a
    payment due in a month is due by its end.
    """
    if value is None:
        if default is None:
            raise ValueError("a payment has no date and the contract no default payment date")
        value = default
    if isinstance(value, date):
        return value
    if isinstance(value, np.datetime64):
        return date.fromisoformat(str(value.astype("datetime64[D]")))
    if isinstance(value, str):
        parts = [int(p) for p in value.split("-")]
        if len(parts) == 3:
            return date(*parts)
        if len(parts) == 2:
            return date(parts[0], parts[1], calendar.monthrange(parts[0], parts[1])[1])
        if len(parts) == 1:
            return date(parts[0], 12, 31)
    raise TypeError(f"cannot read a payment date from {value!r}")


def add_months(d: date, months: int) -> date:
    """``d`` moved by whole months, the day clipped to the target month's length (31 Jan + 1 = 28/29 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))
