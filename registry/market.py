"""Market statistics from the registry: the impact-bond market at a glance, and base rates for priors.

``market_statistics`` is a pure function of the registry's contents (no clock, no randomness): the web
overview, the API, the CLI and the scheduled snapshot job all call it. Figures in USD use INDIGO's
conversion (World Bank yearly rate of the service start year); contracts without a USD figure count in
the numbers of contracts but not in capital. Every figure says how many contracts it rests on.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, delete, select

from registry.indigo.values import ATTRIBUTION
from registry.models import ChangeRecord, Contract, MarketSnapshot, utcnow

REPAYMENT_CLASSES = ("full", "partial", "none", "unknown")
# Size bands on committed capital in USD, so contracts in different currencies are comparable: (smallest,
# largest) as the list filters' bounds.
SIZE_BANDS: dict[str, tuple[Decimal | None, Decimal | None]] = {
    "small": (None, Decimal("1000000")),
    "medium": (Decimal("1000000"), Decimal("5000000")),
    "large": (Decimal("5000000"), None),
}
PRIOR_WEIGHT = 2.0  # pseudo-contracts pulling a sector's rate towards the market-wide rate

# Checked in this order: the first class with a matching phrase wins. Partial comes before the bare word
# "lost", so "partly: ... lost 1.2 m" is partial, while "lost all" is none.
_RULES = (
    ("unknown", ("unknown", "not publicly", "not known", "not available", "n/a", "not applicable", "pending",
                 "not found")),
    ("none", ("not repaid", "no repayment", "nothing", "not at all", "no principal", "lost all", "none")),
    ("partial", ("some repayment", "partial", "partly", "in part", "below value of princip", "lost")),
    ("full", ("principal +", "principal and", "principal repaid", "in full", "full", "positive financial return",
              "repaid", "principal plus")),
)


def classify_repayment(text: str | None) -> str:
    """``full``, ``partial``, ``none`` or ``unknown`` from a free-text statement of investor repayment."""
    value = (text or "").strip().lower()
    if not value:
        return "unknown"
    for label, phrases in _RULES:
        if any(p in value for p in phrases):
            return label
    return "unknown"


@dataclass(frozen=True)
class Repayment:
    """What a contract's investors got back, in one of :data:`REPAYMENT_CLASSES`, and what says so.

    ``basis`` names the document field the class comes from (``None`` when nothing settles it), ``evidence``
    its value (the statement, the IRR, or repaid/drawn), ``sources`` that field's source ids.
    """

    cls: str
    basis: str | None = None
    evidence: str | None = None
    sources: tuple[str, ...] = ()


def _results_repayment(results: list[dict[str, Any]], currency: str | None) -> Repayment | None:
    """From published investor results stating both the capital drawn and what came back, in one currency."""
    drawn = repaid = Decimal(0)
    sources: list[str] = []
    for r in results:
        cap, back = r.get("capital_drawn"), r.get("repaid")
        if not cap or not back or (cap.get("currency") or currency) != (back.get("currency") or currency):
            continue
        drawn += Decimal(str(cap["amount"]))
        repaid += Decimal(str(back["amount"]))
        sources += [s for s in r.get("sources", []) if s not in sources]
    if drawn <= 0:
        return None
    # half a percent of slack: published figures are rounded
    cls = "full" if repaid >= drawn * Decimal("0.995") else ("none" if repaid == 0 else "partial")
    return Repayment(cls, "history.investor_results", f"{repaid}/{drawn}", tuple(sources))


def repayment_of(doc: dict[str, Any]) -> Repayment:
    """The repayment class of a stored contract document (JSON as stored), with its basis and sources.

    The first that settles it: published investor results (capital drawn against repaid), the stated investor
    repayment (:func:`classify_repayment`), the realised IRR (zero or more: the capital came back; -100 %:
    nothing did; in between: part of it).
    """
    finance = doc.get("finance") or {}
    found = _results_repayment((doc.get("history") or {}).get("investor_results", []), finance.get("currency"))
    if found:
        return found
    stated = finance.get("investor_repayment")
    cls = classify_repayment(stated)
    if cls != "unknown":
        prov = finance.get("investor_repayment_provenance") or {}
        return Repayment(cls, "finance.investor_repayment", stated, tuple(prov.get("sources", [])))
    irr = finance.get("realised_irr")
    if irr and irr.get("value") is not None:
        value = Decimal(str(irr["value"]))
        cls = "full" if value >= 0 else ("none" if value <= -1 else "partial")
        return Repayment(cls, "finance.realised_irr", str(value), tuple(irr.get("sources", [])))
    return Repayment("unknown", None, stated)


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None, "p25": None, "p75": None}
    values = sorted(values)
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return {"n": len(values), "median": statistics.median(values), "min": values[0], "max": values[-1],
            "p25": q[0], "p75": q[2]}


def _bucket() -> dict[str, Any]:
    return {"contracts": 0, "capital_usd": Decimal(0), "with_capital_usd": 0}


def _add(bucket: dict[str, Any], usd: Decimal | None) -> None:
    bucket["contracts"] += 1
    if usd is not None:
        bucket["capital_usd"] += usd
        bucket["with_capital_usd"] += 1


def _plain(buckets: dict[Any, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(k): {**v, "capital_usd": float(v["capital_usd"])} for k, v in sorted(buckets.items(),
                                                                                     key=lambda kv: str(kv[0]))}


def _base_rates(repayment: dict[str, Counter[str]], sectors: set[str],
                paid_share: dict[str, list[float]]) -> dict[str, Any]:
    """Repayment base rates of completed contracts: the market's, and each sector's shrunk towards it."""
    overall: Counter[str] = Counter()
    for counts in repayment.values():
        overall.update(counts)
    known_all = sum(overall[k] for k in ("full", "partial", "none"))
    market_rate = {k: (overall[k] / known_all if known_all else None) for k in ("full", "partial", "none")}
    base_by_sector: dict[str, Any] = {}
    for sector in sorted(sectors):
        c = repayment.get(sector, Counter())
        known = sum(c[k] for k in ("full", "partial", "none"))
        shrunk = {}
        for k in ("full", "partial", "none"):
            prior = market_rate[k] if market_rate[k] is not None else 1 / 3
            shrunk[f"p_{k}"] = (c[k] + PRIOR_WEIGHT * prior) / (known + PRIOR_WEIGHT)
        base_by_sector[sector] = {
            "completed": sum(c.values()), "known_outcome": known, **shrunk,
            "beta_full": [c["full"] + 1, known - c["full"] + 1],
            "outcome_payment_share": _summary(paid_share.get(sector, [])),
        }
    return {"market": {"completed": sum(overall.values()), "known_outcome": known_all,
                       **{f"p_{k}": v for k, v in market_rate.items()}},
            "by_sector": base_by_sector, "prior_weight": PRIOR_WEIGHT}


def market_statistics(*, session: Session) -> dict[str, Any]:
    """Contracts and capital by year, country, sector and stage; repayment and return base rates.

    ``base_rates.by_sector[sector]`` gives the portfolio engine its priors: the share of completed contracts
    that repaid investors in full / in part / not at all (shrunk towards the market-wide share with
    ``PRIOR_WEIGHT`` pseudo-contracts, plus Beta parameters for the full-repayment probability), and the
    share of the maximum outcome payment actually paid where both are known.
    """
    rows = session.exec(select(Contract).order_by(col(Contract.id))).all()
    by_year: dict[Any, dict[str, Any]] = defaultdict(_bucket)
    by_country: dict[Any, dict[str, Any]] = defaultdict(_bucket)
    by_sector: dict[Any, dict[str, Any]] = defaultdict(_bucket)
    by_stage: dict[Any, dict[str, Any]] = defaultdict(_bucket)
    total = _bucket()
    origins: Counter[str] = Counter()
    repayment: dict[str, Counter[str]] = defaultdict(Counter)
    paid_share: dict[str, list[float]] = defaultdict(list)
    targets: list[float] = []
    max_returns: list[float] = []
    realised: list[float] = []
    for row in rows:
        usd = row.capital_committed_usd
        if usd is None and row.currency == "USD":
            usd = row.capital_committed
        usd = Decimal(usd) if usd is not None else None
        _add(total, usd)
        origins[row.origin] += 1
        _add(by_year[row.start_year or "unknown"], usd)
        _add(by_country[row.country], usd)
        _add(by_sector[row.policy_sector], usd)
        _add(by_stage[row.stage], usd)
        doc = row.document
        finance = doc.get("finance", {})
        if row.stage == "complete":
            repayment[row.policy_sector][row.repayment_class] += 1
            made, cap = finance.get("total_outcome_payments_made"), finance.get("max_outcome_payment")
            if made and cap and (made.get("currency") or finance.get("currency")) == (
                    cap.get("currency") or finance.get("currency")) and float(cap["amount"]) > 0:
                paid_share[row.policy_sector].append(float(made["amount"]) / float(cap["amount"]))
        if finance.get("target_irr"):
            targets.append(float(finance["target_irr"]["value"]))
        for inv in doc.get("investments", []):
            if inv.get("target_return") is not None:
                targets.append(float(inv["target_return"]))
        if finance.get("realised_irr"):
            realised.append(float(finance["realised_irr"]["value"]))
        terms = doc.get("payment_terms") or {}
        if terms.get("status") == "derived" and any("return" in f for f in terms.get("derived_from", [])):
            max_returns.append(float(terms["parameters"]["R"]["value"]))

    repayment_by_sector = {s: {k: c[k] for k in REPAYMENT_CLASSES} | {"completed": sum(c.values())}
                           for s, c in sorted(repayment.items())}
    return {
        "totals": {"contracts": total["contracts"], "curated": origins["curated"], "indigo": origins["indigo"],
                   "countries": len(by_country), "capital_usd": float(total["capital_usd"]),
                   "with_capital_usd": total["with_capital_usd"]},
        "by_year": _plain(by_year),
        "by_country": _plain(by_country),
        "by_sector": _plain(by_sector),
        "by_stage": _plain(by_stage),
        "repayment_by_sector": repayment_by_sector,
        "returns": {"target": _summary(targets), "max_potential": _summary(max_returns),
                    "realised": _summary(realised)},
        "base_rates": _base_rates(repayment, set(by_sector) | set(repayment), paid_share),
        "method": ("Capital in USD as stated in INDIGO (World Bank yearly rate of the service start year); "
                   "repayment classified from the published investor results, else the stated investor "
                   "repayment, else the realised IRR of completed contracts; sector rates "
                   f"shrunk towards the market rate with {PRIOR_WEIGHT:g} pseudo-contracts."),
        "attribution": ATTRIBUTION,
    }


# --- the stored snapshot the overview and the API read -----------------------------------------------------

SNAPSHOTS_KEPT = 10
# A snapshot computed by other code than this module's is not served: its figures may mean something else.
CODE_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
_STALE = "utfall_market_snapshot_stale"  # session.info key: contracts were written in this transaction


def store_snapshot(*, session: Session, now: datetime | None = None) -> MarketSnapshot:
    """Compute the market statistics and add them as the newest ``MarketSnapshot``; does not commit.

    Keeps the newest :data:`SNAPSHOTS_KEPT` snapshots and deletes older ones.
    """
    stats = market_statistics(session=session)
    digest = hashlib.sha256(json.dumps(stats, sort_keys=True, default=str).encode()).hexdigest()[:16]
    snapshot = MarketSnapshot(computed_at=now or utcnow(),
                              data=stats | {"code_version": CODE_VERSION, "digest": digest})
    session.add(snapshot)
    session.flush()
    older = select(MarketSnapshot.id).order_by(col(MarketSnapshot.id).desc()).offset(SNAPSHOTS_KEPT)
    session.exec(delete(MarketSnapshot).where(col(MarketSnapshot.id).in_(older)))  # type: ignore[call-overload]
    return snapshot


def current_snapshot(*, session: Session) -> tuple[str, dict[str, Any]]:
    """The digest and market statistics of the newest snapshot: what :func:`market_statistics` gives now.

    Every commit that writes contracts stores a new snapshot in the same transaction (see
    :func:`_refresh_on_commit`), so the newest one is current. Where there is none yet, or only one computed
    by other code, it is computed, stored and committed here. The digest identifies the figures (for caches
    of what is drawn from them).
    """
    newest = session.exec(select(MarketSnapshot).order_by(col(MarketSnapshot.id).desc()).limit(1)).first()
    if newest is None or newest.data.get("code_version") != CODE_VERSION:
        newest = store_snapshot(session=session)
        session.commit()
    data = dict(newest.data)
    meta = {"code_version": data.pop("code_version", None), "digest": data.pop("digest", None)}
    return str(meta["digest"]), data


def current_statistics(*, session: Session) -> dict[str, Any]:
    """The market statistics of the newest snapshot (:func:`current_snapshot`)."""
    return current_snapshot(session=session)[1]


# One place for every write: the loader's upserts and deletions (seed, INDIGO import, curators' editors) add
# or change Contract rows and always a ChangeRecord; when the transaction that did so commits, the snapshot is
# recomputed inside it, so no reader ever sees figures older than the registry.
@event.listens_for(OrmSession, "after_flush")
def _note_contract_writes(session: OrmSession, _context: Any) -> None:
    if any(isinstance(o, (Contract, ChangeRecord)) for o in chain(session.new, session.dirty, session.deleted)):
        session.info[_STALE] = True


@event.listens_for(OrmSession, "before_commit")
def _refresh_on_commit(session: OrmSession) -> None:
    if session.info.pop(_STALE, False) and isinstance(session, Session):
        store_snapshot(session=session)


@event.listens_for(OrmSession, "after_rollback")
def _forget_on_rollback(session: OrmSession) -> None:
    session.info.pop(_STALE, None)
