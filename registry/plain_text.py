"""Numbers as plain text for the command line, messages and formulas: English conventions, no locale.

What readers of the web app see is formatted in their language by ``web.formatting``; this module is for
text that is read by people at a terminal, written into payment-terms formulas or kept in logs and
reports (``1,234,567.00``, ``12.50%``, ``0.08``). registry/ and the commands use it; web.formatting is
not imported here, so registry/ stays free of the web layer.
"""

from __future__ import annotations

from decimal import Decimal

Number = Decimal | float | int


def number_text(value: Number | None) -> str:
    """A number as formulas and INDIGO write it: no exponent, no trailing zeros (``10000000``, ``0.08``)."""
    if value is None:
        return ""
    text = format(value if isinstance(value, Decimal) else Decimal(str(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def amount_text(value: Number | str | None, *, digits: int = 2, currency: str | None = None,
                signed: bool = False) -> str:
    """``1,234,567.00``; with ``currency`` ``SEK 1,234,567.00``; ``signed`` writes ``+`` on gains; None is ``n/a``."""
    if value is None:
        return "n/a"
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    text = f"{exact:{'+' if signed else ''},.{digits}f}"
    return f"{currency} {text}" if currency else text


def percent_text(value: float | None, *, digits: int = 2, signed: bool = False) -> str:
    """A share as a percentage: ``0.125`` → ``12.50%`` (``+12.50%`` when ``signed``); None is ``n/a``."""
    if value is None:
        return "n/a"
    return f"{value:{'+' if signed else ''}.{digits}%}"


def millions_text(value: Number | None) -> str:
    """An amount in millions with one decimal (``12.3M``), ``-`` for none or zero."""
    return f"{float(value) / 1e6:,.1f}M" if value else "-"
