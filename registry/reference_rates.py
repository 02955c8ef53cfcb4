"""Reference exchange rates and consumer price indices: shipped tables, overrides, traceable conversion.

Two tables, one row per currency and year, each row with its source, the source's address and the date it was
taken (``registry/reference_data/README.md`` says where the shipped ones come from and on what terms):

- exchange rates: units of a currency per euro, the annual mean of the ECB's daily reference rates;
- consumer price indices: annual averages, one series per currency (the price level in which that currency's
  amounts are read).

:class:`RateTable` holds both and answers :meth:`RateTable.fx` (a cross rate through the euro) and
:meth:`RateTable.convert` (an amount of one year's money in another currency and price year, with every step).
:func:`load_rate_table` reads the shipped tables and lays over them the rows stored with ``utfall rates refresh``
(:func:`validate_table_file`, :func:`store_overrides`).

Rules, in one place:

- **Nearest year.** A rate asked for a year the table lacks is taken from the nearest year it has for both
  currencies (the later one on a tie); the quote states the year used.
- **Conversion to constant money.** An amount of year *y* in currency *A*, wanted in currency *B* at the prices
  of year *p*: first converted at the *y* rate (A per euro and B per euro of year *y*), then carried from *y* to
  *p* by *B*'s price index (``index[p] / index[y]``). A currency without a price index is converted without the
  price-year step, and the conversion says so (``adjusted`` is false and a step names what is missing).
- **Exactness.** Rates, indices and amounts are :class:`~decimal.Decimal`; the result is rounded to the target
  currency's minor unit (half to even) only at the end.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from babel.numbers import get_currency_precision
from sqlmodel import Session

from registry.issues import Issue
from registry.services.reference_rates import stored_rows, upsert_rows

__all__ = [
    "FX_COLUMNS", "CPI_COLUMNS", "SHIPPED_DIR", "RatePoint", "RateQuote", "Step", "Conversion", "RateTable",
    "RateTableError", "NoRate", "load_rate_table", "shipped_rate_table", "validate_table_file",
    "store_overrides", "stored_overrides", "reference_fx_for",
]

SHIPPED_DIR = Path(__file__).resolve().parent / "reference_data"
FX_COLUMNS = ("currency", "year", "per_eur", "days", "first_date", "last_date", "source", "source_url", "retrieved")
CPI_COLUMNS = ("currency", "year", "index", "base", "series", "source", "source_url", "retrieved")
_VALUE = {"fx": "per_eur", "cpi": "index"}
_COLUMNS = {"fx": FX_COLUMNS, "cpi": CPI_COLUMNS}
_REQUIRED = {"fx": ("currency", "year", "per_eur", "source", "source_url", "retrieved"),
             "cpi": ("currency", "year", "index", "base", "source", "source_url", "retrieved")}
TableName = Literal["fx", "cpi"]


class NoRate(LookupError):
    """The table has no rate (or no index) for a currency: the message says which."""


class RateTableError(ValueError):
    """A reference-table file that cannot be used; ``issues`` name the file, line and field of each problem."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


@dataclass(frozen=True)
class RatePoint:
    """One row of a table: ``value`` is units per euro (``fx``) or the index level (``cpi``)."""

    table: TableName
    currency: str
    year: int
    value: Decimal
    source: str
    source_url: str
    retrieved: str
    detail: Mapping[str, str] = field(default_factory=dict)
    """The row's other columns (``days``, ``first_date``, ``last_date``; ``base``, ``series``)."""
    overridden: bool = False
    """True when the row was loaded with ``utfall rates refresh`` and replaces the shipped one."""

    @property
    def label(self) -> str:
        """The row's source in a few words, e.g. ``ECB ... annual mean ... , 2025 (255 days)``."""
        days = self.detail.get("days")
        span = f", {self.year} ({days} days to {self.detail.get('last_date')})" if days else f", {self.year}"
        return f"{self.source}{span}"

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values (the figure as exact decimal text)."""
        return {"table": self.table, "currency": self.currency, "year": self.year, "value": str(self.value),
                **self.detail, "source": self.source, "source_url": self.source_url, "retrieved": self.retrieved,
                "overridden": self.overridden}


@dataclass(frozen=True)
class RateQuote:
    """``rate`` units of ``to_currency`` per unit of ``from_currency`` in ``year`` (asked: ``requested_year``)."""

    from_currency: str
    to_currency: str
    requested_year: int | None
    year: int | None
    rate: Decimal
    legs: tuple[RatePoint, ...]
    """The per-euro rows the cross rate is made of (none for a currency to itself, one when either is the euro)."""

    @property
    def nearest(self) -> bool:
        """True when the year used is not the year asked for."""
        return self.requested_year is not None and self.year != self.requested_year

    @property
    def source(self) -> str:
        """Where the rate comes from, in one line (the legs' sources; "same currency" for a currency to itself)."""
        if not self.legs:
            return "same currency"
        sources = dict.fromkeys(p.source for p in self.legs)
        via = " via EUR" if len(self.legs) == 2 else ""
        return f"{'; '.join(sources)}, {self.year}{via}"

    @property
    def overridden(self) -> bool:
        """True when any leg comes from a row loaded with ``utfall rates refresh``."""
        return any(p.overridden for p in self.legs)

    def as_dict(self) -> dict[str, Any]:
        """The quote as JSON-ready values: the rate as exact decimal text, the legs as their rows."""
        return {"from_currency": self.from_currency, "to_currency": self.to_currency,
                "requested_year": self.requested_year, "year": self.year, "rate": str(self.rate),
                "nearest": self.nearest, "source": self.source, "legs": [p.as_dict() for p in self.legs]}


@dataclass(frozen=True)
class Step:
    """One step of a conversion: multiply by ``factor``.

    ``kind`` is ``fx`` (an exchange rate of ``year``), ``cpi`` (``index[to_year] / index[year]`` of
    ``currency``'s price index) or ``no_cpi`` (no index for ``currency``: the amount stays in ``year``'s prices;
    ``factor`` is 1).
    """

    kind: Literal["fx", "cpi", "no_cpi"]
    factor: Decimal
    currency: str
    year: int
    to_year: int | None = None
    points: tuple[RatePoint, ...] = ()
    note: str = ""

    @property
    def source(self) -> str:
        """The sources of the rows this step used, in one line."""
        return "; ".join(dict.fromkeys(p.source for p in self.points))

    def as_dict(self) -> dict[str, Any]:
        """The step as JSON-ready values."""
        return {"kind": self.kind, "factor": str(self.factor), "currency": self.currency, "year": self.year,
                "to_year": self.to_year, "note": self.note, "source": self.source,
                "points": [p.as_dict() for p in self.points]}


@dataclass(frozen=True)
class Conversion:
    """An amount converted to ``to_currency`` at ``price_year`` prices: ``value``, and how (``steps``)."""

    amount: Decimal
    currency: str
    year: int
    to_currency: str
    price_year: int | None
    value: Decimal
    unrounded: Decimal
    steps: tuple[Step, ...]

    @property
    def adjusted(self) -> bool:
        """True when the amount was carried to ``price_year``'s prices (false: no index, or no price year)."""
        return any(s.kind == "cpi" for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        """The conversion and its steps as JSON-ready values (amounts and factors as exact decimal text)."""
        return {"amount": str(self.amount), "currency": self.currency, "year": self.year,
                "to_currency": self.to_currency, "price_year": self.price_year, "value": str(self.value),
                "adjusted": self.adjusted, "steps": [s.as_dict() for s in self.steps]}

    def describe(self) -> str:
        """The conversion in plain English, one line per step (for commands and logs; pages render the steps)."""
        lines = [f"{self.amount} {self.currency} ({self.year})"]
        for s in self.steps:
            if s.kind == "fx":
                lines.append(f"x {_short(s.factor)} ({s.note}, {s.year}; {s.source})")
            elif s.kind == "cpi":
                years = f"{s.to_year}/{s.year}" + (f"; {s.note}" if s.note else "")
                lines.append(f"x {_short(s.factor)} ({s.currency} price index {years}; {s.source})")
            else:
                lines.append(f"({s.note})")
        lines.append(f"= {self.value} {self.to_currency}" + (f" at {self.price_year} prices" if self.adjusted else ""))
        return "\n".join(lines)


def _short(value: Decimal) -> str:
    # Six significant digits: as precise as the ECB's published daily rates.
    return f"{value:.6g}"


def _nearest(years: Iterable[int], wanted: int | None) -> int | None:
    pool = sorted(years)
    if not pool:
        return None
    if wanted is None:
        return pool[-1]
    # Later year wins a tie: -y sorts it first among equal distances.
    return min(pool, key=lambda y: (abs(y - wanted), -y))


class RateTable:
    """Exchange rates per euro and price indices, by currency and year. Pure: no database, no files.

    Parameters
    ----------
    points
        The rows; a later row for the same table, currency and year replaces an earlier one (so overrides are
        passed after the shipped rows).
    """

    def __init__(self, points: Iterable[RatePoint]) -> None:
        self._rows: dict[TableName, dict[str, dict[int, RatePoint]]] = {"fx": {}, "cpi": {}}
        for p in points:
            self._rows[p.table].setdefault(p.currency, {})[p.year] = p

    def currencies(self) -> list[str]:
        """Every currency with an exchange rate, the euro included, sorted."""
        return sorted({"EUR", *self._rows["fx"]})

    def cpi_currencies(self) -> list[str]:
        """Every currency with a price index, sorted."""
        return sorted(self._rows["cpi"])

    def years(self, currency: str, table: TableName = "fx") -> list[int]:
        """The years the table has for ``currency`` (for ``fx``, the euro has every year any currency has)."""
        if table == "fx" and currency == "EUR":
            return sorted({y for rows in self._rows["fx"].values() for y in rows})
        return sorted(self._rows[table].get(currency, {}))

    def points(self, table: TableName | None = None) -> list[RatePoint]:
        """Every row (of one table, or both), by table, currency and year."""
        names: Sequence[TableName] = (table,) if table else ("fx", "cpi")
        return [self._rows[t][c][y] for t in names for c in sorted(self._rows[t]) for y in sorted(self._rows[t][c])]

    def point(self, table: TableName, currency: str, year: int) -> RatePoint | None:
        """The row for exactly this currency and year, or None."""
        return self._rows[table].get(currency, {}).get(year)

    def fx(self, from_currency: str, to_currency: str, year: int | None = None) -> RateQuote:
        """Units of ``to_currency`` per unit of ``from_currency``: the annual mean rate of ``year`` (None: the
        latest year both have), or of the nearest year both have. Raises :class:`NoRate` for a currency the
        table lacks."""
        if from_currency == to_currency:
            return RateQuote(from_currency, to_currency, year, year, Decimal(1), ())
        for cur in (from_currency, to_currency):
            if cur != "EUR" and cur not in self._rows["fx"]:
                raise NoRate(f"no reference exchange rate for {cur}")
        common = set(self.years(from_currency)) & set(self.years(to_currency))
        used = _nearest(common, year)
        if used is None:
            raise NoRate(f"no year with reference rates for both {from_currency} and {to_currency}")
        legs = tuple(self._rows["fx"][c][used] for c in (from_currency, to_currency) if c != "EUR")
        per_eur_from = self._rows["fx"][from_currency][used].value if from_currency != "EUR" else Decimal(1)
        per_eur_to = self._rows["fx"][to_currency][used].value if to_currency != "EUR" else Decimal(1)
        return RateQuote(from_currency, to_currency, year, used, per_eur_to / per_eur_from, legs)

    def convert(self, amount: Decimal, currency: str, year: int, *, to_currency: str,
                price_year: int | None = None) -> Conversion:
        """``amount`` of ``currency`` in ``year`` as ``to_currency`` at ``price_year`` prices (None: ``year``'s).

        The exchange rate of ``year`` (nearest year if missing), then ``to_currency``'s price index from ``year``
        to ``price_year`` (nearest years of the index if missing, stated on the step). Raises :class:`NoRate`
        when there is no exchange rate; a missing index leaves a ``no_cpi`` step instead of failing.
        """
        amount = Decimal(amount)
        steps: list[Step] = []
        quote = self.fx(currency, to_currency, year)
        value = amount * quote.rate
        if currency != to_currency:
            note = f"{to_currency} per {currency}" + (f", nearest year to {year}" if quote.nearest else "")
            steps.append(Step("fx", quote.rate, currency, quote.year or year, points=quote.legs, note=note))
        if price_year is not None and price_year != year:
            steps.append(self._price_step(to_currency, year, price_year))
            value *= steps[-1].factor
        places = get_currency_precision(to_currency)
        rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        return Conversion(amount, currency, year, to_currency, price_year, rounded, value, tuple(steps))

    def _price_step(self, currency: str, year: int, price_year: int) -> Step:
        series = self._rows["cpi"].get(currency)
        if not series:
            return Step("no_cpi", Decimal(1), currency, year, price_year,
                        note=f"no consumer price index for {currency}: amount left in {year} prices")
        start, end = _nearest(series, year), _nearest(series, price_year)
        assert start is not None and end is not None  # a non-empty series has a nearest year
        notes = [f"index {y} for {w}" for y, w in ((start, year), (end, price_year)) if y != w]
        return Step("cpi", series[end].value / series[start].value, currency, start, end,
                    points=(series[start], series[end]), note="; ".join(notes))


# --- reading the tables -------------------------------------------------------------------------------------------

def _table_of(header: Sequence[str]) -> TableName | None:
    cols = set(header)
    for name in ("fx", "cpi"):
        if set(_REQUIRED[name]) <= cols and cols <= set(_COLUMNS[name]):
            return name  # type: ignore[return-value]
    return None


def _check_row(table: TableName, row: Mapping[str, str]) -> tuple[list[tuple[str, str]], RatePoint | None]:
    """Problems of one row as (field, reason), or the row as a point."""
    problems = [(c, "is empty") for c in _REQUIRED[table] if not (row.get(c) or "").strip()]
    if problems:
        return problems, None
    cur, raw_year, raw_value = row["currency"].strip(), row["year"].strip(), row[_VALUE[table]].strip()
    if not (len(cur) == 3 and cur.isascii() and cur.isalpha() and cur.isupper()):
        problems.append(("currency", f"{cur!r} is not a three-letter ISO 4217 code"))
    if cur == "EUR" and table == "fx":
        problems.append(("currency", "EUR is the reference currency (1 per euro): it takes no row"))
    if not (raw_year.isdigit() and 1800 <= int(raw_year) <= 2200):
        problems.append(("year", f"{raw_year!r} is not a year"))
    try:
        value = Decimal(raw_value)
        if not (value.is_finite() and value > 0):
            problems.append((_VALUE[table], f"{raw_value!r} must be a positive number"))
    except InvalidOperation:
        problems.append((_VALUE[table], f"{raw_value!r} is not a number"))
    try:
        date.fromisoformat(row["retrieved"].strip())
    except ValueError:
        problems.append(("retrieved", f"{row['retrieved']!r} is not an ISO date (YYYY-MM-DD)"))
    if not row["source_url"].strip().startswith(("https://", "http://")):
        problems.append(("source_url", f"{row['source_url']!r} is not a web address"))
    if problems:
        return problems, None
    detail = {k: v.strip() for k, v in row.items()
              if k not in ("currency", "year", _VALUE[table], "source", "source_url", "retrieved") and v}
    return [], RatePoint(table, cur, int(raw_year), value, row["source"].strip(), row["source_url"].strip(),
                         row["retrieved"].strip(), detail)


def _at(source: str, line: int) -> str:
    return f"{source}, line {line}"


def parse_table(text: str, source: str) -> tuple[TableName, list[RatePoint]]:
    """Validate a reference table (the shipped CSV format); raise :class:`RateTableError` naming every problem."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    table = _table_of(header)
    if table is None:
        raise RateTableError([Issue(_at(source, 1), "header", "not a reference table: expected the columns "
                                    f"{', '.join(FX_COLUMNS)} (exchange rates) or {', '.join(CPI_COLUMNS)} "
                                    "(price indices)")])
    reader.fieldnames = header
    issues: list[Issue] = []
    points: list[RatePoint] = []
    seen: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            issues.append(Issue(_at(source, line), "", "more cells than columns"))
            continue
        problems, point = _check_row(table, {k: v or "" for k, v in row.items()})
        issues.extend(Issue(_at(source, line), f, reason) for f, reason in problems)
        if point is not None:
            key = (point.currency, str(point.year))
            if key in seen:
                issues.append(Issue(_at(source, line), "year",
                                    f"{point.currency} {point.year} already on line {seen[key]}"))
            seen[key] = line
            points.append(point)
    if not points and not issues:
        issues.append(Issue(_at(source, 1), "", "the file has no rows"))
    if issues:
        raise RateTableError(issues)
    return table, points


def validate_table_file(path: str | Path) -> tuple[TableName, list[RatePoint]]:
    """Read and validate a reference-table file; raise :class:`RateTableError` (file, line, field, reason)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RateTableError([Issue(str(p), "", f"cannot read the file: {exc}")]) from None
    return parse_table(text, str(p))


def _shipped_points() -> list[RatePoint]:
    points: list[RatePoint] = []
    for name in ("fx_annual.csv", "cpi_annual.csv"):
        path = SHIPPED_DIR / name
        points.extend(parse_table(path.read_text(encoding="utf-8"), str(path))[1])
    return points


@functools.cache
def _shipped() -> tuple[RatePoint, ...]:
    # Read once per process: the shipped files change only with the package.
    return tuple(_shipped_points())


@functools.cache
def shipped_rate_table() -> RateTable:
    """The tables shipped with the package, without overrides (one instance per process: a table is never
    changed after it is built)."""
    return RateTable(_shipped())


# --- overrides in the database ------------------------------------------------------------------------------------

def stored_overrides(*, session: Session) -> list[RatePoint]:
    """The rows loaded with ``utfall rates refresh``, as points marked ``overridden``."""
    out = []
    for rec in stored_rows(session=session):
        table: TableName = "cpi" if rec.table_name == "cpi" else "fx"
        problems, point = _check_row(table, rec.row)
        if point is None:
            raise RateTableError([Issue(f"reference_rate {rec.table_name} {rec.currency} {rec.year}", f, r)
                                  for f, r in problems])
        out.append(dataclasses.replace(point, overridden=True))
    return out


def store_overrides(table: TableName, points: Sequence[RatePoint], *, source: str, session: Session) -> int:
    """Store validated rows as overrides (replacing stored rows of the same table, currency and year) in the
    caller's transaction; returns how many rows."""
    rows = [{"currency": p.currency, "year": str(p.year), _VALUE[table]: str(p.value), "source": p.source,
             "source_url": p.source_url, "retrieved": p.retrieved, **p.detail} for p in points]
    return upsert_rows(table, rows, source=source, session=session)


def load_rate_table(*, session: Session | None = None) -> RateTable:
    """The shipped tables with the database's overrides laid over them (without a session: shipped only): an
    exchange-rate row replaces the shipped row of its currency and year; price-index rows replace the shipped
    series of their currency whole."""
    if session is None:
        return shipped_rate_table()
    overrides = stored_overrides(session=session)
    if not overrides:
        return shipped_rate_table()
    # A price index is a series on one base: loaded index rows replace the currency's whole shipped series, so a
    # ratio never mixes two bases. Exchange rates stand alone per year and are replaced year by year.
    replaced = {p.currency for p in overrides if p.table == "cpi"}
    kept = [p for p in _shipped() if not (p.table == "cpi" and p.currency in replaced)]
    return RateTable([*kept, *overrides])


def reference_fx_for(currencies: Iterable[str], base: str, *, year: int | None = None,
                     session: Session | None = None, table: RateTable | None = None) -> dict[str, RateQuote]:
    """The reference rate, in ``base`` per unit, of each currency the table has (``year`` None: the latest year);
    a currency without a reference rate is left out (the caller says "no reference rate")."""
    rates = table or load_rate_table(session=session)
    out = {}
    for cur in sorted(set(currencies)):
        try:
            out[cur] = rates.fx(cur, base, year)
        except NoRate:
            continue
    return out
