"""``utfall serve``: the web app for one person's use, filling an empty registry on its first start."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import click
from sqlmodel import Session
from werkzeug.serving import make_server

from registry import db
from registry.indigo import ATTRIBUTION, BUNDLED_EXPORT, BUNDLED_EXPORT_DATE
from registry.services.contracts import count_contracts
from registry.services.runs import fail_interrupted_runs
from registry.services.users import any_users
from web import create_app
from web.cli.common import safe_database_url
from web.security import instance_secret_key


def _first_start(session: Session, *, seed: bool, indigo: bool) -> None:
    """Fill an empty registry: the seed contracts, then GO Lab's INDIGO snapshot shipped with the package."""
    from registry.indigo.importer import import_export  # lazy: brings pandas, needed only on the first start
    from registry.loader import SEED_DIR, load_paths  # lazy: brings numpy (terms), needed only on the first start

    if seed:
        click.echo("loading the seed contracts …")
        report = load_paths([SEED_DIR], session=session, actor="seed")
        session.flush()
        click.echo(f"loaded {len(report.created)} seed contracts")
    if indigo:
        click.echo(f"loading the INDIGO Impact Bond Dataset (GO Lab's export of {BUNDLED_EXPORT_DATE}) …")
        started = time.perf_counter()
        indigo_report = import_export(BUNDLED_EXPORT, session=session)
        click.echo(f"loaded {len(indigo_report.created)} INDIGO projects in {time.perf_counter() - started:.0f} s "
                   f"({len(indigo_report.linked)} linked to seed contracts). {ATTRIBUTION}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-seed", is_flag=True, help="Do not load the seed contracts into an empty registry.")
@click.option("--no-indigo", is_flag=True, help="Do not load the bundled INDIGO snapshot into an empty registry.")
def serve_command(host: str, port: int, no_seed: bool, no_indigo: bool) -> None:
    """Start the web app on the configured database.

    On the first start (an empty registry) the seed contracts and GO Lab's INDIGO Impact Bond Dataset
    (the snapshot shipped with utfall) are loaded; later starts load nothing.
    """
    url = db.database_url()
    click.echo(f"database: {safe_database_url()}")
    engine = db.shared_engine(url)
    if db.needs_migration(engine):
        click.echo("migrating the database to the current schema …")
        db.migrate(engine)
    with db.session_scope(migrate_first=False) as session:
        if count_contracts(session=session) == 0:
            _first_start(session, seed=not no_seed, indigo=not no_indigo)
        interrupted = fail_interrupted_runs(session=session)
        if interrupted:
            click.echo(f"marked {interrupted} simulation run(s) interrupted by the last stop as failed")
        contracts = count_contracts(session=session)
        has_user = any_users(session=session)
    click.echo(f"registry: {contracts} contracts")
    if not has_user:
        click.echo("no user yet: browsing needs none, but portfolios do. Create one with\n"
                   "  utfall users create NAME --role investor")
    # A single-user installation need not set UTFALL_SECRET_KEY: a key is made once and kept (mode 0600).
    config = None if os.environ.get("UTFALL_SECRET_KEY") else {"SECRET_KEY": instance_secret_key(db.instance_path())}
    app = create_app(config)
    # SIGTERM (a service manager's stop) ends the server like Ctrl+C: a clean exit, not a traceback.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        server = make_server(host, port, app, threaded=True)  # listening from here on
        click.echo(f"utfall is running at http://{host}:{server.port}/  (Ctrl+C to stop)")
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    click.echo("utfall stopped")


def _raise_keyboard_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt
