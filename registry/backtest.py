"""Back-test: do a contract's payment terms reproduce what actually happened?

The terms (``payment_terms``, the reading named by ``history.reading``) are evaluated on the outcome values
recorded in ``history.outcomes``; what they pay is compared with ``history.payments`` and
``history.investor_results``. The verdict is

* ``yes``: every comparison that the record allows agrees within the tolerances below;
* ``no``: at least one disagrees; each disagreement says by how much;
* ``unknown`` ("cannot tell"): nothing can be compared, and the reasons name the figure that is missing
  (an outcome value the terms need, or any payment or investor result to compare with).

Tolerances (:class:`Tolerances`): an amount agrees when it is within 1 % of the recorded amount or one unit of
the currency, whichever is larger (sources round: "about USD 267,000"); a disputed amount agrees with any of its
recorded values. An IRR agrees within half a percentage point ("15 %"), one point when the source says "about",
and a stated minimum or maximum is met with the same half point. A payment date agrees when the terms' date
falls in the recorded (partial) date's period or within 92 days of it.

Comparisons, each made only where the record has the figure:

* per payer named in ``history.payments``: the recorded total against everything the terms have that
  organisation pay (its rules and waterfall steps);
* per investor in ``history.investor_results``: ``repaid`` against what the terms pay that investor, ``irr``
  against the terms' IRR (only when the investor is the contract's only one), and ``multiple`` where no
  repaid amount is given;
* per payer, the recorded payment dates against the dates of the terms' payments by that payer.

Payments recorded for one cohort or period are compared only with terms that take per-cohort outcomes; with
whole-contract terms they cannot be (the terms' amount covers every cohort).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from registry.plain_text import amount_text, percent_text
from registry.schema import ContractDocument, OutcomeValue, PaymentMade, partial_date_start
from registry.terms import CompiledTerms, OutcomeError, TermsError, compile_terms, partial_date_end

Verdict = Literal["yes", "no", "unknown"]
VERDICTS: tuple[Verdict, ...] = ("yes", "no", "unknown")


@dataclass(frozen=True)
class Tolerances:
    amount_relative: Decimal = Decimal("0.01")
    amount_absolute: Decimal = Decimal("1")
    irr_points: float = 0.005
    irr_points_about: float = 0.01
    date_days: int = 92


TOLERANCES = Tolerances()


@dataclass(frozen=True)
class Check:
    """One comparison of the terms with the record.

    ``kind``: ``payer_total``, ``investor_repaid``, ``irr``, ``multiple`` or ``payment_date``; ``subject`` is
    the organisation id. ``terms`` and ``recorded`` are Decimals (amounts, multiples), floats (IRR) or dates
    (ISO strings for recorded partial dates).
    """

    kind: str
    subject: str
    terms: Any
    recorded: Any
    ok: bool
    currency: str | None = None
    difference: Any = None
    relative: float | None = None
    bound: str = "exact"
    period: str | None = None  # the cohort or period of the recorded payment

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "subject": self.subject, "period": self.period, "ok": self.ok,
            "currency": self.currency,
            "terms": _json(self.terms), "recorded": _json(self.recorded), "difference": _json(self.difference),
            "relative": self.relative, "bound": self.bound,
        }

    def text(self) -> str:
        """The check in English, for the command line."""
        mark = "ok" if self.ok else "OFF"
        label = {"payer_total": "paid by", "investor_repaid": "repaid to", "irr": "IRR of",
                 "multiple": "multiple of", "payment_date": "payment date of"}[self.kind]
        terms, recorded = _shown(self.terms, self.currency), _shown(self.recorded, self.currency)
        if self.kind == "irr" and self.bound != "exact":
            recorded = {"min": "at least ", "max": "at most ", "about": "about "}[self.bound] + recorded
        period = f" [{self.period}]" if self.period else ""
        line = f"[{mark}] {label} {self.subject}{period}: terms {terms}, recorded {recorded}"
        if not self.ok and self.kind == "irr":
            line += f" (off by {self.difference * 100:+.2f} percentage points)"
        elif not self.ok and self.difference is not None:
            line += f" (off by {_shown(self.difference, self.currency, signed=True)}"
            line += f", {self.relative:+.1%})" if self.relative is not None else ")"
        return line


@dataclass(frozen=True)
class Reason:
    """Why a back-test cannot tell (or a caveat on one that can): ``kind`` plus what it is about.

    kinds: ``no_history``, ``no_terms``, ``amount_unit``, ``terms_error``, ``missing_outcome``,
    ``per_cohort_outcome``, ``nothing_to_compare``, ``cohort_payments``, ``unverified_input``,
    ``bound_input``, ``recorded_unknown``.
    """

    kind: str
    subject: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "detail": self.detail}

    def text(self) -> str:
        subject = f" {self.subject}" if self.subject else ""
        base = {
            "no_history": "no realised history is recorded",
            "no_terms": "the contract has no executable payment terms",
            "amount_unit": "the terms give amounts in a unit other than money",
            "terms_error": "the payment terms do not compile",
            "missing_outcome": f"no recorded value of outcome{subject}",
            "per_cohort_outcome": f"outcome{subject} is recorded per cohort, the terms take one value",
            "nothing_to_compare": "no payment or investor result is recorded to compare with",
            "cohort_payments": f"payments by{subject} are recorded for one cohort or period, which the terms do "
                               "not pay separately",
            "unverified_input": f"outcome{subject} is an unverified figure",
            "bound_input": f"outcome{subject} is a bound, not an exact figure",
            "recorded_unknown": "unknown",
        }[self.kind]
        return f"{base}: {self.detail}" if self.detail else base


@dataclass
class Backtest:
    contract: str
    verdict: Verdict
    currency: str
    reading: int | None = None
    inputs: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    caveats: list[Reason] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract, "reproduced": self.verdict, "currency": self.currency,
            "reading": self.reading, "inputs": self.inputs,
            "checks": [c.as_dict() for c in self.checks],
            "cannot_tell": [r.as_dict() | {"text": r.text()} for r in self.reasons],
            "caveats": [r.as_dict() | {"text": r.text()} for r in self.caveats],
            "tolerances": {"amount_relative": str(TOLERANCES.amount_relative),
                           "amount_absolute": str(TOLERANCES.amount_absolute),
                           "irr_points": TOLERANCES.irr_points, "irr_points_about": TOLERANCES.irr_points_about,
                           "date_days": TOLERANCES.date_days},
        }

    def summary(self) -> str:
        """One line in English: the verdict and by how much, or why not."""
        if self.verdict == "yes":
            return f"reproduced: yes ({len(self.checks)} comparison{'s' if len(self.checks) != 1 else ''})"
        if self.verdict == "no":
            return "reproduced: no – " + "; ".join(c.text().removeprefix("[OFF] ") for c in self.failures)
        return "reproduced: cannot tell – " + "; ".join(r.text() for r in self.reasons)


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _shown(value: Any, currency: str | None, signed: bool = False) -> str:
    """A compared figure in a message: an amount in its currency, an IRR as a percentage, a date gap in days."""
    if isinstance(value, Decimal) and currency:
        return amount_text(value, currency=currency, signed=signed)
    if isinstance(value, float):
        return percent_text(value, signed=signed)
    if isinstance(value, Decimal):
        return amount_text(value, digits=3, signed=signed)
    if isinstance(value, timedelta):
        return f"{value.days} days"
    return str(value)


def amounts_agree(terms: Decimal, recorded: Decimal, tol: Tolerances = TOLERANCES) -> bool:
    """Within 1 % of the recorded amount or one currency unit, whichever is larger."""
    return abs(terms - recorded) <= max(tol.amount_absolute, abs(recorded) * tol.amount_relative)


def _relative(diff: Decimal, recorded: Decimal) -> float | None:
    return float(diff / recorded) if recorded else None


def _date_agrees(terms: date, recorded: str, tol: Tolerances = TOLERANCES) -> tuple[bool, timedelta]:
    """Whether ``terms`` lies in the recorded partial date's period, widened by the tolerance; and how far off."""
    start, end = partial_date_start(recorded), partial_date_end(recorded)
    off = start - terms if terms < start else terms - end if terms > end else timedelta(0)
    return off <= timedelta(days=tol.date_days), off


def _missing(doc: ContractDocument, name: str, backtest: Backtest, labels: list[str] | None = None) -> None:
    assert doc.history is not None
    recorded = [u for u in doc.history.unknowns if u.about == "outcome" and u.metric == name]
    detail = "; ".join(f"{u.what} ({u.reason})" for u in recorded) or None
    subject = name if not labels else f"{name} [{', '.join(labels)}]"
    backtest.reasons.append(Reason("missing_outcome", subject, detail))


def _use(value: OutcomeValue, key: str, inputs: dict[str, float], backtest: Backtest) -> None:
    inputs[key] = float(value.value)
    if value.confidence == "unverified":
        backtest.caveats.append(Reason("unverified_input", key, value.note or value.description))
    if value.bound != "exact":
        backtest.caveats.append(Reason("bound_input", key, f"{value.bound} {value.value}"))


def _inputs(doc: ContractDocument, compiled: CompiledTerms, backtest: Backtest) -> dict[str, float] | None:
    """The recorded value of every outcome the terms read, or ``None`` after noting what is missing.

    A metric the terms take per period or cohort (``compiled.metric_periods``) needs one value per label,
    ``metric[label]``, from the outcomes recorded for that cohort. Otherwise the latest whole-contract value
    is used (follow-ups replace interim ones), or the one value recorded if that is all there is.
    """
    assert doc.history is not None
    by_metric: dict[str, list[OutcomeValue]] = defaultdict(list)
    for value in doc.history.outcomes:
        by_metric[value.metric].append(value)
    periods: dict[str, tuple[str, ...]] = getattr(compiled, "metric_periods", {}) or {}
    inputs: dict[str, float] = {}
    for name in compiled.outcome_names:
        rows = by_metric.get(name, [])
        whole = [r for r in rows if r.cohort is None]
        latest_whole = max(whole, key=lambda r: (r.date or "", whole.index(r))) if whole else None
        labels = periods.get(name)
        if labels:
            by_label = {r.cohort: r for r in sorted(rows, key=lambda r: r.date or "") if r.cohort}
            if all(label in by_label for label in labels):
                for label in labels:
                    _use(by_label[label], f"{name}[{label}]", inputs, backtest)
            else:
                # a whole-contract figure does not stand in for each period: the terms pay on each one
                _missing(doc, name, backtest, [label for label in labels if label not in by_label])
            continue
        if not rows:
            _missing(doc, name, backtest)
        elif latest_whole is None and len(rows) > 1:
            backtest.reasons.append(Reason("per_cohort_outcome", name, ", ".join(r.cohort or "" for r in rows)))
        else:
            _use(latest_whole or rows[0], name, inputs, backtest)
    return None if backtest.reasons else inputs


def _recorded_amounts(p: PaymentMade) -> list[Decimal]:
    return [p.amount] + [Decimal(str(a.value)) for a in p.alternatives if _is_number(a.value)]


def _is_number(value: Any) -> bool:
    try:
        Decimal(str(value))
    except ArithmeticError:
        return False
    return True


def _compare_payers(doc: ContractDocument, compiled: CompiledTerms, inputs: dict[str, float],
                    backtest: Backtest) -> None:
    assert doc.history is not None
    evaluation = compiled.evaluate(inputs)
    payout = compiled.payout(inputs)
    # Payments recorded for a cohort or period are set against the terms' flows for that period (per-period
    # rules name it); whole-contract records against everything the payer pays.
    by_payer: dict[tuple[str, str | None], list[PaymentMade]] = defaultdict(list)
    for p in doc.history.payments:
        if p.payer is not None:
            by_payer[p.payer, p.cohort].append(p)
    rounded = {pp.id: pp.amount for pp in payout.payments}
    for (payer, cohort), payments in by_payer.items():
        if any(p.currency != doc.finance.currency for p in payments):
            continue  # amounts in another currency cannot be set against the terms'
        flows = [f for f in evaluation.flows if f.payer == payer
                 and (cohort is None or getattr(f, "period", None) == cohort)]
        if cohort is not None and not flows:
            backtest.reasons.append(Reason("cohort_payments", payer, cohort))
            continue
        terms_total = sum((rounded[f.id] for f in flows), Decimal("0.00"))
        options = [sum(amounts, Decimal(0)) for amounts in _alternative_totals(payments)]
        ok = any(amounts_agree(terms_total, total) for total in options)
        recorded = options[0]
        diff = terms_total - recorded
        backtest.checks.append(Check("payer_total", payer, terms_total, recorded, ok, doc.finance.currency,
                                     None if ok else diff, None if ok else _relative(diff, recorded),
                                     period=cohort))
        terms_dates = [f.date for f in flows if rounded[f.id] != 0]
        for p in payments:
            if not p.date or p.amount == 0 or not terms_dates:
                continue
            if any(d is None for d in terms_dates):
                continue
            offs = [_date_agrees(d, p.date) for d in terms_dates if d is not None]
            ok_date, off = min(offs, key=lambda t: t[1])
            nearest = min((d for d in terms_dates if d is not None), key=lambda d: _date_agrees(d, p.date)[1])
            backtest.checks.append(Check("payment_date", payer, nearest, p.date, ok_date, None,
                                         None if ok_date else off, period=cohort))


def _alternative_totals(payments: list[PaymentMade]) -> list[list[Decimal]]:
    """The recorded amounts, then with each disputed payment at each of its other recorded values."""
    first = [p.amount for p in payments]
    totals = [first]
    for i, p in enumerate(payments):
        for alt in _recorded_amounts(p)[1:]:
            totals.append(first[:i] + [alt] + first[i + 1:])
    return totals


def _compare_investors(doc: ContractDocument, compiled: CompiledTerms, inputs: dict[str, float],
                       backtest: Backtest) -> None:
    assert doc.history is not None
    evaluation = compiled.evaluate(inputs)
    payout = compiled.payout(inputs)
    rounded = {pp.id: pp.amount for pp in payout.payments}
    currency = doc.finance.currency
    only_investor = len(compiled.investors) == 1
    for result in doc.history.investor_results:
        investor = result.investor
        terms_repaid = sum((rounded[f.id] for f in evaluation.flows if f.to_investor and f.payee == investor),
                           Decimal("0.00"))
        if result.repaid is not None and (result.repaid.currency or currency) == currency:
            recorded = result.repaid.amount
            ok = amounts_agree(terms_repaid, recorded)
            diff = terms_repaid - recorded
            backtest.checks.append(Check("investor_repaid", investor, terms_repaid, recorded, ok, currency,
                                         None if ok else diff, None if ok else _relative(diff, recorded)))
        elif result.multiple is not None and only_investor and payout.multiple is not None:
            terms_multiple = Decimal(str(round(payout.multiple, 4)))
            ok = abs(terms_multiple - result.multiple) <= Decimal("0.01")
            backtest.checks.append(Check("multiple", investor, terms_multiple, result.multiple, ok, None,
                                         None if ok else terms_multiple - result.multiple))
        if result.irr is not None and only_investor and investor in compiled.investors:
            recorded_irr = float(result.irr)
            if payout.irr is None:
                backtest.caveats.append(Reason("recorded_unknown", investor,
                                               "the terms' IRR cannot be computed (a payment without a date)"))
                continue
            tol = TOLERANCES.irr_points_about if result.irr_bound == "about" else TOLERANCES.irr_points
            diff_irr = payout.irr - recorded_irr
            ok = {"min": diff_irr >= -tol, "max": diff_irr <= tol}.get(result.irr_bound, abs(diff_irr) <= tol)
            backtest.checks.append(Check("irr", investor, payout.irr, recorded_irr, ok, None,
                                         None if ok else diff_irr, None, result.irr_bound))


def backtest(doc: ContractDocument, source: str = "<document>") -> Backtest:
    """Evaluate ``doc``'s terms on its recorded outcomes and compare with its recorded payments and results."""
    currency = doc.finance.currency
    history = doc.history
    reading = history.reading if history else None
    result = Backtest(doc.id, "unknown", currency, reading)
    if history is None:
        result.reasons.append(Reason("no_history"))
        return result
    terms = doc.payment_terms
    if terms is None or not terms.payments:
        result.reasons.append(Reason("no_terms"))
        return _with_recorded_unknowns(doc, result)
    if terms.amount_unit:
        result.reasons.append(Reason("amount_unit", None, terms.amount_unit))
        return _with_recorded_unknowns(doc, result)
    try:
        compiled = compile_terms(doc, source, reading=reading)
    except TermsError as exc:
        result.reasons.append(Reason("terms_error", None, str(exc)))
        return result
    inputs = _inputs(doc, compiled, result)
    if inputs is None:
        return result
    result.inputs = inputs
    try:
        _compare_payers(doc, compiled, inputs, result)
        _compare_investors(doc, compiled, inputs, result)
    except OutcomeError as exc:
        result.reasons.append(Reason("terms_error", None, str(exc)))
        return result
    if result.checks:
        result.verdict = "no" if result.failures else "yes"
        # what could not be compared qualifies the verdict without blocking it
        result.caveats[:0], result.reasons = result.reasons, []
    else:
        if not any(r.kind == "cohort_payments" for r in result.reasons):
            result.reasons.append(Reason("nothing_to_compare"))
        _with_recorded_unknowns(doc, result)
    return result


def _with_recorded_unknowns(doc: ContractDocument, result: Backtest) -> Backtest:
    """Add the curator's recorded unknowns about payments and investors' results to the reasons."""
    if doc.history is not None:
        for u in doc.history.unknowns:
            if u.about in ("payment", "investor_result"):
                result.reasons.append(Reason("recorded_unknown", u.investor, f"{u.what} ({u.reason})"))
    return result


def verdict_of(doc: ContractDocument) -> Verdict | None:
    """The stored verdict: ``None`` for a contract without any realised history."""
    if doc.history is None:
        return None
    return backtest(doc).verdict

