"""Shared fixtures: a real database (SQLite file by default, PostgreSQL when DATABASE_URL is set).

The schema is built from scratch through the migrations once per test session; every test that asks
for ``session`` or ``db_url`` starts from empty tables.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, make_url, text
from sqlmodel import Session, SQLModel

from registry import db

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def private_postgres_database(server_url: str, suffix: str = "") -> Iterator[str]:
    """A database of this test run's own on the server of ``server_url``, dropped afterwards.

    Test runs started at the same time (several developers, one server) then never see each other's rows.
    """
    url = make_url(server_url)
    name = f"utfall_test_{os.getpid()}{suffix}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        db.dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def db_url_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("DATABASE_URL")
    previous_instance = os.environ.get("UTFALL_INSTANCE")
    os.environ["UTFALL_INSTANCE"] = str(tmp_path_factory.mktemp("instance"))
    with ExitStack() as stack:
        if configured and db.normalise_url(configured).startswith("postgresql"):
            url = stack.enter_context(private_postgres_database(db.normalise_url(configured)))
        elif configured:
            url = db.normalise_url(configured)
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
        os.environ["DATABASE_URL"] = url
        yield url
        _restore("DATABASE_URL", configured)
        _restore("UTFALL_INSTANCE", previous_instance)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


@pytest.fixture(scope="session")
def engine(db_url_session: str) -> Engine:
    eng = db.shared_engine(db_url_session)
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            for table in reversed(SQLModel.metadata.sorted_tables):
                conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}"'))
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.migrate(eng)
    return eng


def empty_all_tables(eng: Engine) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def db_url(engine: Engine, db_url_session: str) -> str:
    """The test database URL, with every table emptied before the test."""
    empty_all_tables(engine)
    return db_url_session


@pytest.fixture
def session(db_url: str, engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


@pytest.fixture
def cli(db_url: str) -> CliRunner:
    """A runner for the ``utfall`` command against the test database."""
    return CliRunner()


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    return ROOT / "seed_contracts"


@pytest.fixture(scope="session")
def swedish() -> Callable[[str], str]:
    """gettext over the web app's Swedish catalogue, for registry code that takes a translator (no Flask)."""
    with (ROOT / "web" / "translations" / "sv" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalogue = read_po(fh)

    def gettext(message: str) -> str:
        entry = catalogue.get(message)
        return entry.string if entry is not None and entry.string else message

    return gettext
