"""Stored reference-table rows (``utfall rates refresh``): each overrides the shipped row of the same table,
currency and year. Validation and meaning live in :mod:`registry.reference_rates`; this module only stores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session, col, select

from registry.models import ReferenceRate, utcnow


def stored_rows(*, session: Session) -> Sequence[ReferenceRate]:
    """Every stored row, by table, currency and year."""
    return session.exec(select(ReferenceRate).order_by(
        col(ReferenceRate.table_name), col(ReferenceRate.currency), col(ReferenceRate.year))).all()


def upsert_rows(table_name: str, rows: Sequence[Mapping[str, Any]], *, source: str, session: Session) -> int:
    """Store validated rows (each with ``currency`` and ``year``) in the caller's transaction, replacing a stored
    row of the same table, currency and year; returns how many."""
    for row in rows:
        key = (table_name, str(row["currency"]), int(row["year"]))
        existing = session.get(ReferenceRate, key)
        if existing is None:
            existing = ReferenceRate(table_name=key[0], currency=key[1], year=key[2], row=dict(row),
                                     loaded_from=source[:300])
        else:
            existing.row, existing.loaded_from, existing.loaded_at = dict(row), source[:300], utcnow()
        session.add(existing)
    session.flush()
    return len(rows)
