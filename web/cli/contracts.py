"""Registry commands: ``utfall seed``, ``validate``, ``contracts list/show``, ``payout``."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from registry import db
from registry.contract_summary import describe_contract
from registry.plain_text import amount_text
from registry.schema import MetricKind, document_json
from registry.services.contracts import SORTABLE, ContractFilter, get_contract, list_contracts, reader_name
from web.cli.common import echo_json

# ASCII digits only: float() and Decimal() also read other scripts' digits ("１２３" would be 123).
OUTCOME_NUMBER_RE = re.compile(r"[+-]?(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)"
                               r"(?:[eE][+-]?[0-9]+)?", re.ASCII)
TRUE_WORDS = {"true", "yes", "1", "ja", "sant"}
FALSE_WORDS = {"false", "no", "0", "nej", "falskt"}


def _fail(issues: list[Any]) -> None:
    for issue in issues:
        click.echo(f"error: {issue}", err=True)
    raise SystemExit(1)


@click.command("seed")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def seed_command(paths: tuple[Path, ...]) -> None:
    """Load contract files or folders (default: seed_contracts) into the registry.

    Idempotent: a second run changes nothing; an edited file updates its contract and records the
    change. If any file is invalid, nothing is written.
    """
    from registry.indigo.importer import reconcile_curated  # lazy: brings pandas, which other commands do not need

    # lazy: loading and evaluating terms bring numpy, which 'utfall --help' and 'contracts list' never need
    from registry.loader import SEED_DIR, ContractInputError, load_paths

    targets = list(paths) or [SEED_DIR]
    try:
        with db.session_scope() as session:
            report = load_paths(targets, session=session, actor="seed")
            # An INDIGO import made before these curated files were loaded left INDIGO copies of them.
            replaced = reconcile_curated(session=session)
    except ContractInputError as exc:
        _fail(exc.issues)
    for slug in replaced:
        click.echo(f"  removed INDIGO copy {slug} (now linked to its curated contract)")
    click.echo(
        f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
    )
    for kind in ("created", "updated"):
        for contract_id in getattr(report, kind):
            click.echo(f"  {kind}: {contract_id}")


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_command(paths: tuple[Path, ...]) -> None:
    """Check contract files without writing anything; print every error (exit status 1 on any)."""
    # lazy: loading and evaluating terms bring numpy, which 'utfall --help' and 'contracts list' never need
    from registry.loader import validate_paths

    docs, issues = validate_paths(paths)
    if issues:
        _fail(issues)
    click.echo(f"{len(docs)} contract file(s) valid")


@click.group("contracts")
def contracts_group() -> None:
    """Browse the registry."""


@contracts_group.command("list")
@click.option("--country", help="ISO 3166 country code, e.g. SE")
@click.option("--sector", help="Policy sector, e.g. health")
@click.option("--stage", help="Stage, e.g. complete")
@click.option("--origin", type=click.Choice(["curated", "indigo"]))
@click.option("--search", "text", help="Words in the name, parties or id")
@click.option("--sort", type=click.Choice(list(SORTABLE)), default="id", show_default=True,
              help="Sort key (name: the English name, the Swedish one where there is none)")
@click.option("--desc", "descending", is_flag=True, help="Sort descending")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
def contracts_list(country: str | None, sector: str | None, stage: str | None, origin: str | None,
                   text: str | None, sort: str, descending: bool, as_json: bool) -> None:
    """List contracts, optionally filtered."""
    flt = ContractFilter(text=text, country=country, sector=sector, stage=stage, origin=origin)
    with db.session_scope() as session:
        rows, total = list_contracts(session=session, filters=flt, sort=sort, descending=descending, lang="en")
        items = [
            {
                "id": r.id,
                "name": reader_name(r, "en"),
                "name_sv": r.name_sv,
                "country": r.country,
                "sector": r.policy_sector,
                "stage": r.stage,
                "start_year": r.start_year,
                "currency": r.currency,
                "capital_committed": str(r.capital_committed) if r.capital_committed is not None else None,
                "origin": r.origin,
                "indigo_id": r.indigo_id,
            }
            for r in rows
        ]
    if as_json:
        echo_json({"total": total, "contracts": items})
        return
    if not items:
        click.echo("no contracts match")
        return
    width = max(len(i["id"]) for i in items)
    for item in items:
        capital = f"{item['currency']} {Decimal(item['capital_committed']):,.0f}" if item["capital_committed"] else ""
        click.echo(
            f"{item['id']:<{width}}  {item['country']}  {item['stage']:<26} {item['start_year'] or '':<5} "
            f"{capital:>18}  {item['name']}"
        )
    click.echo(f"{total} contract(s)")


@contracts_group.command("show")
@click.argument("contract_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole document as JSON")
def contracts_show(contract_id: str, as_json: bool) -> None:
    """Show one contract."""
    with db.session_scope() as session:
        doc = get_contract(session=session, contract_id=contract_id)
    if doc is None:
        raise click.ClickException(f"no contract with id {contract_id!r}")
    if as_json:
        echo_json(document_json(doc))
        return
    click.echo(describe_contract(doc))


def parse_outcome(
    text: str, kinds: dict[str, MetricKind], contract_id: str, periods: dict[str, tuple[str, ...]] | None = None
) -> tuple[str, Any]:
    """``NAME=VALUE`` or ``NAME[PERIOD]=VALUE`` → (key, bool or float), checked against the contract's outcome
    metrics and, for a metric measured per period, its period labels."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise click.BadParameter(f"{text!r}: write outcomes as NAME=VALUE or NAME[PERIOD]=VALUE",
                                 param_hint="--outcome")
    name, bracket, label = key.partition("[")
    if bracket:
        label = label.removesuffix("]")
        labels = (periods or {}).get(name)
        if name in kinds and labels is None:
            raise click.ClickException(f"outcome {name!r} is not measured per period; give it as {name}=VALUE")
        if labels is not None and label not in labels:
            raise click.ClickException(f"outcome {name!r} has no period {label!r}; its periods are: "
                                       f"{', '.join(labels)}")
    if name not in kinds:
        known = ", ".join(sorted(kinds)) or "(none)"
        raise click.ClickException(f"contract {contract_id!r} has no outcome {name!r}; its outcomes are: {known}")
    if kinds[name] == MetricKind.BINARY:
        word = raw.lower()
        if word in TRUE_WORDS:
            return key, True
        if word in FALSE_WORDS:
            return key, False
        raise click.ClickException(f"outcome {key!r} is true/false, not {raw!r}")
    if not OUTCOME_NUMBER_RE.fullmatch(raw):
        raise click.ClickException(f"outcome {key!r} needs a number in ASCII digits (e.g. 1250000.5), not {raw!r}")
    value = float(raw.replace("_", ""))
    if not math.isfinite(value):
        raise click.ClickException(f"outcome {key!r} is too large: {raw!r}")
    return key, value


def parse_outcomes(
    texts: tuple[str, ...], kinds: dict[str, MetricKind], contract_id: str,
    periods: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Every ``NAME=VALUE`` / ``NAME[PERIOD]=VALUE``; an outcome given twice is an error rather than the last
    one silently winning."""
    values: dict[str, Any] = {}
    for text in texts:
        key, value = parse_outcome(text, kinds, contract_id, periods)
        if key in values:
            raise click.ClickException(f"outcome {key!r} is given more than once")
        values[key] = value
    return values


@click.command("payout")
@click.argument("contract_id")
@click.option("--outcome", "-o", "outcomes", multiple=True, metavar="NAME=VALUE",
              help="An outcome value; NAME[PERIOD]=VALUE for a metric measured per period or cohort")
@click.option("--reading", type=click.IntRange(min=1), default=None,
              help="Evaluate alternative reading N of the terms (as listed by 'contracts show')")
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
def payout_command(contract_id: str, outcomes: tuple[str, ...], reading: int | None, as_json: bool) -> None:
    """Evaluate a contract's payment terms for given outcomes."""
    # lazy: loading and evaluating terms bring numpy, which 'utfall --help' and 'contracts list' never need
    from registry.terms import OutcomeError, TermsError, compile_terms

    with db.session_scope() as session:
        doc = get_contract(session=session, contract_id=contract_id)
    if doc is None:
        raise click.ClickException(f"no contract with id {contract_id!r}")
    if not doc.payment_terms or not doc.payment_terms.payments:
        raise click.ClickException(f"contract {contract_id!r} has no executable payment terms")
    try:
        compiled = compile_terms(doc, source=f"registry:{contract_id}", reading=reading)
    except TermsError as exc:
        raise click.ClickException(str(exc)) from None
    values = parse_outcomes(outcomes, compiled.metric_kinds, contract_id, compiled.metric_periods)
    given = {k.partition("[")[0] for k in values}
    missing = [n for n in compiled.outcome_names if n not in given]
    if missing:
        keys = [k for k in compiled.outcome_keys if k.partition("[")[0] in missing]
        raise click.ClickException(
            f"missing outcome(s) for {contract_id!r}: {', '.join(missing)} (give each as --outcome NAME=VALUE; "
            f"per period: {', '.join(keys)})" if len(keys) > len(missing) else
            f"missing outcome(s) for {contract_id!r}: {', '.join(missing)} (give each as --outcome NAME=VALUE)"
        )
    try:
        payout = compiled.payout(values)
    except OutcomeError as exc:
        raise click.ClickException(str(exc)) from None
    data = payout.model_dump(mode="json")
    if as_json:
        echo_json(data)
        return
    unit = data.get("amount_unit") or data["currency"]
    click.echo(f"{doc.name('en')} ({contract_id}), amounts in {unit}")
    if reading:
        assert doc.payment_terms is not None
        alternative = doc.payment_terms.alternative_readings[reading - 1]
        click.echo(f"  alternative reading {reading}: {alternative.description}")
    for p in data["payments"]:
        click.echo(f"  {p['id']:<28} {p['component']:<10} {p['payer']} -> {p['payee']}: {amount_text(p['amount'])}")
    click.echo(f"  investor capital     {amount_text(data['investor_capital'])}")
    click.echo(f"  investor repayment   {amount_text(data['investor_repayment'])}")
    if data.get("no_position"):
        click.echo(f"  investors            no position: {data['no_position']}")
    if data.get("multiple") is not None:
        click.echo(f"  multiple             {float(data['multiple']):.3f}")
    if data.get("irr") is not None:
        click.echo(f"  IRR                  {float(data['irr']) * 100:.2f} % a year")

