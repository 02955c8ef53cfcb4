"""The ``utfall`` command: registry, portfolio and web commands in one group."""

from __future__ import annotations

import importlib
import os
from typing import Any

import click
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError

from registry import db

# Modules exposing ``commands: list[click.Command]``; each area appends its module here.
COMMAND_MODULES = [
    "registry.cli",
    "registry.cli_portfolio",
    "web.cli_users",
    "web.cli_jobs",
    "registry.cli_indigo",
    "registry.cli_backtest",
]


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


for _module in COMMAND_MODULES:
    for _command in importlib.import_module(_module).commands:
        main.add_command(_command)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-seed", is_flag=True, help="Do not load the seed contracts into an empty registry.")
def serve_command(host: str, port: int, no_seed: bool) -> None:
    """Start the web app on the configured database, loading the seed contracts on first start."""
    from registry.loader import SEED_DIR, load_paths, seeded
    from web import create_app
    from web.portfolios import fail_interrupted_runs

    with db.session_scope() as session:
        if not no_seed and not seeded(session):
            report = load_paths([SEED_DIR], session=session, actor="seed")
            click.echo(f"loaded {len(report.created)} seed contracts")
        interrupted = fail_interrupted_runs(session=session)
        if interrupted:
            click.echo(f"marked {interrupted} simulation run(s) interrupted by the last stop as failed")
    from web.security import instance_secret_key

    # A single-user installation need not set UTFALL_SECRET_KEY: a key is made once and kept (mode 0600).
    config = None if os.environ.get("UTFALL_SECRET_KEY") else {"SECRET_KEY": instance_secret_key(db.instance_path())}
    app = create_app(config)
    click.echo(f"utfall is running at http://{host}:{port}/  (database: {db.database_url()})")
    app.run(host=host, port=port, threaded=True, use_reloader=False)
