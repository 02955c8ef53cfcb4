"""``utfall factsheets`` renders in a pool of processes, each with its own app and database connections."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry.models import Factsheet
from tests.factsheets.conftest import rich_contract
from tests.jobs.test_jobs import store
from web.cli import main


def test_two_processes_write_every_sheet_fill_the_cache_and_report_failures(
        cli: CliRunner, engine: Engine, tmp_path: Path) -> None:
    ids = [store(engine, rich_contract(f"se-pool-{i}-2020")) for i in range(2)]
    out = tmp_path / "out"
    result = cli.invoke(main, ["factsheets", *ids, "no-such", "--jobs", "2", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert "wrote 4 fact sheets" in result.output and "no-such: no such contract" in result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{i}-{lang}.pdf" for i in ids for lang in ("sv", "en"))
    for pdf in out.iterdir():
        assert "Örebro" in PdfReader(io.BytesIO(pdf.read_bytes())).pages[0].extract_text()
    with Session(engine) as session:
        cached = session.exec(select(Factsheet.contract_id, Factsheet.lang)).all()
    assert sorted(cached) == sorted((i, lang) for i in ids for lang in ("sv", "en"))
