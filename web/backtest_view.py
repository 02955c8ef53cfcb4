"""The back-test (:mod:`registry.backtest`) in the reader's language, for the contract page and the fact sheet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date as date_type
from decimal import Decimal
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _

from registry.backtest import Backtest, Check, Reason, group_outcome_keys
from registry.schema import ContractDocument, MetricKind
from web.formatting import N_, figure, money, percent_pattern, translate
from web.formatting import date as format_date

HEADLINES = {
    "yes": N_("The terms reproduce what happened: yes"),
    "partly": N_("The terms reproduce what happened: partly"),
    "no": N_("The terms reproduce what happened: no"),
    "unknown": N_("The terms reproduce what happened: cannot tell"),
}
SHORT = {"yes": N_("yes"), "partly": N_("partly"), "no": N_("no"), "unknown": N_("cannot tell")}


@dataclass
class BacktestView:
    """``checks`` and ``expected`` are (status, sentence) pairs, status ``yes``, ``no`` or ``unknown``;
    ``blockers`` names the unknown figures that keep the verdict from yes or no, in one line."""

    verdict: str
    headline: str
    checks: list[tuple[str, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    reading: int | None = None
    expected: list[tuple[str, str]] = field(default_factory=list)
    blockers: str | None = None


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
        return (("+" if value >= 0 else "−") + text) if signed or value < 0 else text
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


def outcome_names(doc: ContractDocument, keys: Sequence[str], lang: str) -> str:
    """Outcome keys (``rate[year 1]``) as the metrics' names, each once, its periods (data) after it."""
    grouped = group_outcome_keys(keys)
    return ", ".join(_quoted(_metric(doc, name, lang), lang) + (f" [{', '.join(labels)}]" if labels else "")
                     for name, labels in grouped.items())


def _span(doc: ContractDocument, check: Check) -> str:
    """The values of the one outcome a check depends on that give the recorded figure: ``171–174``, ``60–65 %``."""
    metric = next((m for m in doc.outcome_metrics if m.id == check.depends_on[0].partition("[")[0]), None)
    as_rate = metric is not None and metric.kind == MetricKind.RATE
    low, high = ((percent_pattern(v, "#,##0.#") if as_rate else figure(v)) for v in (check.needs[0], check.needs[-1]))
    return low if low == high else f"{low}–{high}"


def _quoted(text: str, lang: str) -> str:
    return f"”{text}”" if lang == "sv" else f"“{text}”"


def check_text(doc: ContractDocument, check: Check, lang: str | None = None) -> str:
    """One comparison as a sentence: what the terms give (one figure, or a range and the unknown outcomes it
    depends on), what is recorded, and by how much they differ."""
    lang = lang or str(get_locale() or "en")
    org = _org(doc, check.subject) + (f" ({check.period})" if check.period else "")
    if check.depends_on and check.low is not None:
        terms = _("between %(low)s and %(high)s", low=_value(check, check.low), high=_value(check, check.high))
    elif check.depends_on:
        terms = _("not determined")
    else:
        terms = _value(check, check.terms)
    if check.recorded is None:
        text = _("Paid by %(org)s: %(terms)s by the terms; no payment recorded", org=org, terms=terms)
        if check.depends_on:
            text += " " + _("(depends on %(outcomes)s, not recorded)",
                            outcomes=outcome_names(doc, check.depends_on, lang))
        return text
    values = {"org": org, "terms": terms, "recorded": _value(check, check.recorded)}
    if check.kind == "irr" and check.bound == "min":
        values["recorded"] = _("at least %(value)s", value=values["recorded"])
    elif check.kind == "irr" and check.bound == "max":
        values["recorded"] = _("at most %(value)s", value=values["recorded"])
    elif check.kind == "irr" and check.bound == "about":
        values["recorded"] = _("about %(value)s", value=values["recorded"])
    text = {
        "payer_total": _("Paid by %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
        "payee_total": _("Paid to %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
        "investor_repaid": _("Repaid to %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
        "irr": _("IRR of %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
        "multiple": _("Multiple of %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
        "payment_date": _("Payment date of %(org)s: %(terms)s by the terms, %(recorded)s recorded", **values),
    }[check.kind]
    if check.depends_on:
        outcomes = outcome_names(doc, check.depends_on, lang)
        if check.unreachable and check.difference is not None:
            text += " " + _("(depends on %(outcomes)s, not recorded; no value of it gives the recorded figure, the "
                            "nearest the terms give is off by %(diff)s)", outcomes=outcomes,
                            diff=_value(check, check.difference, signed=True))
        elif check.status == "no" and check.difference is not None:
            text += " " + _("(depends on %(outcomes)s, not recorded; the recorded figure lies outside that range, "
                            "off by %(diff)s)", outcomes=outcomes,
                            diff=_value(check, check.difference, signed=check.kind != "payment_date"))
        elif check.needs:
            text += " " + _("(depends on %(outcomes)s, not recorded; the terms give the recorded figure if that is "
                            "%(values)s)", outcomes=outcomes, values=_span(doc, check))
        elif check.low is not None:
            text += " " + _("(depends on %(outcomes)s, not recorded; the recorded figure lies in that range)",
                            outcomes=outcomes)
        else:
            text += " " + _("(depends on %(outcomes)s, not recorded)", outcomes=outcomes)
    elif not check.ok and check.difference is not None:
        off = _value(check, check.difference, signed=check.kind != "payment_date")
        if check.relative is not None:
            share = ("+" if check.relative >= 0 else "−") + percent_pattern(abs(check.relative), "#,##0.0")
            text += " " + _("(off by %(diff)s, %(share)s)", diff=off, share=share)
        else:
            text += " " + _("(off by %(diff)s)", diff=off)
    if check.derived:
        text += " " + _("(uses %(names)s, worked back from this very result: circular)",
                        names=", ".join(check.derived))
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
        "derived_parameter": _("The parameter %(name)s is not published: it is worked back from the result it "
                               "should reproduce", name=subject or ""),
    }[reason.kind]
    if labels and reason.kind == "missing_outcome":
        base += f" [{labels}"
    return f"{base}: {reason.detail}" if reason.detail else base


def blockers_text(doc: ContractDocument, result: Backtest, lang: str) -> str | None:
    """The unknown figures that keep the verdict from yes or no, in one line; None when there are none."""
    names = []
    for reason in result.reasons:
        if reason.kind in ("missing_outcome", "per_cohort_outcome"):
            metric_id, bracket, labels = (reason.subject or "").partition(" [")
            names.append(_quoted(_metric(doc, metric_id, lang), lang) + (f" [{labels}" if bracket else ""))
        elif reason.kind == "derived_parameter":
            names.append(reason.subject or "")
    return _("Blocked by: %(figures)s", figures="; ".join(names)) if names else None


def backtest_view(doc: ContractDocument, result: Backtest, lang: str) -> BacktestView:
    return BacktestView(
        verdict=result.verdict,
        headline=translate(HEADLINES[result.verdict]),
        checks=[(c.status, check_text(doc, c, lang)) for c in result.checks],
        reasons=[reason_text(doc, r, lang) for r in result.reasons],
        caveats=[reason_text(doc, r, lang) for r in result.caveats],
        reading=result.reading,
        expected=[(c.status, check_text(doc, c, lang)) for c in result.expected],
        blockers=blockers_text(doc, result, lang),
    )
