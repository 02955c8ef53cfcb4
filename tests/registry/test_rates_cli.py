"""``utfall rates refresh`` and ``utfall rates list`` against the test database."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import Session, select

from registry.models import ReferenceRate
from registry.reference_rates import CPI_COLUMNS, FX_COLUMNS
from web.cli import main

GOOD_FX = (",".join(FX_COLUMNS) + "\n"
           "SEK,2025,11.25,250,2025-01-02,2025-12-30,Test bank,https://bank.example/rates,2026-12-01\n"
           "XOF,2025,655.957,,,,Test bank,https://bank.example/rates,2026-12-01\n")
GOOD_CPI = (",".join(CPI_COLUMNS) + "\n"
            "SEK,2024,100,2024,KPI test series,Test office,https://stats.example/kpi,2026-12-01\n"
            "SEK,2025,103.5,2024,KPI test series,Test office,https://stats.example/kpi,2026-12-01\n")


def test_refresh_stores_overrides_and_list_shows_them(cli: CliRunner, tmp_path: Path, session: Session) -> None:
    fx_file, cpi_file = tmp_path / "fx.csv", tmp_path / "cpi.csv"
    fx_file.write_text(GOOD_FX, encoding="utf-8")
    cpi_file.write_text(GOOD_CPI, encoding="utf-8")
    result = cli.invoke(main, ["rates", "refresh", str(fx_file)])
    assert result.exit_code == 0, result.output
    assert "2 exchange-rate row(s) stored" in result.output and "SEK, XOF" in result.output
    loaded = cli.invoke(main, ["rates", "refresh", str(cpi_file)])
    assert loaded.exit_code == 0 and "replace the shipped index series of SEK" in loaded.output
    rows = session.exec(select(ReferenceRate)).all()
    assert sorted((r.table_name, r.currency, r.year) for r in rows) == [
        ("cpi", "SEK", 2024), ("cpi", "SEK", 2025), ("fx", "SEK", 2025), ("fx", "XOF", 2025)]
    listed = cli.invoke(main, ["rates", "list", "--json"])
    data = json.loads(listed.output)
    sek = next(s for s in data["fx"] if s["currency"] == "SEK")
    assert sek["overridden_years"] == [2025] and sek["first_year"] == 1999
    # Index rows replace the currency's whole shipped series (one base), exchange rates only their year.
    sek_cpi = next(s for s in data["cpi"] if s["currency"] == "SEK")
    assert (sek_cpi["first_year"], sek_cpi["overridden_years"]) == (2024, [2024, 2025])
    text = cli.invoke(main, ["rates", "list"]).output
    assert "SEK 2024-2025  2025: 103.5 (overridden: 2024, 2025)  Test office" in text
    one = cli.invoke(main, ["rates", "list", "--currency", "sek"]).output
    assert "fx  2025 11.25 per EUR (override)  Test bank" in one
    assert "https://bank.example/rates" in one


def test_refresh_of_a_bad_file_writes_nothing(cli: CliRunner, tmp_path: Path, session: Session) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD_FX + "NOK,2025,zero,,,,Test bank,https://bank.example/rates,2026-12-01\n",
                   encoding="utf-8")
    result = cli.invoke(main, ["rates", "refresh", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}, line 4: per_eur: 'zero' is not a number" in result.output
    assert "nothing was written" in result.output
    assert session.exec(select(ReferenceRate)).all() == []
    missing = cli.invoke(main, ["rates", "refresh", str(tmp_path / "none.csv")])
    assert missing.exit_code == 1 and "cannot read the file" in missing.output
    assert cli.invoke(main, ["rates", "list", "--currency", "XYZ"]).exit_code == 1


def test_convert_shows_every_step_with_its_source(cli: CliRunner) -> None:
    result = cli.invoke(main, ["rates", "convert", "1 000 000", "gbp", "2012", "--to", "SEK",
                               "--price-year", "2020", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [s["kind"] for s in data["steps"]] == ["fx", "cpi"]
    fx_step, cpi_step = data["steps"]
    assert fx_step["year"] == 2012 and [p["currency"] for p in fx_step["points"]] == ["GBP", "SEK"]
    assert "ECB" in fx_step["source"] and "World Bank" in cpi_step["source"]
    expected = Decimal(1_000_000) * Decimal(fx_step["factor"]) * Decimal(cpi_step["factor"])
    assert Decimal(data["value"]) == expected.quantize(Decimal("0.01"))
    text = cli.invoke(main, ["rates", "convert", "100", "USD", "2020", "--to", "EUR", "--price-year", "2023"])
    assert "EUR price index 2023/2020" in text.output and "at 2023 prices" in text.output
    missing = cli.invoke(main, ["rates", "convert", "100", "XOF", "2020", "--to", "SEK"])
    assert missing.exit_code == 1 and "no reference exchange rate for XOF" in missing.output
    assert cli.invoke(main, ["rates", "convert", "ten", "SEK", "2020", "--to", "EUR"]).exit_code == 2
