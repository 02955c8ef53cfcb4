"""realised history

Payments actually made move from a contract document's ``realised_payments`` list into its ``history``
section (``history.payments``), with the amount and its currency side by side (a payment without a
currency took the contract's). Stored contract documents and INDIGO records are rewritten; their content
hashes are recomputed the way the loader and importer compute them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:50:00
"""
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PROVENANCE = ("sources", "confidence", "note", "alternatives")


def _hash(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _forward(doc: dict[str, Any]) -> dict[str, Any] | None:
    old = doc.get("realised_payments")
    if old is None:
        return None
    doc = dict(doc)
    del doc["realised_payments"]
    currency = doc.get("finance", {}).get("currency")
    payments = []
    for p in old:
        amount = p.get("amount", {})
        new = {k: p[k] for k in ("date", "payer", "payee", "component", "description", *_PROVENANCE) if k in p}
        new["amount"] = amount.get("amount")
        new["currency"] = amount.get("currency") or currency
        payments.append(new)
    if payments:
        history = dict(doc.get("history") or {})
        history["payments"] = payments + list(history.get("payments", []))
        doc["history"] = history
    return doc


def _backward(doc: dict[str, Any]) -> dict[str, Any] | None:
    history = doc.get("history")
    if history is None:
        return None
    doc = dict(doc)
    del doc["history"]
    doc["realised_payments"] = [
        {**{k: p[k] for k in ("date", "payer", "payee", "component", "description", *_PROVENANCE) if k in p},
         "amount": {"amount": p["amount"], "currency": p["currency"]}}
        for p in history.get("payments", [])
    ]
    return doc


def _rewrite(change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
    bind = op.get_bind()
    contract = sa.table("contract", sa.column("id"), sa.column("document", sa.JSON), sa.column("content_hash"))
    for cid, document in bind.execute(sa.select(contract.c.id, contract.c.document)).all():
        new = change(document)
        if new is not None:
            bind.execute(contract.update().where(contract.c.id == cid)
                         .values(document=new, content_hash=_hash(new)))
    record = sa.table("indigo_record", sa.column("indigo_id"), sa.column("document", sa.JSON),
                      sa.column("raw", sa.JSON), sa.column("content_hash"))
    for rid, document, raw in bind.execute(sa.select(record.c.indigo_id, record.c.document, record.c.raw)).all():
        new = change(document)
        if new is not None:
            bind.execute(record.update().where(record.c.indigo_id == rid)
                         .values(document=new, content_hash=_hash({"document": new, "raw": raw})))


def upgrade() -> None:
    _rewrite(_forward)


def downgrade() -> None:
    _rewrite(_backward)
