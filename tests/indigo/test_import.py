"""The INDIGO import: counts checked against the CSVs, idempotence, updates between exports, one transaction."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry import db
from registry.indigo import BUNDLED_EXPORT
from registry.indigo.importer import import_export
from registry.indigo.mapping import PROJECT_ID
from registry.indigo.reader import IndigoReadError
from registry.indigo.report import ENTITY_TABLES
from registry.indigo.values import ATTRIBUTION
from registry.models import ChangeRecord, Contract, ImportRun, IndigoRecord
from registry.schema import ContractDocument
from registry.services.contracts import get_contract
from tests.indigo.helpers import csv_rows, snapshot


def expected_counts(root: Path) -> dict[str, dict[str, int]]:
    """Read / imported / rejected per entity, computed from the CSVs alone."""
    projects = {r["ID"].strip() for r in csv_rows(root, "projects") if PROJECT_ID.match(r["ID"].strip())}
    out = {}
    for entity, table in ENTITY_TABLES.items():
        rows = csv_rows(root, table)
        if table == "projects":
            ok = [r for r in rows if PROJECT_ID.match(r["ID"].strip())]
        elif table == "organisations":
            ok = [r for r in rows if r["ID"].strip()]
        else:
            ok = [r for r in rows if r["Project ID"].strip() in projects]
            if table == "projects_sources":  # a row with nothing but its project id is rejected
                ok = [r for r in ok if any(v.strip() for k, v in r.items() if k != "Project ID")]
        out[entity] = {"read": len(rows), "imported": len(ok), "rejected": len(rows) - len(ok)}
    return out


def test_counts_match_the_csvs_and_reimport_changes_nothing(session: Session, export_12: Path) -> None:
    report = import_export(export_12, session=session)
    session.commit()
    assert report.counts == expected_counts(export_12)
    projects = csv_rows(export_12, "projects")
    assert len(report.created) == len(projects) and not report.updated
    assert sum(1 for r in report.rejected if r.table == "projects") == 0
    assert len(report.rejected) == sum(c["rejected"] for c in report.counts.values())
    assert report.terms_derived == len(projects) and not report.terms_failed
    assert session.exec(select(ImportRun)).one().report["counts"] == report.counts
    # every INDIGO organisation is a shared organisation row (besides organisations the projects name but the
    # organisations table lacks, and stand-ins for parties INDIGO does not name)
    orgs = snapshot(session)["organisations"]
    assert len([o for o in orgs.values() if o[3]]) == report.counts["organisations"]["imported"]
    before = snapshot(session)
    again = import_export(export_12, session=session)
    session.commit()
    assert len(again.unchanged) == len(projects) and not (again.created or again.updated)
    assert snapshot(session) == before


def test_norrkoping_mapping(session: Session, sample_12: Path) -> None:
    report = import_export(sample_12, session=session)
    doc = get_contract(session=session, contract_id="indigo-poj-0077")
    assert doc is not None and doc.origin == "indigo" and doc.indigo_id == "INDIGO-POJ-0077"
    assert doc.classification.country == "SE" and doc.classification.policy_sector == "education"
    assert doc.stage == "implementation"
    assert doc.finance.currency == "SEK"
    cap = doc.finance.capital_committed
    assert cap is not None and cap.amount == 10_000_000 and cap.currency == "SEK" and cap.amount_usd is not None
    assert "'Swedish'" in (cap.note or "")
    assert doc.dates.signed == "2016-07" and doc.dates.service_start == "2016"
    assert "source1" in (doc.dates.note or "")  # cited, but not in the export's sources table
    investors = doc.parties_with_role("investor")
    assert [o.indigo_id for o in investors] == ["INDIGO-ORG-0758"]
    assert [o.indigo_id for o in doc.parties_with_role("outcome_payer")] == ["INDIGO-ORG-0757"]
    assert len(doc.outcome_metrics) == 4  # three INDIGO metrics and the derived 'achievement'
    record = next(s for s in doc.sources if s.id == "indigo-record")
    assert record.attribution == ATTRIBUTION
    contract_doc = next(s for s in doc.sources if s.id == "indigo-document1")
    assert contract_doc.url and contract_doc.url.endswith("Norrkoping.pdf")
    for path, fact in doc.iter_facts():
        assert fact.sources or fact.confidence == "unverified", path
        assert all(next(s for s in doc.sources if s.id == sid).attribution == ATTRIBUTION for sid in fact.sources)
    terms = doc.payment_terms
    assert terms is not None and terms.status == "derived" and terms.derived_from
    assert "overall_project_finance.total_investment_commitment.amount.exact" in terms.derived_from
    assert report.counts["projects"]["imported"] == 7


def test_sources_and_kept_values(session: Session, sample_12: Path) -> None:
    report = import_export(sample_12, session=session)
    doc = get_contract(session=session, contract_id="indigo-poj-0121")
    assert doc is not None
    titles = {s.id: s for s in doc.sources}
    rows = [r for r in csv_rows(sample_12, "projects_sources") if r["Project ID"] == "INDIGO-POJ-0121"]
    assert len([s for s in doc.sources if s.id.startswith("indigo-source")]) == len(rows)
    for row in rows:
        src = titles["indigo-" + row["Id"]]
        assert src.title == row["Name - (Value)"].strip() and src.attribution == ATTRIBUTION
        if row["URL - (Value)"].strip():
            assert src.url == row["URL - (Value)"].strip()
    actual = [r for r in csv_rows(sample_12, "projects_outcome_payments")
              if r["Project ID"] == "INDIGO-POJ-0121" and r["Type - (Value)"] == "Actual"]
    assert doc.history is not None
    assert [(p.amount, p.currency) for p in doc.history.payments] == [
        (Decimal(r["Payments - Amount - (Value)"]), r["Payments - Currency - (Value)"]) for r in actual] != []
    assert all(p.sources == ["indigo-record"] for p in doc.history.payments)
    # results with a count of outcomes achieved become measured values of their metrics, with INDIGO as source
    results = [r for r in csv_rows(sample_12, "projects_results") if r["Project ID"] == "INDIGO-POJ-0121"]
    assert [(o.metric, o.value, o.n) for o in doc.history.outcomes] == [
        (r["Outcome Metric Id - (Value)"], Decimal(r["Outcomes achieved - (Value)"]),
         int(r["Number engaged In impact bond - (Value)"])) for r in results] != []
    assert all("indigo-record" in o.sources for o in doc.history.outcomes)
    assert doc.payment_terms is not None and "prices" in doc.payment_terms.parameters  # a rate card
    for kept in report.kept_as_text:
        assert kept.value is not None and kept.reason


def test_may_then_december_updates_and_records_changes(session: Session, sample_05: Path,
                                                        export_12: Path) -> None:
    first = import_export(sample_05, session=session)
    session.commit()
    second = import_export(export_12, session=session)
    session.commit()
    old_ids = {r["ID"] for r in csv_rows(sample_05, "projects")}
    new_ids = {r["ID"] for r in csv_rows(export_12, "projects")}
    assert len(first.created) == len(old_ids) == 6
    assert {c.upper() for c in second.created} == new_ids - old_ids
    assert "INDIGO-POJ-0340" in new_ids - old_ids and len(new_ids) == 320
    assert "indigo-poj-0170" in second.updated and "indigo-poj-0195" in second.updated
    assert len(second.updated) + len(second.unchanged) == len(old_ids & new_ids)
    changes = session.exec(select(ChangeRecord).where(ChangeRecord.contract_id == "indigo-poj-0170",
                                                      ChangeRecord.kind == "updated")).all()
    assert len(changes) == 1 and changes[0].actor == "indigo:2025-12" and changes[0].changes
    assert all(c["path"] for c in changes[0].changes)
    record = session.get(IndigoRecord, "INDIGO-POJ-0170")
    assert record is not None and record.export_label == "2025-12"
    unchanged = session.get(IndigoRecord, "INDIGO-POJ-0077")
    assert unchanged is not None and unchanged.export_label == "2025-05"  # the export it last changed in


def test_interrupted_import_leaves_the_registry_as_it_was(db_url: str, engine: Engine, sample_05: Path,
                                                          sample_12: Path) -> None:
    with db.session_scope(db_url) as session:
        import_export(sample_05, session=session)
    with Session(engine) as session:
        before = snapshot(session)

    def interrupt(done: int, total: int, pid: str) -> None:
        if done == 4:
            raise KeyboardInterrupt  # the user presses Ctrl-C half-way

    with pytest.raises(KeyboardInterrupt), db.session_scope(db_url) as session:
        import_export(sample_12, session=session, progress=interrupt)
    with Session(engine) as session:
        assert snapshot(session) == before


def test_corrupt_file_midway_writes_nothing(db_url: str, engine: Engine, sample_12: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(sample_12, broken)
    with (broken / "projects" / "projects_results.csv").open("a", encoding="utf-8") as fh:
        fh.write('INDIGO-POJ-0077,"outcomemetric1,unterminated\n')
    with Session(engine) as session:
        before = snapshot(session)
    with pytest.raises(IndigoReadError, match="projects_results"), db.session_scope(db_url) as session:
        import_export(broken, session=session)
    with Session(engine) as session:
        assert snapshot(session) == before


def test_rejected_rows_are_reported(session: Session, sample_12: Path, tmp_path: Path) -> None:
    edited = tmp_path / "edited"
    shutil.copytree(sample_12, edited)
    with (edited / "projects" / "projects_investments.csv").open("a", encoding="utf-8") as fh:
        fh.write("INDIGO-POJ-9999,investment1,INDIGO-ORG-0001" + "," * 15 + "\n")
    report = import_export(edited, session=session)
    assert report.counts["investments"]["rejected"] == 1
    [row] = [r for r in report.rejected if r.table == "projects_investments"]
    assert row.project == "INDIGO-POJ-9999" and "not in the projects table" in row.reason
    assert row.line == len(csv_rows(edited, "projects_investments")) + 1


def test_cli_import_prints_the_report(cli, sample_12: Path) -> None:  # type: ignore[no-untyped-def]
    from web.cli import main

    result = cli.invoke(main, ["import", "indigo", str(sample_12), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "7 created" in result.output and ATTRIBUTION in result.output
    again = cli.invoke(main, ["import", "indigo", str(sample_12), "--json"])
    assert again.exit_code == 0 and '"unchanged"' in again.output
    with db.session_scope() as session:
        assert len(session.exec(select(Contract)).all()) == 7
        ContractDocument.model_validate(session.get(Contract, "indigo-poj-0340").document)  # type: ignore[union-attr]
    bad = cli.invoke(main, ["import", "indigo", str(sample_12 / "funds")])
    assert bad.exit_code != 0 and "no projects table" in bad.output


def test_cli_import_without_a_folder_imports_the_bundled_snapshot(cli) -> None:  # type: ignore[no-untyped-def]
    from web.cli import main

    result = cli.invoke(main, ["import", "indigo", "--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["source"] == str(BUNDLED_EXPORT) and report["label"] == "2025-12"
    assert len(report["created"]) == 320 and report["layout"] == "2025-12"
