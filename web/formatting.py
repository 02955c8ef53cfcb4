"""Numbers, money and dates in the reader's language.

Registered as Jinja filters by :func:`init_app`: ``money``, ``money_short``, ``number``, ``percent``,
``date``, ``datetime`` and ``country``; the vocabulary's words are in :mod:`web.vocabulary`. Swedish
readers see ``1 234 567 kr``; English readers see ``SEK 1,234,567`` (the ISO code, so that kronor are
never mistaken for another currency).
"""

from __future__ import annotations

from datetime import date as date_type
from datetime import datetime as datetime_type
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import (
    format_compact_decimal,
    format_currency,
    format_decimal,
    format_percent,
)
from flask import Flask, current_app
from flask_babel import format_date, format_datetime, get_locale, get_translations
from flask_babel import gettext as _gettext

Number = Decimal | float | int | str


def N_(message: str) -> str:
    """Mark ``message`` for ``pybabel extract`` (a default keyword) without translating it yet."""
    return message


def _locale() -> str:
    locale = get_locale()
    return str(locale) if locale else "sv"


@lru_cache(maxsize=16)
def _babel_locale(code: str) -> Locale:
    # Babel functions given a string parse it into a Locale on every call; formatting a table cell
    # then costs more in parsing than in formatting.
    return Locale.parse(code)


def _reader_locale() -> Locale:
    return _babel_locale(_locale())


def translate(message: str) -> str:
    """``gettext(message)``, remembered per app and locale.

    Flask-Babel loads a catalogue once and keeps it for the life of the process, so a translation looked
    up once stays valid; looking it up again costs tens of microseconds, which adds up in tables where
    every row shows a few vocabulary words.
    """
    locale = get_locale()
    if locale is None:
        return message
    cache: dict[tuple[str, str], str] = current_app.extensions.setdefault("utfall.translated", {})
    key = (str(locale), message)
    try:
        return cache[key]
    except KeyError:
        cache[key] = text = _gettext(message)
        return text


def _decimal(value: Number) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def money(amount: Number | None, currency: str | None = "SEK", digits: int | None = None) -> str:
    """``1 234 567 kr``, ``12 500 DKK`` (sv) or ``SEK 1,234,567`` (en); two decimals only when the amount has
    öre/cents."""
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
    else:  # kronor as "kr"; other currencies by their code (Babel's Swedish "Dkr" and "US$" read oddly)
        pattern = f"#,##0{decimals}\xa0" + ("¤" if currency == "SEK" else "¤¤")
    return format_currency(value, currency, format=pattern, locale=_babel_locale(locale), currency_digits=False)


def money_short(amount: Number | None, currency: str | None = "SEK") -> str:
    """A compact amount for charts and tables: ``12 mnkr``, ``12 mn USD`` / ``SEK 12M``."""
    if amount is None or amount == "":
        return "–"
    value = _decimal(amount)
    if abs(value) < 10_000:
        return money(value, currency, 0)
    return _compact_money(value, currency or "SEK", _locale())


# Swedish abbreviations of thousands, millions and billions: for kronor the words Swedish finance writes
# (12 tkr, 1,2 mnkr, 3 mdkr), for other currencies the ISO code after the word (12 tusen DKK, 1,2 mn USD).
_SV_SCALES = ((Decimal(10) ** 9, "mdkr", "md"), (Decimal(10) ** 6, "mnkr", "mn"), (Decimal(10) ** 3, "tkr", "tusen"))


@lru_cache(maxsize=8192)
def _compact_money(value: Decimal, code: str, locale: str) -> str:
    # Babel's compact format walks the locale's pattern table on every call (the slowest cell of the
    # registry table); the result depends on nothing but these three values. A registry of a few thousand
    # contracts fits in the cache in both languages.
    if locale == "en":
        figure = format_compact_decimal(value, locale=_babel_locale(locale), fraction_digits=1)
        return f"{code}\xa0{figure}"
    i = next((i for i, (scale, _, _) in enumerate(_SV_SCALES) if abs(value) >= scale), len(_SV_SCALES) - 1)
    scaled = (value / _SV_SCALES[i][0]).quantize(Decimal("0.1"))
    if i > 0 and abs(scaled) >= 1000:  # 999 960 000 rounds to 1 000,0 mn: say 1 md
        i -= 1
        scaled = (value / _SV_SCALES[i][0]).quantize(Decimal("0.1"))
    figure = format_decimal(scaled, format="#,##0.#", locale=_babel_locale(locale))
    return f"{figure}\xa0{_SV_SCALES[i][1]}" if code == "SEK" else f"{figure}\xa0{_SV_SCALES[i][2]}\xa0{code}"


def number(value: Number | None, digits: int = 0) -> str:
    """A number with the locale's separators (``1 234 567`` / ``1,234,567``)."""
    if value is None or value == "":
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(_decimal(value), format=pattern, locale=_reader_locale())


def figure(value: Number) -> str:
    """A chart's figure: as many decimals as its size needs, at most two (``1 234``, ``12,5``, ``0,25``)."""
    exact = _decimal(value)
    if exact == 0:
        return "0"
    size = abs(exact)
    digits = 0 if size >= 100 or exact == exact.to_integral_value() else (1 if size >= 10 else 2)
    return format_decimal(exact, format="#,##0" + ("." + "#" * digits if digits else ""), locale=_reader_locale())


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def percent(value: Number | None, digits: int = 0) -> str:
    """``0.3`` → ``30 %`` (sv) / ``30%`` (en)."""
    if value is None or value == "":
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    sv_pattern = pattern[:-1] + "\xa0%"
    locale = _locale()
    return format_percent(_decimal(value), format=sv_pattern if locale == "sv" else pattern,
                          locale=_babel_locale(locale))


def percent_pattern(value: Number, pattern: str = "#,##0") -> str:
    """``value`` as a percentage with the number ``pattern`` (e.g. ``#,##0.#``): ``50,8 %`` / ``50.8%``."""
    locale = _locale()
    sign = "\xa0%" if locale == "sv" else "%"
    return format_percent(_decimal(value), format=pattern + sign, locale=_babel_locale(locale))


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
    return _territories(_locale()).get(code.upper(), code)


@lru_cache(maxsize=16)
def _territories(locale: str) -> dict[str, str]:
    return dict(_babel_locale(locale).territories)


def init_app(app: Flask) -> None:
    """Register the filters and the vocabulary on ``app``'s Jinja environment.

    Templates' ``_()`` goes through :func:`translate` (remembered per locale) instead of Flask-Babel's
    lookup of the catalogue on every call; the rest is what Flask-Babel installs. Call after Babel's
    ``init_app``.
    """
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
        gettext=translate,
        ngettext=lambda s, p, n: get_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: get_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: get_translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.filters.update(
        money=money, money_short=money_short, number=number, percent=percent, date=date, datetime=datetime,
        country=country,
    )
