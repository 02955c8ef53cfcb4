"""The outcome-price explorer: pick an outcome category and see what every precedent paid per outcome unit,
for which target and baseline, measured how, by which payer, and whether the contract paid out; with median and
quartiles, sortable and filterable, and downloadable as CSV or Excel.

The rows come from :mod:`registry.services.outcome_prices` (the same function serves ``/api/v1/outcome-prices``);
this module reads the query string and puts every cell in the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from registry.outcome_categories import OutcomeCategory, category_by_id, outcome_categories
from registry.outcome_prices import PAID_OUT
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
from web.formatting import N_, figure, translate
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


def paid_label(status: str) -> str:
    return translate(PAID_LABELS[status])


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

    @classmethod
    def from_args(cls, args: Any) -> ExplorerQuery:
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
        )

    def price_filter(self) -> PriceFilter:
        return PriceFilter(category=self.category, country=self.country or None, sector=self.sector or None,
                           year_from=self.year_from, year_to=self.year_to, priced_only=not self.include_unpriced)

    def args(self, **changes: Any) -> dict[str, Any]:
        """The query string of this selection (with ``changes``), without empty values."""
        values = {"category": self.category, "country": self.country, "sector": self.sector,
                  "year_from": self.year_from, "year_to": self.year_to, "all": "1" if self.include_unpriced else "",
                  "sort": "" if self.sort == "price" else self.sort, "dir": "desc" if self.descending else ""}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


def _lang() -> str:
    return str(get_locale() or "sv")


def _selection(query: ExplorerQuery, lang: str) -> list[OutcomePriceRow]:
    return outcome_price_rows(session=db_session(), filters=query.price_filter(), sort=query.sort,  # type: ignore[arg-type]
                              descending=query.descending, lang=lang)


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
    query = ExplorerQuery.from_args(request.args)
    lang = _lang()
    rows = _selection(query, lang)
    category: OutcomeCategory | None = category_by_id(query.category)
    countries = [(code, country_name(code)) for code in distinct_values(session=db_session(), column="country")]
    categories, unmapped = _category_choices(lang)
    return render_template(
        "pages/outcome_prices.html", query=query, rows=rows, category=category, lang=lang,
        categories=categories, unmapped=unmapped, summaries=price_summaries(rows),
        countries=sorted(countries, key=lambda c: c[1]),
        sectors=[(s.value, vocab(s.value, "sector")) for s in PolicySector],
        paid_statuses=PAID_OUT, paid_label=paid_label, metric_name=metric_name, figure=figure,
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
        "metric", "unit", "price", "currency", "price_parameter", "price_confidence", "target", "baseline",
        "measurement", "outcome_payers", "paid_out", "investor_repayment", "url"])


@bp.get("/outcome-prices.<any(csv, xlsx):fmt>")
def download(fmt: str) -> ResponseReturnValue:
    """The explorer's current selection as CSV or Excel."""
    query = ExplorerQuery.from_args(request.args)
    lang = _lang()
    return frame_download(price_frame(_selection(query, lang), lang), fmt, lang=lang,
                          name=f"utfall-outcome-prices-{query.category}", sheet="outcome prices")
