"""Engines, sessions and migrations.

SQLite in the instance folder by default; any SQLAlchemy URL through ``DATABASE_URL``. The schema is
created and changed only through the Alembic migrations in ``registry/migrations``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def instance_path() -> Path:
    """The folder for the default SQLite database and other local state (the fact-sheet cache, translations).

    ``UTFALL_INSTANCE`` when set, else ``instance/`` under the working directory: never inside the installed
    package, which may be read-only site-packages.
    """
    configured = os.environ.get("UTFALL_INSTANCE")
    return Path(configured) if configured else Path.cwd() / "instance"


def default_database_url() -> str:
    return f"sqlite:///{instance_path() / 'utfall.sqlite'}"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written without a driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url() -> str:
    return normalise_url(os.environ.get("DATABASE_URL") or default_database_url())


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    """A new engine for ``url`` (default: :func:`database_url`), creating the SQLite folder if needed."""
    url = normalise_url(url or database_url())
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


_ENGINES: dict[str, Engine] = {}


def shared_engine(url: str) -> Engine:
    """One engine per URL for the life of the process (the CLI and jobs share it)."""
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
    return _ENGINES[url]


def dispose_engines() -> None:
    """Close every pooled connection of the shared engines (tests, process shutdown)."""
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def alembic_config() -> Config:
    # Lazy import for start-up time: Alembic (and Mako) load only when a migration is checked or run.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to ``revision``."""
    from alembic import command  # lazy import for start-up time, as in alembic_config

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def needs_migration(engine: Engine) -> bool:
    """Whether the database's schema is missing or older than the newest migration."""
    # Lazy imports for start-up time, as in alembic_config.
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) != heads


@contextmanager
def session_scope(url: str | None = None, *, migrate_first: bool = True) -> Iterator[Session]:
    """One session for a unit of work: committed when the block succeeds, rolled back when it raises."""
    engine = shared_engine(normalise_url(url or database_url()))
    if migrate_first:
        migrate(engine)
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
