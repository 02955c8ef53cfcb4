"""``export_contracts``: the registry out as INDIGO-shaped CSV, JSON documents, or flat CSV/XLSX tables.

- ``indigo-csv``: GO Lab's current file layout (``projects/projects.csv`` ...). A project imported from
  INDIGO is written as the rows it was imported from (so the export re-imports to the same registry); a
  curated contract INDIGO lacks is written from its document, under its registry id.
- ``json``: one document per contract in the shared schema (the display document: curated + INDIGO).
- ``csv`` / ``xlsx``: flat tables for spreadsheet users: contracts, parties, metrics, payments, sources.

Every format carries GO Lab's attribution where INDIGO facts are included.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlmodel import Session, col, select

from registry.indigo.merge import get_display_document
from registry.indigo.reader import PROJECT_TABLES
from registry.indigo.values import ATTRIBUTION, SECTOR_NAMES, STAGE_NAMES
from registry.models import Contract, IndigoRecord
from registry.plain_text import number_text
from registry.schema import ContractDocument, PolicySector, Role, Stage, document_json
from registry.spreadsheet import safe_frame, safe_row

FORMATS = ("indigo-csv", "json", "csv", "xlsx")
TABLE_FILES = {t: Path("projects") / f"{t}.csv" for t in PROJECT_TABLES}
TABLE_FILES["organisations"] = Path("organizations") / "organisations.csv"
TABLE_FILES["funds"] = Path("funds") / "funds.csv"

ORG_TYPE_NAMES = {
    "local_government": "Government body", "regional_government": "Government body",
    "central_government": "Government body", "public_body": "Government body",
    "private_company": "Registered company, partnership or commercial association",
    "financial_institution": "Registered company, partnership or commercial association",
    "non_profit": "Registered non-profit organisation, charity or foundation",
    "foundation": "Registered non-profit organisation, charity or foundation",
    "individual": "Individual",
}


@dataclass
class ExportResult:
    format: str
    path: Path
    contracts: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def _selected(session: Session, contract_ids: Sequence[str] | None) -> list[str]:
    if contract_ids:
        missing = [c for c in contract_ids if session.get(Contract, c) is None]
        if missing:
            raise ValueError(f"no contract with id {', '.join(repr(m) for m in missing)}")
        return list(dict.fromkeys(contract_ids))
    return list(session.exec(select(Contract.id).order_by(col(Contract.id))).all())


def attributions(doc: ContractDocument) -> list[str]:
    """The attributions a document's sources require (GO Lab's for INDIGO facts)."""
    return list(dict.fromkeys(s.attribution for s in doc.sources if s.attribution))


def export_contracts(*, session: Session, fmt: str, path: str | Path,
                     contract_ids: Sequence[str] | None = None) -> ExportResult:
    """Write the selected contracts (default: all) in ``fmt`` to ``path`` (a folder, or a file for xlsx/json)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    ids = _selected(session, contract_ids)
    target = Path(path)
    result = ExportResult(fmt, target, ids)
    if fmt == "indigo-csv":
        _indigo_csv(session, ids, target, result)
        return result
    docs = [d for d in (get_display_document(session=session, contract_id=i) for i in ids) if d is not None]
    if fmt == "json":
        _json(docs, target, result)
    else:
        tables = flat_tables(docs)
        if fmt == "csv":
            target.mkdir(parents=True, exist_ok=True)
            for name, frame in tables.items():
                file = target / f"{name}.csv"
                safe_frame(frame).to_csv(file, index=False, encoding="utf-8")
                result.files.append(file)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            with pd.ExcelWriter(target, engine="openpyxl") as writer:
                for name, frame in tables.items():
                    safe_frame(frame).to_excel(writer, sheet_name=name, index=False)
                about = pd.DataFrame({"about": [
                    "Exported from the utfall registry of social outcomes contracts.",
                    "Rows whose attribution column is filled include data from the INDIGO Impact Bond Dataset.",
                    ATTRIBUTION]})
                about.to_excel(writer, sheet_name="about", index=False)
            result.files.append(target)
    return result


def _json(docs: list[ContractDocument], target: Path, result: ExportResult) -> None:
    if target.suffix == ".json":
        target.parent.mkdir(parents=True, exist_ok=True)
        data: Any = document_json(docs[0]) if len(docs) == 1 else [document_json(d) for d in docs]
        target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        result.files.append(target)
        return
    target.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        file = target / f"{doc.id}.json"
        file.write_text(json.dumps(document_json(doc), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        result.files.append(file)
    if any(attributions(d) for d in docs):
        note = target / "ATTRIBUTION.txt"
        note.write_text(_attribution_text(), encoding="utf-8")
        result.files.append(note)


def _attribution_text() -> str:
    return ("Facts whose sources carry an attribution come from the INDIGO Impact Bond Dataset.\n"
            f"{ATTRIBUTION}\n")


# -- flat tables ---------------------------------------------------------------------------------------

def _num(value: Any) -> str:
    return number_text(value) if value is not None else ""


def flat_tables(docs: Iterable[ContractDocument]) -> dict[str, pd.DataFrame]:
    """One row per contract, plus parties, metrics, payments and sources, for spreadsheets."""
    contracts, parties, metrics, payments, sources = [], [], [], [], []
    for doc in docs:
        attr = " | ".join(attributions(doc))
        f = doc.finance
        cap = f.capital_committed
        disputed = [p for p, fact in doc.iter_facts() if fact.alternatives]
        tp = doc.target_population
        contracts.append({
            "id": doc.id, "indigo_id": doc.indigo_id or "", "origin": doc.origin,
            "name_en": doc.identity.names.en or "",
            "name_sv": doc.identity.names.sv or "", "country": doc.classification.country,
            "region": doc.classification.region or "", "policy_sector": str(doc.classification.policy_sector),
            "stage": str(doc.stage), "signed": doc.dates.signed or "", "service_start": doc.dates.service_start or "",
            "service_end": doc.dates.service_end or "", "actual_completion": doc.dates.actual_completion or "",
            "currency": f.currency, "capital_committed": _num(cap.amount if cap else None),
            "capital_bound": cap.bound if cap else "", "capital_committed_usd": _num(cap.amount_usd if cap else None),
            "max_outcome_payment": _num(f.max_outcome_payment.amount if f.max_outcome_payment else None),
            "total_outcome_payments_made": _num(f.total_outcome_payments_made.amount
                                                if f.total_outcome_payments_made else None),
            "target_irr": _num(f.target_irr.value if f.target_irr else None),
            "investor_repayment": f.investor_repayment or "",
            "targeted_participants": tp.targeted_participants if tp and tp.targeted_participants is not None else "",
            "actual_participants": tp.actual_participants if tp and tp.actual_participants is not None else "",
            "terms_status": doc.payment_terms.status if doc.payment_terms else "",
            "disputed_facts": "; ".join(disputed), "sources": len(doc.sources), "attribution": attr,
        })
        for party in doc.parties:
            org = doc.organisation(party.organisation)
            parties.append({"contract_id": doc.id, "organisation_id": party.organisation,
                            "organisation_name": org.name if org else "",
                            "organisation_type": str(org.type) if org else "",
                            "indigo_org_id": (org.indigo_id or "") if org else "",
                            "roles": "; ".join(str(r) for r in party.roles), "description": party.description or "",
                            "attribution": attr})
        for m in doc.outcome_metrics:
            metrics.append({"contract_id": doc.id, "metric_id": m.id, "name": m.name.get("en"), "kind": str(m.kind),
                            "unit": m.unit or "", "measurement": str(m.measurement),
                            "targets": "; ".join(_num(t.value) for t in m.targets),
                            "payment_relevant": m.payment_relevant, "attribution": attr})
        for p in doc.history.payments if doc.history else []:
            payments.append({"contract_id": doc.id, "kind": "realised", "date": p.date or "", "payer": p.payer or "",
                             "payee": p.payee or "", "component": str(p.component or ""),
                             "amount": _num(p.amount), "currency": p.currency, "description": p.description or "",
                             "attribution": attr})
        if doc.payment_terms:
            for rule in doc.payment_terms.payments:
                payments.append({"contract_id": doc.id, "kind": f"terms ({doc.payment_terms.status})", "date": "",
                                 "payer": rule.payer, "payee": rule.payee, "component": str(rule.component),
                                 "amount": rule.amount, "currency": f.currency, "description": rule.description or "",
                                 "attribution": attr})
        for s in doc.sources:
            sources.append({"contract_id": doc.id, "source_id": s.id, "title": s.title, "publisher": s.publisher or "",
                            "date": s.date or "", "url": s.url or "", "attribution": s.attribution or ""})
    columns = {
        "contracts": ["id"], "parties": ["contract_id"], "metrics": ["contract_id"], "payments": ["contract_id"],
        "sources": ["contract_id"],
    }
    data = {"contracts": contracts, "parties": parties, "metrics": metrics, "payments": payments, "sources": sources}
    return {name: pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns[name]) for name, rows in data.items()}


# -- INDIGO-shaped CSV ---------------------------------------------------------------------------------

def _indigo_csv(session: Session, ids: list[str], target: Path, result: ExportResult) -> None:
    tables: dict[str, list[dict[str, str]]] = {t: [] for t in TABLE_FILES}
    seen_orgs: set[str] = set()
    seen_funds: set[str] = set()
    records = {r.contract_id: r for r in session.exec(select(IndigoRecord)).all()}
    imported, generated = [], []
    for cid in ids:
        row = session.get(Contract, cid)
        assert row is not None
        record = records.get(cid) if row.origin == "curated" else session.get(IndigoRecord, row.indigo_id or "")
        if record is not None and (row.origin == "curated" or record.document == row.document):
            imported.append(record.raw)
        else:
            generated.append(document_rows(ContractDocument.model_validate(row.document)))
    # rows as imported first, so an organisation keeps the row INDIGO gave it
    for raw in imported + generated:
        for table, rows in raw.items():
            for r in rows:
                if table == "organisations":
                    if r.get("ID") in seen_orgs:
                        continue
                    seen_orgs.add(r.get("ID", ""))
                if table == "funds":
                    if r.get("ID") in seen_funds:
                        continue
                    seen_funds.add(r.get("ID", ""))
                tables.setdefault(table, []).append(r)
    for table, rows in tables.items():
        file = target / TABLE_FILES[table]
        file.parent.mkdir(parents=True, exist_ok=True)
        header: list[str] = list(dict.fromkeys(k for r in rows for k in r)) or _default_header(table)
        with file.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            for r in rows:
                writer.writerow(safe_row({k: r.get(k, "") for k in header}))
        result.files.append(file)
    readme = target / "README.txt"
    readme.write_text(
        "INDIGO-shaped export of the utfall registry, in GO Lab's file layout (projects/, organizations/, funds/).\n"
        "Projects imported from INDIGO are written as imported; curated contracts that INDIGO lacks carry their\n"
        "registry id in the ID column.\n" + _attribution_text(), encoding="utf-8")
    result.files.append(readme)


def _default_header(table: str) -> list[str]:
    return ["ID"] if table in {"projects", "organisations", "funds"} else ["Project ID"]


def document_rows(doc: ContractDocument) -> dict[str, list[dict[str, str]]]:
    """A contract document as INDIGO export rows (for contracts not imported from INDIGO)."""
    pid = doc.id if doc.origin == "curated" or not doc.indigo_id else doc.indigo_id
    return {"projects": [_project_row(doc, pid)], **_child_rows(doc, pid)}


def _project_row(doc: ContractDocument, pid: str) -> dict[str, str]:
    """The contract's row of the projects table."""
    f = doc.finance
    cap = f.capital_committed
    mop = f.max_outcome_payment
    paid = f.total_outcome_payments_made
    tp = doc.target_population
    source_ids = {s.id for s in doc.sources}

    def cites(fact: Any) -> str:
        return ",".join(s for s in (fact.sources if fact else []) if s in source_ids)

    project = {
        "ID": pid,
        "Impact Bond Name - (Value)": doc.identity.names.en or doc.identity.names.sv or "",
        "Alternative Names - (Value)": ", ".join(([doc.identity.names.sv] if doc.identity.names.sv and
                                                  doc.identity.names.en else []) + doc.identity.alternative_names),
        "Stage of Development - (Value)": STAGE_NAMES.get(Stage(doc.stage), ""),
        "Stage of Development - (Source ID's)": cites(doc.stage_provenance),
        "Dates - Date outcomes contract signed - (Value)": doc.dates.signed or "",
        "Dates - Anticipated completion date - (Value)": doc.dates.anticipated_completion or "",
        "Dates - Actual completion date - (Value)": doc.dates.actual_completion or "",
        "Dates - Start date of service provision - (Value)": doc.dates.service_start or "",
        "Dates - Actual end date of service provision - (Value)": doc.dates.service_end or "",
        "Dates - (Source ID's)": cites(doc.dates),
        "Overall project finance - Total investment commitment - Currency - (Value)": f.currency,
        "Overall project finance - Maximum potential outcome payment - Currency - (Value)":
            (mop.currency or f.currency) if mop else "",
        "Overall project finance - Maximum potential outcome payment - Amount - (Value)":
            _num(mop.amount if mop else None),
        "Overall project finance - Maximum potential loss - (Value)": f.max_potential_loss or "",
        "Overall project finance - Investor repayment - (Value)": f.investor_repayment or "",
        "Overall project finance - Total outcome payments made - Currency - (Value)": (paid.currency or f.currency)
        if paid else "",
        "Overall project finance - Total outcome payments made - Amount - (Value)": _num(paid.amount if paid else None),
        "Overall project finance - (Source ID's)": cites(cap or mop),
        "Purpose and classifications - Social challenge - (Value)": doc.classification.social_challenge or "",
        "Purpose and classifications - Intervention - (Value)": doc.classification.intervention or "",
        "Purpose and classifications - Policy sector - (Value)":
            SECTOR_NAMES.get(PolicySector(doc.classification.policy_sector), ""),
        "Purpose and classifications - (Source ID's)": cites(doc.classification),
        "Service and beneficiaries - Target population - (Value)":
            (tp.description.get("en") if tp and tp.description else ""),
        "Service and beneficiaries - Targeted number of unique service users or beneficiaries (total) - (Value)":
            str(tp.targeted_participants) if tp and tp.targeted_participants is not None else "",
        "Service and beneficiaries - Actual number of unique service users or beneficiaries engaged (total) - (Value)":
            str(tp.actual_participants) if tp and tp.actual_participants is not None else "",
        "Service and beneficiaries - (Source ID's)": cites(tp),
        "Notes - (Value)": f"Exported from the utfall registry ({doc.origin} contract {doc.id}"
                           + (f", INDIGO id {doc.indigo_id}" if doc.indigo_id else "") + ").",
    }
    if cap:
        bound = cap.bound.capitalize()
        column = f"Overall project finance - Total investment commitment - Amount - {bound} - (Value)"
        project[column] = _num(cap.amount)
        project[f"Overall project finance - Total investment commitment - Amount USD - {bound} - (Value)"] = \
            _num(cap.amount_usd)
    return project


def _child_rows(doc: ContractDocument, pid: str) -> dict[str, list[dict[str, str]]]:
    """The rows the contract has in each of the other tables: organisations, investments, parties, metrics..."""
    f = doc.finance
    rows: dict[str, list[dict[str, str]]] = {}

    def org_ref(slug: str) -> str:
        org = doc.organisation(slug)
        return (org.indigo_id or slug) if org else slug

    rows["organisations"] = [{"ID": o.indigo_id or o.id, "Name": o.name, "Type - (Value)": ORG_TYPE_NAMES.get(
        str(o.type), ""), "Website": o.website or "", "Country": o.country or ""} for o in doc.organisations]
    rows["projects_investments"] = [{
        "Project ID": pid, "Id": inv.id, "Organisation ID - (Value)": org_ref(inv.investor),
        "Investment Commitment - Currency - (Value)": (inv.committed.currency or f.currency) if inv.committed else "",
        f"Investment Commitment - Amount - {inv.amount_bound.capitalize()} - (Value)":
            _num(inv.committed.amount if inv.committed else None),
        "Investment Type - (Value)": str(inv.tranche), "Notes": inv.description or "",
    } for inv in doc.investments]
    role_tables = ((Role.OUTCOME_PAYER, "projects_outcome_payment_commitments"),
                   (Role.PROVIDER, "projects_service_provisions"),
                   (Role.INTERMEDIARY, "projects_intermediary_services"))
    for role, table in role_tables:
        rows[table] = [{"Project ID": pid, "Organisation ID - (Value)": org_ref(p.organisation),
                        "Notes": p.description or ""} for p in doc.parties if role in p.roles]
    rows["projects_outcome_metrics"] = [{
        "Project ID": pid, "Id": m.id, "Outcome Definition - (Value)": m.definition or m.name.get("en"),
        "Targeted number of service users Or beneficiaries (total) - (Value)":
            _num(m.targets[0].value) if m.targets else "",
    } for m in doc.outcome_metrics]
    rows["projects_delivery_locations"] = [{"Project ID": pid, "Location - Name - (Value)": doc.classification.region
                                            or "", "Location - Country - (Value)": doc.classification.country}]
    rows["projects_sources"] = [{"Project ID": pid, "Id": s.id, "Name - (Value)": s.title,
                                 "Publishing Organisations - (Value)": s.publisher or "", "URL - (Value)": s.url or "",
                                 "Publication Date - (Value)": s.date or "",
                                 "Accessed Date - (Value)": s.accessed or ""}
                                for s in doc.sources]
    rows["projects_outcome_payments"] = [{
        "Project ID": pid, "Period - End - (Value)": p.date or "", "Payer Organisation ID - (Value)":
            org_ref(p.payer) if p.payer else "",
        "Recipient Organisation ID - (Value)": org_ref(p.payee) if p.payee else "",
        "Type - (Value)": "Actual", "Payments - Currency - (Value)": p.currency,
        "Payments - Amount - (Value)": _num(p.amount),
    } for p in (doc.history.payments if doc.history else [])]
    return rows
