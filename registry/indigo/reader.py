"""Reading an INDIGO export from disk, in either of GO Lab's file layouts.

GO Lab's "CSV per data type" download comes in (at least) two layouts:

- current (2025-12): ``projects/projects.csv``, ``projects/projects_investments.csv``, ...,
  ``organizations/organisations.csv``, ``funds/funds.csv``, ``pipelines/pipelines.csv``;
- earlier (2025-05): ``all-data-by-type/original_projects.csv``, ``original_projects_investments.csv``, ...,
  plus ``key-datasets/original_projects.csv`` (a list download with extra columns, not the table).

Every table is read as text (``dtype=str``, blank cells stay ``""``): the mapping decides what a cell means.
Files may start with a byte-order mark; a file that is not UTF-8 is read as cp1252 and the fact is reported.
Headers that repeat (``pipelines.csv`` has several ``(Source ID's)`` and ``(Notes)``) are renamed after the
group of the column before them, so no column is lost.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# Logical table name -> file names tried, in order, relative to the export folder.
PROJECT_TABLES = (
    "projects",
    "projects_investments",
    "projects_outcome_metrics",
    "projects_outcome_pricings",
    "projects_outcome_payment_commitments",
    "projects_outcome_payment_plans",
    "projects_outcome_payments",
    "projects_results",
    "projects_service_provisions",
    "projects_intermediary_services",
    "projects_delivery_locations",
    "projects_sources",
    "projects_documents",
    "projects_outcome_funds",
    "projects_transactions",
)
OTHER_TABLES = ("organisations", "funds")
TABLES = PROJECT_TABLES + OTHER_TABLES

_FOLDERS = {"organisations": ("organizations", "organisations"), "funds": ("funds",)}


class IndigoReadError(ValueError):
    """The folder is not an INDIGO export, or a file in it cannot be read."""


@dataclass
class IndigoExport:
    """The tables of one export, as lists of row dicts keyed by column header."""

    path: Path
    layout: str  # "2025-12" (GO Lab folders) or "2025-05" (all-data-by-type/original_*)
    tables: dict[str, list[dict[str, str]]]
    files: dict[str, Path]
    notes: list[str] = field(default_factory=list)

    def rows(self, table: str) -> list[dict[str, str]]:
        return self.tables.get(table, [])


def _candidates(root: Path, table: str) -> list[Path]:
    folders = _FOLDERS.get(table, ("projects",))
    names = [f"{table}.csv", f"original_{table}.csv"]
    paths = [root / folder / name for folder in folders for name in names]
    paths += [root / "all-data-by-type" / f"original_{table}.csv"]
    paths += [root / name for name in names]
    return paths


def find_table(root: Path, table: str) -> Path | None:
    """The file holding ``table`` in an export folder, whichever layout it uses."""
    for path in _candidates(root, table):
        if path.is_file():
            return path
    return None


def detect_layout(root: Path) -> str:
    if (root / "projects" / "projects.csv").is_file():
        return "2025-12"
    if (root / "all-data-by-type").is_dir():
        return "2025-05"
    return "flat"


def unique_headers(header: list[str]) -> list[str]:
    """Column names made unique: a repeated name takes the group of the column before it.

    ``["A - (Value)", "(Notes)", "B - (Value)", "(Notes)"]`` becomes
    ``["A - (Value)", "A - (Notes)", "B - (Value)", "B - (Notes)"]`` when a bare name repeats.
    """
    counts: dict[str, int] = {}
    for name in header:
        counts[name] = counts.get(name, 0) + 1
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(header):
        new = name
        if counts[name] > 1:
            prev = out[i - 1] if i else ""
            group = re.sub(r"\s*-\s*\([^)]*\)\s*$", "", prev).strip()
            new = f"{group} - {name}" if group else name
        base, n = new, 2
        while new in seen:
            new, n = f"{base} [{n}]", n + 1
        seen.add(new)
        out.append(new)
    return out


def read_csv_text(path: Path) -> tuple[str, str | None]:
    """The file's text and, if it was not UTF-8, a note saying how it was decoded."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return data.decode("cp1252", errors="replace"), (
            f"{path.name}: not UTF-8 ({exc.reason} at byte {exc.start}); read as Windows-1252"
        )


def read_table(path: Path) -> tuple[list[dict[str, str]], str | None]:
    """Rows of one CSV file as dicts of text (blank cells are ``""``), and an encoding note if any."""
    text, note = read_csv_text(path)
    if not text.strip():
        return [], note
    header = next(csv.reader(io.StringIO(text)))
    names = unique_headers([h.strip() for h in header])
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, header=0, names=names,
                            skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise IndigoReadError(f"{path}: not a readable CSV file: {exc}") from None
    if len(frame.columns) != len(names):
        raise IndigoReadError(f"{path}: rows do not match the header")
    return frame.to_dict("records"), note


def read_export(path: str | Path, *, tables: tuple[str, ...] = TABLES) -> IndigoExport:
    """Read every table of an INDIGO export folder (either layout)."""
    root = Path(path)
    if not root.is_dir():
        raise IndigoReadError(f"{root}: not a folder")
    files: dict[str, Path] = {}
    data: dict[str, list[dict[str, str]]] = {}
    notes: list[str] = []
    for table in tables:
        file = find_table(root, table)
        if file is None:
            continue
        rows, note = read_table(file)
        files[table], data[table] = file, rows
        if note:
            notes.append(note)
    if "projects" not in files:
        raise IndigoReadError(
            f"{root}: no projects table found (looked for projects/projects.csv and "
            "all-data-by-type/original_projects.csv)"
        )
    return IndigoExport(path=root, layout=detect_layout(root), tables=data, files=files, notes=notes)
