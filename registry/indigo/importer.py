"""``import_export``: an INDIGO export into the registry, in the caller's transaction.

Every project becomes an :class:`~registry.models.IndigoRecord` (its mapped document and raw rows). A project
that is not a curated contract is also written as an INDIGO-origin contract with
:func:`registry.loader.upsert_contract` (a ChangeRecord per change, actor ``indigo:<export label>``); a
project whose INDIGO id belongs to a curated contract is linked to it instead (see ``merge.py``).
Organisations are written as shared :class:`~registry.models.OrganisationRow` rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from registry.indigo.derive import derive_terms
from registry.indigo.mapping import PROJECT_ID, ProjectMapper, ProjectRows, organisation_index
from registry.indigo.reader import (
    PROJECT_TABLES,
    IndigoExport,
    IndigoReadError,
    IndigoShapeError,
    check_shape,
    read_export,
)
from registry.indigo.report import ENTITY_TABLES, ImportReport
from registry.indigo.values import ATTRIBUTION, clean, slug_of
from registry.loader import (
    content_hash,
    delete_contract,
    document_json,
    organisation_rows,
    upsert_contract,
    validation_issues,
)
from registry.models import Contract, ContractParty, ImportRun, IndigoRecord, OrganisationRow, utcnow
from registry.schema import ContractDocument
from registry.terms import check_terms

Progress = Callable[[int, int, str], None]
"""Called after each project with (done, total, INDIGO id)."""

ROLE_TABLES = ("projects_investments", "projects_outcome_payment_commitments", "projects_service_provisions",
               "projects_intermediary_services")
ENTITY_OF_TABLE = {table: entity for entity, table in ENTITY_TABLES.items()}
ORG_ID = re.compile(r"^INDIGO-ORG-\d+$")
STORED_ONLY = ("projects_outcome_pricings", "projects_outcome_payment_plans", "projects_transactions")
MAX_SHRINK = 0.1
"""The share of INDIGO contracts, contract names or parties an import may lose without ``allow_shrink``."""


class ShrinkError(IndigoReadError):
    """An import would lose more of the registry's INDIGO data than :data:`MAX_SHRINK`; it was rolled back."""


def indigo_measures(session: Session) -> dict[str, int]:
    """What an import must not lose silently: projects held, INDIGO contracts with a name, and their parties.

    A contract whose name is its INDIGO id has no name (the mapping shows the id when the export has none).
    """
    contracts = session.exec(select(Contract.indigo_id, Contract.name_en).where(Contract.origin == "indigo")).all()
    parties = session.exec(select(ContractParty.contract_id).join(Contract, col(Contract.id) ==
                                                                  col(ContractParty.contract_id))
                           .where(Contract.origin == "indigo")).all()
    return {"contracts": len(session.exec(select(IndigoRecord.indigo_id)).all()),
            "names": sum(1 for indigo_id, name in contracts if name and name != indigo_id),
            "parties": len(parties)}


def shrink_problems(before: dict[str, int], after: dict[str, int], exported: int, limit: float) -> list[str]:
    """Each measure that fell by more than ``limit`` (a share), as a sentence; ``exported`` = projects listed."""
    problems = []
    if before["contracts"] and exported < before["contracts"] * (1 - limit):
        problems.append(f"the export lists {exported} projects; the registry holds {before['contracts']} from "
                        "earlier imports")
    for key, what in (("names", "INDIGO contracts with a name"), ("parties", "parties of INDIGO contracts")):
        if before[key] and after[key] < before[key] * (1 - limit):
            problems.append(f"{what}: {before[key]} before, {after[key]} after this import")
    return problems


def export_label(path: Path) -> str:
    """A label for an export: its folder name (``2025-12``), or the parent's for a nested layout folder."""
    name = path.resolve().name
    if name in {"all-data-by-type", "projects", "raw"}:
        name = path.resolve().parent.name
    return name[:80]


def curated_links(session: Session) -> dict[str, str]:
    """INDIGO id -> curated contract id, for curated contracts that carry an INDIGO id."""
    rows = session.exec(select(Contract.indigo_id, Contract.id).where(
        Contract.origin == "curated", col(Contract.indigo_id).is_not(None))).all()
    return {indigo_id: cid for indigo_id, cid in sorted(rows, key=lambda r: r[1]) if indigo_id}


def _group(export: IndigoExport, report: ImportReport, projects: set[str]) -> dict[str, dict[str, list]]:
    grouped: dict[str, dict[str, list]] = {pid: {} for pid in projects}
    for table in PROJECT_TABLES:
        if table == "projects":
            continue
        entity = ENTITY_OF_TABLE.get(table)
        for i, row in enumerate(export.rows(table)):
            pid = clean(row.get("Project ID", ""))
            if pid not in grouped:
                report.reject(table, i + 2, pid, "project id not in the projects table" if pid else "no project id")
                if entity:
                    report.count(entity, "rejected")
                continue
            grouped[pid].setdefault(table, []).append((i + 2, row))
    return grouped


def _upsert_organisations(session: Session, export: IndigoExport, report: ImportReport,
                          index: dict[str, Any]) -> dict[str, OrganisationRow]:
    """Write the export's organisations; returns every organisation row of the registry by id (one query)."""
    existing = organisation_rows(session)
    seen: set[str] = set()
    for i, row in enumerate(export.rows("organisations")):
        oid = clean(row.get("ID", ""))
        if not oid:
            report.reject("organisations", i + 2, "", "organisation without an id")
            report.count("organisations", "rejected")
            continue
        if not ORG_ID.match(oid):
            report.reject("organisations", i + 2, "", f"not an INDIGO organisation id: {oid!r} (registry "
                                                      "organisations are not overwritten by an import)")
            report.count("organisations", "rejected")
            continue
        if oid in seen:
            report.reject("organisations", i + 2, "", f"duplicate organisation id {oid}")
            report.count("organisations", "rejected")
            continue
        seen.add(oid)
        info = index[oid]
        slug = slug_of(oid)
        current = existing.get(slug)
        if current is None:
            existing[slug] = OrganisationRow(id=slug, name=info.name, type=info.type, country=info.country,
                                             indigo_id=oid)
            session.add(existing[slug])
        elif (current.name, current.type, current.country, current.indigo_id) != (info.name, info.type, info.country,
                                                                                  oid):
            current.name, current.type, current.country, current.indigo_id = info.name, info.type, info.country, oid
        report.count("organisations", "imported")
    return existing


def import_export(path: str | Path, *, session: Session, label: str | None = None,
                  progress: Progress | None = None, allow_shrink: bool = False,
                  max_shrink: float = MAX_SHRINK) -> ImportReport:
    """Import an INDIGO export folder (either layout) into the registry; does not commit.

    Idempotent: importing the same export again changes nothing. Raises
    :class:`~registry.indigo.reader.IndigoShapeError` (a subclass of ``IndigoReadError``) before writing
    anything if the export lacks a required file or column or has damaged rows or text, and
    :class:`ShrinkError` if the import would lose more than ``max_shrink`` of the registry's INDIGO projects,
    named contracts or parties (unless ``allow_shrink``); the caller then rolls back, and nothing is written.
    """
    started = utcnow()
    root = Path(path)
    export = read_export(root)
    problems = check_shape(export)
    if problems:
        raise IndigoShapeError(problems)
    before = indigo_measures(session)
    label = label or export_label(root)
    actor = f"indigo:{label}"
    report = ImportReport(source=str(root), label=label, layout=export.layout, attribution=ATTRIBUTION)
    report.notes.extend(export.notes)
    for entity, table in ENTITY_TABLES.items():
        report.counts[entity] = {"read": len(export.rows(table)), "imported": 0, "rejected": 0}

    curated = curated_links(session)
    curated_ids = set(session.exec(select(Contract.id).where(Contract.origin == "curated")).all())
    projects = _project_rows(export, report, curated_ids)
    grouped = _group(export, report, set(projects))
    role_rows = [row for table in ROLE_TABLES for row in export.rows(table)]
    orgs = organisation_index(export.rows("organisations"), role_rows)
    funds = {clean(r.get("ID", "")): clean(r.get("Fund - Name", "")) for r in export.rows("funds") if r.get("ID")}
    fund_rows = {clean(r.get("ID", "")): r for r in export.rows("funds")}
    organisations = _upsert_organisations(session, export, report, orgs)
    session.flush()

    records = {r.indigo_id: r for r in session.exec(select(IndigoRecord)).all()}
    total = len(projects)
    for done, pid in enumerate(sorted(projects), start=1):
        line, row = projects[pid]
        children = grouped[pid]
        prows = ProjectRows(row, line, children)
        mapper = ProjectMapper(prows, orgs, funds, report)
        data = mapper.document()
        if data is not None:
            doc = _validated(data, prows, report, pid, line)
        else:
            doc = None
        if doc is None:
            _reject_with_children(report, pid, children)
            if progress:
                progress(done, total, pid)
            continue
        report.count("projects", "imported")
        for table in STORED_ONLY:
            report.count(ENTITY_OF_TABLE[table], "imported", len(children.get(table, [])))
        _keep_record(session, records.get(pid), pid, curated.get(pid, doc.id), label, document_json(doc),
                     _raw(row, children, orgs, mapper, fund_rows))
        if pid in curated:
            report.linked.append(pid)
            if session.get(Contract, doc.id) is not None:  # imported before the curated contract was seeded
                delete_contract(doc.id, session=session, actor=actor)
                report.superseded.append(doc.id)
        else:
            outcome = upsert_contract(doc, session=session, actor=actor, origin_ref=str(root),
                                      organisations=organisations)
            getattr(report, outcome).append(doc.id)
        if progress:
            progress(done, total, pid)
    session.flush()
    if not allow_shrink:
        shrunk = shrink_problems(before, indigo_measures(session), len(projects), max_shrink)
        if shrunk:
            raise ShrinkError(f"{root}: this import would lose more than {max_shrink:.0%} of what the registry "
                              "holds from INDIGO, so nothing was imported:\n" + "\n".join(f"  {p}" for p in shrunk)
                              + "\nCheck the export; if the loss is meant, import again with --allow-shrink.")
    session.add(ImportRun(importer="indigo", source=str(root), label=label, started_at=started,
                          finished_at=utcnow(), status="success", report=_jsonable(report.as_dict())))
    session.flush()
    return report


def _project_rows(export: IndigoExport, report: ImportReport,
                  curated_ids: set[str]) -> dict[str, tuple[int, dict[str, str]]]:
    """The export's projects to import, by id, with their line; curated, malformed and repeated ids rejected."""
    projects: dict[str, tuple[int, dict[str, str]]] = {}
    for i, row in enumerate(export.rows("projects")):
        pid = clean(row.get("ID", ""))
        if pid in curated_ids:
            report.reject("projects", i + 2, pid, "a curated contract of this registry (as utfall exports it); "
                                                  "curated facts are not overwritten by an import")
            report.count("projects", "rejected")
        elif not PROJECT_ID.match(pid):
            report.reject("projects", i + 2, pid, f"not an INDIGO project id: {pid!r}")
            report.count("projects", "rejected")
        elif pid in projects:
            report.reject("projects", i + 2, pid, "project listed twice; the first row is used")
            report.count("projects", "rejected")
        else:
            projects[pid] = (i + 2, row)
    return projects


def _reject_with_children(report: ImportReport, pid: str, children: dict[str, list]) -> None:
    """A rejected project takes its child rows with it, each reported."""
    report.count("projects", "rejected")
    for table, rows in children.items():
        entity = ENTITY_OF_TABLE.get(table)
        for child_line, _ in rows:
            report.reject(table, child_line, pid, "its project was rejected")
            if entity:
                report.count(entity, "rejected")


def _keep_record(session: Session, record: IndigoRecord | None, pid: str, contract_id: str, label: str,
                 document: dict[str, Any], raw: dict[str, Any]) -> None:
    """Store what INDIGO says of a project (its document and raw rows), touching the record only if it changed."""
    digest = content_hash({"document": document, "raw": raw})
    now = utcnow()
    if record is None:
        session.add(IndigoRecord(indigo_id=pid, contract_id=contract_id, export_label=label, document=document,
                                 raw=raw, content_hash=digest, imported_at=now, updated_at=now))
    elif record.content_hash != digest or record.contract_id != contract_id:
        record.document, record.raw, record.content_hash = document, raw, digest
        record.contract_id, record.export_label, record.updated_at = contract_id, label, now


def _validated(data: dict[str, Any], prows: ProjectRows, report: ImportReport, pid: str,
               line: int) -> ContractDocument | None:
    terms, extra_metrics, extra_orgs, extra_investments = derive_terms(data, prows)
    with_terms = {**data, "payment_terms": terms,
                  "outcome_metrics": data.get("outcome_metrics", []) + extra_metrics,
                  "organisations": data.get("organisations", []) + extra_orgs,
                  "investments": data.get("investments", []) + extra_investments}
    try:
        doc = ContractDocument.model_validate(with_terms)
    except ValidationError as exc:
        try:
            doc = ContractDocument.model_validate(data)
        except ValidationError:
            issues = "; ".join(str(i) for i in validation_issues(exc, pid))
            report.reject("projects", line, pid, f"does not fit the contract schema: {issues}")
            return None
        report.terms_failed.append(f"{pid}: {exc.errors()[0]['msg']}")
        return doc
    issues = check_terms(doc, pid)
    if issues:
        report.terms_failed.append(f"{pid}: " + "; ".join(f"{i.path}: {i.reason}" for i in issues))
        return ContractDocument.model_validate(data)
    report.terms_derived += 1
    return doc


def _raw(row: dict[str, str], children: dict[str, list], orgs: dict[str, Any], mapper: ProjectMapper,
         fund_rows: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The project's rows as exported (for the INDIGO-shaped export), with the organisations and funds it cites."""
    raw: dict[str, Any] = {"projects": [row]}
    for table, rows in sorted(children.items()):
        raw[table] = [r for _, r in rows]
    org_ids = sorted({o["indigo_id"] for o in mapper.used_orgs.values() if o.get("indigo_id")} | mapper.cited_orgs)
    raw["organisations"] = [orgs[o].row for o in org_ids if o in orgs]
    fund_ids = [clean(r.get("Id", "")) for r in raw.get("projects_outcome_funds", [])]
    raw["funds"] = [fund_rows[f] for f in fund_ids if f in fund_rows]
    return raw


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def reconcile_curated(*, session: Session, actor: str = "indigo:reconcile") -> list[str]:
    """Remove INDIGO-origin contracts whose project is now a curated contract, and relink their records.

    Call after seeding curated contracts into a registry that already holds an INDIGO import.
    """
    curated = curated_links(session)
    removed = []
    for record in session.exec(select(IndigoRecord).where(col(IndigoRecord.indigo_id).in_(list(curated)))).all():
        record.contract_id = curated[record.indigo_id]
        slug = slug_of(record.indigo_id)
        if session.get(Contract, slug) is not None and delete_contract(slug, session=session, actor=actor):
            removed.append(slug)
    session.flush()
    return removed


