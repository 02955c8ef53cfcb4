"""The ``utfall`` command: registry, portfolio and web commands in one group."""

from __future__ import annotations

import importlib

import click

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


@click.group()
@click.version_option(package_name="utfall")
def main() -> None:
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
    app = create_app()
    click.echo(f"utfall is running at http://{host}:{port}/  (database: {db.database_url()})")
    app.run(host=host, port=port, threaded=True, use_reloader=False)
