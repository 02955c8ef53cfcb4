"""The ``utfall`` command: registry, portfolio and web commands in one group."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import click
from sqlalchemy import func, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select
from werkzeug.serving import make_server

from registry import db
from registry.cli import contracts_group, payout_command, seed_command, validate_command
from registry.cli_backtest import backtest_command
from registry.cli_indigo import export_command, import_group, market_command
from registry.cli_portfolio import simulate, stress
from web.cli_jobs import factsheet_command, factsheets_command, jobs_command, reminders_command, scheduler_command
from web.cli_users import users_group


def safe_database_url() -> str:
    """The configured database URL with its password masked, for messages."""
    url = db.database_url()
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse is shown without anything after a '@'
        return url.rpartition("@")[2]


def one_line_error(exc: BaseException) -> str:
    """What went wrong, in one line: which database could not be reached, or the exception's first line."""
    if isinstance(exc, DBAPIError):
        detail = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        # SQLAlchemy leaves ``statement`` unset when the error came while connecting.
        if exc.statement is None or exc.connection_invalidated:
            return f"cannot reach the database at {safe_database_url()}: {detail}"
        return f"database error at {safe_database_url()}: {detail}"
    lines = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return f"{message} (run 'utfall --debug ...' to see the traceback)"


class UtfallGroup(click.Group):
    """The ``utfall`` group: an unexpected error is one line on stderr and exit status 1, not a traceback
    (``utfall --debug`` lets it through)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(one_line_error(exc)) from None


@click.group(cls=UtfallGroup)
@click.version_option(package_name="utfall")
@click.option("--debug", is_flag=True, help="Show the full traceback of an unexpected error.")
def main(debug: bool) -> None:
    """utfall: the open registry and portfolio engine for social outcomes contracts."""


for _command in (
    seed_command, validate_command, contracts_group, payout_command,
    import_group, export_command, market_command,
    simulate, stress, backtest_command,
    users_group,
    factsheet_command, factsheets_command, scheduler_command, reminders_command, jobs_command,
):
    main.add_command(_command)


def _first_start(session: Session, *, seed: bool, indigo: bool) -> None:
    """Fill an empty registry: the seed contracts, then GO Lab's INDIGO snapshot shipped with the package."""
    from registry.indigo import ATTRIBUTION, BUNDLED_EXPORT, BUNDLED_EXPORT_DATE
    from registry.indigo.importer import import_export
    from registry.loader import SEED_DIR, load_paths

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


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-seed", is_flag=True, help="Do not load the seed contracts into an empty registry.")
@click.option("--no-indigo", is_flag=True, help="Do not load the bundled INDIGO snapshot into an empty registry.")
def serve_command(host: str, port: int, no_seed: bool, no_indigo: bool) -> None:
    """Start the web app on the configured database.

    On the first start (an empty registry) the seed contracts and GO Lab's INDIGO Impact Bond Dataset
    (the snapshot shipped with utfall) are loaded; later starts load nothing.
    """
    from registry.models import Contract, User
    from web import create_app
    from web.portfolios import fail_interrupted_runs

    url = db.database_url()
    click.echo(f"database: {safe_database_url()}")
    engine = db.shared_engine(url)
    if db.needs_migration(engine):
        click.echo("migrating the database to the current schema …")
        db.migrate(engine)
    with db.session_scope(migrate_first=False) as session:
        if session.exec(select(Contract.id).limit(1)).first() is None:
            _first_start(session, seed=not no_seed, indigo=not no_indigo)
        interrupted = fail_interrupted_runs(session=session)
        if interrupted:
            click.echo(f"marked {interrupted} simulation run(s) interrupted by the last stop as failed")
        contracts = session.exec(select(func.count()).select_from(Contract)).one()
        has_user = session.exec(select(User.id).limit(1)).first() is not None
    click.echo(f"registry: {contracts} contracts")
    if not has_user:
        click.echo("no user yet: browsing needs none, but portfolios do. Create one with\n"
                   "  utfall users create NAME --role investor")
    from web.security import instance_secret_key

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
