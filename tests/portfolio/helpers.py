"""Builders for engine tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from payoffs import BinaryNote

import portfolio as P


def binary_contract(i: int, p_fail: float, rho: float, **kw: Any) -> P.ContractModel:
    """A unit note that repays 1 unless it fails; one-factor loadings sqrt(rho) on the global factor."""
    return P.ContractModel(
        id=kw.pop("id", f"note-{i:04d}"), payoff=BinaryNote(when=date(2020, 1, 1)),
        outcomes={"success": P.Bernoulli(1.0 - p_fail)}, capital=1.0, currency="EUR",
        country=kw.pop("country", "SE"), sector=kw.pop("sector", "health"), start=date(2017, 1, 1),
        default_payment_date=date(2020, 1, 1), payers=(kw.pop("payer", f"payer-{i}"),), investors=("investor",),
        loadings=P.FactorLoadings(rho**0.5, 0.0, 0.0, 0.0), **kw,
    )


def homogeneous(n: int, p_fail: float, rho: float, **settings: Any) -> P.Portfolio:
    return P.Portfolio(tuple(P.Holding(binary_contract(i, p_fail, rho)) for i in range(n)), **settings)
