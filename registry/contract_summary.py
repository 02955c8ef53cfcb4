"""Plain-text rendering of a contract for the terminal."""

from __future__ import annotations

from registry.schema import ContractDocument, MoneyFact, Provenanced

CONFIDENCE_MARK = {"verified": "", "secondary": " [secondary]", "unverified": " [UNVERIFIED]",
                   "disputed": " [DISPUTED]"}


def _mark(fact: Provenanced | None) -> str:
    return CONFIDENCE_MARK.get(str(fact.confidence), "") if fact else ""


def _money(fact: MoneyFact | None, currency: str) -> str | None:
    if fact is None:
        return None
    bound = {"min": "at least ", "max": "up to "}.get(fact.bound, "")
    return f"{bound}{fact.currency or currency} {fact.amount:,.0f}{_mark(fact)}"


def describe_contract(doc: ContractDocument, lang: str = "en") -> str:
    """A readable summary: identity, parties by role, money, metrics, terms, dates and sources."""
    lines = [f"{doc.name(lang)}  ({doc.id})"]
    other = doc.identity.names.sv if lang == "en" else doc.identity.names.en
    if other and other != doc.name(lang):
        lines.append(f"  also: {other}")
    c = doc.classification
    lines.append(f"  {c.country}{' / ' + c.region if c.region else ''} · {c.policy_sector} · stage: {doc.stage}"
                 + (f" · INDIGO {doc.indigo_id}" if doc.indigo_id else ""))
    lines.append("Parties:")
    for party in doc.parties:
        org = doc.organisation(party.organisation)
        roles = ", ".join(str(r) for r in party.roles)
        lines.append(f"  {roles:<30} {org.name if org else party.organisation}{_mark(party)}")
    f = doc.finance
    lines.append("Money:")
    for label, fact in (("capital committed", f.capital_committed), ("capital drawn", f.capital_drawn),
                        ("max outcome payment", f.max_outcome_payment),
                        ("outcome payments made", f.total_outcome_payments_made)):
        text = _money(fact, f.currency)
        if text:
            lines.append(f"  {label:<22} {text}")
    for inv in doc.investments:
        amount = inv.committed or inv.drawn
        amount_text = f"{amount.currency or f.currency} {amount.amount:,.0f}" if amount else "amount unknown"
        lines.append(f"  {inv.tranche:<22} {inv.investor}: {amount_text}{_mark(inv)}")
    if doc.target_population:
        tp = doc.target_population
        lines.append("Target population:")
        if tp.description:
            lines.append(f"  {tp.description.get(lang)}{_mark(tp)}")
        if tp.targeted_participants is not None:
            lines.append(f"  targeted participants: {tp.targeted_participants}")
        if tp.actual_participants is not None:
            lines.append(f"  actual participants: {tp.actual_participants}")
    if doc.outcome_metrics:
        lines.append("Outcome metrics:")
        for m in doc.outcome_metrics:
            lines.append(f"  {m.id}: {m.name.get(lang)} ({m.kind}, {m.measurement}){_mark(m)}")
    if doc.payment_terms:
        t = doc.payment_terms
        lines.append(f"Payment terms ({t.status}):")
        if t.summary:
            lines.append(f"  {t.summary.get(lang)}")
        for p in t.payments:
            lines.append(f"  {p.id} [{p.component}] {p.payer} -> {p.payee}: {p.amount}")
        for unknown in t.unknowns:
            lines.append(f"  unknown: {unknown}")
        for n, alt in enumerate(t.alternative_readings, start=1):
            lines.append(f"  alternative reading {n} (utfall payout --reading {n}): {alt.description}")
    d = doc.dates
    dated = [(k, getattr(d, k)) for k in ("signed", "service_start", "service_end", "evaluation_end",
                                           "anticipated_completion", "actual_completion") if getattr(d, k)]
    if dated:
        lines.append("Dates: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dated) + _mark(d))
    for r in doc.results:
        lines.append(f"Result{' ' + r.date if r.date else ''}: {r.summary.get(lang)}{_mark(r)}")
    if doc.sources:
        lines.append("Sources:")
        for s in doc.sources:
            lines.append(f"  [{s.id}] {s.title}{' — ' + s.publisher if s.publisher else ''}"
                         f"{' (' + s.date + ')' if s.date else ''}{' ' + s.url if s.url else ''}")
            if s.attribution:
                lines.append(f"       {s.attribution}")
    return "\n".join(lines)
