"""Back-test: do a contract's payment terms reproduce what actually happened?

The terms (``payment_terms``, the reading named by ``history.reading``) are evaluated on the outcome values
recorded in ``history.outcomes``; what they pay is compared, payment by payment, with ``history.payments`` and
``history.investor_results``. An outcome the terms read but the record lacks does not block the whole contract:
the terms are evaluated over its possible values (:func:`candidate_values`) in one vectorised evaluation, and a
recorded figure that comes out the same over all of them is *determined* and compared as if the outcome were
known. Each comparison (:class:`Check`) has a status:

* ``yes``: determined, and agrees within the tolerances below;
* ``no``: determined and off (by how much), or undetermined with the recorded figure outside every value the
  terms give over the unknown outcomes (off by the distance to the nearest), or, for a figure that depends on
  one outcome alone, between the least and the most they give yet given by no value of it (``unreachable``: a
  tier table jumps over it);
* ``unknown`` ("cannot tell"): the terms' figure depends on an unrecorded outcome (``depends_on``) and the
  recorded one lies inside the range they give (``low``–``high``; for one outcome, ``needs`` says which of its
  values give it); or it rests on a parameter worked back from the very result it should reproduce
  (``Parameter.derived``: circular).

The contract's verdict (:data:`VERDICTS`): ``yes`` when every comparison is reproduced; ``no`` when any is off;
``partly`` when some amount or return is reproduced and the others cannot tell; ``unknown`` (cannot tell) when
none is. The reasons of a ``partly`` or ``unknown`` verdict name the outcomes (or derived parameters) that block
it, with the curator's recorded reason. Where nothing is recorded to compare with, :attr:`Backtest.expected`
still says what the terms give each payer (one amount, or a range and what it depends on).

Tolerances (:class:`Tolerances`): an amount agrees when it is within 1 % of the recorded amount or one unit of
the currency, whichever is larger (sources round: "about USD 267,000"); a disputed amount agrees with any of its
recorded values. An IRR agrees within half a percentage point ("15 %"), one point when the source says "about",
and a stated minimum or maximum is met with the same half point. A payment date agrees when the terms' date
falls in the recorded (partial) date's period or within 92 days of it.

Comparisons, each made only where the record has the figure:

* per payer named in ``history.payments`` (per payee where the record does not say who paid): the recorded
  total against everything the terms have that organisation pay (its rules and waterfall steps);
* per investor in ``history.investor_results``: ``repaid`` against what the terms pay that investor, ``irr``
  against the terms' IRR (only when the investor is the contract's only one), and ``multiple`` where no
  repaid amount is given;
* per payer, the recorded payment dates against the dates of the terms' payments by that payer.

Payments recorded for one cohort or period are set against the terms' flows for the period of that label, or,
when no period has that label, the per-period flows dated within the payment's recorded date; with
whole-contract terms they cannot be compared (the terms' amount covers every cohort).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

import numpy as np

from registry.plain_text import amount_text, percent_text
from registry.schema import ContractDocument, MetricKind, OutcomeValue, PaymentMade, partial_date_start
from registry.terms import (
    CompiledTerms,
    Flow,
    OutcomeError,
    TermsError,
    TermsEvaluation,
    compile_terms,
    outcome_key,
    partial_date_end,
    with_reading,
)

Verdict = Literal["yes", "partly", "no", "unknown"]
VERDICTS: tuple[Verdict, ...] = ("yes", "partly", "no", "unknown")
Status = Literal["yes", "no", "unknown"]

SAMPLE_SIZE = 2048
"""Scenarios drawn over the unknown outcomes' candidate values when their full grid is larger than this."""
DEPENDENCE_SAMPLE = 512
"""Scenarios (the first of them) in which each unknown outcome is moved alone to find what depends on it."""


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
    """One comparison of the terms with the record (or, with ``recorded`` None, what the terms give alone).

    ``kind``: ``payer_total`` (``payee_total`` where the record does not say who paid), ``investor_repaid``,
    ``irr``, ``multiple`` or ``payment_date``; ``subject`` is the organisation id. ``terms`` and ``recorded``
    are Decimals (amounts, multiples), floats (IRR) or dates (ISO strings for recorded partial dates).
    ``terms`` is None when the terms' figure depends on unrecorded outcomes (``depends_on``, outcome keys such
    as ``rate[year 2]``); ``low`` and ``high`` are then the least and most it comes to over their values.
    ``derived`` names parameters worked back from the result.
    """

    kind: str
    subject: str
    terms: Any
    recorded: Any
    status: Status
    currency: str | None = None
    difference: Any = None
    relative: float | None = None
    bound: str = "exact"
    period: str | None = None  # the cohort or period of the recorded payment
    low: Any = None
    high: Any = None
    depends_on: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    unreachable: bool = False  # inside the range, yet no value of the outcome gives it (a tier is skipped)
    needs: tuple[float, ...] = ()  # (least, most): the values of the one outcome it depends on that give it

    @property
    def ok(self) -> bool:
        return self.status == "yes"

    @property
    def determined(self) -> bool:
        return not self.depends_on

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "subject": self.subject, "period": self.period, "status": self.status,
            "ok": self.ok, "currency": self.currency,
            "terms": _json(self.terms), "recorded": _json(self.recorded), "difference": _json(self.difference),
            "relative": self.relative, "bound": self.bound,
            "low": _json(self.low), "high": _json(self.high), "depends_on": list(self.depends_on),
            "derived": list(self.derived), "unreachable": self.unreachable, "needs": list(self.needs),
        }

    def text(self) -> str:
        """The check in English, for the command line."""
        mark = "--" if self.recorded is None else {"yes": "ok", "no": "OFF", "unknown": "??"}[self.status]
        label = {"payer_total": "paid by", "payee_total": "paid to", "investor_repaid": "repaid to", "irr": "IRR of",
                 "multiple": "multiple of", "payment_date": "payment date of"}[self.kind]
        period = f" [{self.period}]" if self.period else ""
        if self.depends_on and self.low is not None:
            terms = f"{_shown(self.low, self.currency)} to {_shown(self.high, self.currency)} over the values of " \
                    f"{_outcome_list(self.depends_on)}"
        elif self.depends_on:
            terms = f"depends on {_outcome_list(self.depends_on)}"
        else:
            terms = _shown(self.terms, self.currency)
        if self.recorded is None:
            return f"[{mark}] {label} {self.subject}{period}: terms {terms}, nothing recorded"
        recorded = _shown(self.recorded, self.currency)
        if self.kind == "irr" and self.bound != "exact":
            recorded = {"min": "at least ", "max": "at most ", "about": "about "}[self.bound] + recorded
        line = f"[{mark}] {label} {self.subject}{period}: terms {terms}, recorded {recorded}"
        if self.depends_on and self.needs:
            line += f" (inside that range: the terms give it if {self.depends_on[0]} is {_span(self.needs)})"
        elif self.depends_on and self.low is not None and self.status == "unknown":
            line += " (inside that range)"
        elif self.depends_on and self.unreachable:
            line += f" (no value of it gives that; the nearest is off by " \
                    f"{_shown(self.difference, self.currency, signed=True)})"
        elif self.depends_on and self.status == "no":
            line += " (outside that range"
            line += f", off by {_shown(self.difference, self.currency, signed=True)})" \
                if self.difference is not None else ")"
        elif not self.ok and self.kind == "irr" and self.difference is not None:
            line += f" (off by {self.difference * 100:+.2f} percentage points)"
        elif not self.ok and self.difference is not None:
            line += f" (off by {_shown(self.difference, self.currency, signed=True)}"
            line += f", {self.relative:+.1%})" if self.relative is not None else ")"
        if self.derived:
            line += f" [uses {', '.join(self.derived)}, derived from the result: circular]"
        return line


def _span(needs: Sequence[float]) -> str:
    """``(171, 174)`` → ``171 to 174``; one value alone when both are the same."""
    low, high = (f"{v:,.6g}" for v in (needs[0], needs[-1]))
    return low if low == high else f"{low} to {high}"


def group_outcome_keys(keys: Iterable[str]) -> dict[str, list[str]]:
    """``a[1], a[2], b`` → ``{a: [1, 2], b: []}``: each metric once, in order, with its period labels."""
    grouped: dict[str, list[str]] = {}
    for key in keys:
        name, _, label = key.partition("[")
        grouped.setdefault(name, [])
        if label:
            grouped[name].append(label.rstrip("]"))
    return grouped


def _outcome_list(keys: Iterable[str]) -> str:
    """``a[1], a[2], b`` → ``a [1, 2], b``: each metric once, its periods after it."""
    grouped = group_outcome_keys(keys)
    return ", ".join(f"{name} [{', '.join(labels)}]" if labels else name for name, labels in grouped.items())


@dataclass(frozen=True)
class Reason:
    """Why a back-test cannot tell (or a caveat on one that can): ``kind`` plus what it is about.

    kinds: ``no_history``, ``no_terms``, ``amount_unit``, ``terms_error``, ``missing_outcome``,
    ``per_cohort_outcome``, ``nothing_to_compare``, ``cohort_payments``, ``unverified_input``,
    ``bound_input``, ``recorded_unknown``, ``derived_parameter``.
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
            "derived_parameter": f"parameter{subject} is not published: it is derived from the result it should "
                                 "reproduce",
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
    expected: list[Check] = field(default_factory=list)  # what the terms give where nothing is recorded

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "no"]

    @property
    def open_checks(self) -> list[Check]:
        """The comparisons that cannot tell."""
        return [c for c in self.checks if c.status == "unknown"]

    @property
    def blockers(self) -> list[str]:
        """The unknown figures that keep the verdict from yes or no: outcome names (periods after them) and
        derived parameters."""
        return [r.subject or "" for r in self.reasons if r.kind in ("missing_outcome", "derived_parameter")]

    def as_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract, "reproduced": self.verdict, "currency": self.currency,
            "reading": self.reading, "inputs": self.inputs,
            "checks": [c.as_dict() for c in self.checks],
            "expected": [c.as_dict() for c in self.expected],
            "blocked_by": self.blockers,
            "cannot_tell": [r.as_dict() | {"text": r.text()} for r in self.reasons],
            "caveats": [r.as_dict() | {"text": r.text()} for r in self.caveats],
            "tolerances": {"amount_relative": str(TOLERANCES.amount_relative),
                           "amount_absolute": str(TOLERANCES.amount_absolute),
                           "irr_points": TOLERANCES.irr_points, "irr_points_about": TOLERANCES.irr_points_about,
                           "date_days": TOLERANCES.date_days},
        }

    def summary(self) -> str:
        """One line in English: the verdict and by how much, or what blocks it."""
        if self.verdict == "yes":
            return f"reproduced: yes ({len(self.checks)} comparison{'s' if len(self.checks) != 1 else ''})"
        if self.verdict == "no":
            return "reproduced: no – " + "; ".join(c.text().removeprefix("[OFF] ") for c in self.failures)
        blocked = f"blocked by {', '.join(self.blockers)}; " if self.blockers else ""
        if self.verdict == "partly":
            done = sum(c.ok for c in self.checks)
            return f"reproduced: partly ({done} of {len(self.checks)} comparisons) – {blocked}" + "; ".join(
                r.text() for r in self.reasons)
        return f"reproduced: cannot tell – {blocked}" + "; ".join(r.text() for r in self.reasons)


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.days
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
    return abs(terms - recorded) <= _amount_tolerance(recorded, tol)


def _amount_tolerance(recorded: Decimal, tol: Tolerances = TOLERANCES) -> Decimal:
    return max(tol.amount_absolute, abs(recorded) * tol.amount_relative)


def _relative(diff: Decimal, recorded: Decimal) -> float | None:
    return float(diff / recorded) if recorded else None


def _date_agrees(terms: date, recorded: str, tol: Tolerances = TOLERANCES) -> tuple[bool, timedelta]:
    """Whether ``terms`` lies in the recorded partial date's period, widened by the tolerance; and how far off."""
    start, end = partial_date_start(recorded), partial_date_end(recorded)
    off = start - terms if terms < start else terms - end if terms > end else timedelta(0)
    return off <= timedelta(days=tol.date_days), off


def _cents(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal("0.01"))


# --- the outcomes: recorded values, and candidate values for the rest ------------------------------------

_NUMBER_RE = re.compile(r"(?<![A-Za-z_\d.])(\d+(?:\.\d+)?)(\s*%)?")


def _thresholds(compiled: CompiledTerms, doc: ContractDocument) -> list[float]:
    """Every number the terms state (parameters, constants in formulas): where tiers and caps turn."""
    terms = doc.payment_terms
    values: set[float] = {0.0}
    if terms is None:
        return [0.0]
    for param in terms.parameters.values():
        if param.value is not None:
            values.add(float(param.value))
        for price in (param.rate_card or {}).values():
            values.add(float(price))
    texts = [p.amount for p in terms.payments]
    if terms.waterfall is not None:
        texts.append(terms.waterfall.model_dump_json())
    for text in texts:
        for number, percent in _NUMBER_RE.findall(text):
            values.add(float(number) / (100 if percent else 1))
    return sorted(values | {-v for v in values})


_SPREAD = sorted({s * m * 10.0 ** k for s in (1, -1) for m in (1, 2, 5) for k in range(-3, 10)} | {0.0})
_MOST_COUNTED = 1e7  # people or events: no contract counts more


def candidate_values(kind: MetricKind, thresholds: Sequence[float]) -> np.ndarray:
    """The values an unrecorded outcome of ``kind`` is tried at; shape (n,), sorted, distinct.

    Binary: 0 and 1. A rate: −100 % to 200 % in steps of 5 points. A count: 0 and a spread of powers of ten
    (times 1, 2, 5) up to 5·10⁶. Anything else: the same spread with both signs and down to 0.001. All but
    binary also take every number the terms state, and a hair either side of it, where a tier turns.
    """
    if kind == MetricKind.BINARY:
        return np.array([0.0, 1.0])
    near = [t + d for t in thresholds for d in (-1e-9 * max(1.0, abs(t)), 0.0, 1e-9 * max(1.0, abs(t)))]
    if kind == MetricKind.RATE:
        base = list(np.linspace(-1.0, 2.0, 61)) + [t for t in near if -1.0 <= t <= 2.0]
    elif kind == MetricKind.COUNT:
        whole = [f(t) for t in near if t >= 0 for f in (np.floor, np.ceil)]
        base = [v for v in _SPREAD if 1 <= v < _MOST_COUNTED or v == 0] + [float(w) for w in whole]
    else:
        base = _SPREAD + near
    return np.unique(np.asarray(base, dtype=np.float64))


@dataclass
class _Scenarios:
    """The outcome inputs of one vectorised evaluation: recorded keys are constant, unknown ones vary."""

    inputs: dict[str, np.ndarray]  # outcome key -> shape (n,)
    unknown: dict[str, np.ndarray]  # outcome key -> its candidate values
    size: int

    def point(self, i: int) -> dict[str, float]:
        return {k: float(v[i]) for k, v in self.inputs.items()}

    def varied(self, key: str, shift: int, first: int) -> dict[str, np.ndarray]:
        """The ``first`` scenarios with only ``key`` moved ``shift`` places along its candidates (cyclically),
        so each takes another value of it."""
        candidates = self.unknown[key]
        places = np.searchsorted(candidates, self.inputs[key][:first])
        return {k: v[:first] for k, v in self.inputs.items()} | {key: candidates[(places + shift) % len(candidates)]}


def _scenarios(recorded: Mapping[str, float], unknown: Mapping[str, np.ndarray],
               rng: np.random.Generator) -> _Scenarios:
    """Every combination of the unknown outcomes' candidates if there are at most SAMPLE_SIZE, else a sample
    of SAMPLE_SIZE that includes each key's least and greatest candidate with the others drawn at random."""
    keys = list(unknown)
    total = 1
    for key in keys:
        total *= len(unknown[key])
        if total > SAMPLE_SIZE:
            break
    columns: dict[str, np.ndarray]
    if not keys:
        size, columns = 1, {}
    elif total <= SAMPLE_SIZE:
        grids = np.meshgrid(*[unknown[k] for k in keys], indexing="ij")
        columns = {k: g.ravel() for k, g in zip(keys, grids, strict=True)}
        size = int(total)
    else:
        size = SAMPLE_SIZE
        columns = {k: rng.choice(unknown[k], size) for k in keys}
        extremes = np.array([[unknown[k][0] for k in keys], [unknown[k][-1] for k in keys]])
        for j, k in enumerate(keys):  # all-low and all-high corners first: the likely least and most
            columns[k][:2] = extremes[:, j]
    inputs = {k: np.full(size, v, dtype=np.float64) for k, v in recorded.items()} | columns
    return _Scenarios(inputs, dict(unknown), size)


def _use(value: OutcomeValue, key: str, inputs: dict[str, float], backtest: Backtest) -> None:
    inputs[key] = float(value.value)
    if value.confidence == "unverified":
        backtest.caveats.append(Reason("unverified_input", key, value.note or value.description))
    if value.bound != "exact":
        backtest.caveats.append(Reason("bound_input", key, f"{value.bound} {value.value}"))


def _recorded_inputs(doc: ContractDocument, compiled: CompiledTerms,
                     backtest: Backtest) -> tuple[dict[str, float], list[str], dict[str, str]]:
    """The recorded value of each outcome key the terms read, the keys without one, and why for some.

    A metric the terms take per period or cohort (``compiled.metric_periods``) is read per label,
    ``metric[label]``, from the outcomes recorded for that cohort. Otherwise the latest whole-contract value
    is used (follow-ups replace interim ones), or the one value recorded if that is all there is; values
    recorded only for several cohorts do not give the one value the terms take.
    """
    assert doc.history is not None
    by_metric: dict[str, list[OutcomeValue]] = defaultdict(list)
    for value in doc.history.outcomes:
        by_metric[value.metric].append(value)
    inputs: dict[str, float] = {}
    missing: list[str] = []
    per_cohort: dict[str, str] = {}
    for name in compiled.outcome_names:
        rows = by_metric.get(name, [])
        labels = compiled.metric_periods.get(name)
        if labels:
            by_label = {r.cohort: r for r in sorted(rows, key=lambda r: r.date or "") if r.cohort}
            for label in labels:
                # a whole-contract figure does not stand in for each period: the terms pay on each one
                if label in by_label:
                    _use(by_label[label], outcome_key(name, label), inputs, backtest)
                else:
                    missing.append(outcome_key(name, label))
            continue
        whole = [r for r in rows if r.cohort is None]
        latest_whole = max(whole, key=lambda r: (r.date or "", whole.index(r))) if whole else None
        if not rows:
            missing.append(name)
        elif latest_whole is None and len(rows) > 1:
            missing.append(name)
            per_cohort[name] = ", ".join(r.cohort or "" for r in rows)
        else:
            _use(latest_whole or rows[0], name, inputs, backtest)
    return inputs, missing, per_cohort


# --- what the terms give for each recorded figure ------------------------------------------------------


@dataclass
class _Figure:
    """What the terms give for one recorded figure, per scenario; ``flows`` are the flows it sums."""

    values: np.ndarray  # shape (n,)
    flows: list[Flow]


def _derived_rules(doc: ContractDocument) -> tuple[dict[str, set[str]], set[str]]:
    """Rule id -> the derived parameters it reads (directly or through other rules); and those the waterfall
    reads (through its inflow rules or its own claims)."""
    terms = doc.payment_terms
    if terms is None:
        return {}, set()
    derived = [name for name, p in terms.parameters.items() if p.derived]
    if not derived:
        return {}, set()

    def reads(text: str, name: str) -> bool:
        return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text) is not None

    by_rule = {p.id: {d for d in derived if reads(p.amount, d)} for p in terms.payments}
    changed = True
    while changed:  # a rule that reads another rule reads what that one reads
        changed = False
        for p in terms.payments:
            for other, params in by_rule.items():
                if other != p.id and reads(p.amount, other) and not params <= by_rule[p.id]:
                    by_rule[p.id] |= params
                    changed = True
    waterfall: set[str] = set()
    if terms.waterfall is not None:
        text = terms.waterfall.model_dump_json()
        waterfall = {d for d in derived if reads(text, d)}
        for rule in terms.waterfall.inflow:
            waterfall |= by_rule.get(rule, set())
    return by_rule, waterfall


def _derived_in(flows: Iterable[Flow], by_rule: Mapping[str, set[str]], waterfall: set[str]) -> tuple[str, ...]:
    names: set[str] = set()
    for f in flows:
        names |= waterfall if (f.rule or "").startswith("waterfall") else by_rule.get(f.rule or f.id, set())
    return tuple(sorted(names))


def _varies(values: np.ndarray) -> bool:
    return bool(values.size) and float(np.ptp(values)) >= 0.005


Reach = Callable[[Sequence[float], Callable[[float], bool]], "tuple[float | None, tuple[float, ...]]"]


def _amount_check(kind: str, subject: str, figure: _Figure, recorded_options: Sequence[Decimal],
                  currency: str, depends: tuple[str, ...], derived: tuple[str, ...],
                  period: str | None = None, reach: Reach | None = None) -> Check:
    """An amount (or a multiple, with ``currency`` empty) the terms give against the recorded one(s).

    ``reach``, for a figure that depends on one outcome alone, searches that outcome's values for one that
    gives a recorded figure: None when there is one, else the nearest figure the terms give (a tier table
    can skip over the recorded one even though it lies between the least and the most)."""
    amount_kind = kind != "multiple"
    if not _varies(figure.values):
        if amount_kind:
            # the flows rounded to cents, then added: what ``utfall payout`` lists adds up the same way
            terms = sum((_cents(float(f.amount[0])) for f in figure.flows), Decimal("0.00"))
        else:
            terms = Decimal(str(round(float(figure.values[0]), 4)))
        if not recorded_options:
            return Check(kind, subject, terms, None, "unknown", currency or None, period=period, derived=derived)
        agree = [amounts_agree(terms, r) if amount_kind else abs(terms - r) <= Decimal("0.01")
                 for r in recorded_options]
        recorded = recorded_options[0]
        ok = any(agree)
        status: Status = "unknown" if ok and derived else "yes" if ok else "no"
        diff = None if ok else terms - recorded
        return Check(kind, subject, terms, recorded, status, currency or None, diff,
                     None if ok or not amount_kind else _relative(terms - recorded, recorded), period=period,
                     derived=derived)
    to_dec = _cents if amount_kind else (lambda v: Decimal(str(round(v, 4))))
    low, high = to_dec(float(figure.values.min())), to_dec(float(figure.values.max()))
    if not recorded_options:
        return Check(kind, subject, None, None, "unknown", currency or None, period=period, low=low, high=high,
                     depends_on=depends, derived=derived)
    recorded = recorded_options[0]
    slack = [_amount_tolerance(r) if amount_kind else Decimal("0.01") for r in recorded_options]
    inside = any(low - s <= r <= high + s for r, s in zip(recorded_options, slack, strict=True))
    unreachable = False
    needs: tuple[float, ...] = ()
    if inside and reach is not None:
        def agrees(value: float) -> bool:
            return any(abs(Decimal(repr(value)) - r) <= s for r, s in zip(recorded_options, slack, strict=True))

        closest, needs = reach([float(r) for r in recorded_options], agrees)
        if closest is not None:
            unreachable, nearest = True, to_dec(closest)
    if inside and not unreachable:
        return Check(kind, subject, None, recorded, "unknown", currency or None, period=period, low=low,
                     high=high, depends_on=depends, derived=derived, needs=needs)
    if not unreachable:
        nearest = low if recorded < low else high
    diff = nearest - recorded
    return Check(kind, subject, None, recorded, "no", currency or None, diff,
                 _relative(diff, recorded) if amount_kind else None, period=period, low=low, high=high,
                 depends_on=depends, derived=derived, unreachable=unreachable)


def _reach(compiled: CompiledTerms, scenarios: _Scenarios, target: _Target, key: str,
           capital: Decimal) -> Reach:
    """For a figure that depends on outcome ``key`` alone: a search of ``key``'s values for one where the
    figure agrees with a recorded one (see :func:`_amount_check`). Between two neighbouring values where the
    figure passes the recorded one, the values are tried ever closer (257 at a time, six times over, whole
    numbers for counts) until it is found or the gap is a jump."""
    base = scenarios.point(0)
    whole = compiled.metric_kinds[key.partition("[")[0]] in (MetricKind.COUNT, MetricKind.BINARY)

    def figure_at(xs: np.ndarray) -> np.ndarray:
        evaluation = compiled.evaluate(base | {key: xs}, breakdown=False)
        return _figure(target, evaluation, capital).values

    def search(recorded: Sequence[float], agrees: Callable[[float], bool]) -> tuple[float | None, tuple[float, ...]]:
        xs = scenarios.unknown[key]
        tried: list[float] = []
        for _level in range(6):
            values = figure_at(xs)
            tried.extend(values.tolist())
            hits = [i for i, v in enumerate(values) if agrees(float(v))]
            if hits:
                # once more around the first and last value that give it, for where that stretch begins and ends
                lo, hi = max(hits[0] - 1, 0), min(hits[-1] + 1, len(xs) - 1)
                around = np.unique(np.concatenate([np.linspace(xs[lo], xs[hits[0]], 257),
                                                   np.linspace(xs[hits[-1]], xs[hi], 257), xs[hits]]))
                around = np.unique(np.round(around)) if whole else around
                good = [float(x) for x, v in zip(around, figure_at(around), strict=True) if agrees(float(v))]
                return None, (min(good), max(good))
            gaps = [i for i in range(len(xs) - 1)
                    if xs[i + 1] - xs[i] > (1 if whole else 1e-9 * max(1.0, abs(float(xs[i]))))
                    and any(min(values[i], values[i + 1]) < r < max(values[i], values[i + 1]) for r in recorded)]
            if not gaps:
                break  # no neighbours straddle a recorded value any more: the figure jumps over it
            finer = [np.linspace(xs[i], xs[i + 1], 257) for i in gaps[:8]]
            xs = np.unique(np.round(np.concatenate(finer)) if whole else np.concatenate(finer))
        return min(tried, key=lambda v: min(abs(v - r) for r in recorded)), ()

    return search


def _recorded_amounts(p: PaymentMade) -> list[Decimal]:
    return [p.amount] + [Decimal(str(a.value)) for a in p.alternatives if _is_number(a.value)]


def _is_number(value: Any) -> bool:
    try:
        Decimal(str(value))
    except ArithmeticError:
        return False
    return True


def _alternative_totals(payments: list[PaymentMade]) -> list[list[Decimal]]:
    """The recorded amounts, then with each disputed payment at each of its other recorded values."""
    first = [p.amount for p in payments]
    totals = [first]
    for i, p in enumerate(payments):
        for alt in _recorded_amounts(p)[1:]:
            totals.append(first[:i] + [alt] + first[i + 1:])
    return totals


@dataclass
class _Target:
    """A recorded figure to compare, and how to read the terms' figure for it from an evaluation."""

    kind: str
    subject: str
    recorded: list[Any]  # the recorded value, then its alternatives (amounts) or [] for expectations
    flows: list[str]  # ids of the flows it sums (amounts) or reads (dates, returns)
    period: str | None = None
    bound: str = "exact"
    date: str | None = None  # payment_date: the recorded partial date


def _flows_for(evaluation: TermsEvaluation, org: str, by_payer: bool, cohort: str | None,
               when: str | None) -> list[Flow] | None:
    """The terms' flows a recorded payment stands for; None when the cohort cannot be matched."""
    flows = [f for f in evaluation.flows if (f.payer if by_payer else f.payee) == org]
    if cohort is None:
        return flows
    same = [f for f in flows if f.period == cohort]
    if same:
        return same
    if when is not None and not any(f.period == cohort for f in evaluation.flows):
        start, end = partial_date_start(when), partial_date_end(when)
        dated = [f for f in flows if f.period is not None and f.date is not None and start <= f.date <= end]
        if dated:
            return dated
    return None


def _targets(doc: ContractDocument, compiled: CompiledTerms, evaluation: TermsEvaluation,
             backtest: Backtest) -> list[_Target]:
    """Every recorded figure the terms can be set against (and, with none, what each payer pays)."""
    assert doc.history is not None
    currency = doc.finance.currency
    targets: list[_Target] = []
    grouped: dict[tuple[str, bool, str | None], list[PaymentMade]] = defaultdict(list)
    for p in doc.history.payments:
        org, by_payer = (p.payer, True) if p.payer is not None else (p.payee, False)
        if org is not None:
            grouped[org, by_payer, p.cohort].append(p)
    for (org, by_payer, cohort), payments in grouped.items():
        if any(p.currency != currency for p in payments):
            continue  # amounts in another currency cannot be set against the terms'
        dates = {p.date for p in payments if p.date}
        flows = _flows_for(evaluation, org, by_payer, cohort, next(iter(dates)) if len(dates) == 1 else None)
        if flows is None or (cohort is not None and not flows):
            backtest.reasons.append(Reason("cohort_payments", org, cohort))
            continue
        ids = [f.id for f in flows]
        options = [sum(amounts, Decimal(0)) for amounts in _alternative_totals(payments)]
        targets.append(_Target("payer_total" if by_payer else "payee_total", org, options, ids, cohort))
        for p in payments:
            if p.date and p.amount != 0 and flows and all(f.date is not None for f in flows):
                targets.append(_Target("payment_date", org, [p.date], ids, cohort, date=p.date))
    only_investor = len(compiled.investors) == 1
    for result in doc.history.investor_results:
        investor = result.investor
        ids = [f.id for f in evaluation.flows if f.to_investor and f.payee == investor]
        if result.repaid is not None and (result.repaid.currency or currency) == currency:
            targets.append(_Target("investor_repaid", investor, [result.repaid.amount], ids))
        elif result.multiple is not None and only_investor and compiled.no_position is None:
            targets.append(_Target("multiple", investor, [result.multiple], ids))
        if result.irr is not None and only_investor and investor in compiled.investors:
            targets.append(_Target("irr", investor, [float(result.irr)], ids, bound=result.irr_bound))
    if not targets and not any(r.kind == "cohort_payments" for r in backtest.reasons):
        for payer in dict.fromkeys(f.payer for f in evaluation.flows if f.rule in compiled.payment_ids):
            targets.append(_Target("payer_total", payer, [],
                                   [f.id for f in evaluation.flows if f.payer == payer]))
    return targets


def _figure(target: _Target, evaluation: TermsEvaluation, capital: Decimal) -> _Figure:
    flows = [f for f in evaluation.flows if f.id in set(target.flows)]
    total = np.zeros(evaluation.shape, dtype=np.float64)
    for f in flows:
        total = total + f.amount
    if target.kind == "multiple":
        total = total / float(capital) if capital > 0 else total * np.nan
    if target.kind == "payment_date":
        # which of the flows pay anything, as one number per scenario (exact up to 50 flows): the terms'
        # dates follow from that
        pattern = np.zeros(evaluation.shape, dtype=np.float64)
        for i, f in enumerate(flows):
            pattern = pattern + (np.abs(f.amount) >= 0.005) * 2.0 ** (i % 50)
        return _Figure(pattern, flows)
    return _Figure(total, flows)


def _date_check(target: _Target, figure: _Figure, depends: tuple[str, ...],
                derived: tuple[str, ...]) -> Check | None:
    """The day of the terms' payment nearest the recorded date; None when the terms pay nothing (the amount's
    comparison says so)."""
    assert target.date is not None
    if _varies(figure.values):
        return Check("payment_date", target.subject, None, target.date, "unknown", period=target.period,
                     depends_on=depends, derived=derived)
    days = [f.date for f in figure.flows if abs(float(f.amount[0])) >= 0.005 and f.date is not None]
    if not days:
        return None
    nearest = min(days, key=lambda d: _date_agrees(d, target.date or "")[1])
    ok, off = _date_agrees(nearest, target.date)
    status: Status = "unknown" if ok and derived else "yes" if ok else "no"
    return Check("payment_date", target.subject, nearest, target.date, status, None, None if ok else off,
                 period=target.period, derived=derived)


def _irr_check(target: _Target, compiled: CompiledTerms, scenarios: _Scenarios, figure: _Figure,
               depends: tuple[str, ...], derived: tuple[str, ...], backtest: Backtest) -> Check | None:
    """The IRR at the scenario(s) where the investor gets least and most: one IRR when that is determined."""
    recorded = float(target.recorded[0])
    points = [0] if not _varies(figure.values) else [int(figure.values.argmin()), int(figure.values.argmax())]
    irrs = []
    capital_dated = all(d is not None for d, _ in compiled.capital_outflows)
    for i in points:
        payout = compiled.payout(scenarios.point(i))
        # nothing back at all has no IRR to solve for: it is the total loss, -100 %
        irrs.append(-1.0 if payout.irr is None and payout.investor_repayment == 0 and capital_dated
                    else payout.irr)
    if any(irr is None for irr in irrs):
        backtest.caveats.append(Reason("recorded_unknown", target.subject,
                                       "the terms' IRR cannot be computed (a payment without a date)"))
        return None
    values = sorted(float(irr) for irr in irrs if irr is not None)
    tol = TOLERANCES.irr_points_about if target.bound == "about" else TOLERANCES.irr_points

    def meets(irr: float) -> bool:
        diff = irr - recorded
        return {"min": diff >= -tol, "max": diff <= tol}.get(target.bound, abs(diff) <= tol)

    if len(values) == 1 or values[0] == values[-1]:
        irr = values[0]
        ok = meets(irr)
        status: Status = "unknown" if ok and derived else "yes" if ok else "no"
        return Check("irr", target.subject, irr, recorded, status, None, None if ok else irr - recorded,
                     None, target.bound, derived=derived)
    low, high = values[0], values[-1]
    if meets(low) or meets(high) or low <= recorded <= high:
        return Check("irr", target.subject, None, recorded, "unknown", bound=target.bound, low=low, high=high,
                     depends_on=depends, derived=derived)
    nearest = low if recorded < low else high
    return Check("irr", target.subject, None, recorded, "no", None, nearest - recorded, None, target.bound,
                 low=low, high=high, depends_on=depends, derived=derived)


def _compare(doc: ContractDocument, compiled: CompiledTerms, scenarios: _Scenarios, backtest: Backtest) -> None:
    """One loop over every recorded figure: evaluate the terms once over all scenarios, find which unknown
    outcomes each figure depends on (by moving each alone to other values), and judge it."""
    evaluation = compiled.evaluate(scenarios.inputs)
    targets = _targets(doc, compiled, evaluation, backtest)
    capital = compiled.investor_capital_decimal
    figures = [_figure(t, evaluation, capital) for t in targets]
    varying = [i for i, fig in enumerate(figures) if _varies(fig.values)]
    depends: list[list[str]] = [[] for _ in targets]
    first = min(scenarios.size, DEPENDENCE_SAMPLE)
    keys = list(scenarios.unknown) if varying else []
    for half in (False, True):
        # one evaluation for all keys: a block of the first scenarios per key, that key alone moved
        blocks = [scenarios.varied(key, len(scenarios.unknown[key]) // 2 if half else 1, first) for key in keys]
        if not blocks:
            break
        batch = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
        other = compiled.evaluate(batch, breakdown=False)
        for i in varying:
            moved = _figure(targets[i], other, capital).values.reshape(len(keys), first)
            for j in np.flatnonzero(np.any(np.abs(moved - figures[i].values[:first]) >= 0.005, axis=1)):
                if keys[j] not in depends[i]:
                    depends[i].append(keys[j])
    for i in varying:
        depends[i].sort(key=keys.index)
    by_rule, waterfall = _derived_rules(with_reading(doc, backtest.reading) if backtest.reading else doc)
    for target, figure, deps in zip(targets, figures, depends, strict=True):
        derived = _derived_in(figure.flows, by_rule, waterfall)
        if target.kind == "payment_date":
            check: Check | None = _date_check(target, figure, tuple(deps), derived)
        elif target.kind == "irr":
            check = _irr_check(target, compiled, scenarios, figure, tuple(deps), derived, backtest)
        else:
            reach = _reach(compiled, scenarios, target, deps[0], capital) if len(deps) == 1 else None
            check = _amount_check(target.kind, target.subject, figure, target.recorded,
                                  "" if target.kind == "multiple" else doc.finance.currency, tuple(deps), derived,
                                  target.period, reach)
        if check is None:
            continue
        (backtest.checks if target.recorded else backtest.expected).append(check)


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
    recorded, missing, per_cohort = _recorded_inputs(doc, compiled, result)
    result.inputs = recorded
    thresholds = _thresholds(compiled, with_reading(doc, reading) if reading else doc)
    unknown = {key: candidate_values(compiled.metric_kinds[key.partition("[")[0]], thresholds) for key in missing}
    scenarios = _scenarios(recorded, unknown, np.random.default_rng(2016))
    try:
        _compare(doc, compiled, scenarios, result)
    except OutcomeError as exc:
        result.reasons.append(Reason("terms_error", None, str(exc)))
        return result
    # what could not be compared (a cohort the terms do not pay separately) qualifies the verdict
    unmatched, result.reasons = result.reasons, []
    _verdict(doc, result, per_cohort)
    if result.checks:
        result.caveats[:0] = unmatched
    else:
        result.reasons[:0] = unmatched
        if not unmatched:
            result.reasons.insert(0, Reason("nothing_to_compare"))
        _with_recorded_unknowns(doc, result)
    return result


def _verdict(doc: ContractDocument, result: Backtest, per_cohort: Mapping[str, str]) -> None:
    """The contract's verdict from its checks, and what blocks a yes or no: each unknown outcome once (its
    periods after it) with the curator's reason, and each derived parameter."""
    checks = result.checks
    reproduced = [c for c in checks if c.ok and c.kind != "payment_date"]
    if result.failures:
        result.verdict = "no"
    elif checks and not result.open_checks and reproduced:
        result.verdict = "yes"
    elif reproduced:
        result.verdict = "partly"
    else:
        result.verdict = "unknown"
    # the blockers of the checks that cannot tell (or, with nothing to compare, of what the terms give)
    open_checks = result.open_checks if checks else [c for c in result.expected if c.depends_on]
    if result.verdict == "no":
        return
    keys = list(dict.fromkeys(k for c in open_checks for k in c.depends_on))
    for name, labels in group_outcome_keys(keys).items():
        if name in per_cohort:
            result.reasons.append(Reason("per_cohort_outcome", name, per_cohort[name]))
        else:
            _missing(doc, name, result, labels)
    terms = doc.payment_terms
    for name in dict.fromkeys(p for c in open_checks for p in c.derived):
        param = terms.parameters.get(name) if terms else None
        result.reasons.append(Reason("derived_parameter", name, param.description if param else None))


def _missing(doc: ContractDocument, name: str, backtest: Backtest, labels: list[str] | None = None) -> None:
    assert doc.history is not None
    recorded = [u for u in doc.history.unknowns if u.about == "outcome" and u.metric == name]
    # the curator's unknowns about the very periods that block, where they are recorded per period
    recorded = [u for u in recorded if u.cohort in (labels or ())] or recorded
    detail = "; ".join(f"{u.what} ({u.reason})" for u in recorded) or None
    subject = name if not labels else f"{name} [{', '.join(labels)}]"
    backtest.reasons.append(Reason("missing_outcome", subject, detail))


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
