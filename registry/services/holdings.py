"""Contracts a portfolio may hold: found by name, country and sector, each checked before it is added.

A contract can be held when the portfolio file's own build (:func:`registry.portfolio_file.build_portfolio`)
turns it into an engine model with the registry's default outcome models: the builder offers only those, and
says of the others why they cannot be simulated, so that no run fails later for a reason the form cannot fix.
The reasons are plain sentences (the web app translates them), not the file checks' hints about fields.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from registry.models import Contract
from registry.portfolio_file import PortfolioFile, PortfolioFileError, build_portfolio
from registry.schema import ContractDocument
from registry.services.contracts import LIST_COLUMNS, ContractFilter, list_contracts

if TYPE_CHECKING:
    from portfolio import ContractModel
    from registry.calibration import CalibratedPriors

SEARCH_LIMIT = 20
PROBE_AMOUNT = 1.0  # a holding's amount in the check: the contract's own capital decides everything else

# (the build's message, the reason a reader is given): the first that matches wins
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"metric '(?P<metric>[^']+)' \(\w+\) has no target to set a default prior from",
     "outcome metric {metric} states no target, so no default outcome model can be set for it"),
    (r"no service_start or signed date", "the contract states neither a signing date nor a service start date"),
    (r"its payment terms count in (?P<unit>.+), not in [A-Z]{3}",
     "its payment terms count in {unit}, not in money"),
    (r"no payment in the terms reaches the investors", "no payment in its terms reaches the investors"),
    (r"states no investor capital", "the contract states no investor capital"),
    (r"payment terms do not compile", "its payment terms cannot be evaluated"),
))


@dataclass(frozen=True)
class HoldableContract:
    """A contract as the builder lists it; ``problem`` says why it cannot be simulated (``None``: it can)."""

    id: str
    name_sv: str | None
    name_en: str | None
    country: str | None
    sector: str | None
    currency: str | None
    capital: Decimal | None
    problem: str | None


def plain_reason(message: str) -> str:
    """A build's message as a reason a reader can act on (or understand why nobody can)."""
    for pattern, reason in _REASONS:
        match = pattern.search(message)
        if match:
            return reason.format(**match.groupdict())
    return message.split(": ", 1)[1] if re.match(r"^\S+: ", message) else message


def build_holding(doc: ContractDocument, *, amount: float = PROBE_AMOUNT,
                  priors: CalibratedPriors | None = None) -> ContractModel | str:
    """The engine's model of ``doc`` held alone with the default outcome models, or why it cannot be built."""
    spec = PortfolioFile.model_validate({"base_currency": doc.finance.currency, "scenarios": 100,
                                         "holdings": [{"contract": doc.id, "amount": amount}]})
    try:
        built = build_portfolio(spec, get_contract=lambda cid: doc if cid == doc.id else None, priors=priors)
    except PortfolioFileError as exc:
        return plain_reason(exc.errors[0][1]) if exc.errors else str(exc)
    except ValueError as exc:
        return plain_reason(str(exc))
    return built.holdings[0].contract


# Each contract's verdict, by id and time of its last change: a contract is checked again only after it changes.
_VERDICTS: dict[tuple[str, str], str | None] = {}
_VERDICTS_MAX = 5000


def holding_problems(*, session: Session, contract_ids: Sequence[str]) -> dict[str, str | None]:
    """Why each of ``contract_ids`` cannot be held (``None``: it can; unknown ids: "no such contract")."""
    stamps = {cid: str(at) for cid, at in session.exec(
        select(Contract.id, Contract.updated_at).where(col(Contract.id).in_(list(contract_ids)))).all()}
    unchecked = [cid for cid, at in stamps.items() if (cid, at) not in _VERDICTS]
    if unchecked:
        if len(_VERDICTS) > _VERDICTS_MAX:
            _VERDICTS.clear()
        for cid, doc in session.exec(select(Contract.id, Contract.document).where(col(Contract.id).in_(unchecked))):
            model = build_holding(ContractDocument.model_validate(doc))
            _VERDICTS[(cid, stamps[cid])] = model if isinstance(model, str) else None
    return {cid: _VERDICTS[(cid, stamps[cid])] if cid in stamps else "there is no such contract in the registry"
            for cid in contract_ids}


def describe_holdings(*, session: Session, contract_ids: Sequence[str]) -> dict[str, HoldableContract]:
    """The contracts ``contract_ids`` as the builder lists them, each with its problem (unknown ids left out)."""
    rows = session.exec(select(*LIST_COLUMNS).where(col(Contract.id).in_(list(contract_ids)))).all()
    problems = holding_problems(session=session, contract_ids=[row.id for row in rows])
    return {row.id: HoldableContract(id=row.id, name_sv=row.name_sv, name_en=row.name_en, country=row.country,
                                     sector=row.policy_sector, currency=row.currency, capital=row.capital_committed,
                                     problem=problems[row.id]) for row in rows}


def search_holdable(*, session: Session, text: str | None = None, country: str | None = None,
                    sector: str | None = None, lang: str = "en", limit: int = SEARCH_LIMIT,
                    ) -> tuple[list[HoldableContract], int]:
    """Contracts matching the words of ``text`` (names, places, parties), ``country`` and ``sector``, sorted by
    the reader's name, each with its problem (if any); and how many match in all."""
    page = list_contracts(session=session, filters=ContractFilter(text=text or None, country=country or None,
                                                                  sector=sector or None),
                          lang=lang, limit=limit)
    described = describe_holdings(session=session, contract_ids=[row.id for row in page.rows])
    return [described[row.id] for row in page.rows], page.total


def holdable_ids(*, session: Session) -> list[str]:
    """Every contract the builder offers (those that can be simulated), sorted by id."""
    ids = list(session.exec(select(Contract.id).order_by(col(Contract.id))).all())
    return [cid for cid, problem in holding_problems(session=session, contract_ids=ids).items() if problem is None]
