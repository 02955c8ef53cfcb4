"""content hashes of cleaned documents

Migration 0008 removed non-http(s) URLs and shortened overlong text in stored documents but left each row's
``content_hash`` as it was, so a cleaned contract's hash no longer matched its document: the curators'
conflict check then saw a change nobody made, and an unchanged file re-seeded over it looked like an edit.
Every contract's and INDIGO record's hash is recomputed here the way the loader and importer compute it,
where it differs.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:20:00
"""
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _hash(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def upgrade() -> None:
    connection = op.get_bind()
    contract = sa.table("contract", sa.column("id", sa.String), sa.column("document", sa.JSON),
                        sa.column("content_hash", sa.String))
    for key, document, stored in connection.execute(
            sa.select(contract.c.id, contract.c.document, contract.c.content_hash)).all():
        digest = _hash(document)
        if digest != stored:
            connection.execute(contract.update().where(contract.c.id == key).values(content_hash=digest))
    record = sa.table("indigo_record", sa.column("indigo_id", sa.String), sa.column("document", sa.JSON),
                      sa.column("raw", sa.JSON), sa.column("content_hash", sa.String))
    for key, document, raw, stored in connection.execute(
            sa.select(record.c.indigo_id, record.c.document, record.c.raw, record.c.content_hash)).all():
        digest = _hash({"document": document, "raw": raw})
        if digest != stored:
            connection.execute(record.update().where(record.c.indigo_id == key).values(content_hash=digest))


def downgrade() -> None:
    """Nothing to undo: the hashes describe the documents as they are."""
