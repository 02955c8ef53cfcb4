"""Curator edits cannot be lost or corrupted: version check in the write, full round trip, one validation path."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry.loader import StaleEditError, content_hash, diff_documents, parse_document, save_edit
from registry.models import ChangeRecord, Contract
from tests.web.conftest import login, sample_document
from tests.web.test_curate import form_of


@pytest.fixture
def curator(client, make_user):
    make_user("cora-qz", role="curator")
    login(client, "cora-qz")
    return client


def _stored(engine: Engine, contract_id: str) -> Contract:
    with Session(engine) as s:
        row = s.get(Contract, contract_id)
        assert row is not None
        s.expunge(row)
        return row


def test_save_without_version_is_refused(curator, add_contract, engine):
    add_contract()
    data = form_of(curator.get("/contracts/test-contract/edit?lang=en").get_data(as_text=True))
    del data["content_hash"]
    data["identity.names.en"] = "Saved without a version"
    response = curator.post("/contracts/test-contract/edit?lang=en", data=data)
    assert response.status_code == 409
    assert _stored(engine, "test-contract").name_en != "Saved without a version"


def test_stale_save_is_refused_and_says_who_changed_what(curator, add_contract, engine):
    add_contract()
    data = form_of(curator.get("/contracts/test-contract/edit?lang=en").get_data(as_text=True))
    changed = sample_document()
    changed["stage"] = "complete"
    add_contract(changed, actor="user:someone-else")
    data["identity.names.en"] = "My edit"
    response = curator.post("/contracts/test-contract/edit?lang=en", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Someone else changed" in page and "someone-else changed: stage" in page
    assert 'value="My edit"' in page  # the refused edit is still on the page, not lost
    assert _stored(engine, "test-contract").stage == "complete"


def test_stale_yaml_save_is_refused(curator, add_contract, engine):
    add_contract()
    page = curator.get("/contracts/test-contract/yaml?lang=en").get_data(as_text=True)
    version = _stored(engine, "test-contract").content_hash
    assert f'value="{version}"' in page
    changed = sample_document()
    changed["stage"] = "complete"
    add_contract(changed, actor="user:other")
    import yaml
    mine = sample_document()
    mine["identity"]["names"]["en"] = "Mine"
    response = curator.post("/contracts/test-contract/yaml?lang=en",
                            data={"document": yaml.safe_dump(mine), "content_hash": version})
    assert response.status_code == 409 and "other changed: stage" in response.get_data(as_text=True)
    assert _stored(engine, "test-contract").name_en != "Mine"


def test_concurrent_saves_on_one_version_keep_exactly_one(add_contract, engine, db_url):
    """Two editors save at the same moment on the version both opened: one wins, the other is told."""
    add_contract()
    opened = _stored(engine, "test-contract").content_hash
    barrier = threading.Barrier(2, timeout=30)
    outcomes: dict[str, str] = {}

    def edit(who: str) -> None:
        data = sample_document()
        data["identity"]["names"]["en"] = f"Edited by {who}"
        doc = parse_document(data, "test")
        with Session(engine) as s:
            s.get(Contract, "test-contract")  # both have read the row before either writes
            barrier.wait()
            try:
                save_edit(doc, session=s, actor=f"user:{who}", expected_hash=opened)
                s.commit()
                outcomes[who] = "saved"
            except StaleEditError:
                s.rollback()
                outcomes[who] = "stale"

    threads = [threading.Thread(target=edit, args=(who,)) for who in ("anna", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes.values()) == ["saved", "stale"]
    winner = next(who for who, outcome in outcomes.items() if outcome == "saved")
    assert _stored(engine, "test-contract").name_en == f"Edited by {winner}"
    with Session(engine) as s:
        actors = [r.actor for r in s.exec(select(ChangeRecord).where(ChangeRecord.contract_id == "test-contract"))]
    assert actors.count(f"user:{winner}") == 1 and len(actors) == 2


def test_creating_an_id_taken_meanwhile_is_refused(add_contract, engine, db_url):
    doc = parse_document(sample_document(), "test")
    add_contract()
    with Session(engine) as s, pytest.raises(StaleEditError):
        save_edit(doc, session=s, actor="user:late", expected_hash=None)


def _round_trip(curator, engine: Engine, contract_ids: list[str]) -> None:
    for contract_id in contract_ids:
        before = _stored(engine, contract_id)
        page = curator.get(f"/contracts/{contract_id}/edit?lang=en").get_data(as_text=True)
        response = curator.post(f"/contracts/{contract_id}/edit?lang=en", data=form_of(page))
        assert response.status_code == 302, (contract_id, response.get_data(as_text=True)[:3000])
        after = _stored(engine, contract_id)
        assert after.document == before.document, (contract_id, diff_documents(before.document, after.document))
        assert after.content_hash == before.content_hash == content_hash(before.document)


def test_form_round_trips_every_seed_contract(curator, seeded, engine):
    """Open the form and save it unchanged: the document is identical (fields the form does not show included)."""
    _round_trip(curator, engine, seeded)


def test_form_round_trips_imported_indigo_contracts(curator, engine, db_url):
    """Through the pages, for the sample export's contracts (many organisations, sources, odd characters)."""
    from registry.indigo.importer import import_export
    from tests.indigo.conftest import SAMPLE

    with Session(engine) as s:
        report = import_export(SAMPLE / "2025-12", session=s)
        s.commit()
    assert len(report.created) >= 5
    _round_trip(curator, engine, report.created)


def test_form_values_round_trip_every_contract_of_the_full_indigo_export(engine, db_url):
    """Every imported contract: its form values, read back onto it, give the identical document.

    (The pages take a quarter of a second a contract here, so the whole export goes through the form's
    conversion functions, and the page-level test above covers what the template renders.)
    """
    from werkzeug.datastructures import MultiDict

    from registry.indigo import BUNDLED_EXPORT
    from registry.indigo.importer import import_export
    from registry.loader import document_json
    from web.curate import document_values, form_to_document

    with Session(engine) as s:
        import_export(BUNDLED_EXPORT, session=s)
        s.commit()
        rows = s.exec(select(Contract)).all()
        assert rows
        for row in rows:
            form: MultiDict[str, str] = MultiDict()
            for key, value in document_values(row.document).items():
                for item in value if isinstance(value, list) else [value]:
                    form.add(key, str(item))
            data, _ = form_to_document(form, row.document)
            again = document_json(parse_document(data, row.id))
            assert again == row.document, (row.id, diff_documents(row.document, again))


def test_organisation_website_survives_an_edit_of_another_field(curator, engine, seeded):
    """An edit of the intervention text kept every organisation's website (the form shows none of them)."""
    with_website = [cid for cid in seeded
                    if any(o.get("website") for o in _stored(engine, cid).document.get("organisations", []))]
    assert with_website
    contract_id = with_website[0]
    before = _stored(engine, contract_id).document
    data = form_of(curator.get(f"/contracts/{contract_id}/edit?lang=en").get_data(as_text=True))
    data["classification.intervention"] = "A new description of the intervention"
    assert curator.post(f"/contracts/{contract_id}/edit?lang=en", data=data).status_code == 302
    after = _stored(engine, contract_id).document
    assert after["classification"]["intervention"] == "A new description of the intervention"
    assert after["organisations"] == before["organisations"]


@pytest.mark.parametrize(("field", "value"), [
    ("classification.country", "XX"),
    ("finance.currency", "ABC"),
    ("dates.signed", "2021-02-30"),
    ("organisations[0].country", "QQ"),
])
def test_form_refuses_what_the_file_loader_refuses(curator, add_contract, engine, tmp_path, field, value):
    add_contract()
    data = form_of(curator.get("/contracts/test-contract/edit?lang=en").get_data(as_text=True))
    data[field] = value
    response = curator.post("/contracts/test-contract/edit?lang=en", data=data)
    assert response.status_code == 422, field
    assert _stored(engine, "test-contract").document == parse_document(sample_document(), "t").model_dump(
        mode="json", by_alias=True, exclude_none=True)
    # the file loader refuses the same value at the same path
    import yaml

    from registry.loader import ContractInputError, read_contract_file
    document = sample_document()
    node: dict = document
    parts = field.replace("[0]", ".0").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    node[parts[-1]] = value
    path = tmp_path / "test-contract.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ContractInputError) as refused:
        read_contract_file(path)
    assert any(i.path == field for i in refused.value.issues), refused.value.issues


def test_api_edit_needs_the_version_and_answers_409_when_stale(client, make_user, add_contract, engine):
    import base64

    make_user("cora-api", role="curator")
    make_user("ivan-api", role="investor")
    auth = {"Authorization": "Basic " + base64.b64encode(b"cora-api:correct-horse-battery").decode()}
    add_contract()
    detail = client.get("/api/v1/contracts/test-contract").get_json()
    version = detail["content_hash"]
    assert version == _stored(engine, "test-contract").content_hash
    mine = sample_document()
    mine["identity"]["names"]["en"] = "Edited through the API"
    missing = client.put("/api/v1/contracts/test-contract", json={"document": mine}, headers=auth)
    assert missing.status_code == 422 and missing.get_json()["field"] == "content_hash"
    investor = {"Authorization": "Basic " + base64.b64encode(b"ivan-api:correct-horse-battery").decode()}
    assert client.put("/api/v1/contracts/test-contract", json={"document": mine, "content_hash": version},
                      headers=investor).status_code == 403
    bad = sample_document()
    bad["classification"]["country"] = "XX"
    refused = client.put("/api/v1/contracts/test-contract", json={"document": bad, "content_hash": version},
                         headers=auth)
    assert refused.status_code == 422 and refused.get_json()["field"] == "document.classification.country"
    saved = client.put("/api/v1/contracts/test-contract", json={"document": mine, "content_hash": version},
                       headers=auth)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["name_en"] == "Edited through the API"
    stale = sample_document()
    stale["stage"] = "complete"
    conflict = client.put("/api/v1/contracts/test-contract", json={"document": stale, "content_hash": version},
                          headers=auth)
    body = conflict.get_json()
    assert conflict.status_code == 409 and body["current_hash"] == saved.get_json()["content_hash"]
    assert body["changes"][0]["actor"] == "user:cora-api" and "identity.names.en" in body["changes"][0]["fields"]
    assert _stored(engine, "test-contract").stage != "complete"
