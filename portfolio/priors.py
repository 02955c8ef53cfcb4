"""Default priors for contracts whose outcomes have no stated model: documented assumptions, not facts.

When a portfolio file gives no outcome model for a metric the payment terms read, the engine uses the
sector default below and flags the metric ``default_prior`` in every result table. The numbers are
judgement calls from thin, survivorship-biased evidence (listed below); state your own
model in the portfolio file wherever you know more.

Evidence behind the table
-------------------------
- Brookings (Gustafsson-Wright, Osborne, Massey 2021): of nearly 50 completed impact bonds (out of
  194), outcomes were achieved and investors repaid in all but two (~96 %), returns ~1-20 % of
  principal; no counterfactual attribution, completed deals only.
- INDIGO (Dec-2024 export): the 9 completed projects that report both maximum and paid outcome
  payments paid 93-101 % of the maximum: successes report (selection bias).
- Known failures and shortfalls: NYC Rikers (criminal justice; no significant effect, investor lost
  $1.2m, guarantor paid $6m), Peterborough (criminal justice; first cohort missed its 10 % trigger
  with 8.4 %, contract terminated early by a policy change), Norrköping (child and family welfare; no
  cost savings within the 2-year window), Utah (education; savings estimate disputed).

So the table shades the ~96 % completed-deal repayment rate down to 80-85 % for survivorship, and
further for criminal justice (two of the best-known failures) and for child and family welfare
(savings that arrive late).

``p_success`` is the probability that a metric reaches its first (lowest) target; for binary metrics
it is the probability of ``true``. ``cv`` is the dispersion of a continuous metric relative to its
target. ``p_not_delivered`` is a point mass at 0 for continuous metrics (intervention not delivered or
contract terminated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from portfolio.contract import FactorLoadings
from portfolio.outcomes import Bernoulli, Beta, Normal, OutcomeModel, PointMassMixture

__all__ = ["SectorPrior", "SECTOR_PRIORS", "DEFAULT_LOADINGS", "default_model", "sector_prior", "DefaultPayoff",
           "DEFAULT_TARGET_RETURN", "DEFAULT_MAX_LOSS"]


@dataclass(frozen=True)
class SectorPrior:
    p_success: float
    cv: float
    p_not_delivered: float
    rationale: str


SECTOR_PRIORS: dict[str, SectorPrior] = {
    "employment_and_training": SectorPrior(0.85, 0.4, 0.03, "Most completed SIBs; Finnish/Danish employment SIBs"),
    "health": SectorPrior(0.80, 0.5, 0.04, "Fewer completed deals; measurement of health savings noisy"),
    "education": SectorPrior(0.80, 0.5, 0.03, "Utah: savings counterfactual disputed"),
    "child_and_family_welfare": SectorPrior(0.75, 0.6, 0.05, "Norrköping: savings came after the window"),
    "homelessness": SectorPrior(0.85, 0.4, 0.03, "UK rough-sleeping SIBs mostly paid out"),
    "criminal_justice": SectorPrior(0.60, 0.6, 0.08, "Rikers failed; Peterborough missed cohort 1, terminated"),
    "agriculture_and_environment": SectorPrior(0.75, 0.6, 0.05, "Very few deals: generic prior"),
    "poverty_reduction": SectorPrior(0.80, 0.5, 0.05, "Development impact bonds: mostly paid"),
    "other": SectorPrior(0.75, 0.6, 0.05, "Generic prior"),
}

DEFAULT_LOADINGS = FactorLoadings()
"""Global 0.25, country 0.30, payer 0.25, sector 0.30 (latent R^2 = 0.315).

A judgement: outcome correlation between SIBs is not measurable from public data. Two contracts in the
same country share 0.0625 + 0.09 = 0.15 latent correlation, plus 0.09 if in the same sector, plus
0.0625 with the same payer; across countries only 0.0625 (+0.09 in the same sector).
"""


def sector_prior(sector: str) -> SectorPrior:
    return SECTOR_PRIORS.get(sector, SECTOR_PRIORS["other"])


def default_model(
    sector: str, kind: str, *, target: float | None = None, scale: float | None = None,
    p_success: float | None = None, label: str | None = None,
) -> OutcomeModel:
    """The documented default model of one metric.

    Parameters
    ----------
    sector
        INDIGO policy sector slug.
    kind
        ``binary``, ``rate``, ``continuous`` or ``count``.
    target
        The metric's first (lowest) target, if the contract states one.
    scale
        For a continuous metric without a target: a money scale (the investor capital), used as a
        stand-in target (break-even).
    p_success, label
        A calibrated probability of reaching the target (from recorded results of comparable contracts)
        to use instead of the sector's, and the label stating it as an assumption with its evidence.

    Returns
    -------
    OutcomeModel
        Bernoulli(p_success) for binary metrics; otherwise a point mass at 0 with probability
        ``p_not_delivered`` mixed with a normal whose probability of reaching the target is
        ``p_success`` and whose sd is ``cv * |target|``. A rate without a target gets Beta(mean 0.5,
        sd 0.2) on [0, 1].
    """
    prior = sector_prior(sector)
    if p_success is not None and not 0.0 < p_success < 1.0:
        raise ValueError(f"p_success must lie strictly between 0 and 1, got {p_success}")
    p = prior.p_success if p_success is None else p_success
    label = label or f"default prior for sector {sector} ({prior.rationale})"
    if kind == "binary":
        return Bernoulli(p, label=label)
    ref = target if target not in (None, 0) else scale
    if ref is None or ref == 0:
        if kind == "rate":
            return Beta.from_mean_sd(0.5, 0.2, label=label + "; no target stated")
        raise ValueError(f"no target or scale to set a default prior for a {kind} metric")
    sd = prior.cv * abs(ref)
    mean = ref + sd * float(special.ndtri(p))
    if kind == "rate" and not math.isfinite(mean):
        raise ValueError("invalid rate target")
    base = Normal(mean, sd, label=label)
    return PointMassMixture(prior.p_not_delivered, 0.0, base, label=label)


DEFAULT_TARGET_RETURN = 0.05
"""Annual return on success where the contract states none (typical targets 5-8 %, §3.2)."""
DEFAULT_MAX_LOSS = 0.5
"""Loss on failure where the contract states no maximum loss (typical 30-60 % with partial protection)."""


class _Flow:
    __slots__ = ("id", "component", "payer", "payee", "tags", "date", "amount", "to_investor")

    def __init__(self, payer: str, payee: str, when: object, amount: np.ndarray) -> None:
        self.id, self.component, self.payer, self.payee = "default_repayment", "outcome", payer, payee
        self.tags, self.date, self.amount, self.to_investor = ("default_prior",), when, amount, True


class _Evaluation:
    __slots__ = ("flows", "investor_repayment")

    def __init__(self, flows: list[_Flow], repayment: np.ndarray) -> None:
        self.flows, self.investor_repayment = flows, repayment


class DefaultPayoff:
    """Repayment prior for a contract whose payment terms are not known (flagged ``default_prior``).

    One binary metric ``success`` (default model: Bernoulli of the sector's ``p_success``). On success
    the position receives ``capital * (1 + target_return) ** years``; on failure
    ``capital * (1 - max_loss)``. One flow from ``payer`` to ``investor`` at the contract's payment date.
    """

    outcome_names = ("success",)

    def __init__(self, capital: float, years: float, payer: str, investor: str, when: object,
                 target_return: float = DEFAULT_TARGET_RETURN, max_loss: float = DEFAULT_MAX_LOSS) -> None:
        if not 0.0 <= max_loss <= 1.0:
            raise ValueError("max_loss must be a fraction of capital in [0, 1]")
        self.win = capital * (1.0 + target_return) ** max(years, 0.0)
        self.lose = capital * (1.0 - max_loss)
        self.payer, self.investor, self.when = payer, investor, when
        self.target_return, self.max_loss = target_return, max_loss

    def evaluate(self, outcomes: dict[str, object]) -> _Evaluation:
        ok = np.asarray(outcomes["success"], dtype=bool)
        amount = np.where(ok, self.win, self.lose)
        return _Evaluation([_Flow(self.payer, self.investor, self.when, amount)], amount)
