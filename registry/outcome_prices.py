"""Prices per outcome unit, read from a contract document's payment terms, and whether the contract paid out.

A price per outcome is what a payer pays for one unit of a counted outcome (one person moved into work, one
reconviction avoided). The terms state it in one of two ways, both read here:

- a rate card: a parameter with ``rate_card: {metric: price}`` used as ``rate_card(name)`` (INDIGO's outcome
  pricings become one, see ``registry/indigo/derive.py``; curated contracts use them too);
- a product in a payment rule: ``price * metric`` (or ``price * cumsum(metric)``), where ``price`` is a
  parameter with a value and ``metric`` a count metric of the contract, in an outcome or fee rule.

A price's currency is its parameter's unit when that starts with a currency code (``USD per child``), else the
contract's. Nothing else counts as a price: a share of savings or a lump sum on a threshold is not a price per
unit, and such metrics are shown without one.

Whether a contract paid out is read from what the registry records, in this order: the investors' repayment
class (``registry.market.repayment_of``: published investor results, else the stated repayment, else the realised
IRR; repaid in full: yes; partly: partly; not repaid: no, or partly when outcome payments are recorded), else
outcome payments recorded in the realised history or the finance section (yes), else unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

from registry._formula import Binary, Call, FormulaSyntaxError, ListLit, Name, Node, Unary, parse
from registry.market import repayment_of

PaidOut = Literal["yes", "partly", "no", "unknown"]
PAID_OUT: tuple[PaidOut, ...] = ("yes", "partly", "no", "unknown")
PRICED_COMPONENTS = ("outcome", "fee")
_CURRENCY = re.compile(r"^([A-Z]{3})\b")


@dataclass(frozen=True)
class Price:
    """One metric's price per unit as the terms state it, and where in the terms it is stated."""

    metric: str
    amount: Decimal
    currency: str
    parameter: str
    unit: str | None
    confidence: str
    sources: tuple[str, ...]
    rule: str | None  # the payment rule that multiplies it (None for a rate card)


@dataclass(frozen=True)
class PaidOutcome:
    """Whether a contract paid out, and on what the answer rests."""

    status: PaidOut
    basis: Literal["repayment", "payments", "none"]
    repayment_text: str | None
    payments: Decimal | None
    currency: str | None


def _decimal(value: Any) -> Decimal | None:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def _currency_of(unit: str | None, default: str) -> str:
    match = _CURRENCY.match(unit or "")
    return match.group(1) if match else default


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, Unary):
            stack.append(current.operand)
        elif isinstance(current, Binary):
            stack.extend((current.left, current.right))
        elif isinstance(current, Call | ListLit):
            stack.extend(current.args if isinstance(current, Call) else current.items)


def _metric_in(node: Node, metrics: set[str]) -> str | None:
    """The metric ``node`` is (``metric``) or accumulates (``cumsum(metric)``), else None."""
    if isinstance(node, Name) and node.name in metrics:
        return node.name
    if isinstance(node, Call) and node.func == "cumsum" and len(node.args) == 1:
        return _metric_in(node.args[0], metrics)
    return None


@lru_cache(maxsize=4096)
def _parsed(formula: str) -> Node | None:
    # Derived INDIGO terms share a handful of formulas: each is parsed once.
    try:
        return parse(formula)
    except FormulaSyntaxError:
        return None


def _products(formula: str, prices: set[str], metrics: set[str]) -> Iterator[tuple[str, str]]:
    """(price parameter, metric) for every ``price * metric`` in ``formula`` (either order)."""
    tree = _parsed(formula)
    if tree is None:
        return
    for node in _walk(tree):
        if isinstance(node, Binary) and node.op == "*":
            for a, b in ((node.left, node.right), (node.right, node.left)):
                metric = _metric_in(b, metrics)
                if isinstance(a, Name) and a.name in prices and metric:
                    yield a.name, metric


def _price(metric: str, amount: Decimal, name: str, param: Mapping[str, Any], currency: str,
           rule: str | None) -> Price:
    return Price(metric=metric, amount=amount, currency=_currency_of(param.get("unit"), currency), parameter=name,
                 unit=param.get("unit"), confidence=param.get("confidence", "unverified"),
                 sources=tuple(param.get("sources") or ()), rule=rule)


def metric_prices(doc: Mapping[str, Any]) -> dict[str, Price]:
    """The price per unit of each metric of a stored contract document (a dict) that has one.

    A rate card's price comes first; a product in a payment rule is read for metrics without one. Only count
    metrics are priced by products (a price times a share is not a price per unit).
    """
    terms = doc.get("payment_terms") or {}
    params: Mapping[str, Mapping[str, Any]] = terms.get("parameters") or {}
    currency = (doc.get("finance") or {}).get("currency") or ""
    metrics = {m["id"] for m in doc.get("outcome_metrics", [])}
    counted = {m["id"] for m in doc.get("outcome_metrics", []) if m.get("kind") == "count"}
    out: dict[str, Price] = {}
    for name, param in params.items():
        for metric, value in (param.get("rate_card") or {}).items():
            amount = _decimal(value)
            if metric in metrics and amount is not None and amount > 0 and metric not in out:
                out[metric] = _price(metric, amount, name, param, currency, None)
    valued = {name: amount for name, p in params.items()
              if p.get("value") is not None and (amount := _decimal(p["value"])) is not None and amount > 0}
    for rule in terms.get("payments") or []:
        if rule.get("component") not in PRICED_COMPONENTS:
            continue
        for name, metric in _products(rule.get("amount", ""), set(valued), counted):
            if metric not in out:
                out[metric] = _price(metric, valued[name], name, params[name], currency, rule.get("id"))
    return out


def _payments_made(doc: Mapping[str, Any]) -> tuple[Decimal | None, str | None]:
    """Outcome payments recorded as made: the realised history's, else the finance section's total."""
    history = (doc.get("history") or {}).get("payments") or []
    made = [p for p in history if p.get("component") in (None, "outcome")]
    if made:
        currencies = {p.get("currency") for p in made}
        if len(currencies) == 1:
            return sum((_decimal(p["amount"]) or Decimal(0) for p in made), Decimal(0)), currencies.pop()
    total = (doc.get("finance") or {}).get("total_outcome_payments_made")
    if total and (amount := _decimal(total.get("amount"))) is not None:
        return amount, total.get("currency") or (doc.get("finance") or {}).get("currency")
    return None, None


def paid_outcome(doc: Mapping[str, Any]) -> PaidOutcome:
    """Whether the contract of ``doc`` paid out (see the module's description for the order of evidence)."""
    repayment = repayment_of(dict(doc))  # the registry's one repayment class: results, statement, IRR
    payments, currency = _payments_made(doc)
    status: PaidOut
    if repayment.cls in ("full", "partial"):
        status, basis = ("yes" if repayment.cls == "full" else "partly"), "repayment"
    elif repayment.cls == "none":
        status, basis = ("partly" if payments else "no"), "repayment"
    elif payments:
        status, basis = "yes", "payments"
    else:
        status, basis = "unknown", "none"
    text = repayment.evidence if repayment.basis == "finance.investor_repayment" else \
        (doc.get("finance") or {}).get("investor_repayment")
    return PaidOutcome(status=status, basis=basis, repayment_text=text, payments=payments,  # type: ignore[arg-type]
                       currency=currency)
