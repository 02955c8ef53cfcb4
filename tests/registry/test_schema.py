from __future__ import annotations

import pytest
from pydantic import ValidationError

from registry.schema import ContractDocument, partial_date_start
from tests.registry.factories import contract_dict


def test_base_document_is_valid() -> None:
    doc = ContractDocument.model_validate(contract_dict())
    assert doc.name("sv") == "Testkommunens utfallskontrakt"
    assert [o.id for o in doc.parties_with_role("outcome_payer")] == ["testkommun"]


def test_verified_fact_without_source_is_rejected() -> None:
    data = contract_dict()
    data["finance"]["capital_committed"]["sources"] = []
    with pytest.raises(ValidationError, match="needs at least one source"):
        ContractDocument.model_validate(data)


def test_unverified_fact_may_lack_a_source() -> None:
    data = contract_dict()
    data["finance"]["capital_committed"] = {"amount": "1", "confidence": "unverified", "note": "seed claim"}
    assert ContractDocument.model_validate(data).finance.capital_committed.confidence == "unverified"


def test_alternatives_require_disputed() -> None:
    data = contract_dict()
    data["finance"]["capital_committed"]["alternatives"] = [{"value": "7500000", "sources": ["report"]}]
    with pytest.raises(ValidationError, match="disputed"):
        ContractDocument.model_validate(data)
    data["finance"]["capital_committed"]["confidence"] = "disputed"
    ContractDocument.model_validate(data)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id", "Not A Slug", "String should match pattern"),
        ("stage", "finished", "Input should be"),
        ("unknown_key", 1, "Extra inputs are not permitted"),
    ],
)
def test_bad_top_level_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ContractDocument.model_validate(contract_dict(**{field: value}))


def test_cross_references_are_checked() -> None:
    data = contract_dict()
    data["parties"][0]["organisation"] = "nobody"
    data["classification"]["sources"] = ["missing-source"]
    with pytest.raises(ValidationError) as info:
        ContractDocument.model_validate(data)
    text = str(info.value)
    assert "parties[0].organisation: unknown organisation 'nobody'" in text
    assert "classification.sources: unknown source id 'missing-source'" in text


@pytest.mark.parametrize("value", ["2021-13", "2021-02-30", "21-01", "2021/01"])
def test_bad_partial_dates(value: str) -> None:
    data = contract_dict()
    data["dates"]["signed"] = value
    with pytest.raises(ValidationError):
        ContractDocument.model_validate(data)


def test_partial_date_start() -> None:
    assert partial_date_start("2016").isoformat() == "2016-01-01"
    assert partial_date_start("2016-07").isoformat() == "2016-07-01"
    assert partial_date_start("2016-07-15").isoformat() == "2016-07-15"


def test_currency_must_be_iso() -> None:
    data = contract_dict()
    data["finance"]["currency"] = "Swedish"
    with pytest.raises(ValidationError, match="ISO 4217"):
        ContractDocument.model_validate(data)
