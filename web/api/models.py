"""The API's request and response models (pydantic): the OpenAPI schemas are generated from these."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from flask import url_for
from pydantic import BaseModel, ConfigDict, Field

from registry.backtest import VERDICTS
from registry.market import REPAYMENT_CLASSES, SIZE_BANDS
from registry.models import Portfolio, SimulationRun
from registry.portfolio_file import PortfolioFile
from registry.reference_rates import Conversion, RatePoint
from registry.schema import ContractDocument
from registry.services.contracts import SORTABLE, ContractFilter
from web.api.errors import ErrorResponse
from web.guards import MAX_ID


class Input(BaseModel):
    """Request models reject fields they do not know (a typo should not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class ContractQuery(Input):
    q: str | None = Field(None, max_length=200, description="Words of the name, id, region or organisations.")
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166 country code, e.g. SE.")
    sector: str | None = Field(None, max_length=40, description="Policy sector, e.g. child_and_family_welfare.")
    stage: str | None = Field(None, max_length=32, description="Contract stage, e.g. implementation.")
    origin: Literal["curated", "indigo"] | None = Field(None, description="Curated here or imported from INDIGO.")
    payer_type: str | None = Field(None, max_length=40, description="Organisation type of an outcome payer.")
    min_capital_usd: float | None = Field(None, ge=0, description="Smallest committed capital in USD.")
    max_capital_usd: float | None = Field(None, ge=0, description="Largest committed capital in USD.")
    size: Literal[tuple(SIZE_BANDS)] | None = Field(  # type: ignore[valid-type]
        None, description="Size class on committed capital in USD: small < 1 m ≤ medium < 5 m ≤ large.")
    result: Literal[REPAYMENT_CLASSES] | None = Field(  # type: ignore[valid-type]
        None, description="Investor repayment as stated, in classes (as on the registry page).")
    year_from: int | None = Field(None, ge=1900, le=2200, description="Signed or started in this year or later.")
    year_to: int | None = Field(None, ge=1900, le=2200, description="Signed or started in this year or earlier.")
    reproduced: Literal[VERDICTS] | None = Field(  # type: ignore[valid-type]
        None, description="Whether the terms reproduce the realised history (back-test): yes, partly (some "
        "payments reproduced, the rest depend on unrecorded outcomes), no or unknown (cannot tell).")
    sort: Literal[tuple(SORTABLE)] = Field("name", description="Sort key.")  # type: ignore[valid-type]
    desc: bool = Field(False, description="Sort descending.")
    limit: int = Field(50, ge=1, le=500, description="Page size.")
    offset: int = Field(0, ge=0, le=MAX_ID, description="Items to skip.")

    def contract_filter(self) -> ContractFilter:
        low = None if self.min_capital_usd is None else Decimal(str(self.min_capital_usd))
        high = None if self.max_capital_usd is None else Decimal(str(self.max_capital_usd))
        return ContractFilter(
            text=self.q, country=self.country, sector=self.sector, stage=self.stage, origin=self.origin,
            payer_type=self.payer_type, min_capital_usd=low, max_capital_usd=high, size=self.size,
            year_from=self.year_from,
            year_to=self.year_to, reproduced=self.reproduced, repayment=self.result,
        )


class ContractLinks(BaseModel):
    self: str
    payout: str
    backtest: str


class ContractSummary(BaseModel):
    """A contract's indexed facts (the list view); money as numbers in the contract's currency."""

    id: str
    name_sv: str | None
    name_en: str | None
    origin: str
    indigo_id: str | None
    country: str
    region: str | None
    policy_sector: str
    stage: str
    currency: str
    capital_committed: float | None
    capital_committed_usd: float | None
    max_outcome_payment: float | None
    start_year: int | None
    participants_targeted: int | None
    investor_repayment: str | None
    repayment_class: Literal[REPAYMENT_CLASSES] = Field(  # type: ignore[valid-type]
        description="What the investors got back: full, partial, none or unknown (from published investor "
                    "results, else the stated investor repayment, else the realised IRR).")
    has_terms: bool
    terms_status: str | None
    reproduced: Literal[VERDICTS] | None = Field(  # type: ignore[valid-type]
        description="Back-test verdict: do the terms reproduce the realised history? None without a history.")
    updated_at: datetime
    links: ContractLinks

    @classmethod
    def of(cls, row: Any) -> ContractSummary:
        """From a `Contract` or a row of `registry.services.contracts.LIST_COLUMNS`."""
        def num(v: Any) -> float | None:
            return None if v is None else float(v)

        return cls(
            id=row.id, name_sv=row.name_sv, name_en=row.name_en, origin=row.origin, indigo_id=row.indigo_id,
            country=row.country, region=row.region, policy_sector=row.policy_sector, stage=row.stage,
            currency=row.currency, capital_committed=num(row.capital_committed),
            capital_committed_usd=num(row.capital_committed_usd), max_outcome_payment=num(row.max_outcome_payment),
            start_year=row.start_year, participants_targeted=row.participants_targeted,
            investor_repayment=row.investor_repayment, repayment_class=row.repayment_class,
            has_terms=row.has_terms, terms_status=row.terms_status,
            reproduced=row.reproduced, updated_at=row.updated_at,
            links=ContractLinks(self=url_for("api.get_contract", contract_id=row.id),
                                payout=url_for("api.contract_payout", contract_id=row.id),
                                backtest=url_for("api.contract_backtest", contract_id=row.id)),
        )


class ContractList(BaseModel):
    total: int = Field(description="Contracts matching the filters, before paging.")
    limit: int
    offset: int
    items: list[ContractSummary]


class ContractDetail(ContractSummary):
    """The indexed facts plus the whole contract document (schema `utfall-contract/1`)."""

    outcome_names: list[str] = Field(description="Outcome metrics the payment terms read (payout input).")
    content_hash: str = Field(description="The document's version; send it back with an edit (PUT).")
    document: ContractDocument


class BacktestCheck(BaseModel):
    kind: Literal["payer_total", "payee_total", "investor_repaid", "irr", "multiple", "payment_date"]
    subject: str = Field(description="Organisation id: the payer (the payee for payee_total, where the record "
                         "does not say who paid) or the investor.")
    period: str | None = Field(description="The cohort or period of the recorded payment, if it is for one.")
    status: Literal["yes", "no", "unknown"] = Field(
        description="yes: the terms give this figure within the tolerances; no: they are off, or the recorded "
        "figure lies outside every value they give over the unrecorded outcomes; unknown (cannot tell): it depends "
        "on outcomes not recorded (depends_on) and lies inside that range, or rests on a derived parameter.")
    ok: bool = Field(description="Whether the terms agree with the record within the tolerances (status yes).")
    currency: str | None
    terms: str | float | None = Field(
        description="What the terms give: an amount (decimal string), IRR or date; null when it depends on "
        "unrecorded outcomes (then low and high).")
    recorded: str | float | None = Field(description="What is recorded (a partial ISO date for payment dates).")
    difference: str | float | int | None = Field(
        description="Terms minus recorded where they disagree (days outside the recorded period for dates).")
    relative: float | None = Field(description="The difference as a share of the recorded amount.")
    bound: str = Field(description="For IRRs: exact, min, max or about, as the source states it.")
    low: str | float | None = Field(None, description="The least the terms give over the unrecorded outcomes.")
    high: str | float | None = Field(None, description="The most the terms give over the unrecorded outcomes.")
    depends_on: list[str] = Field(
        default_factory=list, description="Unrecorded outcomes the figure depends on (metric[period] keys).")
    derived: list[str] = Field(
        default_factory=list, description="Parameters it uses that are worked back from the result (circular).")
    needs: list[float] = Field(
        default_factory=list, description="For a figure that depends on one outcome alone and lies in its range: "
        "the least and the most value of that outcome for which the terms give the recorded figure.")
    unreachable: bool = Field(
        False, description="The recorded figure lies between the least and the most the terms give, yet no value "
        "of the one outcome it depends on gives it (a tier table skips it): status no, difference to the nearest.")


class BacktestReason(BaseModel):
    kind: str = Field(description="What blocks or qualifies the verdict, e.g. missing_outcome.")
    subject: str | None = Field(description="The outcome metric or organisation it is about.")
    detail: str | None
    text: str = Field(description="The reason in English.")


class BacktestResult(BaseModel):
    """Do the contract's terms reproduce what happened? (``registry.backtest``)"""

    contract: str
    reproduced: Literal[VERDICTS]  # type: ignore[valid-type]
    currency: str
    reading: int | None = Field(description="The alternative reading of the terms that was evaluated.")
    inputs: dict[str, float] = Field(description="The recorded outcome values the terms were evaluated on.")
    checks: list[BacktestCheck]
    expected: list[BacktestCheck] = Field(
        default_factory=list, description="What the terms give each payer where nothing is recorded to compare.")
    blocked_by: list[str] = Field(
        default_factory=list, description="The unknown figures that keep a partly or unknown verdict from yes or "
        "no: outcomes (periods in brackets) and derived parameters.")
    cannot_tell: list[BacktestReason] = Field(
        description="What blocks a partly or unknown verdict (or why nothing could be compared).")
    caveats: list[BacktestReason] = Field(description="What qualifies a yes or no.")
    tolerances: dict[str, Any]


class ContractEdit(Input):
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$",
                              description="`content_hash` of the version the edit was made on (from GET); "
                                          "required, so an edit never overwrites one it has not seen.")
    document: dict[str, Any] = Field(description="The whole contract document (schema `utfall-contract/1`), "
                                                 "validated as contract files are; its `id` must be the URL's.")


class ChangeInfo(BaseModel):
    at: datetime
    actor: str
    kind: str = Field(description="created, updated or deleted")
    fields: list[str] = Field(description="Paths of the fields that changed.")


class ConflictResponse(ErrorResponse):
    """The edit was made on an older version: nothing was saved; here is what changed since."""

    current_hash: str | None = Field(description="The stored version now (null if the contract was deleted).")
    changes: list[ChangeInfo]


class PayoutRequest(Input):
    outcomes: dict[str, bool | float] = Field(
        description="One value per outcome metric the terms read: true/false for binary metrics, numbers otherwise. "
                    "A metric measured per period or cohort takes one value per period, keyed metric[label] "
                    "(e.g. restoration_rate[y1]), or one plain value that every period shares.",
        examples=[{"delivered": True, "savings": 4000000}],
    )


class MarketStatistics(BaseModel):
    """Market statistics computed from the registry (``registry.market.market_statistics``)."""

    model_config = ConfigDict(extra="allow")

    totals: dict[str, Any] = Field(description="Contracts (curated, INDIGO), countries, capital in USD.")
    by_year: dict[str, dict[str, Any]] = Field(description="Contracts and capital per start year.")
    by_country: dict[str, dict[str, Any]] = Field(description="Contracts and capital per country.")
    by_sector: dict[str, dict[str, Any]] = Field(description="Contracts and capital per policy sector.")
    by_stage: dict[str, dict[str, Any]] = Field(description="Contracts and capital per stage.")
    base_rates: dict[str, Any] = Field(description="Repayment base rates, market-wide and per sector.")


class PortfolioLinks(BaseModel):
    self: str
    runs: str
    page: str


class PortfolioSummary(BaseModel):
    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    result_computed_at: datetime | None
    links: PortfolioLinks

    @classmethod
    def of(cls, row: Portfolio) -> PortfolioSummary:
        return cls(id=row.id or 0, name=row.name, created_at=row.created_at, updated_at=row.updated_at,
                   result_computed_at=row.result_computed_at, links=_portfolio_links(row))


class PortfolioList(BaseModel):
    items: list[PortfolioSummary]


class PortfolioDetail(PortfolioSummary):
    spec: dict[str, Any] = Field(description="The portfolio specification (portfolio-file schema).")
    result: dict[str, Any] | None = Field(description="The last simulation result, if any.")

    @classmethod
    def of(cls, row: Portfolio) -> PortfolioDetail:
        return cls(**PortfolioSummary.of(row).model_dump(), spec=row.spec, result=row.result)


class PortfolioCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    spec: PortfolioFile


class PortfolioUpdate(Input):
    name: str | None = Field(None, min_length=1, max_length=200, description="New name (rename).")
    spec: PortfolioFile | None = Field(None, description="New specification.")


class RunLinks(BaseModel):
    self: str
    portfolio: str | None = None


class RunStatus(BaseModel):
    """A simulation run: queued → running → done | failed; ``result`` once done."""

    id: int
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(ge=0, le=1)
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    result: dict[str, Any] | None
    links: RunLinks

    @classmethod
    def of(cls, run: SimulationRun, with_result: bool = True) -> RunStatus:
        return cls(
            id=run.id or 0, status=run.status, progress=run.progress, error=run.error,  # type: ignore[arg-type]
            created_at=run.created_at, finished_at=run.finished_at,
            result=run.result if with_result else None,
            links=RunLinks(
                self=url_for("api.get_simulation", run_id=run.id),
                portfolio=url_for("api.get_portfolio", portfolio_id=run.portfolio_id) if run.portfolio_id else None,
            ),
        )


class SimulationResult(BaseModel):
    """A simulation run synchronously (small scenario counts)."""

    status: Literal["done"] = "done"
    result: dict[str, Any]


class OpenApiDocument(BaseModel):
    model_config = ConfigDict(extra="allow")


class ApiResource(BaseModel):
    """One operation of the API, as the index lists it."""

    method: str = Field(description="The HTTP method.")
    path: str = Field(description="The path, with path parameters in braces (OpenAPI style).")
    summary: str
    tag: str = Field(description="The group the operation belongs to (contracts, market, portfolios...).")
    operation_id: str = Field(description="The operation's id in the OpenAPI document.")
    href: str | None = Field(None, description="A URL to follow directly: GET operations without path parameters.")


class ApiIndex(BaseModel):
    """What ``/api/v1`` answers: where the description and docs are, and every operation."""

    name: str
    version: str
    openapi: str = Field(description="URL of the OpenAPI 3.1 document.")
    docs: str = Field(description="URL of the human-readable documentation.")
    resources: list[ApiResource]


def _portfolio_links(row: Portfolio) -> PortfolioLinks:
    return PortfolioLinks(
        self=url_for("api.get_portfolio", portfolio_id=row.id),
        runs=url_for("api.run_portfolio", portfolio_id=row.id),
        page=url_for("portfolios.show", portfolio_id=row.id),
    )


# --- reference exchange rates and price indices -------------------------------------------------------------------

CURRENCY_PATTERN = r"^[A-Za-z]{3}$"


class ReferenceRateQuery(Input):
    currency: str | None = Field(None, pattern=CURRENCY_PATTERN, description="ISO 4217 code, e.g. SEK.")
    table: Literal["fx", "cpi"] | None = Field(None, description="fx: units per euro; cpi: price index.")
    year: int | None = Field(None, ge=1800, le=2200, description="Only this year.")


class ReferenceRateRow(BaseModel):
    table: Literal["fx", "cpi"]
    currency: str
    year: int
    value: str = Field(description="Units of the currency per euro (fx) or the index level (cpi), exact decimal.")
    detail: dict[str, str] = Field(description="fx: days, first_date, last_date; cpi: base, series.")
    source: str
    source_url: str
    retrieved: str = Field(description="ISO date the source was taken.")
    overridden: bool = Field(description="Loaded with `utfall rates refresh`, replacing the shipped row.")

    @classmethod
    def of(cls, point: RatePoint) -> ReferenceRateRow:
        return cls(table=point.table, currency=point.currency, year=point.year, value=str(point.value),
                   detail=dict(point.detail), source=point.source, source_url=point.source_url,
                   retrieved=point.retrieved, overridden=point.overridden)


class ReferenceRateList(BaseModel):
    items: list[ReferenceRateRow]
    currencies: list[str] = Field(description="Every currency with a reference exchange rate (EUR included).")
    currencies_with_index: list[str] = Field(description="Every currency with a price index.")


class ConversionQuery(Input):
    amount: str = Field(pattern=r"^-?\d{1,15}(\.\d{1,6})?$", description="The amount, e.g. 1000000 or 2.5.")
    currency: str = Field(pattern=CURRENCY_PATTERN, description="Its currency.")
    year: int = Field(ge=1800, le=2200, description="The year the amount is of.")
    to: str = Field(pattern=CURRENCY_PATTERN, description="The currency wanted.")
    price_year: int | None = Field(None, ge=1800, le=2200,
                                   description="Express the result at this year's prices (the target's index).")


class ConversionStep(BaseModel):
    kind: Literal["fx", "cpi", "no_cpi"]
    factor: str = Field(description="Multiply by this (exact decimal).")
    currency: str
    year: int
    to_year: int | None
    note: str
    source: str
    points: list[ReferenceRateRow] = Field(description="The table rows the factor is made of.")


class ConversionResult(BaseModel):
    amount: str
    currency: str
    year: int
    to_currency: str
    price_year: int | None
    value: str = Field(description="The result, rounded to the target currency's minor unit.")
    adjusted: bool = Field(description="True when carried to price_year's prices by a price index.")
    steps: list[ConversionStep]

    @classmethod
    def of(cls, conversion: Conversion) -> ConversionResult:
        steps = [ConversionStep(kind=s.kind, factor=str(s.factor), currency=s.currency, year=s.year,
                                to_year=s.to_year, note=s.note, source=s.source,
                                points=[ReferenceRateRow.of(p) for p in s.points]) for s in conversion.steps]
        return cls(amount=str(conversion.amount), currency=conversion.currency, year=conversion.year,
                   to_currency=conversion.to_currency, price_year=conversion.price_year,
                   value=str(conversion.value), adjusted=conversion.adjusted, steps=steps)
