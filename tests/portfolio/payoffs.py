"""Small pure-numpy payoffs satisfying portfolio's Payoff protocol (used until and beside registry.terms)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np


@dataclass
class Flow:
    id: str
    component: str
    payer: str
    payee: str
    amount: Any
    date: Any = None
    tags: tuple[str, ...] = ()


@dataclass
class Evaluation:
    flows: list[Flow]
    investor_repayment: Any
    by_payer: dict[str, Any] = field(default_factory=dict)


@dataclass
class BinaryNote:
    """Repays ``capital`` if ``success`` else ``recovery * capital`` (a defaultable note)."""

    capital: float = 1.0
    recovery: float = 0.0
    payer: str = "payer"
    investor: str = "investor"
    when: date | None = None

    def evaluate(self, outcomes: Mapping[str, Any]) -> Evaluation:
        ok = np.asarray(outcomes["success"])
        amount = np.where(ok, self.capital, self.recovery * self.capital)
        f = Flow("repay", "outcome", self.payer, self.investor, amount, self.when)
        return Evaluation([f], amount)


@dataclass
class NorrkopingLike:
    """40 % guarantee if delivered, 60 % of savings capped at 60 % of C, premium up to 20 % of C."""

    C: float = 10e6
    payer: str = "kommun"
    investor: str = "lsv"
    when: date | None = date(2021, 3, 1)

    def evaluate(self, o: Mapping[str, Any]) -> Evaluation:
        delivered = np.asarray(o["delivered"])
        savings = np.asarray(o["savings"], dtype=np.float64)
        g = np.where(delivered, 0.4 * self.C, 0.0)
        share = np.minimum(0.6 * np.maximum(savings, 0.0), 0.6 * self.C)
        prem = np.where(savings > self.C, np.minimum(0.6 * np.maximum(savings - self.C, 0), 0.2 * self.C), 0.0)
        flows = [Flow("activity_guarantee", "guarantee", self.payer, self.investor, g, self.when),
                 Flow("savings_share", "outcome", self.payer, self.investor, share, self.when),
                 Flow("premium", "premium", self.payer, self.investor, prem, self.when)]
        return Evaluation(flows, g + share + prem)

    def evaluate_scalar(self, delivered: bool, savings: float) -> float:
        g = 0.4 * self.C if delivered else 0.0
        share = min(0.6 * max(savings, 0.0), 0.6 * self.C)
        prem = min(0.6 * max(savings - self.C, 0.0), 0.2 * self.C) if savings > self.C else 0.0
        return g + share + prem


@dataclass
class GuaranteedNote:
    """Outcome payer pays ``rate * capital`` on success; a guarantor tops up to ``floor`` of capital."""

    capital: float = 1.0
    floor: float = 0.8
    payer: str = "payer"
    guarantor: str = "guarantor"
    investor: str = "investor"

    def evaluate(self, o: Mapping[str, Any]) -> Evaluation:
        rate = np.asarray(o["rate"], dtype=np.float64)
        pay = np.clip(rate, 0.0, 1.2) * self.capital
        top = np.maximum(self.floor * self.capital - pay, 0.0)
        flows = [Flow("success", "outcome", self.payer, self.investor, pay),
                 Flow("guarantee", "guarantee", self.guarantor, self.investor, top)]
        return Evaluation(flows, pay + top)
