"""Plain-text numbers for commands, messages and formulas: English conventions, never an exponent."""

from __future__ import annotations

from decimal import Decimal

from registry.plain_text import amount_text, millions_text, number_text, percent_text


def test_number_text_has_no_exponent_and_no_trailing_zeros() -> None:
    assert number_text(Decimal("1E+7")) == "10000000"
    assert number_text(Decimal("0.0800")) == "0.08"
    assert number_text(1500000.0) == "1500000"
    assert number_text(1e-7) == "0.0000001"
    assert number_text(None) == ""


def test_amounts_are_grouped_with_their_currency_and_sign() -> None:
    assert amount_text(Decimal("1234567")) == "1,234,567.00"
    assert amount_text("2500.5", digits=0) == "2,500"
    assert amount_text(Decimal("-39000"), currency="SEK", signed=True) == "SEK -39,000.00"
    assert amount_text(Decimal("12"), currency="SEK", signed=True) == "SEK +12.00"
    assert amount_text(1.23456, digits=4) == "1.2346"
    assert amount_text(None) == "n/a"


def test_percentages_and_millions() -> None:
    assert percent_text(0.125) == "12.50%"
    assert percent_text(-0.065, signed=True, digits=1) == "-6.5%"
    assert percent_text(None) == "n/a"
    assert millions_text(12_345_678) == "12.3M"
    assert millions_text(0) == "-"
