"""http urls only

The schema now accepts only http(s) URLs in ``sources[].url`` and ``organisations[].website``. Stored
documents (contracts and INDIGO records) written before then may hold others (``javascript:``...); those
values are removed here so that every stored document still validates.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:10:00
"""
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _http(value: Any) -> bool:
    if not isinstance(value, str) or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _clean(document: Any) -> bool:
    changed = False
    if not isinstance(document, dict):
        return False
    for list_key, field in (("sources", "url"), ("organisations", "website")):
        for item in document.get(list_key) or []:
            if isinstance(item, dict) and item.get(field) is not None and not _http(item[field]):
                del item[field]
                changed = True
    return changed


def upgrade() -> None:
    connection = op.get_bind()
    for table, key in (("contract", "id"), ("indigo_record", "indigo_id")):
        rows = sa.table(table, sa.column(key, sa.String), sa.column("document", sa.JSON))
        for row_key, document in connection.execute(sa.select(rows.c[key], rows.c.document)).all():
            if _clean(document):
                connection.execute(rows.update().where(rows.c[key] == row_key).values(document=document))


def downgrade() -> None:
    pass  # the removed values were never valid links
