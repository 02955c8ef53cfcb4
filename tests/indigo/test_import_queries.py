"""An INDIGO import reads the registry's organisations once, not once per organisation per contract."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session, func, select

from registry.indigo.importer import import_export
from registry.models import ContractParty, OrganisationRow

ORGANISATION_READ = re.compile(r"^\s*SELECT\b.*\bFROM\s+organisation\b", re.IGNORECASE | re.DOTALL)


def statements_during(engine: Engine, work: Any) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_organisations_are_read_in_one_query_per_import(session: Session, engine: Engine, sample_12: Path) -> None:
    statements = statements_during(engine, lambda: import_export(sample_12, session=session))
    session.commit()
    organisation_reads = [s for s in statements if ORGANISATION_READ.match(s)]
    assert len(organisation_reads) == 1, organisation_reads
    # ... and every party still points at its organisation row.
    parties = session.exec(select(func.count()).select_from(ContractParty)).one()
    assert parties > 20
    orphans = session.exec(select(func.count()).select_from(ContractParty).where(
        ContractParty.organisation_id.not_in(select(OrganisationRow.id)))).one()  # type: ignore[attr-defined]
    assert orphans == 0

    again = statements_during(engine, lambda: import_export(sample_12, session=session))
    assert len([s for s in again if ORGANISATION_READ.match(s)]) == 1
