"""stored documents within limits

The schema now accepts only http(s) URLs in ``sources[].url`` and ``organisations[].website``, and caps the
length of text (20,000 characters; organisation names and alternative names 500, source titles and
publishers 2,000). Stored documents (contracts and INDIGO records) written before then may hold other
URLs (``javascript:``...) or longer text: such URLs are removed and such text is shortened (ending in
"…") here, so that every stored document still validates.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:10:00
"""
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _http(value: Any) -> bool:
    if not isinstance(value, str) or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


MAX_TEXT = 20_000
SHORTER = {("organisations", "name"): 500, ("sources", "title"): 2_000, ("sources", "publisher"): 2_000}


def _shorten(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _walk(node: Any) -> Any:
    if isinstance(node, str):
        return _shorten(node, MAX_TEXT)
    if isinstance(node, list):
        return [_walk(v) for v in node]
    if isinstance(node, dict):
        return {k: _walk(v) for k, v in node.items()}
    return node


def _clean(document: Any) -> Any:
    """The document within the limits (a new object; equal to the input when nothing had to change)."""
    if not isinstance(document, dict):
        return document
    document = _walk(document)
    for list_key, field in (("sources", "url"), ("organisations", "website")):
        for item in document.get(list_key) or []:
            if isinstance(item, dict) and item.get(field) is not None and not _http(item[field]):
                del item[field]
    for (list_key, field), limit in SHORTER.items():
        for item in document.get(list_key) or []:
            if isinstance(item, dict) and isinstance(item.get(field), str):
                item[field] = _shorten(item[field], limit)
    identity = document.get("identity")
    if isinstance(identity, dict) and isinstance(identity.get("alternative_names"), list):
        identity["alternative_names"] = [_shorten(n, 500) if isinstance(n, str) else n
                                         for n in identity["alternative_names"]]
    return document


def upgrade() -> None:
    connection = op.get_bind()
    for table, key in (("contract", "id"), ("indigo_record", "indigo_id")):
        rows = sa.table(table, sa.column(key, sa.String), sa.column("document", sa.JSON))
        for row_key, document in connection.execute(sa.select(rows.c[key], rows.c.document)).all():
            cleaned = _clean(document)
            if cleaned != document:
                connection.execute(rows.update().where(rows.c[key] == row_key).values(document=cleaned))


def downgrade() -> None:
    pass  # the removed links were never valid, and the shortened text is not kept anywhere
