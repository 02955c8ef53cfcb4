"""Priors calibrated on what happened, and a check of how well the engine would have predicted it.

Default outcome models (:mod:`portfolio.priors`) start from documented, judgement-based sector priors. Where
the registry records results of comparable contracts, :class:`CalibratedPriors` moves a prior's probability
of success towards the recorded rate:

* **Outcome evidence**: every recorded outcome value (``history.outcomes``, curated or mapped from INDIGO)
  of a metric with a stated target. It counts as achieved when the value reaches the metric's first
  (lowest) target, for binary metrics when it is 1. (A value stated as a maximum below the target is a miss;
  a minimum at or above it is a hit; other bounded values are left out.)
* **Repayment evidence**: every completed or terminated contract whose investors' result is known: from
  ``history.investor_results`` (repaid at least the capital drawn), else the stated investor repayment
  (:func:`registry.market.repayment_of`: full, or partial/none), else a realised IRR (at least zero:
  the capital came back).

Comparable means the same sector, metric kind and country; with fewer than ``MIN_EVIDENCE`` such records,
the same sector and kind; then the same sector. The estimate is the recorded success count shrunk towards
the documented sector prior with ``PSEUDO_COUNT`` pseudo-observations: ``p = (k + w p0) / (n + w)``. The
model's label states it as an assumption, with the evidence count.

``calibration_report`` replays the engine at each completed contract's signing: only evidence recorded
before the signing (and never the contract's own) calibrates the priors, the contract alone is simulated
with its terms and default models, and the predicted probability of full repayment (1 - P(loss)) is set
beside what happened, by bucket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from registry.market import repayment_of
from registry.models import Contract
from registry.schema import ContractDocument, partial_date_start
from registry.terms import TermsError, compile_terms

MIN_EVIDENCE = 3
PSEUDO_COUNT = 4.0
BUCKETS = (0.0, 0.5, 0.7, 0.8, 0.9, 1.0)
REPLAY_SCENARIOS = 2000
REPLAY_SEED = 20240601


@dataclass(frozen=True)
class OutcomeRecord:
    contract: str
    sector: str
    kind: str
    country: str
    when: date | None
    achieved: bool


@dataclass(frozen=True)
class RepaymentRecord:
    contract: str
    sector: str
    country: str
    signed: date | None
    settled: date | None
    full: bool
    basis: str  # "investor_results" or "stated"


@dataclass(frozen=True)
class Calibrated:
    """A calibrated probability with the evidence it rests on."""

    p: float
    prior: float
    successes: int
    n: int
    level: str  # e.g. "sector health, kind count, country GB"

    def label(self, what: str) -> str:
        return (f"calibrated prior: P({what}) = {self.p:.2f} from {self.successes} of {self.n} recorded results "
                f"of comparable contracts ({self.level}), shrunk towards the documented sector prior "
                f"{self.prior:.2f} with {PSEUDO_COUNT:g} pseudo-observations (an assumption)")


def _date(value: Any) -> date | None:
    try:
        return partial_date_start(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None


def outcome_records(doc: dict[str, Any]) -> list[OutcomeRecord]:
    """Achieved-or-not records from a stored document's recorded outcomes (JSON as stored)."""
    classification = doc.get("classification", {})
    metrics = {m["id"]: m for m in doc.get("outcome_metrics", [])}
    completion = _date((doc.get("dates") or {}).get("actual_completion"))
    records = []
    for value in (doc.get("history") or {}).get("outcomes", []):
        metric = metrics.get(value.get("metric"))
        number = _dec(value.get("value"))
        if metric is None or number is None:
            continue
        kind = metric.get("kind", "continuous")
        targets = [t for t in (_dec(t.get("value")) for t in metric.get("targets", [])) if t is not None]
        if kind == "binary":
            target = Decimal(1)
        elif targets:
            target = min(targets)
        else:
            continue
        bound = value.get("bound", "exact")
        reached = number >= target
        if (bound == "max" and reached) or (bound == "min" and not reached):
            continue  # a bound on the wrong side of the target settles nothing
        when = _date(value.get("date")) or _date(value.get("period_end")) or completion
        records.append(OutcomeRecord(doc["id"], classification.get("policy_sector", "other"), kind,
                                     classification.get("country", ""), when, bool(reached)))
    return records


# The calibration report's names for what settles a repayment (registry.market.repayment_of)
_BASIS = {"history.investor_results": "investor_results", "finance.investor_repayment": "stated",
          "finance.realised_irr": "realised_irr"}


def repayment_record(doc: dict[str, Any]) -> RepaymentRecord | None:
    """Whether investors of a finished contract got their capital back in full, where that is known."""
    if doc.get("stage") not in ("complete", "terminated"):
        return None
    classification = doc.get("classification", {})
    dates = doc.get("dates") or {}
    signed = _date(dates.get("signed")) or _date(dates.get("service_start"))
    repayment = repayment_of(doc)
    if repayment.cls == "unknown":
        return None
    settled = max(filter(None, (_date(r.get("date")) for r in (doc.get("history") or {}).get("investor_results", [])
                                if repayment.basis == "history.investor_results")), default=None)
    completion = _date(dates.get("actual_completion"))
    full, basis = repayment.cls == "full", _BASIS[repayment.basis or ""]
    return RepaymentRecord(doc["id"], classification.get("policy_sector", "other"),
                           classification.get("country", ""), signed, settled or completion, bool(full), basis)


def _shrunk(hits: int, n: int, prior: float) -> float:
    return (hits + PSEUDO_COUNT * prior) / (n + PSEUDO_COUNT)


@dataclass
class CalibratedPriors:
    """Recorded outcome and repayment evidence, and the calibrated probabilities it gives.

    ``from_session`` reads the registry only when a default model is first asked for: most portfolios state
    every model and never need it.
    """

    _outcomes: list[OutcomeRecord] = field(default_factory=list)
    _repayments: list[RepaymentRecord] = field(default_factory=list)
    _source: Callable[[], Iterable[dict[str, Any]]] | None = None

    @classmethod
    def from_documents(cls, documents: Iterable[dict[str, Any]]) -> CalibratedPriors:
        priors = cls()
        priors._read(documents)
        return priors

    @classmethod
    def from_session(cls, session: Session) -> CalibratedPriors:
        return cls(_source=lambda: session.exec(select(Contract.document).order_by(col(Contract.id))).all())

    def _read(self, documents: Iterable[dict[str, Any]]) -> None:
        for doc in documents:
            self._outcomes.extend(outcome_records(doc))
            record = repayment_record(doc)
            if record is not None:
                self._repayments.append(record)

    @property
    def outcomes(self) -> list[OutcomeRecord]:
        self._load()
        return self._outcomes

    @property
    def repayments(self) -> list[RepaymentRecord]:
        self._load()
        return self._repayments

    def _load(self) -> None:
        if self._source is not None:
            source, self._source = self._source, None
            self._read(source())

    def metric(self, sector: str, kind: str, country: str, *, before: date | None = None,
               exclude: str | None = None) -> Calibrated | None:
        """P(a metric reaches its first target), from comparable recorded outcomes; ``None`` without any."""
        # lazy: the engine (numpy, scipy, pandas) loads only when a prior is needed, not for every command
        from portfolio.priors import sector_prior

        usable = [r for r in self.outcomes if r.contract != exclude
                  and (before is None or (r.when is not None and r.when < before))]
        levels = (
            (f"sector {sector}, kind {kind}, country {country}",
             [r for r in usable if (r.sector, r.kind, r.country) == (sector, kind, country)]),
            (f"sector {sector}, kind {kind}", [r for r in usable if (r.sector, r.kind) == (sector, kind)]),
            (f"sector {sector}", [r for r in usable if r.sector == sector]),
        )
        return self._pick(levels, sector_prior(sector).p_success, lambda r: r.achieved)

    def repayment(self, sector: str, country: str, *, before: date | None = None,
                  exclude: str | None = None) -> Calibrated | None:
        """P(investors repaid in full), from comparable finished contracts; ``None`` without any."""
        from portfolio.priors import sector_prior  # lazy: see metric

        usable = [r for r in self.repayments if r.contract != exclude
                  and (before is None or (r.settled is not None and r.settled < before))]
        levels = (
            (f"sector {sector}, country {country}", [r for r in usable if (r.sector, r.country) == (sector, country)]),
            (f"sector {sector}", [r for r in usable if r.sector == sector]),
        )
        return self._pick(levels, sector_prior(sector).p_success, lambda r: r.full)

    @staticmethod
    def _pick(levels: Any, prior: float, hit: Any) -> Calibrated | None:
        level, records = next(((lv, rs) for lv, rs in levels if len(rs) >= MIN_EVIDENCE), levels[-1])
        if not records:
            return None
        hits = sum(1 for r in records if hit(r))
        return Calibrated(_shrunk(hits, len(records), prior), prior, hits, len(records), level)


# --- calibration report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    contract: str
    sector: str
    signed: date | None
    predicted: float
    realised: bool
    basis: str
    calibrated: bool


@dataclass
class CalibrationReport:
    predictions: list[Prediction]
    skipped: dict[str, str]
    scenarios: int

    def buckets(self) -> list[dict[str, Any]]:
        out = []
        for lo, hi in zip(BUCKETS, BUCKETS[1:], strict=False):
            inside = [p for p in self.predictions if lo <= p.predicted < hi or (hi == 1.0 and p.predicted == 1.0)]
            n = len(inside)
            realised = sum(p.realised for p in inside)
            rate = realised / n if n else None
            out.append({
                "bucket": [lo, hi], "contracts": n,
                "mean_predicted": sum(p.predicted for p in inside) / n if n else None,
                "realised_rate": rate, "realised": realised,
                # binomial standard error of the realised rate: how far chance alone moves it
                "std_error": math.sqrt(rate * (1 - rate) / n) if n and rate is not None else None,
            })
        return out

    def brier(self) -> float | None:
        if not self.predictions:
            return None
        return sum((p.predicted - p.realised) ** 2 for p in self.predictions) / len(self.predictions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": ("For each finished contract whose investors' result is known: the contract alone simulated "
                       f"with {self.scenarios} scenarios at its signing, its metrics on default priors calibrated "
                       "only on results recorded before the signing (never its own); predicted = 1 - P(loss)."),
            "contracts": len(self.predictions), "brier_score": self.brier(), "buckets": self.buckets(),
            "predictions": [{"contract": p.contract, "sector": p.sector,
                             "signed": p.signed.isoformat() if p.signed else None, "predicted": p.predicted,
                             "realised_full_repayment": p.realised, "realised_from": p.basis,
                             "calibrated": p.calibrated} for p in self.predictions],
            "skipped": self.skipped,
        }

    def text(self) -> str:
        lines = [f"Predicted probability of full repayment at signing vs what happened ({len(self.predictions)} "
                 f"finished contracts, {self.scenarios} scenarios each)", "",
                 f"{'bucket':<12}{'contracts':>10}{'predicted':>11}{'realised':>10}{'± s.e.':>8}"]
        for b in self.buckets():
            lo, hi = b["bucket"]
            if not b["contracts"]:
                lines.append(f"{lo:.0%}–{hi:.0%}".ljust(12) + f"{0:>10}")
                continue
            lines.append(f"{lo:.0%}–{hi:.0%}".ljust(12) + f"{b['contracts']:>10}{b['mean_predicted']:>11.2f}"
                         f"{b['realised_rate']:>10.2f}{b['std_error']:>8.2f}")
        brier = self.brier()
        lines += ["", f"Brier score: {brier:.3f}" if brier is not None else "Brier score: n/a",
                  f"Skipped (result unknown or not evaluable): {len(self.skipped)}"]
        return "\n".join(lines)


def predict_at_signing(doc: ContractDocument, priors: CalibratedPriors, *, scenarios: int = REPLAY_SCENARIOS,
                       seed: int = REPLAY_SEED) -> tuple[float, bool]:
    """P(full repayment) the engine gives ``doc`` alone with priors calibrated on evidence before its signing.

    Returns the probability and whether any calibrated prior was used.
    """
    # lazy: the engine and the portfolio files (numpy, scipy, pandas) load only for the replay, not for every command
    from portfolio import Holding, Portfolio, simulate
    from registry.portfolio_file import contract_model

    signed = doc.dates.signed or doc.dates.service_start
    as_of = partial_date_start(signed) if signed else None
    terms = compile_terms(doc, source=f"registry:{doc.id}")
    model = contract_model(doc, terms, priors=priors, as_of=as_of, exclude=doc.id)
    portfolio = Portfolio(holdings=(Holding(model, weight=1.0),), base_currency=doc.finance.currency,
                          n_scenarios=scenarios, seed=seed, name=doc.id)
    result = simulate(portfolio, threads=1)
    p_loss = float(result.contracts["p_loss"].iloc[0])
    calibrated = any("calibrated prior" in getattr(m, "label", "") for m in model.outcomes.values())
    return 1.0 - p_loss, calibrated


def calibration_report(*, session: Session, scenarios: int = REPLAY_SCENARIOS) -> CalibrationReport:
    """Predicted probability of full repayment at signing against the realised rate, for finished contracts."""
    documents = list(session.exec(select(Contract.document).order_by(col(Contract.id))).all())
    priors = CalibratedPriors.from_documents(documents)
    predictions: list[Prediction] = []
    skipped: dict[str, str] = {}
    for raw in documents:
        record = repayment_record(raw)
        if record is None:
            continue
        try:
            doc = ContractDocument.model_validate(raw)
            predicted, calibrated = predict_at_signing(doc, priors, scenarios=scenarios)
        except (ValidationError, TermsError, ValueError) as exc:
            skipped[raw["id"]] = str(exc).splitlines()[0][:200]
            continue
        predictions.append(Prediction(doc.id, record.sector, record.signed, predicted, record.full, record.basis,
                                      calibrated))
    return CalibrationReport(predictions, skipped, scenarios)
