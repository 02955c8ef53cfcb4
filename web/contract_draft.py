"""Draft a contract from outcome prices: start from a precedent's price or the category's median, adjust price,
cap, target, cohort and capital, and see the payer's budget and the investor's expected multiple and IRR from a
one-contract simulation; download the draft as a contract file.

The document and the simulation are :mod:`registry.draft`'s; the reference price comes from the explorer's
service (:mod:`registry.services.outcome_prices`), in the chosen currency at the latest price year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import get_locale

from registry.draft import (
    MAX_TERM_YEARS,
    DraftResult,
    DraftTerms,
    check_terms,
    draft_document,
    draft_yaml,
    simulate_draft,
)
from registry.outcome_categories import OutcomeCategory, category_by_id, outcome_categories
from registry.reference_rates import RateTable, load_rate_table
from registry.services.outcome_prices import OutcomePriceRow, PriceFilter, outcome_price_rows, price_summaries
from web.extensions import session as db_session
from web.formatting import N_, translate

bp = Blueprint("drafts", __name__)

DEFAULT_COHORT = 100
DEFAULT_TARGET_SHARE = Decimal("0.3")
CAP_FACTOR = Decimal("1.5")  # the default cap: the price of 1.5 times the target
CAPITAL_FACTOR = Decimal("0.8")  # the default capital: 80 % of what the target pays
MAX_AMOUNT = Decimal("1e12")
PROBLEM_TEXTS = {
    "positive": N_("Enter an amount more than zero."),
    "cohort": N_("Enter a whole number of people, at least one."),
    "target": N_("The target must be a whole number between one and the cohort size."),
    "term": N_("The term must be a whole number of years between 1 and 15."),
    "number": N_("Enter a number."),
}


@dataclass(frozen=True)
class Reference:
    """Where the starting price comes from: a precedent's row, or the category's median (``row`` None)."""

    price: Decimal | None
    row: OutcomePriceRow | None
    prices: int


def _lang() -> str:
    return str(get_locale() or "sv")


def _currency(rates: RateTable) -> str:
    asked = (request.args.get("currency") or "").strip().upper()
    if asked in rates.currencies():
        return asked
    return "SEK" if _lang() == "sv" else "USD"


def _reference(category: OutcomeCategory, currency: str, rates: RateTable) -> Reference:
    years = rates.years(currency, "cpi")
    rows = outcome_price_rows(session=db_session(), filters=PriceFilter(category=category.id), rates=rates,
                              to_currency=currency, price_year=years[-1] if years else None)
    wanted = (request.args.get("from") or "", request.args.get("metric") or "")
    row = next((r for r in rows if (r.contract_id, r.metric_id) == wanted and r.conversion), None)
    if row is not None and row.conversion is not None:
        return Reference(row.conversion.value.quantize(Decimal(1)), row, 1)
    summary = next(iter(price_summaries(rows)), None)
    return Reference(summary.median.quantize(Decimal(1)) if summary else None, None, summary.n if summary else 0)


def _number(name: str, default: Decimal | None, problems: dict[str, str]) -> Decimal | None:
    text = (request.args.get(name) or "").strip().replace("\xa0", "").replace(" ", "").replace(",", ".")
    if not text:
        return default
    try:
        value = Decimal(text)
    except InvalidOperation:
        problems[name] = "number"
        return default
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        problems[name] = "number"
        return default
    return value


def _terms(category: OutcomeCategory, currency: str, ref: Reference) -> tuple[DraftTerms | None, dict[str, str],
                                                                               dict[str, Any]]:
    """The draft's terms from the form (defaults from the reference price), its problems, and the form values."""
    problems: dict[str, str] = {}
    price = _number("price", ref.price, problems)
    cohort = _number("cohort", Decimal(DEFAULT_COHORT), problems)
    target = _number("target", ((cohort or Decimal(DEFAULT_COHORT)) * DEFAULT_TARGET_SHARE).to_integral_value(),
                     problems)
    pays = (price or 0) * (target or 0)
    cap = _number("cap", (pays * CAP_FACTOR).quantize(Decimal(1)), problems)
    capital = _number("capital", (pays * CAPITAL_FACTOR).quantize(Decimal(1)), problems)
    term = _number("term", Decimal(3), problems)
    values = {"price": price, "cohort": cohort, "target": target, "cap": cap, "capital": capital, "term": term}
    for name in ("cohort", "target", "term"):
        value = values[name]
        if value is not None and value != value.to_integral_value():
            problems.setdefault(name, "term" if name == "term" else name)
    if problems or None in values.values():
        return None, problems, values
    terms = DraftTerms(category=category, currency=currency, price=price, cap=cap, target=int(target),  # type: ignore[arg-type]
                       cohort=int(cohort), capital=capital, term_years=int(term),  # type: ignore[arg-type]
                       start=date(date.today().year + 1, 1, 1))
    for field, code in check_terms(terms):
        problems.setdefault("term" if field == "term_years" else field, code)
    return (None if problems else terms), problems, values


def _draft() -> tuple[OutcomeCategory, str, Reference, DraftTerms | None, dict[str, str], dict[str, Any]]:
    category = category_by_id(request.args.get("category") or "") or category_by_id("employment")
    assert category is not None  # the shipped catalogue has the employment category (tested)
    rates = load_rate_table(session=db_session())
    currency = _currency(rates)
    ref = _reference(category, currency, rates)
    terms, problems, values = _terms(category, currency, ref)
    return category, currency, ref, terms, problems, values


@bp.get("/outcome-prices/draft")
def draft() -> str:
    """The draft form and, when its values are usable, the simulation's results."""
    category, currency, ref, terms, problems, values = _draft()
    result: DraftResult | None = None
    if terms is not None:
        result = simulate_draft(draft_document(terms))
    return render_template(
        "pages/draft.html", category=category, categories=sorted(outcome_categories(), key=lambda c: c.label(_lang())),
        currency=currency, ref=ref, values=values, result=result, lang=_lang(), max_term=MAX_TERM_YEARS,
        problems={k: translate(PROBLEM_TEXTS[v]) for k, v in problems.items()},
        query={k: v for k, v in request.args.items() if k != "lang"},
    )


@bp.get("/outcome-prices/draft.yaml")
def draft_file() -> Response:
    """The draft as a contract file (YAML) that ``utfall validate`` accepts."""
    category, _currency, _ref, terms, problems, _values = _draft()
    if terms is None:
        return Response("; ".join(f"{k}: {translate(PROBLEM_TEXTS[v])}" for k, v in problems.items()) + "\n",
                        status=422, mimetype="text/plain")
    doc = draft_document(terms)
    return Response(draft_yaml(doc), mimetype="application/yaml",
                    headers={"Content-Disposition": f"attachment; filename={doc['id']}.yaml"})
