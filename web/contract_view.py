"""A contract as the contract and compare pages show it: the timeline of dates, amendments, measurements,
payments, milestones and results; the payoff chart; the compare table's field-by-field rows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup

from registry.schema import ContractDocument, Money, Provenanced
from web.charts import payoff_chart_svg
from web.formatting import country as country_name
from web.formatting import date as format_partial_date
from web.formatting import money, number
from web.vocabulary import vocab

log = logging.getLogger(__name__)


def timeline(doc: ContractDocument, lang: str) -> list[dict[str, Any]]:
    """Dates, amendments, measurements, payments, milestones and results in date order."""
    events: list[dict[str, Any]] = []
    date_labels = {
        "signed": _("Contract signed"),
        "service_start": _("Service starts"),
        "service_end": _("Service ends"),
        "evaluation_end": _("Evaluation ends"),
        "anticipated_completion": _("Completion expected"),
        "actual_completion": _("Completed"),
    }
    for key, label in date_labels.items():
        value = getattr(doc.dates, key)
        if value:
            events.append({"date": value, "kind": "date", "label": label, "text": "", "fact": doc.dates})
    for a in doc.amendments:
        text = a.description.get(lang)
        if a.field:
            text += f" ({a.field}: {a.old_value if a.old_value is not None else '–'} → {a.new_value})"
        events.append({"date": a.date, "kind": "amendment", "label": _("Amendment"), "text": text, "fact": a})
    metric_names = {m.id: m.name.get(lang) for m in doc.outcome_metrics}
    for m in doc.measurements:
        text = ", ".join(p for p in (metric_names.get(m.metric or "", ""), m.description or "") if p)
        events.append({"date": m.date, "kind": "measurement", "label": _("Measurement"), "text": text,
                       "value": m.value, "n": m.n, "fact": m})
    history = doc.history
    for o in history.outcomes if history else []:
        text = ", ".join(p for p in (metric_names.get(o.metric, o.metric), o.cohort or "", o.description or "") if p)
        events.append({"date": o.date or "", "kind": "measurement", "label": _("Measurement"), "text": text,
                       "value": o.value, "n": o.n, "fact": o})
    for p in history.payments if history else []:
        payer = doc.organisation(p.payer) if p.payer else None
        payee = doc.organisation(p.payee) if p.payee else None
        events.append({"date": p.date or "", "kind": "payment", "label": _("Payment"),
                       "text": " → ".join(o.name for o in (payer, payee) if o) + (
                           f" ({p.description})" if p.description else ""),
                       "money": Money(amount=p.amount, currency=p.currency), "component": p.component, "fact": p})
    for ms in doc.milestones:
        events.append({"date": ms.date, "kind": "milestone", "label": vocab(ms.kind, "milestone"),
                       "text": ms.description, "fact": None})
    for r in doc.results:
        if r.date:
            events.append({"date": r.date, "kind": "result", "label": _("Result"), "text": r.summary.get(lang),
                           "fact": r})
    return sorted(events, key=lambda e: (e["date"] or "9999", e["kind"] != "date"))


def payoff_chart(doc: ContractDocument, lang: str) -> Markup | None:
    """The payoff chart from ``web.charts`` (inline SVG), or ``None`` when the terms do not allow one."""
    try:
        svg = payoff_chart_svg(doc, lang)
    except Exception:  # a chart problem must not take the contract page down
        log.exception("payoff chart failed for %s", doc.id)
        return None
    # The SVG is built by our own code with every text escaped there, so it is safe to embed as is.
    return Markup(svg) if svg else None


def _fact_cell(fact: Provenanced | None, text: str) -> dict[str, Any]:
    return {"text": text, "fact": fact}


def _names_with_role(doc: ContractDocument, role: str) -> str:
    return ", ".join(o.name for o in doc.parties_with_role(role)) or "–"


def _money_cell(doc: ContractDocument, attr: str) -> dict[str, Any]:
    fact = getattr(doc.finance, attr)
    if fact is None:
        return _fact_cell(None, "–")
    prefix = {"min": _("at least") + " ", "max": _("up to") + " "}.get(fact.bound, "")
    return _fact_cell(fact, prefix + money(fact.amount, fact.currency or doc.finance.currency))


def _terms_text(doc: ContractDocument, lang: str) -> str:
    terms = doc.payment_terms
    if not terms:
        return "–"
    if terms.summary:
        return terms.summary.get(lang)
    return _("%(n)s payment rules", n=len(terms.payments))


def _sources_text(doc: ContractDocument) -> str:
    if not doc.sources:
        return "–"
    publishers = sorted({s.publisher or s.title for s in doc.sources})
    return ngettext("%(num)s source", "%(num)s sources", len(doc.sources)) + ": " + "; ".join(publishers)


Field = tuple[str, Callable[[ContractDocument], dict[str, Any]]]


def _compare_fields(lang: str) -> list[tuple[str, str, list[Field]]]:
    """The compare table's sections (key, heading, fields) in the order shown."""
    cls = lambda d: d.classification  # noqa: E731
    return [
        ("contract", _("Contract"), [
            (_("Country"), lambda d: _fact_cell(cls(d), country_name(cls(d).country))),
            (_("Region"), lambda d: _fact_cell(cls(d), cls(d).region or "–")),
            (_("Sector"), lambda d: _fact_cell(cls(d), vocab(cls(d).policy_sector, "sector"))),
            (_("Stage"), lambda d: _fact_cell(d.stage_provenance, vocab(d.stage, "stage"))),
            (_("Signed"), lambda d: _fact_cell(d.dates, format_partial_date(d.dates.signed))),
            (_("Service starts"), lambda d: _fact_cell(d.dates, format_partial_date(d.dates.service_start))),
            (_("Service ends"), lambda d: _fact_cell(d.dates, format_partial_date(d.dates.service_end))),
        ]),
        ("parties", _("Parties"), [
            (_("Outcome payers"), lambda d: _fact_cell(None, _names_with_role(d, "outcome_payer"))),
            (_("Investors"), lambda d: _fact_cell(None, _names_with_role(d, "investor"))),
            (_("Providers"), lambda d: _fact_cell(None, _names_with_role(d, "provider"))),
            (_("Intermediaries"), lambda d: _fact_cell(None, _names_with_role(d, "intermediary"))),
        ]),
        ("money", _("Money"), [
            (_("Capital committed"), lambda d: _money_cell(d, "capital_committed")),
            (_("Capital drawn"), lambda d: _money_cell(d, "capital_drawn")),
            (_("Maximum outcome payments"), lambda d: _money_cell(d, "max_outcome_payment")),
            (_("Outcome payments made"), lambda d: _money_cell(d, "total_outcome_payments_made")),
        ]),
        ("terms", _("Terms"), [
            (_("Participants targeted"), lambda d: _fact_cell(
                d.target_population,
                number(d.target_population.targeted_participants)
                if d.target_population and d.target_population.targeted_participants is not None else "–")),
            (_("Payment terms"), lambda d: _fact_cell(d.payment_terms, _terms_text(d, lang))),
            (_("Maximum potential loss"), lambda d: _fact_cell(None, d.finance.max_potential_loss or "–")),
        ]),
        ("outcomes", _("Outcomes and measurement"), [
            (_("Outcome metrics"), lambda d: _fact_cell(
                None, "; ".join(m.name.get(lang) for m in d.outcome_metrics) or "–")),
            (_("Measurement"), lambda d: _fact_cell(
                None, ", ".join(sorted({vocab(m.measurement, "measurement") for m in d.outcome_metrics})) or "–")),
        ]),
        ("results", _("Results"), [
            (_("Investor repayment"), lambda d: _fact_cell(None, d.finance.investor_repayment or "–")),
            (_("Result"), lambda d: _fact_cell(d.results[0] if d.results else None,
                                               d.results[0].summary.get(lang) if d.results else "–")),
        ]),
        ("sources", _("Sources"), [
            (_("Sources"), lambda d: _fact_cell(None, _sources_text(d))),
        ]),
    ]


def compare_rows(docs: Sequence[ContractDocument], lang: str, *, only_differences: bool = False
                 ) -> list[dict[str, Any]]:
    """The compare table's sections, each ``{"key", "label", "rows"}`` with its field-by-field rows
    ``{"label", "cells", "differs"}``: ``differs`` when the values shown are not all the same (what the
    table highlights; the confidence of a fact is not its value). ``only_differences`` leaves out the rows
    that do not differ and the sections left empty."""
    groups = []
    for key, heading, fields in _compare_fields(lang):
        rows = []
        for label, get in fields:
            cells = [get(d) for d in docs]
            differs = len({" ".join(c["text"].split()) for c in cells}) > 1
            if differs or not only_differences:
                rows.append({"label": label, "cells": cells, "differs": differs})
        if rows:
            groups.append({"key": key, "label": heading, "rows": rows})
    return groups
