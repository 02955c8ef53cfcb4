"""Payoff sweeps: the contract's payment terms evaluated over a range of its main outcome.

A sweep is what a payoff chart draws, and what a fact sheet's key figures read. It evaluates the
compiled payment terms once, vectorised, over the whole range of the *main* payment-relevant outcome:

* **investor repayment**: everything that reaches investors (``result.investor_repayment``);
* **payer cost**: what the outcome payers pay out (``result.by_payer`` over organisations with the
  ``outcome_payer`` role; when none of them appears there, the sum of the payment rules' flows);
* the investor capital at risk, as a reference.

The main outcome is the first payment-relevant non-binary metric the terms read (document order),
else the first binary one (then the sweep has two points, "not achieved" / "achieved").
Every other outcome the terms read is held at a **reference value**: binary outcomes at ``true``
(achieved); numeric outcomes at their first target, else their baseline, else 0.

The sweep range, found on a wide probe sweep: from the lower of 0, the stated thresholds and the first point
where either curve turns (a floor below zero, such as a negative return, with room before it) to a quarter
beyond the last point where either curve still changes (a cap), and at least past every stated threshold.
A share (unit ``share``, or a rate with thresholds in [0, 1]) is probed over -100 % to 200 %, so its chart
spans per cents, not the size of the amounts, and ends at 100 % at most (past it only to a stated target); a
share whose terms never turn spans 0 to 100 %.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from registry.schema import ContractDocument, OutcomeMetric, Role
from registry.terms import CompiledTerms, TermsError, compile_terms

log = logging.getLogger(__name__)

SWEEP_POINTS = 201
PROBE_POINTS = 2001


@dataclass(frozen=True)
class PayoffSweep:
    """The main outcome's values ``x`` (shape ``(n,)``) and what investors receive and payers pay at each."""

    metric: OutcomeMetric
    binary: bool
    x: np.ndarray
    investor: np.ndarray
    payer: np.ndarray
    capital: float
    reference: dict[str, float | bool]
    share: bool = False  # the main outcome is a share: drawn in per cent
    derived: tuple[str, ...] = ()  # parameters worked back from a result because no source gives them


def _metric(doc: ContractDocument, metric_id: str) -> OutcomeMetric | None:
    return next((m for m in doc.outcome_metrics if m.id == metric_id), None)


def _is_binary(kind: object) -> bool:
    return str(getattr(kind, "value", kind)) == "binary"


def thresholds(metric: OutcomeMetric | None) -> list[float]:
    """The values the terms are likely to turn at: the metric's targets and its baseline."""
    if metric is None:
        return []
    values = [float(t.value) for t in metric.targets]
    if metric.baseline is not None:
        values.append(float(metric.baseline.value))
    return values


def reference_value(metric: OutcomeMetric | None, kind: object) -> float | bool:
    """The value an outcome is held at while another is swept (see the module docstring)."""
    if _is_binary(kind):
        return True
    if metric is not None and metric.targets:
        return float(metric.targets[0].value)
    if metric is not None and metric.baseline is not None:
        return float(metric.baseline.value)
    return 0.0


def choose_main_outcome(doc: ContractDocument, outcome_names: Sequence[str], kinds: dict[str, object]) -> str | None:
    """The outcome to sweep: first payment-relevant non-binary metric the terms read, else the first binary."""
    order = {m.id: i for i, m in enumerate(doc.outcome_metrics)}
    names = sorted(outcome_names, key=lambda n: order.get(n, len(order)))
    relevant = [n for n in names if (_metric(doc, n) is None or _metric(doc, n).payment_relevant)] or names
    numeric = [n for n in relevant if not _is_binary(kinds.get(n))]
    if numeric:
        return numeric[0]
    return relevant[0] if relevant else None


def _payer_cost(doc: ContractDocument, result: object, n: int) -> np.ndarray:
    by_payer = getattr(result, "by_payer", {}) or {}
    payers = [o.id for o in doc.parties_with_role(Role.OUTCOME_PAYER) if o.id in by_payer]
    if payers:
        return sum((np.broadcast_to(np.asarray(by_payer[p], dtype=float), (n,)) for p in payers), np.zeros(n))
    rule_ids = {p.id for p in doc.payment_terms.payments} if doc.payment_terms else set()
    total = np.zeros(n)
    for flow in getattr(result, "flows", []):
        if (getattr(flow, "rule", None) or flow.id) in rule_ids:  # per-period flows are rule[label]
            total = total + np.broadcast_to(np.asarray(flow.amount, dtype=float), (n,))
    return total


def _evaluate(compiled: CompiledTerms, doc: ContractDocument,
              inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    n = len(next(iter(inputs.values())))
    result = compiled.evaluate(inputs)
    investor = np.broadcast_to(np.asarray(result.investor_repayment, dtype=float), (n,)).copy()
    return investor, _payer_cost(doc, result, n)


def payoff_sweep(doc: ContractDocument) -> PayoffSweep | None:
    """Sweep the main outcome through the compiled terms; ``None`` when there are no executable terms."""
    if doc.payment_terms is None or not doc.payment_terms.payments:
        return None
    try:
        compiled = compile_terms(doc, source=doc.id)
    except TermsError as exc:
        log.info("no payoff chart for %s: %s", doc.id, exc)
        return None
    names = tuple(compiled.outcome_names)
    kinds = dict(compiled.outcome_kinds)
    capital = float(compiled.investor_capital or 0.0)
    main = choose_main_outcome(doc, names, kinds)

    reference: dict[str, float | bool] = {n: reference_value(_metric(doc, n), kinds.get(n)) for n in names}

    def inputs_for(x: np.ndarray) -> dict[str, np.ndarray]:
        inputs: dict[str, np.ndarray] = {}
        for name in names:
            if name == main:
                inputs[name] = x
            elif isinstance(reference[name], bool):
                inputs[name] = np.full(len(x), reference[name], dtype=bool)
            else:
                inputs[name] = np.full(len(x), float(reference[name]), dtype=float)
        return inputs

    if main is None:
        # Terms that read no outcome at all (a fixed fee): one flat line over a nominal range.
        x = np.linspace(0.0, 1.0, 2)
        result = compiled.evaluate({})
        inv = np.broadcast_to(np.asarray(result.investor_repayment, dtype=float), (2,)).copy()
        pay = _payer_cost(doc, result, 2)
        return None if not (inv.any() or pay.any()) else PayoffSweep(
            metric=OutcomeMetric(id="none", name={"en": "-"}, kind="continuous"),
            binary=True, x=x, investor=inv, payer=pay, capital=capital, reference=reference)

    metric = _metric(doc, main) or OutcomeMetric(id=main, name={"en": main}, kind="continuous")
    reference.pop(main, None)
    derived = tuple(name for name, p in doc.payment_terms.parameters.items() if p.derived)
    if _is_binary(kinds.get(main)):
        x = np.array([False, True])
        inv, pay = _evaluate(compiled, doc, inputs_for(x))
        return PayoffSweep(metric, True, x.astype(float), inv, pay, capital, reference, derived=derived)

    lo, hi = _sweep_range(compiled, doc, metric, kinds.get(main), capital, inputs_for)
    x = np.linspace(lo, hi, SWEEP_POINTS)
    inv, pay = _evaluate(compiled, doc, inputs_for(x))
    return PayoffSweep(metric, False, x, inv, pay, capital, reference, share=is_share(metric, kinds.get(main)),
                       derived=derived)


SHARE_UNITS = frozenset({"share", "%", "percent", "per cent", "rate"})


def is_share(metric: OutcomeMetric, kind: object) -> bool:
    """Whether the outcome is a share (drawn in per cent): its unit says so, or it is a rate whose stated
    thresholds lie in [0, 1]."""
    if (metric.unit or "").strip().lower() in SHARE_UNITS:
        return True
    return str(getattr(kind, "value", kind)) == "rate" and all(0 <= t <= 1 for t in thresholds(metric))


def _probe(doc: ContractDocument, metric: OutcomeMetric, kind: object, capital: float, share: bool) -> np.ndarray:
    """The outcome values the terms are first evaluated at, to find where they turn."""
    stated = thresholds(metric)
    if share:
        # Returns fall below zero and achievements pass 100 %; terms on a share turn well inside [-100 %, 200 %].
        return np.linspace(min([-1.0, *stated]), max([2.0, *stated]), PROBE_POINTS)
    lo = min([0.0, *stated])
    scales = [abs(t) for t in stated if t]
    if doc.payment_terms:
        scales += [abs(float(p.value)) for p in doc.payment_terms.parameters.values() if p.value]
    if str(getattr(kind, "value", kind)) == "count" and doc.target_population:
        scales += [float(doc.target_population.targeted_participants or 0)]
    scales += [capital] if capital else []
    if doc.finance.max_outcome_payment:
        scales.append(float(doc.finance.max_outcome_payment.amount))
    scale = max(scales) if scales else 1.0
    hi = lo + 4 * (scale - lo) if scale > lo else lo + 1.0
    # Amounts can dwarf the outcome's own scale (a price in millions on a count of dozens): geometric points
    # find turns close to the start that an even grid over so wide a range steps over.
    return np.union1d(np.linspace(lo, hi, PROBE_POINTS), lo + np.geomspace((hi - lo) * 1e-7, hi - lo, PROBE_POINTS))


def _sweep_range(compiled: CompiledTerms, doc: ContractDocument, metric: OutcomeMetric, kind: object, capital: float,
                 inputs_for: Callable[[np.ndarray], dict[str, np.ndarray]]) -> tuple[float, float]:
    """From the lower of 0 and the first turn (floor) to a quarter beyond the last turn (cap), past every
    stated threshold; a share ends at 100 % at most, and spans 0 to 100 % when its terms never turn."""
    stated = thresholds(metric)
    share = is_share(metric, kind)
    probe = _probe(doc, metric, kind, capital, share)
    inv, pay = _evaluate(compiled, doc, inputs_for(probe))
    tol = 1e-9 * max(1.0, float(np.max(np.abs(inv))), float(np.max(np.abs(pay))))
    moves = np.flatnonzero((np.abs(np.diff(inv)) > tol) | (np.abs(np.diff(pay)) > tol))
    lo = min([0.0, *stated])
    if moves.size:
        first, last = float(probe[moves[0]]), float(probe[moves[-1] + 1])
        if first < 0 <= float(probe[moves[0] + 1]):
            first = 0.0  # the turn lies between two probe points around zero: a floor at zero, not below it
        lo = min(lo, first)
        pad = 0.25 * (last - lo)
        if first < 0 < pad:
            lo -= pad  # a floor below zero (a negative return) is shown with room before it
        hi = last + pad
    else:
        hi = 1.0 if share else float(probe[-1]) * 1.25
    hi = max(hi, max(stated, default=lo) * 1.1)
    if share:
        hi = min(hi, max([1.0, *stated]))  # a share is drawn to 100 % at most (further only to a stated target)
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)
