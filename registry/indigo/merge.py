"""Curated contracts that INDIGO also lists: one display document from both.

Curated facts win; INDIGO facts fill gaps; where both state a fact and disagree, the curated value stays,
the fact is marked ``disputed`` and the INDIGO value is kept in ``alternatives`` with its INDIGO sources
(which carry GO Lab's attribution). The stored curated document is never changed: the merge happens on
display (``get_display_document``) and export.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import Any

from sqlmodel import Session, select

from registry.models import Contract, IndigoRecord
from registry.schema import ContractDocument, document_json

DATE_FIELDS = ("signed", "service_start", "service_end", "evaluation_end", "anticipated_completion",
               "actual_completion")
MONEY_FIELDS = ("capital_committed", "capital_drawn", "max_outcome_payment", "total_outcome_payments_made")
NUMBER_FIELDS = ("target_irr", "realised_irr")
TEXT_FIELDS = ("max_potential_loss", "investor_repayment")
LIST_FIELDS = ("investments", "outcome_metrics", "results", "milestones", "governance")


FREE_TEXT = {"region", "social_challenge", "intervention", "unit"}


def _agree(name: str, ours: Any, theirs: Any) -> bool:
    """Whether two values of a fact agree: free text never disputes, and ``2016`` agrees with ``2016-08``."""
    if name in FREE_TEXT or ours == theirs:
        return True
    if name in DATE_FIELDS and isinstance(ours, str) and isinstance(theirs, str):
        return ours.startswith(theirs) or theirs.startswith(ours)
    return False


class _Merger:
    def __init__(self, curated: dict[str, Any], indigo: dict[str, Any]) -> None:
        self.out = copy.deepcopy(curated)
        self.indigo = indigo
        taken = {s["id"]: s for s in curated.get("sources", [])}
        self.rename: dict[str, str] = {}
        self.new_sources: list[dict[str, Any]] = []
        for src in indigo.get("sources", []):
            sid = src["id"]
            if sid in taken and taken[sid].get("url") == src.get("url") and taken[sid].get("title") == src.get("title"):
                self.rename[sid] = sid
                continue
            new = sid if sid not in taken else f"{sid}-golab"
            self.rename[sid] = new
            taken[new] = src
        self.used: set[str] = set()
        # INDIGO organisations the curated document already names (same INDIGO organisation id)
        curated_orgs = {o.get("indigo_id"): o["id"] for o in curated.get("organisations", []) if o.get("indigo_id")}
        self.org_map = {o["id"]: curated_orgs[o["indigo_id"]] for o in indigo.get("organisations", [])
                        if o.get("indigo_id") in curated_orgs}

    def sources(self, ids: list[str]) -> list[str]:
        out = [self.rename[s] for s in ids if s in self.rename]
        self.used.update(out)
        return out

    def remap(self, value: Any) -> Any:
        """An INDIGO fact (or list of them) with its source ids renamed into the merged document."""
        if isinstance(value, list):
            return [self.remap(v) for v in value]
        if isinstance(value, dict):
            out = {k: self.remap(v) for k, v in value.items()}
            for key in ("organisation", "investor", "payer", "payee"):
                if isinstance(out.get(key), str):
                    out[key] = self.org_map.get(out[key], out[key])
            if isinstance(value.get("sources"), list) and all(isinstance(s, str) for s in value["sources"]):
                out["sources"] = self.sources(value["sources"])
            return out
        return value

    def dispute(self, fact: dict[str, Any], value: Any, indigo_fact: dict[str, Any] | None, what: str) -> None:
        fact["confidence"] = "disputed"
        fact.setdefault("alternatives", []).append({
            "value": value,
            "sources": self.sources((indigo_fact or {}).get("sources", [])),
            "note": f"INDIGO (GO Lab) states {what}",
        })

    def scalar_group(self, group: str, fields: tuple[str, ...]) -> None:
        mine = self.out.get(group)
        theirs = self.indigo.get(group)
        if not theirs:
            return
        if not mine:
            self.out[group] = self.remap(theirs)
            return
        differing = {}
        filled = False
        for name in fields:
            if theirs.get(name) is None:
                continue
            if mine.get(name) is None:
                mine[name] = theirs[name]
                filled = True
            elif not _agree(name, mine[name], theirs[name]):
                differing[name] = theirs[name]
        if filled:
            mine["sources"] = list(dict.fromkeys(mine.get("sources", []) + self.sources(theirs.get("sources", []))))
            if mine.get("confidence") == "unverified":
                mine["confidence"] = "secondary"
        if differing:
            text = ", ".join(f"{k} {v}" for k, v in differing.items())
            self.dispute(mine, differing, theirs, text)

    def stage(self) -> None:
        if self.out["stage"] == self.indigo["stage"]:
            return
        prov = self.out.get("stage_provenance") or {"sources": [], "confidence": "unverified"}
        self.dispute(prov, self.indigo["stage"], self.indigo.get("stage_provenance"),
                     f"stage {self.indigo['stage']}")
        self.out["stage_provenance"] = prov

    def finance(self) -> None:
        mine, theirs = self.out["finance"], self.indigo["finance"]
        for name in MONEY_FIELDS:
            fact = theirs.get(name)
            if not fact:
                continue
            if not mine.get(name):
                mine[name] = self.remap(fact)
                continue
            own = mine[name]
            own_cur = own.get("currency") or mine["currency"]
            their_cur = fact.get("currency") or theirs["currency"]
            if own.get("amount_usd") is None and fact.get("amount_usd") is not None and own_cur == their_cur \
                    and float(own["amount"]) == float(fact["amount"]):
                own["amount_usd"] = fact["amount_usd"]
            if own_cur != their_cur or float(own["amount"]) != float(fact["amount"]):
                value = {"amount": fact["amount"], "currency": their_cur, "bound": fact.get("bound", "exact")}
                self.dispute(own, value, fact, f"{name.replace('_', ' ')} {their_cur} {fact['amount']}")
        for name in NUMBER_FIELDS:
            fact = theirs.get(name)
            if fact and not mine.get(name):
                mine[name] = self.remap(fact)
            elif fact and float(mine[name]["value"]) != float(fact["value"]):
                self.dispute(mine[name], fact["value"], fact, f"{name.replace('_', ' ')} {fact['value']}")
        for name in TEXT_FIELDS:
            if theirs.get(name) and not mine.get(name):
                mine[name] = theirs[name]

    def population(self) -> None:
        self.scalar_group("target_population", ("targeted_participants", "actual_participants", "unit"))

    def lists(self) -> None:
        needed_orgs: set[str] = set()
        # parties: INDIGO fills the roles the curated document leaves empty (e.g. no investor named)
        parties = self.out.setdefault("parties", [])
        covered = {r for p in parties for r in p["roles"]}
        named = {p["organisation"] for p in parties}
        for party in self.remap(self.indigo.get("parties", [])):
            roles = [r for r in party["roles"] if r not in covered]
            if roles and party["organisation"] not in named:
                parties.append({**party, "roles": roles})
                needed_orgs.add(party["organisation"])
        for name in LIST_FIELDS:
            if not self.out.get(name) and self.indigo.get(name):
                self.out[name] = self.remap(self.indigo[name])
                if name == "investments":
                    needed_orgs.update(i["investor"] for i in self.out[name])
        if not self.out.get("payment_terms") and self.indigo.get("payment_terms"):
            terms = self.indigo["payment_terms"]
            metric_ids = {m["id"] for m in self.out.get("outcome_metrics", [])}
            wanted = {m["id"] for m in self.indigo.get("outcome_metrics", [])}
            if wanted <= metric_ids or not self.out.get("outcome_metrics"):
                self.out["payment_terms"] = self.remap(terms)
                for p in self.out["payment_terms"].get("payments", []):
                    needed_orgs.update((p["payer"], p["payee"]))
                if not self.out.get("outcome_metrics"):
                    self.out["outcome_metrics"] = self.remap(self.indigo.get("outcome_metrics", []))
        needed_orgs.update(self.history())
        have = {o["id"] for o in self.out.get("organisations", [])}
        for org in self.indigo.get("organisations", []):
            if org["id"] in needed_orgs and org["id"] not in have:
                self.out.setdefault("organisations", []).append(org)
                have.add(org["id"])

    def history(self) -> set[str]:
        """INDIGO's realised history where the curated document records none (a curated history is the
        curator's reading of the sources and wins as a whole). Returns the organisations it names.

        Measured values come along only where their metrics are in the document (taken from INDIGO too).
        """
        theirs = self.indigo.get("history")
        if self.out.get("history") or not theirs:
            return set()
        metric_ids = {m["id"] for m in self.out.get("outcome_metrics", [])}
        inv_ids = {i["id"] for i in self.out.get("investments", [])}
        history = self.remap(theirs)
        history["outcomes"] = [o for o in history.get("outcomes", []) if o["metric"] in metric_ids]
        for result in history.get("investor_results", []):
            if result.get("investment") not in inv_ids:
                result.pop("investment", None)
        history = {k: v for k, v in history.items() if v}
        if not history:
            return set()
        self.out["history"] = history
        orgs = {p[side] for p in history.get("payments", []) for side in ("payer", "payee") if p.get(side)}
        return orgs | {r["investor"] for r in history.get("investor_results", [])}

    def run(self) -> dict[str, Any]:
        self.stage()
        self.scalar_group("classification", ("country", "region", "policy_sector", "social_challenge",
                                             "intervention"))
        self.scalar_group("dates", DATE_FIELDS)
        self.finance()
        self.population()
        self.lists()
        if not self.out.get("programme") and self.indigo.get("programme"):
            self.out["programme"] = self.indigo["programme"]
        names = self.out["identity"].setdefault("alternative_names", [])
        indigo_name = self.indigo["identity"]["names"].get("en")
        own_names = set(self.out["identity"]["names"].values()) | set(names)
        if indigo_name and indigo_name not in own_names:
            names.append(indigo_name)
        # every INDIGO source goes in: the record itself, and what it cites, with GO Lab's attribution
        existing = {s["id"] for s in self.out.get("sources", [])}
        for src in self.indigo.get("sources", []):
            new_id = self.rename[src["id"]]
            if new_id not in existing:
                self.out.setdefault("sources", []).append({**src, "id": new_id})
                existing.add(new_id)
        return self.out


def merged_document(curated: ContractDocument, indigo: ContractDocument) -> ContractDocument:
    """The curated document with INDIGO's facts filling its gaps and its disagreements marked disputed."""
    merged = _Merger(document_json(curated), document_json(indigo)).run()
    return ContractDocument.model_validate(merged)


# Display documents by (contract id, contract content hash, INDIGO record content hash): validating and merging
# is most of a contract page's time, and the hashes change with every write, so an entry is never stale.
DISPLAY_CACHE_SIZE = 512
_display_cache: OrderedDict[tuple[str, str, str | None], ContractDocument] = OrderedDict()
_display_cache_lock = threading.Lock()


def get_display_document(*, session: Session, contract_id: str) -> ContractDocument | None:
    """The document to show for a contract: merged with INDIGO for a linked curated contract, else as stored.

    The result may be shared with other callers (it is cached by content hash): read it, do not change it.
    """
    head = session.exec(select(Contract.content_hash, Contract.origin, Contract.indigo_id)
                        .where(Contract.id == contract_id)).first()
    if head is None:
        return None
    content_hash, origin, indigo_id = head
    record_hash = None
    if origin == "curated" and indigo_id:
        record_hash = session.exec(select(IndigoRecord.content_hash)
                                   .where(IndigoRecord.indigo_id == indigo_id)).first()
    key = (contract_id, content_hash, record_hash)
    with _display_cache_lock:
        if key in _display_cache:
            _display_cache.move_to_end(key)
            return _display_cache[key]
    doc = _build_display_document(session=session, contract_id=contract_id)
    if doc is not None:
        with _display_cache_lock:
            _display_cache[key] = doc
            while len(_display_cache) > DISPLAY_CACHE_SIZE:
                _display_cache.popitem(last=False)
    return doc


def _build_display_document(*, session: Session, contract_id: str) -> ContractDocument | None:
    row = session.get(Contract, contract_id)
    if row is None:
        return None
    doc = ContractDocument.model_validate(row.document)
    if row.origin == "curated" and row.indigo_id:
        record = session.get(IndigoRecord, row.indigo_id)
        if record is not None:
            return merged_document(doc, ContractDocument.model_validate(record.document))
    return doc
