"""Database tables.

The full contract document lives in ``Contract.document`` (JSON, exactly ``ContractDocument.model_dump``);
the columns beside it are a queryable index of it, rebuilt from the document on every write, so the two
never disagree. Parties are indexed in ``ContractParty`` for role and organisation queries.

No ``from __future__ import annotations`` here: it breaks SQLModel relationships.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


MONEY = Numeric(24, 2)


class OrganisationRow(SQLModel, table=True):
    """An organisation shared across contracts (INDIGO organisations are shared objects)."""

    __tablename__ = "organisation"

    id: str = Field(primary_key=True, max_length=80)
    name: str = Field(index=True)
    type: str = Field(default="unknown", max_length=40)
    country: str | None = Field(default=None, max_length=2)
    indigo_id: str | None = Field(default=None, index=True, max_length=40)


class ContractBase(SQLModel):
    """Indexed columns derived from the document; used for lists, filters and sorting."""

    origin: str = Field(default="curated", max_length=16, index=True)
    indigo_id: str | None = Field(default=None, max_length=20, index=True)
    name_sv: str | None = None
    name_en: str | None = None
    country: str = Field(max_length=2, index=True)
    region: str | None = None
    policy_sector: str = Field(max_length=40, index=True)
    stage: str = Field(max_length=32, index=True)
    currency: str = Field(max_length=3)
    capital_committed: Decimal | None = Field(default=None, sa_type=MONEY)
    capital_committed_usd: Decimal | None = Field(default=None, sa_type=MONEY)
    max_outcome_payment: Decimal | None = Field(default=None, sa_type=MONEY)
    start_year: int | None = Field(default=None, index=True)
    participants_targeted: int | None = None
    investor_repayment: str | None = None
    # full | partial | none | unknown, from the document by registry.market.repayment_of
    repayment_class: str = Field(default="unknown", max_length=8, index=True)
    has_terms: bool = False
    terms_status: str | None = Field(default=None, max_length=16)
    # Whether the terms reproduce the realised history (registry.backtest): yes | partly | no | unknown;
    # NULL without one
    reproduced: str | None = Field(default=None, max_length=8, index=True)


class Contract(ContractBase, table=True):
    __tablename__ = "contract"
    # Both names and the id: the registry sorts a page by the reader's name from this index alone instead
    # of reading every row, whole documents included (SQLite keeps those in the table's pages).
    __table_args__ = (Index("ix_contract_names", "name_sv", "name_en", "id"),)

    id: str = Field(primary_key=True, max_length=80)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    search_text: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(default="system", max_length=120)


class ContractParty(SQLModel, table=True):
    __tablename__ = "contract_party"
    __table_args__ = (UniqueConstraint("contract_id", "organisation_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    contract_id: str = Field(foreign_key="contract.id", ondelete="CASCADE", index=True, max_length=80)
    organisation_id: str = Field(index=True, max_length=80)
    role: str = Field(max_length=32, index=True)
    organisation_type: str = Field(default="unknown", max_length=40)


class ChangeRecord(SQLModel, table=True):
    """Every write to a contract: who, when, from where, and what changed (field paths, old and new)."""

    __tablename__ = "change_record"

    id: int | None = Field(default=None, primary_key=True)
    contract_id: str = Field(index=True, max_length=80)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=120)
    kind: str = Field(max_length=16)  # created | updated | deleted
    origin_ref: str | None = Field(default=None, description="File, export or form the change came from.")
    changes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)


class ImportRun(SQLModel, table=True):
    """One run of an importer (e.g. INDIGO), with its report."""

    __tablename__ = "import_run"

    id: int | None = Field(default=None, primary_key=True)
    importer: str = Field(max_length=40)
    source: str
    label: str | None = Field(default=None, max_length=80)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    status: str = Field(default="running", max_length=16)
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=80)
    password_hash: str
    role: str = Field(default="investor", max_length=16)  # investor | curator | admin
    created_at: datetime = Field(default_factory=utcnow)
    # Stored in the session cookie at login and compared on every request; raised on logout and on a
    # password change, so that a copied cookie stops working server-side (signed cookies cannot be revoked).
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class LoginFailure(SQLModel, table=True):
    """A failed login, counted per account and per address to throttle password guessing across workers."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_scope_key_at", "scope", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=8)  # account | address
    key: str = Field(max_length=200)
    at: datetime = Field(default_factory=utcnow)


class Portfolio(SQLModel, table=True):
    """A user's saved portfolio: its specification (portfolio-file schema) and last results."""

    __tablename__ = "portfolio"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="user_account.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=200)
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    result_computed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PortfolioShare(SQLModel, table=True):
    """A read-only link to a portfolio: whoever has the token sees the portfolio and its results without an
    account, until its owner revokes it. The token is random (``secrets.token_urlsafe``), never derived from ids."""

    __tablename__ = "portfolio_share"

    id: int | None = Field(default=None, primary_key=True)
    portfolio_id: int = Field(foreign_key="portfolio.id", ondelete="CASCADE", index=True)
    token: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class SimulationRun(SQLModel, table=True):
    """A simulation started from the web, run in the background, polled for progress."""

    __tablename__ = "simulation_run"

    id: int | None = Field(default=None, primary_key=True)
    owner_id: int | None = Field(default=None, index=True)
    portfolio_id: int | None = Field(default=None, index=True)
    status: str = Field(default="queued", max_length=16)  # queued | running | done | failed
    progress: float = 0.0
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    # Renewed every few seconds by the process that holds the run (queued or running); a run whose
    # heartbeat stopped is failed by whichever process reads it next (see registry.services.runs.fail_if_stale).
    heartbeat_at: datetime | None = None


class SchedulerLease(SQLModel, table=True):
    """Who runs the scheduled jobs for this database: one row per lease, taken over only once expired."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=40)
    owner: str = Field(max_length=200)
    acquired_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(default_factory=utcnow)


class JobRun(SQLModel, table=True):
    """One execution of a scheduled job."""

    __tablename__ = "job_run"

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=60, index=True)
    started_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None
    status: str = Field(default="running", max_length=16)  # running | success | failed
    error: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Factsheet(SQLModel, table=True):
    """A cached PDF fact sheet, valid while the contract's content hash is unchanged."""

    __tablename__ = "factsheet"
    __table_args__ = (UniqueConstraint("contract_id", "lang"),)

    id: int | None = Field(default=None, primary_key=True)
    contract_id: str = Field(index=True, max_length=80)
    lang: str = Field(max_length=5)
    content_hash: str = Field(max_length=64)
    generated_at: datetime = Field(default_factory=utcnow)
    pdf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class MarketSnapshot(SQLModel, table=True):
    """Market statistics computed from the registry, refreshed by a scheduled job."""

    __tablename__ = "market_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    computed_at: datetime = Field(default_factory=utcnow, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class IndigoRecord(SQLModel, table=True):
    """One INDIGO project as last imported: its mapped document, the raw export rows, and the contract it feeds.

    ``contract_id`` is the INDIGO-origin contract (``indigo-poj-nnnn``) or, for a project that is also a
    curated contract, the curated contract's id (whose display document merges the two).
    """

    __tablename__ = "indigo_record"

    indigo_id: str = Field(primary_key=True, max_length=20)
    contract_id: str = Field(index=True, max_length=80)
    export_label: str = Field(max_length=80)
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    raw: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    imported_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReferenceRate(SQLModel, table=True):
    """A row of a reference table (``fx``: exchange rate per euro; ``cpi``: price index) loaded by
    ``utfall rates refresh``; it overrides the shipped row of the same table, currency and year
    (``registry.reference_rates``). ``row`` is the file's row as validated, every column as text, so decimals stay
    exact and the source, its address and date travel with the figure."""

    __tablename__ = "reference_rate"

    table_name: str = Field(primary_key=True, max_length=8)
    currency: str = Field(primary_key=True, max_length=3)
    year: int = Field(primary_key=True)
    row: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    loaded_from: str = Field(max_length=300)
    loaded_at: datetime = Field(default_factory=utcnow)
