"""Loading contract files: validation without writing, all-or-nothing writes, idempotence, amendments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, func, select

from registry.loader import ContractInputError, load_paths, validate_paths
from registry.models import ChangeRecord, Contract, ContractParty
from registry.services.contracts import ContractFilter, contract_history, get_contract, list_contracts
from tests.registry.factories import contract_dict


def write(folder: Path, data: dict, name: str | None = None) -> Path:
    path = folder / f"{name or data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_validate_reports_file_field_and_reason(tmp_path: Path) -> None:
    data = contract_dict()
    data["finance"]["capital_committed"]["sources"] = []
    path = write(tmp_path, data)
    docs, issues = validate_paths([path])
    assert docs == []
    assert [(i.source, i.path) for i in issues] == [(str(path), "finance.capital_committed")]
    assert "needs at least one source" in issues[0].reason


def test_formula_errors_name_the_field(tmp_path: Path) -> None:
    data = contract_dict()
    data["payment_terms"]["payments"][0]["amount"] = "cap(savingz, C)"
    path = write(tmp_path, data)
    _, issues = validate_paths([path])
    assert len(issues) == 1
    assert issues[0].source == str(path)
    assert issues[0].path == "payment_terms.payments[0].amount"
    assert "savingz" in issues[0].reason


def test_id_must_match_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, contract_dict(), name="other-name")
    _, issues = validate_paths([path])
    assert issues and issues[0].path == "id"


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\n", encoding="utf-8")
    _, issues = validate_paths([path])
    assert "not valid YAML" in issues[0].reason


def test_load_is_idempotent_and_records_amendments(tmp_path: Path, session: Session) -> None:
    path = write(tmp_path, contract_dict())
    report = load_paths([tmp_path], session=session)
    session.commit()
    assert report.created == ["se-testkommun-2020"]
    again = load_paths([tmp_path], session=session)
    session.commit()
    assert again.unchanged == ["se-testkommun-2020"] and not again.created and not again.updated
    assert count(session, ChangeRecord) == 1

    edited = contract_dict()
    edited["stage"] = "complete"
    write(tmp_path, edited)
    report = load_paths([path], session=session)
    session.commit()
    assert report.updated == ["se-testkommun-2020"]
    history = contract_history(session=session, contract_id="se-testkommun-2020")
    assert [h.kind for h in history] == ["created", "updated"]
    assert {"path": "stage", "old": "implementation", "new": "complete"} in history[-1].changes
    assert history[-1].origin_ref == str(path)
    row = session.get(Contract, "se-testkommun-2020")
    assert row is not None and row.stage == "complete"


def test_one_bad_file_writes_none(tmp_path: Path, session: Session) -> None:
    write(tmp_path, contract_dict())
    bad = contract_dict(id="se-other-2021")
    bad["stage"] = "nonsense"
    write(tmp_path, bad)
    with pytest.raises(ContractInputError) as info:
        load_paths([tmp_path], session=session)
    session.rollback()
    assert "se-other-2021.yaml: stage:" in str(info.value)
    assert count(session, Contract) == 0
    assert count(session, ChangeRecord) == 0


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write(a, contract_dict())
    write(b, contract_dict())
    _, issues = validate_paths([a, b])
    assert any("duplicate contract id" in i.reason for i in issues)


def test_index_columns_and_parties_follow_the_document(tmp_path: Path, session: Session) -> None:
    write(tmp_path, contract_dict())
    load_paths([tmp_path], session=session)
    session.commit()
    row = session.get(Contract, "se-testkommun-2020")
    assert row is not None
    assert (row.country, row.policy_sector, row.currency, row.start_year) == ("SE", "child_and_family_welfare",
                                                                             "SEK", 2020)
    assert row.capital_committed == 5000000
    roles = sorted((p.organisation_id, p.role) for p in session.exec(select(ContractParty)).all())
    assert roles == [("investor-ab", "investor"), ("testkommun", "outcome_payer"), ("testkommun", "provider")]
    doc = get_contract(session=session, contract_id="se-testkommun-2020")
    assert doc is not None and doc.finance.capital_committed is not None
    assert str(doc.finance.capital_committed.amount) == "5000000"


def test_list_filters(tmp_path: Path, session: Session) -> None:
    write(tmp_path, contract_dict())
    us = contract_dict(id="us-test-2015")
    us["classification"]["country"] = "US"
    us["classification"]["policy_sector"] = "criminal_justice"
    us["identity"] = {"names": {"en": "Recidivism test"}}
    write(tmp_path, us)
    load_paths([tmp_path], session=session)
    session.commit()
    rows, total = list_contracts(session=session, filters=ContractFilter(country="us"))
    assert total == 1 and rows[0].id == "us-test-2015"
    rows, total = list_contracts(session=session, filters=ContractFilter(text="Recidivism"))
    assert [r.id for r in rows] == ["us-test-2015"]
    rows, total = list_contracts(session=session, filters=ContractFilter(text="testkommun"))
    assert total == 2  # both name Testkommun as a party
    rows, total = list_contracts(session=session, filters=ContractFilter(text="testkommun outcomes"))
    assert [r.id for r in rows] == ["se-testkommun-2020"]  # every word must match
    rows, total = list_contracts(session=session, filters=ContractFilter(payer_type="local_government"))
    assert total == 2
    rows, total = list_contracts(session=session, filters=ContractFilter(payer_type="central_government"))
    assert total == 0
    rows, total = list_contracts(session=session, sort="name", limit=1, offset=1)
    assert total == 2 and len(rows) == 1
    with pytest.raises(ValueError, match="unknown sort key"):
        list_contracts(session=session, sort="bogus")
