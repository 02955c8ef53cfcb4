"""Outcome prices across precedents: every contract's metrics in an outcome category with their price per unit,
target, baseline, measurement, payers and whether the contract paid out, optionally in constant money.

Used alike by the explorer page, its downloads and ``/api/v1/outcome-prices``. Prices are read from the
documents by :mod:`registry.outcome_prices`, categories by :mod:`registry.outcome_categories`; a conversion to a
currency and price year is done by the rate table the caller passes (``registry.reference_rates``), kept on
each row with its steps so every converted figure can be traced.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from sqlmodel import Session, col, select

from registry.indigo.derive import ACHIEVEMENT
from registry.models import Contract
from registry.outcome_categories import CategoryMatch, categorise
from registry.outcome_prices import PAID_OUT, PaidOutcome, Price, metric_prices, paid_outcome
from registry.reference_rates import Conversion, NoRate, RateTable

SORTS = ("price", "contract", "country", "year", "paid")
SortKey = Literal["price", "contract", "country", "year", "paid"]
UNMAPPED = "unmapped"


@dataclass(frozen=True)
class PriceFilter:
    """Which rows: a category (``unmapped`` for metrics without one; None for all), country, policy sector,
    service start years (inclusive) and whether metrics without a price are included."""

    category: str | None = None
    country: str | None = None
    sector: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    priced_only: bool = True


@dataclass(frozen=True)
class Target:
    value: Decimal
    description: str | None


@dataclass(frozen=True)
class OutcomePriceRow:
    """One metric of one contract, with its price (if stated), and the conversion of the price (if asked)."""

    contract_id: str
    name_en: str | None
    name_sv: str | None
    origin: str
    country: str
    policy_sector: str
    stage: str
    year: int | None
    metric_id: str
    metric_name: dict[str, str]
    category: str | None
    rule: str | None
    unit: str | None
    kind: str
    measurement: str
    baseline: Decimal | None
    targets: tuple[Target, ...]
    payers: tuple[str, ...]
    price: Price | None
    paid: PaidOutcome
    conversion: Conversion | None = None
    conversion_error: Literal["no_start_year", "no_rate"] | None = None
    conversion_message: str | None = None  # why, in English (the API's ``conversion.error``)

    @property
    def shown_amount(self) -> Decimal | None:
        """The price as compared: converted when a conversion was asked for (None if it failed), else as stated."""
        if self.conversion is not None:
            return self.conversion.value
        if self.conversion_error is not None or self.price is None:
            return None
        return self.price.amount

    @property
    def shown_currency(self) -> str | None:
        if self.conversion is not None:
            return self.conversion.to_currency
        return None if self.price is None or self.conversion_error else self.price.currency


@dataclass(frozen=True)
class PriceSummary:
    """Quartiles of the prices shown in one currency, and how often the contracts behind them paid out."""

    currency: str
    n: int
    contracts: int
    median: Decimal
    p25: Decimal
    p75: Decimal
    low: Decimal
    high: Decimal
    paid: dict[str, int] = field(default_factory=dict)  # contracts per paid-out status

    @property
    def paid_share(self) -> float | None:
        """Share of the contracts with a known answer that paid out (fully or partly)."""
        known = sum(v for k, v in self.paid.items() if k != "unknown")
        return (self.paid.get("yes", 0) + self.paid.get("partly", 0)) / known if known else None


@lru_cache(maxsize=8192)
def _category(names: tuple[str | None, ...]) -> CategoryMatch | None:
    # Many contracts share metric names (INDIGO's rate cards): each name is matched once per process.
    return categorise(names)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _payers(doc: dict[str, Any]) -> tuple[str, ...]:
    names = {o["id"]: o.get("name") or o["id"] for o in doc.get("organisations", [])}
    ids = [p["organisation"] for p in doc.get("parties", []) if "outcome_payer" in p.get("roles", [])]
    return tuple(dict.fromkeys(names.get(i, i) for i in ids))


def _contract_query(filters: PriceFilter) -> Any:
    query = select(Contract.id, Contract.content_hash, Contract.name_en, Contract.name_sv, Contract.origin,
                   Contract.country, Contract.policy_sector, Contract.stage, Contract.start_year)
    if filters.country:
        query = query.where(Contract.country == filters.country)
    if filters.sector:
        query = query.where(Contract.policy_sector == filters.sector)
    if filters.year_from is not None:
        query = query.where(col(Contract.start_year) >= filters.year_from)
    if filters.year_to is not None:
        query = query.where(col(Contract.start_year) <= filters.year_to)
    return query.order_by(Contract.id)


@dataclass(frozen=True)
class _Extract:
    """What the explorer reads of one document version: its metrics with their categories, prices, whether it
    paid out, and its payers."""

    metrics: tuple[tuple[dict[str, Any], CategoryMatch | None], ...]
    prices: dict[str, Price]
    paid: PaidOutcome
    payers: tuple[str, ...]


# Per (contract id, content hash): a document version never changes, so what was read of it stays true;
# parsing the stored JSON of every contract on each request would cost more than everything else.
_EXTRACTS: dict[tuple[str, str], _Extract] = {}
_MAX_EXTRACTS = 20_000


def _extract(doc: dict[str, Any]) -> _Extract:
    derived = (doc.get("payment_terms") or {}).get("status") == "derived"
    metrics = []
    for metric in doc.get("outcome_metrics", []):
        if derived and metric["id"] == ACHIEVEMENT:  # utfall's stand-in for unpriced INDIGO terms, not an outcome
            continue
        names = metric.get("name") or {}
        metrics.append((metric, _category((names.get("en"), names.get("sv")))))
    return _Extract(tuple(metrics), metric_prices(doc), paid_outcome(doc), _payers(doc))


def _extracts(session: Session, rows: Sequence[Any]) -> list[_Extract]:
    missing = [r.id for r in rows if (r.id, r.content_hash) not in _EXTRACTS]
    if len(_EXTRACTS) + len(missing) > _MAX_EXTRACTS:
        _EXTRACTS.clear()
    for start in range(0, len(missing), 500):
        chunk = missing[start:start + 500]
        for cid, content_hash, doc in session.exec(
                select(Contract.id, Contract.content_hash, Contract.document).where(col(Contract.id).in_(chunk))):
            _EXTRACTS[(cid, content_hash)] = _extract(doc)
    return [_EXTRACTS[(r.id, r.content_hash)] for r in rows]


def _rows_of(row: Any, ex: _Extract, filters: PriceFilter) -> Iterable[OutcomePriceRow]:
    for metric, match in ex.metrics:
        category = match.category if match else None
        if filters.category and (category or UNMAPPED) != filters.category:
            continue
        price = ex.prices.get(metric["id"])
        if filters.priced_only and price is None:
            continue
        yield OutcomePriceRow(
            contract_id=row.id, name_en=row.name_en, name_sv=row.name_sv, origin=row.origin, country=row.country,
            policy_sector=row.policy_sector, stage=row.stage, year=row.start_year, metric_id=metric["id"],
            metric_name={k: v for k, v in (metric.get("name") or {}).items() if v}, category=category,
            rule=match.rule if match else None, unit=metric.get("unit"), kind=metric.get("kind", ""),
            measurement=metric.get("measurement", "unknown"),
            baseline=_decimal((metric.get("baseline") or {}).get("value")),
            targets=tuple(Target(Decimal(str(t["value"])), t.get("description")) for t in metric.get("targets", [])),
            payers=ex.payers, price=price, paid=ex.paid,
        )


def _matching(session: Session, filters: PriceFilter) -> list[OutcomePriceRow]:
    contracts = session.exec(_contract_query(filters)).all()
    return [r for row, ex in zip(contracts, _extracts(session, contracts), strict=True)
            for r in _rows_of(row, ex, filters)]


def _convert(row: OutcomePriceRow, rates: RateTable, to_currency: str, price_year: int | None) -> OutcomePriceRow:
    if row.price is None:
        return row
    if row.year is None:
        return replace(row, conversion_error="no_start_year",
                       conversion_message="the contract's service start year is not known")
    try:
        conversion = rates.convert(row.price.amount, row.price.currency, row.year, to_currency=to_currency,
                                   price_year=price_year)
    except NoRate as exc:
        return replace(row, conversion_error="no_rate", conversion_message=str(exc))
    return replace(row, conversion=conversion)


def _sort_key(sort: SortKey, lang: str) -> Callable[[OutcomePriceRow], Any]:
    def name(r: OutcomePriceRow) -> str:
        return ((r.name_sv or r.name_en) if lang == "sv" else (r.name_en or r.name_sv) or r.contract_id).casefold()

    keys: dict[str, Callable[[OutcomePriceRow], Any]] = {
        "price": lambda r: (r.shown_amount is None, r.shown_currency or "", r.shown_amount or 0, name(r)),
        "contract": lambda r: (name(r), r.metric_id),
        "country": lambda r: (r.country, name(r), r.metric_id),
        "year": lambda r: (r.year is None, r.year or 0, name(r), r.metric_id),
        "paid": lambda r: (PAID_OUT.index(r.paid.status), name(r), r.metric_id),
    }
    return keys[sort]


def outcome_price_rows(*, session: Session, filters: PriceFilter, rates: RateTable | None = None,
                       to_currency: str | None = None, price_year: int | None = None, sort: SortKey = "price",
                       descending: bool = False, lang: str = "en") -> list[OutcomePriceRow]:
    """The metrics matching ``filters`` across contracts, sorted; prices converted to ``to_currency`` at
    ``price_year`` prices with ``rates`` when both are given (a row whose price cannot be converted keeps the
    reason in ``conversion_error`` and is left out of the statistics)."""
    rows = _matching(session, filters)
    if rates is not None and to_currency:
        rows = [_convert(r, rates, to_currency, price_year) for r in rows]
    rows.sort(key=_sort_key(sort, lang), reverse=descending)
    if descending and sort in ("price", "year"):  # unknown amounts and years stay last either way
        rows.sort(key=lambda r: (r.shown_amount if sort == "price" else r.year) is None)
    return rows


def price_summaries(rows: Sequence[OutcomePriceRow]) -> list[PriceSummary]:
    """Median, quartiles (inclusive method) and range of the shown prices, per shown currency (one when the
    prices were converted), with the paid-out status of the contracts behind them counted once each."""
    by_currency: dict[str, list[OutcomePriceRow]] = {}
    for r in rows:
        if r.shown_amount is not None and r.shown_currency:
            by_currency.setdefault(r.shown_currency, []).append(r)
    out = []
    for currency, group in sorted(by_currency.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        values = sorted(r.shown_amount for r in group if r.shown_amount is not None)
        q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
        contracts = {r.contract_id: r.paid.status for r in group}
        out.append(PriceSummary(currency=currency, n=len(values), contracts=len(contracts),
                                median=statistics.median(values), p25=q[0], p75=q[2], low=values[0], high=values[-1],
                                paid=dict(Counter(contracts.values()))))
    return out


def category_counts(*, session: Session) -> dict[str, tuple[int, int]]:
    """Per category id (and ``unmapped``): how many metrics in the registry, and how many of them priced."""
    counts: dict[str, list[int]] = {}
    contracts = session.exec(_contract_query(PriceFilter(priced_only=False))).all()
    for ex in _extracts(session, contracts):
        for metric, match in ex.metrics:
            entry = counts.setdefault(match.category if match else UNMAPPED, [0, 0])
            entry[0] += 1
            entry[1] += metric["id"] in ex.prices
    return {k: (v[0], v[1]) for k, v in counts.items()}
