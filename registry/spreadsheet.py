"""Cells for files that spreadsheet programs open (CSV, XLSX): text never becomes a formula.

A cell whose text starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
programs skip before reading one of those) is taken as a formula by Excel, LibreOffice and Google Sheets:
a contract name like ``=HYPERLINK("https://evil.example", "click")`` would become a live link, and others
can run commands. Such text is written with a leading apostrophe, the spreadsheet convention for "this is
text" (the OWASP recommendation for CSV injection). Numbers stay numbers: a negative amount is written as
the number it is, and text that is exactly a plain number (``-1200.50``) is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]+)*|[.,][0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def safe_cell(value: Any) -> Any:
    """``value`` as written to a spreadsheet cell: formula-like text gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def restore_cell(value: Any) -> Any:
    """The text :func:`safe_cell` was given, for a cell read back from a file this module wrote (an
    apostrophe before a formula character is dropped), so that an export re-imports unchanged."""
    if isinstance(value, str) and value.startswith("'") and value[1:2] and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def safe_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV row (column → value) with every value made safe."""
    return {k: safe_cell(v) for k, v in row.items()}


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are made safe; numeric columns are left untouched."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(safe_cell)
    out.columns = [safe_cell(c) for c in out.columns]
    return out
