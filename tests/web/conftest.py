"""Fixtures for the web tests: an app on the real test database, a client, users, contracts.

``app`` is built on the ``db_url`` fixture (empty tables, SQLite or PostgreSQL). CSRF is off by default
so that form tests read simply; tests of CSRF itself use ``csrf_app``/``csrf_client``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session

from registry.models import User


def _make_app(db_url: str, csrf: bool) -> Iterator[Flask]:
    from web import create_app
    from web.extensions import db

    app = create_app({"TESTING": True, "SQLALCHEMY_ENGINES": {"default": db_url}, "WTF_CSRF_ENABLED": csrf,
                      "SECRET_KEY": "test-secret"})
    yield app
    from web.runs import runs

    # Background simulations must be over before the database is emptied for the next test.
    assert runs(app).wait(120), "a simulation run did not finish"
    # Each app owns its engine; release its connections so PostgreSQL does not run out of them.
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """The web app on the (emptied) test database, CSRF checks off."""
    yield from _make_app(db_url, csrf=False)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def csrf_app(db_url: str) -> Iterator[Flask]:
    """The web app with CSRF protection on, as in production."""
    yield from _make_app(db_url, csrf=True)


@pytest.fixture
def csrf_client(csrf_app: Flask) -> FlaskClient:
    return csrf_app.test_client()


@pytest.fixture
def seeded(db_url: str, engine: Engine, seed_dir: Path) -> list[str]:
    """Load the seed contracts into the test database; returns their ids."""
    from registry.loader import load_paths

    assert any(seed_dir.glob("*.yaml")), f"no seed contracts in {seed_dir}"
    with Session(engine) as s:
        report = load_paths([seed_dir], session=s, actor="seed")
        s.commit()
    return report.created


@pytest.fixture
def make_user(db_url: str, engine: Engine) -> Callable[..., User]:
    """Create a user: ``make_user("anna", role="curator", password="...")`` (password defaults to ``PASSWORD``)."""
    from registry.services.users import create_user

    def make(username: str, role: str = "investor", password: str = PASSWORD) -> User:
        with Session(engine) as s:
            user = create_user(session=s, username=username, password=password, role=role)
            s.commit()
            s.refresh(user)
            s.expunge(user)
        return user

    return make


PASSWORD = "correct-horse-battery"


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> None:
    """Log ``client`` in through the login form (asserts that it worked)."""
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.fixture
def login_as(client: FlaskClient, make_user: Callable[..., User]) -> Callable[..., User]:
    """Create a user with ``role`` and log the ``client`` fixture in as them."""

    def do(username: str = "user", role: str = "investor") -> User:
        user = make_user(username, role=role)
        login(client, username)
        return user

    return do


SAMPLE_DOCUMENT: dict[str, Any] = {
    "id": "test-contract",
    "identity": {"names": {"sv": "Testkontraktet i Exempelstad", "en": "The Exempelstad test contract"}},
    "classification": {"country": "SE", "region": "Exempelstad", "policy_sector": "employment_and_training",
                       "sources": ["s1"], "confidence": "verified"},
    "stage": "implementation",
    "dates": {"signed": "2021-03", "service_start": "2021-06-01", "service_end": "2024",
              "sources": ["s1"], "confidence": "secondary"},
    "finance": {
        "currency": "SEK",
        "capital_committed": {"amount": "1234567", "sources": ["s1"], "confidence": "verified"},
        "max_outcome_payment": {"amount": "2500000", "confidence": "unverified"},
    },
    "organisations": [
        {"id": "exempelstad-kommun", "name": "Exempelstads kommun", "type": "local_government", "country": "SE"},
        {"id": "test-investor", "name": "Testinvest AB", "type": "private_company", "country": "SE"},
        {"id": "test-provider", "name": "Hjälp Ideell förening", "type": "non_profit", "country": "SE"},
    ],
    "parties": [
        {"organisation": "exempelstad-kommun", "roles": ["outcome_payer"], "sources": ["s1"],
         "confidence": "verified"},
        {"organisation": "test-investor", "roles": ["investor"], "sources": ["s1"], "confidence": "verified"},
        {"organisation": "test-provider", "roles": ["provider"], "confidence": "unverified"},
    ],
    "outcome_metrics": [
        {"id": "employed", "name": {"sv": "Andel i arbete", "en": "Share in work"}, "kind": "rate",
         "unit": "share", "targets": [{"value": "0.3", "description": "30 % in work"}], "sources": ["s1"],
         "confidence": "secondary"},
    ],
    "sources": [
        {"id": "s1", "title": "Avtal om utfallsfinansiering", "publisher": "Exempelstads kommun", "date": "2021-03",
         "url": "https://example.org/avtal.pdf"},
    ],
}


def sample_document(contract_id: str = "test-contract", **overrides: Any) -> dict[str, Any]:
    """A small valid contract document (a fresh copy); top-level keys in ``overrides`` replace the sample's."""
    data = copy.deepcopy(SAMPLE_DOCUMENT)
    data["id"] = contract_id
    data.update(copy.deepcopy(overrides))
    return data


@pytest.fixture
def add_contract(db_url: str, engine: Engine) -> Callable[..., str]:
    """Write a contract document (a dict, validated as files are) to the test database; returns its id."""
    from registry.loader import parse_document, upsert_contract

    def add(data: dict[str, Any] | None = None, actor: str = "test") -> str:
        doc = parse_document(data if data is not None else sample_document(), "test")
        with Session(engine) as s:
            upsert_contract(doc, session=s, actor=actor, origin_ref="test")
            s.commit()
        return doc.id

    return add
