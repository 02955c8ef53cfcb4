"""An INDIGO import refuses a damaged export (report naming file, line, column) and one that would shrink the
registry, and writes nothing; broken exports are made from the real one in a temporary folder."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from registry import db
from registry.indigo.importer import ShrinkError, import_export
from registry.indigo.reader import IndigoShapeError
from tests.indigo.helpers import snapshot


@pytest.fixture
def copy_12(export_12: Path, tmp_path: Path) -> Path:
    target = tmp_path / "2025-12"
    shutil.copytree(export_12, target)
    return target


def _refused(db_url: str, engine: Engine, root: Path, error: type[Exception] = IndigoShapeError,
             **kwargs: object) -> Exception:
    """Import ``root`` as the CLI does (one transaction); it must fail and leave the registry as it was."""
    with Session(engine) as s:
        before = snapshot(s)
    with pytest.raises(error) as refused, db.session_scope(db_url) as s:
        import_export(root, session=s, **kwargs)  # type: ignore[arg-type]
    with Session(engine) as s:
        assert snapshot(s) == before
    return refused.value


def _rewrite(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(edit(rows))
    path.write_text(out.getvalue(), encoding="utf-8")


def test_projects_without_the_name_column_are_refused(db_url, engine, copy_12):
    def drop_name(rows: list[list[str]]) -> list[list[str]]:
        i = rows[0].index("Impact Bond Name - (Value)")
        return [row[:i] + row[i + 1:] for row in rows]

    _rewrite(copy_12 / "projects" / "projects.csv", drop_name)
    error = _refused(db_url, engine, copy_12)
    assert isinstance(error, IndigoShapeError)
    [problem] = error.problems
    assert problem.file.endswith("projects/projects.csv") and problem.line == 1
    assert problem.column == "Impact Bond Name - (Value)" and "required column missing" in problem.reason


def test_investments_truncated_half_way_are_refused_with_the_line(db_url, engine, copy_12):
    path = copy_12 / "projects" / "projects_investments.csv"
    data = path.read_bytes()
    cut = len(data) // 2
    while data[cut:cut + 1] in (b"\n", b","):  # cut inside a cell, as a copy that stopped would
        cut += 1
    path.write_bytes(data[:cut])
    error = _refused(db_url, engine, copy_12)
    assert isinstance(error, IndigoShapeError)
    [problem] = error.problems
    assert problem.file.endswith("projects_investments.csv")
    assert problem.line == data[:cut].count(b"\n") + 1 or "never closed" in problem.reason
    assert str(problem).startswith(str(path))


def test_a_missing_file_is_refused(db_url, engine, copy_12):
    (copy_12 / "projects" / "projects_service_provisions.csv").unlink()
    error = _refused(db_url, engine, copy_12)
    assert "projects_service_provisions.csv: required file missing" in str(error)


def test_a_row_with_extra_cells_names_its_line(db_url, engine, copy_12):
    path = copy_12 / "organizations" / "organisations.csv"
    header = path.read_text(encoding="utf-8-sig").splitlines()[0]
    with path.open("a", encoding="utf-8") as fh:
        fh.write("INDIGO-ORG-9999" + "," * (header.count(",") + 3) + "\n")
    lines = path.read_bytes().count(b"\n")
    error = _refused(db_url, engine, copy_12)
    [problem] = error.problems  # type: ignore[attr-defined]
    assert problem.line == lines and problem.column == "(after the last column)"


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda data: data + "Malmö".encode()[:-1], "cut off"),
    (lambda data: data + "INDIGO-POJ-9999,Malm\xf6\n".encode("latin-1"), "mixed or damaged"),
    (lambda data: data + b"INDIGO-POJ-9999,\x00\x00\n", "NUL bytes"),
])
def test_damaged_text_is_refused(db_url, engine, copy_12, damage, reason):
    path = copy_12 / "projects" / "projects_sources.csv"
    assert "ö".encode() in path.read_bytes() or "é".encode() in path.read_bytes()  # UTF-8 text to damage
    path.write_bytes(damage(path.read_bytes()))
    error = _refused(db_url, engine, copy_12)
    assert reason in str(error) and "projects_sources.csv" in str(error)


def _import(db_url: str, root: Path, **kwargs: object) -> None:
    with db.session_scope(db_url) as s:
        import_export(root, session=s, **kwargs)  # type: ignore[arg-type]


def test_an_export_truncated_at_a_line_end_is_stopped_by_the_shrink_guard(db_url, engine, export_12, copy_12):
    """A file cut at a line end looks whole; the loss of the parties it listed gives it away."""
    _import(db_url, export_12)
    path = copy_12 / "projects" / "projects_investments.csv"
    _rewrite(path, lambda rows: rows[: len(rows) // 2])
    error = _refused(db_url, engine, copy_12, ShrinkError)
    assert "parties of INDIGO contracts" in str(error) and "--allow-shrink" in str(error)
    _import(db_url, copy_12, allow_shrink=True)  # meant: then it is done


def test_an_export_with_blank_names_or_few_projects_is_stopped(db_url, engine, sample_12, tmp_path):
    copy = tmp_path / "sample"
    shutil.copytree(sample_12, copy)
    _import(db_url, sample_12)
    path = copy / "projects" / "projects.csv"
    original = path.read_bytes()

    def blank_names(rows: list[list[str]]) -> list[list[str]]:
        i = rows[0].index("Impact Bond Name - (Value)")
        return [rows[0]] + [row[:i] + [""] + row[i + 1:] for row in rows[1:]]

    _rewrite(path, blank_names)
    assert "INDIGO contracts with a name" in str(_refused(db_url, engine, copy, ShrinkError))
    path.write_bytes(original)
    _rewrite(path, lambda rows: rows[: len(rows) // 3])
    assert "the export lists" in str(_refused(db_url, engine, copy, ShrinkError))


def test_cli_reports_the_refusal_and_writes_nothing(cli, copy_12):  # type: ignore[no-untyped-def]
    from web.cli import main

    def drop_name(rows: list[list[str]]) -> list[list[str]]:
        i = rows[0].index("Name")
        return [row[:i] + row[i + 1:] for row in rows]

    _rewrite(copy_12 / "organizations" / "organisations.csv", drop_name)
    result = cli.invoke(main, ["import", "indigo", str(copy_12), "--no-progress"])
    assert result.exit_code == 1
    assert "organisations.csv, line 1, column 'Name': required column missing" in result.output
    assert "Traceback" not in result.output
