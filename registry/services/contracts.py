"""Contracts: the one listing query (filters, sorting by the reader's name, counting, paging), lookups and history.

The registry page, the API and ``utfall contracts list`` select contracts through :func:`list_contracts`, so that
the same filter always gives the same contracts in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from registry.market import SIZE_BANDS
from registry.models import ChangeRecord, Contract, ContractBase, ContractParty, OrganisationRow
from registry.schema import ContractDocument

SORTABLE = {
    "name": Contract.name_en,  # sorted by the reader's name: see _sort_key
    "country": Contract.country,
    "sector": Contract.policy_sector,
    "stage": Contract.stage,
    "year": Contract.start_year,
    "capital": Contract.capital_committed_usd,
    "updated": Contract.updated_at,
    "id": Contract.id,
}

# The columns of lists and downloads: the indexed ones derived from the document, the id and the time of the
# last change. Lists need no more, as plain rows: loading whole documents would cost more than the rest, and
# ORM objects twice what tuples do.
LIST_COLUMNS = (Contract.id, *(getattr(Contract, name) for name in ContractBase.model_fields), Contract.updated_at)


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
    size: str | None = None  # a size band of registry.market.SIZE_BANDS: its lower bound in, its upper bound out
    year_from: int | None = None
    year_to: int | None = None
    reproduced: str | None = None  # the back-test's verdict: yes | partly | no | unknown
    repayment: str | None = None  # the investor repayment's class (registry.market.REPAYMENT_CLASSES)


class ContractPage(NamedTuple):
    """A page of contracts (rows of :data:`LIST_COLUMNS`) and how many match before paging."""

    rows: Sequence[Any]
    total: int


def _conditions(flt: ContractFilter, *, session: Session) -> list[Any]:
    """The WHERE conditions of ``flt`` over ``Contract``."""
    conditions: list[Any] = []
    if flt.text:
        conditions += [_word_condition(word) for word in flt.text.lower().split()]
    if flt.country:
        conditions.append(Contract.country == flt.country.upper())
    if flt.sector:
        conditions.append(Contract.policy_sector == flt.sector)
    if flt.stage:
        conditions.append(Contract.stage == flt.stage)
    if flt.origin:
        conditions.append(Contract.origin == flt.origin)
    if flt.payer_type:
        payers = select(ContractParty.contract_id).where(
            ContractParty.role == "outcome_payer", ContractParty.organisation_type == flt.payer_type
        )
        conditions.append(col(Contract.id).in_(payers))
    if flt.min_capital_usd is not None:
        conditions.append(col(Contract.capital_committed_usd) >= flt.min_capital_usd)
    if flt.max_capital_usd is not None:
        conditions.append(col(Contract.capital_committed_usd) <= flt.max_capital_usd)
    if flt.size:
        low, high = SIZE_BANDS[flt.size]
        if low is not None:
            conditions.append(col(Contract.capital_committed_usd) >= low)
        if high is not None:
            conditions.append(col(Contract.capital_committed_usd) < high)
    if flt.year_from is not None:
        conditions.append(col(Contract.start_year) >= flt.year_from)
    if flt.year_to is not None:
        conditions.append(col(Contract.start_year) <= flt.year_to)
    if flt.reproduced:
        conditions.append(Contract.reproduced == flt.reproduced)
    if flt.repayment:
        # Stored on every write from registry.market.repayment_of, which the market statistics count too.
        conditions.append(Contract.repayment_class == flt.repayment)
    return conditions


def _word_condition(word: str) -> Any:
    """A search word matches the contracts whose search text holds it or a word it stands for in either
    language, or whose sector it names (registry.search_words: "återfall" finds what "recidivism" finds)."""
    # lazy: the word catalogues are YAML, which listing without a search does not need to load
    from registry.search_words import expand

    expansion = expand(word)
    alternatives = [col(Contract.search_text).contains(w, autoescape=True) for w in expansion.words]
    if expansion.sectors:
        alternatives.append(col(Contract.policy_sector).in_(expansion.sectors))
    return or_(*alternatives)


def _sort_key(sort: str, lang: str) -> Any:
    if sort == "name":
        # The name the reader sees: the other language's name when one is missing.
        first, second = (Contract.name_sv, Contract.name_en) if lang == "sv" else (Contract.name_en, Contract.name_sv)
        return func.coalesce(first, second)
    key = SORTABLE.get(sort)
    if key is None:
        raise ValueError(f"unknown sort key {sort!r}; choose one of {', '.join(SORTABLE)}")
    return col(key)


def list_contracts(
    *,
    session: Session,
    filters: ContractFilter | None = None,
    sort: str = "name",
    descending: bool = False,
    lang: str = "en",
    limit: int | None = None,
    offset: int = 0,
) -> ContractPage:
    """Contracts matching ``filters``, sorted by ``sort`` (``name``: the name in ``lang``, the other language's
    where it is missing; then by id) and paged, with the count before paging.

    Raises ``ValueError`` for a sort key not in :data:`SORTABLE`.
    """
    key = _sort_key(sort, lang)
    conditions = _conditions(filters or ContractFilter(), session=session)
    order = ((key.desc() if descending else key.asc()).nulls_last(), col(Contract.id))
    total = int(session.exec(select(func.count()).select_from(Contract).where(*conditions)).one())
    rows = select(*LIST_COLUMNS).where(*conditions)
    if limit is None:
        return ContractPage(session.exec(rows.order_by(*order).offset(offset)).all(), total)
    # Pick the page's ids first, sorting the sort key and id alone (for names straight from
    # ix_contract_names), then load those rows: sorting whole rows makes SQLite read every row's pages.
    page = select(Contract.id).where(*conditions).order_by(*order).offset(offset).limit(limit)
    return ContractPage(session.exec(rows.where(col(Contract.id).in_(page)).order_by(*order)).all(), total)


def contract_ids(*, session: Session, backtested_only: bool = False) -> list[str]:
    """Every contract's id, sorted; ``backtested_only``: those whose terms have a back-test verdict (the contracts
    with a realised history)."""
    statement = select(Contract.id)
    if backtested_only:
        statement = statement.where(col(Contract.reproduced).is_not(None))
    return list(session.exec(statement.order_by(col(Contract.id))).all())


def count_contracts(*, session: Session) -> int:
    """How many contracts the registry holds."""
    return int(session.exec(select(func.count()).select_from(Contract)).one())


def reader_name(row: Any, lang: str) -> str:
    """The name the reader sees, from a ``Contract`` or a row with its name columns: the name in ``lang``, the
    other language's where it is missing, else the id (the order :func:`list_contracts` sorts by)."""
    primary, fallback = (row.name_sv, row.name_en) if lang == "sv" else (row.name_en, row.name_sv)
    return primary or fallback or row.id


def get_contract(*, session: Session, contract_id: str) -> ContractDocument | None:
    """The validated document of a contract, or ``None`` if there is no such contract."""
    row = session.get(Contract, contract_id)
    return ContractDocument.model_validate(row.document) if row else None


def contract_history(*, session: Session, contract_id: str) -> Sequence[ChangeRecord]:
    """The recorded changes of a contract, oldest first."""
    return session.exec(
        select(ChangeRecord).where(ChangeRecord.contract_id == contract_id).order_by(col(ChangeRecord.at))
    ).all()


def distinct_values(*, session: Session, column: str) -> list[str]:
    """Values present in an indexed column (for filter menus)."""
    attr = {"country": Contract.country, "sector": Contract.policy_sector, "stage": Contract.stage}[column]
    return [v for v in session.exec(select(attr).distinct().order_by(attr)).all() if v]


def contracts_per_country(*, session: Session) -> dict[str, int]:
    """How many contracts the registry holds in each country (ISO code), for those that have any."""
    statement = select(Contract.country, func.count()).where(col(Contract.country).is_not(None))
    return {code: int(n) for code, n in session.exec(statement.group_by(Contract.country)).all() if code}


def contracts_in_countries(*, session: Session, countries: Sequence[str], limit: int | None = None) -> Sequence[Any]:
    """Rows of :data:`LIST_COLUMNS` of the contracts of ``countries`` (ISO codes), by start year and id; the
    first ``limit`` of them if given."""
    statement = select(*LIST_COLUMNS).where(col(Contract.country).in_(countries))
    return session.exec(statement.order_by(col(Contract.start_year).nulls_last(), col(Contract.id)).limit(limit)).all()


def contract_names(*, session: Session, with_terms: bool = False) -> Sequence[Any]:
    """Rows of (id, name_sv, name_en, country, currency) for pickers, unordered; ``with_terms``: only contracts
    whose payment terms are recorded (those a portfolio can hold)."""
    statement = select(Contract.id, Contract.name_sv, Contract.name_en, Contract.country, Contract.currency)
    if with_terms:
        statement = statement.where(col(Contract.has_terms).is_(True))
    return session.exec(statement).all()


def names_by_id(*, session: Session, ids: Sequence[str]) -> dict[str, Any]:
    """The rows of (id, name_sv, name_en, country, currency) of those of ``ids`` that exist, by id (unknown ids
    are left out, so the caller learns which ids are no contract's)."""
    if not ids:
        return {}
    statement = select(Contract.id, Contract.name_sv, Contract.name_en, Contract.country, Contract.currency)
    return {row.id: row for row in session.exec(statement.where(col(Contract.id).in_(list(ids)))).all()}


def outcome_payers(*, session: Session, contract_ids: Sequence[str]) -> dict[str, list[str]]:
    """The organisation ids of each contract's outcome payers (contracts without one are left out)."""
    payers: dict[str, list[str]] = {}
    if not contract_ids:
        return payers
    parties = session.exec(select(ContractParty).where(col(ContractParty.contract_id).in_(list(contract_ids)),
                                                       ContractParty.role == "outcome_payer")).all()
    for party in parties:
        payers.setdefault(party.contract_id, []).append(party.organisation_id)
    return payers


def organisation_names(*, session: Session, ids: Sequence[str]) -> dict[str, str]:
    """The names of the organisations ``ids`` (unknown ids are left out)."""
    if not ids:
        return {}
    rows = session.exec(select(OrganisationRow.id, OrganisationRow.name).where(col(OrganisationRow.id).in_(list(ids))))
    return dict(rows.all())
