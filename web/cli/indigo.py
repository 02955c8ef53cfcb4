"""INDIGO commands: ``utfall import indigo [DIR]``, ``utfall export``, ``utfall market``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from registry import db
from registry.indigo.values import ATTRIBUTION, BUNDLED_EXPORT
from registry.market import market_statistics
from registry.plain_text import millions_text


@click.group("import")
def import_group() -> None:
    """Import data from other registries into this one."""


@import_group.command("indigo")
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--label", help="Name of the export in the change history (default: the folder name, e.g. 2025-12).")
@click.option("--json", "as_json", is_flag=True, help="Print the import report as JSON.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
@click.option("--allow-shrink", is_flag=True,
              help="Import even if the registry would lose more than 10% of its INDIGO projects, named contracts "
                   "or parties (refused otherwise, as a sign of a damaged export).")
def import_indigo(directory: Path | None, label: str | None, as_json: bool, progress: bool | None,
                  allow_shrink: bool) -> None:
    """Import an INDIGO Impact Bond Dataset export (GO Lab's CSV download, either file layout).

    Without DIRECTORY, the snapshot shipped with utfall (GO Lab's export of 2025-12-24) is imported; name the
    folder of a newer download from https://golab.bsg.ox.ac.uk/knowledge-bank/indigo/ to import that instead.

    The whole import is one transaction: if it fails, the registry is as it was. Importing the same export
    again changes nothing; a newer export updates what changed and records each change with its label.
    An export missing a required file or column, or with cut-off rows or damaged text, is refused with a
    report naming file, line and column, before anything is written.
    """
    # lazy: the importer and the reader bring pandas, which the other commands do not need
    from registry.indigo.importer import import_export
    from registry.indigo.reader import IndigoReadError

    directory = directory or BUNDLED_EXPORT
    show_bar = sys.stderr.isatty() if progress is None else progress
    bar = None
    try:
        with db.session_scope() as session:
            callback = None
            if show_bar:
                from tqdm import tqdm  # lazy: only a command that shows a progress bar loads it
                bar = tqdm(total=0, unit="project", desc="INDIGO import", file=sys.stderr)

                def callback(done: int, total: int, pid: str) -> None:
                    assert bar is not None
                    bar.total = total
                    bar.update(done - bar.n)
                    bar.set_postfix_str(pid)

            report = import_export(directory, session=session, label=label, progress=callback,
                                   allow_shrink=allow_shrink)
    except IndigoReadError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        click.echo("\n".join(report.summary_lines()))


@click.command("export")
@click.option("--format", "fmt", required=True, type=click.Choice(["indigo-csv", "json", "csv", "xlsx"]))
@click.option("--contract", "contracts", multiple=True, metavar="ID", help="Export only these contracts (repeatable).")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Folder (indigo-csv, csv, json) or file (xlsx, or json ending in .json).")
def export_command(fmt: str, contracts: tuple[str, ...], output: Path) -> None:
    """Export contracts as INDIGO-shaped CSV, JSON documents, or flat CSV/XLSX tables."""
    from registry.indigo.exporter import export_contracts  # lazy: brings pandas (see import_indigo)

    with db.session_scope() as session:
        try:
            result = export_contracts(session=session, fmt=fmt, path=output, contract_ids=list(contracts) or None)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"exported {len(result.contracts)} contract(s) as {fmt} to {output} ({len(result.files)} file(s))")
    click.echo(ATTRIBUTION + " (for the INDIGO facts included)")


@click.command("market")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def market_command(as_json: bool) -> None:
    """The market at a glance: contracts and capital by year, country, sector and stage; repayment base rates."""
    with db.session_scope() as session:
        stats = market_statistics(session=session)
    if as_json:
        click.echo(json.dumps(stats, indent=2, ensure_ascii=False, default=str))
        return
    totals = stats["totals"]
    click.echo(f"{totals['contracts']} contracts ({totals['curated']} curated, {totals['indigo']} from INDIGO) "
               f"in {totals['countries']} countries; capital USD {millions_text(totals['capital_usd'])} "
               f"(known for {totals['with_capital_usd']})")
    for key, title in (("by_year", "year"), ("by_country", "country"), ("by_sector", "policy sector"),
                       ("by_stage", "stage")):
        click.echo(f"\nby {title}:")
        items = stats[key]
        if key == "by_country":
            items = dict(sorted(items.items(), key=lambda kv: -kv[1]["contracts"])[:15])
        for name, row in items.items():
            click.echo(f"  {name:<28}{row['contracts']:>5}  USD {millions_text(row['capital_usd']):>9}")
    click.echo("\ninvestor repayment of completed contracts, by sector (full / partial / none / not known):")
    for sector, row in stats["repayment_by_sector"].items():
        click.echo(f"  {sector:<28}{row['full']:>4}{row['partial']:>4}{row['none']:>4}{row['unknown']:>5}")
    ret = stats["returns"]
    for key in ("target", "realised"):
        r = ret[key]
        if r["n"]:
            click.echo(f"{key} investor return (annual): median {r['median']:.1%}, range {r['min']:.1%} to "
                       f"{r['max']:.1%} (n = {r['n']})")
        else:
            click.echo(f"{key} investor return: no data")
    click.echo(f"\n{stats['attribution']}")

