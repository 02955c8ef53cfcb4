"""Standard payment terms derived from what an INDIGO project states, so every project can be priced.

INDIGO describes terms in numbers and text, not formulas. From the stated capital, maximum outcome payment,
maximum potential return and loss, service duration and (where given) the price per outcome, we build terms
in the payment-terms language (docs/payment-terms.md) and mark them ``status: derived`` with the INDIGO
fields they came from and every assumption made (``unknowns``). See docs/indigo.md for the derivation.

Parameters: ``C`` investor capital, ``M`` maximum outcome payment, ``R`` maximum annual return,
``T`` term in years, ``L`` maximum share of capital investors can lose. One payment rule pays the
investors, from the (first) outcome payer::

    clamp(achievement * M, C * (1 - L), C * (1 + R * T))            # no price list
    clamp(cap(rate_card(prices), M), C * (1 - L), C * (1 + R * T))  # INDIGO gives prices per outcome

``achievement`` is a derived continuous metric, the share of outcome targets achieved (0 to 1); with
prices, the metrics are the counts of each priced outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from registry.indigo.mapping import RECORD_SOURCE, ProjectRows
from registry.indigo.values import clean, parse_currency, parse_date, parse_number, parse_rate, parse_share
from registry.plain_text import number_text
from registry.schema import partial_date_start

DEFAULT_RETURN = Decimal("0.05")  # a mid-range maximum annual return (INDIGO's stated ones run 2 % to 15 %)
DEFAULT_TERM_YEARS = Decimal(4)  # GO Lab's average service duration is about 48 months
ACHIEVEMENT = "achievement"

P = "overall_project_finance."


def _figure(value: Decimal) -> str:
    """``value`` as written into a derived formula: at most six decimals, no exponent or trailing zeros."""
    return number_text(value.quantize(Decimal("0.000001")) if value != value.to_integral_value() else value)


def _money_in(fact: dict[str, Any] | None, currency: str) -> Decimal | None:
    if not fact or (fact.get("currency") or currency) != currency:
        return None
    return Decimal(fact["amount"])


@dataclass
class _Notes:
    """What a derivation read (INDIGO fields, in order) and what it had to assume (sentences, in order)."""

    derived_from: list[str] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)


def derive_terms(doc: dict[str, Any], rows: ProjectRows) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                   list[dict[str, Any]], list[dict[str, Any]]]:
    """Derived ``payment_terms`` for a mapped project, plus the metrics, organisations and investment they need.

    Returns ``(payment_terms, extra_metrics, extra_organisations, extra_investments)``.
    """
    finance = doc["finance"]
    currency = finance["currency"]
    notes = _Notes()
    term = _term_years(doc, rows.project, notes)
    rate = _max_return(rows, notes)
    capital = _capital(doc, currency, notes)
    cap = _max_outcome_payment(finance, rows, currency, notes)
    prices, max_prices = _rate_card(doc, rows, currency)
    if prices:
        notes.derived_from.append("outcome_pricings[].price_per_unit.amount")
        if cap is None and len(max_prices) == len(prices):
            cap = sum(max_prices.values(), Decimal(0))
            notes.derived_from.append("outcome_pricings[].maximum_price_if_all_targets_achieved.amount")

    if capital is None and cap is not None:
        capital = (cap / (1 + rate * term)).quantize(Decimal("0.01"))
        notes.unknowns.append("capital not stated: C = M / (1 + R × T)")
    if capital is None:
        capital = Decimal(1)
        notes.unknowns.append("neither capital nor maximum outcome payment stated: terms are per unit of capital "
                              "(C = 1)")
    if cap is None:
        cap = (capital * (1 + rate * term)).quantize(Decimal("0.01"))
        notes.unknowns.append("maximum outcome payment not stated: M = C × (1 + R × T)")
    loss = _max_loss(rows, capital, notes)

    parameters: dict[str, Any] = {
        "C": _parameter(capital, currency, "investor capital"),
        "M": _parameter(cap, currency, "maximum outcome payment"),
        "R": _parameter(rate, "per year", "maximum annual return to investors"),
        "T": _parameter(term, "years", "term (duration of service)"),
        "L": _parameter(loss, "share of C", "maximum share of capital investors can lose"),
    }
    extra_metrics: list[dict[str, Any]] = []
    if prices:
        parameters["prices"] = {"rate_card": {k: _figure(v) for k, v in prices.items()}, "unit": currency,
                                "description": "price per outcome (INDIGO outcome pricings)",
                                "sources": [RECORD_SOURCE], "confidence": "secondary"}
        inflow = "cap(rate_card(prices), M)"
        _target_what_the_prices_pay_for(doc, prices, max_prices)
    else:
        inflow = "achievement * M"
        extra_metrics.append(_achievement_metric())

    payer, payee, extra_orgs, extra_investments = _payer_and_payee(doc, notes)
    rule: dict[str, Any] = {
        "id": "outcome_payments", "component": "outcome", "payer": payer, "payee": payee,
        "amount": f"clamp({inflow}, C * (1 - L), C * (1 + R * T))",
        "description": "Derived: outcome payments reaching investors, at least C × (1 − L), at most C × (1 + R × T).",
    }
    start = doc.get("dates", {}).get("service_start")
    if start and parse_date(start):
        rule["timing"] = {"months_after_start": int((term * 12).to_integral_value())}
    terms = {
        "status": "derived",
        "derived_from": list(dict.fromkeys(notes.derived_from)),
        "summary": _summary(currency, bool(prices), capital=capital, cap=cap, loss=loss, rate=rate, term=term),
        "parameters": parameters,
        "payments": [rule],
        "investor_capital": "C",
        "unknowns": notes.unknowns,
        "sources": [RECORD_SOURCE],
        "confidence": "unverified",
        "note": "Standard terms derived by utfall from INDIGO fields (see derived_from); not curated.",
    }
    return terms, extra_metrics, extra_orgs, extra_investments


def _term_years(doc: dict[str, Any], project: dict[str, str], notes: _Notes) -> Decimal:
    """T: the service's duration in years (stated in months, else from its dates, else the default)."""
    term = None
    months, _ = parse_number(project.get("Dates - Anticipated duration of service provision - (Value)", ""))
    if months is None:
        months, _ = parse_number(project.get("Dates - Actual duration of service provision - (Value)", ""))
    if months is not None and months > 0:
        term = months / 12
        notes.derived_from.append("dates.anticipated_duration_of_service_provision")
    else:
        dates = doc.get("dates", {})
        start, end = dates.get("service_start"), dates.get("service_end")
        if start and end and partial_date_start(end) > partial_date_start(start):
            days = (partial_date_start(end) - partial_date_start(start)).days
            term = max(Decimal(days) / Decimal("365.25"), Decimal(1))
            notes.derived_from += ["dates.start_date_of_service_provision",
                                   "dates.anticipated_end_date_of_service_provision"]
    if term is None:
        term = DEFAULT_TERM_YEARS
        notes.unknowns.append(f"term not stated: {DEFAULT_TERM_YEARS} years assumed (T)")
    return term.quantize(Decimal("0.01"))


def _max_return(rows: ProjectRows, notes: _Notes) -> Decimal:
    """R: the maximum annual return (project, then investments, then the target IRR, else the default)."""
    p = rows.project
    rate = None
    ret_type = clean(p.get("Overall project finance - Maximum potential return type - (Value)", ""))
    for text, source in ([(p.get("Overall project finance - Maximum potential return - (Value)", ""),
                           P + "maximum_potential_return")]
                         + [(r.get("Maximum Potential Return - (Value)", ""), "investments[].maximum_potential_return")
                            for r in rows.rows("projects_investments")]
                         + [(p.get("Investment Details - Internal Rate of Return - Target - (Value)", ""),
                             "investment_details.internal_rate_of_return.target")]):
        rate = parse_rate(text)
        if rate is not None:
            notes.derived_from.append(source)
            break
    if rate is None:
        rate = DEFAULT_RETURN
        notes.unknowns.append(f"maximum return not stated as a number: {DEFAULT_RETURN:.0%} a year assumed (R)")
    elif ret_type and ret_type.upper() not in {"IRR", "ARR", "ROI"}:
        notes.unknowns.append(f"return type stated as {ret_type!r}; read as an annual rate")
    return rate


def _capital(doc: dict[str, Any], currency: str, notes: _Notes) -> Decimal | None:
    """C: the investor capital committed (the project's total, else its repayable investments'), if stated."""
    finance = doc["finance"]
    capital = _money_in(finance.get("capital_committed"), currency)
    if capital is not None:
        bound = finance["capital_committed"].get("bound", "exact")
        notes.derived_from.append(P + "total_investment_commitment.amount." + bound)
        return capital
    amounts = [Decimal(i["committed"]["amount"]) for i in doc.get("investments", [])
               if i.get("committed") and (i["committed"].get("currency") or currency) == currency
               and i["tranche"] not in {"grant", "guarantee"}]
    if not amounts:
        return None
    notes.derived_from.append("investments[].investment_commitment.amount")
    return sum(amounts, Decimal(0))


def _max_outcome_payment(finance: dict[str, Any], rows: ProjectRows, currency: str, notes: _Notes) -> Decimal | None:
    """M: the maximum outcome payment (the project's, else the sum of the payers' commitments), if stated."""
    cap = _money_in(finance.get("max_outcome_payment"), currency)
    if cap is not None:
        notes.derived_from.append(P + "maximum_potential_outcome_payment.amount")
        return cap
    stated = []
    for r in rows.rows("projects_outcome_payment_commitments"):
        amount, _ = parse_number(r.get("Maximum potential Outcome payment - Amount - (Value)", ""))
        cur, _ = parse_currency(r.get("Maximum potential Outcome payment - Currency - (Value)", ""))
        if amount is not None and (cur or currency) == currency:
            stated.append(amount)
    if not stated:
        return None
    notes.derived_from.append("outcome_payment_commitments[].maximum_potential_outcome_payment.amount")
    return sum(stated, Decimal(0))


def _rate_card(doc: dict[str, Any], rows: ProjectRows, currency: str) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """The price per outcome of each of the contract's metrics, and the most paid for it if all targets are met."""
    metric_ids = {m["id"] for m in doc.get("outcome_metrics", [])}
    prices: dict[str, Decimal] = {}
    max_prices: dict[str, Decimal] = {}
    for r in rows.rows("projects_outcome_pricings"):
        mid = clean(r.get("Outcome Metric Id - (Value)", ""))
        price, _ = parse_number(r.get("Price Per Unit - Amount - (Value)", ""))
        cur, _ = parse_currency(r.get("Currency - (Value)", ""))
        if mid in metric_ids and price is not None and price > 0 and (cur or currency) == currency \
                and mid not in prices:
            prices[mid] = price
            top, _ = parse_number(r.get("Maximum Price if all targets achieved - Amount - (Value)", ""))
            if top is not None and top > 0:
                max_prices[mid] = top
    return prices, max_prices


def _max_loss(rows: ProjectRows, capital: Decimal, notes: _Notes) -> Decimal:
    """L: the share of capital investors can lose (stated as a share or an amount), else all of it."""
    texts = [(rows.project.get("Overall project finance - Maximum potential loss - (Value)", ""),
              P + "maximum_potential_loss")]
    texts += [(r.get("Maximum Potential loss - (Value)", ""), "investments[].maximum_potential_loss")
              for r in rows.rows("projects_investments")]
    for text, source in texts:
        share = parse_share(text)
        if share is None:
            amount, _ = parse_number(text)
            if amount is not None and amount > 1 and capital > 1:
                share = min(amount / capital, Decimal(1))
        if share is not None:
            notes.derived_from.append(source)
            return share
    notes.unknowns.append("maximum loss not stated: investors can lose all their capital (L = 1)")
    return Decimal(1)


def _parameter(value: Decimal, unit: str | None, description: str) -> dict[str, Any]:
    out: dict[str, Any] = {"value": _figure(value), "description": description, "sources": [RECORD_SOURCE],
                           "confidence": "secondary"}
    if unit:
        out["unit"] = unit
    return out


def _achievement_metric() -> dict[str, Any]:
    """The outcome that derived terms without a rate card pay on (a new dict: the caller adds it to a document)."""
    return {
        "id": ACHIEVEMENT, "name": {"en": "Share of outcome targets achieved (derived)",
                                    "sv": "Andel av utfallsmålen som uppnåtts (härledd)"},
        "unit": "share", "kind": "continuous",
        "definition": "Derived by utfall: the share (0 to 1) of the contract's outcome targets achieved, "
                      "standing for INDIGO's outcome metrics, which state no payment formula.",
        "measurement": "unknown", "baseline": {"value": "0"}, "targets": [{"value": "1"}],
        "sources": [RECORD_SOURCE], "confidence": "unverified",
    }


def _target_what_the_prices_pay_for(doc: dict[str, Any], prices: dict[str, Decimal],
                                    max_prices: dict[str, Decimal]) -> None:
    """A priced metric without targets gets one: the outcomes its maximum price pays for."""
    for metric in doc["outcome_metrics"]:
        if metric["id"] in max_prices and not metric.get("targets"):
            metric["targets"] = [{"value": _figure(max_prices[metric["id"]] / prices[metric["id"]]),
                                  "description": "outcomes paid for if all targets are achieved (INDIGO pricing)"}]


def _payer_and_payee(doc: dict[str, Any], notes: _Notes) -> tuple[str, str, list[dict[str, Any]],
                                                                   list[dict[str, Any]]]:
    """Who pays and who receives the derived payments, with the organisations and investment to add for them."""
    orgs = {o["id"] for o in doc.get("organisations", [])}
    extra_orgs: list[dict[str, Any]] = []

    def party(role: str, label: str) -> str:
        for prt in doc.get("parties", []):
            if role in prt["roles"]:
                return prt["organisation"]
        slug = f"{doc['id']}-{role.replace('_', '-')}"
        if slug not in orgs:
            extra_orgs.append({"id": slug, "name": f"{label} (not named in INDIGO)", "type": "unknown"})
            orgs.add(slug)
            notes.unknowns.append(f"no {label.lower()} named in INDIGO")
        return slug

    payer = party("outcome_payer", "Outcome payer")
    # the payee must hold an investment that counts as capital (not a grant or guarantee), or the engine would
    # not count what it receives as investor repayment
    holders = [i["investor"] for i in doc.get("investments", []) if i["tranche"] not in {"grant", "guarantee"}]
    payee = holders[0] if holders else party("investor", "Investors")
    extra_investments: list[dict[str, Any]] = []
    if not holders:
        extra_investments.append({
            "id": "derived_capital", "investor": payee, "tranche": "other", "amount_bound": "exact",
            "description": "Derived: stands for the investor capital C, as INDIGO lists no repayable investment.",
            "sources": [RECORD_SOURCE], "confidence": "unverified",
        })
        notes.unknowns.append("no repayable investment listed in INDIGO: one investment of C assumed")
    return payer, payee, extra_orgs, extra_investments


def _summary(currency: str, priced: bool, *, capital: Decimal, cap: Decimal, loss: Decimal, rate: Decimal,
             term: Decimal) -> dict[str, str]:
    """The derived terms in a sentence, in English and Swedish (stored with the document)."""
    model_en = "the price list times the outcomes achieved, up to M" if priced else \
        "the share of outcome targets achieved times M"
    model_sv = "prislistan gånger uppnådda utfall, högst M" if priced else "andelen uppnådda utfallsmål gånger M"
    return {
        "en": (f"Derived from INDIGO data, not the contract's own terms. Investors put in C = {currency} "
               f"{_figure(capital)} and receive {model_en} (M = {currency} {_figure(cap)}), "
               f"at least C × (1 − L) with L = {_figure(loss)} and at most C × (1 + R × T) with "
               f"R = {_figure(rate)} a year over T = {_figure(term)} years."),
        "sv": (f"Härlett ur INDIGO-data, inte kontraktets egna villkor. Investerarna satsar C = {currency} "
               f"{_figure(capital)} och får {model_sv} (M = {currency} {_figure(cap)}), "
               f"minst C × (1 − L) med L = {_figure(loss)} och högst C × (1 + R × T) med "
               f"R = {_figure(rate)} per år under T = {_figure(term)} år."),
    }
