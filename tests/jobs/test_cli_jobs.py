"""The commands: factsheet, factsheets, reminders, jobs."""

from __future__ import annotations

import io
import json
from pathlib import Path

from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import Engine

from tests.factsheets.conftest import rich_contract
from tests.jobs.test_jobs import store
from tests.jobs.test_reminders import planned_contract
from web.cli import main


def test_factsheet_command_writes_a_pdf(cli: CliRunner, engine: Engine, tmp_path: Path) -> None:
    contract_id = store(engine, rich_contract())
    out = tmp_path / "sheet.pdf"
    result = cli.invoke(main, ["factsheet", contract_id, "--lang", "en", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text()
    assert "Fact sheet" in text and "Örebro" in text
    missing = cli.invoke(main, ["factsheet", "no-such", "-o", str(tmp_path / "x.pdf")])
    assert missing.exit_code == 1 and "no contract" in missing.output


def test_factsheets_command_writes_every_contract_in_both_languages(
    cli: CliRunner, engine: Engine, tmp_path: Path
) -> None:
    a = store(engine, rich_contract("se-a-2020"))
    b = store(engine, rich_contract("se-b-2020"))
    result = cli.invoke(main, ["factsheets", "--all", "-o", str(tmp_path / "out"), "--progress"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"{a}-en.pdf", f"{a}-sv.pdf", f"{b}-en.pdf", f"{b}-sv.pdf"]
    assert "4/4" in result.output  # the progress bar (CliRunner mixes stderr into the output)
    assert cli.invoke(main, ["factsheets", "-o", str(tmp_path / "x")]).exit_code == 1  # neither ids nor --all


def test_reminders_command(cli: CliRunner, engine: Engine) -> None:
    store(engine, planned_contract())
    result = cli.invoke(main, ["reminders", "--date", "2023-06-20"])
    assert result.exit_code == 0, result.output
    assert "Mätning av kostnader" in result.output and "insatsråd" in result.output
    data = json.loads(cli.invoke(main, ["reminders", "--date", "2023-06-20", "--json"]).output)
    assert [r["date_text"] for r in data][:2] == ["2023-06-30", "2023-07-01"]
    assert "nothing due" in cli.invoke(main, ["reminders", "--date", "2030-01-01"]).output


def test_jobs_command_runs_and_lists(cli: CliRunner, engine: Engine) -> None:
    assert "no job runs recorded yet" in cli.invoke(main, ["jobs"]).output
    store(engine, rich_contract())
    ran = cli.invoke(main, ["jobs", "--run", "reminders"])
    assert ran.exit_code == 0 and "reminders: success" in ran.output
    listed = json.loads(cli.invoke(main, ["jobs", "--json"]).output)
    assert listed[0]["job"] == "reminders" and listed[0]["status"] == "success" and listed[0]["finished_at"]
    assert cli.invoke(main, ["jobs", "--run", "nope"]).exit_code == 1
