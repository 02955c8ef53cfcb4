"""One listing query: for the same filter and sort, ``utfall contracts list``, the registry page and the API select
the same contracts in the same order (registry.services.contracts.list_contracts behind all three)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session

from registry.indigo.importer import import_export
from web.cli import main

ROOT = Path(__file__).resolve().parents[2]
INDIGO_SAMPLE = ROOT / "tests" / "data" / "indigo-sample" / "2025-12"

# (name, {filter: value}); keys as the page and the API spell them, "q" being the CLI's --search.
FILTERS = [
    ("everything", {}),
    ("sector", {"sector": "health"}),
    ("country", {"country": "SE"}),
    ("country in lower case", {"country": "us"}),
    ("stage", {"stage": "complete"}),
    ("text", {"q": "kommun"}),
    ("two words", {"q": "social impact"}),
    ("a Swedish word for an outcome", {"q": "återfall"}),
    ("a Swedish word for a sector", {"q": "hälsa"}),
    ("INDIGO", {"origin": "indigo"}),
    ("curated", {"origin": "curated"}),
    ("curated health in the US", {"origin": "curated", "sector": "health", "country": "US"}),
    ("nothing matches", {"country": "ZZ"}),
]
SORTS = [("name", False), ("name", True), ("id", False), ("year", True), ("capital", False), ("country", False)]


@pytest.fixture
def registry(seeded: list[str], engine: Engine) -> None:
    """The seed contracts and a seven-project INDIGO sample (three of them seed contracts)."""
    with Session(engine) as session:
        import_export(INDIGO_SAMPLE, session=session)
        session.commit()


def cli_ids(cli: CliRunner, filters: dict[str, str], sort: str, descending: bool) -> list[str]:
    args = ["contracts", "list", "--json", "--sort", sort] + (["--desc"] if descending else [])
    for key, value in filters.items():
        args += ["--search" if key == "q" else f"--{key}", value]
    result = cli.invoke(main, args)
    assert result.exit_code == 0, result.output
    return [item["id"] for item in json.loads(result.output)["contracts"]]


def page_ids(client: FlaskClient, filters: dict[str, str], sort: str, descending: bool) -> list[str]:
    query = {**filters, "lang": "en", "sort": sort, **({"dir": "desc"} if descending else {})}
    html = client.get("/contracts", query_string=query).get_data(as_text=True)
    assert 'class="pager"' not in html or "page=2" not in html, "the test's selections fit on one page"
    return re.findall(r'<td><a href="/contracts/([\w-]+)">', html)


def api_ids(client: FlaskClient, filters: dict[str, str], sort: str, descending: bool) -> list[str]:
    query = {**filters, "sort": sort, "desc": str(descending).lower(), "limit": 500}
    response = client.get("/api/v1/contracts", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["total"] == len(body["items"])
    return [item["id"] for item in body["items"]]


@pytest.mark.parametrize("filters", [f for _name, f in FILTERS], ids=[name for name, _f in FILTERS])
def test_cli_page_and_api_list_the_same_contracts(registry: None, cli: CliRunner, client: FlaskClient,
                                                   filters: dict[str, str]) -> None:
    everything = cli_ids(cli, {}, "id", False)
    assert len(everything) == 20  # 16 seed contracts, 7 INDIGO projects of which 3 are seed contracts
    for sort, descending in SORTS:
        from_cli = cli_ids(cli, filters, sort, descending)
        assert page_ids(client, filters, sort, descending) == from_cli, (sort, descending)
        assert api_ids(client, filters, sort, descending) == from_cli, (sort, descending)
    if filters.get("country") == "ZZ":
        assert from_cli == []
    elif filters:
        assert 0 < len(from_cli) < len(everything), "each filter selects some contracts, not all"
