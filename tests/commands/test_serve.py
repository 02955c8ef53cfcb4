"""``utfall serve`` as a new user starts it: an empty database, a real process, a real port."""

from __future__ import annotations

import re
import signal
import urllib.request
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from registry import db
from registry.models import Contract
from tests.commands.conftest import Command, free_port

pytestmark = pytest.mark.slow


def contract_counts(url: str) -> dict[str, int]:
    engine: Engine = create_engine(db.normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Contract.origin, func.count()).group_by(Contract.origin)).all()
    finally:
        engine.dispose()
    return {origin: n for origin, n in rows}


def start_serving(run_utfall: Callable[..., Command], database: str, *flags: str) -> tuple[Command, str]:
    port = free_port()
    command = run_utfall("serve", "--port", str(port), *flags, database=database)
    url = command.wait_for(r"utfall is running at (http://127\.0\.0\.1:\d+/)").group(1)
    assert url == f"http://127.0.0.1:{port}/"
    return command, url


def test_first_start_migrates_seeds_and_loads_indigo_once(run_utfall: Callable[..., Command],
                                                          fresh_database: Callable[[], str]) -> None:
    database = fresh_database()
    first, url = start_serving(run_utfall, database)
    with urllib.request.urlopen(url + "contracts/se-norrkoping-2016?lang=en", timeout=60) as response:
        assert response.status == 200 and "Norrköping" in response.read().decode()
    with urllib.request.urlopen(url + "contracts?origin=indigo&lang=en", timeout=60) as response:
        assert response.status == 200
    assert first.stop(signal.SIGINT) == 0, first.output
    out = first.output
    assert "migrating the database" in out
    assert "loaded 16 seed contracts" in out
    loaded = _number(out, r"loaded (\d+) INDIGO projects")
    counts = contract_counts(database)
    assert counts["curated"] == 16 and counts["indigo"] == loaded
    linked = _number(out, r"\((\d+) linked to seed contracts\)")
    assert loaded + linked == 320  # every project of the bundled export: imported, or feeding a seed contract
    assert f"registry: {16 + loaded} contracts" in out
    assert "utfall users create NAME --role investor" in out  # no user yet: how to make one
    assert out.index("loaded 16 seed contracts") < out.index("utfall is running at")

    second, _ = start_serving(run_utfall, database)
    assert second.stop(signal.SIGINT) == 0, second.output
    assert "migrating" not in second.output and "loaded" not in second.output
    assert f"registry: {16 + loaded} contracts" in second.output
    assert contract_counts(database) == counts


def test_no_seed_and_no_indigo(run_utfall: Callable[..., Command], fresh_database: Callable[[], str]) -> None:
    database = fresh_database()
    bare, _ = start_serving(run_utfall, database, "--no-seed", "--no-indigo")
    assert bare.stop(signal.SIGINT) == 0, bare.output
    assert "loaded" not in bare.output and "registry: 0 contracts" in bare.output
    assert contract_counts(database) == {}

    # Still empty, so the next start is a first start; --no-indigo loads the seeds alone.
    seeds_only, _ = start_serving(run_utfall, database, "--no-indigo")
    assert seeds_only.stop(signal.SIGINT) == 0, seeds_only.output
    assert "loaded 16 seed contracts" in seeds_only.output and "INDIGO" not in seeds_only.output
    assert contract_counts(database) == {"curated": 16}


def _number(text: str, pattern: str) -> int:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in:\n{text}"
    return int(match.group(1))
