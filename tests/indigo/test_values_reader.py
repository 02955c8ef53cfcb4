"""Cell parsers and the export reader (both layouts, BOM, repeated headers, odd encodings)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from registry.indigo.reader import IndigoReadError, detect_layout, read_export, read_table, unique_headers
from registry.indigo.values import (
    parse_currency,
    parse_date,
    parse_number,
    parse_rate,
    parse_share,
    parse_tranche,
    split_multi,
)
from registry.schema import TrancheType
from tests.indigo.helpers import csv_rows


@pytest.mark.parametrize(("text", "expected"), [
    ("2016", "2016"), ("2016-07", "2016-07"), ("2016-07-01", "2016-07-01"), ("2022-6-1", "2022-06-01"),
    ("6th December 2024", "2024-12-06"), ("Sept 28 2022", "2022-09-28"), ("December 11, 2023", "2023-12-11"),
    ("2023 Apr 1", "2023-04-01"), ("", None), ("2021-02-30", None), ("2016-13", None), ("soon", None),
    (" 2019 ", "2019"),
])
def test_parse_date(text: str, expected: str | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(("text", "value", "cleaned"), [
    ("10000000", Decimal("10000000"), False), ("1167952.55", Decimal("1167952.55"), False),
    ("$10,000,000", Decimal("10000000"), True), ("C$4,000,000", Decimal("4000000"), True),
    ("=D41-D36", None, False), ("C$1.16M (estimate)", None, False), ("€", None, False), ("", None, False),
])
def test_parse_number(text: str, value: Decimal | None, cleaned: bool) -> None:
    assert parse_number(text) == (value, cleaned)


def test_currencies_and_codes() -> None:
    assert parse_currency("Swedish") == ("SEK", True)
    assert parse_currency("Japanese Yen") == ("JPY", True)
    assert parse_currency("GBP") == ("GBP", False)
    assert parse_currency("AUD ") == ("AUD", False)
    assert parse_currency("Russian rubles") == ("RUB", True)
    assert parse_currency("Doubloons") == (None, False)
    assert parse_rate("0.08") == Decimal("0.08")
    assert parse_rate("3.5") == Decimal("0.035")
    assert parse_rate("3% to 5%") is None
    assert parse_share("50% of principal") == Decimal("0.5")
    assert parse_share("362500") is None
    assert parse_tranche("senior loan (jail bed outcome) ") == TrancheType.SENIOR
    assert parse_tranche("Commercial (Subordinate)") == TrancheType.SUBORDINATED
    assert parse_tranche("Recyclable grants") == TrancheType.GRANT
    assert parse_tranche("deferred fees") is None
    assert split_multi("INDIGO-ORG-0171, INDIGO-ORG-1100,") == ["INDIGO-ORG-0171", "INDIGO-ORG-1100"]


def test_repeated_headers_keep_every_column() -> None:
    header = ["ID", "Name - (Value)", "(Source ID's)", "Stage - (Value)", "(Source ID's)", "(Notes)", "(Notes)"]
    names = unique_headers(header)
    assert len(set(names)) == len(header)
    assert names[2] == "Name - (Source ID's)" and names[4] == "Stage - (Source ID's)"


def test_real_pipelines_file_loses_no_column(export_12: Path) -> None:
    path = export_12 / "pipelines" / "pipelines.csv"
    rows, _ = read_table(path)
    with path.open(encoding="utf-8-sig") as fh:
        width = len(fh.readline().split(","))
    assert len(rows) == 132
    assert len(rows[0]) >= 99 and len(rows[0]) <= width


def test_bom_and_cp1252(tmp_path: Path) -> None:
    (tmp_path / "projects").mkdir()
    (tmp_path / "projects" / "projects.csv").write_bytes(
        "\ufeffID,Impact Bond Name - (Value)\nINDIGO-POJ-0001,Caf\u00e9 bond\n".encode())
    (tmp_path / "projects" / "projects_sources.csv").write_bytes(
        "Project ID,Id,Name - (Value)\nINDIGO-POJ-0001,source1,Norrk\u00f6ping report\n".encode("cp1252"))
    export = read_export(tmp_path)
    assert export.rows("projects")[0]["ID"] == "INDIGO-POJ-0001"
    assert export.rows("projects_sources")[0]["Name - (Value)"] == "Norrk\u00f6ping report"
    assert any("Windows-1252" in n for n in export.notes)


def test_both_layouts_read_the_same_tables(sample_05: Path, export_12: Path) -> None:
    old, new = read_export(sample_05), read_export(export_12)
    assert (old.layout, new.layout) == ("2025-05", "2025-12")
    assert detect_layout(export_12) == "2025-12"
    assert old.files["projects"].name == "original_projects.csv"
    assert "key-datasets" not in str(old.files["projects"])
    for table in ("projects", "projects_investments", "projects_sources", "organisations"):
        assert len(new.rows(table)) == len(csv_rows(export_12, table))
        assert len(old.rows(table)) == len(csv_rows(sample_05, table))
    assert set(new.rows("projects")[0]) == set(old.rows("projects")[0])


def test_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(IndigoReadError, match="no projects table"):
        read_export(tmp_path)
