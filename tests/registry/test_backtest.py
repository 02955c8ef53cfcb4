"""The back-test: terms evaluated on recorded outcomes against recorded payments and investors' results."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session

from registry.backtest import amounts_agree, backtest, candidate_values, verdict_of
from registry.loader import parse_document, upsert_contract
from registry.models import Contract
from registry.schema import ContractDocument, MetricKind
from registry.services.contracts import ContractFilter, list_contracts
from tests.registry.factories import contract_dict

# The factory contract: Testkommun repays cap(floor(savings, 0), C) with C = 5,000,000 on 2023-12-31;
# Investor AB's 5,000,000 goes out on the 2020-09-01 service start.


def _doc(history: dict[str, Any] | None, **overrides: Any) -> ContractDocument:
    data = contract_dict(**overrides)
    if history is not None:
        data["history"] = history
    return parse_document(data, "test")


def _saved(value: str = "4000000") -> list[dict[str, Any]]:
    return [{"metric": "savings", "date": "2023-12", "value": value, "sources": ["report"], "confidence": "verified"}]


def _paid(amount: str, date_: str | None = "2023-12", **extra: Any) -> dict[str, Any]:
    payment = {"payer": "testkommun", "payee": "investor-ab", "component": "outcome", "amount": amount,
               "currency": "SEK", "sources": ["report"], "confidence": "verified", **extra}
    if date_:
        payment["date"] = date_
    return payment


def test_recorded_payment_reproduced() -> None:
    result = backtest(_doc({"outcomes": _saved(), "payments": [_paid("4000000")]}))
    assert result.verdict == "yes"
    assert result.inputs == {"savings": 4_000_000.0}
    kinds = {(c.kind, c.subject): c for c in result.checks}
    assert kinds["payer_total", "testkommun"].terms == Decimal("4000000.00")
    assert kinds["payment_date", "testkommun"].ok  # 2023-12-31 lies in December 2023
    assert result.reasons == [] and result.caveats == []


def test_recorded_payment_not_reproduced_says_by_how_much() -> None:
    result = backtest(_doc({"outcomes": _saved(), "payments": [_paid("3500000")]}))
    assert result.verdict == "no"
    [off] = result.failures
    assert (off.kind, off.terms, off.recorded, off.difference) == (
        "payer_total", Decimal("4000000.00"), Decimal("3500000"), Decimal("500000.00"))
    assert off.relative == pytest.approx(500_000 / 3_500_000)
    assert "off by SEK +500,000.00, +14.3%" in result.summary()


def test_amount_tolerance_is_one_percent_or_one_unit() -> None:
    assert amounts_agree(Decimal("4000000"), Decimal("3961000"))      # within 1 % of the recorded amount
    assert not amounts_agree(Decimal("4000000"), Decimal("3959000"))
    assert amounts_agree(Decimal("0.90"), Decimal("0"))               # one currency unit
    assert not amounts_agree(Decimal("1.01"), Decimal("0"))
    assert backtest(_doc({"outcomes": _saved(), "payments": [_paid("3990000")]})).verdict == "yes"


def test_payment_date_outside_the_recorded_period_is_off() -> None:
    result = backtest(_doc({"outcomes": _saved(), "payments": [_paid("4000000", "2021")]}))
    assert result.verdict == "no"
    [off] = result.failures
    assert off.kind == "payment_date" and off.terms == date(2023, 12, 31) and off.recorded == "2021"
    assert off.difference.days == (date(2023, 12, 31) - date(2021, 12, 31)).days
    # within 92 days of the recorded period agrees
    assert backtest(_doc({"outcomes": _saved(), "payments": [_paid("4000000", "2024-02")]})).verdict == "yes"


def test_disputed_amount_agrees_with_any_recorded_value() -> None:
    disputed = _paid("3000000", confidence="disputed",
                     alternatives=[{"value": 4000000, "sources": ["report"]}])
    assert backtest(_doc({"outcomes": _saved(), "payments": [disputed]})).verdict == "yes"


def test_investor_result_and_irr() -> None:
    # 5,000,000 out on 2020-09-01, 4,000,000 back on 2023-12-31: a loss, so the IRR is negative
    result_doc = {"outcomes": _saved(), "investor_results": [
        {"investor": "investor-ab", "capital_drawn": {"amount": "5000000"}, "repaid": {"amount": "4000000"},
         "irr": "-0.066", "irr_bound": "about", "sources": ["report"], "confidence": "verified"}]}
    result = backtest(_doc(result_doc))
    assert result.verdict == "yes", result.summary()
    irr = next(c for c in result.checks if c.kind == "irr")
    days = (date(2023, 12, 31) - date(2020, 9, 1)).days
    assert irr.terms == pytest.approx(0.8 ** (365 / days) - 1, abs=1e-6)  # about -6.5 % a year
    result_doc["investor_results"][0]["irr"] = "-0.08"
    result_doc["investor_results"][0]["irr_bound"] = "exact"
    assert [c.kind for c in backtest(_doc(result_doc)).failures] == ["irr"]
    result_doc["investor_results"][0]["irr"] = "-0.10"
    result_doc["investor_results"][0]["irr_bound"] = "min"   # "at least -10 %": met
    assert backtest(_doc(result_doc)).verdict == "yes"


def test_missing_outcome_cannot_tell_and_names_the_recorded_unknown() -> None:
    history = {"payments": [_paid("4000000")],
               "unknowns": [{"about": "outcome", "metric": "savings", "what": "Savings in 2020–2023",
                             "reason": "the final report is not published", "sources": ["report"]}]}
    result = backtest(_doc(history))
    # the payment is compared over every value savings can take: SEK 0 to 5,000,000, and 4,000,000 is inside
    assert result.verdict == "unknown"
    assert [(c.kind, c.status, c.low, c.high, c.depends_on) for c in result.checks] == [
        ("payer_total", "unknown", Decimal("0.00"), Decimal("5000000.00"), ("savings",)),
        ("payment_date", "unknown", None, None, ("savings",))]
    [reason] = result.reasons
    assert (reason.kind, reason.subject) == ("missing_outcome", "savings")
    assert "the final report is not published" in result.summary()
    # the savings that give 4,000,000 within 1 %: 3,960,000 to 4,040,000 (found on a grid, so to within a hair)
    low, high = result.checks[0].needs
    assert low == pytest.approx(3_960_000, rel=1e-3) and high == pytest.approx(4_040_000, rel=1e-3)


def test_nothing_recorded_to_compare_with() -> None:
    history = {"outcomes": _saved(),
               "unknowns": [{"about": "payment", "what": "Amount repaid", "reason": "not published"}]}
    result = backtest(_doc(history))
    assert result.verdict == "unknown"
    assert [r.kind for r in result.reasons] == ["nothing_to_compare", "recorded_unknown"]
    assert "Amount repaid (not published)" in result.summary()


def test_payments_for_one_cohort_are_not_set_against_whole_contract_terms() -> None:
    result = backtest(_doc({"outcomes": _saved(), "payments": [_paid("1000000", cohort="cohort 1")]}))
    assert result.verdict == "unknown"
    assert [(r.kind, r.subject, r.detail) for r in result.reasons] == [("cohort_payments", "testkommun", "cohort 1")]


def test_unverified_and_bound_inputs_are_caveats() -> None:
    outcomes = [{"metric": "savings", "value": "4000000", "bound": "min", "confidence": "unverified",
                 "note": "a lower bound from the interim report"}]
    result = backtest(_doc({"outcomes": outcomes, "payments": [_paid("4000000")]}))
    assert result.verdict == "yes"
    assert [r.kind for r in result.caveats] == ["unverified_input", "bound_input"]


def test_latest_whole_contract_value_is_used() -> None:
    outcomes = [{"metric": "savings", "date": "2022", "value": "1000000", "confidence": "unverified"},
                {"metric": "savings", "date": "2023-12", "value": "4000000", "confidence": "unverified"}]
    assert backtest(_doc({"outcomes": outcomes, "payments": [_paid("4000000")]})).inputs == {"savings": 4e6}


def test_no_history_and_no_terms() -> None:
    assert verdict_of(_doc(None)) is None
    no_terms = _doc({"payments": [_paid("4000000")]}, payment_terms=None)
    result = backtest(no_terms)
    assert (result.verdict, [r.kind for r in result.reasons]) == ("unknown", ["no_terms"])


def test_alternative_reading_is_evaluated() -> None:
    data = contract_dict()
    data["payment_terms"]["alternative_readings"] = [
        {"description": "Drawn capital only", "parameters": {"C": "3000000"}}]
    data["history"] = {"reading": 1, "outcomes": _saved(), "payments": [_paid("3000000")]}
    result = backtest(parse_document(data, "test"))
    assert (result.verdict, result.reading) == ("yes", 1)


def test_verdict_column_follows_every_write(session: Session) -> None:
    doc = _doc({"outcomes": _saved(), "payments": [_paid("3500000")]})
    upsert_contract(doc, session=session, actor="test")
    session.commit()
    row = session.get(Contract, doc.id)
    assert row is not None and row.reproduced == "no"
    fixed = _doc({"outcomes": _saved(), "payments": [_paid("4000000")]})
    assert upsert_contract(fixed, session=session, actor="test") == "updated"
    session.commit()
    session.refresh(row)
    assert row.reproduced == "yes"
    # an unchanged document still gets a stale verdict refreshed (e.g. after the back-test itself changed)
    row.reproduced = "unknown"
    session.commit()
    assert upsert_contract(fixed, session=session, actor="test") == "unchanged"
    session.commit()
    session.refresh(row)
    assert row.reproduced == "yes"


# Per-payment verdicts. A second payer, Stiftelsen, guarantees 40 % of C if the service was delivered (paid on
# 2021-06-30); Testkommun repays cap(floor(savings, 0), 60 % of C) on 2023-12-31. With C = 5,000,000 the guarantee
# is 2,000,000 whatever the savings, and the repayment is anything from 0 to 3,000,000.


def _guaranteed(history: dict[str, Any], *, derived_c: bool = False) -> ContractDocument:
    data = contract_dict()
    data["organisations"] = [*data["organisations"],
                             {"id": "stiftelsen", "name": "Stiftelsen", "type": "foundation", "country": "SE"}]
    data["parties"] = [*data["parties"], {"organisation": "stiftelsen", "roles": ["outcome_payer"],
                                          "sources": ["report"], "confidence": "verified"}]
    data["outcome_metrics"] = [*data["outcome_metrics"], {
        "id": "delivered", "name": {"en": "Delivered"}, "kind": "binary", "measurement": "other",
        "sources": ["report"], "confidence": "verified"}]
    terms = data["payment_terms"]
    terms["payments"] = [
        {"id": "guarantee", "component": "guarantee", "payer": "stiftelsen", "payee": "investor-ab",
         "amount": "if(delivered, 40% * C, 0)", "timing": {"date": "2021-06-30"}},
        {"id": "repayment", "component": "outcome", "payer": "testkommun", "payee": "investor-ab",
         "amount": "cap(floor(savings, 0), 60% * C)", "timing": {"date": "2023-12-31"}},
    ]
    if derived_c:
        terms["parameters"]["C"] = {"value": "5000000", "derived": True, "confidence": "unverified"}
    data["history"] = history
    return parse_document(data, "test")


def _delivered(value: int = 1) -> list[dict[str, Any]]:
    return [{"metric": "delivered", "date": "2021", "value": value, "sources": ["report"], "confidence": "verified"}]


def _by(payer: str, amount: str, date_: str) -> dict[str, Any]:
    return _paid(amount, date_, payer=payer)


def test_a_payment_that_does_not_depend_on_the_missing_outcome_is_reproduced() -> None:
    result = backtest(_guaranteed({"outcomes": _delivered(), "payments": [_by("stiftelsen", "2000000", "2021-06")]}))
    assert result.verdict == "yes", result.summary()
    assert result.inputs == {"delivered": 1.0}
    paid = next(c for c in result.checks if c.kind == "payer_total")
    assert (paid.subject, paid.status, paid.terms, paid.depends_on) == (
        "stiftelsen", "yes", Decimal("2000000.00"), ())


def test_some_payments_reproduced_and_others_open_is_partly_and_names_the_blocker() -> None:
    history = {"outcomes": _delivered(), "payments": [_by("stiftelsen", "2000000", "2021-06"),
                                                      _by("testkommun", "1000000", "2023-12")],
               "unknowns": [{"about": "outcome", "metric": "savings", "what": "Savings",
                             "reason": "not published", "sources": ["report"]}]}
    result = backtest(_guaranteed(history))
    assert result.verdict == "partly", result.summary()
    kommun = next(c for c in result.checks if c.kind == "payer_total" and c.subject == "testkommun")
    assert (kommun.status, kommun.terms, kommun.low, kommun.high, kommun.depends_on) == (
        "unknown", None, Decimal("0.00"), Decimal("3000000.00"), ("savings",))
    assert result.blockers == ["savings"]
    assert "blocked by savings" in result.summary()


def test_a_recorded_amount_outside_the_range_the_terms_give_is_off() -> None:
    history = {"outcomes": _delivered(), "payments": [_by("testkommun", "3500000", "2023-12")]}
    result = backtest(_guaranteed(history))
    assert result.verdict == "no"
    [off] = result.failures
    # the most the terms can give is 3,000,000: off by 500,000 however large the savings were
    assert (off.low, off.high, off.difference) == (Decimal("0.00"), Decimal("3000000.00"), Decimal("-500000.00"))
    assert off.relative == pytest.approx(-500_000 / 3_500_000)
    assert "outside that range" in off.text()


def test_a_binary_outcome_is_tried_both_ways() -> None:
    history = {"outcomes": _saved(), "payments": [_by("stiftelsen", "2000000", "2021-06")]}
    result = backtest(_guaranteed(history))
    paid = next(c for c in result.checks if c.kind == "payer_total")
    assert (paid.status, paid.low, paid.high, paid.depends_on) == (
        "unknown", Decimal("0.00"), Decimal("2000000.00"), ("delivered",))
    history["payments"] = [_by("stiftelsen", "2500000", "2021-06")]
    assert backtest(_guaranteed(history)).verdict == "no"


def test_a_parameter_derived_from_the_result_never_gives_yes() -> None:
    history = {"outcomes": _delivered(), "payments": [_by("stiftelsen", "2000000", "2021-06")]}
    result = backtest(_guaranteed(history, derived_c=True))
    assert result.verdict == "unknown"
    paid = next(c for c in result.checks if c.kind == "payer_total")
    assert (paid.status, paid.terms, paid.derived) == ("unknown", Decimal("2000000.00"), ("C",))
    assert [(r.kind, r.subject) for r in result.reasons] == [("derived_parameter", "C")]
    assert result.blockers == ["C"]


def test_with_nothing_recorded_the_terms_still_say_what_each_payer_pays() -> None:
    result = backtest(_guaranteed({"outcomes": _delivered()}))
    assert result.verdict == "unknown" and result.checks == []
    expected = {c.subject: c for c in result.expected}
    assert expected["stiftelsen"].terms == Decimal("2000000.00") and expected["stiftelsen"].recorded is None
    assert (expected["testkommun"].low, expected["testkommun"].high) == (Decimal("0.00"), Decimal("3000000.00"))
    assert result.blockers == ["savings"]


def test_candidate_values() -> None:
    assert candidate_values(MetricKind.BINARY, [0.5]).tolist() == [0.0, 1.0]
    rate = candidate_values(MetricKind.RATE, [0.55])
    assert rate.min() == -1.0 and rate.max() == 2.0
    assert any(0.55 - 1e-6 < v < 0.55 for v in rate) and 0.55 in rate  # both sides of a ">=" threshold
    counts = candidate_values(MetricKind.COUNT, [172.4])
    assert counts.min() == 0 and {172.0, 173.0} <= set(counts) and (counts == counts.round()).all()
    assert candidate_values(MetricKind.CONTINUOUS, [1e6]).min() < 0


def test_a_recorded_amount_between_two_tiers_is_off_though_inside_the_range() -> None:
    # 1,000,000 if savings reach 2 m, 3,000,000 if they reach 4 m: 2,000,000 is in the range 0-3 m, yet no
    # value of the savings gives it
    data = contract_dict()
    data["payment_terms"]["payments"][0]["amount"] = "bands(savings, [2000000, 4000000], [0, 1000000, 3000000])"
    data["history"] = {"payments": [_paid("2000000")]}
    result = backtest(parse_document(data, "test"))
    assert result.verdict == "no"
    [off] = result.failures
    assert (off.low, off.high, off.unreachable, off.depends_on) == (
        Decimal("0.00"), Decimal("3000000.00"), True, ("savings",))
    assert off.difference == Decimal("-1000000.00")  # 1,000,000 and 3,000,000 are as near: the lower first
    assert "no value of it gives that" in off.text()
    # the factory's continuous repayment, cap(floor(savings, 0), C), reaches any amount up to C: cannot tell
    data = contract_dict()
    data["history"] = {"payments": [_paid("2345678")]}
    assert backtest(parse_document(data, "test")).verdict == "unknown"


def test_a_partly_reproduced_contract_is_stored_and_filtered_as_partly(session: Session) -> None:
    history = {"outcomes": _delivered(), "payments": [_by("stiftelsen", "2000000", "2021-06"),
                                                      _by("testkommun", "1000000", "2023-12")]}
    doc = _guaranteed(history)
    upsert_contract(doc, session=session, actor="test")
    session.commit()
    row = session.get(Contract, doc.id)
    assert row is not None and row.reproduced == "partly"
    listed = list_contracts(session=session, filters=ContractFilter(reproduced="partly"))
    assert [r.id for r in listed.rows] == [doc.id]
    assert list_contracts(session=session, filters=ContractFilter(reproduced="yes")).total == 0
