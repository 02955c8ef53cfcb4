"""The registry's vocabulary in the reader's language: one English msgid per schema value and kind.

Keys are the schema's values (``outcome_payer``, ``health``, ``verified``...); labels follow the Swedish terms
used in the field (utfallsansvarig, finansiär, utförare, intermediär) and their English counterparts. Labels
are marked for ``pybabel extract`` with ``N_``, or with ``NP_`` and a context where one English word has
several Swedish ones (a role's "Other" is "Övrig", a sector's "Övrigt", a method's "Annan"), and translated with
gettext when shown, so they follow ``flask_babel.force_locale`` like every other text.

:func:`label` is the one lookup (``label("role", "outcome_payer")``); templates use it as the filter
``{{ "outcome_payer" | vocab("role") }}``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import pgettext

from web.formatting import N_, translate

Message = str | tuple[str, str]  # a msgid, or (context, msgid)


def NP_(context: str, message: str) -> tuple[str, str]:  # noqa: N802 - gettext's naming
    """Mark ``message`` with its ``context`` for ``pybabel extract`` (keyword ``NP_:1c,2`` in babel.cfg)."""
    return context, message


VOCABULARY: dict[str, dict[str, Message]] = {
    # Words in running text and table cells (lower case).
    "role": {
        "outcome_payer": N_("outcome payer"),
        "investor": N_("investor"),
        "provider": N_("provider"),
        "intermediary": N_("intermediary"),
        "evaluator": N_("evaluator"),
        "guarantor": N_("guarantor"),
        "technical_adviser": N_("technical adviser"),
        "other": N_("other role"),
    },
    "role_plural": {
        "outcome_payer": N_("outcome payers"),
        "investor": N_("investors"),
        "provider": N_("providers"),
        "intermediary": N_("intermediaries"),
        "evaluator": N_("evaluators"),
        "guarantor": N_("guarantors"),
        "technical_adviser": N_("technical advisers"),
        "other": N_("other parties"),
    },
    "stage": {
        "design": N_("design"),
        "contracted": N_("contracted"),
        "implementation": N_("implementation"),
        "service_delivery_complete": N_("service delivery complete"),
        "complete": N_("complete"),
        "terminated": N_("terminated"),
    },
    "sector": {
        "employment_and_training": N_("employment and training"),
        "health": N_("health"),
        "education": N_("education"),
        "child_and_family_welfare": N_("child and family welfare"),
        "homelessness": N_("homelessness"),
        "criminal_justice": N_("criminal justice"),
        "agriculture_and_environment": N_("agriculture and environment"),
        "poverty_reduction": N_("poverty reduction"),
        "other": N_("other sector"),
    },
    "confidence": {
        "verified": N_("verified"),
        "secondary": N_("secondary"),
        "unverified": N_("unverified"),
        "disputed": N_("disputed"),
    },
    "org_type": {
        "local_government": N_("local government"),
        "regional_government": N_("regional government"),
        "central_government": N_("central government"),
        "public_body": N_("public body"),
        "private_company": N_("private company"),
        "financial_institution": N_("financial institution"),
        "non_profit": N_("non-profit organisation"),
        "foundation": N_("foundation"),
        "academic": N_("academic institution"),
        "individual": N_("individual"),
        "other": N_("other"),
        "unknown": N_("unknown"),
    },
    "tranche": {
        "senior": N_("senior"),
        "subordinated": N_("subordinated"),
        "first_loss": N_("first loss"),
        "grant": N_("grant"),
        "guarantee": N_("guarantee"),
        "equity": N_("equity"),
        "other": N_("other"),
    },
    "metric_kind": {
        "binary": N_("yes/no"),
        "continuous": N_("continuous"),
        "count": N_("count"),
        "rate": N_("rate"),
    },
    "measurement": {
        "rct": N_("randomised controlled trial"),
        "matched_comparison": N_("matched comparison group"),
        "historical_baseline": N_("historical baseline"),
        "pre_post": N_("before and after"),
        "validated_administrative": N_("validated administrative data"),
        "descriptive": N_("descriptive"),
        "other": N_("other method"),
        "unknown": N_("method unknown"),
    },
    "component": {
        "guarantee": N_("guarantee"),
        "outcome": N_("outcome payment"),
        "premium": N_("premium"),
        "fee": N_("fee"),
        "interest": N_("interest"),
        "principal": N_("principal"),
    },
    "milestone": {
        "measurement": N_("measurement"),
        "governance": N_("governance meeting"),
        "evaluation": N_("evaluation"),
        "payment": N_("payment"),
        "other": N_("other"),
    },
    "user_role": {
        "investor": N_("investor"),
        "curator": N_("curator"),
        "admin": N_("administrator"),
    },
    # The fact sheet's terser, capitalised words (a printed page has less room than a web page).
    "sheet_stage": {
        "design": NP_("stage", "Design"),
        "contracted": NP_("stage", "Contracted"),
        "implementation": NP_("stage", "Implementation"),
        "service_delivery_complete": NP_("stage", "Service delivery complete"),
        "complete": NP_("stage", "Complete"),
        "terminated": NP_("stage", "Terminated"),
    },
    "sheet_role": {
        "outcome_payer": NP_("party role", "Outcome payer"),
        "investor": NP_("party role", "Investor"),
        "provider": NP_("party role", "Service provider"),
        "intermediary": NP_("party role", "Intermediary"),
        "evaluator": NP_("party role", "Evaluator"),
        "guarantor": NP_("party role", "Guarantor"),
        "technical_adviser": NP_("party role", "Technical adviser"),
        "other": NP_("party role", "Other"),
    },
    "sheet_confidence": {
        "verified": NP_("confidence", "verified"),
        "secondary": NP_("confidence", "secondary source"),
        "unverified": NP_("confidence", "unverified"),
        "disputed": NP_("confidence", "disputed"),
    },
    "sheet_measurement": {
        "rct": NP_("measurement method", "Randomised controlled trial"),
        "matched_comparison": NP_("measurement method", "Matched comparison group"),
        "historical_baseline": NP_("measurement method", "Historical baseline"),
        "pre_post": NP_("measurement method", "Pre/post"),
        "validated_administrative": NP_("measurement method", "Validated administrative data"),
        "descriptive": NP_("measurement method", "Descriptive"),
        "other": NP_("measurement method", "Other"),
        "unknown": NP_("measurement method", "Unknown"),
    },
    "sheet_sector": {
        "employment_and_training": NP_("policy sector", "Employment and training"),
        "health": NP_("policy sector", "Health"),
        "education": NP_("policy sector", "Education"),
        "child_and_family_welfare": NP_("policy sector", "Child and family welfare"),
        "homelessness": NP_("policy sector", "Homelessness"),
        "criminal_justice": NP_("policy sector", "Criminal justice"),
        "agriculture_and_environment": NP_("policy sector", "Agriculture and environment"),
        "poverty_reduction": NP_("policy sector", "Poverty reduction"),
        "other": NP_("policy sector", "Other"),
    },
    "sheet_date": {
        "signed": NP_("date", "Contract signed"),
        "service_start": NP_("date", "Service starts"),
        "service_end": NP_("date", "Service ends"),
        "evaluation_end": NP_("date", "Evaluation ends"),
        "anticipated_completion": NP_("date", "Anticipated completion"),
        "actual_completion": NP_("date", "Completed"),
    },
    # A milestone's kind as a label of its own (the fact sheet's timeline, the reminders' table and command).
    "milestone_kind": {
        "measurement": NP_("milestone", "Measurement"),
        "governance": NP_("milestone", "Governance meeting"),
        "evaluation": NP_("milestone", "Evaluation"),
        "payment": NP_("milestone", "Payment"),
        "other": NP_("milestone", "Other"),
    },
    # A simulation's summary measures (portfolio results page and report).
    "summary": {
        "capital": N_("Capital invested"),
        "expected_repayment": N_("Expected repayment"),
        "expected_multiple": N_("Expected multiple (repayment / capital)"),
        "p_loss": N_("Probability of losing capital"),
        "expected_loss": N_("Expected loss"),
        "mean_net_loss": N_("Mean net loss (capital − repayment)"),
        "var95": N_("Value at risk, 95 %"),
        "es95": N_("Expected shortfall, 95 %"),
        "var99": N_("Value at risk, 99 %"),
        "es99": N_("Expected shortfall, 99 %"),
        "irr_p5": N_("IRR, 5th percentile"),
        "irr_p50": N_("IRR, median"),
        "irr_p95": N_("IRR, 95th percentile"),
        "irr_mean": N_("IRR, mean"),
        "npv_hurdle": N_("Expected NPV at the hurdle rate"),
    },
    # The scheduled jobs (admin page).
    "job": {
        "factsheets": N_("Regenerates missing and out-of-date fact sheets"),
        "portfolios": N_("Recomputes saved portfolios (nightly)"),
        "reminders": N_("Milestones due within 30 days (mornings)"),
        "market": N_("Refreshes the market statistics (nightly)"),
    },
    # Whether a stated amount is the figure itself or a bound on it (MoneyFact.bound).
    "bound": {
        "exact": N_("exact figure"),
        "min": N_("at least (a lower bound)"),
        "max": N_("at most (an upper bound)"),
        "about": N_("about"),
    },
    # How often a governance body meets or reports (Governance.frequency, free text; the usual words).
    "frequency": {
        "weekly": N_("weekly"),
        "monthly": N_("monthly"),
        "quarterly": N_("quarterly"),
        "semi-annually": N_("twice a year"),
        "biannually": N_("twice a year"),
        "annually": N_("yearly"),
        "yearly": N_("yearly"),
        "ad hoc": N_("as needed"),
    },
    # Where a recorded change came from, besides a file or an export's folder (registry.loader.save_edit).
    "change_origin": {
        "web form": N_("the web editor"),
        "api": N_("the API"),
    },
    # What settles a contract's investor repayment class (registry.market.repayment_of).
    "repayment_basis": {
        "history.investor_results": N_("published investor results"),
        "finance.investor_repayment": N_("stated investor repayment"),
        "finance.realised_irr": N_("realised IRR"),
    },
    "job_status": {
        "success": N_("success"),
        "failed": N_("failed"),
        "running": N_("running"),
    },
}


def label(kind: str, value: Any) -> str:
    """The reader's word for a schema value of ``kind`` (unknown values are shown as they are, ``_`` as spaces)."""
    if value is None:
        return "–"
    key = str(getattr(value, "value", value))
    message = VOCABULARY.get(kind, {}).get(key)
    if message is None:
        return key.replace("_", " ")
    if isinstance(message, tuple):
        return pgettext(*message)
    return translate(message)


def vocab(value: Any, kind: str) -> str:
    """:func:`label` with the value first, as the Jinja filter ``vocab`` takes it."""
    return label(kind, value)


def t_role(role: str) -> str:
    """A party role in the reader's language: ``outcome_payer`` → ``utfallsansvarig`` / ``outcome payer``."""
    return label("role", role)


def init_app(app: Flask) -> None:
    """Register the filters ``vocab`` and ``t_role`` on ``app``'s Jinja environment."""
    app.jinja_env.filters.update(vocab=vocab, t_role=t_role)
