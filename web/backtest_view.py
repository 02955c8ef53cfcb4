"""The back-test (:mod:`registry.backtest`) in the reader's language, for the contract page and the fact sheet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date as date_type
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _

from registry.backtest import Backtest, Check, Reason
from registry.schema import ContractDocument
from web.formatting import N_, money, percent_pattern, translate
from web.formatting import date as format_date

HEADLINES = {
    "yes": N_("The terms reproduce what happened: yes"),
    "no": N_("The terms reproduce what happened: no"),
    "unknown": N_("The terms reproduce what happened: cannot tell"),
}
SHORT = {"yes": N_("yes"), "no": N_("no"), "unknown": N_("cannot tell")}


@dataclass
class BacktestView:
    verdict: str
    headline: str
    checks: list[tuple[bool, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    reading: int | None = None


def verdict_label(verdict: str | None) -> str:
    """``yes`` / ``no`` / ``cannot tell`` in the reader's language; ``–`` without a realised history."""
    return translate(SHORT[verdict]) if verdict in SHORT else "–"


def _org(doc: ContractDocument, org_id: str | None) -> str:
    org = doc.organisation(org_id) if org_id else None
    return org.name if org else (org_id or "")


def _metric(doc: ContractDocument, metric_id: str | None, lang: str) -> str:
    metric = next((m for m in doc.outcome_metrics if m.id == metric_id), None)
    return metric.name.get(lang) if metric else (metric_id or "")


def _value(check: Check, value: Any, signed: bool = False) -> str:
    if value is None:
        return "–"
    if check.kind == "irr":
        text = percent_pattern(abs(value), "#,##0.00")
        return (("+" if value >= 0 else "−") + text) if signed else text
    if check.kind == "payment_date":
        if isinstance(value, date_type):
            return format_date(value.isoformat())
        if hasattr(value, "days"):
            return _("%(days)s days", days=value.days)
        return format_date(str(value))
    if check.kind == "multiple":
        return f"{Decimal(value):+.2f}" if signed else f"{Decimal(value):.2f}"
    amount = Decimal(value)
    text = money(abs(amount) if signed else amount, check.currency)
    return (("+" if amount >= 0 else "−") + text) if signed else text


def check_text(doc: ContractDocument, check: Check) -> str:
    """One comparison as a sentence: what the terms give, what is recorded, and by how much they differ."""
    org = _org(doc, check.subject) + (f" ({check.period})" if check.period else "")
    values = {"org": org, "terms": _value(check, check.terms),
              "recorded": _value(check, check.recorded)}
    if check.kind == "irr" and check.bound == "min":
        values["recorded"] = _("at least %(value)s", value=values["recorded"])
    elif check.kind == "irr" and check.bound == "max":
        values["recorded"] = _("at most %(value)s", value=values["recorded"])
    elif check.kind == "irr" and check.bound == "about":
        values["recorded"] = _("about %(value)s", value=values["recorded"])
    text = {
        "payer_total": _("Paid by %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
        "investor_repaid": _("Repaid to %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
        "irr": _("IRR of %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
        "multiple": _("Multiple of %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
        "payment_date": _("Payment date of %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
    }[check.kind]
    if not check.ok and check.difference is not None:
        off = _value(check, check.difference, signed=check.kind != "payment_date")
        if check.relative is not None:
            share = ("+" if check.relative >= 0 else "−") + percent_pattern(abs(check.relative), "#,##0.0")
            text += " " + _("(off by %(diff)s, %(share)s)", diff=off, share=share)
        else:
            text += " " + _("(off by %(diff)s)", diff=off)
    return text


def reason_text(doc: ContractDocument, reason: Reason, lang: str) -> str:
    """Why the back-test cannot tell, or a caveat; curated details (English in the sources) follow a colon."""
    subject = reason.subject
    # A per-period outcome's subject is "metric_id [label, ...]": the metric by its name, the labels (data, not
    # language) after the sentence's quoted name.
    metric_id, _bracket, labels = (subject or "").partition(" [")
    metric = _metric(doc, metric_id or subject, lang)
    base = {
        "no_history": _("No realised history is recorded"),
        "no_terms": _("The contract has no executable payment terms"),
        "amount_unit": _("The terms give amounts in a unit other than money"),
        "terms_error": _("The payment terms cannot be evaluated"),
        "missing_outcome": _("No recorded value of the outcome “%(metric)s”", metric=metric),
        "per_cohort_outcome": _("The outcome “%(metric)s” is recorded per cohort, but the terms take one value",
                                metric=metric),
        "nothing_to_compare": _("No payment or investor result is recorded to compare with"),
        "cohort_payments": _("Payments by %(org)s are recorded for one cohort or period, which the terms do not pay "
                             "separately", org=_org(doc, subject)),
        "unverified_input": _("The outcome “%(metric)s” is an unverified figure", metric=metric),
        "bound_input": _("The outcome “%(metric)s” is a bound, not an exact figure", metric=metric),
        "recorded_unknown": _("Unknown"),
    }[reason.kind]
    if labels and reason.kind == "missing_outcome":
        base += f" [{labels}"
    return f"{base}: {reason.detail}" if reason.detail else base


def backtest_view(doc: ContractDocument, result: Backtest, lang: str) -> BacktestView:
    return BacktestView(
        verdict=result.verdict,
        headline=translate(HEADLINES[result.verdict]),
        checks=[(c.ok, check_text(doc, c)) for c in result.checks],
        reasons=[reason_text(doc, r, lang) for r in result.reasons],
        caveats=[reason_text(doc, r, lang) for r in result.caveats],
        reading=result.reading,
    )
