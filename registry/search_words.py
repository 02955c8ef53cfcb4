"""Bilingual search: the English and Swedish words a registry search word stands for.

The words are data: ``registry/catalogue/search_words.yaml`` (policy sectors and party roles) and the outcome
categories' words in ``registry/catalogue/outcome_categories.yaml``. A query word *matches* an entry when it is
one of the entry's words, the beginning of one (at least four letters: "återfal"), or begins with one of at
least four letters ("återfallet"); it then stands for every word of the entry in both languages, and a sector's
words also for the sector itself. :func:`expand` gives that reading to the one listing query
(``registry.services.contracts.list_contracts``), so "återfall" finds what "recidivism" finds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from registry.outcome_categories import CatalogueError, outcome_categories
from registry.schema import PolicySector, Role, Strict
from registry.yaml_input import YamlInputError, read_yaml_file

SEARCH_WORDS = Path(__file__).parent / "catalogue" / "search_words.yaml"
MIN_PART = 4  # the shortest part of a word that is read as the word (shorter ones only when whole)


class _Words(Strict):
    en: list[str] = Field(min_length=1)
    sv: list[str] = Field(min_length=1)


class _SearchWords(Strict):
    schema_: Literal["utfall-search-words/1"] = Field(alias="schema")
    sectors: dict[PolicySector, _Words]
    roles: dict[Role, _Words]


@dataclass(frozen=True)
class Entry:
    """One sector, role or outcome category with its words in both languages (lower case)."""

    kind: Literal["sector", "role", "category"]
    id: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Expansion:
    """What a query word stands for: words to look for in a contract's search text, and policy sectors."""

    words: tuple[str, ...]
    sectors: tuple[str, ...]


def load_search_words(path: Path = SEARCH_WORDS) -> tuple[Entry, ...]:
    """The sectors' and roles' entries of the file at ``path``.

    Raises :class:`CatalogueError` naming the file, the field and the reason when the file is malformed.
    """
    try:
        data = _SearchWords.model_validate(read_yaml_file(path))
    except (OSError, YamlInputError) as exc:
        raise CatalogueError(f"{path.name}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise CatalogueError(f"{path.name}: {where}: {first['msg']}") from exc
    sectors = [Entry("sector", str(k), _lower(v.en + v.sv)) for k, v in data.sectors.items()]
    roles = [Entry("role", str(k), _lower(v.en + v.sv)) for k, v in data.roles.items()]
    return (*sectors, *roles)


def _lower(words: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w.strip().casefold() for w in words if w.strip()))


@lru_cache(maxsize=1)
def entries() -> tuple[Entry, ...]:
    """Every entry: the shipped sectors and roles, then the outcome categories (read once)."""
    categories = [Entry("category", c.id, _lower(list(c.all_words()))) for c in outcome_categories()]
    return (*load_search_words(), *categories)


def _matches(query: str, word: str) -> bool:
    if query == word:
        return True
    return (len(query) >= MIN_PART and word.startswith(query)) or (len(word) >= MIN_PART and query.startswith(word))


@lru_cache(maxsize=1024)
def expand(word: str) -> Expansion:
    """The words (the query word first) and the sectors ``word`` stands for; just the word when nothing matches."""
    query = word.strip().casefold()
    found = [e for e in entries() if any(_matches(query, w) for w in e.words)]
    words = dict.fromkeys([query, *(w for e in found for w in e.words if len(w) >= MIN_PART or w == query)])
    return Expansion(tuple(words), tuple(e.id for e in found if e.kind == "sector"))
