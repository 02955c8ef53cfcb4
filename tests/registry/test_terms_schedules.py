"""Schedules (per-period and per-cohort payments), the per-period input convention and path helpers."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest

from registry.schema import ContractDocument
from registry.terms import OutcomeError, TermsError, compile_terms, outcome_key
from tests.registry.factories import contract_dict

YEARS = [{"label": "2021", "date": "2021-08-31"}, {"label": "2022", "date": "2022-08-31"},
         {"label": "2023", "date": "2023-08-31"}]


def scheduled(payments: list[dict[str, Any]], *, metrics: list[dict[str, Any]] | None = None,
              schedule_metrics: tuple[str, ...] = ("rate",), **terms: Any) -> ContractDocument:
    data = contract_dict()
    data["outcome_metrics"] = metrics or [
        {"id": "rate", "name": {"en": "Rate"}, "kind": "rate", "sources": ["report"], "confidence": "verified"},
        {"id": "total", "name": {"en": "Total"}, "kind": "continuous", "sources": ["report"],
         "confidence": "verified"},
    ]
    data["payment_terms"]["schedules"] = {"year": {"periods": YEARS, "metrics": list(schedule_metrics)}}
    data["payment_terms"]["payments"] = payments
    data["payment_terms"].update(terms)
    return ContractDocument.model_validate(data)


def rule(rid: str, amount: str, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "component": "interest", "payer": "testkommun", "payee": "investor-ab", "amount": amount,
            **extra}


def amounts(doc: ContractDocument, outcomes: dict[str, Any]) -> dict[str, float]:
    return {f.id: float(f.amount) for f in compile_terms(doc).evaluate(outcomes).flows}


def test_per_period_rule_pays_once_per_period_on_its_day() -> None:
    doc = scheduled([rule("coupon", "rate * 1000", per="year")])
    compiled = compile_terms(doc)
    result = compiled.evaluate({"rate[2021]": 0.1, "rate[2022]": 0.2, "rate[2023]": 0.3})
    got = [(f.id, f.rule, f.period, f.date, float(f.amount)) for f in result.flows]
    assert got == [
        ("coupon[2021]", "coupon", "2021", date(2021, 8, 31), 100.0),
        ("coupon[2022]", "coupon", "2022", date(2022, 8, 31), 200.0),
        ("coupon[2023]", "coupon", "2023", date(2023, 8, 31), 300.0),
    ]
    assert compiled.outcome_names == ("rate",)
    assert compiled.outcome_keys == ("rate[2021]", "rate[2022]", "rate[2023]")
    assert compiled.metric_periods == {"rate": ("2021", "2022", "2023")}
    assert compiled.schedules["year"][0] == ("2021", date(2021, 8, 31))
    assert outcome_key("rate", "2022") == "rate[2022]"


def test_nested_and_shared_inputs_equal_flat_keys() -> None:
    doc = scheduled([rule("coupon", "rate * 1000", per="year")])
    flat = amounts(doc, {"rate[2021]": 0.1, "rate[2022]": 0.2, "rate[2023]": 0.3})
    assert amounts(doc, {"rate": {"2021": 0.1, "2022": 0.2, "2023": 0.3}}) == flat
    assert list(amounts(doc, {"rate": 0.2}).values()) == [200.0, 200.0, 200.0]


@pytest.mark.parametrize(
    ("outcomes", "fragment"),
    [
        ({"rate[2021]": 0.1, "rate[2022]": 0.2}, "missing period(s) 2023"),
        ({"rate[2021]": 0.1, "rate[2022]": 0.2, "rate[2023]": 0.3, "rate[2024]": 0.1}, "no period '2024'"),
        ({"rate": 0.1, "rate[2021]": 0.1}, "both as one value and per period"),
        ({"rate": 0.1, "total[2021]": 1.0}, "'total' is not measured per period"),
        ({"rate[2021]": 0.1, "rate[2022]": float("nan"), "rate[2023]": 0.3}, "'rate[2022]' has a value that is not"),
        ({}, "missing outcome(s): rate"),
    ],
)
def test_bad_per_period_inputs_are_named(outcomes: dict[str, Any], fragment: str) -> None:
    doc = scheduled([rule("coupon", "rate * 1000", per="year")])
    with pytest.raises(OutcomeError, match="se-testkommun-2020") as err:
        compile_terms(doc).evaluate(outcomes)
    assert fragment in str(err.value)


def test_vectorised_per_period_inputs_equal_scalar_ones() -> None:
    doc = scheduled([rule("coupon", "cumcap(rate * 1000, 450) + lag(coupon)", per="year")])
    compiled = compile_terms(doc)
    rng = np.random.default_rng(3)
    arrays = {f"rate[{y}]": rng.random(50) for y in ("2021", "2022", "2023")}
    vector = compiled.evaluate(arrays)
    for i in range(50):
        one = compiled.evaluate({k: v[i] for k, v in arrays.items()})
        for a, b in zip(one.flows, vector.flows, strict=True):
            assert a.amount.tobytes() == b.amount[i].tobytes()
        assert one.investor_repayment.tobytes() == vector.investor_repayment[i].tobytes()


@pytest.mark.parametrize(
    ("amount", "fragment"),
    [
        ("rate * 1000", "'rate' is measured per period of schedule 'year'; use it in a rule with per: year"),
        ("cumsum(total)", "cumsum() runs over periods"),
        ("period * 10", "'period' is only defined in a rule with per: <schedule>"),
    ],
)
def test_per_period_names_outside_a_schedule_are_errors(amount: str, fragment: str) -> None:
    doc = scheduled([rule("once", amount, timing={"date": "2023-12-31"})])
    with pytest.raises(TermsError) as err:
        compile_terms(doc, source="f.yaml")
    assert err.value.issues[0].path == "payment_terms.payments[0].amount"
    assert fragment in err.value.issues[0].reason


def test_unknown_schedule_and_timing_on_a_per_period_rule() -> None:
    doc = scheduled([rule("a", "1", per="yaer"), rule("b", "1", per="year", timing={"date": "2023"})])
    with pytest.raises(TermsError) as err:
        compile_terms(doc, source="f.yaml")
    got = [(i.path, i.reason) for i in err.value.issues]
    assert ("payment_terms.payments[0].per", "unknown schedule 'yaer' (did you mean 'year'?)") in got
    assert any(p == "payment_terms.payments[1].timing" and "no timing" in r for p, r in got)
