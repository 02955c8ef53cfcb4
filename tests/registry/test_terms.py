"""The payment-terms language: parser, type checker, compiler, evaluation, waterfall, timing, payout."""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import _formula as F
from registry.schema import ContractDocument
from registry.terms import (
    CompiledTerms,
    OutcomeError,
    TermsError,
    check_terms,
    compile_terms,
    describe,
    partial_date_end,
)

# --- building test documents -------------------------------------------------------------------------

ORGS = ["kommun", "lsv", "city", "mdrc", "gs", "bloomberg", "senior-bank", "junior-fund", "united-way"]


def make_doc(
    payments: list[dict[str, Any]] | None = None,
    *,
    metrics: dict[str, str] | None = None,
    parameters: dict[str, Any] | None = None,
    investments: list[dict[str, Any]] | None = None,
    waterfall: dict[str, Any] | None = None,
    dates: dict[str, str] | None = None,
    investor_capital: str | None = None,
    currency: str = "SEK",
    **terms_extra: Any,
) -> ContractDocument:
    """A small valid contract document around the given payment terms."""
    terms: dict[str, Any] = {
        "parameters": {k: (v if isinstance(v, dict) else {"value": v}) for k, v in (parameters or {}).items()},
        "payments": [
            {"component": "outcome", "payer": "kommun", "payee": "lsv", **p} for p in (payments or [])
        ],
        **terms_extra,
    }
    if waterfall is not None:
        terms["waterfall"] = waterfall
    if investor_capital is not None:
        terms["investor_capital"] = investor_capital
    return ContractDocument.model_validate(
        {
            "id": "test-contract",
            "identity": {"names": {"en": "Test contract"}},
            "classification": {"country": "SE", "policy_sector": "child_and_family_welfare"},
            "stage": "complete",
            "dates": {"service_start": "2016-08", "evaluation_end": "2021-02"} if dates is None else dates,
            "finance": {"currency": currency},
            "organisations": [{"id": o, "name": o} for o in ORGS],
            "investments": investments if investments is not None else [],
            "outcome_metrics": [
                {"id": k, "name": {"en": k}, "kind": v}
                for k, v in (metrics if metrics is not None else {"x": "continuous"}).items()
            ],
            "payment_terms": terms,
        }
    )


XYB = {"x": "continuous", "y": "continuous", "z": "count", "b": "binary", "c": "binary"}


@functools.lru_cache(maxsize=512)
def compiled_formula(formula: str, params: tuple[tuple[str, float], ...] = ()) -> CompiledTerms:
    return compile_terms(
        make_doc([{"id": "p", "amount": formula}], metrics=XYB, parameters=dict(params)), source="t.yaml"
    )


def value(formula: str, **outcomes: Any) -> Any:
    """The (clipped) amount of a one-rule document; all of x, y, z, b, c default to 0 / false."""
    compiled = compiled_formula(formula, (("K", 10.0),))
    given_ = {n: outcomes.get(n, False if XYB[n] == "binary" else 0.0) for n in compiled.outcome_names}
    amount = compiled.evaluate(given_).flow("p").amount
    return float(amount) if amount.shape == () else amount


def issues_of(doc: ContractDocument) -> list[tuple[str, str]]:
    return [(i.path, i.reason) for i in check_terms(doc, "t.yaml")]


def single_issue(formula: str, **kw: Any) -> tuple[str, str]:
    found = issues_of(make_doc([{"id": "p", "amount": formula}], metrics=XYB, **kw))
    assert len(found) == 1, found
    return found[0]


# --- parser ------------------------------------------------------------------------------------------


def test_precedence_and_associativity() -> None:
    assert F.parse("1 + 2 * 3") == F.Binary("+", F.Num(1.0, 1, "1"), F.Binary("*", F.Num(2.0, 5, "2"),
                                                                            F.Num(3.0, 9, "3"), 7), 3)
    tree = F.parse("a or b and not c")
    assert isinstance(tree, F.Binary) and tree.op == "or"
    assert isinstance(tree.right, F.Binary) and tree.right.op == "and"
    assert isinstance(tree.right.right, F.Unary) and tree.right.right.op == "not"
    cmp = F.parse("x + 1 > y * 2 and b")
    assert isinstance(cmp, F.Binary) and cmp.op == "and"
    assert isinstance(cmp.left, F.Binary) and cmp.left.op == ">"
    assert F.unparse(F.parse("-x * y")) == "-x * y"
    assert value("10 - 4 - 3") == 3.0
    assert value("8 / 4 / 2") == 1.0
    assert value("2 + 3 * 4") == 14.0
    assert value("(2 + 3) * 4") == 20.0
    assert value("-2 * -3") == 6.0
    assert value("if(not b and x > 1 or c, 1, 2)", x=5.0) == 1.0  # (not b and x > 1) or c


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("40%", 0.4),
        ("12.5%", 0.125),
        ("7%", 0.07),
        ("10_000_000", 1e7),
        ("1e7", 1e7),
        ("2.5e-3", 0.0025),
        (".5", 0.5),
        ("1_000.250_5", 1000.2505),
    ],
)
def test_number_literals(text: str, expected: float) -> None:
    node = F.parse(text)
    assert isinstance(node, F.Num) and node.value == expected


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("", 1, "empty formula"),
        ("1 +", 4, "expected a value, found the end of the formula"),
        ("a < b < c", 7, "cannot be chained"),
        ("min(1, 2", 9, "expected ',' or ')' to close '(' at column 4"),
        ("(a + b", 7, "expected ')' to close '(' at column 1"),
        ("10_", 1, "malformed number '10_'"),
        ("1__0", 1, "malformed number"),
        ("3x", 1, "malformed number '3x'"),
        ("a = b", 3, "use '==' to compare"),
        ("a && b", 3, "use 'and'"),
        ("x ^ 2", 3, "no power operator"),
        ("'hi'", 1, "no strings"),
        ("a b", 3, "expected an operator before 'b'"),
        ("x and", 6, "expected a value"),
        ("1e999", 1, "too large"),
        ("f(,)", 3, "expected a value, found ','"),
    ],
)
def test_syntax_errors_carry_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(F.FormulaSyntaxError) as err:
        F.parse(text)
    assert err.value.column == column
    assert fragment in err.value.message
    assert str(err.value).startswith(f"column {column}: ")


def test_comments_and_whitespace() -> None:
    assert value("x * 2   # twice the outcome\n", x=3.0) == 6.0


def test_python_is_never_evaluated() -> None:
    for text in ("__import__('os')", "x.__class__", "lambda: 1", "[1][0]"):
        found = issues_of(make_doc([{"id": "p", "amount": text}], metrics=XYB))
        assert found, text


# --- type checking -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "fragment"),
    [
        ("b + 1", "the left operand of '+' must be a number, not a boolean"),
        ("x and b", "the left operand of 'and' must be a boolean, not a number (compare it"),
        ("not x", "the operand of 'not' must be a boolean"),
        ("-b", "the operand of unary '-' must be a number"),
        ("if(x, 1, 0)", "the condition of if() must be a boolean, not a number"),
        ("if(b, 1, c)", "the branches of if() must have the same type, got number and boolean"),
        ("if(b, 1)", "if() takes exactly 3 arguments, got 2"),
        ("min(x)", "min() takes at least 2 arguments, got 1"),
        ("abs(x, y)", "abs() takes exactly 1 argument, got 2"),
        ("clamp(x, 1)", "clamp() takes exactly 3 arguments, got 2"),
        ("cap(x, b)", "argument 2 of cap() must be a number, not a boolean"),
        ("if(all(b, x), 1, 0)", "argument 2 of all() must be a boolean"),
        ("x > b", "the right operand of '>' must be a number"),
        ("b", "a payment amount must be a number, not a boolean"),
        ("x > 1", "a payment amount must be a number, not a boolean"),
        ("savngs", "unknown name 'savngs'"),
        ("xx + 1", "unknown name 'xx' (did you mean 'x'?)"),
        ("maxx(x, 1)", "unknown function 'maxx' (did you mean max?)"),
        ("x(1)", "'x' is not a function"),
        ("min + 1", "'min' is a function; call it as min(...)"),
        ("[1, 2]", "a list [...] is only allowed as the edges or values of bands()"),
        ("rate_card(K)", "'K' is not a rate-card parameter"),
        ("rate_card(x * 2)", "rate_card() takes the name of a rate-card parameter"),
        ("rate_card(nope)", "unknown name 'nope'"),
        ("bands(x, [1, 1], [0, 1, 2])", "band edges must be strictly increasing: edge 2 (1) is not above edge 1 (1)"),
        ("bands(x, [2, 1], [0, 1, 2])", "strictly increasing"),
        ("bands(x, [1, 2], [0, 1])", "one more value than edges: 2 edges, 2 values"),
        ("bands(x, [], [0])", "at least one edge"),
        ("bands(x, [y], [0, 1])", "band edges must be constants"),
        ("bands(x, 1, [0, 1])", "the edges of bands() must be a list"),
        ("bands(b, [1], [0, 1])", "the first argument of bands() must be a number"),
        ("bands(x, [1], [0, b])", "band value 2 must be a number"),
        ("bands(x, [1])", "bands() takes exactly 3 arguments, got 2"),
    ],
)
def test_type_errors(formula: str, fragment: str) -> None:
    path, reason = single_issue(formula, parameters={"K": 10})
    assert path == "payment_terms.payments[0].amount"
    assert fragment in reason


def test_type_errors_carry_the_column() -> None:
    _, reason = single_issue("x * 2 + b")
    assert reason.startswith("column 9: ")


def test_every_issue_is_collected_with_its_path() -> None:
    doc = make_doc(
        [
            {"id": "r1", "amount": "x +"},
            {"id": "r2", "amount": "b * 2"},
            {"id": "r3", "amount": "x", "payee": "gs"},
        ],
        metrics=XYB,
        parameters={"prices": {"rate_card": {"x": 1, "nope": 2}}},
    )
    with pytest.raises(TermsError) as err:
        compile_terms(doc, source="seed_contracts/t.yaml")
    paths = [i.path for i in err.value.errors]
    assert paths == [
        "payment_terms.parameters.prices.rate_card.nope",
        "payment_terms.payments[0].amount",
        "payment_terms.payments[1].amount",
    ]
    lines = str(err.value).splitlines()
    assert lines[0] == (
        "seed_contracts/t.yaml: payment_terms.parameters.prices.rate_card.nope: unknown outcome metric 'nope'"
    )
    assert lines[1].startswith("seed_contracts/t.yaml: payment_terms.payments[0].amount: column 4: ")
    assert err.value.issues == err.value.errors
    assert check_terms(doc, "seed_contracts/t.yaml") == err.value.errors


def test_cycles_between_rules_are_rejected() -> None:
    doc = make_doc(
        [
            {"id": "a", "amount": "c + 1"},
            {"id": "b", "amount": "x"},
            {"id": "c", "amount": "a * 2"},
            {"id": "d", "amount": "d"},
        ]
    )
    found = issues_of(doc)
    assert ("payment_terms.payments[0].amount", "payment rules refer to each other in a cycle: a → c → a") in found
    assert ("payment_terms.payments[3].amount", "payment rules refer to each other in a cycle: d → d") in found
    assert len(found) == 2


def test_name_clashes_and_reserved_words() -> None:
    doc = make_doc(
        [{"id": "x", "amount": "1"}, {"id": "p", "amount": "1"}],
        parameters={"capital": 1, "x": 2},
        metrics={"x": "continuous", "and": "binary"},
    )
    found = dict(issues_of(doc))
    assert "reserved word" in found["outcome_metrics[1].id"]
    assert "clashes with the built-in name 'capital'" in found["payment_terms.parameters.capital"]
    assert "clashes with outcome metric 'x'" in found["payment_terms.parameters.x"]
    assert "clashes with outcome metric 'x'" in found["payment_terms.payments[0].id"]


def test_investor_capital_formula_is_a_constant_over_parameters() -> None:
    found = issues_of(make_doc([{"id": "p", "amount": "1"}], parameters={"C": 5}, investor_capital="C * x"))
    assert found == [
        ("payment_terms.investor_capital",
         "column 5: 'x' is an outcome metric, which investor_capital (a constant over parameters) cannot refer to")
    ]
    compiled = compile_terms(make_doc([{"id": "p", "amount": "capital"}], parameters={"C": 5e6},
                                      investor_capital="75% * C"))
    assert compiled.investor_capital == 3.75e6
    assert float(compiled.evaluate({}).flow("p").amount) == 3.75e6


# --- functions and evaluation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "outcomes", "expected"),
    [
        ("x + y", {"x": 2.0, "y": 3.5}, 5.5),
        ("x - y + 10", {"x": 2.0, "y": 3.5}, 8.5),
        ("x * y", {"x": 2.0, "y": 3.5}, 7.0),
        ("x / y", {"x": 7.0, "y": 2.0}, 3.5),
        ("x / y", {"x": 7.0, "y": 0.0}, 0.0),  # documented: division by zero gives 0
        ("x / 0", {"x": 7.0}, 0.0),
        ("1 / (y - y) + 5", {"y": 3.0}, 5.0),
        ("+x", {"x": 4.0}, 4.0),
        ("-x", {"x": -4.0}, 4.0),
        ("if(b, 1, 2)", {"b": True}, 1.0),
        ("if(b, 1, 2)", {"b": False}, 2.0),
        ("if(x > 1, 1, 2)", {"x": 1.0}, 2.0),
        ("if(x >= 1, 1, 2)", {"x": 1.0}, 1.0),
        ("if(x < 1, 1, 2)", {"x": 1.0}, 2.0),
        ("if(x <= 1, 1, 2)", {"x": 1.0}, 1.0),
        ("if(x == 1, 1, 2)", {"x": 1.0}, 1.0),
        ("if(x != 1, 1, 2)", {"x": 1.0}, 2.0),
        ("if(b and c, 1, 2)", {"b": True, "c": False}, 2.0),
        ("if(b or c, 1, 2)", {"b": True, "c": False}, 1.0),
        ("if(not b, 1, 2)", {"b": True}, 2.0),
        ("if(not(b), 1, 2)", {"b": False}, 1.0),
        ("if(all(b, c, x > 0), 1, 2)", {"b": True, "c": True, "x": 1.0}, 1.0),
        ("if(all(b, c, x > 0), 1, 2)", {"b": True, "c": True, "x": 0.0}, 2.0),
        ("if(any(b, c), 1, 2)", {"b": False, "c": True}, 1.0),
        ("if(any(b, c), 1, 2)", {"b": False, "c": False}, 2.0),
        ("if(true, 1, 2) + if(false, 10, 20)", {}, 21.0),
        ("if(b, c, true)", {"b": False, "c": False}, None),  # boolean branches: checked below
        ("min(x, y, 5)", {"x": 7.0, "y": 6.0}, 5.0),
        ("max(x, y, 5)", {"x": 7.0, "y": 6.0}, 7.0),
        ("sum(x, y, 5)", {"x": 7.0, "y": 6.0}, 18.0),
        ("sum(x)", {"x": 7.0}, 7.0),
        ("abs(x)", {"x": -3.0}, 3.0),
        ("cap(x, 5)", {"x": 7.0}, 5.0),
        ("cap(x, 5)", {"x": 3.0}, 3.0),
        ("floor(x, 5)", {"x": 3.0}, 5.0),
        ("floor(x, 5)", {"x": 7.0}, 7.0),
        ("clamp(x, 2, 5)", {"x": 1.0}, 2.0),
        ("clamp(x, 2, 5)", {"x": 3.0}, 3.0),
        ("clamp(x, 2, 5)", {"x": 9.0}, 5.0),
        ("excess(x, 5)", {"x": 7.5}, 2.5),
        ("excess(x, 5)", {"x": 3.0}, 0.0),
        ("K * 2", {}, 20.0),
        ("x - 10", {"x": 3.0}, 0.0),  # a payment is clipped at zero
        ("z * 2", {"z": 4}, 8.0),
    ],
)
def test_functions(formula: str, outcomes: dict[str, Any], expected: float | None) -> None:
    if expected is None:
        with pytest.raises(TermsError, match="must be a number, not a boolean"):
            compiled_formula(formula)
        return
    assert value(formula, **outcomes) == expected


RESTORATION = "bands(x, [0.55, 0.60, 0.65], [0, 0.03, 0.075, 0.12]) * 1000"


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (-5.0, 0.0),
        (0.0, 0.0),
        (0.5499999, 0.0),
        (0.55, 30.0),  # an edge belongs to the band above it
        (0.5999999, 30.0),
        (0.60, 75.0),
        (0.649, 75.0),
        (0.65, 120.0),
        (7.0, 120.0),
    ],
)
def test_band_edges(x: float, expected: float) -> None:
    assert value(RESTORATION, x=x) == pytest.approx(expected, abs=1e-12)


def test_bands_vectorised_with_expression_values_and_parameter_edges() -> None:
    xs = np.array([0.0, 0.55, 0.6, 0.65, 1.0])
    assert np.array_equal(value(RESTORATION, x=xs), np.array([0.0, 1000 * 0.03, 1000 * 0.075, 1000 * 0.12,
                                                               1000 * 0.12]))
    got = value("bands(x, [K / 10, K], [y, 2 * y, 0])", x=np.array([0.0, 1.0, 5.0, 10.0]), y=3.0)
    assert np.array_equal(got, np.array([3.0, 6.0, 6.0, 0.0]))
    # a constant x folds to one band
    assert value("bands(K, [1, 20], [y, 2 * y, 0])", y=3.0) == 6.0


def test_rate_cards() -> None:
    doc = make_doc(
        [{"id": "p", "amount": "rate_card(prices)"}, {"id": "q", "amount": "rate_card(empty) + 1"}],
        metrics={"ready": "count", "literate": "count", "passed": "binary", "unused": "continuous"},
        parameters={
            "prices": {"rate_card": {"ready": 2900, "literate": 750, "passed": 100}},
            "empty": {"rate_card": {}},
        },
    )
    compiled = compile_terms(doc)
    assert compiled.outcome_names == ("ready", "literate", "passed")
    result = compiled.evaluate({"ready": np.array([190, 0]), "literate": np.array([10, 1]),
                                "passed": np.array([True, False])})
    assert np.array_equal(result.flow("p").amount, np.array([190 * 2900 + 10 * 750 + 100, 750.0]))
    assert np.array_equal(result.flow("q").amount, np.array([1.0, 1.0]))
    found = issues_of(make_doc([{"id": "p", "amount": "prices * 2"}],
                               parameters={"prices": {"rate_card": {"x": 1}}}))
    assert found == [("payment_terms.payments[0].amount",
                      "column 1: 'prices' is a rate card; use rate_card(prices)")]


def test_rules_refer_to_other_rules_and_see_the_clipped_amount() -> None:
    doc = make_doc(
        [
            {"id": "bonus", "amount": "base * 10%"},  # refers to a later rule
            {"id": "base", "amount": "x - 100"},
        ]
    )
    compiled = compile_terms(doc)
    result = compiled.evaluate({"x": np.array([50.0, 1100.0])})
    assert np.array_equal(result.flow("base").amount, np.array([0.0, 1000.0]))
    assert np.array_equal(result.flow("bonus").amount, np.array([0.0, 100.0]))
    assert [f.id for f in result.flows] == ["bonus", "base"]  # document order


# --- outcomes in ---------------------------------------------------------------------------------------


def norrkoping(**extra: Any) -> ContractDocument:
    return make_doc(
        [
            {"id": "activity_guarantee", "component": "guarantee", "amount": "if(delivered, 40% * C, 0)",
             "timing": {"date": "2019-03"}},
            {"id": "savings_share", "amount": "cap(60% * floor(savings, 0), 60% * C)"},
            {"id": "premium", "component": "premium",
             "amount": "if(savings > C and school_improved, cap(excess(savings, C), 20% * C), 0)",
             "timing": {"months_after_start": 48}},
        ],
        metrics={"delivered": "binary", "savings": "continuous", "school_improved": "binary",
                 "wellbeing": "continuous"},
        parameters={"C": 10_000_000},
        investments=[
            {"id": "lsv_loan", "investor": "lsv", "tranche": "senior", "committed": {"amount": 10_000_000},
             "drawn": {"amount": 10_000_000}},
        ],
        **extra,
    )


@pytest.mark.parametrize(
    ("delivered", "savings", "school", "expected"),
    [
        (False, -2e6, False, [0, 0, 0]),
        (True, 0.0, False, [4e6, 0, 0]),
        (True, 4e6, True, [4e6, 2.4e6, 0]),
        (True, 11e6, False, [4e6, 6e6, 0]),
        (True, 11e6, True, [4e6, 6e6, 1e6]),
        (True, 30e6, True, [4e6, 6e6, 2e6]),
    ],
)
def test_norrkoping_terms(delivered: bool, savings: float, school: bool, expected: list[float]) -> None:
    compiled = compile_terms(norrkoping())
    assert compiled.outcome_names == ("delivered", "savings", "school_improved")
    result = compiled.evaluate({"delivered": delivered, "savings": savings, "school_improved": school})
    assert [float(f.amount) for f in result.flows] == expected
    assert float(result.investor_repayment) == sum(expected)
    assert result.investor_repayment.shape == ()
    assert set(result.by_payer) == {"kommun"} and float(result.by_payer["kommun"]) == sum(expected)
    assert float(result.by_component["guarantee"]) == expected[0]


def test_missing_and_unknown_outcomes_are_named() -> None:
    compiled = compile_terms(norrkoping())
    with pytest.raises(OutcomeError, match="missing outcome\\(s\\): delivered, school_improved"):
        compiled.evaluate({"savings": 1.0})
    with pytest.raises(OutcomeError, match="unknown outcome\\(s\\): saving "):
        compiled.evaluate({"delivered": True, "savings": 1.0, "school_improved": True, "saving": 2.0})
    # a metric of the contract that the terms do not read is accepted and ignored
    compiled.evaluate({"delivered": True, "savings": 1.0, "school_improved": True, "wellbeing": 2.0})


def test_outcome_values_are_checked() -> None:
    compiled = compile_terms(norrkoping())
    ok = {"delivered": True, "savings": 1.0, "school_improved": False}
    with pytest.raises(OutcomeError, match="'delivered' is binary"):
        compiled.evaluate({**ok, "delivered": 2})
    with pytest.raises(OutcomeError, match="not finite"):
        compiled.evaluate({**ok, "savings": np.array([1.0, np.nan])})
    with pytest.raises(OutcomeError, match="numeric or boolean"):
        compiled.evaluate({**ok, "savings": "lots"})
    with pytest.raises(OutcomeError, match="do not broadcast"):
        compiled.evaluate({**ok, "savings": np.zeros(3), "delivered": np.ones(4, dtype=bool)})
    # 0/1 numbers for a binary metric and Decimals for a number are fine
    a = compiled.evaluate({**ok, "delivered": 1, "savings": Decimal("4000000")})
    b = compiled.evaluate({**ok, "delivered": True, "savings": 4e6})
    assert float(a.investor_repayment) == float(b.investor_repayment) == 6.4e6


def test_broadcasting_and_float32() -> None:
    compiled = compile_terms(norrkoping())
    savings = np.linspace(-5e6, 25e6, 7, dtype=np.float32).reshape(7, 1)
    delivered = np.array([[True, False, True]])
    result = compiled.evaluate({"delivered": delivered, "savings": savings, "school_improved": True})
    assert result.shape == (7, 3)
    for flow in result.flows:
        assert flow.amount.shape == (7, 3) and flow.amount.dtype == np.float64
    for i in range(7):
        for j in range(3):
            one = compiled.evaluate(
                {"delivered": bool(delivered[0, j]), "savings": savings[i, 0], "school_improved": True}
            )
            assert float(one.investor_repayment) == result.investor_repayment[i, j]


def test_overflow_is_an_error_not_an_infinite_payment() -> None:
    compiled = compiled_formula("x * x * x")
    with pytest.raises(OutcomeError, match="overflowed"):
        compiled.evaluate({"x": 1e200})


# --- waterfall -----------------------------------------------------------------------------------------


def rikers() -> ContractDocument:
    return make_doc(
        [{"id": "success_payment", "payer": "city", "payee": "mdrc",
          "amount": "bands(reduction, [10%, 11%, 12.5%], [0, 1, 1.05, 1.1]) * capital"}],
        metrics={"reduction": "rate"},
        investments=[
            {"id": "gs_loan", "investor": "gs", "tranche": "senior", "committed": {"amount": 9_600_000},
             "drawn": {"amount": 7_200_000}},
            {"id": "bloomberg_guarantee", "investor": "bloomberg", "tranche": "guarantee",
             "committed": {"amount": 7_200_000}},
        ],
        waterfall={
            "inflow": ["success_payment"],
            "payer": "mdrc",
            "steps": [
                {"step": "pay", "to": "gs_loan", "claim": "capital * 1.1"},
                {"step": "guarantee", "by": "bloomberg", "to": "gs_loan", "claim": "capital",
                 "limit": "6_000_000", "component": "guarantee"},
            ],
        },
        dates={"signed": "2012-08", "service_start": "2012-09", "actual_completion": "2015-08"},
        currency="USD",
    )


def test_rikers_guarantee_when_the_city_pays_nothing() -> None:
    compiled = compile_terms(rikers())
    assert compiled.investor_capital == 7_200_000  # drawn, not committed; the guarantee is not capital
    result = compiled.evaluate({"reduction": 0.0})
    flows = {f.id: f for f in result.flows}
    assert float(flows["success_payment"].amount) == 0.0
    assert float(flows["waterfall.steps[0]"].amount) == 0.0
    guarantee = flows["waterfall.steps[1]"]
    assert (guarantee.payer, guarantee.payee, guarantee.component) == ("bloomberg", "gs", "guarantee")
    assert float(guarantee.amount) == 6_000_000
    assert float(result.investor_repayment) == 6_000_000
    assert float(result.by_investor["gs"]) == 6_000_000
    assert float(result.by_payer["bloomberg"]) == 6_000_000
    assert float(result.by_payer["city"]) == 0.0
    payout = compiled.payout({"reduction": 0.0})
    assert payout.investor_capital - payout.investor_repayment == Decimal("1200000.00")  # what GS lost
    assert payout.multiple == pytest.approx(6 / 7.2)
    assert payout.irr is not None and payout.irr < 0


def test_rikers_success_pays_through_the_vehicle_and_is_counted_once() -> None:
    compiled = compile_terms(rikers())
    result = compiled.evaluate({"reduction": np.array([0.0, 0.105, 0.2])})
    inflow = result.flow("success_payment").amount
    assert np.array_equal(inflow, np.array([0.0, 7.2e6, 7.2e6 * 1.1]))
    assert np.array_equal(result.flow("waterfall.steps[0]").amount, inflow)
    assert np.array_equal(result.flow("waterfall.steps[1]").amount, np.array([6e6, 0.0, 0.0]))
    # the city's payment reaches MDRC, then MDRC pays GS: GS's repayment is not doubled
    assert np.array_equal(result.investor_repayment, np.array([6e6, 7.2e6, 7.2e6 * 1.1]))
    assert np.array_equal(result.by_payee["mdrc"], inflow)
    assert np.array_equal(result.by_payer["mdrc"], inflow)


def senior_subordinated(residual: bool = True) -> ContractDocument:
    steps = [
        {"step": "pay", "to": "senior", "claim": "4_600_000 * 1.05"},
        {"step": "pay", "to": "junior", "claim": "2_400_000 * 1.05"},
    ]
    if residual:
        steps.append({"step": "residual", "to": "junior", "component": "premium"})
    return make_doc(
        [{"id": "outcome_payment", "payer": "city", "payee": "united-way", "amount": "95% * savings"}],
        metrics={"savings": "continuous"},
        investments=[
            {"id": "senior", "investor": "senior-bank", "tranche": "senior", "committed": {"amount": 4_600_000}},
            {"id": "junior", "investor": "junior-fund", "tranche": "subordinated",
             "committed": {"amount": 2_400_000}},
        ],
        waterfall={"inflow": ["outcome_payment"], "payer": "united-way", "steps": steps,
                   "timing": {"months_after_start": 60}},
    )


def test_senior_is_paid_before_subordinated() -> None:
    compiled = compile_terms(senior_subordinated())
    inflow = np.array([0.0, 3e6, 6e6, 7.35e6, 10e6])
    result = compiled.evaluate({"savings": inflow / 0.95})
    senior = result.flow("waterfall.steps[0]").amount
    junior = result.flow("waterfall.steps[1]").amount
    rest = result.flow("waterfall.steps[2]").amount
    got_inflow = result.flow("outcome_payment").amount
    assert np.allclose(senior, np.minimum(got_inflow, 4.83e6))
    assert np.allclose(junior, np.clip(got_inflow - 4.83e6, 0, 2.52e6))
    assert np.allclose(rest, np.maximum(got_inflow - 4.83e6 - 2.52e6, 0))
    assert np.allclose(senior + junior + rest, got_inflow, rtol=0, atol=1e-6)  # nothing appears or vanishes
    assert np.allclose(result.investor_repayment, got_inflow, rtol=0, atol=1e-6)
    assert result.flow("waterfall.steps[2]").date == date(2021, 8, 1)  # 60 months after 2016-08


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=2e7, allow_nan=False), min_size=1, max_size=30),
       st.booleans())
def test_waterfall_conserves_money(savings: list[float], residual: bool) -> None:
    compiled = compile_terms(senior_subordinated(residual))
    result = compiled.evaluate({"savings": np.array(savings)})
    inflow = result.flow("outcome_payment").amount
    steps = [f.amount for f in result.flows if f.id.startswith("waterfall")]
    paid = functools.reduce(np.add, steps)
    assert np.all(paid <= inflow + 1e-6)
    if residual:
        assert np.allclose(paid, inflow, rtol=0, atol=1e-6)
    assert np.all(steps[0] >= 0) and np.all(steps[1] >= 0)
    assert np.all((steps[1] == 0) | (steps[0] == 4_600_000 * 1.05))  # junior only after senior is whole


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (lambda w: w["steps"][0].pop("claim"), "payment_terms.waterfall.steps[0].claim", "needs a claim"),
        (lambda w: w["steps"].append({"step": "residual", "to": "junior", "limit": "1"}),
         "payment_terms.waterfall.steps[3].limit", "has no limit"),
        (lambda w: w["steps"][0].update(claim="savings > 1"), "payment_terms.waterfall.steps[0].claim",
         "must be a number, not a boolean"),
        (lambda w: w["steps"][1].update(limit="nope"), "payment_terms.waterfall.steps[1].limit",
         "unknown name 'nope'"),
        (lambda w: w.update(payer="mdrc"), "payment_terms.waterfall.inflow", "is paid to 'united-way'"),
        (lambda w: w.update(inflow=["outcome_payment", "outcome_payment"]), "payment_terms.waterfall.inflow",
         "listed twice"),
    ],
)
def test_waterfall_errors(change: Any, path: str, fragment: str) -> None:
    data = senior_subordinated().model_dump(mode="json", by_alias=True, exclude_none=True)
    change(data["payment_terms"]["waterfall"])
    found = issues_of(ContractDocument.model_validate(data))
    assert len(found) == 1, found
    assert found[0][0] == path and fragment in found[0][1]


# --- timing and payout ---------------------------------------------------------------------------------


def test_partial_dates_resolve_to_the_end_of_the_period() -> None:
    assert partial_date_end("2019") == date(2019, 12, 31)
    assert partial_date_end("2020-02") == date(2020, 2, 29)
    assert partial_date_end("2019-03-15") == date(2019, 3, 15)


def test_flow_dates() -> None:
    result = compile_terms(norrkoping()).evaluate({"delivered": True, "savings": 0.0, "school_improved": True})
    dates = {f.id: f.date for f in result.flows}
    assert dates == {
        "activity_guarantee": date(2019, 3, 31),  # timing.date 2019-03 → end of March
        "savings_share": date(2021, 2, 28),  # no timing → end of evaluation_end 2021-02
        "premium": date(2020, 8, 1),  # 48 months after service_start 2016-08
    }
    for doc_dates, expected in [
        ({"service_start": "2016-08", "actual_completion": "2021", "service_end": "2019-03"}, date(2021, 12, 31)),
        ({"service_start": "2016-08", "service_end": "2019-03"}, date(2019, 3, 31)),
        ({"service_start": "2016-08"}, None),
    ]:
        doc = make_doc([{"id": "p", "amount": "x"}, {"id": "q", "amount": "x", "timing": {"months_after_start": 1}}],
                       dates=doc_dates)
        flows = compile_terms(doc).evaluate({"x": 1.0}).flows
        assert flows[0].date == expected
        assert flows[1].date == date(2016, 9, 1)
    doc = make_doc([{"id": "q", "amount": "x", "timing": {"months_after_start": 1}}], dates={})
    assert compile_terms(doc).evaluate({"x": 1.0}).flows[0].date is None


def test_capital_outflows() -> None:
    inv = [
        {"id": "a", "investor": "lsv", "tranche": "senior", "committed": {"amount": 10},
         "drawdowns": [{"date": "2016-09", "amount": 4}, {"date": "2017", "amount": 3}]},
        {"id": "b", "investor": "gs", "tranche": "equity", "committed": {"amount": 5}},
        {"id": "g", "investor": "bloomberg", "tranche": "grant", "committed": {"amount": 100}},
    ]
    compiled = compile_terms(make_doc([{"id": "p", "amount": "capital"}], investments=inv,
                                      dates={"signed": "2016-06", "evaluation_end": "2020"}))
    assert compiled.capital_outflows == [(date(2016, 9, 1), 4.0), (date(2017, 1, 1), 3.0), (date(2016, 6, 1), 5.0)]
    assert compiled.investor_capital == 12.0  # a: no 'drawn', so its drawdowns (7); b: committed (5)
    assert compiled.investors == frozenset({"lsv", "gs"})


def test_capital_prefers_drawn_then_committed_and_checks_currency() -> None:
    inv = [
        {"id": "a", "investor": "lsv", "tranche": "senior", "committed": {"amount": 10}, "drawn": {"amount": 7.5}},
        {"id": "b", "investor": "gs", "tranche": "equity", "committed": {"amount": 5}},
    ]
    assert compile_terms(make_doc([{"id": "p", "amount": "capital"}], investments=inv)).investor_capital == 12.5
    inv[1]["committed"]["currency"] = "USD"
    assert issues_of(make_doc([{"id": "p", "amount": "capital"}], investments=inv)) == [
        ("investments[1].committed.currency",
         "USD differs from the contract currency SEK; capital cannot be added up across currencies")
    ]


def test_payout_json() -> None:
    compiled = compile_terms(norrkoping(), source="seed_contracts/se-norrkoping-2016.yaml")
    payout = compiled.payout({"delivered": True, "savings": 12e6, "school_improved": True})
    data = payout.model_dump(mode="json")
    assert data["contract"] == "test-contract" and data["currency"] == "SEK"
    assert data["outcomes"] == {"delivered": True, "savings": 12e6, "school_improved": True}
    assert [(p["id"], p["amount"], p["date"]) for p in data["payments"]] == [
        ("activity_guarantee", "4000000.00", "2019-03-31"),
        ("savings_share", "6000000.00", "2021-02-28"),
        ("premium", "2000000.00", "2020-08-01"),
    ]
    assert data["payments"][0]["payer"] == "kommun" and data["payments"][0]["component"] == "guarantee"
    assert data["investor_capital"] == "10000000.00"
    assert data["investor_repayment"] == "12000000.00"
    assert data["multiple"] == pytest.approx(1.2)
    # capital out on service_start 2016-08-01 (no drawdowns), 12 m back over 2019-03 .. 2021-02
    from registry.finance import xirr

    expected = xirr([date(2016, 8, 1), date(2019, 3, 31), date(2021, 2, 28), date(2020, 8, 1)],
                    [-10e6, 4e6, 6e6, 2e6])
    assert data["irr"] == pytest.approx(expected, abs=1e-12) and 0.03 < data["irr"] < 0.06


def test_payout_rounds_and_sums_the_rounded_amounts() -> None:
    doc = make_doc(
        [{"id": "a", "amount": "x / 3"}, {"id": "b", "amount": "x / 3"}, {"id": "c", "amount": "x", "payee": "city"}],
        investments=[{"id": "l", "investor": "lsv", "tranche": "senior", "drawn": {"amount": 1}}],
        dates={},
    )
    payout = compile_terms(doc).payout({"x": 1.0})
    assert [p.amount for p in payout.payments] == [Decimal("0.33"), Decimal("0.33"), Decimal("1.00")]
    assert payout.investor_repayment == Decimal("0.66")  # 'c' goes to a non-investor
    assert payout.irr is None  # no dates at all
    assert compile_terms(doc).payout({"x": 0.005}).payments[2].amount == Decimal("0.01")  # half up


def test_payout_without_capital_or_with_arrays() -> None:
    compiled = compiled_formula("x")
    payout = compiled.payout({"x": 5.0})
    assert payout.investor_capital == 0 and payout.multiple is None and payout.irr is None
    with pytest.raises(OutcomeError, match="one outcome"):
        compiled.payout({"x": np.array([1.0, 2.0])})


def test_document_without_terms_compiles_to_nothing() -> None:
    doc = make_doc([{"id": "p", "amount": "1"}])
    data = doc.model_dump(mode="json", by_alias=True, exclude_none=True)
    del data["payment_terms"]
    compiled = compile_terms(ContractDocument.model_validate(data))
    assert compiled.outcome_names == () and compiled.evaluate({}).flows == []


def test_alternative_readings_are_checked() -> None:
    doc = make_doc(
        [{"id": "p", "amount": "x"}],
        alternative_readings=[{"description": "INDIGO", "payments": [
            {"id": "p", "component": "outcome", "payer": "kommun", "payee": "lsv", "amount": "cap(x, 1e7) + q"},
            {"id": "q", "component": "outcome", "payer": "kommun", "payee": "lsv", "amount": "p + nope"},
        ]}],
    )
    found = issues_of(doc)
    assert ("payment_terms.alternative_readings[0].payments[1].amount", "column 5: unknown name 'nope'") in found
    assert any("cycle: p → q → p" in reason for path, reason in found
               if path == "payment_terms.alternative_readings[0].payments[0].amount")


def test_describe(swedish: Callable[[str], str]) -> None:
    assert describe("if(delivered, 40% * C, 0)") == "40\u00a0% × C if delivered, otherwise nothing"
    assert describe("if(delivered, 40% * C, 0)", "sv", swedish) == "40\u00a0% × C om delivered, annars inget"
    assert describe("cap(excess(savings, C), 20% * C)") == "(the part of savings above C), at most 20\u00a0% × C"
    assert describe("10_000_000 * x", "sv", swedish) == "10\u00a0000\u00a0000 × x"
    assert describe("x +") == "x +"  # not a formula: shown as written


# --- property tests: one outcome equals the same element of many -------------------------------------

NUM_NAMES = ["x", "y", "z", "K"]
BOOL_NAMES = ["b", "c"]
literal = st.one_of(
    st.integers(0, 2000).map(str),
    st.integers(0, 300).map(lambda i: f"{i}%"),
    st.integers(0, 99_999).map(lambda i: f"{i // 100}.{i % 100:02d}"),
    st.sampled_from(["1_000", "1e3", "2.5e-1", ".5"]),
)


@functools.cache
def num_expr(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(NUM_NAMES), literal)
    if depth == 0:
        return leaf
    n, b = num_expr(depth - 1), bool_expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(n, st.sampled_from(["+", "-", "*", "/"]), n).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        n.map(lambda a: f"-{a}"),
        st.tuples(b, n, n).map(lambda t: f"if({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(st.sampled_from(["min", "max", "sum"]), st.lists(n, min_size=2, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        st.tuples(st.sampled_from(["cap", "floor", "excess"]), n, n).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(n, n, n).map(lambda t: f"clamp({t[0]}, {t[1]}, {t[2]})"),
        n.map(lambda a: f"abs({a})"),
        st.tuples(n, st.lists(st.integers(-50, 50), min_size=1, max_size=4, unique=True)).flatmap(
            lambda t: st.lists(literal, min_size=len(t[1]) + 1, max_size=len(t[1]) + 1).map(
                lambda values: _bands_text(t[0], t[1], values)
            )
        ),
    )


def _bands_text(x: str, edges: list[int], values: list[str]) -> str:
    return f"bands({x}, [{', '.join(str(e / 10) for e in sorted(edges))}], [{', '.join(values)}])"


@functools.cache
def bool_expr(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(BOOL_NAMES), st.sampled_from(["true", "false"]))
    if depth == 0:
        return leaf
    n, b = num_expr(depth - 1), bool_expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(n, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), n).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(b, st.sampled_from(["and", "or"]), b).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        b.map(lambda a: f"not ({a})"),
        st.tuples(st.sampled_from(["all", "any"]), st.lists(b, min_size=1, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
    )


def reference(node: F.Node, env: dict[str, Any]) -> Any:
    """A plain-Python interpreter of the documented semantics, independent of the numpy compiler."""
    if isinstance(node, F.Num):
        return node.value
    if isinstance(node, F.Bool):
        return node.value
    if isinstance(node, F.Name):
        return env[node.name]
    if isinstance(node, F.Unary):
        v = reference(node.operand, env)
        return (not v) if node.op == "not" else (-v if node.op == "-" else v)
    if isinstance(node, F.Binary):
        a, b = reference(node.left, env), reference(node.right, env)
        ops = {
            "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b if b != 0 else 0.0,
            "<": lambda: a < b, "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
            "==": lambda: a == b, "!=": lambda: a != b, "and": lambda: a and b, "or": lambda: a or b,
        }
        return ops[node.op]()
    assert isinstance(node, F.Call)
    if node.func == "bands":
        x = reference(node.args[0], env)
        edges_node, values_node = node.args[1], node.args[2]
        assert isinstance(edges_node, F.ListLit) and isinstance(values_node, F.ListLit)
        edges = [reference(e, env) for e in edges_node.items]
        return reference(values_node.items[bisect.bisect_right(edges, x)], env)
    args = [reference(a, env) for a in node.args]
    if node.func == "if":
        return args[1] if args[0] else args[2]
    fold = {"min": min, "max": max, "cap": min, "floor": max}
    if node.func in fold:
        return functools.reduce(lambda p, q: fold[node.func](p, q), args)
    if node.func == "sum":
        return functools.reduce(lambda p, q: p + q, args)
    if node.func == "all":
        return all(args)
    if node.func == "any":
        return any(args)
    if node.func == "abs":
        return abs(args[0])
    if node.func == "excess":
        return max(args[0] - args[1], 0.0)
    if node.func == "clamp":
        return min(max(args[0], args[1]), args[2])
    raise AssertionError(node.func)


def _outcome_arrays(seed: int, size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    # float32 continuous values, with exact zeros and band edges mixed in to hit the boundaries
    x = rng.normal(0, 30, size).astype(np.float32)
    x[rng.random(size) < 0.2] = 0
    x[rng.random(size) < 0.2] = rng.integers(-50, 50, size)[:1] / 10
    return {
        "x": x,
        "y": rng.uniform(-100, 100, size),
        "z": rng.integers(0, 5, size),
        "b": rng.random(size) < 0.5,
        "c": rng.random(size) < 0.5,
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formula=num_expr(3), seed=st.integers(0, 2**32 - 1))
def test_scalar_equals_vectorised_for_random_formulas(formula: str, seed: int) -> None:
    compiled = compiled_formula(formula, (("K", 10.0),))
    arrays = _outcome_arrays(seed, 24)
    given_ = arrays  # also the metrics the formula does not read: they set the shape all the same
    try:
        vector = compiled.evaluate(given_).flow("p").amount
    except OutcomeError as exc:  # a random product of many terms may overflow: then every path must say so
        assert "overflowed" in str(exc)
        return
    tree = F.parse(formula)
    for i in range(24):
        one = {n: a[i].item() for n, a in given_.items()}  # Python scalars
        scalar = compiled.evaluate(one).flow("p").amount
        assert scalar.shape == ()
        assert scalar == vector[i], (formula, one)
        env = {**one, "K": 10.0, **{n: (False if XYB[n] == "binary" else 0.0) for n in XYB if n not in one}}
        expected = max(float(reference(tree, env)), 0.0)
        assert scalar == expected, (formula, one)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 40))
def test_scalar_equals_vectorised_for_norrkoping(seed: int, size: int) -> None:
    compiled = compile_terms(norrkoping())
    rng = np.random.default_rng(seed)
    outcomes = {
        "delivered": rng.random(size) < 0.8,
        "savings": rng.normal(8e6, 8e6, size).astype(rng.choice([np.float32, np.float64])),
        "school_improved": rng.random(size) < 0.5,
    }
    outcomes["savings"][rng.random(size) < 0.2] = 10e6  # exactly at break-even
    many = compiled.evaluate(outcomes)
    for i in range(size):
        one = compiled.evaluate({k: v[i] for k, v in outcomes.items()})
        for f_one, f_many in zip(one.flows, many.flows, strict=True):
            assert f_one.amount == f_many.amount[i]
        assert one.investor_repayment == many.investor_repayment[i]
        assert one.by_payer["kommun"] == many.by_payer["kommun"][i]


@settings(max_examples=200, deadline=None)
@given(tree_text=st.one_of(num_expr(3), bool_expr(2)))
def test_unparse_round_trips(tree_text: str) -> None:
    tree = F.parse(tree_text)
    again = F.parse(F.unparse(tree))
    assert F.unparse(again) == F.unparse(tree)
    assert _strip(again) == _strip(tree)


def _strip(node: Any) -> Any:
    """The tree without columns and literal spellings (unparse normalises both)."""
    if isinstance(node, F.Num):
        return ("num", node.value)
    if isinstance(node, F.Bool | F.Name):
        return (type(node).__name__, getattr(node, "value", getattr(node, "name", None)))
    if isinstance(node, F.Unary):
        return ("unary", node.op, _strip(node.operand))
    if isinstance(node, F.Binary):
        return ("bin", node.op, _strip(node.left), _strip(node.right))
    if isinstance(node, F.Call):
        return ("call", node.func, tuple(_strip(a) for a in node.args))
    return ("list", tuple(_strip(a) for a in node.items))


def test_property_helpers_are_sound() -> None:
    # the reference interpreter agrees with hand-computed values, so the property test compares to truth
    tree = F.parse("if(b and x > 1, cap(excess(x, 1), 2) + bands(y, [0, 1], [10, 20, 30]), x / 0)")
    assert reference(tree, {"b": True, "x": 5.0, "y": 1.0}) == 2 + 30
    assert reference(tree, {"b": False, "x": 5.0, "y": 1.0}) == 0.0
    assert math.isclose(reference(F.parse("1e3 * 25%"), {}), 250.0)


def test_parameter_overrides_change_only_the_named_values() -> None:
    from registry.schema import ContractDocument
    from registry.terms import TermsError, compile_terms
    from tests.registry.factories import contract_dict

    doc = ContractDocument.model_validate(contract_dict())
    base = compile_terms(doc).payout({"savings": 7_000_000})
    assert base.payments[0].amount == Decimal("5000000.00")
    lower_cap = compile_terms(doc, parameters={"C": 3_000_000}).payout({"savings": 7_000_000})
    assert lower_cap.payments[0].amount == Decimal("3000000.00")
    assert doc.payment_terms is not None and doc.payment_terms.parameters["C"].value == Decimal("5000000")
    with pytest.raises(TermsError, match="parameters.D: not a parameter"):
        compile_terms(doc, parameters={"D": 1})


def test_alternative_readings_evaluate() -> None:
    from registry.schema import ContractDocument
    from registry.terms import TermsError, compile_terms
    from tests.registry.factories import contract_dict

    data = contract_dict()
    data["payment_terms"]["alternative_readings"] = [
        {"description": "Half of savings, uncapped", "sources": ["report"],
         "payments": [{"id": "repayment", "component": "outcome", "payer": "testkommun", "payee": "investor-ab",
                       "amount": "50% * floor(savings, 0)"}]},
        {"description": "Cap at the drawn capital", "parameters": {"C": "3000000"}},
    ]
    doc = ContractDocument.model_validate(data)
    outcome = {"savings": 7_000_000}
    assert compile_terms(doc).payout(outcome).investor_repayment == Decimal("5000000.00")
    first = compile_terms(doc, reading=1).payout(outcome)
    assert first.investor_repayment == Decimal("3500000.00") and first.reading == 1
    assert compile_terms(doc, reading=2).payout(outcome).investor_repayment == Decimal("3000000.00")
    with pytest.raises(TermsError, match="there is no reading 3; this contract records 2"):
        compile_terms(doc, reading=3)
    data["payment_terms"]["alternative_readings"][1]["parameters"] = {"K": "1"}
    with pytest.raises(TermsError, match=r"alternative_readings\[1\]\.parameters\.K: not a parameter"):
        compile_terms(ContractDocument.model_validate(data))
