"""The import report: counts per entity, values kept as text, rows rejected and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Entity name in the report -> the export table it is read from.
ENTITY_TABLES = {
    "projects": "projects",
    "organisations": "organisations",
    "investments": "projects_investments",
    "outcome_metrics": "projects_outcome_metrics",
    "outcome_pricings": "projects_outcome_pricings",
    "payment_commitments": "projects_outcome_payment_commitments",
    "outcome_payment_plans": "projects_outcome_payment_plans",
    "outcome_payments": "projects_outcome_payments",
    "results": "projects_results",
    "service_provisions": "projects_service_provisions",
    "intermediary_services": "projects_intermediary_services",
    "delivery_locations": "projects_delivery_locations",
    "sources": "projects_sources",
    "documents": "projects_documents",
    "outcome_funds": "projects_outcome_funds",
    "transactions": "projects_transactions",
}


@dataclass
class KeptValue:
    """A cell that could not be mapped to a typed field and is kept verbatim (in a note on the fact)."""

    project: str
    table: str
    field: str
    value: str
    reason: str


@dataclass
class RejectedRow:
    table: str
    line: int  # line number in the file (the header is line 1)
    project: str
    reason: str


@dataclass
class ImportReport:
    source: str
    label: str
    layout: str = ""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    kept_as_text: list[KeptValue] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)  # INDIGO ids feeding a curated contract
    superseded: list[str] = field(default_factory=list)  # INDIGO-origin contracts removed for a curated one
    terms_derived: int = 0
    terms_failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    attribution: str = ""

    def count(self, entity: str, key: str, n: int = 1) -> None:
        bucket = self.counts.setdefault(entity, {"read": 0, "imported": 0, "rejected": 0})
        bucket[key] = bucket.get(key, 0) + n

    def keep(self, project: str, table: str, field_name: str, value: str, reason: str) -> str:
        """Record a value kept as text; returns the note to attach to the fact."""
        self.kept_as_text.append(KeptValue(project, table, field_name, value, reason))
        return f"INDIGO {field_name}: {value!r} ({reason})"

    def reject(self, table: str, line: int, project: str, reason: str) -> None:
        self.rejected.append(RejectedRow(table, line, project, reason))

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.superseded)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_lines(self) -> list[str]:
        lines = [f"INDIGO import of {self.source} (export {self.label}, layout {self.layout})"]
        lines.append(f"  contracts: {len(self.created)} created, {len(self.updated)} updated, "
                     f"{len(self.unchanged)} unchanged; {len(self.linked)} linked to curated contracts"
                     + (f"; {len(self.superseded)} superseded by curated" if self.superseded else ""))
        lines.append(f"  {'entity':<22}{'read':>7}{'imported':>10}{'rejected':>10}")
        for entity, c in self.counts.items():
            lines.append(f"  {entity:<22}{c['read']:>7}{c['imported']:>10}{c['rejected']:>10}")
        lines.append(f"  derived payment terms: {self.terms_derived}"
                     + (f" ({len(self.terms_failed)} could not be derived)" if self.terms_failed else ""))
        lines.append(f"  values kept as text: {len(self.kept_as_text)}")
        by_reason: dict[str, int] = {}
        for kept in self.kept_as_text:
            key = f"{kept.table}.{kept.field}: {kept.reason}"
            by_reason[key] = by_reason.get(key, 0) + 1
        for key, n in sorted(by_reason.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {n:>5} × {key}")
        lines.append(f"  rows rejected: {len(self.rejected)}")
        for row in self.rejected:
            lines.append(f"    {row.table} line {row.line} ({row.project or 'no project'}): {row.reason}")
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.append(f"  {self.attribution}")
        return lines
