"""The contract page validates and merges a contract's document once per content, not once per request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from registry.indigo import merge
from tests.web.conftest import sample_document


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Ids of the display documents built (validated and merged) from the database while the test runs."""
    built: list[str] = []
    real = merge._build_display_document

    def counted(*, session: Any, contract_id: str) -> Any:
        built.append(contract_id)
        return real(session=session, contract_id=contract_id)

    monkeypatch.setattr(merge, "_build_display_document", counted)
    monkeypatch.setattr(merge, "_display_cache", type(merge._display_cache)())
    return built


def test_contract_page_builds_its_document_once(client: FlaskClient, add_contract: Callable[..., str],
                                                builds: list[str]) -> None:
    contract_id = add_contract()
    for lang in ("sv", "en", "sv"):
        response = client.get(f"/contracts/{contract_id}?lang={lang}")
        assert response.status_code == 200
    assert builds == [contract_id]


def test_an_edited_contract_is_shown_as_edited(client: FlaskClient, add_contract: Callable[..., str],
                                               builds: list[str]) -> None:
    data = sample_document()
    contract_id = add_contract(data)
    assert client.get(f"/contracts/{contract_id}?lang=en").status_code == 200
    data["identity"]["names"]["en"] = "A renamed contract for the cache test"
    add_contract(data)
    page = client.get(f"/contracts/{contract_id}?lang=en").get_data(as_text=True)
    assert "A renamed contract for the cache test" in page
    assert builds == [contract_id, contract_id]


def test_an_unknown_contract_is_still_missing(client: FlaskClient, builds: list[str]) -> None:
    assert client.get("/contracts/no-such-contract").status_code == 404
    assert builds == []
