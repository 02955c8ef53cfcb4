"""Search in either language: a word for a sector, an outcome category or a role finds what its counterpart in
the other language finds, in the one listing query behind the registry page, the API and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from registry.outcome_categories import CatalogueError
from registry.search_words import expand, load_search_words
from tests.web.test_contract_listing import api_ids, cli_ids, page_ids, registry  # noqa: F401 - the fixture


def found(client: FlaskClient, word: str) -> set[str]:
    return set(api_ids(client, {"q": word}, "id", False))


@pytest.mark.parametrize(("swedish", "english"), [
    ("återfall", "recidivism"),          # an outcome category
    ("hemlöshet", "homelessness"),       # a sector
    ("utfallsansvarig", "outcome payer"),  # a role
    ("sjukfrånvaro", "sick leave"),
])
def test_a_swedish_word_finds_what_its_english_counterpart_finds(registry: None, client: FlaskClient,  # noqa: F811
                                                                 swedish: str, english: str) -> None:
    english_hits = found(client, english)
    assert found(client, swedish) >= english_hits
    assert found(client, english) >= english_hits  # and back: the English word finds the Swedish texts too


def test_recidivism_and_återfall_find_contracts_with_either_word(registry: None, client: FlaskClient,  # noqa: F811
                                                                 cli: CliRunner) -> None:
    hits = found(client, "återfall")
    assert "uk-peterborough-2010" in hits and "us-nyc-rikers-2012" in hits  # English texts on reoffending
    assert found(client, "recidivism") == hits
    assert set(cli_ids(cli, {"q": "återfall"}, "id", False)) == hits == set(page_ids(client, {"q": "återfall"},
                                                                                      "id", False))
    assert found(client, "återfall peterborough") == {"uk-peterborough-2010"}  # every word must match


def test_a_sector_word_finds_the_sector(registry: None, client: FlaskClient) -> None:  # noqa: F811
    health = set(api_ids(client, {"sector": "health"}, "id", False))
    assert health and found(client, "hälsa") >= health
    assert expand("hälsa").sectors == ("health",) and "health" in expand("hälsa").words


def test_words_are_matched_whole_or_by_a_part_of_four_letters() -> None:
    assert "recidivism" in expand("återfallet").words  # begins with "återfall"
    assert "recidivism" in expand("återf").words       # the beginning of it
    assert expand("åte").words == ("åte",)             # too short to stand for a word
    assert expand("peterborough").words == ("peterborough",) and expand("peterborough").sectors == ()


def test_a_malformed_word_file_is_named_with_its_field(tmp_path: Path) -> None:
    bad = tmp_path / "search_words.yaml"
    bad.write_text("schema: utfall-search-words/1\nsectors:\n  health: {en: [health]}\nroles: {}\n",
                   encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"search_words.yaml: sectors.health.sv: Field required"):
        load_search_words(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("schema: utfall-search-words/1\nsectors: {farming: {en: [a], sv: [b]}}\nroles: {}\n",
                       encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"unknown.yaml: sectors.farming"):
        load_search_words(unknown)
