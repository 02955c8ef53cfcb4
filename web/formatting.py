"""Numbers, money, dates and the registry's vocabulary in the reader's language.

Registered as Jinja filters by :func:`init_app`: ``money``, ``money_short``, ``number``, ``percent``,
``date``, ``datetime``, ``country`` and ``vocab`` (``{{ "outcome_payer" | vocab("role") }}``). Swedish
readers see ``1 234 567 kr``; English readers see ``SEK 1,234,567`` (the ISO code, so that kronor are
never mistaken for another currency).
"""

from __future__ import annotations

from datetime import date as date_type
from datetime import datetime as datetime_type
from decimal import Decimal
from typing import Any

from babel import Locale
from babel.numbers import (
    format_compact_decimal,
    format_currency,
    format_decimal,
    format_percent,
    get_currency_symbol,
)
from flask import Flask
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import lazy_gettext as _l

Number = Decimal | float | int | str


def _locale() -> str:
    locale = get_locale()
    return str(locale) if locale else "sv"


def _decimal(value: Number) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def money(amount: Number | None, currency: str | None = "SEK", digits: int | None = None) -> str:
    """``1 234 567 kr`` (sv) or ``SEK 1,234,567`` (en); two decimals only when the amount has öre/cents."""
    if amount is None or amount == "":
        return "–"
    value = _decimal(amount)
    currency = currency or "SEK"
    if digits is None:
        digits = 0 if value == value.to_integral_value() else 2
    decimals = "." + "0" * digits if digits else ""
    locale = _locale()
    if locale == "en":
        pattern = f"¤¤\xa0#,##0{decimals}"  # ¤¤ is the ISO code: SEK 1,234,567
    else:
        pattern = f"#,##0{decimals}\xa0¤"
    return format_currency(value, currency, format=pattern, locale=locale, currency_digits=False)


def money_short(amount: Number | None, currency: str | None = "SEK") -> str:
    """A compact amount for charts and tables: ``12 mn kr`` / ``SEK 12M``."""
    if amount is None or amount == "":
        return "–"
    value = _decimal(amount)
    if abs(value) < 10_000:
        return money(value, currency, 0)
    locale = _locale()
    code = currency or "SEK"
    figure = format_compact_decimal(value, locale=locale, fraction_digits=1)
    if locale == "en":
        return f"{code}\xa0{figure}"
    return f"{figure}\xa0{get_currency_symbol(code, locale=locale)}"


def number(value: Number | None, digits: int = 0) -> str:
    """A number with the locale's separators (``1 234 567`` / ``1,234,567``)."""
    if value is None or value == "":
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(_decimal(value), format=pattern, locale=_locale())


def percent(value: Number | None, digits: int = 0) -> str:
    """``0.3`` → ``30 %`` (sv) / ``30%`` (en)."""
    if value is None or value == "":
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    sv_pattern = pattern[:-1] + "\xa0%"
    return format_percent(_decimal(value), format=sv_pattern if _locale() == "sv" else pattern, locale=_locale())


def date(value: str | date_type | None) -> str:
    """A possibly partial ISO date: ``2021`` → ``2021``, ``2021-03`` → ``mars 2021``, full dates in long form."""
    if value is None or value == "":
        return "–"
    if isinstance(value, datetime_type):
        return format_date(value.date(), "long")
    if isinstance(value, date_type):
        return format_date(value, "long")
    parts = str(value).split("-")
    try:
        if len(parts) == 1:
            return str(int(parts[0]))
        if len(parts) == 2:
            return format_date(date_type(int(parts[0]), int(parts[1]), 1), "LLLL y")
        return format_date(date_type.fromisoformat(str(value)), "long")
    except ValueError:
        return str(value)


def datetime(value: datetime_type | None) -> str:
    """A timestamp in the reader's locale (shown in UTC, as stored)."""
    if value is None:
        return "–"
    return format_datetime(value, "yyyy-MM-dd HH:mm 'UTC'")


def country(code: str | None) -> str:
    """A country's name in the reader's language (``SE`` → ``Sverige`` / ``Sweden``)."""
    if not code:
        return "–"
    return Locale.parse(_locale()).territories.get(code.upper(), code)


# The registry's vocabulary. Keys are the schema's values; labels follow the Swedish terms used in the
# field (utfallsansvarig, finansiär, utförare, intermediär) and their English counterparts.
VOCABULARY: dict[str, dict[str, Any]] = {
    "role": {
        "outcome_payer": _l("outcome payer"),
        "investor": _l("investor"),
        "provider": _l("provider"),
        "intermediary": _l("intermediary"),
        "evaluator": _l("evaluator"),
        "guarantor": _l("guarantor"),
        "technical_adviser": _l("technical adviser"),
        "other": _l("other role"),
    },
    "role_plural": {
        "outcome_payer": _l("outcome payers"),
        "investor": _l("investors"),
        "provider": _l("providers"),
        "intermediary": _l("intermediaries"),
        "evaluator": _l("evaluators"),
        "guarantor": _l("guarantors"),
        "technical_adviser": _l("technical advisers"),
        "other": _l("other parties"),
    },
    "stage": {
        "design": _l("design"),
        "contracted": _l("contracted"),
        "implementation": _l("implementation"),
        "service_delivery_complete": _l("service delivery complete"),
        "complete": _l("complete"),
        "terminated": _l("terminated"),
    },
    "sector": {
        "employment_and_training": _l("employment and training"),
        "health": _l("health"),
        "education": _l("education"),
        "child_and_family_welfare": _l("child and family welfare"),
        "homelessness": _l("homelessness"),
        "criminal_justice": _l("criminal justice"),
        "agriculture_and_environment": _l("agriculture and environment"),
        "poverty_reduction": _l("poverty reduction"),
        "other": _l("other sector"),
    },
    "confidence": {
        "verified": _l("verified"),
        "secondary": _l("secondary"),
        "unverified": _l("unverified"),
        "disputed": _l("disputed"),
    },
    "org_type": {
        "local_government": _l("local government"),
        "regional_government": _l("regional government"),
        "central_government": _l("central government"),
        "public_body": _l("public body"),
        "private_company": _l("private company"),
        "financial_institution": _l("financial institution"),
        "non_profit": _l("non-profit organisation"),
        "foundation": _l("foundation"),
        "academic": _l("academic institution"),
        "individual": _l("individual"),
        "other": _l("other"),
        "unknown": _l("unknown"),
    },
    "tranche": {
        "senior": _l("senior"),
        "subordinated": _l("subordinated"),
        "first_loss": _l("first loss"),
        "grant": _l("grant"),
        "guarantee": _l("guarantee"),
        "equity": _l("equity"),
        "other": _l("other"),
    },
    "metric_kind": {
        "binary": _l("yes/no"),
        "continuous": _l("continuous"),
        "count": _l("count"),
        "rate": _l("rate"),
    },
    "measurement": {
        "rct": _l("randomised controlled trial"),
        "matched_comparison": _l("matched comparison group"),
        "historical_baseline": _l("historical baseline"),
        "pre_post": _l("before and after"),
        "validated_administrative": _l("validated administrative data"),
        "descriptive": _l("descriptive"),
        "other": _l("other method"),
        "unknown": _l("method unknown"),
    },
    "component": {
        "guarantee": _l("guarantee"),
        "outcome": _l("outcome payment"),
        "premium": _l("premium"),
        "fee": _l("fee"),
        "interest": _l("interest"),
        "principal": _l("principal"),
    },
    "milestone": {
        "measurement": _l("measurement"),
        "governance": _l("governance meeting"),
        "evaluation": _l("evaluation"),
        "payment": _l("payment"),
        "other": _l("other"),
    },
    "user_role": {
        "investor": _l("investor"),
        "curator": _l("curator"),
        "admin": _l("administrator"),
    },
}


def vocab(value: Any, kind: str) -> str:
    """The reader's word for a schema value of ``kind`` (unknown values are shown as they are)."""
    if value is None:
        return "–"
    key = str(value)
    label = VOCABULARY.get(kind, {}).get(key)
    return str(label) if label is not None else key.replace("_", " ")


def t_role(role: str) -> str:
    """A party role in the reader's language: ``outcome_payer`` → ``utfallsansvarig`` / ``outcome payer``."""
    return vocab(role, "role")


def init_app(app: Flask) -> None:
    """Register the filters and the vocabulary on ``app``'s Jinja environment."""
    app.jinja_env.filters.update(
        money=money, money_short=money_short, number=number, percent=percent, date=date, datetime=datetime,
        country=country, vocab=vocab, t_role=t_role,
    )
