"""The API's outcome categories and outcome prices (the explorer's data: ``registry.services.outcome_prices``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from registry.outcome_categories import outcome_categories
from registry.outcome_prices import PAID_OUT
from registry.reference_rates import load_rate_table
from registry.schema import PolicySector
from registry.services.outcome_prices import (
    SORTS,
    UNMAPPED,
    OutcomePriceRow,
    PriceFilter,
    PriceSummary,
    category_counts,
    outcome_price_rows,
    price_summaries,
)
from web.api.errors import ApiError
from web.api.models import Input
from web.api.operations import operation
from web.extensions import session as db_session

CATEGORY_IDS = tuple(c.id for c in outcome_categories()) + (UNMAPPED,)


class OutcomeCategoryInfo(BaseModel):
    id: str
    label: dict[str, str] = Field(description="The category's name in English (en) and Swedish (sv).")
    description: dict[str, str]
    words: dict[str, list[str]] = Field(description="Search words per language.")
    metrics: int = Field(description="Outcome metrics in the registry in this category.")
    priced: int = Field(description="Of those, metrics with a price per unit in their contract's terms.")


class OutcomeCategoryList(BaseModel):
    items: list[OutcomeCategoryInfo]
    unmapped: int = Field(description="Outcome metrics in the registry no category's rule matches.")


class OutcomePriceQuery(Input):
    category: Literal[CATEGORY_IDS] | None = Field(  # type: ignore[valid-type]
        None, description="An outcome category id (see /outcome-categories), or `unmapped`; all when left out.")
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166 country code, e.g. GB.")
    sector: Literal[tuple(s.value for s in PolicySector)] | None = Field(  # type: ignore[valid-type]
        None, description="Policy sector of the contract.")
    year_from: int | None = Field(None, ge=1900, le=2200, description="Service started in this year or later.")
    year_to: int | None = Field(None, ge=1900, le=2200, description="Service started in this year or earlier.")
    include_unpriced: bool = Field(False, description="Include metrics whose contract states no price per unit.")
    currency: str | None = Field(None, min_length=3, max_length=3, description="Convert every price to this "
                                 "currency (ISO 4217, one of the reference tables'), at the exchange rate of the "
                                 "contract's start year; left out: each contract's own currency.")
    price_year: int | None = Field(None, ge=1900, le=2200, description="With `currency`: at this year's prices "
                                   "(the currency's consumer price index); left out: the start year's prices.")
    sort: Literal[SORTS] = Field("price", description="Sort key.")  # type: ignore[valid-type]
    desc: bool = Field(False, description="Sort descending.")


class PriceInfo(BaseModel):
    amount: Decimal
    currency: str
    parameter: str = Field(description="The payment-terms parameter that states the price.")
    unit: str | None
    confidence: str
    sources: list[str]
    rule: str | None = Field(description="The payment rule multiplying price and metric; null for a rate card.")


class PaidOutInfo(BaseModel):
    status: Literal[PAID_OUT] = Field(  # type: ignore[valid-type]
        description="yes, partly, no or unknown: from the stated investor repayment, else recorded outcome "
        "payments.")
    basis: Literal["repayment", "payments", "none"]
    investor_repayment: str | None
    outcome_payments: Decimal | None
    currency: str | None


class ConversionInfo(BaseModel):
    value: Decimal | None = Field(description="The price converted; null when it could not be.")
    currency: str
    price_year: int | None
    steps: list[dict[str, Any]] = Field(description="Each step: kind (fx, cpi, no_cpi), factor, years, source "
                                                    "and the reference-table rows used.")
    error: str | None = Field(description="Why the price was not converted.")


class OutcomePriceItem(BaseModel):
    contract_id: str
    name_en: str | None
    name_sv: str | None
    origin: str
    country: str
    policy_sector: str
    stage: str
    start_year: int | None
    metric_id: str
    metric_name: dict[str, str]
    category: str | None
    rule: str | None = Field(description="The catalogue rule (regular expression) that put the metric in it.")
    unit: str | None
    kind: str
    measurement: str
    baseline: Decimal | None
    targets: list[Decimal]
    outcome_payers: list[str]
    price: PriceInfo | None
    converted: ConversionInfo | None = Field(description="The price in the currency asked for, with its steps.")
    paid_out: PaidOutInfo

    @classmethod
    def of(cls, r: OutcomePriceRow, currency: str | None, price_year: int | None) -> OutcomePriceItem:
        p = r.price
        c = r.conversion
        converted = None
        if c is not None:
            converted = ConversionInfo(value=c.value, currency=c.to_currency, price_year=c.price_year,
                                       steps=[s.as_dict() for s in c.steps], error=None)
        elif currency and p is not None:
            converted = ConversionInfo(value=None, currency=currency, price_year=price_year, steps=[],
                                       error=r.conversion_message)
        return cls(
            contract_id=r.contract_id, name_en=r.name_en, name_sv=r.name_sv, origin=r.origin, country=r.country,
            policy_sector=r.policy_sector, stage=r.stage, start_year=r.year, metric_id=r.metric_id,
            metric_name=r.metric_name, category=r.category, rule=r.rule, unit=r.unit, kind=r.kind,
            measurement=r.measurement, baseline=r.baseline, targets=[t.value for t in r.targets],
            outcome_payers=list(r.payers),
            price=PriceInfo(amount=p.amount, currency=p.currency, parameter=p.parameter, unit=p.unit,
                            confidence=p.confidence, sources=list(p.sources), rule=p.rule) if p else None,
            converted=converted,
            paid_out=PaidOutInfo(status=r.paid.status, basis=r.paid.basis, investor_repayment=r.paid.repayment_text,
                                 outcome_payments=r.paid.payments, currency=r.paid.currency),
        )


class PriceSummaryInfo(BaseModel):
    currency: str
    prices: int
    contracts: int
    median: Decimal
    p25: Decimal = Field(description="Lower quartile (inclusive method).")
    p75: Decimal = Field(description="Upper quartile (inclusive method).")
    min: Decimal
    max: Decimal
    paid_out: dict[str, int] = Field(description="Contracts behind these prices per paid-out status.")
    paid_out_share: float | None = Field(description="Share of contracts with a known status that paid out "
                                                     "(fully or partly).")

    @classmethod
    def of(cls, s: PriceSummary) -> PriceSummaryInfo:
        return cls(currency=s.currency, prices=s.n, contracts=s.contracts, median=s.median, p25=s.p25, p75=s.p75,
                   min=s.low, max=s.high, paid_out=s.paid, paid_out_share=s.paid_share)


class OutcomePriceList(BaseModel):
    total: int
    summaries: list[PriceSummaryInfo] = Field(description="Median and quartiles of the prices, per currency (one "
                                              "when converted: prices that could not be are left out).")
    items: list[OutcomePriceItem]


@operation("GET", "/outcome-categories", summary="List outcome categories", tag="market",
           responses={200: ("The categories, with how many metrics each has.", OutcomeCategoryList)})
def list_outcome_categories() -> OutcomeCategoryList:
    """The bilingual outcome categories (``registry/catalogue/outcome_categories.yaml``) and how many of the
    registry's outcome metrics each holds."""
    counts = category_counts(session=db_session())
    items = [OutcomeCategoryInfo(id=c.id, label=dict(c.labels), description=dict(c.descriptions),
                                 words={k: list(v) for k, v in c.words.items()}, metrics=counts.get(c.id, (0, 0))[0],
                                 priced=counts.get(c.id, (0, 0))[1])
             for c in outcome_categories()]
    return OutcomeCategoryList(items=items, unmapped=counts.get(UNMAPPED, (0, 0))[0])


@operation("GET", "/outcome-prices", summary="Outcome prices across contracts", tag="market",
           query=OutcomePriceQuery,
           responses={200: ("Every matching metric with its price per unit, and the statistics.", OutcomePriceList)})
def list_outcome_prices(query: OutcomePriceQuery) -> OutcomePriceList:
    """Each contract's metrics in a category with the price per outcome unit its terms state, target, baseline,
    measurement, payers and whether the contract paid out; median and quartiles per currency."""
    filters = PriceFilter(category=query.category, country=query.country.upper() if query.country else None,
                          sector=query.sector, year_from=query.year_from, year_to=query.year_to,
                          priced_only=not query.include_unpriced)
    session = db_session()
    currency = query.currency.upper() if query.currency else None
    rates = load_rate_table(session=session)
    if currency and currency not in rates.currencies():
        raise ApiError(422, f"currency: no reference exchange rate for {currency}", "currency")
    rows = outcome_price_rows(session=session, filters=filters, rates=rates, to_currency=currency,
                              price_year=query.price_year if currency else None, sort=query.sort,
                              descending=query.desc)
    return OutcomePriceList(total=len(rows), summaries=[PriceSummaryInfo.of(s) for s in price_summaries(rows)],
                            items=[OutcomePriceItem.of(r, currency, query.price_year) for r in rows])
