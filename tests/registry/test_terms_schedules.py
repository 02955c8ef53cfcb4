"""Schedules (per-period and per-cohort payments), the per-period input convention and path helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.schema import ContractDocument
from registry.terms import OutcomeError, TermsError, compile_terms, describe, outcome_key
from tests.registry.factories import contract_dict
from tests.registry.test_terms import num_expr

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


# --- path-dependent helpers, checked against sums done by hand ------------------------------------------------

RATES = {"rate[2021]": 0.1, "rate[2022]": 0.2, "rate[2023]": 0.3}


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("cumsum(rate * 1000)", [100.0, 300.0, 600.0]),
        ("lag(rate * 1000)", [0.0, 100.0, 200.0]),
        ("lag(rate * 1000, 2)", [0.0, 0.0, 100.0]),
        ("cumcap(rate * 1000, 250)", [100.0, 150.0, 0.0]),  # 100, then 300 > 250: 150 more, then nothing
        ("cumcap(rate * 1000, 1000)", [100.0, 200.0, 300.0]),
        ("period * 10", [10.0, 20.0, 30.0]),
        ("if(period == 3, cumsum(rate), 0) * 1000", [0.0, 0.0, 600.0]),
        ("100 + lag(coupon)", [100.0, 200.0, 300.0]),  # a rule reading its own last period
        ("cumsum(lag(rate)) * 1000", [0.0, 100.0, 300.0]),
    ],
)
def test_path_helpers(amount: str, expected: list[float]) -> None:
    doc = scheduled([rule("coupon", amount, per="year")])
    assert list(amounts(doc, RATES).values()) == pytest.approx(expected, abs=1e-9)


def test_period_years_counts_days_from_the_capital_or_the_previous_period() -> None:
    # capital goes out on 2020-09-01 (service start); periods end 2021-08-31, 2022-08-31, 2023-08-31
    doc = scheduled([rule("coupon", "period_years * 365", per="year")])
    assert list(amounts(doc, {"rate": 0.0}).values()) == [364.0, 365.0, 365.0]


def test_a_rule_without_per_reads_a_per_period_rules_total() -> None:
    doc = scheduled([rule("coupon", "rate * 1000", per="year"),
                     rule("bonus", "if(coupon > 500, 1, 0)", timing={"date": "2023-12-31"})])
    assert amounts(doc, RATES)["bonus"] == 1.0  # 100 + 200 + 300 = 600 > 500
    assert amounts(doc, {"rate": 0.1})["bonus"] == 0.0


def test_owed_is_the_capital_grown_at_the_rate_to_the_payment_day() -> None:
    # capital 5,000,000 SEK on 2020-09-01 (service start), paid 2023-12-31: 1,216 days
    doc = scheduled([rule("capped", "cap(total, owed(10%))", timing={"date": "2023-12-31"})],
                    schedule_metrics=())
    owed = 5_000_000 * 1.1 ** (1216 / 365)
    assert amounts(doc, {"total": 1e9})["capped"] == pytest.approx(owed, rel=1e-15)
    assert amounts(doc, {"total": 100.0})["capped"] == 100.0
    payout = compile_terms(doc).payout({"total": 1e9})
    assert payout.irr == pytest.approx(0.10, abs=1e-9)


def test_owed_with_repayments_is_a_loan_balance() -> None:
    # 5,000,000 out on 2020-09-01 at 10 % a year; 2,100,000 a year is repaid until nothing is owed. By hand:
    # 2021-08-31 (364 days): owed 5,000,000 x 1.1^(364/365) = 5,498,564.01 -> pays 2,100,000
    # 2022-08-31 (729 days): 5,000,000 x 1.1^(729/365) - 2,100,000 x 1.1^(365/365) = 3,738,420.41 -> pays 2,100,000
    # 2023-08-31 (1,094 days): 5,000,000 x 1.1^(1094/365) - 2,100,000 x 1.1^(730/365) - 2,100,000 x 1.1
    #   = 1,802,262.45 -> pays it all, and the IRR is 10 %
    doc = scheduled([rule("repay", "cap(2100000 + 0 * rate, owed(10%, repay))", per="year")])
    got = amounts(doc, {"rate": 0.0})
    assert got["repay[2021]"] == 2_100_000 and got["repay[2022]"] == 2_100_000
    last = 5_000_000 * 1.1 ** (1094 / 365) - 2_100_000 * 1.1 ** (730 / 365) - 2_100_000 * 1.1 ** (365 / 365)
    assert round(last, 2) == 1_802_262.45
    assert got["repay[2023]"] == pytest.approx(last, rel=1e-12)
    assert compile_terms(doc).payout({"rate": 0.0}).irr == pytest.approx(0.10, abs=1e-9)


@pytest.mark.parametrize(
    ("amount", "extra", "fragment"),
    [
        ("lag(rate, 1.5)", {"per": "year"}, "the lag of lag() must be a whole number of periods >= 1"),
        ("lag(rate, rate)", {"per": "year"}, "the lag of lag() must be a whole number"),
        ("owed(rate)", {"per": "year"}, "the rate of owed() must be a constant"),
        ("owed(-2)", {"per": "year"}, "above -100 %"),
        ("owed(5%, total)", {"timing": {"date": "2023"}}, "owed(rate, paid) subtracts earlier periods' payments"),
        ("cumcap(rate > 0, 1)", {"per": "year"}, "argument 1 of cumcap() must be a number"),
        ("cumsum(1, 2)", {"per": "year"}, "cumsum() takes exactly 1 argument, got 2"),
    ],
)
def test_path_helper_errors(amount: str, extra: dict[str, Any], fragment: str) -> None:
    doc = scheduled([rule("coupon", amount, **extra)])
    with pytest.raises(TermsError) as err:
        compile_terms(doc, source="f.yaml")
    assert any(fragment in i.reason and i.path == "payment_terms.payments[0].amount" for i in err.value.issues), \
        err.value.issues


def test_owed_needs_a_dated_rule_and_dated_capital() -> None:
    doc = scheduled([rule("x", "owed(5%)")], schedule_metrics=())
    data = doc.model_dump(mode="json", by_alias=True)
    data["dates"] = {"sources": ["report"], "confidence": "verified"}
    with pytest.raises(TermsError) as err:
        compile_terms(ContractDocument.model_validate(data), source="f.yaml")
    assert "owed() needs the capital's dates" in str(err.value)


def test_a_total_cannot_feed_the_periods_it_totals() -> None:
    # no rule-level cycle (coupon -> once -> base), but 'once' needs the schedule's total and feeds the schedule
    doc = scheduled([rule("coupon", "rate * once", per="year"), rule("base", "rate", per="year"),
                     rule("once", "base", timing={"date": "2023"})])
    with pytest.raises(TermsError) as err:
        compile_terms(doc, source="f.yaml")
    assert "the per-period rules of schedule 'year' and a rule without a schedule read each other" in str(err.value)


def test_schedule_validation() -> None:
    data = contract_dict()
    data["payment_terms"]["schedules"] = {"year": {"periods": [{"label": "a", "date": "2022"},
                                                                {"label": "a", "date": "2023"}]}}
    with pytest.raises(ValueError, match="duplicate period label 'a'"):
        ContractDocument.model_validate(data)
    data["payment_terms"]["schedules"] = {"year": {"periods": [{"label": "a", "date": "2023"},
                                                                {"label": "b", "date": "2022"}]}}
    with pytest.raises(ValueError, match="periods must be in date order"):
        ContractDocument.model_validate(data)
    data["payment_terms"]["schedules"] = {"year": {"periods": [{"label": "a/b", "date": "2023"}]}}
    with pytest.raises(ValueError, match="label"):
        ContractDocument.model_validate(data)
    data["payment_terms"]["schedules"] = {"year": {"periods": [{"label": "a", "date": "2023"}], "metrics": ["nope"]}}
    with pytest.raises(TermsError, match="payment_terms.schedules.year.metrics: unknown outcome metric 'nope'"):
        compile_terms(ContractDocument.model_validate(data), source="f.yaml")


# --- waterfalls: pro rata, fees, per period ------------------------------------------------------------------

def tranche_doc(waterfall: dict[str, Any], payments: list[dict[str, Any]]) -> ContractDocument:
    data = contract_dict()
    data["organisations"] += [{"id": "bank-a", "name": "Bank A"}, {"id": "bank-b", "name": "Bank B"},
                              {"id": "fund", "name": "Fund"}, {"id": "manager", "name": "Manager"}]
    data["investments"] = [
        {"id": "a", "investor": "bank-a", "tranche": "senior", "committed": {"amount": "3000000"}},
        {"id": "b", "investor": "bank-b", "tranche": "senior", "committed": {"amount": "1000000"}},
        {"id": "sub", "investor": "investor-ab", "tranche": "subordinated", "committed": {"amount": "1000000"}},
    ]
    data["outcome_metrics"][0]["kind"] = "continuous"
    data["payment_terms"]["schedules"] = {"year": {"periods": YEARS[:2], "metrics": ["savings"]}}
    data["payment_terms"]["payments"] = payments
    data["payment_terms"]["waterfall"] = waterfall
    return ContractDocument.model_validate(data)


def inflow(**extra: Any) -> dict[str, Any]:
    return {"id": "inflow", "component": "outcome", "payer": "testkommun", "payee": "fund", "amount": "savings",
            **extra}


def test_pro_rata_fee_and_residual_steps() -> None:
    # the inflow pays the running total of savings: 2 m, then 2 m + 4 m = 6 m, 8 m distributed once (a waterfall
    # without per takes the totals): a fee of 100,000 to the manager, the seniors' 4 m principal pro rata 3:1, the
    # subordinated 1 m, and the rest (2.9 m) pro rata to all three by capital 3:1:1
    doc = tranche_doc({"inflow": ["inflow"], "payer": "fund", "steps": [
        {"step": "fee", "payee": "manager", "claim": "100000", "component": "fee"},
        {"step": "pay", "to": ["a", "b"], "claim": "4000000"},
        {"step": "pay", "to": "sub", "claim": "1000000"},
        {"step": "residual", "to": ["a", "b", "sub"], "component": "premium"},
    ]}, [inflow(amount="cumsum(savings)", per="year")])
    result = compile_terms(doc).evaluate({"savings[2021]": 2_000_000, "savings[2022]": 4_000_000})
    got = {f.id: float(f.amount) for f in result.flows if f.id.startswith("waterfall")}
    assert got == pytest.approx({
        "waterfall.steps[0]": 100_000, "waterfall.steps[1].a": 3_000_000, "waterfall.steps[1].b": 1_000_000,
        "waterfall.steps[2]": 1_000_000, "waterfall.steps[3].a": 1_740_000, "waterfall.steps[3].b": 580_000,
        "waterfall.steps[3].sub": 580_000}, abs=1e-6)
    assert float(result.flow("inflow[2022]").amount) == 6_000_000
    manager = next(f for f in result.flows if f.id == "waterfall.steps[0]")
    assert (manager.payee, manager.investment, manager.to_investor) == ("manager", None, False)


def test_fee_step_is_validated() -> None:
    with pytest.raises(ValueError, match="a fee step pays an organisation: give payee, not to"):
        tranche_doc({"inflow": ["inflow"], "payer": "fund", "steps": [{"step": "fee", "to": "a", "claim": "1"}]},
                    [inflow()])
    with pytest.raises(ValueError, match="only pay and residual steps share"):
        tranche_doc({"inflow": ["inflow"], "payer": "fund",
                     "steps": [{"step": "guarantee", "to": ["a", "b"], "by": "bank-a", "claim": "1"}]}, [inflow()])


def test_a_waterfall_per_period_pays_claims_once_over_the_periods() -> None:
    # seniors are owed 4 m in total: 2.5 m arrives in 2021 (all to seniors), 2.5 m in 2022 (1.5 m to seniors, then
    # the subordinated 1 m); each flow is dated on its period's day
    doc = tranche_doc({"per": "year", "inflow": ["inflow"], "payer": "fund", "steps": [
        {"step": "pay", "to": ["a", "b"], "claim": "4000000"},
        {"step": "residual", "to": "sub"},
    ]}, [inflow(per="year")])
    result = compile_terms(doc).evaluate({"savings": 2_500_000})
    got = {(f.id, f.date): float(f.amount) for f in result.flows if f.id.startswith("waterfall")}
    assert got == {
        ("waterfall.steps[0].a[2021]", date(2021, 8, 31)): 1_875_000.0,
        ("waterfall.steps[0].b[2021]", date(2021, 8, 31)): 625_000.0,
        ("waterfall.steps[1][2021]", date(2021, 8, 31)): 0.0,
        ("waterfall.steps[0].a[2022]", date(2022, 8, 31)): 1_125_000.0,
        ("waterfall.steps[0].b[2022]", date(2022, 8, 31)): 375_000.0,
        ("waterfall.steps[1][2022]", date(2022, 8, 31)): 1_000_000.0,
    }
    assert float(result.investor_repayment) == 5_000_000.0


def test_a_waterfall_per_period_needs_inflows_of_that_schedule() -> None:
    doc = tranche_doc({"per": "year", "inflow": ["inflow"], "payer": "fund",
                       "steps": [{"step": "residual", "to": "sub"}]}, [inflow(timing={"date": "2022"})])
    with pytest.raises(TermsError, match="'inflow' is not paid per period of 'year'"):
        compile_terms(doc, source="f.yaml")


# --- property test: per-period evaluation, one outcome equals the same element of many ----------------------

def _path_formula(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        inner.map(lambda e: f"cumsum({e})"),
        inner.map(lambda e: f"lag({e})"),
        st.tuples(inner, st.integers(1, 3)).map(lambda t: f"lag({t[0]}, {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"cumcap({t[0]}, {t[1]})"),
        inner.map(lambda e: f"period * ({e}) + period_years"),
        inner.map(lambda e: f"({e}) + lag(p0)"),
        st.tuples(inner, st.integers(0, 30)).map(lambda t: f"cap({t[0]}, owed({t[1]}%, p0))"),
        st.tuples(inner, st.integers(0, 30)).map(lambda t: f"floor({t[0]}, owed({t[1]}%) / 1000000)"),
        inner,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_path_formula(num_expr(2)), min_size=1, max_size=3), st.integers(0, 2**32 - 1),
       st.booleans())
def test_per_period_scalar_equals_vectorised(formulas: list[str], seed: int, waterfall: bool) -> None:
    data = contract_dict()
    data["outcome_metrics"] = [
        {"id": n, "name": {"en": n}, "kind": "continuous"} for n in ("x", "y", "z")
    ] + [{"id": n, "name": {"en": n}, "kind": "binary"} for n in ("b", "c")]
    data["payment_terms"]["parameters"] = {"K": {"value": "1000"}}
    data["payment_terms"]["schedules"] = {"year": {"periods": YEARS, "metrics": ["x", "y", "b"]}}
    data["payment_terms"]["payments"] = [
        {"id": f"p{i}", "component": "outcome", "payer": "testkommun", "payee": "investor-ab", "amount": f,
         "per": "year"} for i, f in enumerate(formulas)]
    if waterfall:
        data["organisations"].append({"id": "vehicle", "name": "Vehicle"})
        for p in data["payment_terms"]["payments"]:
            p["payee"] = "vehicle"
        data["payment_terms"]["waterfall"] = {
            "per": "year", "inflow": [p["id"] for p in data["payment_terms"]["payments"]], "payer": "vehicle",
            "steps": [{"step": "pay", "to": "loan", "claim": "K * period"}, {"step": "residual", "to": "loan"}]}
    doc = ContractDocument.model_validate(data)
    compiled = compile_terms(doc)
    rng = np.random.default_rng(seed)
    size = 16
    outcomes: dict[str, Any] = {}
    for label in ("2021", "2022", "2023"):
        outcomes[f"x[{label}]"] = rng.normal(0, 30, size).astype(np.float32)
        outcomes[f"y[{label}]"] = np.where(rng.random(size) < 0.2, 0.0, rng.normal(0, 5, size))
        outcomes[f"b[{label}]"] = rng.random(size) < 0.5
    outcomes["z"] = rng.normal(0, 10, size)
    outcomes["c"] = rng.random(size) < 0.5
    try:
        vector = compiled.evaluate(outcomes)
    except OutcomeError:  # a random formula may overflow; the scalar runs must then fail alike
        return
    for i in range(size):
        one = compiled.evaluate({k: v[i] for k, v in outcomes.items()})
        for a, b in zip(one.flows, vector.flows, strict=True):
            assert a.id == b.id and a.date == b.date
            assert a.amount.tobytes() == b.amount[i].tobytes(), (a.id, formulas)
        assert one.investor_repayment.tobytes() == vector.investor_repayment[i].tobytes()


def test_describe_the_new_functions(swedish: Callable[[str], str]) -> None:
    assert describe("cap(x, owed(15%))") == "x, at most (what gives the investors 15\u00a0% a year on their capital)"
    assert describe("cumcap(2900 * k, m)", "sv", swedish) == "2\u00a0900 × k, högst m totalt över perioderna"
    assert describe("lag(x, 2) + cumsum(y)") == "(x 2 periods earlier) + (y summed over the periods so far)"
    assert describe("lag(x)", "sv", swedish) == "x en period tidigare"
    assert describe("owed(r, p)", "sv", swedish) == (
        "det som ger investerarna r per år på sitt kapital, efter tidigare återbetalningar p")
