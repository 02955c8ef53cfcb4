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

Reading notes what is wrong with a file's shape (a record with more or fewer cells than the header, text that
is neither UTF-8 nor Windows-1252, or UTF-8 cut off or mixed with other bytes); :func:`check_shape` adds the
files and columns an import cannot do without, and an import refuses an export with any of these problems.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from registry.spreadsheet import restore_cell

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


# Files an import needs, and in them the columns the data standard identifies things by: each entity's id and
# name, the project a child row belongs to, and the organisation a role row names. Without one of them an
# import would quietly rename, orphan or drop what it reads (every table below is in both GO Lab layouts).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "projects": ("ID", "Impact Bond Name - (Value)", "Stage of Development - (Value)"),
    "organisations": ("ID", "Name", "Type - (Value)"),
    "funds": ("ID", "Fund - Name"),
    "projects_investments": ("Project ID", "Id", "Organisation ID - (Value)"),
    "projects_outcome_payment_commitments": ("Project ID", "Organisation ID - (Value)"),
    "projects_service_provisions": ("Project ID", "Organisation ID - (Value)"),
    "projects_intermediary_services": ("Project ID", "Organisation ID - (Value)"),
    "projects_outcome_metrics": ("Project ID", "Id"),
    "projects_sources": ("Project ID", "Id"),
    "projects_outcome_funds": ("Project ID", "Id"),
    **{table: ("Project ID",) for table in ("projects_outcome_pricings", "projects_outcome_payment_plans",
                                            "projects_outcome_payments", "projects_results",
                                            "projects_delivery_locations", "projects_documents",
                                            "projects_transactions")},
}


class IndigoReadError(ValueError):
    """The folder is not an INDIGO export, or a file in it cannot be read."""


@dataclass(frozen=True)
class ShapeProblem:
    """Something wrong with an export's files, at a file, line (1 = the header) and column where known."""

    file: str
    reason: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.reason}"


class IndigoShapeError(IndigoReadError):
    """The export's files are not in the shape an import needs; nothing was written."""

    def __init__(self, problems: list[ShapeProblem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:40])
        more = f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else ""
        super().__init__(f"the export is not in the shape of an INDIGO export; nothing was imported:\n{shown}{more}")


@dataclass
class IndigoExport:
    """The tables of one export, as lists of row dicts keyed by column header."""

    path: Path
    layout: str  # "2025-12" (GO Lab folders) or "2025-05" (all-data-by-type/original_*)
    tables: dict[str, list[dict[str, str]]]
    files: dict[str, Path]
    notes: list[str] = field(default_factory=list)
    problems: list[ShapeProblem] = field(default_factory=list)
    headers: dict[str, list[str]] = field(default_factory=dict)

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
    """The file's text and, if it was not UTF-8, a note saying how it was decoded.

    Raises :class:`IndigoShapeError` for text that cannot be read faithfully: UTF-8 cut off at the end (a
    truncated file), UTF-8 mixed with other bytes, bytes Windows-1252 does not define, or NUL bytes.
    """
    data = path.read_bytes()
    try:
        text, note = data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        if exc.end >= len(data) and exc.reason == "unexpected end of data":
            raise IndigoShapeError([ShapeProblem(str(path), "the file ends inside a character: it was cut off",
                                                 line)]) from None
        if any(b >= 0x80 for b in data[:exc.start]):
            raise IndigoShapeError([ShapeProblem(str(path), f"not UTF-8 ({exc.reason} at byte {exc.start}) "
                                                 "although earlier text is: mixed or damaged encoding", line)]
                                   ) from None
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as cp_exc:
            raise IndigoShapeError([ShapeProblem(
                str(path), f"neither UTF-8 nor Windows-1252 (byte 0x{data[cp_exc.start]:02x} at byte "
                f"{cp_exc.start})", data[:cp_exc.start].count(b"\n") + 1)]) from None
        note = f"{path.name}: not UTF-8 ({exc.reason} at byte {exc.start}); read as Windows-1252"
    if "\x00" in text:
        at = text.index("\x00")
        raise IndigoShapeError([ShapeProblem(str(path), "NUL bytes in the text (a damaged or binary file)",
                                             text[:at].count("\n") + 1)])
    return text, note


def record_problems(path: Path, text: str, header: list[str]) -> list[ShapeProblem]:
    """Records whose number of cells differs from the header's (a cut-off or damaged row), by line."""
    problems: list[ShapeProblem] = []
    reader = csv.reader(io.StringIO(text), strict=True)
    start = 1
    try:
        next(reader)
        start = reader.line_num + 1
        for record in reader:
            if record and len(record) != len(header):
                if len(record) < len(header):
                    problems.append(ShapeProblem(str(path), f"{len(record)} of {len(header)} cells: the row is "
                                                 "cut short", start, header[len(record)]))
                else:
                    problems.append(ShapeProblem(str(path), f"{len(record)} cells where the header has "
                                                 f"{len(header)}", start, "(after the last column)"))
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.append(ShapeProblem(str(path), f"not readable as CSV: {exc} (a quoted cell never closed: "
                                     "the file may be cut off)", start))
    return problems


def read_table(path: Path) -> tuple[list[dict[str, str]], str | None]:
    """Rows of one CSV file as dicts of text (blank cells are ``""``), and an encoding note if any."""
    rows, note, _, problems = read_table_checked(path)
    if problems:
        raise IndigoShapeError(problems)
    return rows, note


def read_table_checked(path: Path) -> tuple[list[dict[str, str]], str | None, list[str], list[ShapeProblem]]:
    """Like :func:`read_table`, also returning the header and the shape problems found (not raising for them)."""
    text, note = read_csv_text(path)
    if not text.strip():
        return [], note, [], []
    header = [h.strip() for h in next(csv.reader(io.StringIO(text)))]
    problems = record_problems(path, text, header)
    if problems:
        return [], note, header, problems
    names = unique_headers(header)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, header=0, names=names,
                            skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise IndigoReadError(f"{path}: not a readable CSV file: {exc}") from None
    if len(frame.columns) != len(names):
        raise IndigoReadError(f"{path}: rows do not match the header")
    # Text our own INDIGO-shaped export neutralised against spreadsheet formulas reads back as it was.
    rows = [{k: restore_cell(v) for k, v in row.items()} for row in frame.to_dict("records")]
    return rows, note, header, []


def check_shape(export: IndigoExport) -> list[ShapeProblem]:
    """What an import cannot accept: shape problems met while reading, missing files, and missing columns."""
    problems = list(export.problems)
    for table, columns in REQUIRED_COLUMNS.items():
        file = export.files.get(table)
        if file is None:
            folder = "all-data-by-type" if export.layout == "2025-05" else _FOLDERS.get(table, ("projects",))[0]
            name = f"original_{table}.csv" if export.layout == "2025-05" else f"{table}.csv"
            problems.append(ShapeProblem(str(export.path / folder / name), "required file missing"))
            continue
        header = export.headers.get(table)
        if not header:
            problems.append(ShapeProblem(str(file), "empty file (not even a header)", 1))
            continue
        for column in columns:
            if column not in header:
                problems.append(ShapeProblem(str(file), "required column missing", 1, column))
    return problems


def read_export(path: str | Path, *, tables: tuple[str, ...] = TABLES) -> IndigoExport:
    """Read every table of an INDIGO export folder (either layout)."""
    root = Path(path)
    if not root.is_dir():
        raise IndigoReadError(f"{root}: not a folder")
    files: dict[str, Path] = {}
    data: dict[str, list[dict[str, str]]] = {}
    headers: dict[str, list[str]] = {}
    notes: list[str] = []
    problems: list[ShapeProblem] = []
    for table in tables:
        file = find_table(root, table)
        if file is None:
            continue
        try:
            rows, note, headers[table], found = read_table_checked(file)
        except IndigoShapeError as exc:
            rows, note, found = [], None, exc.problems
        files[table], data[table] = file, rows
        problems += found
        if note:
            notes.append(note)
    if "projects" not in files:
        raise IndigoReadError(
            f"{root}: no projects table found (looked for projects/projects.csv and "
            "all-data-by-type/original_projects.csv)"
        )
    return IndigoExport(path=root, layout=detect_layout(root), tables=data, files=files, notes=notes,
                        problems=problems, headers=headers)
