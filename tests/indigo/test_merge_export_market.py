"""Curated + INDIGO, derived terms, exports (and re-import), market statistics."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlmodel import Session, select

from registry.indigo.exporter import export_contracts
from registry.indigo.importer import import_export, reconcile_curated
from registry.indigo.merge import get_display_document, merged_document
from registry.indigo.values import ATTRIBUTION
from registry.loader import upsert_contract
from registry.market import classify_repayment, market_statistics
from registry.models import Contract, IndigoRecord
from registry.schema import ContractDocument
from registry.services.contracts import get_contract
from registry.terms import compile_terms
from tests.indigo.helpers import csv_rows, snapshot

CURATED = {
    "id": "se-norrkoping-test",
    "indigo_id": "INDIGO-POJ-0077",
    "origin": "curated",
    "identity": {"names": {"sv": "Socialt utfallskontrakt Norrköping", "en": "Norrköping social outcomes contract"}},
    "classification": {"country": "SE", "policy_sector": "child_and_family_welfare", "sources": ["nt"],
                       "confidence": "verified"},
    "stage": "complete",
    "stage_provenance": {"sources": ["nt"], "confidence": "verified"},
    "dates": {"signed": "2016-07", "service_start": "2016-08", "sources": ["nt"], "confidence": "verified"},
    "finance": {"currency": "SEK", "capital_committed": {"amount": 9000000, "currency": "SEK", "sources": ["nt"],
                                                         "confidence": "verified"}},
    "organisations": [{"id": "norrkopings-kommun", "name": "Norrköpings kommun", "type": "local_government",
                       "indigo_id": "INDIGO-ORG-0757"}],
    "parties": [{"organisation": "norrkopings-kommun", "roles": ["outcome_payer"], "sources": ["nt"],
                 "confidence": "verified"}],
    "sources": [{"id": "nt", "title": "Norrköpings Tidningar 2016"}],
}


def curated_doc() -> ContractDocument:
    return ContractDocument.model_validate(CURATED)


def test_curated_project_is_linked_not_duplicated(session: Session, sample_12: Path) -> None:
    upsert_contract(curated_doc(), session=session, actor="seed")
    report = import_export(sample_12, session=session)
    assert report.linked == ["INDIGO-POJ-0077"]
    assert session.get(Contract, "indigo-poj-0077") is None
    record = session.get(IndigoRecord, "INDIGO-POJ-0077")
    assert record is not None and record.contract_id == "se-norrkoping-test"
    rows = session.exec(select(Contract).where(Contract.indigo_id == "INDIGO-POJ-0077")).all()
    assert [r.id for r in rows] == ["se-norrkoping-test"]
    stored = get_contract(session=session, contract_id="se-norrkoping-test")
    assert stored == curated_doc()  # the curated document itself is untouched

    shown = get_display_document(session=session, contract_id="se-norrkoping-test")
    assert shown is not None
    assert shown.stage == "complete" and shown.classification.policy_sector == "child_and_family_welfare"
    assert shown.stage_provenance is not None and shown.stage_provenance.confidence == "disputed"
    assert shown.stage_provenance.alternatives[0].value == "implementation"
    assert shown.stage_provenance.alternatives[0].sources == ["indigo-record"]
    cap = shown.finance.capital_committed
    assert cap is not None and cap.amount == 9_000_000 and cap.confidence == "disputed"
    assert cap.alternatives[0].value["amount"] == "10000000"
    assert shown.classification.confidence == "disputed"
    assert shown.dates.confidence == "verified"  # 2016 agrees with 2016-08; nothing to dispute
    assert shown.dates.signed == "2016-07"
    # gaps filled from INDIGO, with INDIGO's attributed sources
    assert shown.investments and shown.outcome_metrics and shown.target_population is not None
    assert shown.finance.capital_committed.amount_usd is None  # amounts differ: no USD figure borrowed
    by_id = {s.id: s for s in shown.sources}
    assert by_id["indigo-record"].attribution == ATTRIBUTION and "nt" in by_id
    assert {o.indigo_id for o in shown.parties_with_role("investor")} == {"INDIGO-ORG-0758"}
    assert [o.id for o in shown.parties_with_role("outcome_payer")] == ["norrkopings-kommun"]


def test_seeding_after_the_import_supersedes_the_indigo_copy(session: Session, sample_12: Path) -> None:
    import_export(sample_12, session=session)
    assert session.get(Contract, "indigo-poj-0077") is not None
    upsert_contract(curated_doc(), session=session, actor="seed")
    assert reconcile_curated(session=session) == ["indigo-poj-0077"]
    assert session.get(Contract, "indigo-poj-0077") is None
    assert session.get(IndigoRecord, "INDIGO-POJ-0077").contract_id == "se-norrkoping-test"  # type: ignore[union-attr]
    again = import_export(sample_12, session=session)
    assert again.linked == ["INDIGO-POJ-0077"] and not again.created and not again.superseded


def test_merge_is_pure_and_keeps_curated_terms() -> None:
    indigo = curated_doc().model_copy(update={"origin": "indigo", "id": "indigo-poj-0077"})
    same = merged_document(curated_doc(), indigo)
    assert all(not f.alternatives for _, f in same.iter_facts())


def test_every_imported_project_has_compiling_derived_terms(session: Session, export_12: Path) -> None:
    import_export(export_12, session=session)
    rows = session.exec(select(IndigoRecord)).all()
    assert len(rows) == len(csv_rows(export_12, "projects"))
    for record in rows:
        doc = ContractDocument.model_validate(record.document)
        assert doc.payment_terms is not None and doc.payment_terms.status == "derived", record.indigo_id
        compiled = compile_terms(doc, source=record.indigo_id)
        p = {k: float(v.value) for k, v in doc.payment_terms.parameters.items() if v.value is not None}
        assert compiled.investor_capital == pytest.approx(p["C"])
        low, high = p["C"] * (1 - p["L"]), p["C"] * (1 + p["R"] * p["T"])
        for share in (0.0, 1.0):
            outcome = {name: share * 1e9 if name != "achievement" else share for name in compiled.outcome_names}
            repaid = float(compiled.evaluate(outcome).investor_repayment)
            assert low - 0.01 <= repaid <= high + 0.01, record.indigo_id
        best = {name: 1e12 if name != "achievement" else 1.0 for name in compiled.outcome_names}
        assert float(compiled.evaluate(best).investor_repayment) == pytest.approx(min(high, max(low, p["M"])),
                                                                                  rel=1e-6)


def test_indigo_csv_export_reimports_to_the_same_registry(session: Session, export_12: Path,
                                                          tmp_path: Path) -> None:
    upsert_contract(curated_doc(), session=session, actor="seed")
    other = {**CURATED, "id": "se-botkyrka-test", "indigo_id": None}
    upsert_contract(ContractDocument.model_validate(other), session=session, actor="seed")
    import_export(export_12, session=session)
    session.commit()
    before = snapshot(session)
    out = tmp_path / "indigo"
    result = export_contracts(session=session, fmt="indigo-csv", path=out)
    assert (out / "projects" / "projects.csv").is_file() and (out / "organizations" / "organisations.csv").is_file()
    assert ATTRIBUTION in (out / "README.txt").read_text(encoding="utf-8")
    assert len(result.contracts) == len(before["contracts"])
    report = import_export(out, session=session, label="re-export")
    session.commit()
    assert not report.created and not report.updated
    assert [r.project for r in report.rejected if r.table == "projects"] == ["se-botkyrka-test"]
    assert snapshot(session)["changes"] == before["changes"]
    after = snapshot(session)
    assert after["contracts"] == before["contracts"] and after["records"] == before["records"]
    assert after["organisations"] == before["organisations"]


def test_json_csv_xlsx_exports(session: Session, sample_12: Path, tmp_path: Path) -> None:
    upsert_contract(curated_doc(), session=session, actor="seed")
    import_export(sample_12, session=session)
    ids = ["se-norrkoping-test", "indigo-poj-0121"]
    export_contracts(session=session, fmt="json", path=tmp_path / "json", contract_ids=ids)
    docs = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (tmp_path / "json").glob("*.json")}
    assert set(docs) == set(ids)
    merged = ContractDocument.model_validate(docs["se-norrkoping-test"])
    assert merged.stage_provenance is not None and merged.stage_provenance.confidence == "disputed"
    assert ATTRIBUTION in (tmp_path / "json" / "ATTRIBUTION.txt").read_text(encoding="utf-8")
    export_contracts(session=session, fmt="csv", path=tmp_path / "csv", contract_ids=ids)
    with (tmp_path / "csv" / "contracts.csv").open(encoding="utf-8") as fh:
        contracts = list(csv.DictReader(fh))
    assert [c["id"] for c in contracts] == ids and all(c["attribution"] == ATTRIBUTION for c in contracts)
    assert "stage_provenance" in contracts[0]["disputed_facts"]
    export_contracts(session=session, fmt="xlsx", path=tmp_path / "all.xlsx")
    book = load_workbook(tmp_path / "all.xlsx", read_only=True)
    assert book.sheetnames == ["contracts", "parties", "metrics", "payments", "sources", "about"]
    assert book["contracts"].max_row == 1 + 7  # header + the curated contract + six INDIGO-origin ones
    assert any(ATTRIBUTION in str(c.value) for row in book["about"].iter_rows() for c in row)
    with pytest.raises(ValueError, match="no contract"):
        export_contracts(session=session, fmt="csv", path=tmp_path / "x", contract_ids=["nope"])


def test_cli_export_and_market(cli, sample_12: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from web.cli import main

    assert cli.invoke(main, ["import", "indigo", str(sample_12), "--no-progress"]).exit_code == 0
    out = tmp_path / "x.xlsx"
    result = cli.invoke(main, ["export", "--format", "xlsx", "--contract", "indigo-poj-0077", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and ATTRIBUTION in result.output
    market = cli.invoke(main, ["market", "--json"])
    assert market.exit_code == 0, market.output
    data = json.loads(market.output)
    assert data["totals"]["contracts"] == 7 and data["attribution"] == ATTRIBUTION
    text = cli.invoke(main, ["market"])
    assert text.exit_code == 0 and "by policy sector" in text.output


@pytest.mark.parametrize(("text", "label"), [
    ("Principal + positive financial returns", "full"), ("Principal repaid (but no net return)", "full"),
    ("Some repayment (but below value of principle)", "partial"), ("No repayment (no principle or return)", "none"),
    ("Not publicly available", "unknown"), ("Unknown. Do not read 'repaid in full'.", "unknown"), (None, "unknown"),
    ("The SIB paid paid the principal + 25% interest to the investors", "full"),
    ("Partly: of 7.2 m drawn, Bloomberg's guarantee covered 6.0 m and Goldman Sachs lost 1.2 m.", "partial"),
    ("Investors lost all capital", "none"), ("Not repaid", "none"),
    ("Not applicable: self-financed by the municipality.", "unknown"), ("Pending.", "unknown"),
])
def test_classify_repayment(text: str | None, label: str) -> None:
    assert classify_repayment(text) == label


def test_market_statistics_add_up(session: Session, export_12: Path) -> None:
    import_export(export_12, session=session)
    stats = market_statistics(session=session)
    rows = session.exec(select(Contract)).all()
    assert stats["totals"]["contracts"] == len(rows) == len(csv_rows(export_12, "projects"))
    for key in ("by_year", "by_country", "by_sector", "by_stage"):
        assert sum(v["contracts"] for v in stats[key].values()) == len(rows)
        assert sum(v["capital_usd"] for v in stats[key].values()) == pytest.approx(stats["totals"]["capital_usd"])
    # the USD figure INDIGO gives, or the amount itself for a contract in USD
    usd = sum((r.capital_committed_usd if r.capital_committed_usd is not None else r.capital_committed
               for r in rows if r.capital_committed_usd is not None or (r.currency == "USD" and r.capital_committed)),
              Decimal(0))
    assert stats["totals"]["capital_usd"] == pytest.approx(float(usd), rel=1e-9)
    completed = [r for r in rows if r.stage == "complete"]
    assert sum(v["completed"] for v in stats["repayment_by_sector"].values()) == len(completed)
    for sector, rates in stats["base_rates"]["by_sector"].items():
        assert rates["p_full"] + rates["p_partial"] + rates["p_none"] == pytest.approx(1.0), sector
        assert rates["beta_full"][0] >= 1 and rates["beta_full"][1] >= 1
    assert stats == market_statistics(session=session)  # a pure function of the registry
    if len(rows) > 100:  # the full export: GO Lab's own profile of it
        assert stats["by_country"]["GB"]["contracts"] == 100 and stats["by_stage"]["complete"]["contracts"] == 128


def test_seeding_after_an_import_leaves_no_duplicate(cli: CliRunner, sample_12: Path, seed_dir: Path) -> None:
    from web.cli import main

    assert cli.invoke(main, ["import", "indigo", str(sample_12), "--no-progress"]).exit_code == 0
    listing = json.loads(cli.invoke(main, ["contracts", "list", "--json"]).output)
    assert "indigo-poj-0077" in {c["id"] for c in listing["contracts"]}
    result = cli.invoke(main, ["seed", str(seed_dir / "se-norrkoping-2016.yaml")])
    assert result.exit_code == 0, result.output
    assert "removed INDIGO copy indigo-poj-0077" in result.output
    listing = json.loads(cli.invoke(main, ["contracts", "list", "--json"]).output)
    ids = [c["id"] for c in listing["contracts"]]
    assert "indigo-poj-0077" not in ids and "se-norrkoping-2016" in ids
    assert [c["indigo_id"] for c in listing["contracts"]].count("INDIGO-POJ-0077") == 1


def test_display_document_takes_indigo_history_only_where_the_curated_one_has_none(
        session: Session, sample_12: Path) -> None:
    curated = {**CURATED, "id": "uk-indigo-0121-test", "indigo_id": "INDIGO-POJ-0121"}
    upsert_contract(ContractDocument.model_validate(curated), session=session, actor="seed")
    import_export(sample_12, session=session)
    shown = get_display_document(session=session, contract_id="uk-indigo-0121-test")
    assert shown is not None and shown.history is not None
    actual = [r for r in csv_rows(sample_12, "projects_outcome_payments")
              if r["Project ID"] == "INDIGO-POJ-0121" and r["Type - (Value)"] == "Actual"]
    assert [p.amount for p in shown.history.payments] == [Decimal(r["Payments - Amount - (Value)"]) for r in actual]
    assert shown.history.outcomes and {o.metric for o in shown.history.outcomes} <= {
        m.id for m in shown.outcome_metrics}
    assert all("indigo-record" in p.sources for p in shown.history.payments)
    # a curated history is the curator's reading of the sources: it wins as a whole
    curated["history"] = {"unknowns": [{"about": "payment", "what": "Payments", "reason": "not read yet"}]}
    upsert_contract(ContractDocument.model_validate(curated), session=session, actor="seed")
    shown = get_display_document(session=session, contract_id="uk-indigo-0121-test")
    assert shown is not None and shown.history is not None
    assert shown.history.payments == [] and [u.what for u in shown.history.unknowns] == ["Payments"]
