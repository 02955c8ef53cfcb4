"""Reference exchange rates and price indices: the shipped tables, cross rates, the nearest-year rule, conversion
steps, the missing-index case, overrides from the database and the builder that makes the shipped tables."""

from __future__ import annotations

import csv
import sqlite3
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session

from registry.reference_build import bls_annual_cpi, ecb_annual_means, worldbank_chained_cpi, write_table
from registry.reference_rates import (
    CPI_COLUMNS,
    FX_COLUMNS,
    SHIPPED_DIR,
    NoRate,
    RatePoint,
    RateTable,
    RateTableError,
    load_rate_table,
    parse_table,
    reference_fx_for,
    shipped_rate_table,
    store_overrides,
    stored_overrides,
    validate_table_file,
)

ECB = "https://www.ecb.europa.eu/"


def fx(cur: str, year: int, per_eur: str, source: str = "test ECB") -> RatePoint:
    return RatePoint("fx", cur, year, Decimal(per_eur), source, ECB, "2026-12-02")


def cpi(cur: str, year: int, index: str) -> RatePoint:
    return RatePoint("cpi", cur, year, Decimal(index), "test CPI", "https://example.org/cpi", "2026-12-02",
                     {"base": "2000"})


@pytest.fixture
def table() -> RateTable:
    return RateTable([
        fx("SEK", 2020, "10.0"), fx("SEK", 2022, "11.0"), fx("SEK", 2024, "11.5"),
        fx("USD", 2020, "1.25"), fx("USD", 2021, "1.20"), fx("USD", 2022, "1.10"), fx("USD", 2024, "1.00"),
        cpi("USD", 2020, "100"), cpi("USD", 2022, "110"), cpi("USD", 2024, "121"),
    ])


def test_cross_rate_goes_through_the_euro(table: RateTable) -> None:
    q = table.fx("SEK", "USD", 2020)
    assert q.rate == Decimal("1.25") / Decimal("10.0")
    assert q.year == 2020 and not q.nearest
    assert [p.currency for p in q.legs] == ["SEK", "USD"]
    assert q.source == "test ECB, 2020 via EUR"
    assert table.fx("USD", "SEK", 2020).rate == Decimal("8")
    euro = table.fx("EUR", "SEK", 2022)
    assert euro.rate == Decimal("11.0") and len(euro.legs) == 1 and "via" not in euro.source
    same = table.fx("SEK", "SEK", 2021)
    assert same.rate == 1 and same.legs == () and same.source == "same currency"


def test_nearest_year_both_currencies_have(table: RateTable) -> None:
    # 2021: USD has it, SEK does not; 2020 and 2022 are equally near and the later one wins.
    q = table.fx("SEK", "USD", 2021)
    assert (q.year, q.requested_year, q.nearest) == (2022, 2021, True)
    assert q.rate == Decimal("1.10") / Decimal("11.0")
    assert table.fx("SEK", "USD", 1990).year == 2020
    assert table.fx("SEK", "USD", 2030).year == 2024
    latest = table.fx("SEK", "USD")
    assert latest.year == 2024 and not latest.nearest


def test_a_currency_without_rates_says_so(table: RateTable) -> None:
    with pytest.raises(NoRate, match="no reference exchange rate for XOF"):
        table.fx("XOF", "USD", 2020)
    assert "XOF" not in reference_fx_for(["XOF", "SEK"], "USD", table=table)
    assert reference_fx_for(["XOF", "SEK"], "USD", table=table)["SEK"].year == 2024


def test_conversion_steps_rate_then_target_price_index(table: RateTable) -> None:
    c = table.convert(Decimal("1000"), "SEK", 2020, to_currency="USD", price_year=2024)
    assert [s.kind for s in c.steps] == ["fx", "cpi"]
    assert c.steps[0].factor == Decimal("0.125") and c.steps[0].year == 2020
    assert c.steps[1].factor == Decimal("1.21") and (c.steps[1].year, c.steps[1].to_year) == (2020, 2024)
    assert [p.year for p in c.steps[1].points] == [2020, 2024]
    assert c.value == Decimal("151.25") and c.adjusted
    assert "USD price index 2024/2020" in c.describe()
    data = c.as_dict()
    assert (data["value"], data["adjusted"]) == ("151.25", True)
    assert [p["year"] for p in data["steps"][1]["points"]] == [2020, 2024]
    assert data["steps"][0]["points"][0] == {"table": "fx", "currency": "SEK", "year": 2020, "value": "10.0",
                                             "source": "test ECB", "source_url": ECB, "retrieved": "2026-12-02",
                                             "overridden": False}


def test_conversion_rounds_to_the_currency_minor_unit() -> None:
    t = RateTable([fx("JPY", 2020, "120"), fx("SEK", 2020, "7")])
    assert t.convert(Decimal("1"), "EUR", 2020, to_currency="SEK").value == Decimal("7.00")
    yen = t.convert(Decimal("1"), "SEK", 2020, to_currency="JPY")
    assert yen.value == Decimal("17") and yen.unrounded == Decimal(120) / Decimal(7)


def test_price_index_nearest_years_are_stated(table: RateTable) -> None:
    c = table.convert(Decimal("100"), "USD", 2021, to_currency="USD", price_year=2026)
    step = c.steps[0]
    assert (step.kind, step.year, step.to_year) == ("cpi", 2022, 2024)
    assert step.note == "index 2022 for 2021; index 2024 for 2026"
    assert c.value == Decimal("110.00")
    assert "USD price index 2024/2022; index 2022 for 2021; index 2024 for 2026" in c.describe()


def test_missing_price_index_converts_without_adjustment(table: RateTable) -> None:
    c = table.convert(Decimal("100"), "USD", 2020, to_currency="SEK", price_year=2024)
    assert [s.kind for s in c.steps] == ["fx", "no_cpi"]
    assert not c.adjusted
    assert c.value == Decimal("800.00")
    assert "no consumer price index for SEK" in c.steps[1].note
    assert "at 2024 prices" not in c.describe()


def test_shipped_tables_load_with_sources() -> None:
    t = shipped_rate_table()
    assert {"SEK", "USD", "GBP", "DKK", "NOK", "JPY", "AUD", "CAD", "EUR"} <= set(t.currencies())
    assert {"USD", "SEK", "EUR", "GBP", "DKK", "NOK", "JPY", "AUD"} <= set(t.cpi_currencies())
    sek_index = t.point("cpi", "SEK", 2015)
    assert sek_index is not None and sek_index.value == 100 and "FP.CPI.TOTL.ZG, SWE" in sek_index.detail["series"]
    sek = t.point("fx", "SEK", 2024)
    assert sek is not None and sek.source.startswith("ECB euro foreign exchange reference rates")
    assert sek.source_url.startswith("https://www.ecb.europa.eu/") and sek.detail["days"] == "256"
    us = t.point("cpi", "USD", 2020)
    assert us is not None and us.detail["base"] == "1982-84" and "CUUR0000SA0" in us.detail["series"]
    # The shipped files are in exactly the format the refresh command reads.
    for name, columns in (("fx_annual.csv", FX_COLUMNS), ("cpi_annual.csv", CPI_COLUMNS)):
        with (SHIPPED_DIR / name).open(encoding="utf-8") as f:
            assert tuple(next(csv.reader(f))) == columns


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


FX_HEADER = ",".join(FX_COLUMNS) + "\n"


def test_a_bad_file_names_file_line_field_and_reason(tmp_path: Path) -> None:
    bad = _write(tmp_path / "rates.csv", FX_HEADER
                 + "SEK,2025,11.2,250,,,Riksbank,https://www.riksbank.se/,2026-01-05\n"
                 + "sek,20x5,-1,,,,Riksbank,ftp://x,yesterday\n"
                 + "NOK,2025,,,,,,https://x.org,2026-01-05\n"
                 + "SEK,2025,11.3,,,,Riksbank,https://www.riksbank.se/,2026-01-05\n")
    with pytest.raises(RateTableError) as caught:
        validate_table_file(bad)
    found = {(i.source, i.path) for i in caught.value.issues}
    where = f"{bad}, line"
    assert {(f"{where} 3", f) for f in ("currency", "year", "per_eur", "retrieved", "source_url")} <= found
    assert {(f"{where} 4", "per_eur"), (f"{where} 4", "source"), (f"{where} 5", "year")} <= found
    assert any("already on line 2" in i.reason for i in caught.value.issues)
    with pytest.raises(RateTableError, match="not a reference table"):
        parse_table("currency,year,rate\nSEK,2025,1\n", "x.csv")
    with pytest.raises(RateTableError, match="no rows"):
        parse_table(FX_HEADER, "x.csv")


def test_overrides_replace_shipped_rows(session: Session, tmp_path: Path) -> None:
    good = _write(tmp_path / "sek.csv", FX_HEADER
                  + "SEK,2024,99.5,,,,Test bank,https://bank.example/,2026-12-01\n"
                  + "XOF,2024,655.957,,,,Test bank,https://bank.example/,2026-12-01\n")
    name, points = validate_table_file(good)
    assert name == "fx" and store_overrides(name, points, source=str(good), session=session) == 2
    session.commit()
    t = load_rate_table(session=session)
    over = t.point("fx", "SEK", 2024)
    assert over is not None and over.value == Decimal("99.5") and over.overridden
    assert t.fx("SEK", "EUR", 2024).overridden
    assert t.point("fx", "SEK", 2023) == shipped_rate_table().point("fx", "SEK", 2023)
    assert t.fx("XOF", "EUR", 2024).rate == 1 / Decimal("655.957")
    # Storing again replaces, never duplicates.
    store_overrides(name, points[:1], source="again.csv", session=session)
    session.commit()
    assert len(stored_overrides(session=session)) == 2


def _ecb_zip(path: Path) -> Path:
    rows = ["Date,USD,SEK,CYP,", "2025-01-03,1.10,11.0,N/A,", "2025-01-02,1.20,11.5,N/A,",
            "2007-12-31,1.47,9.44,0.5853,"]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("eurofxref-hist.csv", "\n".join(rows) + "\n")
    return path


def test_builder_takes_annual_means_from_the_ecb_file(tmp_path: Path) -> None:
    rows = ecb_annual_means(_ecb_zip(tmp_path / "hist.zip"), origin="test copy", retrieved="2026-12-02")
    by = {(r["currency"], r["year"]): r for r in rows}
    assert set(by) == {("USD", "2025"), ("SEK", "2025"), ("USD", "2007"), ("SEK", "2007"), ("CYP", "2007")}
    assert by[("USD", "2025")]["per_eur"] == "1.15000" and by[("USD", "2025")]["days"] == "2"
    assert (by[("SEK", "2025")]["first_date"], by[("SEK", "2025")]["last_date"]) == ("2025-01-02", "2025-01-03")
    assert "test copy" in by[("CYP", "2007")]["source"]
    out = tmp_path / "fx.csv"
    assert write_table(out, FX_COLUMNS, rows) == 5
    name, points = validate_table_file(out)
    assert name == "fx" and RateTable(points).fx("SEK", "USD", 2025).rate == Decimal("1.15") / Decimal("11.25")


def test_builder_reads_bls_annual_averages(tmp_path: Path) -> None:
    db = tmp_path / "cpi.db"
    with sqlite3.connect(db) as c:
        c.execute("create table series (id text, title text)")
        c.execute("create table indexes (series text, year integer, period text, value real)")
        c.execute("insert into series values ('CUUR0000SA0', 'All items')")
        c.executemany("insert into indexes values ('CUUR0000SA0', ?, ?, ?)",
                      [(2024, "M13", 313.689), (2024, "M01", 308.417), (2025, "M13", 321.943)])
    rows = bls_annual_cpi(db, origin="test", retrieved="2026-12-02")
    assert [(r["year"], r["index"]) for r in rows] == [("2024", "313.689"), ("2025", "321.943")]
    out = tmp_path / "cpi.csv"
    write_table(out, CPI_COLUMNS, rows)
    assert validate_table_file(out)[0] == "cpi"


def test_builder_chains_world_bank_inflation_rates_into_an_index(tmp_path: Path) -> None:
    wb = tmp_path / "cpi.csv"
    wb.write_text("Country,Country Code,Year,CPI\n"
                  "Sweden,SWE,2010,50\n"  # before the gap: not chained
                  "Sweden,SWE,2013,7\nSweden,SWE,2014,1\nSweden,SWE,2015,-1\nSweden,SWE,2016,2\n"
                  "Atlantis,ATL,2016,3\n", encoding="utf-8")
    rows = worldbank_chained_cpi(wb, origin="test", retrieved="2026-12-02", areas={"SEK": "SWE", "XAA": "XXX"})
    got = {r["year"]: Decimal(r["index"]) for r in rows}
    assert set(got) == {"2013", "2014", "2015", "2016"} and {r["currency"] for r in rows} == {"SEK"}
    assert got["2015"] == 100 and got["2016"] == Decimal("102")
    assert got["2014"] == pytest.approx(Decimal(100) / Decimal("0.99"), rel=Decimal("1e-7"))
    assert got["2013"] == pytest.approx(got["2014"] / Decimal("1.01"), rel=Decimal("1e-7"))
    assert rows[0]["base"].startswith("2015") and "SWE" in rows[0]["series"]
    out = tmp_path / "out.csv"
    write_table(out, CPI_COLUMNS, rows)
    table = RateTable(validate_table_file(out)[1])
    step = table.convert(Decimal("100"), "SEK", 2015, to_currency="SEK", price_year=2016).steps[0]
    assert step.kind == "cpi" and step.factor == Decimal("1.02")
