from __future__ import annotations

from decimal import Decimal

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


def _history(**overrides: object) -> dict[str, object]:
    history: dict[str, object] = {
        "outcomes": [{"metric": "savings", "date": "2023-12", "value": "4000000", "sources": ["report"],
                      "confidence": "verified"}],
        "payments": [{"date": "2024-01", "payer": "testkommun", "payee": "investor-ab", "component": "outcome",
                      "amount": "4000000.00", "currency": "SEK", "sources": ["report"], "confidence": "verified"}],
        "investor_results": [{"investor": "investor-ab", "investment": "loan",
                              "capital_drawn": {"amount": "5000000", "currency": "SEK"},
                              "repaid": {"amount": "4000000", "currency": "SEK"}, "sources": ["report"],
                              "confidence": "verified"}],
        "unknowns": [{"about": "investor_result", "what": "IRR", "reason": "no payment days published",
                      "sources": ["report"]}],
    }
    history.update(overrides)
    return history


def test_history_is_exact_money_with_provenance() -> None:
    doc = ContractDocument.model_validate(contract_dict(history=_history()))
    assert doc.history is not None
    [payment] = doc.history.payments
    assert (payment.amount, payment.currency) == (Decimal("4000000.00"), "SEK")
    assert isinstance(payment.amount, Decimal)
    paths = [path for path, _ in doc.iter_facts()]
    assert {"history.outcomes[0]", "history.payments[0]", "history.investor_results[0]"} <= set(paths)


def test_history_references_and_provenance_are_checked() -> None:
    bad = _history(
        outcomes=[{"metric": "nope", "value": 1, "confidence": "unverified"}],
        payments=[{"payer": "nobody", "amount": 1, "currency": "SEK", "sources": ["missing"],
                   "confidence": "verified"}],
        investor_results=[{"investor": "investor-ab", "investment": "no_such", "irr": "0.1",
                           "confidence": "unverified"}],
        unknowns=[{"about": "outcome", "metric": "nope", "what": "x", "reason": "y", "sources": ["missing"]}],
        reading=1,
    )
    with pytest.raises(ValidationError) as info:
        ContractDocument.model_validate(contract_dict(history=bad))
    text = str(info.value)
    for expected in ("history.outcomes[0].metric: unknown outcome metric 'nope'",
                     "history.payments[0].payer: unknown organisation 'nobody'",
                     "history.payments[0].sources: unknown source id 'missing'",
                     "history.investor_results[0].investment: unknown investment 'no_such'",
                     "history.unknowns[0].metric: unknown outcome metric 'nope'",
                     "history.unknowns[0].sources: unknown source id 'missing'",
                     "history.reading: no alternative reading 1 (the terms have 0)"):
        assert expected in text


@pytest.mark.parametrize("change, message", [
    ({"payments": [{"amount": 1, "confidence": "unverified"}]}, "currency"),
    ({"payments": [{"amount": 1, "currency": "kr", "confidence": "unverified"}]}, "ISO 4217"),
    ({"payments": [{"amount": 1, "currency": "SEK", "confidence": "verified"}]}, "needs at least one source"),
    ({"investor_results": [{"investor": "investor-ab", "confidence": "unverified"}]}, "at least one of"),
    ({"unknowns": [{"about": "payment", "what": "amount", "reason": ""}]}, "reason"),
    ({"outcomes": [{"metric": "savings", "confidence": "unverified"}]}, "value"),
])
def test_history_bad_entries(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ContractDocument.model_validate(contract_dict(history=_history(**change)))
