"""Curator editing: the contract form and the YAML editor, validation next to fields, recorded history."""

from __future__ import annotations

import html
import re

import pytest
import yaml
from sqlmodel import Session, select

from registry.loader import document_json, parse_document
from registry.models import ChangeRecord, Contract
from registry.services.contracts import get_contract
from tests.web.conftest import login, sample_document


@pytest.fixture
def curator(client, make_user):
    make_user("cora-qz", role="curator")
    login(client, "cora-qz")
    return client


def form_of(page: str) -> dict[str, object]:
    """The fields of the edit form as a browser would submit them (selects' chosen options included)."""
    data: dict[str, object] = {}
    for name, value in re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', page):
        data[name] = html.unescape(value)
    for name, body in re.findall(r'<select[^>]*?name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.findall(r'<option value="([^"]*)" selected', body)
        if "multiple" in page.split(f'name="{name}"')[1].split(">")[0]:
            data[name] = [html.unescape(c) for c in chosen]
        elif chosen:
            data[name] = html.unescape(chosen[0])
    for name, body in re.findall(r'<textarea[^>]*?name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        data[name] = html.unescape(body.removeprefix("\n"))  # as a browser reads a textarea
    return data


def test_edit_form_round_trip_changes_nothing(curator, add_contract, engine):
    add_contract()
    page = curator.get("/contracts/test-contract/edit?lang=en").get_data(as_text=True)
    data = form_of(page)
    assert data["identity.names.sv"] == "Testkontraktet i Exempelstad"
    assert data["parties[0].roles"] == ["outcome_payer"]
    response = curator.post("/contracts/test-contract/edit?lang=en", data=data)
    assert response.status_code == 302
    assert "Nothing was changed." in curator.get(response.headers["Location"]).get_data(as_text=True)
    with Session(engine) as s:
        assert len(s.exec(select(ChangeRecord).where(ChangeRecord.contract_id == "test-contract")).all()) == 1


def test_edit_form_saves_and_records_who_and_what(curator, add_contract, engine):
    add_contract()
    data = form_of(curator.get("/contracts/test-contract/edit").get_data(as_text=True))
    data["identity.names.en"] = "Renamed contract"
    data["finance.capital_committed.amount"] = "2 000 000"
    data["stage"] = "complete"
    data["parties[2].roles"] = ["provider", "intermediary"]
    response = curator.post("/contracts/test-contract/edit", data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/contracts/test-contract"
    with Session(engine) as s:
        doc = get_contract(session=s, contract_id="test-contract")
        assert doc is not None
        assert doc.identity.names.en == "Renamed contract"
        assert str(doc.finance.capital_committed.amount) == "2000000"
        assert doc.stage == "complete"
        assert [str(r) for r in doc.parties[2].roles] == ["provider", "intermediary"]
        assert doc.outcome_metrics[0].id == "employed"  # parts without form fields are kept
        record = s.exec(select(ChangeRecord).where(ChangeRecord.kind == "updated")).one()
        assert record.actor == "user:cora-qz" and record.origin_ref == "web form"
        assert {c["path"] for c in record.changes} >= {"identity.names.en", "stage",
                                                        "finance.capital_committed.amount"}
    page = curator.get("/contracts/test-contract?lang=en").get_data(as_text=True)
    history = page[page.index('id="history"'):]
    assert "user:cora-qz" in history and "identity.names.en" in history


def test_form_errors_are_shown_next_to_their_fields(curator, add_contract, engine):
    add_contract()
    data = form_of(curator.get("/contracts/test-contract/edit?lang=en").get_data(as_text=True))
    data["classification.country"] = "Sweden"
    data["dates.signed"] = "2021-13"
    data["finance.capital_committed.amount"] = "lots"
    data["finance.max_outcome_payment.confidence"] = "verified"  # verified needs a source
    response = curator.post("/contracts/test-contract/edit?lang=en", data=data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for path in ("classification.country", "dates.signed", "finance.capital_committed.amount",
                 "finance.max_outcome_payment"):
        assert f'data-path="{path}"' in page, path
    # the error sits right after its own input
    country = page[page.index('name="classification.country"'):]
    assert country.index('data-path="classification.country"') < country.index("</div>")
    assert 'value="Sweden"' in page  # the reader's input is kept
    with Session(engine) as s:  # nothing was written
        row = s.get(Contract, "test-contract")
        assert row is not None and row.country == "SE"


def test_cross_reference_errors_point_at_the_row(curator, add_contract):
    add_contract()
    data = form_of(curator.get("/contracts/test-contract/edit").get_data(as_text=True))
    data["parties[1].organisation"] = "no-such-org"
    response = curator.post("/contracts/test-contract/edit", data=data)
    assert response.status_code == 422
    assert 'data-path="parties[1].organisation"' in response.get_data(as_text=True)


def test_form_error_on_a_row_after_a_removed_row_points_at_the_right_row(curator, add_contract):
    add_contract()
    data = form_of(curator.get("/contracts/test-contract/edit").get_data(as_text=True))
    data["parties[0].organisation"] = ""  # removes the first party
    data["parties[2].confidence"] = "verified"  # no sources: an error on the third form row
    page = curator.post("/contracts/test-contract/edit", data=data).get_data(as_text=True)
    assert 'data-path="parties[2]"' in page


def test_new_contract_through_the_form(curator, engine):
    page = curator.get("/contracts/new?lang=en").get_data(as_text=True)
    data = form_of(page)
    data.update({"id": "se-malmo-2025", "identity.names.sv": "Malmö-kontraktet", "classification.country": "SE",
                 "classification.policy_sector": "health", "stage": "design", "finance.currency": "SEK",
                 "organisations[0].id": "malmo-stad", "organisations[0].name": "Malmö stad",
                 "organisations[0].type": "local_government", "parties[0].organisation": "malmo-stad",
                 "parties[0].roles": ["outcome_payer"], "sources[0].id": "beslut",
                 "sources[0].title": "Kommunfullmäktiges beslut", "parties[0].sources": "beslut",
                 "parties[0].confidence": "verified"})
    response = curator.post("/contracts/new?lang=en", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    with Session(engine) as s:
        doc = get_contract(session=s, contract_id="se-malmo-2025")
        assert doc is not None and doc.parties_with_role("outcome_payer")[0].name == "Malmö stad"
        record = s.exec(select(ChangeRecord).where(ChangeRecord.contract_id == "se-malmo-2025")).one()
        assert record.kind == "created" and record.actor == "user:cora-qz"
    again = curator.post("/contracts/new?lang=en", data=data)
    assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)


def test_new_contract_with_bad_id_shows_the_error_at_the_id(curator):
    data = form_of(curator.get("/contracts/new").get_data(as_text=True))
    data.update({"id": "Not A Slug", "identity.names.en": "X"})
    page = curator.post("/contracts/new", data=data).get_data(as_text=True)
    assert 'data-path="id"' in page


def test_yaml_editor_round_trip_and_edit(curator, add_contract, engine):
    add_contract()
    page = curator.get("/contracts/test-contract/yaml").get_data(as_text=True)
    text = re.search(r'<textarea[^>]*name="document"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    import html

    text = html.unescape(text)
    original = yaml.safe_load(text)
    assert original["id"] == "test-contract" and original["finance"]["capital_committed"]["amount"] == 1234567
    version = form_of(page)["content_hash"]
    unchanged = curator.post("/contracts/test-contract/yaml?lang=en", data={"document": text, "content_hash": version})
    assert unchanged.status_code == 302
    assert "Nothing was changed." in curator.get("/contracts/test-contract?lang=en").get_data(as_text=True)
    original["results"] = [{"summary": {"en": "Half found work"}, "date": "2024", "confidence": "unverified"}]
    saved = curator.post("/contracts/test-contract/yaml", data={"document": yaml.safe_dump(original),
                                                                "content_hash": version})
    assert saved.status_code == 302
    with Session(engine) as s:
        doc = get_contract(session=s, contract_id="test-contract")
        assert doc is not None and doc.results[0].summary.en == "Half found work"


def test_yaml_editor_validates_like_files_including_payment_terms(curator, add_contract, engine):
    add_contract()
    data = sample_document()
    data["payment_terms"] = {"payments": [{"id": "p", "component": "outcome", "payer": "exempelstad-kommun",
                                           "payee": "test-investor", "amount": "employed * undefined_name"}]}
    bad_terms = curator.post("/contracts/test-contract/yaml", data={"document": yaml.safe_dump(data)})
    assert bad_terms.status_code == 422
    assert 'data-path="payment_terms.payments[0].amount"' in bad_terms.get_data(as_text=True)
    renamed = curator.post("/contracts/test-contract/yaml", data={"document": yaml.safe_dump(
        sample_document("other-id"))})
    assert renamed.status_code == 422 and 'data-path="id"' in renamed.get_data(as_text=True)
    broken = curator.post("/contracts/test-contract/yaml", data={"document": "id: [unclosed"})
    assert broken.status_code == 422
    with Session(engine) as s:
        assert s.get(Contract, "other-id") is None
        assert len(s.exec(select(ChangeRecord)).all()) == 1


def test_yaml_editor_creates_a_new_contract(curator, engine):
    assert curator.get("/contracts/new/yaml").status_code == 200
    data = sample_document("se-yaml-2025")
    response = curator.post("/contracts/new/yaml", data={"document": yaml.safe_dump(data, allow_unicode=True)})
    assert response.status_code == 302
    with Session(engine) as s:
        doc = get_contract(session=s, contract_id="se-yaml-2025")
        assert doc is not None
        assert document_json(doc) == document_json(parse_document(data, "test"))


def test_seed_contracts_open_in_both_editors(curator, seeded):
    for contract_id in seeded:
        assert curator.get(f"/contracts/{contract_id}/edit").status_code == 200
        page = curator.get(f"/contracts/{contract_id}/yaml").get_data(as_text=True)
        import html

        text = html.unescape(re.search(r'name="document"[^>]*>(.*?)</textarea>', page, re.S).group(1))
        # what the editor shows validates back to the same document
        response = curator.post(f"/contracts/{contract_id}/yaml?lang=en",
                                data={"document": text, "content_hash": form_of(page)["content_hash"]})
        assert response.status_code == 302, (contract_id, response.get_data(as_text=True)[-3000:])
        follow = curator.get(response.headers["Location"]).get_data(as_text=True)
        assert "Nothing was changed." in follow, contract_id
