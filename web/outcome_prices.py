"""The outcome-price explorer: pick an outcome category and see what every precedent paid per outcome unit,
for which target and baseline, measured how, by which payer, and whether the contract paid out; with median and
quartiles, sortable and filterable, and downloadable as CSV or Excel.

The rows come from :mod:`registry.services.outcome_prices` (the same function serves ``/api/v1/outcome-prices``);
this module reads the query string and puts every cell in the reader's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from registry.outcome_categories import OutcomeCategory, category_by_id, outcome_categories
from registry.outcome_prices import PAID_OUT
from registry.reference_rates import RateTable, Step, load_rate_table
from registry.schema import PolicySector
from registry.services.contracts import distinct_values, reader_name
from registry.services.outcome_prices import (
    SORTS,
    UNMAPPED,
    OutcomePriceRow,
    PriceFilter,
    category_counts,
    outcome_price_rows,
    price_summaries,
)
from web.downloads import frame_download
from web.extensions import session as db_session
from web.formatting import N_, figure, number, translate
from web.formatting import country as country_name
from web.vocabulary import vocab

bp = Blueprint("outcome_prices", __name__)

DEFAULT_CATEGORY = "employment"
PAID_LABELS = {
    "yes": N_("paid out"),
    "partly": N_("partly paid out"),
    "no": N_("did not pay out"),
    "unknown": N_("not known"),
}
YEARS = (1990, 2100)  # the years a filter accepts; others are dropped as unknown values are
ORIGINAL = "orig"  # the currency value that keeps each contract's own currency


def paid_label(status: str) -> str:
    return translate(PAID_LABELS[status])


def _currency(args: Any, currencies: Sequence[str], lang: str) -> str:
    asked = (args.get("currency") or "").strip().upper()
    if asked == ORIGINAL.upper() or not currencies:
        return ""
    if asked in currencies:
        return asked
    default = "SEK" if lang == "sv" else "USD"
    return default if default in currencies else ""


def _year(args: Any, name: str) -> int | None:
    text = (args.get(name) or "").strip()
    if not text.isdigit() or not YEARS[0] <= int(text) <= YEARS[1]:
        return None
    return int(text)


@dataclass(frozen=True)
class ExplorerQuery:
    """The explorer's query string, parsed and checked (unknown values are dropped, not errors)."""

    category: str = DEFAULT_CATEGORY
    country: str = ""
    sector: str = ""
    year_from: int | None = None
    year_to: int | None = None
    include_unpriced: bool = False
    sort: str = "price"
    descending: bool = False
    currency: str = ""  # convert to this currency ("": as stated)
    price_year: int | None = None  # at this year's prices (None: the latest the currency's price index has)

    @classmethod
    def from_args(cls, args: Any, *, currencies: Sequence[str] = (), lang: str = "sv") -> ExplorerQuery:
        """The query of ``args``; ``currencies`` are those a price can be converted to (the default: kronor
        for Swedish readers, dollars for others; ``currency=orig`` keeps each contract's own)."""
        category = (args.get("category") or "").strip()
        known = {c.id for c in outcome_categories()} | {UNMAPPED}
        sector = (args.get("sector") or "").strip()
        sort = args.get("sort", "price")
        country = (args.get("country") or "").strip().upper()
        return cls(
            category=category if category in known else DEFAULT_CATEGORY,
            country=country if len(country) == 2 and country.isascii() and country.isalpha() else "",
            sector=sector if sector in {s.value for s in PolicySector} else "",
            year_from=_year(args, "year_from"), year_to=_year(args, "year_to"),
            include_unpriced=args.get("all") == "1",
            sort=sort if sort in SORTS else "price",
            descending=args.get("dir") == "desc",
            currency=_currency(args, currencies, lang), price_year=_year(args, "price_year"),
        )

    def price_filter(self) -> PriceFilter:
        return PriceFilter(category=self.category, country=self.country or None, sector=self.sector or None,
                           year_from=self.year_from, year_to=self.year_to, priced_only=not self.include_unpriced)

    def args(self, **changes: Any) -> dict[str, Any]:
        """The query string of this selection (with ``changes``), without empty values."""
        values = {"category": self.category, "country": self.country, "sector": self.sector,
                  "year_from": self.year_from, "year_to": self.year_to, "all": "1" if self.include_unpriced else "",
                  "sort": "" if self.sort == "price" else self.sort, "dir": "desc" if self.descending else "",
                  "currency": self.currency or ORIGINAL, "price_year": self.price_year}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


def _lang() -> str:
    return str(get_locale() or "sv")


def _query_and_rates(lang: str) -> tuple[ExplorerQuery, RateTable]:
    """The request's query, its price year filled in (the latest of the currency's price index), and the
    reference rates (shipped tables with the database's overrides)."""
    rates = load_rate_table(session=db_session())
    query = ExplorerQuery.from_args(request.args, currencies=rates.currencies(), lang=lang)
    if query.currency and query.price_year is None:
        years = rates.years(query.currency, "cpi")
        query = replace(query, price_year=years[-1] if years else None)
    return query, rates


def _selection(query: ExplorerQuery, rates: RateTable, lang: str) -> list[OutcomePriceRow]:
    return outcome_price_rows(session=db_session(), filters=query.price_filter(), rates=rates,
                              to_currency=query.currency or None, price_year=query.price_year,
                              sort=query.sort, descending=query.descending, lang=lang)  # type: ignore[arg-type]


def step_text(step: Step, row: OutcomePriceRow) -> str:
    """One step of a price's conversion in the reader's language: the factor, what it is, the year(s) used
    (saying so when the nearest year stood in) and the source."""
    factor = number(step.factor, 4)
    conversion = row.conversion
    if step.kind == "fx" and conversion is not None:
        text = translate(N_("× %(factor)s: %(to)s per %(from)s, mean of %(year)s")) % {
            "factor": factor, "to": conversion.to_currency, "from": conversion.currency, "year": step.year}
        if step.year != conversion.year:
            text += " " + translate(N_("(the nearest year with a rate)"))
    elif step.kind == "cpi" and conversion is not None:
        text = translate(N_("× %(factor)s: consumer prices in %(currency)s, %(to_year)s against %(year)s")) % {
            "factor": factor, "currency": step.currency, "to_year": step.to_year, "year": step.year}
        if (step.year, step.to_year) != (conversion.year, conversion.price_year):
            text += " " + translate(N_("(the nearest years the index has)"))
    else:
        return translate(N_("No consumer price index for %(currency)s: the amount stays in %(year)s prices.")) % {
            "currency": step.currency, "year": step.year}
    return f"{text}. {translate(N_('Source'))}: {step.source}"


def metric_name(row: OutcomePriceRow, lang: str) -> str:
    """The metric's name in the reader's language where the contract gives one, else the other language's."""
    other = "en" if lang == "sv" else "sv"
    return row.metric_name.get(lang) or row.metric_name.get(other) or row.metric_id


def _category_choices(lang: str) -> tuple[list[tuple[str, str, int]], int]:
    """(id, label, priced metrics) per category, by label, then the metrics without one; and how many
    metrics in the registry have no category."""
    counts = category_counts(session=db_session())
    choices = sorted(((c.id, c.label(lang), counts.get(c.id, (0, 0))[1]) for c in outcome_categories()),
                     key=lambda c: c[1].casefold())
    unmapped, unmapped_priced = counts.get(UNMAPPED, (0, 0))
    choices.append((UNMAPPED, translate(N_("Without a category")), unmapped_priced))
    return choices, unmapped


@bp.get("/outcome-prices")
def explorer() -> str:
    """The explorer page."""
    lang = _lang()
    query, rates = _query_and_rates(lang)
    rows = _selection(query, rates, lang)
    category: OutcomeCategory | None = category_by_id(query.category)
    countries = [(code, country_name(code)) for code in distinct_values(session=db_session(), column="country")]
    categories, unmapped = _category_choices(lang)
    return render_template(
        "pages/outcome_prices.html", query=query, rows=rows, category=category, lang=lang,
        categories=categories, unmapped=unmapped, summaries=price_summaries(rows),
        countries=sorted(countries, key=lambda c: c[1]),
        sectors=[(s.value, vocab(s.value, "sector")) for s in PolicySector],
        paid_statuses=PAID_OUT, paid_label=paid_label, metric_name=metric_name, figure=figure, step_text=step_text,
        currencies=rates.currencies(), original=ORIGINAL,
        # the paths of a contract and of the draft once, not one url_for per row (the slowest part of a long table)
        contract_path=url_for("pages.contract", contract_id="x")[:-1], draft_path=url_for("drafts.draft"),
        contract_name=lambda r: reader_name(_Names(r.contract_id, r.name_en, r.name_sv), lang),
    )


@dataclass(frozen=True)
class _Names:
    id: str
    name_en: str | None
    name_sv: str | None


def price_frame(rows: list[OutcomePriceRow], lang: str) -> pd.DataFrame:
    """The download table: one row per metric, amounts as numbers, labels in the reader's language."""
    records = []
    for r in rows:
        target = r.targets[0] if r.targets else None
        records.append({
            "contract_id": r.contract_id,
            "contract": reader_name(_Names(r.contract_id, r.name_en, r.name_sv), lang),
            "country": r.country,
            "policy_sector": r.policy_sector,
            "start_year": r.year,
            "outcome_category": r.category or UNMAPPED,
            "metric_id": r.metric_id,
            "metric": metric_name(r, lang),
            "unit": r.unit,
            "price": float(r.price.amount) if r.price else None,
            "currency": r.price.currency if r.price else None,
            "price_parameter": r.price.parameter if r.price else None,
            "price_confidence": r.price.confidence if r.price else None,
            "converted_price": float(r.conversion.value) if r.conversion else None,
            "converted_currency": r.conversion.to_currency if r.conversion else None,
            "price_year": r.conversion.price_year if r.conversion else None,
            "conversion": r.conversion.describe() if r.conversion else r.conversion_message,
            "target": float(target.value) if target else None,
            "baseline": float(r.baseline) if r.baseline is not None else None,
            "measurement": r.measurement,
            "outcome_payers": ", ".join(r.payers),
            "paid_out": r.paid.status,
            "investor_repayment": r.paid.repayment_text,
            "url": request.host_url.rstrip("/") + f"/contracts/{r.contract_id}",
        })
    return pd.DataFrame.from_records(records, columns=[
        "contract_id", "contract", "country", "policy_sector", "start_year", "outcome_category", "metric_id",
        "metric", "unit", "price", "currency", "price_parameter", "price_confidence", "converted_price",
        "converted_currency", "price_year", "conversion", "target", "baseline",
        "measurement", "outcome_payers", "paid_out", "investor_repayment", "url"])


@bp.get("/outcome-prices.<any(csv, xlsx):fmt>")
def download(fmt: str) -> ResponseReturnValue:
    """The explorer's current selection as CSV or Excel."""
    lang = _lang()
    query, rates = _query_and_rates(lang)
    return frame_download(price_frame(_selection(query, rates, lang), lang), fmt, lang=lang,
                          name=f"utfall-outcome-prices-{query.category}", sheet="outcome prices")
