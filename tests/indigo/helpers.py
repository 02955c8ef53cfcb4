"""Independent readings of the INDIGO CSVs and of the registry state, to check the importer against."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from registry.indigo.reader import find_table
from registry.models import ChangeRecord, Contract, ContractParty, IndigoRecord, OrganisationRow


def csv_rows(root: Path, table: str) -> list[dict[str, str]]:
    """The rows of a table read with the csv module alone (not the importer's reader)."""
    path = find_table(root, table)
    if path is None:
        return []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def snapshot(session: Session) -> dict[str, Any]:
    """Everything an import may change, in comparable form."""
    session.expire_all()
    return {
        "contracts": {c.id: c.content_hash for c in session.exec(select(Contract)).all()},
        "records": {r.indigo_id: (r.content_hash, r.contract_id, r.export_label)
                    for r in session.exec(select(IndigoRecord)).all()},
        "organisations": {o.id: (o.name, o.type, o.country, o.indigo_id)
                          for o in session.exec(select(OrganisationRow)).all()},
        "parties": len(session.exec(select(ContractParty)).all()),
        "changes": len(session.exec(select(ChangeRecord)).all()),
    }
