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
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from registry import _formula as F
from registry._formula import FormulaSyntaxError
from registry._formula_words import render
from registry.finance import xirr
from registry.issues import Issue
from registry.schema import (
    ContractDocument,
    Investment,
    MetricKind,
    PaymentRule,
    Timing,
    TrancheType,
    Waterfall,
    partial_date_end,
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
    "outcome_key",
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
BUILTINS = frozenset({"capital", "period", "period_years"})
PERIOD_BUILTINS = frozenset({"period", "period_years"})


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
    rule: str | None = None  # the payment rule (or waterfall step) the flow comes from
    period: str | None = None  # the schedule's period label, for per-period flows


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
    multiple: float | None = Field(
        description="investor_repayment / investor_capital; None if capital is 0 or there is no investor position."
    )
    irr: float | None = Field(description="Annual XIRR of capital out and repayments in; None if unknown.")
    no_position: str | None = Field(
        default=None,
        description="Why the terms give investors no position (no investor, no stated capital, or no payment "
                    "reaching an investor); then multiple and irr are None rather than a loss.",
    )


# --- dates -------------------------------------------------------------------------------------------


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
_SPECIAL_FUNCTIONS = ("if", "bands", "rate_card", "cumsum", "lag", "cumcap", "owed")
FUNCTION_NAMES = frozenset(_FUNCTIONS) | frozenset(_SPECIAL_FUNCTIONS)


# --- the checker / compiler --------------------------------------------------------------------------


@dataclass
class _Symbol:
    kind: str  # metric, param, card, rule, capital
    type: str | None = NUM
    const: Any = None
    card: list[tuple[str, float]] | None = None  # (metric, price) for rate-card parameters
    card_ok: bool = True
    schedule: str | None = None  # scheduled metrics and per-period rules


@dataclass
class _Setting:
    """What a formula is evaluated for: a schedule's periods (per-period rules) or one date."""

    schedule: str | None = None
    dates: tuple[date, ...] = ()  # the schedule's payment days
    when: date | None = None  # the payment day of a rule without a schedule
    capital: tuple[tuple[date | None, float], ...] = ()  # capital outflows, for owed()


STATE = "__state__"  # env key: per-evaluation state of path-dependent nodes (running sums, histories)
PERIOD_INDEX = "__t__"  # env key: the 0-based index of the period being evaluated
_node_keys = iter(range(1, 1 << 62))  # identities of path-dependent nodes (their state keys)


class _FormulaCompiler:
    """Type-checks and compiles one formula against the document's names; records issues."""

    def __init__(
        self,
        symbols: Mapping[str, _Symbol],
        allowed: frozenset[str],
        report: Callable[[int | None, str], None],
        context: str,
        setting: _Setting | None = None,
    ) -> None:
        self.symbols = symbols
        self.allowed = allowed  # symbol kinds this formula may read
        self.report = report
        self.context = context
        self.setting = setting or _Setting()
        self.rules_used: set[str] = set()  # rules read in the same period (ordering dependencies)
        self.rules_lagged: set[str] = set()  # rules read only for earlier periods (lag, owed)
        self.metrics_used: set[str] = set()
        # (state key, getter): evaluated once at the end of every period, to remember a value for later ones
        self.hooks: list[tuple[int, Getter]] = []
        self._lagged = 0

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
        if node.name in PERIOD_BUILTINS:
            return self.period_builtin(node)
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
        here = self.setting.schedule
        if sym.schedule is not None and sym.schedule != here:
            if sym.kind == "metric":
                return self.error(node, f"{node.name!r} is measured per period of schedule {sym.schedule!r}; "
                                        f"use it in a rule with per: {sym.schedule}")
            if here is not None:
                return self.error(node, f"{node.name!r} pays per period of schedule {sym.schedule!r}, "
                                        f"not of {here!r}")
            # a rule without a schedule reads a per-period rule's total over its periods
        if sym.kind == "metric":
            self.metrics_used.add(node.name)
        if sym.kind == "rule":
            (self.rules_lagged if self._lagged else self.rules_used).add(node.name)
        if sym.const is not None:
            return _Expr(sym.type, const=sym.const)
        key = node.name
        return _Expr(sym.type, fn=lambda env: env[key])

    def period_builtin(self, node: F.Name) -> _Expr:
        if self.setting.schedule is None:
            return self.error(node, f"{node.name!r} is only defined in a rule with per: <schedule>")
        if node.name == "period":
            return _Expr(NUM, fn=lambda env: np.float64(env[PERIOD_INDEX] + 1))
        dates = self.setting.dates
        first = min((d for d, _ in self.setting.capital if d is not None), default=None)
        starts = [first if first is not None and first < dates[0] else dates[0], *dates[:-1]]
        years = tuple(np.float64((d - s).days / 365) for s, d in zip(starts, dates, strict=True))
        return _Expr(NUM, fn=lambda env: years[env[PERIOD_INDEX]])

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
        if name in ("cumsum", "lag", "cumcap"):
            return self.call_path(node)
        if name == "owed":
            return self.call_owed(node)
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
        for metric, _ in card:
            where = self.symbols[metric].schedule if metric in self.symbols else None
            if where is not None and where != self.setting.schedule:
                return self.error(arg, f"rate card {arg.name!r} prices {metric!r}, which is measured per period "
                                       f"of schedule {where!r}; use it in a rule with per: {where}")
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


    def call_path(self, node: F.Call) -> _Expr:
        """cumsum(x), lag(x[, k]), cumcap(x, cap): values over the periods of the rule's schedule."""
        name = node.func
        lagged = name == "lag"
        self._lagged += lagged
        args = [self.compile(a) for a in node.args]
        self._lagged -= lagged
        lo, hi = {"cumsum": (1, 1), "lag": (1, 2), "cumcap": (2, 2)}[name]
        if not self.arity(node, lo, hi):
            return _ERR
        ok = True
        for i, (a, n) in enumerate(zip(args, node.args, strict=True)):
            ok &= self.expect(a, NUM, n, f"argument {i + 1} of {name}()")
        if not ok:
            return _ERR
        if self.setting.schedule is None:
            return self.error(node, f"{name}() runs over periods: use it in a rule with per: <schedule>")
        key = next(_node_keys)
        if name == "lag":
            k = 1
            if len(args) == 2:
                kc = args[1].const
                if kc is None or float(kc) != int(kc) or int(kc) < 1:
                    return self.error(node.args[1], "the lag of lag() must be a whole number of periods >= 1")
                k = int(kc)
            self.hooks.append((key, args[0].getter()))
            zero = np.float64(0.0)

            def lag(env: Env) -> Any:
                t = env[PERIOD_INDEX] - k
                return env[STATE][key][t] if t >= 0 else zero

            return _Expr(NUM, fn=lag)
        gx = args[0].getter()
        if name == "cumsum":

            def cumsum(env: Env) -> Any:
                state = env[STATE]
                prev = state.get(key)
                acc = np.add(0.0, gx(env)) if prev is None else np.add(prev, gx(env))
                state[key] = acc
                return acc

            return _Expr(NUM, fn=cumsum)
        gc = args[1].getter()

        def cumcap(env: Env) -> Any:
            # paid_t = min(C_t, cap) - what earlier periods paid (never negative): a running cap on the total
            state = env[STATE]
            total, paid = state.get(key, (0.0, 0.0))
            total = np.add(total, gx(env))
            out = np.maximum(np.subtract(np.minimum(total, gc(env)), paid), 0.0)
            state[key] = (total, np.add(paid, out))
            return out

        return _Expr(NUM, fn=cumcap)

    def call_owed(self, node: F.Call) -> _Expr:
        """owed(rate[, paid]): what, paid on this payment's day, gives the investors exactly ``rate`` a year."""
        self._lagged += 1  # the repayments are those of earlier periods
        args = [self.compile(a) for a in node.args]
        self._lagged -= 1
        if not self.arity(node, 1, 2):
            return _ERR
        ok = True
        for i, (a, n) in enumerate(zip(args, node.args, strict=True)):
            ok &= self.expect(a, NUM, n, f"argument {i + 1} of owed()")
        if not ok:
            return _ERR
        if args[0].const is None:
            return self.error(node.args[0], "the rate of owed() must be a constant (a number or a parameter)")
        growth = np.float64(1.0) + np.float64(args[0].const)
        if not growth > 0:
            return self.error(node.args[0], "the rate of owed() must be above -100 %")
        capital = self.setting.capital
        if any(d is None for d, _ in capital):
            return self.error(node, "owed() needs the capital's dates (drawdowns, service_start or signed)")

        def value_at(day: date) -> np.float64:
            acc = np.float64(0.0)
            for d, amount in capital:
                assert d is not None
                acc = acc + np.float64(amount) * np.power(growth, np.float64((day - d).days / 365))
            return acc

        if self.setting.schedule is None:
            if len(args) == 2:
                return self.error(node, "owed(rate, paid) subtracts earlier periods' payments: use it in a rule "
                                        "with per: <schedule> (here write owed(rate))")
            if self.setting.when is None:
                return self.error(node, "owed() needs the payment's day: give the rule a timing")
            return _Expr(NUM, const=value_at(self.setting.when))
        dates = self.setting.dates
        due = tuple(value_at(d) for d in dates)
        if len(args) == 1:
            return _Expr(NUM, fn=lambda env: due[env[PERIOD_INDEX]])
        key = next(_node_keys)
        self.hooks.append((key, args[1].getter()))
        factors = tuple(tuple(np.power(growth, np.float64((d - e).days / 365)) for e in dates[:t])
                        for t, d in enumerate(dates))

        def owed(env: Env) -> Any:
            t = env[PERIOD_INDEX]
            paid = env[STATE].get(key, ())
            acc: Any = due[t]
            for s in range(t):
                acc = np.subtract(acc, np.multiply(paid[s], factors[t][s]))
            return acc

        return _Expr(NUM, fn=owed)


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
    schedule: str | None = None


@dataclass(frozen=True)
class _Step:
    index: int
    kind: str  # pay, guarantee, residual, fee
    payer: str
    payees: tuple[tuple[str, str | None, bool], ...]  # (organisation, investment or None, is an investor)
    shares: tuple[float, ...]  # pro rata shares of the payees (one payee: 1.0)
    component: str
    claim: Getter | None
    limit: Getter | None

    @property
    def investment(self) -> str | None:
        return self.payees[0][1] if len(self.payees) == 1 else None


@dataclass(frozen=True)
class _Waterfall:
    inflow: tuple[str, ...]
    steps: tuple[_Step, ...]
    date: date | None
    schedule: str | None = None


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
        schedules: Mapping[str, tuple[tuple[str, date], ...]] | None = None,
        metric_periods: Mapping[str, tuple[str, ...]] | None = None,
        plan: Sequence[tuple[str | None, tuple[int, ...]]] | None = None,
        hooks: Mapping[str, tuple[tuple[int, Getter], ...]] | None = None,
        scheduled_metrics: Mapping[str, str] | None = None,
        metric_kinds: Mapping[str, MetricKind] | None = None,
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
        self.schedules: dict[str, tuple[tuple[str, date], ...]] = dict(schedules or {})
        self.metric_kinds: dict[str, MetricKind] = dict(metric_kinds or {})  # every metric of the contract
        self.metric_periods: dict[str, tuple[str, ...]] = dict(metric_periods or {})
        self._known_metrics = known_metrics
        self._binary_metrics = binary_metrics
        self._rules = rules
        self._order = order
        self._plan = list(plan) if plan is not None else [(None, (i,)) for i in order]
        self._hooks = dict(hooks or {})
        # metric -> schedule for every scheduled metric of the document (also those the terms do not read)
        self._metric_schedule = dict(scheduled_metrics or {})
        self._waterfall = waterfall

    @property
    def payment_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self._rules)

    @property
    def outcome_keys(self) -> tuple[str, ...]:
        """Every key of a complete outcome input: ``metric[label]`` for each period of a scheduled metric."""
        keys: list[str] = []
        for name in self.outcome_names:
            labels = self.metric_periods.get(name)
            keys.extend([outcome_key(name, label) for label in labels] if labels else [name])
        return tuple(keys)

    @property
    def no_position(self) -> str | None:
        """Why investors hold no position under these terms (None when they do)."""
        if not self.investors:
            return "no investor holds capital in this contract (its investments are grants, guarantees or none)"
        if self.investor_capital_decimal <= 0:
            return "the investors' capital is not stated"
        steps = self._waterfall.steps if self._waterfall is not None else ()
        if self._rules and not (any(r.to_investor for r in self._rules)
                                or any(p[2] for step in steps for p in step.payees)):
            payees = sorted({r.payee for r in self._rules})
            return f"no payment in these terms reaches an investor (they go to {', '.join(payees)})"
        return None

    def __repr__(self) -> str:
        return f"CompiledTerms({self.contract!r}, outcomes={self.outcome_names}, payments={self.payment_ids})"

    # -- inputs ---------------------------------------------------------------------------------------

    def _split(self, outcomes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Plain outcomes and per-period ones (``metric[label]`` keys or nested mappings), checked."""
        plain: dict[str, Any] = {}
        labelled: dict[str, dict[str, Any]] = {}
        for key, raw in outcomes.items():
            m = _KEY_RE.fullmatch(key) if "[" in key else None
            if m is not None:
                labelled.setdefault(m.group(1), {})[m.group(2)] = raw
            elif isinstance(raw, Mapping):
                labelled.setdefault(key, {}).update({str(k): v for k, v in raw.items()})
            else:
                plain[key] = raw
        problems = []
        for name, values in labelled.items():
            schedule = self._metric_schedule.get(name)
            if name in plain:
                problems.append(f"outcome {name!r} is given both as one value and per period; give one or the other")
            elif name not in self._known_metrics:
                continue  # reported as unknown below
            elif schedule is None:
                problems.append(f"outcome {name!r} is not measured per period; give it as {name}=VALUE")
            else:
                labels = [label for label, _ in self.schedules[schedule]]
                unknown = [label for label in values if label not in labels]
                missing = [label for label in labels if label not in values]
                if unknown:
                    problems.append(f"outcome {name!r} has no period {', '.join(map(repr, unknown))} "
                                    f"(schedule {schedule!r}: {', '.join(labels)})")
                if missing:
                    problems.append(f"outcome {name!r} is missing period(s) {', '.join(missing)}")
        if problems:
            raise OutcomeError(f"{self.contract}: " + "; ".join(problems))
        return plain, labelled

    def _inputs(self, outcomes: Mapping[str, Any]) -> tuple[Env, dict[str, list[Any]], tuple[int, ...]]:
        if any("[" in k or isinstance(v, Mapping) for k, v in outcomes.items()):
            plain, labelled = self._split(outcomes)
        else:
            plain, labelled = dict(outcomes), {}
        given = plain.keys() | labelled.keys()
        complete = all(n in given for n in self.outcome_names) and self._known_metrics.issuperset(given)
        missing = [] if complete else [n for n in self.outcome_names if n not in given]
        unknown = [] if complete else sorted(n for n in given if n not in self._known_metrics)
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
        per_period: dict[str, list[Any]] = {}
        shapes: list[tuple[int, ...]] = []
        names: list[str] = []
        # Every given outcome is checked and sets the shape, also one the terms do not read: a contract
        # with a fixed fee still returns one amount per simulated scenario.
        for name, raw in plain.items():
            value = _as_input(self.contract, name, raw, name in self._binary_metrics)
            schedule = self._metric_schedule.get(name)
            if schedule is None:
                env[name] = value
            else:  # one value that every period shares
                per_period[name] = [value] * len(self.schedules[schedule])
            shapes.append(value.shape)
            names.append(name)
        for name, by_label in labelled.items():
            values = []
            for label, _ in self.schedules[self._metric_schedule[name]]:
                key = outcome_key(name, label)
                value = _as_input(self.contract, key, by_label[label], name in self._binary_metrics)
                values.append(value)
                shapes.append(value.shape)
                names.append(key)
            per_period[name] = values
        try:
            if shapes and all(s == shapes[0] for s in shapes):
                shape = shapes[0]  # the usual case (one array per metric, all alike): no broadcasting
            else:
                shape = np.broadcast_shapes(*shapes) if shapes else ()
        except ValueError:
            detail = ", ".join(f"{n} {s}" for n, s in zip(names, shapes, strict=True))
            raise OutcomeError(f"{self.contract}: outcome shapes do not broadcast: {detail}") from None
        return env, per_period, shape

    # -- evaluation -----------------------------------------------------------------------------------

    def evaluate(self, outcomes: Mapping[str, Any], *, breakdown: bool = True) -> TermsEvaluation:
        """Evaluate every payment for one outcome (scalars) or many (arrays that broadcast together).

        Outcomes of scheduled metrics are given per period as ``metric[label]`` keys (or a nested mapping
        label → value), or as one value that every period shares (see docs/payment-terms.md).

        ``breakdown=False`` leaves ``by_payer``, ``by_payee``, ``by_component`` and ``by_investor``
        empty: the Monte Carlo engine reads only the flows and ``investor_repayment``, which are the
        same bits either way.

        Raises :class:`OutcomeError` for missing, unknown, mistyped or non-finite outcome values.
        """
        env, per_period, shape = self._inputs(outcomes)
        values: dict[str, Any] = {}  # rule id -> amount, or a list of amounts per period
        steps_out: list[tuple[int | None, list[list[Any]]]] = []  # (period index, amounts per step and payee)
        wf = self._waterfall
        with np.errstate(all="ignore"):  # overflow is checked on the results below
            for schedule, block in self._plan:
                if schedule is None:
                    rule = self._rules[block[0]]
                    values[rule.id] = env[rule.id] = _clip(rule.fn(env))
                else:
                    self._run_schedule(schedule, block, env, per_period, values, steps_out)
            if wf is not None and wf.schedule is None:
                inflow = [env[r] for r in wf.inflow]  # a per-period rule's total over its periods
                steps_out.append((None, _run_waterfall(wf, inflow, env, _Carry())))
        flows: list[Flow] = []
        for rule in self._rules:
            if rule.schedule is None:
                flows.append(
                    Flow(rule.id, rule.component, rule.payer, rule.payee, rule.tags, rule.date,
                         _full(values[rule.id], shape), None, rule.to_investor, rule.id)
                )
                continue
            for (label, day), amount in zip(self.schedules[rule.schedule], values[rule.id], strict=True):
                flows.append(
                    Flow(outcome_key(rule.id, label), rule.component, rule.payer, rule.payee, rule.tags, day,
                         _full(amount, shape), None, rule.to_investor, rule.id, label)
                )
        if wf is not None:
            periods = self.schedules.get(wf.schedule or "", ())
            for t, amounts in steps_out:
                label, day = periods[t] if t is not None else (None, wf.date)
                for step, per_payee in zip(wf.steps, amounts, strict=True):
                    tags = ("waterfall", step.kind)
                    for (payee, investment, to_investor), amount in zip(step.payees, per_payee, strict=True):
                        fid = f"waterfall.steps[{step.index}]"
                        if len(step.payees) > 1:
                            fid += f".{investment}"
                        if label is not None:
                            fid = outcome_key(fid, label)
                        flows.append(
                            Flow(fid, step.component, step.payer, payee, tags, day, _full(amount, shape),
                                 investment, to_investor, f"waterfall.steps[{step.index}]", label)
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

    def _run_schedule(
        self, schedule: str, block: tuple[int, ...], env: Env, per_period: Mapping[str, list[Any]],
        values: dict[str, Any], steps_out: list[tuple[int | None, list[list[Any]]]],
    ) -> None:
        """The per-period rules of one schedule, period by period (and the waterfall, if it runs per period)."""
        state: dict[int, Any] = {}
        hooks = self._hooks.get(schedule, ())
        wf = self._waterfall if self._waterfall is not None and self._waterfall.schedule == schedule else None
        carry = _Carry()
        metrics = [(m, v) for m, v in per_period.items() if self._metric_schedule.get(m) == schedule]
        rules = [self._rules[i] for i in block]
        for rule in rules:
            values[rule.id] = []
        for t in range(len(self.schedules[schedule])):
            period_env = dict(env)
            for name, by_period in metrics:
                period_env[name] = by_period[t]
            period_env[STATE] = state
            period_env[PERIOD_INDEX] = t
            for rule in rules:
                amount = _clip(rule.fn(period_env))
                period_env[rule.id] = amount
                values[rule.id].append(amount)
            if wf is not None:
                steps_out.append((t, _run_waterfall(wf, [period_env[r] for r in wf.inflow], period_env, carry)))
            for key, getter in hooks:
                state.setdefault(key, []).append(getter(period_env))
        for rule in rules:  # what a rule without a schedule reads: the total over the periods
            total: Any = np.float64(0.0)
            for amount in values[rule.id]:
                total = np.add(total, amount)
            env[rule.id] = total

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
        plain, labelled = self._split(outcomes)
        echoed: dict[str, bool | float] = {}
        others = [n for n in [*plain, *labelled] if n not in self.outcome_names]  # given, though not read
        for name in [*self.outcome_names, *others]:
            binary = self.metric_kinds[name] == MetricKind.BINARY
            given = [(name, plain[name])] if name in plain else [
                (outcome_key(name, label), labelled[name][label]) for label in self.metric_periods.get(name, ())]
            for key, raw in given:
                value = np.asarray(float(raw) if isinstance(raw, Decimal) else raw)
                echoed[key] = bool(value != 0) if binary else float(value)
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
        no_position = self.no_position
        multiple = float(repayment / capital) if capital > 0 and no_position is None else None
        irr: float | None = None
        dated = [(d, -a) for d, a in self.capital_outflows] + [(f.date, float(a)) for f, a in repaid if a != 0]
        if capital > 0 and no_position is None and all(d is not None for d, _ in dated):
            irr = xirr([d for d, _ in dated], [a for _, a in dated])  # type: ignore[misc]
        return Payout(
            contract=self.contract, currency=self.currency, amount_unit=self.amount_unit, reading=self.reading,
            outcomes=echoed,
            payments=payments,
            investor_capital=capital.quantize(CENT), investor_repayment=repayment, multiple=multiple, irr=irr,
            no_position=no_position,
        )


_KEY_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\[([A-Za-z0-9_](?:[A-Za-z0-9_. -]{0,30}[A-Za-z0-9_.-])?)\]")


def outcome_key(metric: str, label: str) -> str:
    """The input key of a per-period outcome: ``outcome_key("rate", "2015")`` → ``rate[2015]``."""
    return f"{metric}[{label}]"


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


@dataclass
class _Carry:
    """What a waterfall has paid so far, per step and per investment (it runs once, or once per period)."""

    by_step: dict[int, Any] = field(default_factory=dict)
    to_investment: dict[str, Any] = field(default_factory=dict)


def _run_waterfall(wf: _Waterfall, inflow: Sequence[Any], env: Env, carry: _Carry) -> list[list[Any]]:
    """Distribute the inflow total step by step, vectorised: pay, guarantee, fee, residual.

    Claims and limits are totals: a step pays at most ``claim`` minus what it paid in earlier periods, so
    a waterfall that runs once per period repays a loan over several periods without paying it twice.
    Returns each step's amounts, one per payee (pro rata steps share by capital).
    """
    available: Any = inflow[0]
    for amount in inflow[1:]:
        available = np.add(available, amount)
    out: list[list[Any]] = []
    for step in wf.steps:
        before = carry.by_step.get(step.index, 0.0)
        if step.kind in ("pay", "fee"):
            assert step.claim is not None
            due = _clip(np.subtract(step.claim(env), before))
            if step.limit is not None:
                due = np.minimum(due, _clip(np.subtract(step.limit(env), before)))
            amount = np.minimum(available, due)
            available = np.subtract(available, amount)
        elif step.kind == "guarantee":
            assert step.claim is not None and step.investment is not None
            amount = _clip(np.subtract(step.claim(env), carry.to_investment.get(step.investment, 0.0)))
            if step.limit is not None:
                amount = np.minimum(amount, _clip(np.subtract(step.limit(env), before)))
        else:  # residual
            amount = available
            available = np.zeros_like(np.asarray(available, dtype=np.float64))
        amount = amount + 0.0
        carry.by_step[step.index] = np.add(before, amount)
        shares = [amount] if len(step.shares) == 1 else [np.multiply(amount, w) for w in step.shares]
        for (_, investment, _), share in zip(step.payees, shares, strict=True):
            if investment is not None:
                carry.to_investment[investment] = np.add(carry.to_investment.get(investment, 0.0), share)
        out.append(shares)
    return out


# --- building ----------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, doc: ContractDocument, source: str) -> None:
        self.doc = doc
        self.source = source
        self.issues: list[TermsIssue] = []
        self.currency = doc.finance.currency
        self.outflows: tuple[tuple[date | None, float], ...] = ()

    def issue(self, path: str, reason: str) -> None:
        self.issues.append(TermsIssue(self.source, path, reason))

    def reporter(self, path: str) -> Callable[[int | None, str], None]:
        def report(col: int | None, reason: str) -> None:
            self.issue(path, f"column {col}: {reason}" if col is not None else reason)

        return report

    # -- formulas -------------------------------------------------------------------------------------

    def formula(
        self, text: str, path: str, symbols: Mapping[str, _Symbol], allowed: frozenset[str], context: str,
        setting: _Setting | None = None,
    ) -> tuple[_Expr, _FormulaCompiler]:
        compiler = _FormulaCompiler(symbols, allowed, self.reporter(path), context, setting)
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

        scheduled = self.scheduled_metrics()
        for i, m in enumerate(doc.outcome_metrics):
            kind = MetricKind(m.kind)
            declare(m.id, _Symbol("metric", BOOL if kind == MetricKind.BINARY else NUM, schedule=scheduled.get(m.id)),
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
            declare(rule.id, _Symbol("rule", NUM, schedule=rule.per), f"payment_terms.payments[{i}].id",
                    "payment rule")
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
                metric_kinds=kinds,
            )
        symbols = self.symbols()
        capital, capital_dec, outflows = self.capital(symbols)
        symbols["capital"] = _Symbol("capital", NUM, const=np.float64(capital))
        self.outflows = tuple(outflows)
        rule_scope = frozenset({"metric", "param", "card", "rule", "capital"})
        metrics_used: set[str] = set()
        deps: dict[str, set[str]] = {}
        rules: list[_Rule] = []
        hooks: dict[str, list[tuple[int, Getter]]] = {name: [] for name in self.schedules}
        inflow = set(terms.waterfall.inflow) if terms.waterfall else set()
        for i, rule in enumerate(terms.payments):
            path = f"payment_terms.payments[{i}].amount"
            setting = self.setting(rule.per, rule.timing, f"payment_terms.payments[{i}]")
            expr, comp = self.formula(rule.amount, path, symbols, rule_scope, "a payment amount", setting)
            if expr.type is not None and expr.type != NUM:
                self.issue(path, f"a payment amount must be a number, not a {expr.type}"
                                 " (use if(condition, amount, 0))")
            metrics_used |= comp.metrics_used
            deps.setdefault(rule.id, set()).update(comp.rules_used)
            if rule.per in hooks:
                hooks[rule.per].extend(comp.hooks)
            rules.append(self.rule(rule, expr, investors, rule.id in inflow))
        order = self.order(terms.payments, deps)
        plan = self.plan(terms.payments, deps, order) if order is not None else None
        waterfall = self.waterfall(symbols, rule_scope, metrics_used, investors, rules, hooks)
        self.alternatives(symbols, rule_scope)
        if self.issues:
            return None
        assert order is not None and plan is not None
        names = tuple(m.id for m in doc.outcome_metrics if m.id in metrics_used)
        metric_periods = {n: self.schedules[sched][0] for n, sched in self.scheduled_metrics().items()
                          if sched in self.schedules}
        return CompiledTerms(
            contract=doc.id, currency=self.currency, source=self.source, outcome_names=names,
            outcome_kinds={n: kinds[n] for n in names}, known_metrics=known_metrics, binary_metrics=binary,
            investor_capital=capital,
            investor_capital_decimal=capital_dec, capital_outflows=outflows, investors=investors,
            rules=rules, order=order, waterfall=waterfall, amount_unit=terms.amount_unit,
            schedules={k: tuple(zip(*v, strict=True)) for k, v in self.schedules.items()},
            metric_periods=metric_periods, plan=plan, hooks={k: tuple(v) for k, v in hooks.items()},
            scheduled_metrics={m: sch for m, sch in self.scheduled_metrics().items() if sch in self.schedules},
            metric_kinds=kinds,
        )

    # -- schedules ------------------------------------------------------------------------------------

    @property
    def schedules(self) -> dict[str, tuple[tuple[str, ...], tuple[date, ...]]]:
        """Each schedule's labels and payment days (partial dates resolved to their last day)."""
        terms = self.doc.payment_terms
        if terms is None:
            return {}
        return {name: (tuple(p.label for p in sch.periods), tuple(partial_date_end(p.date) for p in sch.periods))
                for name, sch in terms.schedules.items()}

    def scheduled_metrics(self) -> dict[str, str]:
        """Metric id → the schedule it is measured per (each metric in at most one schedule)."""
        terms = self.doc.payment_terms
        found: dict[str, str] = {}
        if terms is None:
            return found
        metric_ids = {m.id for m in self.doc.outcome_metrics}
        for name, sch in terms.schedules.items():
            for metric in sch.metrics:
                path = f"payment_terms.schedules.{name}.metrics"
                if metric not in metric_ids:
                    if not any(i.path == path and metric in i.reason for i in self.issues):
                        self.issue(path, f"unknown outcome metric {metric!r}")
                elif metric in found:
                    if not any(i.path == path and metric in i.reason for i in self.issues):
                        self.issue(path, f"metric {metric!r} is already measured per schedule {found[metric]!r}")
                else:
                    found[metric] = name
        return found

    def setting(self, per: str | None, timing: Timing | None, path: str) -> _Setting:
        if per is None:
            return _Setting(when=self.timing_date(timing), capital=self.outflows)
        if per not in self.schedules:
            close = difflib.get_close_matches(per, sorted(self.schedules), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.issue(f"{path}.per", f"unknown schedule {per!r}{hint}")
            return _Setting(when=self.timing_date(timing), capital=self.outflows)
        if timing is not None:
            self.issue(f"{path}.timing", f"a rule paid per period of {per!r} takes its days from the schedule; "
                                         "it has no timing")
        return _Setting(schedule=per, dates=self.schedules[per][1], capital=self.outflows)

    def rule(self, rule: PaymentRule, expr: _Expr, investors: frozenset[str], is_inflow: bool) -> _Rule:
        fn = expr.getter() if expr.type == NUM else (lambda env: 0.0)
        per = rule.per if rule.per in self.schedules else None
        return _Rule(
            id=rule.id, component=str(rule.component), payer=rule.payer, payee=rule.payee, tags=tuple(rule.tags),
            date=None if per else self.timing_date(rule.timing), fn=fn,
            to_investor=(rule.payee in investors and not is_inflow), schedule=per,
        )

    def rule_dates(self, rule: _Rule) -> list[date | None]:
        return list(self.schedules[rule.schedule][1]) if rule.schedule else [rule.date]

    def plan(self, payments: Sequence[PaymentRule], deps: Mapping[str, set[str]],
             order: Sequence[int]) -> list[tuple[str | None, tuple[int, ...]]] | None:
        """Evaluation blocks: (None, (rule,)) for a rule, (schedule, rules) for all per-period rules of a
        schedule, which run period by period together. A rule without a schedule that reads a per-period rule
        (its total) comes after the whole schedule, so it cannot also feed that schedule's rules."""
        node = {r.id: (f"@{r.per}" if r.per in self.schedules else r.id) for r in payments}
        edges: dict[str, set[str]] = {}
        for r in payments:
            edges.setdefault(node[r.id], set()).update(
                node[d] for d in deps.get(r.id, ()) if d in node and node[d] != node[r.id])
        state: dict[str, int] = {}
        done: list[str] = []
        bad: list[str] = []

        def visit(n: str) -> None:
            state[n] = 1
            for m in sorted(edges.get(n, ())):
                if state.get(m) == 1:
                    bad.append(n if n.startswith("@") else m)
                elif m not in state:
                    visit(m)
            state[n] = 2
            done.append(n)

        for r in payments:
            if node[r.id] not in state:
                visit(node[r.id])
        for n in sorted(set(bad)):
            self.issue("payment_terms.payments", f"the per-period rules of schedule {n[1:]!r} and a rule without "
                                                 "a schedule read each other (a total over the periods cannot "
                                                 "feed the periods)")
        if bad:
            return None
        position = {n: i for i, n in enumerate(done)}
        blocks: dict[str, list[int]] = {}
        for i in order:
            blocks.setdefault(node[payments[i].id], []).append(i)
        plan = sorted(blocks.items(), key=lambda kv: position[kv[0]])
        return [(n[1:] if n.startswith("@") else None, tuple(ix)) for n, ix in plan]

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

    def check_inflows(self, wf: Waterfall, rules: Sequence[_Rule], setting: _Setting) -> None:
        """The waterfall's inflows: known payments, each listed once, paid to its payer and per its periods."""
        by_id = {r.id: r for r in rules}
        seen: set[str] = set()
        for rid in wf.inflow:
            if rid in seen:
                self.issue("payment_terms.waterfall.inflow", f"payment {rid!r} is listed twice")
            seen.add(rid)
            rule = by_id.get(rid)
            if rule is None:
                self.issue("payment_terms.waterfall.inflow", f"unknown payment {rid!r}")
                continue
            if rule.payee != wf.payer:
                self.issue(
                    "payment_terms.waterfall.inflow",
                    f"payment {rid!r} is paid to {rule.payee!r}, but the waterfall is distributed by "
                    f"{wf.payer!r}; an inflow must be paid to the waterfall's payer",
                )
            if setting.schedule is not None and rule.schedule != setting.schedule:
                # a waterfall that runs once distributes per-period inflows' totals; one per period needs them
                # paid per the same periods
                self.issue(
                    "payment_terms.waterfall.inflow",
                    f"payment {rid!r} is not paid per period of {setting.schedule!r}, but the waterfall runs per "
                    "period of it",
                )

    def waterfall(
        self,
        symbols: Mapping[str, _Symbol],
        scope: frozenset[str],
        metrics_used: set[str],
        investors: frozenset[str],
        rules: Sequence[_Rule],
        hooks: dict[str, list[tuple[int, Getter]]],
    ) -> _Waterfall | None:
        terms = self.doc.payment_terms
        assert terms is not None
        wf = terms.waterfall
        if wf is None:
            return None
        setting = self.setting(wf.per, wf.timing, "payment_terms.waterfall")
        self.check_inflows(wf, rules, setting)
        investments = {inv.id: inv for inv in self.doc.investments}
        capital_of = {inv.id: float(m.amount) for i, inv in self.investor_investments()
                      if (m := inv.drawn or inv.committed) is not None}
        steps: list[_Step] = []
        for i, step in enumerate(wf.steps):
            base = f"payment_terms.waterfall.steps[{i}]"
            targets = [(inv_id, investments.get(inv_id)) for inv_id in step.investments]
            missing = [inv_id for inv_id, inv in targets if inv is None]
            for inv_id in missing:
                self.issue(f"{base}.to", f"unknown investment {inv_id!r}")
            if missing:
                continue
            shares: tuple[float, ...] = (1.0,)
            if len(targets) > 1:
                weights = [capital_of.get(inv_id, 0.0) for inv_id, _ in targets]
                if not all(w > 0 for w in weights):
                    self.issue(f"{base}.to", "a pro rata step shares by the investments' capital; "
                                             "give each a drawn or committed amount")
                    continue
                total = math.fsum(weights)
                shares = tuple(w / total for w in weights)
            getters: dict[str, Getter | None] = {"claim": None, "limit": None}
            for name in ("claim", "limit"):
                text = getattr(step, name)
                if text is None:
                    if name == "claim" and step.step in ("pay", "guarantee", "fee"):
                        self.issue(f"{base}.claim", f"a {step.step} step needs a claim formula")
                    continue
                if step.step == "residual":
                    self.issue(f"{base}.{name}", f"a residual step takes everything left; it has no {name}")
                    continue
                expr, comp = self.formula(text, f"{base}.{name}", symbols, scope, f"a waterfall {name}", setting)
                metrics_used |= comp.metrics_used
                if setting.schedule in hooks:
                    hooks[setting.schedule].extend(comp.hooks)
                if expr.type is not None and expr.type != NUM:
                    self.issue(f"{base}.{name}", f"a {name} must be a number, not a {expr.type}")
                elif expr.type == NUM:
                    getters[name] = expr.getter()
            payer = step.by if step.step == "guarantee" and step.by else wf.payer
            if step.step == "fee":
                assert step.payee is not None
                payees: tuple[tuple[str, str | None, bool], ...] = ((step.payee, None, step.payee in investors),)
            else:
                payees = tuple((inv.investor, inv_id, inv.investor in investors)  # type: ignore[union-attr]
                               for inv_id, inv in targets)
            steps.append(
                _Step(
                    index=i, kind=step.step, payer=payer, payees=payees, shares=shares,
                    component=str(step.component), claim=getters["claim"], limit=getters["limit"],
                )
            )
        if setting.schedule is not None:
            when = None
        elif wf.timing is not None:
            when = self.timing_date(wf.timing)
        else:
            by_id = {r.id: r for r in rules}
            dates = [d for r in wf.inflow if r in by_id for d in self.rule_dates(by_id[r])]
            when = max(dates) if dates and all(d is not None for d in dates) else None  # type: ignore[type-var]
        return _Waterfall(tuple(wf.inflow), tuple(steps), when, setting.schedule)

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
                    alt_symbols[rule.id] = _Symbol("rule", NUM, schedule=rule.per)
            deps: dict[str, set[str]] = {}
            for i, rule in enumerate(alt.payments):
                path = f"payment_terms.alternative_readings[{a}].payments[{i}].amount"
                setting = self.setting(rule.per, rule.timing, f"payment_terms.alternative_readings[{a}].payments[{i}]")
                expr, comp = self.formula(rule.amount, path, alt_symbols, scope, "a payment amount", setting)
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


def describe(expr_text: str, lang: str = "en", gettext: Callable[[str], str] | None = None) -> str:
    """A plain-language rendering of a formula: its phrases translated by ``gettext`` (English without one),
    its numbers written as ``lang`` (``"en"`` or ``"sv"``) writes them.

    Falls back to the formula text itself when it does not parse.
    """
    try:
        tree = F.parse(expr_text)
    except FormulaSyntaxError:
        return expr_text
    return render(tree, lang, gettext) if gettext is not None else render(tree, lang)
