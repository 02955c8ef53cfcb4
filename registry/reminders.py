"""Milestone reminders: what falls due in the coming days across the registry's contracts.

A contract's milestones come from its document:

* ``milestones`` (measurement, governance, evaluation, payment, other), as written;
* ``measurements`` that have a date but no value yet (planned measurements);
* ``governance`` bodies with a ``frequency`` (a quarterly *insatsråd* → a meeting every three months from
  service start (else signing), while the contract runs: until its actual completion, else the latest of
  service end, evaluation end and anticipated completion, else without end);
* ``dates.evaluation_end``;
* payment timing: each payment rule's ``timing`` (a date, or months after service start) and the waterfall's.

Partial dates (``2024-06``) cover a period; a milestone is due in a window when its period overlaps it.
Only contracts that are not complete or terminated are reminded of. The kinds are named in the reader's
language by the web app's vocabulary (``milestone_kind``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from registry.indigo.merge import get_display_document
from registry.models import Contract
from registry.schema import ContractDocument, Timing, partial_date_start

DEFAULT_DAYS = 30
INACTIVE_STAGES = frozenset({"complete", "terminated"})

# Months between meetings for the frequencies written in documents (English and Swedish).
FREQUENCY_MONTHS = {
    "weekly": 0, "monthly": 1, "månadsvis": 1, "varje månad": 1, "bimonthly": 2, "varannan månad": 2,
    "quarterly": 3, "kvartalsvis": 3, "varje kvartal": 3, "termly": 4, "tertial": 4, "tertialvis": 4,
    "semiannual": 6, "semi-annual": 6, "semi-annually": 6, "half-yearly": 6, "biannual": 6, "halvårsvis": 6,
    "twice a year": 6, "två gånger per år": 6, "annual": 12, "annually": 12, "yearly": 12, "årligen": 12,
    "årsvis": 12, "en gång per år": 12,
}

@dataclass(frozen=True, order=True)
class Reminder:
    """One milestone of one contract. ``start``..``end`` is the period the (possibly partial) date covers."""

    start: date
    end: date
    contract_id: str
    kind: str
    description: str
    date_text: str
    name_sv: str = ""
    name_en: str = ""
    source: str = "milestones"

    def name(self, lang: str) -> str:
        return (self.name_sv or self.name_en) if lang == "sv" else (self.name_en or self.name_sv)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        return data


def period_of(value: str) -> tuple[date, date]:
    """The first and last day a partial ISO date can mean (``2024`` → 2024-01-01..2024-12-31)."""
    start = partial_date_start(value)
    parts = value.split("-")
    if len(parts) == 3:
        return start, start
    if len(parts) == 2:
        return start, _add_months(start, 1) - timedelta(days=1)
    return start, date(start.year, 12, 31)


def _add_months(d: date, months: int) -> date:
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    days_in_month = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(d.day, days_in_month))


def frequency_months(frequency: str | None) -> int | None:
    """Months between meetings for a written frequency; ``None`` when it cannot be read."""
    if not frequency:
        return None
    text = frequency.strip().lower()
    if text in FREQUENCY_MONTHS:
        return FREQUENCY_MONTHS[text] or None
    for word, months in FREQUENCY_MONTHS.items():
        if word in text:
            return months or None
    return None


def _timing_date(timing: Timing | None, service_start: str | None) -> str | None:
    if timing is None:
        return None
    if timing.date:
        return timing.date
    if timing.months_after_start is not None and service_start:
        return _add_months(partial_date_start(service_start), timing.months_after_start).isoformat()
    return None


def contract_milestones(doc: ContractDocument, *, horizon: date | None = None) -> list[Reminder]:
    """Every milestone of a contract, sorted; recurring meetings are generated up to ``horizon``."""
    names = {"name_sv": doc.identity.names.sv or "", "name_en": doc.identity.names.en or ""}
    found: list[Reminder] = []

    def add(date_text: str, kind: str, description: str, source: str) -> None:
        start, end = period_of(date_text)
        found.append(Reminder(start, end, doc.id, kind, description, date_text, source=source, **names))

    for m in doc.milestones:
        add(m.date, m.kind, m.description, "milestones")
    metric_names = {m.id: m.name.get("sv") for m in doc.outcome_metrics}
    for ms in doc.measurements:
        if ms.value is None:
            what = ms.description or metric_names.get(ms.metric or "", ms.metric or "")
            add(ms.date, "measurement", what, "measurements")
    if doc.dates.evaluation_end:
        add(doc.dates.evaluation_end, "evaluation", "", "dates.evaluation_end")
    start_text = doc.dates.service_start
    if doc.payment_terms:
        for rule in doc.payment_terms.payments:
            due = _timing_date(rule.timing, start_text)
            if due:
                add(due, "payment", rule.description or rule.id, f"payment_terms.payments.{rule.id}")
        if doc.payment_terms.waterfall:
            due = _timing_date(doc.payment_terms.waterfall.timing, start_text)
            if due:
                add(due, "payment", "", "payment_terms.waterfall")
    found.extend(_meetings(doc, horizon, names))
    return sorted(found)


def _meetings(doc: ContractDocument, horizon: date | None, names: dict[str, str]) -> list[Reminder]:
    first_text = doc.dates.service_start or doc.dates.signed
    if not first_text:
        return []
    first = partial_date_start(first_text)
    # Meetings run until the contract actually ended, else until the latest planned end (service, evaluation).
    if doc.dates.actual_completion:
        last: date | None = period_of(doc.dates.actual_completion)[1]
    else:
        planned = [t for t in (doc.dates.evaluation_end, doc.dates.service_end, doc.dates.anticipated_completion) if t]
        last = max(period_of(t)[1] for t in planned) if planned else None
    if last is None and horizon is None:
        return []
    stop = min(d for d in (last, horizon) if d is not None)
    meetings: list[Reminder] = []
    for gov in doc.governance:
        step = frequency_months(gov.frequency)
        if step is None:
            continue
        body = gov.body or gov.description.get("sv")
        n = 1
        while (when := _add_months(first, step * n)) <= stop:
            meetings.append(Reminder(when, when, doc.id, "governance", body, when.isoformat(),
                                     source="governance", **names))
            n += 1
    return meetings


def due_within(docs: Iterable[ContractDocument], today: date, days: int = DEFAULT_DAYS) -> list[Reminder]:
    """Milestones of active contracts whose period overlaps ``today``..``today + days``, soonest first."""
    window_end = today + timedelta(days=days)
    due: list[Reminder] = []
    for doc in docs:
        if str(doc.stage) in INACTIVE_STAGES:
            continue
        for reminder in contract_milestones(doc, horizon=window_end):
            if reminder.end >= today and reminder.start <= window_end:
                due.append(reminder)
    return sorted(due)


def reminders_due(*, session: Session, today: date, days: int = DEFAULT_DAYS) -> list[Reminder]:
    """Reminders across the registry (the displayed documents)."""
    active = col(Contract.stage).not_in(INACTIVE_STAGES)
    ids = session.exec(select(Contract.id).where(active).order_by(col(Contract.id))).all()
    docs = (get_display_document(session=session, contract_id=cid) for cid in ids)
    return due_within((d for d in docs if d is not None), today, days)
