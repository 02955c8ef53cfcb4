"""Read queries over the registry. Every function takes the session as a keyword argument."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from registry.models import ChangeRecord, Contract, ContractParty
from registry.schema import ContractDocument

SORTABLE = {
    "name": Contract.name_en,
    "country": Contract.country,
    "sector": Contract.policy_sector,
    "stage": Contract.stage,
    "year": Contract.start_year,
    "capital": Contract.capital_committed_usd,
    "updated": Contract.updated_at,
    "id": Contract.id,
}


@dataclass(frozen=True)
class ContractFilter:
    """Filters shared by the CLI, the web registry page and the API."""

    text: str | None = None
    country: str | None = None
    sector: str | None = None
    stage: str | None = None
    origin: str | None = None
    payer_type: str | None = None
    min_capital_usd: Decimal | None = None
    max_capital_usd: Decimal | None = None
    year_from: int | None = None
    year_to: int | None = None
    reproduced: str | None = None  # the back-test's verdict: yes | partly | no | unknown


def get_contract(*, session: Session, contract_id: str) -> ContractDocument | None:
    """The validated document of a contract, or ``None`` if there is no such contract."""
    row = session.get(Contract, contract_id)
    return ContractDocument.model_validate(row.document) if row else None


def apply_contract_filter(statement, flt: ContractFilter):  # type: ignore[no-untyped-def]
    """Add the WHERE clauses of ``flt`` to a SELECT over ``Contract`` (lists, counts, exports)."""
    if flt.text:
        for word in flt.text.lower().split():
            statement = statement.where(col(Contract.search_text).contains(word))
    if flt.country:
        statement = statement.where(Contract.country == flt.country.upper())
    if flt.sector:
        statement = statement.where(Contract.policy_sector == flt.sector)
    if flt.stage:
        statement = statement.where(Contract.stage == flt.stage)
    if flt.origin:
        statement = statement.where(Contract.origin == flt.origin)
    if flt.payer_type:
        payers = select(ContractParty.contract_id).where(
            ContractParty.role == "outcome_payer", ContractParty.organisation_type == flt.payer_type
        )
        statement = statement.where(col(Contract.id).in_(payers))
    if flt.min_capital_usd is not None:
        statement = statement.where(col(Contract.capital_committed_usd) >= flt.min_capital_usd)
    if flt.max_capital_usd is not None:
        statement = statement.where(col(Contract.capital_committed_usd) <= flt.max_capital_usd)
    if flt.year_from is not None:
        statement = statement.where(col(Contract.start_year) >= flt.year_from)
    if flt.year_to is not None:
        statement = statement.where(col(Contract.start_year) <= flt.year_to)
    if flt.reproduced:
        statement = statement.where(Contract.reproduced == flt.reproduced)
    return statement


def list_contracts(
    *,
    session: Session,
    filters: ContractFilter | None = None,
    sort: str = "name",
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[Sequence[Contract], int]:
    """Contracts matching ``filters``, sorted and paginated, with the total count before pagination."""
    flt = filters or ContractFilter()
    total = session.exec(apply_contract_filter(select(func.count()).select_from(Contract), flt)).one()
    key = SORTABLE.get(sort)
    if key is None:
        raise ValueError(f"unknown sort key {sort!r}; choose one of {', '.join(SORTABLE)}")
    order = col(key).desc() if descending else col(key).asc()
    statement = apply_contract_filter(select(Contract), flt).order_by(order.nulls_last(), col(Contract.id))
    if limit is not None:
        statement = statement.offset(offset).limit(limit)
    return session.exec(statement).all(), int(total)


def contract_history(*, session: Session, contract_id: str) -> Sequence[ChangeRecord]:
    return session.exec(
        select(ChangeRecord).where(ChangeRecord.contract_id == contract_id).order_by(col(ChangeRecord.at))
    ).all()


def distinct_values(*, session: Session, column: str) -> list[str]:
    """Values present in an indexed column (for filter menus)."""
    attr = {"country": Contract.country, "sector": Contract.policy_sector, "stage": Contract.stage}[column]
    return [v for v in session.exec(select(attr).distinct().order_by(attr)).all() if v]
