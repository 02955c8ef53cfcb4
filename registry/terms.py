"""Payment terms: type-check and compile a contract's formulas into vectorised numpy functions.

The language is specified in docs/payment-terms.md; the parser lives in :mod:`registry._formula`.
Formula text is never evaluated as Python: it becomes a typed AST, is checked, and is compiled into
closures over numpy ufuncs (``np.where``, ``np.minimum``, ``np.maximum``, ``np.searchsorted``...),
with constant sub-expressions folded once at compile time.

Semantics worth knowing (also in docs/payment-terms.md):

* **Numbers are float64.** Outcome inputs (Python numbers, numpy scalars, arrays of any shape, float32
  or float64) are converted to float64 (binary metrics to bool) before anything is computed, so one
  outcome and an array of outcomes run through exactly the same code and give identical results.
* **Division by zero gives 0** where the divisor is 0 (``np.divide(..., where=b != 0)``), never inf/nan.
* **Each payment rule is clipped at zero**; a rule that refers to another rule sees the clipped value.
* **Waterfall.** The inflow rules are paid by their payers to the waterfall's ``payer`` (the vehicle);
  the steps then pay from the vehicle (``pay``, ``residual``) or from the guarantor (``guarantee``) to
  the investor holding the step's investment. ``investor_repayment`` counts money that reaches
  investors once: the waterfall's step flows count, the inflow rules' flows never do (even if their
  payee happens to be an investor). Money left after the last step stays with the vehicle (no flow).
  ``by_payer`` / ``by_component`` are gross over all flows, so a pass-through vehicle appears as a
  payer of what it distributes.
* **Dates.** A rule's date comes from its ``timing``: a (partial) ``date`` resolves to the LAST day of
  the period (``2019-03`` → 2019-03-31, ``2019`` → 2019-12-31: a payment due "in March" is due by its
  end); ``months_after_start`` counts from the first day of ``dates.service_start`` (no service start
  → date unknown). Without timing a rule falls due at the end of ``dates.evaluation_end``, else
  ``actual_completion``, else ``anticipated_completion``, else ``service_end`` (payments follow the
  evaluation; completion is when the last payments settle). Waterfall flows use the waterfall's own
  ``timing``, else the latest date of its inflow rules. Capital goes out on the investments'
  ``drawdowns`` (partial dates resolve to the FIRST day), else in one amount at the start of
  ``service_start``, else of ``signed``. Resolving capital early and repayments late makes an IRR
  from partial dates conservative.
"""

from __future__ import annotations

import calendar
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from registry import _formula as F
from registry._formula import FormulaSyntaxError
from registry.finance import xirr
from registry.issues import Issue
from registry.schema import (
    ContractDocument,
    Investment,
    MetricKind,
    PaymentRule,
    Timing,
    TrancheType,
    partial_date_start,
)

__all__ = [
    "CompiledTerms",
    "Flow",
    "FormulaSyntaxError",
    "OutcomeError",
    "Payout",
    "PayoutPayment",
    "TermsError",
    "TermsEvaluation",
    "TermsIssue",
    "check_terms",
    "compile_terms",
    "describe",
    "partial_date_end",
]

NUM = "number"
BOOL = "boolean"
LIST = "list"
CENT = Decimal("0.01")
# Exact amounts are Decimals rounded to cents under the default 28-digit context; beyond this a payout
# cannot be expressed (and no contract pays a billion billion).
MAX_EXACT_AMOUNT = 1e18
NON_INVESTOR_TRANCHES = frozenset({TrancheType.GRANT.value, TrancheType.GUARANTEE.value})
BUILTINS = frozenset({"capital"})


# --- issues ------------------------------------------------------------------------------------------


TermsIssue = Issue
"""A problem in a document's payment terms: where (file, field path) and why."""


class TermsError(ValueError):
    """Payment terms that do not compile. ``errors`` lists every issue found, not just the first."""

    def __init__(self, errors: Sequence[TermsIssue]) -> None:
        self.errors: list[TermsIssue] = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    @property
    def issues(self) -> list[TermsIssue]:
        return self.errors


class OutcomeError(ValueError):
    """Outcome values that the compiled terms cannot evaluate (missing, unknown, wrong kind, not finite)."""


# --- results -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Flow:
    """One payment stream evaluated for the given outcomes; ``amount`` has the outcomes' broadcast shape.

    ``investment`` names the investment a waterfall step pays; ``to_investor`` says whether the flow
    counts in ``investor_repayment``.
    """

    id: str
    component: str
    payer: str
    payee: str
    tags: tuple[str, ...]
    date: date | None
    amount: np.ndarray
    investment: str | None = None
    to_investor: bool = False


@dataclass(eq=False)
class TermsEvaluation:
    """Every flow, plus totals: what reaches investors, what each organisation pays or receives."""

    flows: list[Flow]
    investor_repayment: np.ndarray
    by_payer: dict[str, np.ndarray]
    by_component: dict[str, np.ndarray]
    by_payee: dict[str, np.ndarray] = field(default_factory=dict)
    by_investor: dict[str, np.ndarray] = field(default_factory=dict)
    shape: tuple[int, ...] = ()

    def flow(self, flow_id: str) -> Flow:
        for f in self.flows:
            if f.id == flow_id:
                return f
        raise KeyError(flow_id)


class PayoutPayment(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    component: str
    payer: str
    payee: str
    amount: Decimal = Field(description="Rounded to 2 decimals (half up); JSON: a string, for exactness.")
    tags: list[str]
    date: date | None


class Payout(BaseModel):
    """What one outcome pays: the JSON that ``utfall payout --json`` prints.

    Amounts are :class:`~decimal.Decimal` rounded to cents and serialise as strings in JSON mode, so no
    float ever turns 4000000.00 into 3999999.9999999995. ``investor_repayment`` is the sum of the rounded
    payments that reach investors, so the listed payments add up to it exactly.
    """

    contract: str
    currency: str
    amount_unit: str | None = Field(
        default=None, description="When set, amounts are in this unit, not in the currency (see PaymentTerms)."
    )
    reading: int | None = Field(default=None, description="The alternative reading evaluated (None: primary).")
    outcomes: dict[str, bool | float]
    payments: list[PayoutPayment]
    investor_capital: Decimal
    investor_repayment: Decimal
    multiple: float | None = Field(description="investor_repayment / investor_capital; None if capital is 0.")
    irr: float | None = Field(description="Annual XIRR of capital out and repayments in; None if unknown.")


# --- dates -------------------------------------------------------------------------------------------


def partial_date_end(value: str) -> date:
    """The last day a partial date can mean (``2019-03`` → 2019-03-31, ``2019`` → 2019-12-31)."""
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 1:
        return date(parts[0], 12, 31)
    if len(parts) == 2:
        return date(parts[0], parts[1], calendar.monthrange(parts[0], parts[1])[1])
    return date(parts[0], parts[1], parts[2])


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


# --- compiled expressions ----------------------------------------------------------------------------

Env = dict[str, Any]
Getter = Callable[[Env], Any]


@dataclass
class _Expr:
    """A checked and compiled sub-expression: its type and either a folded constant or a function."""

    type: str | None  # NUM, BOOL, LIST or None after an error
    const: Any = None
    fn: Getter | None = None
    items: list[_Expr] | None = None  # for list literals (band edges and values)

    @property
    def is_const(self) -> bool:
        return self.const is not None

    def getter(self) -> Getter:
        if self.fn is not None:
            return self.fn
        value = self.const
        return lambda env: value


_ERR = _Expr(None)


def _apply(type_: str, func: Callable[..., Any], args: Sequence[_Expr]) -> _Expr:
    """Combine sub-expressions with a numpy function, folding when every argument is constant."""
    if all(a.is_const for a in args):
        with np.errstate(all="ignore"):
            return _Expr(type_, const=func(*(a.const for a in args)))
    getters = [a.getter() for a in args]
    if len(getters) == 1:
        (g0,) = getters
        return _Expr(type_, fn=lambda env: func(g0(env)))
    if len(getters) == 2:
        g0, g1 = getters
        return _Expr(type_, fn=lambda env: func(g0(env), g1(env)))
    return _Expr(type_, fn=lambda env: func(*(g(env) for g in getters)))


def _fold(type_: str, ufunc: Callable[[Any, Any], Any], args: Sequence[_Expr]) -> _Expr:
    """Left fold (``((a op b) op c)...``): the same association for one outcome as for arrays."""
    acc = args[0]
    for a in args[1:]:
        acc = _apply(type_, ufunc, [acc, a])
    return acc


def _safe_divide(a: Any, b: Any) -> Any:
    """``a / b``, and 0 wherever ``b`` is 0 (documented: a ratio over an empty base pays nothing)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape), dtype=np.float64)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _excess(x: Any, k: Any) -> Any:
    return np.maximum(np.subtract(x, k), 0.0)


def _clamp(x: Any, lo: Any, hi: Any) -> Any:
    return np.minimum(np.maximum(x, lo), hi)


def _clip(x: Any) -> Any:
    """``max(x, 0) + 0.0``: always a new array (or scalar), never ``x`` itself.

    ``+ 0.0`` turns -0.0 into 0.0, so a zero payment never prints as "-0.00". It is added in place to
    the fresh result of ``np.maximum`` (same bits as ``+``, one allocation fewer per payment).
    """
    out = np.maximum(x, 0.0)
    out += 0.0
    return out


_BINARY_UFUNCS: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
    "and": np.logical_and,
    "or": np.logical_or,
}

# name: (minimum arguments, maximum arguments or None, argument type, result type)
_FUNCTIONS: dict[str, tuple[int, int | None, str, str]] = {
    "min": (2, None, NUM, NUM),
    "max": (2, None, NUM, NUM),
    "sum": (1, None, NUM, NUM),
    "abs": (1, 1, NUM, NUM),
    "cap": (2, 2, NUM, NUM),
    "floor": (2, 2, NUM, NUM),
    "clamp": (3, 3, NUM, NUM),
    "excess": (2, 2, NUM, NUM),
    "all": (1, None, BOOL, BOOL),
    "any": (1, None, BOOL, BOOL),
}
_SPECIAL_FUNCTIONS = ("if", "bands", "rate_card")
FUNCTION_NAMES = frozenset(_FUNCTIONS) | frozenset(_SPECIAL_FUNCTIONS)


# --- the checker / compiler --------------------------------------------------------------------------


@dataclass
class _Symbol:
    kind: str  # metric, param, card, rule, capital
    type: str | None = NUM
    const: Any = None
    card: list[tuple[str, float]] | None = None  # (metric, price) for rate-card parameters
    card_ok: bool = True


class _FormulaCompiler:
    """Type-checks and compiles one formula against the document's names; records issues."""

    def __init__(
        self,
        symbols: Mapping[str, _Symbol],
        allowed: frozenset[str],
        report: Callable[[int | None, str], None],
        context: str,
    ) -> None:
        self.symbols = symbols
        self.allowed = allowed  # symbol kinds this formula may read
        self.report = report
        self.context = context
        self.rules_used: set[str] = set()
        self.metrics_used: set[str] = set()

    def error(self, node: F.Node | None, reason: str) -> _Expr:
        self.report(None if node is None else node.col, reason)
        return _ERR

    # A type error is reported once, where it arises; parents of a broken node stay silent.
    def compile(self, node: F.Node) -> _Expr:
        if isinstance(node, F.Num):
            return _Expr(NUM, const=np.float64(node.value))
        if isinstance(node, F.Bool):
            return _Expr(BOOL, const=np.bool_(node.value))
        if isinstance(node, F.Name):
            return self.name(node)
        if isinstance(node, F.Unary):
            return self.unary(node)
        if isinstance(node, F.Binary):
            return self.binary(node)
        if isinstance(node, F.Call):
            return self.call(node)
        if isinstance(node, F.ListLit):
            for item in node.items:
                self.compile(item)
            return self.error(node, "a list [...] is only allowed as the edges or values of bands()")
        raise TypeError(f"not a formula node: {node!r}")  # pragma: no cover

    def name(self, node: F.Name) -> _Expr:
        sym = self.symbols.get(node.name)
        if sym is None:
            if node.name in FUNCTION_NAMES:
                return self.error(node, f"{node.name!r} is a function; call it as {node.name}(...)")
            close = difflib.get_close_matches(node.name, [*self.symbols, *BUILTINS], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return self.error(node, f"unknown name {node.name!r}{hint}")
        if sym.kind not in self.allowed:
            what = {"metric": "an outcome metric", "rule": "a payment rule", "capital": "the built-in capital",
                    "card": "a rate card", "param": "a parameter"}[sym.kind]
            return self.error(node, f"{node.name!r} is {what}, which {self.context} cannot refer to")
        if sym.kind == "card":
            return self.error(node, f"{node.name!r} is a rate card; use rate_card({node.name})")
        if sym.kind == "metric":
            self.metrics_used.add(node.name)
        if sym.kind == "rule":
            self.rules_used.add(node.name)
        if sym.const is not None:
            return _Expr(sym.type, const=sym.const)
        key = node.name
        return _Expr(sym.type, fn=lambda env: env[key])

    def expect(self, expr: _Expr, want: str, node: F.Node, what: str) -> bool:
        if expr.type is None:
            return False
        if expr.type != want:
            hint = ""
            if want == BOOL and expr.type == NUM:
                hint = " (compare it, e.g. x > 0)"
            elif want == NUM and expr.type == BOOL:
                hint = " (use if(condition, amount, 0) to turn a condition into an amount)"
            self.error(node, f"{what} must be a {want}, not a {expr.type}{hint}")
            return False
        return True

    def unary(self, node: F.Unary) -> _Expr:
        operand = self.compile(node.operand)
        if node.op == "not":
            if not self.expect(operand, BOOL, node.operand, "the operand of 'not'"):
                return _ERR
            return _apply(BOOL, np.logical_not, [operand])
        if not self.expect(operand, NUM, node.operand, f"the operand of unary {node.op!r}"):
            return _ERR
        return operand if node.op == "+" else _apply(NUM, np.negative, [operand])

    def binary(self, node: F.Binary) -> _Expr:
        left, right = self.compile(node.left), self.compile(node.right)
        want = BOOL if node.op in F.LOGICAL else NUM
        ok_left = self.expect(left, want, node.left, f"the left operand of {node.op!r}")
        ok_right = self.expect(right, want, node.right, f"the right operand of {node.op!r}")
        if not (ok_left and ok_right):
            return _ERR
        result = NUM if node.op in F.ARITHMETIC else BOOL
        if node.op == "/":
            if right.is_const:
                divisor = right.const
                if divisor == 0:  # a constant zero divisor: the documented result is 0 everywhere
                    return _Expr(NUM, const=np.float64(0.0))
                return _apply(NUM, lambda a: np.divide(a, divisor), [left])
            return _apply(NUM, _safe_divide, [left, right])
        return _apply(result, _BINARY_UFUNCS[node.op], [left, right])

    def call(self, node: F.Call) -> _Expr:
        name = node.func
        if name == "if":
            return self.call_if(node)
        if name == "bands":
            return self.call_bands(node)
        if name == "rate_card":
            return self.call_rate_card(node)
        spec = _FUNCTIONS.get(name)
        if spec is None:
            for a in node.args:
                self.compile(a)
            if name in self.symbols or name in BUILTINS:
                return self.error(node, f"{name!r} is not a function")
            close = difflib.get_close_matches(name, sorted(FUNCTION_NAMES), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return self.error(node, f"unknown function {name!r}{hint}")
        lo, hi, arg_type, result = spec
        args = [self.compile(a) for a in node.args]
        if not self.arity(node, lo, hi):
            return _ERR
        ok = True
        for i, (a, n) in enumerate(zip(args, node.args, strict=True)):
            ok &= self.expect(a, arg_type, n, f"argument {i + 1} of {name}()")
        if not ok:
            return _ERR
        if name == "min" or name == "cap":
            return _fold(NUM, np.minimum, args)
        if name == "max" or name == "floor":
            return _fold(NUM, np.maximum, args)
        if name == "sum":
            return _fold(NUM, np.add, args)
        if name == "abs":
            return _apply(NUM, np.abs, args)
        if name == "clamp":
            return _apply(NUM, _clamp, args)
        if name == "excess":
            return _apply(NUM, _excess, args)
        if name == "all":
            return _fold(BOOL, np.logical_and, args)
        if name == "any":
            return _fold(BOOL, np.logical_or, args)
        raise AssertionError(name)  # pragma: no cover

    def arity(self, node: F.Call, lo: int, hi: int | None) -> bool:
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            if hi == lo:
                want = f"exactly {lo} argument{'s' if lo != 1 else ''}"
            elif hi is None:
                want = f"at least {lo} argument{'s' if lo != 1 else ''}"
            else:
                want = f"{lo} to {hi} arguments"
            self.error(node, f"{node.func}() takes {want}, got {n}")
            return False
        return True

    def call_if(self, node: F.Call) -> _Expr:
        args = [self.compile(a) for a in node.args]
        if not self.arity(node, 3, 3):
            return _ERR
        cond, a, b = args
        ok = self.expect(cond, BOOL, node.args[0], "the condition of if()")
        if a.type is None or b.type is None or not ok:
            return _ERR
        if a.type != b.type or a.type == LIST:
            return self.error(node, f"the branches of if() must have the same type, got {a.type} and {b.type}")
        return _apply(a.type, np.where, [cond, a, b])

    def call_bands(self, node: F.Call) -> _Expr:
        if len(node.args) != 3:
            for a in node.args:
                if not isinstance(a, F.ListLit):  # lists are what bands() takes; only check the rest
                    self.compile(a)
            self.arity(node, 3, 3)
            return _ERR
        x_node, edges_node, values_node = node.args
        x = self.compile(x_node)
        ok = self.expect(x, NUM, x_node, "the first argument of bands()")
        lists: list[list[_Expr]] = []
        for what, lst in (("edges", edges_node), ("values", values_node)):
            if not isinstance(lst, F.ListLit):
                self.compile(lst)
                self.error(lst, f"the {what} of bands() must be a list [...]")
                ok = False
                continue
            items = [self.compile(i) for i in lst.items]
            for i, (item, n) in enumerate(zip(items, lst.items, strict=True)):
                ok &= self.expect(item, NUM, n, f"band {what[:-1]} {i + 1}")
            lists.append(items)
        if not ok:
            return _ERR
        edges, values = lists
        assert isinstance(edges_node, F.ListLit)
        if not edges:
            return self.error(edges_node, "bands() needs at least one edge")
        if len(values) != len(edges) + 1:
            return self.error(
                values_node, f"bands() needs one more value than edges: {len(edges)} edges, {len(values)} values"
            )
        for item, n in zip(edges, edges_node.items, strict=True):
            if not item.is_const:
                return self.error(n, "band edges must be constants (numbers, parameters or capital)")
        edge_values = [float(e.const) for e in edges]
        for i in range(1, len(edge_values)):
            if not edge_values[i] > edge_values[i - 1]:
                return self.error(
                    edges_node.items[i],
                    f"band edges must be strictly increasing: edge {i + 1} ({edge_values[i]:g}) "
                    f"is not above edge {i} ({edge_values[i - 1]:g})",
                )
        edge_arr = np.array(edge_values, dtype=np.float64)
        edge_arr.setflags(write=False)
        if all(v.is_const for v in values):
            value_arr = np.array([float(v.const) for v in values], dtype=np.float64)
            value_arr.setflags(write=False)
            # side="right": x == e_i falls in band i (e_i <= x < e_(i+1)), as documented
            return _apply(NUM, lambda xv: value_arr[np.searchsorted(edge_arr, xv, side="right")], [x])
        value_getters = [v.getter() for v in values]
        x_get = x.getter()

        def banded(env: Env) -> Any:
            idx = np.searchsorted(edge_arr, x_get(env), side="right")
            result = value_getters[-1](env)
            for i in range(len(value_getters) - 2, -1, -1):
                result = np.where(idx == i, value_getters[i](env), result)
            return result

        if x.is_const:
            return _apply(NUM, lambda *vs: _band_pick(edge_arr, x.const, vs), values)
        return _Expr(NUM, fn=banded)

    def call_rate_card(self, node: F.Call) -> _Expr:
        if len(node.args) != 1 or not isinstance(node.args[0], F.Name):
            for a in node.args:
                self.compile(a)
            if len(node.args) != 1:
                self.arity(node, 1, 1)
                return _ERR
            return self.error(node.args[0], "rate_card() takes the name of a rate-card parameter")
        arg = node.args[0]
        sym = self.symbols.get(arg.name)
        if sym is None:
            return self.name(arg)  # reports the unknown name
        if sym.kind != "card":
            return self.error(arg, f"{arg.name!r} is not a rate-card parameter (it has no rate_card)")
        if "card" not in self.allowed:
            return self.error(arg, f"{self.context} cannot use a rate card")
        if not sym.card_ok or sym.card is None:
            return _ERR  # the card's own problems are reported at the parameter
        card = list(sym.card)
        self.metrics_used.update(m for m, _ in card)
        if not card:
            return _Expr(NUM, const=np.float64(0.0))
        prices = [(m, np.float64(p)) for m, p in card]

        def rate_card(env: Env) -> Any:
            acc = np.multiply(prices[0][1], env[prices[0][0]])
            for metric, price in prices[1:]:
                acc = np.add(acc, np.multiply(price, env[metric]))
            return acc

        return _Expr(NUM, fn=rate_card)


def _band_pick(edge_arr: np.ndarray, x: Any, values: Sequence[Any]) -> Any:
    idx = int(np.searchsorted(edge_arr, x, side="right"))
    return values[idx]


# --- the compiled terms ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    id: str
    component: str
    payer: str
    payee: str
    tags: tuple[str, ...]
    date: date | None
    fn: Getter
    to_investor: bool


@dataclass(frozen=True)
class _Step:
    index: int
    kind: str  # pay, guarantee, residual
    investment: str
    payer: str
    payee: str
    component: str
    claim: Getter | None
    limit: Getter | None
    to_investor: bool


@dataclass(frozen=True)
class _Waterfall:
    inflow: tuple[str, ...]
    steps: tuple[_Step, ...]
    date: date | None


class CompiledTerms:
    """A contract's payment terms, checked and compiled. Build with :func:`compile_terms`."""

    def __init__(
        self,
        *,
        contract: str,
        currency: str,
        source: str,
        outcome_names: tuple[str, ...],
        outcome_kinds: dict[str, MetricKind],
        known_metrics: frozenset[str],
        binary_metrics: frozenset[str],
        investor_capital: float,
        investor_capital_decimal: Decimal,
        capital_outflows: list[tuple[date | None, float]],
        investors: frozenset[str],
        rules: list[_Rule],
        order: list[int],
        waterfall: _Waterfall | None,
        amount_unit: str | None = None,
    ) -> None:
        self.contract = contract
        self.currency = currency
        self.amount_unit = amount_unit
        self.reading: int | None = None
        self.source = source
        self.outcome_names = outcome_names
        self.outcome_kinds = outcome_kinds
        self.investor_capital = investor_capital
        self.investor_capital_decimal = investor_capital_decimal
        self.capital_outflows = capital_outflows
        self.investors = investors
        self._known_metrics = known_metrics
        self._binary_metrics = binary_metrics
        self._rules = rules
        self._order = order
        self._waterfall = waterfall

    @property
    def payment_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self._rules)

    def __repr__(self) -> str:
        return f"CompiledTerms({self.contract!r}, outcomes={self.outcome_names}, payments={self.payment_ids})"

    # -- inputs ---------------------------------------------------------------------------------------

    def _inputs(self, outcomes: Mapping[str, Any]) -> tuple[Env, tuple[int, ...]]:
        complete = all(n in outcomes for n in self.outcome_names) and self._known_metrics.issuperset(outcomes)
        missing = [] if complete else [n for n in self.outcome_names if n not in outcomes]
        unknown = [] if complete else sorted(n for n in outcomes if n not in self._known_metrics)
        problems = []
        if missing:
            problems.append(f"missing outcome(s): {', '.join(missing)}")
        if unknown:
            problems.append(
                f"unknown outcome(s): {', '.join(unknown)} (this contract's metrics: "
                f"{', '.join(sorted(self._known_metrics)) or 'none'})"
            )
        if problems:
            raise OutcomeError(f"{self.contract}: " + "; ".join(problems))
        env: Env = {}
        shapes: list[tuple[int, ...]] = []
        # Every given outcome is checked and sets the shape, also one the terms do not read: a contract
        # with a fixed fee still returns one amount per simulated scenario.
        for name, raw in outcomes.items():
            value = _as_input(self.contract, name, raw, name in self._binary_metrics)
            env[name] = value
            shapes.append(value.shape)
        try:
            if shapes and all(s == shapes[0] for s in shapes):
                shape = shapes[0]  # the usual case (one array per metric, all alike): no broadcasting
            else:
                shape = np.broadcast_shapes(*shapes) if shapes else ()
        except ValueError:
            detail = ", ".join(f"{n} {s}" for n, s in zip(outcomes, shapes, strict=True))
            raise OutcomeError(f"{self.contract}: outcome shapes do not broadcast: {detail}") from None
        return env, shape

    # -- evaluation -----------------------------------------------------------------------------------

    def evaluate(self, outcomes: Mapping[str, Any], *, breakdown: bool = True) -> TermsEvaluation:
        """Evaluate every payment for one outcome (scalars) or many (arrays that broadcast together).

        ``breakdown=False`` leaves ``by_payer``, ``by_payee``, ``by_component`` and ``by_investor``
        empty: the Monte Carlo engine reads only the flows and ``investor_repayment``, which are the
        same bits either way.

        Raises :class:`OutcomeError` for missing, unknown, mistyped or non-finite outcome values.
        """
        env, shape = self._inputs(outcomes)
        values: dict[str, Any] = {}
        step_values: list[Any] = []
        with np.errstate(all="ignore"):  # overflow is checked on the results below
            for i in self._order:
                rule = self._rules[i]
                values[rule.id] = env[rule.id] = _clip(rule.fn(env))
            if self._waterfall is not None:
                step_values = _run_waterfall(self._waterfall, values, env)
        flows: list[Flow] = []
        for rule in self._rules:
            flows.append(
                Flow(rule.id, rule.component, rule.payer, rule.payee, rule.tags, rule.date,
                     _full(values[rule.id], shape), None, rule.to_investor)
            )
        if self._waterfall is not None:
            wf = self._waterfall
            for step, amount in zip(wf.steps, step_values, strict=True):
                tags = ("waterfall", step.kind)
                flows.append(
                    Flow(f"waterfall.steps[{step.index}]", step.component, step.payer, step.payee, tags, wf.date,
                         _full(amount, shape), step.investment, step.to_investor)
                )
        for f in flows:
            if not np.isfinite(f.amount).all():
                raise OutcomeError(f"{self.contract}: payment {f.id} overflowed (not a finite amount)")
        # Totals are left folds from zero in flow order. Each starts as a fresh ``0 + first`` and then
        # adds in place: the same bits as ``total = total + amount``, without an array per addition.
        repayment: Any = None
        by_payer: dict[str, Any] = {}
        by_payee: dict[str, Any] = {}
        by_component: dict[str, Any] = {}
        by_investor: dict[str, Any] = {}
        for f in flows:
            if breakdown:
                _accumulate(by_payer, f.payer, f.amount)
                _accumulate(by_payee, f.payee, f.amount)
                _accumulate(by_component, f.component, f.amount)
            if f.to_investor:
                repayment = 0.0 + f.amount if repayment is None else _add_into(repayment, f.amount)
                if breakdown:
                    _accumulate(by_investor, f.payee, f.amount)
        if repayment is None:
            repayment = np.zeros(shape, dtype=np.float64)
        # 0-d sums come back from numpy as scalars; the API promises arrays
        return TermsEvaluation(
            flows, np.asarray(repayment, dtype=np.float64), _arrays(by_payer), _arrays(by_component),
            _arrays(by_payee), _arrays(by_investor), shape,
        )

    def payout(self, outcomes: Mapping[str, Any]) -> Payout:
        """Exact, rounded amounts for ONE outcome, with capital, multiple and IRR."""
        result = self.evaluate(outcomes)
        if result.shape != ():
            raise OutcomeError(f"{self.contract}: payout() takes one outcome (scalars), got shape {result.shape}")
        for f in result.flows:
            if abs(float(f.amount)) >= MAX_EXACT_AMOUNT:
                raise OutcomeError(
                    f"{self.contract}: payment {f.id} is too large for an exact amount ({float(f.amount):.3g})"
                )
        echoed: dict[str, bool | float] = {}
        for name in self.outcome_names:
            value = np.asarray(outcomes[name])
            if self.outcome_kinds[name] == MetricKind.BINARY:
                echoed[name] = bool(value != 0)
            else:
                echoed[name] = float(value)
        payments = [
            PayoutPayment(
                id=f.id, component=f.component, payer=f.payer, payee=f.payee,
                amount=_cents(float(f.amount)), tags=list(f.tags), date=f.date,
            )
            for f in result.flows
        ]
        repaid = [(f, p.amount) for f, p in zip(result.flows, payments, strict=True) if f.to_investor]
        repayment = sum((amount for _, amount in repaid), Decimal("0.00"))
        capital = self.investor_capital_decimal
        multiple = float(repayment / capital) if capital > 0 else None
        irr: float | None = None
        dated = [(d, -a) for d, a in self.capital_outflows] + [(f.date, float(a)) for f, a in repaid if a != 0]
        if capital > 0 and all(d is not None for d, _ in dated):
            irr = xirr([d for d, _ in dated], [a for _, a in dated])  # type: ignore[misc]
        return Payout(
            contract=self.contract, currency=self.currency, amount_unit=self.amount_unit, reading=self.reading,
            outcomes=echoed,
            payments=payments,
            investor_capital=capital.quantize(CENT), investor_repayment=repayment, multiple=multiple, irr=irr,
        )


def _add_into(total: Any, amount: np.ndarray) -> Any:
    """``total + amount``, in place when ``total`` is an array this evaluation owns."""
    if type(total) is np.ndarray:
        total += amount
        return total
    return total + amount


def _accumulate(totals: dict[str, Any], key: str, amount: np.ndarray) -> None:
    total = totals.get(key)
    totals[key] = 0.0 + amount if total is None else _add_into(total, amount)


def _arrays(totals: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in totals.items()}


def _cents(value: float) -> Decimal:
    # repr gives the shortest decimal that round-trips, so 0.1 + 0.2 style noise does not leak into cents
    return Decimal(repr(value)).quantize(CENT, rounding=ROUND_HALF_UP) + Decimal("0.00")


def _full(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A float64 array of ``shape`` that the flow owns.

    ``value`` is always a fresh result of :func:`_clip` or of a waterfall step, never an input array
    nor another flow's amount, so an array that already has the right dtype and shape is used as is.
    """
    if type(value) is np.ndarray and value.dtype == np.float64 and value.shape == shape:
        return value
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        arr = np.broadcast_to(arr, shape)
    return np.array(arr, dtype=np.float64, copy=True)


def _as_input(contract: str, name: str, raw: Any, binary: bool) -> np.ndarray:
    if isinstance(raw, Decimal):
        raw = float(raw)
    try:
        arr = np.asarray(raw)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is the caller's input problem
        raise OutcomeError(f"{contract}: outcome {name!r} is not a number or array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise OutcomeError(f"{contract}: outcome {name!r} must be numeric or boolean, got {arr.dtype} ({raw!r:.60})")
    if binary:
        if arr.dtype.kind == "b":
            return arr
        if not np.all((arr == 0) | (arr == 1)):
            raise OutcomeError(f"{contract}: outcome {name!r} is binary: give true/false (or 0/1)")
        return arr != 0
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise OutcomeError(f"{contract}: outcome {name!r} has a value that is not finite (nan or inf)")
    return arr


def _run_waterfall(wf: _Waterfall, values: Mapping[str, Any], env: Env) -> list[Any]:
    """Distribute the inflow total step by step, vectorised: pay, guarantee, residual."""
    available: Any = values[wf.inflow[0]]
    for rid in wf.inflow[1:]:
        available = np.add(available, values[rid])
    paid_to: dict[str, Any] = {}
    amounts: list[Any] = []
    for step in wf.steps:
        if step.kind == "pay":
            assert step.claim is not None
            amount = np.minimum(available, _clip(step.claim(env)))
            if step.limit is not None:
                amount = np.minimum(amount, _clip(step.limit(env)))
            available = np.subtract(available, amount)
        elif step.kind == "guarantee":
            assert step.claim is not None
            shortfall = _clip(np.subtract(step.claim(env), paid_to.get(step.investment, 0.0)))
            amount = shortfall if step.limit is None else np.minimum(shortfall, _clip(step.limit(env)))
        else:  # residual
            amount = available
            available = np.zeros_like(np.asarray(available, dtype=np.float64))
        amount = amount + 0.0
        paid_to[step.investment] = np.add(paid_to.get(step.investment, 0.0), amount)
        amounts.append(amount)
    return amounts


# --- building ----------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, doc: ContractDocument, source: str) -> None:
        self.doc = doc
        self.source = source
        self.issues: list[TermsIssue] = []
        self.currency = doc.finance.currency

    def issue(self, path: str, reason: str) -> None:
        self.issues.append(TermsIssue(self.source, path, reason))

    def reporter(self, path: str) -> Callable[[int | None, str], None]:
        def report(col: int | None, reason: str) -> None:
            self.issue(path, f"column {col}: {reason}" if col is not None else reason)

        return report

    # -- formulas -------------------------------------------------------------------------------------

    def formula(
        self, text: str, path: str, symbols: Mapping[str, _Symbol], allowed: frozenset[str], context: str
    ) -> tuple[_Expr, _FormulaCompiler]:
        compiler = _FormulaCompiler(symbols, allowed, self.reporter(path), context)
        try:
            tree = F.parse(text)
        except FormulaSyntaxError as exc:
            self.issue(path, f"column {exc.column}: {exc.message}")
            return _ERR, compiler
        return compiler.compile(tree), compiler

    # -- capital --------------------------------------------------------------------------------------

    def investor_investments(self) -> list[tuple[int, Investment]]:
        return [(i, inv) for i, inv in enumerate(self.doc.investments) if inv.tranche not in NON_INVESTOR_TRANCHES]

    def money(self, i: int, inv: Investment) -> Decimal | None:
        for name in ("drawn", "committed"):
            m = getattr(inv, name)
            if m is not None:
                if m.currency is not None and m.currency != self.currency:
                    self.issue(
                        f"investments[{i}].{name}.currency",
                        f"{m.currency} differs from the contract currency {self.currency}; "
                        "capital cannot be added up across currencies",
                    )
                return Decimal(m.amount)
        return None

    def start_date(self) -> date | None:
        d = self.doc.dates
        for value in (d.service_start, d.signed):
            if value:
                return partial_date_start(value)
        return None

    def capital(self, symbols: Mapping[str, _Symbol]) -> tuple[float, Decimal, list[tuple[date | None, float]]]:
        flows: list[tuple[date | None, float]] = []
        total = Decimal(0)
        start = self.start_date()
        for i, inv in self.investor_investments():
            # per investment: drawn, else the sum of its drawdowns, else committed
            amount = self.money(i, inv)
            if inv.drawn is None and inv.drawdowns:
                amount = sum((Decimal(dd.amount) for dd in inv.drawdowns), Decimal(0))
            if inv.drawdowns:
                for dd in inv.drawdowns:
                    flows.append((partial_date_start(dd.date), float(dd.amount)))
            elif amount is not None:
                flows.append((start, float(amount)))
            total += amount if amount is not None else Decimal(0)
        terms = self.doc.payment_terms
        if terms is not None and terms.investor_capital is not None:
            expr, _ = self.formula(
                terms.investor_capital, "payment_terms.investor_capital", symbols, frozenset({"param"}),
                "investor_capital (a constant over parameters)",
            )
            if expr.type is None:
                return 0.0, Decimal(0), []
            if expr.type != NUM:
                self.issue("payment_terms.investor_capital", f"must be a number, not a {expr.type}")
                return 0.0, Decimal(0), []
            value = float(expr.const)
            if not math.isfinite(value) or value < 0:
                self.issue("payment_terms.investor_capital", f"must be a finite amount >= 0, got {value!r}")
                return 0.0, Decimal(0), []
            exact = _cents(value)
            if not flows or abs(sum(a for _, a in flows) - value) > 0.005:
                # the stated capital differs from the investments: one outflow at the first known date
                known = [d for d, _ in flows if d is not None]
                flows = [(min(known) if known else start, value)] if value > 0 else []
            return value, exact, flows
        return float(total), total, flows

    # -- dates ----------------------------------------------------------------------------------------

    def default_date(self) -> date | None:
        d = self.doc.dates
        for value in (d.evaluation_end, d.actual_completion, d.anticipated_completion, d.service_end):
            if value:
                return partial_date_end(value)
        return None

    def timing_date(self, timing: Timing | None) -> date | None:
        if timing is None:
            return self.default_date()
        if timing.date is not None:
            return partial_date_end(timing.date)
        start = self.doc.dates.service_start
        if start is None or timing.months_after_start is None:
            return None
        return _add_months(partial_date_start(start), timing.months_after_start)

    # -- everything -----------------------------------------------------------------------------------

    def symbols(self) -> dict[str, _Symbol]:
        doc, terms = self.doc, self.doc.payment_terms
        symbols: dict[str, _Symbol] = {}
        where: dict[str, str] = {}

        def declare(name: str, sym: _Symbol, path: str, what: str) -> None:
            if name in F.KEYWORDS:
                self.issue(path, f"{what} {name!r} is a reserved word of the formula language")
            elif name in BUILTINS:
                self.issue(path, f"{what} {name!r} clashes with the built-in name {name!r}")
            elif name in symbols:
                self.issue(path, f"{what} {name!r} clashes with {where[name]}")
            else:
                symbols[name] = sym
                where[name] = f"{what} {name!r}"

        for i, m in enumerate(doc.outcome_metrics):
            kind = MetricKind(m.kind)
            declare(m.id, _Symbol("metric", BOOL if kind == MetricKind.BINARY else NUM),
                    f"outcome_metrics[{i}].id", "outcome metric")
        assert terms is not None
        metric_ids = {m.id for m in doc.outcome_metrics}
        for name, p in terms.parameters.items():
            path = f"payment_terms.parameters.{name}"
            if p.rate_card is not None:
                card: list[tuple[str, float]] = []
                ok = True
                for metric, price in p.rate_card.items():
                    if metric not in metric_ids:
                        close = difflib.get_close_matches(metric, sorted(metric_ids), n=1)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                        self.issue(f"{path}.rate_card.{metric}", f"unknown outcome metric {metric!r}{hint}")
                        ok = False
                    card.append((metric, float(price)))
                declare(name, _Symbol("card", None, card=card, card_ok=ok), path, "parameter")
            else:
                assert p.value is not None
                declare(name, _Symbol("param", NUM, const=np.float64(float(p.value))), path, "parameter")
        for i, rule in enumerate(terms.payments):
            declare(rule.id, _Symbol("rule", NUM), f"payment_terms.payments[{i}].id", "payment rule")
        return symbols

    def build(self) -> CompiledTerms | None:
        doc, terms = self.doc, self.doc.payment_terms
        investors = frozenset(inv.investor for _, inv in self.investor_investments())
        known_metrics = frozenset(m.id for m in doc.outcome_metrics)
        kinds = {m.id: MetricKind(m.kind) for m in doc.outcome_metrics}
        binary = frozenset(k for k, v in kinds.items() if v == MetricKind.BINARY)
        if terms is None:
            cap, cap_dec, outflows = self.capital({})
            if self.issues:
                return None
            return CompiledTerms(
                contract=doc.id, currency=self.currency, source=self.source, outcome_names=(), outcome_kinds={},
                known_metrics=known_metrics, binary_metrics=binary, investor_capital=cap,
                investor_capital_decimal=cap_dec,
                capital_outflows=outflows, investors=investors, rules=[], order=[], waterfall=None,
            )
        symbols = self.symbols()
        capital, capital_dec, outflows = self.capital(symbols)
        symbols["capital"] = _Symbol("capital", NUM, const=np.float64(capital))
        rule_scope = frozenset({"metric", "param", "card", "rule", "capital"})
        metrics_used: set[str] = set()
        deps: dict[str, set[str]] = {}
        rules: list[_Rule] = []
        inflow = set(terms.waterfall.inflow) if terms.waterfall else set()
        for i, rule in enumerate(terms.payments):
            path = f"payment_terms.payments[{i}].amount"
            expr, comp = self.formula(rule.amount, path, symbols, rule_scope, "a payment amount")
            if expr.type is not None and expr.type != NUM:
                self.issue(path, f"a payment amount must be a number, not a {expr.type}"
                                 " (use if(condition, amount, 0))")
            metrics_used |= comp.metrics_used
            deps.setdefault(rule.id, set()).update(comp.rules_used)
            rules.append(self.rule(rule, expr, investors, rule.id in inflow))
        order = self.order(terms.payments, deps)
        waterfall = self.waterfall(symbols, rule_scope, metrics_used, investors, rules)
        self.alternatives(symbols, rule_scope)
        if self.issues:
            return None
        assert order is not None
        names = tuple(m.id for m in doc.outcome_metrics if m.id in metrics_used)
        return CompiledTerms(
            contract=doc.id, currency=self.currency, source=self.source, outcome_names=names,
            outcome_kinds={n: kinds[n] for n in names}, known_metrics=known_metrics, binary_metrics=binary,
            investor_capital=capital,
            investor_capital_decimal=capital_dec, capital_outflows=outflows, investors=investors,
            rules=rules, order=order, waterfall=waterfall, amount_unit=terms.amount_unit,
        )

    def rule(self, rule: PaymentRule, expr: _Expr, investors: frozenset[str], is_inflow: bool) -> _Rule:
        fn = expr.getter() if expr.type == NUM else (lambda env: 0.0)
        return _Rule(
            id=rule.id, component=str(rule.component), payer=rule.payer, payee=rule.payee, tags=tuple(rule.tags),
            date=self.timing_date(rule.timing), fn=fn, to_investor=(rule.payee in investors and not is_inflow),
        )

    def order(self, payments: Sequence[PaymentRule], deps: Mapping[str, set[str]]) -> list[int] | None:
        """Evaluation order (dependencies first); reports each cycle once."""
        index = {r.id: i for i, r in enumerate(payments)}
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        order: list[int] = []
        stack: list[str] = []
        ok = True

        def visit(rid: str) -> None:
            nonlocal ok
            state[rid] = 1
            stack.append(rid)
            for dep in sorted(deps.get(rid, ()), key=lambda d: index.get(d, 0)):
                if dep not in index:
                    continue
                if state.get(dep) == 1:
                    cycle = stack[stack.index(dep):] + [dep]
                    first = min(cycle, key=lambda r: index[r])
                    self.issue(
                        f"payment_terms.payments[{index[first]}].amount",
                        "payment rules refer to each other in a cycle: " + " → ".join(cycle),
                    )
                    ok = False
                elif dep not in state:
                    visit(dep)
            stack.pop()
            state[rid] = 2
            order.append(index[rid])

        for r in payments:
            if r.id not in state:
                visit(r.id)
        return order if ok else None

    def waterfall(
        self,
        symbols: Mapping[str, _Symbol],
        scope: frozenset[str],
        metrics_used: set[str],
        investors: frozenset[str],
        rules: Sequence[_Rule],
    ) -> _Waterfall | None:
        terms = self.doc.payment_terms
        assert terms is not None
        wf = terms.waterfall
        if wf is None:
            return None
        by_id = {r.id: r for r in rules}
        seen: set[str] = set()
        for rid in wf.inflow:
            if rid in seen:
                self.issue("payment_terms.waterfall.inflow", f"payment {rid!r} is listed twice")
            seen.add(rid)
            rule = by_id.get(rid)
            if rule is None:
                self.issue("payment_terms.waterfall.inflow", f"unknown payment {rid!r}")
            elif rule.payee != wf.payer:
                self.issue(
                    "payment_terms.waterfall.inflow",
                    f"payment {rid!r} is paid to {rule.payee!r}, but the waterfall is distributed by "
                    f"{wf.payer!r}; an inflow must be paid to the waterfall's payer",
                )
        investments = {inv.id: inv for inv in self.doc.investments}
        steps: list[_Step] = []
        for i, step in enumerate(wf.steps):
            base = f"payment_terms.waterfall.steps[{i}]"
            inv = investments.get(step.to)
            if inv is None:
                self.issue(f"{base}.to", f"unknown investment {step.to!r}")
                continue
            getters: dict[str, Getter | None] = {"claim": None, "limit": None}
            for name in ("claim", "limit"):
                text = getattr(step, name)
                if text is None:
                    if name == "claim" and step.step in ("pay", "guarantee"):
                        self.issue(f"{base}.claim", f"a {step.step} step needs a claim formula")
                    continue
                if step.step == "residual":
                    self.issue(f"{base}.{name}", f"a residual step takes everything left; it has no {name}")
                    continue
                expr, comp = self.formula(text, f"{base}.{name}", symbols, scope, f"a waterfall {name}")
                metrics_used |= comp.metrics_used
                if expr.type is not None and expr.type != NUM:
                    self.issue(f"{base}.{name}", f"a {name} must be a number, not a {expr.type}")
                elif expr.type == NUM:
                    getters[name] = expr.getter()
            payer = step.by if step.step == "guarantee" and step.by else wf.payer
            steps.append(
                _Step(
                    index=i, kind=step.step, investment=step.to, payer=payer, payee=inv.investor,
                    component=str(step.component), claim=getters["claim"], limit=getters["limit"],
                    to_investor=inv.investor in investors,
                )
            )
        if wf.timing is not None:
            when = self.timing_date(wf.timing)
        else:
            dates = [by_id[r].date for r in wf.inflow if r in by_id]
            when = max(dates) if dates and all(d is not None for d in dates) else None  # type: ignore[type-var]
        return _Waterfall(tuple(wf.inflow), tuple(steps), when)

    def alternatives(self, symbols: Mapping[str, _Symbol], scope: frozenset[str]) -> None:
        """Type-check the alternative readings' rules too, so a recorded reading is at least well-formed."""
        terms = self.doc.payment_terms
        assert terms is not None
        for a, alt in enumerate(terms.alternative_readings):
            for name in alt.parameters:
                if name not in terms.parameters:
                    self.issue(f"payment_terms.alternative_readings[{a}].parameters.{name}",
                               "not a parameter of the primary terms")
            alt_symbols = dict(symbols)
            for rule in alt.payments:
                existing = alt_symbols.get(rule.id)
                if existing is None or existing.kind == "rule":
                    alt_symbols[rule.id] = _Symbol("rule", NUM)
            deps: dict[str, set[str]] = {}
            for i, rule in enumerate(alt.payments):
                path = f"payment_terms.alternative_readings[{a}].payments[{i}].amount"
                expr, comp = self.formula(rule.amount, path, alt_symbols, scope, "a payment amount")
                if expr.type is not None and expr.type != NUM:
                    self.issue(path, f"a payment amount must be a number, not a {expr.type}")
                deps[rule.id] = comp.rules_used
            # cycles among the alternative rules themselves
            ids = {r.id for r in alt.payments}
            sub = {r: {d for d in ds if d in ids} for r, ds in deps.items()}
            saved = self.issues
            self.issues = []
            self.order(alt.payments, sub)
            found = [TermsIssue(i.source, i.path.replace("payment_terms.payments", f"payment_terms.alternative_"
                                                         f"readings[{a}].payments"), i.reason) for i in self.issues]
            self.issues = saved + found


def with_parameters(
    doc: ContractDocument, overrides: Mapping[str, float | Decimal], source: str = "<document>"
) -> ContractDocument:
    """A copy of ``doc`` whose terms use other values for some parameters (what-if analysis).

    Raises :class:`TermsError` for a name that is not a parameter or that names a rate card.
    """
    terms = doc.payment_terms
    issues = []
    for name in overrides:
        if terms is None or name not in terms.parameters:
            issues.append(TermsIssue(source, f"parameters.{name}", "not a parameter of these payment terms"))
        elif terms.parameters[name].rate_card is not None:
            issues.append(TermsIssue(source, f"parameters.{name}", "a rate card cannot be replaced by a number"))
    if issues:
        raise TermsError(issues)
    if not overrides or terms is None:
        return doc
    parameters = {
        name: param.model_copy(update={"value": Decimal(str(overrides[name]))}) if name in overrides else param
        for name, param in terms.parameters.items()
    }
    return doc.model_copy(update={"payment_terms": terms.model_copy(update={"parameters": parameters})})


def with_reading(doc: ContractDocument, reading: int, source: str = "<document>") -> ContractDocument:
    """A copy of ``doc`` whose terms follow alternative reading number ``reading`` (counted from 1).

    The reading's payments, if it gives any, replace the primary rules; its parameters replace values.
    """
    terms = doc.payment_terms
    readings = terms.alternative_readings if terms else []
    if not 1 <= reading <= len(readings):
        raise TermsError([TermsIssue(source, "payment_terms.alternative_readings",
                                     f"there is no reading {reading}; this contract records {len(readings)}")])
    assert terms is not None
    alt = readings[reading - 1]
    path = f"payment_terms.alternative_readings[{reading - 1}]"
    issues = [TermsIssue(source, f"{path}.parameters.{name}", "not a parameter of the primary terms")
              for name in alt.parameters if name not in terms.parameters]
    if issues:
        raise TermsError(issues)
    primary = terms.model_copy(update={"payments": alt.payments or terms.payments, "alternative_readings": []})
    return with_parameters(doc.model_copy(update={"payment_terms": primary}), alt.parameters, source)


def compile_terms(
    doc: ContractDocument,
    source: str = "<document>",
    parameters: Mapping[str, float | Decimal] | None = None,
    reading: int | None = None,
) -> CompiledTerms:
    """Check and compile a document's payment terms; raise :class:`TermsError` listing every issue.

    ``reading`` selects an alternative reading of the terms (see :func:`with_reading`; ``None`` or 0 is the
    primary reading); ``parameters`` then replaces the values of named parameters (see
    :func:`with_parameters`). A document without ``payment_terms`` compiles to terms with no payments
    (everything evaluates to 0).
    """
    if reading:
        doc = with_reading(doc, reading, source)
    if parameters:
        doc = with_parameters(doc, parameters, source)
    builder = _Builder(doc, source)
    compiled = builder.build()
    if compiled is None:
        raise TermsError(builder.issues)
    compiled.reading = reading or None
    return compiled


def check_terms(doc: ContractDocument, source: str = "<document>") -> list[TermsIssue]:
    """Every issue :func:`compile_terms` would raise, as a list (empty when the terms compile)."""
    builder = _Builder(doc, source)
    builder.build()
    return builder.issues


def describe(expr_text: str, lang: str = "en") -> str:
    """A plain-language rendering of a formula for the web page (``lang`` is ``"en"`` or ``"sv"``).

    Falls back to the formula text itself when it does not parse.
    """
    from registry._describe_formula import render

    try:
        tree = F.parse(expr_text)
    except FormulaSyntaxError:
        return expr_text
    return render(tree, lang)
