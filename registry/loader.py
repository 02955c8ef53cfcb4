"""Reading contract files and writing contracts, transactionally and idempotently.

``validate_paths`` checks files without writing. ``load_paths`` validates every file first and writes
nothing if any is bad; otherwise it upserts them all in the caller's transaction. Writing the same
document twice changes nothing; writing an edited one updates the row and records what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update

from registry.backtest import verdict_of
from registry.issues import Issue
from registry.market import repayment_of
from registry.models import ChangeRecord, Contract, ContractParty, OrganisationRow, utcnow
from registry.schema import ContractDocument, document_json, partial_date_start
from registry.terms import check_terms
from registry.yaml_input import MAX_YAML_BYTES, YamlInputError, load_yaml

CONTRACT_SUFFIXES = (".yaml", ".yml", ".json")
SEED_DIR = Path(__file__).resolve().parent.parent / "seed_contracts"


class ContractInputError(Exception):
    """Raised when input is invalid; carries every issue found, and nothing has been written."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus contract files inside named folders (sorted)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in CONTRACT_SUFFIXES and p.is_file()))
        else:
            files.append(path)
    return files


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_issues(error: ValidationError, source: str) -> list[Issue]:
    """One issue per pydantic error; document-level cross-reference errors are split into one per field."""
    issues: list[Issue] = []
    for err in error.errors():
        path = _loc_to_path(tuple(err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        if path:
            issues.append(Issue(source, path, message))
            continue
        for part in message.split("; "):
            sub_path, sep, reason = part.partition(": ")
            issues.append(Issue(source, sub_path, reason) if sep else Issue(source, "", part))
    return issues


def parse_document(data: Any, source: str) -> ContractDocument:
    """Validate a mapping as a contract document, including its payment terms."""
    if not isinstance(data, dict):
        raise ContractInputError([Issue(source, "", "a contract file must hold a mapping at the top level")])
    try:
        doc = ContractDocument.model_validate(data)
    except ValidationError as exc:
        raise ContractInputError(validation_issues(exc, source)) from None
    term_issues = check_terms(doc, source)
    if term_issues:
        raise ContractInputError(term_issues)
    return doc


def read_contract_file(path: str | Path) -> ContractDocument:
    """Read and validate one contract file (YAML or JSON)."""
    path = Path(path)
    source = str(path)
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise ContractInputError([Issue(source, "", f"the file has {path.stat().st_size:,} bytes, more than "
                                                        f"the {MAX_YAML_BYTES:,} bytes a contract file may have")])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractInputError([Issue(source, "", f"cannot read file: {exc}")]) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except YamlInputError as exc:
        raise ContractInputError([Issue(source, "", str(exc))]) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ContractInputError([Issue(source, "", f"not valid JSON: {reason}")]) from None
    doc = parse_document(data, source)
    if path.stem != doc.id:
        raise ContractInputError([Issue(source, "id", f"id {doc.id!r} must equal the file name {path.stem!r}")])
    return doc


def validate_paths(paths: Iterable[str | Path]) -> tuple[list[ContractDocument], list[Issue]]:
    """Read every file; return the valid documents and every issue found (nothing is written)."""
    docs: list[ContractDocument] = []
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    files = expand_paths(paths)
    if not files:
        issues.append(Issue(", ".join(str(p) for p in paths) or "(none)", "", "no contract files found"))
    for file in files:
        try:
            doc = read_contract_file(file)
        except ContractInputError as exc:
            issues.extend(exc.issues)
            continue
        if doc.id in seen:
            issues.append(Issue(str(file), "id", f"duplicate contract id {doc.id!r} (also in {seen[doc.id]})"))
            continue
        seen[doc.id] = str(file)
        docs.append(doc)
    return docs, issues


def content_hash(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def diff_documents(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Field-level differences between two JSON values: ``[{path, old, new}]``."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[dict[str, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            changes.extend(diff_documents(old.get(key), new.get(key), sub))
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        changes = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            changes.extend(diff_documents(a, b, f"{path}[{i}]"))
        return changes
    return [] if old == new else [{"path": path, "old": old, "new": new}]


def _search_text(doc: ContractDocument) -> str:
    names = [doc.identity.names.sv or "", doc.identity.names.en or "", *doc.identity.alternative_names]
    orgs = [o.name for o in doc.organisations]
    parts = [doc.id, doc.indigo_id or "", *names, *orgs, doc.classification.region or "",
             doc.classification.social_challenge or "", doc.classification.intervention or ""]
    return " ".join(p for p in parts if p).lower()


def _index_columns(doc: ContractDocument) -> dict[str, Any]:
    finance = doc.finance
    start = doc.dates.signed or doc.dates.service_start
    committed = finance.capital_committed
    return {
        "origin": doc.origin,
        "indigo_id": doc.indigo_id,
        "name_sv": doc.identity.names.sv,
        "name_en": doc.identity.names.en,
        "country": doc.classification.country,
        "region": doc.classification.region,
        "policy_sector": str(doc.classification.policy_sector),
        "stage": str(doc.stage),
        "currency": finance.currency,
        "capital_committed": committed.amount if committed else None,
        "capital_committed_usd": committed.amount_usd if committed else None,
        "max_outcome_payment": finance.max_outcome_payment.amount if finance.max_outcome_payment else None,
        "start_year": partial_date_start(start).year if start else None,
        "participants_targeted": doc.target_population.targeted_participants if doc.target_population else None,
        "investor_repayment": finance.investor_repayment,
        "has_terms": bool(doc.payment_terms and doc.payment_terms.payments),
        "terms_status": doc.payment_terms.status if doc.payment_terms else None,
        "reproduced": verdict_of(doc),
        "search_text": _search_text(doc),
    }


def _sync_parties(session: Session, doc: ContractDocument, *, new_contract: bool = False,
                  organisations: dict[str, OrganisationRow] | None = None) -> None:
    if not new_contract:  # a contract just created has no party rows yet
        session.exec(delete(ContractParty).where(ContractParty.contract_id == doc.id))  # type: ignore[call-overload]
    for org in doc.organisations:
        # A bulk import passes every organisation row, read in one query; looking each one up here would be a
        # query (and an autoflush) per organisation per contract.
        row = organisations.get(org.id) if organisations is not None else session.get(OrganisationRow, org.id)
        if row is None:
            row = OrganisationRow(id=org.id, name=org.name, type=str(org.type), country=org.country,
                                  indigo_id=org.indigo_id)
            session.add(row)
            if organisations is not None:
                organisations[org.id] = row
        else:
            row.name, row.type = org.name, str(org.type)
            row.country = org.country or row.country
            row.indigo_id = org.indigo_id or row.indigo_id
    seen: set[tuple[str, str]] = set()
    for party in doc.parties:
        org = doc.organisation(party.organisation)
        for role in party.roles:
            key = (party.organisation, str(role))
            if key in seen:
                continue
            seen.add(key)
            session.add(ContractParty(contract_id=doc.id, organisation_id=party.organisation, role=str(role),
                                      organisation_type=str(org.type) if org else "unknown"))


def organisation_rows(session: Session) -> dict[str, OrganisationRow]:
    """Every organisation row by id, in one query (the cache :func:`upsert_contract` takes)."""
    return {row.id: row for row in session.exec(select(OrganisationRow)).all()}


def upsert_contract(
    doc: ContractDocument, *, session: Session, actor: str, origin_ref: str | None = None,
    organisations: dict[str, OrganisationRow] | None = None,
) -> str:
    """Write ``doc``; returns ``"created"``, ``"updated"`` or ``"unchanged"``. Does not commit.

    ``organisations``: every organisation row of the registry by id (see :func:`organisation_rows`), for callers
    that write many contracts; rows this call adds are put into it.
    """
    document = document_json(doc)
    digest = content_hash(document)
    row = session.get(Contract, doc.id)
    if row is not None and row.content_hash == digest:
        # The document is the same, but the back-test's or the repayment classes' code may have changed since.
        verdict, repaid = verdict_of(doc), repayment_of(document).cls
        if (row.reproduced, row.repayment_class) != (verdict, repaid):
            row.reproduced, row.repayment_class = verdict, repaid
            session.flush()
        return "unchanged"
    columns = _index_columns(doc) | {"repayment_class": repayment_of(document).cls}
    now = utcnow()
    if row is None:
        row = Contract(id=doc.id, document=document, content_hash=digest, created_at=now, updated_at=now,
                       updated_by=actor, **columns)
        session.add(row)
        changes: list[dict[str, Any]] = []
        kind = "created"
    else:
        changes = diff_documents(row.document, document)
        row.document = document
        row.content_hash = digest
        row.updated_at = now
        row.updated_by = actor
        for key, value in columns.items():
            setattr(row, key, value)
        kind = "updated"
    session.flush()
    _sync_parties(session, doc, new_contract=kind == "created", organisations=organisations)
    session.add(ChangeRecord(contract_id=doc.id, at=now, actor=actor, kind=kind, origin_ref=origin_ref,
                             changes=changes, content_hash=digest))
    session.flush()
    return kind


class StaleEditError(Exception):
    """An edit was made on a version of the contract that is no longer the stored one; nothing was written.

    ``changes`` are the ChangeRecords written since that version (who, when, which fields), oldest first.
    """

    def __init__(self, contract_id: str, expected_hash: str | None, changes: Sequence[ChangeRecord]) -> None:
        self.contract_id = contract_id
        self.expected_hash = expected_hash
        self.changes = list(changes)
        super().__init__(f"{contract_id}: changed by someone else since version {expected_hash or '(new)'}")


def changes_since(session: Session, contract_id: str, content_hash: str | None) -> list[ChangeRecord]:
    """The ChangeRecords of ``contract_id`` written after the one that produced ``content_hash``.

    When no record produced that version (or it is ``None``), the most recent record is returned alone.
    """
    records = list(session.exec(select(ChangeRecord).where(ChangeRecord.contract_id == contract_id)
                                .order_by(col(ChangeRecord.at), col(ChangeRecord.id))).all())
    for i in range(len(records) - 1, -1, -1):
        if content_hash is not None and records[i].content_hash == content_hash:
            return records[i + 1:]
    return records[-1:]


def save_edit(doc: ContractDocument, *, session: Session, actor: str, expected_hash: str | None,
              origin_ref: str | None = None) -> str:
    """Write an editor's version of ``doc``, made on the stored version ``expected_hash``; does not commit.

    ``expected_hash`` is the content hash the editor was opened on, or ``None`` for a new contract. The
    check and the write are one transaction: a conditional UPDATE takes the row only if it still has that
    hash (and holds it until commit, on SQLite and PostgreSQL alike), so two editors saving at once cannot
    both succeed. Raises :class:`StaleEditError` otherwise; the caller then rolls back.
    """
    if expected_hash is None:
        if session.get(Contract, doc.id) is not None:
            raise StaleEditError(doc.id, None, changes_since(session, doc.id, None))
        try:
            return upsert_contract(doc, session=session, actor=actor, origin_ref=origin_ref)
        except IntegrityError:  # created by someone else between the check and the insert
            session.rollback()
            raise StaleEditError(doc.id, None, changes_since(session, doc.id, None)) from None
    taken = session.exec(update(Contract).where(col(Contract.id) == doc.id,  # type: ignore[call-overload]
                                                col(Contract.content_hash) == expected_hash)
                         .values(content_hash=expected_hash).execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise StaleEditError(doc.id, expected_hash, changes_since(session, doc.id, expected_hash))
    session.get(Contract, doc.id, populate_existing=True)  # the row as it is under the lock just taken
    return upsert_contract(doc, session=session, actor=actor, origin_ref=origin_ref)


def load_documents(
    docs: Sequence[ContractDocument], *, session: Session, actor: str, origin_refs: Sequence[str] | None = None
) -> LoadReport:
    """Upsert many documents in the caller's transaction."""
    report = LoadReport()
    for i, doc in enumerate(docs):
        outcome = upsert_contract(doc, session=session, actor=actor,
                                  origin_ref=origin_refs[i] if origin_refs else None)
        getattr(report, outcome).append(doc.id)
    return report


def load_paths(paths: Iterable[str | Path], *, session: Session, actor: str = "seed") -> LoadReport:
    """Validate every file, then write them all; if any file is bad, raise and write nothing."""
    paths = list(paths)
    docs, issues = validate_paths(paths)
    if issues:
        raise ContractInputError(issues)
    files = {doc.id: str(f) for doc, f in zip(docs, _files_of(docs, paths), strict=True)}
    return load_documents(docs, session=session, actor=actor, origin_refs=[files[d.id] for d in docs])


def _files_of(docs: Sequence[ContractDocument], paths: Sequence[str | Path]) -> list[Path]:
    by_stem = {p.stem: p for p in expand_paths(paths)}
    return [by_stem[doc.id] for doc in docs]


def delete_contract(contract_id: str, *, session: Session, actor: str) -> bool:
    row = session.get(Contract, contract_id)
    if row is None:
        return False
    session.add(ChangeRecord(contract_id=contract_id, actor=actor, kind="deleted", changes=[],
                             content_hash=row.content_hash))
    session.delete(row)
    session.flush()
    return True


def seeded(session: Session) -> bool:
    """Whether any contract is in the registry."""
    return session.exec(select(Contract.id).limit(1)).first() is not None
