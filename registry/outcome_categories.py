"""Outcome categories: one bilingual vocabulary of what contracts pay for, and the rules mapping metrics onto it.

The categories are data, not code: ``registry/catalogue/outcome_categories.yaml`` holds each category's id,
English and Swedish labels and descriptions, search words in both languages, and the regular expressions that
put an outcome metric in it. A metric is categorised by its name (English, then Swedish): categories are tried
in the catalogue's order and the first rule that matches wins. Definitions are not read: they describe how an
outcome is evidenced and mention other outcomes in passing ("...or the child is not placed in care"), which
would put a metric in the wrong category. A metric no rule matches is *unmapped* and stays so: nothing is
guessed from the policy sector.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from registry.schema import PolicySector, Strict
from registry.yaml_input import YamlInputError, read_yaml_file

CATALOGUE = Path(__file__).parent / "catalogue" / "outcome_categories.yaml"
CATALOGUE_SCHEMA = "utfall-outcome-categories/1"
LANGUAGES = ("en", "sv")


class _Texts(Strict):
    en: str = Field(min_length=1, max_length=200)
    sv: str = Field(min_length=1, max_length=200)


class _LongTexts(Strict):
    en: str = Field(min_length=1)
    sv: str = Field(min_length=1)


class _Words(Strict):
    en: list[str] = Field(min_length=1)
    sv: list[str] = Field(min_length=1)


class _Entry(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    policy_sector: PolicySector
    label: _Texts
    description: _LongTexts
    words: _Words
    match: list[str] = Field(min_length=1)

    @field_validator("match")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"match[{i}] is not a regular expression: {exc}") from exc
        return patterns


class _Catalogue(Strict):
    schema_: Literal["utfall-outcome-categories/1"] = Field(alias="schema")
    categories: list[_Entry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> _Catalogue:
        seen: set[str] = set()
        for entry in self.categories:
            if entry.id in seen:
                raise ValueError(f"category id {entry.id!r} is used twice")
            seen.add(entry.id)
        return self


class CatalogueError(ValueError):
    """The catalogue file is unreadable or invalid; the message names the file, the field and the reason."""


@dataclass(frozen=True)
class OutcomeCategory:
    """One category: labels, descriptions and search words per language, and its matching rules."""

    id: str
    policy_sector: str
    labels: Mapping[str, str]
    descriptions: Mapping[str, str]
    words: Mapping[str, tuple[str, ...]]
    rules: tuple[re.Pattern[str], ...]

    def label(self, lang: str) -> str:
        """The label in ``lang`` (``sv`` or ``en``; any other language reads English)."""
        return self.labels.get(lang, self.labels["en"])

    def description(self, lang: str) -> str:
        return self.descriptions.get(lang, self.descriptions["en"])

    def all_words(self) -> tuple[str, ...]:
        """Labels and search words in both languages, for matching a reader's query."""
        return tuple(dict.fromkeys([*self.labels.values(), *(w for lang in LANGUAGES for w in self.words[lang])]))


@dataclass(frozen=True)
class CategoryMatch:
    """Why a metric is in a category: the rule (a pattern of the catalogue) and the name it matched."""

    category: str
    rule: str
    name: str


def load_catalogue(path: Path = CATALOGUE) -> tuple[OutcomeCategory, ...]:
    """The categories of the catalogue at ``path``, in matching order.

    Raises :class:`CatalogueError` naming the file, the field and the reason when the file is malformed.
    """
    try:
        data = read_yaml_file(path)
    except (OSError, YamlInputError) as exc:
        raise CatalogueError(f"{path.name}: {exc}") from exc
    try:
        catalogue = _Catalogue.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        raise CatalogueError(f"{path.name}: {where}: {first['msg']}") from exc
    return tuple(
        OutcomeCategory(
            id=e.id, policy_sector=str(e.policy_sector), labels=e.label.model_dump(),
            descriptions=e.description.model_dump(),
            words={lang: tuple(getattr(e.words, lang)) for lang in LANGUAGES},
            rules=tuple(re.compile(p, re.IGNORECASE) for p in e.match),
        )
        for e in catalogue.categories
    )


@lru_cache(maxsize=1)
def outcome_categories() -> tuple[OutcomeCategory, ...]:
    """The shipped catalogue's categories (read once)."""
    return load_catalogue()


def category_by_id(category_id: str) -> OutcomeCategory | None:
    return next((c for c in outcome_categories() if c.id == category_id), None)


def categorise(names: Iterable[str | None], *,
               categories: tuple[OutcomeCategory, ...] | None = None) -> CategoryMatch | None:
    """The category of a metric with these names (tried in turn, e.g. English then Swedish), or ``None``."""
    cats = outcome_categories() if categories is None else categories
    for name in names:
        if not name:
            continue
        for cat in cats:
            for rule in cat.rules:
                if rule.search(name):
                    return CategoryMatch(cat.id, rule.pattern, name)
    return None


def metric_category(metric: Mapping[str, Any]) -> CategoryMatch | None:
    """The category of an outcome metric as stored in a contract document (a dict), or ``None``."""
    name = metric.get("name") or {}
    return categorise([name.get("en"), name.get("sv")])


def categories_matching(text: str) -> list[str]:
    """Ids of the categories whose label or search words (either language) contain or equal a word of
    ``text``: how a search for "återfall" or "recidivism" finds the reoffending category."""
    query = text.strip().casefold()
    if not query:
        return []
    out = []
    for cat in outcome_categories():
        words = [w.casefold() for w in cat.all_words()]
        if any(query == w or query in w or (len(w) > 3 and w in query) for w in words):
            out.append(cat.id)
    return out
