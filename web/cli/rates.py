"""``utfall rates``: the reference exchange rates and price indices in force, and loading new ones from a file."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from registry import db
from registry.reference_rates import (
    NoRate,
    RatePoint,
    RateTableError,
    load_rate_table,
    store_overrides,
    validate_table_file,
)
from web.cli.common import echo_json


@click.group("rates")
def rates_group() -> None:
    """Reference exchange rates (per euro, annual means) and consumer price indices, with their sources."""


@rates_group.command("refresh")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def refresh_command(file: Path) -> None:
    """Load FILE, a CSV in the shipped format (exchange rates or price indices), as overrides of the shipped
    table: every row is checked first; on any error nothing is written."""
    try:
        table, points = validate_table_file(file)
    except RateTableError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        raise click.ClickException(f"{file}: {len(exc.issues)} problem(s); nothing was written") from None
    with db.session_scope() as session:
        count = store_overrides(table, points, source=str(file), session=session)
    currencies = ", ".join(sorted({p.currency for p in points}))
    if table == "fx":
        click.echo(f"{count} exchange-rate row(s) stored from {file} ({currencies}); they override the shipped "
                   "rows of the same currency and year")
    else:
        click.echo(f"{count} price-index row(s) stored from {file}; they replace the shipped index series of "
                   f"{currencies} (a series is on one base)")


def _summary(points: list[RatePoint]) -> dict[str, object]:
    latest = points[-1]
    return {"currency": latest.currency, "first_year": points[0].year, "last_year": latest.year,
            "latest": str(latest.value), "latest_detail": dict(latest.detail), "source": latest.source,
            "source_url": latest.source_url, "retrieved": latest.retrieved,
            "overridden_years": [p.year for p in points if p.overridden]}


@rates_group.command("list")
@click.option("--currency", help="Show every year of one currency instead of a line per currency.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(currency: str | None, as_json: bool) -> None:
    """Show the rates and indices in force (shipped, or overridden by ``utfall rates refresh``) with sources."""
    with db.session_scope() as session:
        table = load_rate_table(session=session)
    if currency:
        rows = [p for p in table.points() if p.currency == currency.upper()]
        if not rows:
            raise click.ClickException(f"no reference rate or price index for {currency.upper()}")
        if as_json:
            echo_json([{"table": p.table, "year": p.year, "value": str(p.value), **p.detail, "source": p.source,
                        "source_url": p.source_url, "retrieved": p.retrieved, "overridden": p.overridden}
                       for p in rows])
            return
        for p in rows:
            what = "per EUR" if p.table == "fx" else "price index"
            mark = " (override)" if p.overridden else ""
            click.echo(f"{p.table:3} {p.year} {p.value} {what}{mark}  {p.label}  {p.source_url}")
        return
    summary = {name: [_summary([p for p in table.points(name) if p.currency == c])
                      for c in sorted({p.currency for p in table.points(name)})] for name in ("fx", "cpi")}
    if as_json:
        echo_json(summary)
        return
    click.echo("Exchange rates (units per EUR, annual mean of the year):")
    for s in summary["fx"]:
        click.echo(f"  {s['currency']} {s['first_year']}-{s['last_year']}  {s['last_year']}: {s['latest']}"
                   f"{_overridden(s)}  {s['source']}")
    click.echo("Consumer price indices (annual average):")
    for s in summary["cpi"]:
        click.echo(f"  {s['currency']} {s['first_year']}-{s['last_year']}  {s['last_year']}: {s['latest']}"
                   f"{_overridden(s)}  {s['source']}")
    fx_only = sorted(set(table.currencies()) - set(table.cpi_currencies()))
    click.echo(f"No price index (converted without price-year adjustment): {', '.join(fx_only)}")


@rates_group.command("convert")
@click.argument("amount")
@click.argument("currency")
@click.argument("year", type=int)
@click.option("--to", "to_currency", required=True, help="Target currency (ISO 4217).")
@click.option("--price-year", type=int, help="Express the result at this year's prices (the target's price index).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the result and every step with its sources.")
def convert_command(amount: str, currency: str, year: int, to_currency: str, price_year: int | None,
                    as_json: bool) -> None:
    """Convert AMOUNT of CURRENCY in YEAR, showing each step: the exchange rate of YEAR, then the target's price
    index from YEAR to --price-year."""
    try:
        value = Decimal(amount.replace(" ", "").replace("_", ""))
    except InvalidOperation:
        raise click.BadParameter(f"{amount!r} is not a number", param_hint="AMOUNT") from None
    with db.session_scope() as session:
        table = load_rate_table(session=session)
    try:
        conversion = table.convert(value, currency.upper(), year, to_currency=to_currency.upper(),
                                   price_year=price_year)
    except NoRate as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(conversion.as_dict())
    else:
        click.echo(conversion.describe())


def _overridden(summary: dict[str, object]) -> str:
    years = summary["overridden_years"]
    return f" (overridden: {', '.join(map(str, years))})" if years else ""  # type: ignore[call-overload]
