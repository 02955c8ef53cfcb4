"""``utfall backtest``: do the payment terms reproduce what happened (see :mod:`registry.backtest`)?"""

from __future__ import annotations

from collections import Counter

import click

from registry import db
from registry.services.contracts import contract_ids as all_contract_ids
from registry.services.contracts import get_contract
from web.cli.common import echo_json

VERDICT_TEXT = {"yes": "yes", "partly": "partly", "no": "no", "unknown": "cannot tell"}


@click.command("backtest")
@click.argument("contract_ids", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON")
@click.option("--calibration", is_flag=True,
              help="Predicted probability of repayment at signing, by bucket, against the realised rate")
def backtest_command(contract_ids: tuple[str, ...], as_json: bool, calibration: bool) -> None:
    """Evaluate each contract's terms on its recorded outcomes and compare with what was paid.

    Without ids: every contract with a recorded realised history.
    """
    # lazy: evaluating terms brings numpy, which 'utfall --help' and the listing commands never need
    from registry.backtest import backtest
    from registry.calibration import calibration_report

    if calibration:
        with db.session_scope() as session:
            report = calibration_report(session=session)
        if as_json:
            echo_json(report.as_dict())
        else:
            click.echo(report.text())
        return
    with db.session_scope() as session:
        ids = list(contract_ids) or all_contract_ids(session=session, backtested_only=True)
        docs = []
        for cid in ids:
            doc = get_contract(session=session, contract_id=cid)
            if doc is None:
                raise click.ClickException(f"no contract with id {cid!r}")
            docs.append(doc)
    results = [backtest(doc, source=f"registry:{doc.id}") for doc in docs]
    if as_json:
        echo_json([r.as_dict() for r in results])
        return
    for doc, result in zip(docs, results, strict=True):
        click.echo(f"{doc.id}: reproduced: {VERDICT_TEXT[result.verdict]}")
        if result.reading:
            click.echo(f"  (alternative reading {result.reading} of the terms)")
        for check in [*result.checks, *result.expected]:
            click.echo(f"  {check.text()}")
        for reason in result.reasons:
            click.echo(f"  cannot tell: {reason.text()}")
        for caveat in result.caveats:
            click.echo(f"  note: {caveat.text()}")
    counts = Counter(r.verdict for r in results)
    click.echo(f"{len(results)} contracts: " + ", ".join(f"{counts[v]} {VERDICT_TEXT[v]}" for v in VERDICT_TEXT))

