"""The ``utfall`` command: one click group, every command registered below in one list.

One module per command group:

- ``web.cli.contracts``: ``seed``, ``validate``, ``contracts list/show``, ``payout``
- ``web.cli.indigo``: ``import indigo``, ``export``, ``market``
- ``web.cli.portfolios``: ``simulate``, ``stress``
- ``web.cli.rates``: ``rates refresh/list``
- ``web.cli.backtest``: ``backtest``
- ``web.cli.jobs``: ``scheduler``, ``jobs``, ``factsheet``, ``factsheets``, ``reminders``
- ``web.cli.users``: ``users create/password/list``
- ``web.cli.serve``: ``serve``

``utfall --help`` imports all of them, so they import the heavy libraries (pandas, scipy, WeasyPrint) and the
engine only inside the commands that need them (tests/web/test_startup_imports.py checks this).
"""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy.exc import DBAPIError

from web.cli.backtest import backtest_command
from web.cli.common import safe_database_url
from web.cli.contracts import contracts_group, payout_command, seed_command, validate_command
from web.cli.indigo import export_command, import_group, market_command
from web.cli.jobs import factsheet_command, factsheets_command, jobs_command, reminders_command, scheduler_command
from web.cli.portfolios import simulate, stress
from web.cli.rates import rates_group
from web.cli.serve import serve_command
from web.cli.users import users_group


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


COMMANDS: tuple[click.Command, ...] = (
    # the registry
    seed_command, validate_command, contracts_group, payout_command,
    # the INDIGO dataset
    import_group, export_command, market_command,
    # portfolios and the back-test
    simulate, stress, backtest_command,
    # reference exchange rates and price indices
    rates_group,
    # the web app, its users, fact sheets and scheduled jobs
    serve_command, users_group,
    factsheet_command, factsheets_command, scheduler_command, reminders_command, jobs_command,
)
for _command in COMMANDS:
    main.add_command(_command)
