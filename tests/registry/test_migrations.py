"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, MetaData, Table, delete, select
from sqlmodel import SQLModel

from registry import db
from registry.loader import SEED_DIR, content_hash, document_json, read_contract_file
from registry.models import Contract, IndigoRecord, utcnow
from registry.schema import ContractDocument


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def _stored_table(conn: Connection, name: str) -> Table:
    """The table as the database holds it at its current revision (the model's may have more columns)."""
    return Table(name, MetaData(), autoload_with=conn)


def _downgrade(engine: Engine, revision: str) -> None:
    config = db.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_realised_payments_move_into_history(engine: Engine, db_url: str) -> None:
    """Migration 0004 moves a stored document's realised_payments into history.payments, and back."""
    seed = read_contract_file(SEED_DIR / "us-nyc-rikers-2012.yaml")
    old = document_json(seed)
    old.pop("history", None)
    old["realised_payments"] = [{"date": "2015", "payer": "bloomberg-philanthropies", "payee": "goldman-sachs",
                                 "component": "guarantee", "amount": {"amount": "6000000"},
                                 "sources": ["mdrc"], "confidence": "verified"}]
    _downgrade(engine, "0003")
    try:
        with engine.begin() as conn:
            conn.execute(_stored_table(conn, "contract").insert().values(
                id=seed.id, document=old, content_hash="x", search_text="", origin="curated", country="US",
                policy_sector="criminal_justice", stage="terminated", currency="USD", has_terms=False,
                created_at=utcnow(), updated_at=utcnow(), updated_by="test"))
        db.migrate(engine, "0004")
        with engine.connect() as conn:
            document, digest = conn.execute(select(Contract.document, Contract.content_hash)).one()
        assert "realised_payments" not in document
        assert document["history"]["payments"] == [{
            "date": "2015", "payer": "bloomberg-philanthropies", "payee": "goldman-sachs", "component": "guarantee",
            "amount": "6000000", "currency": "USD", "sources": ["mdrc"], "confidence": "verified"}]
        assert digest == content_hash(document)
        ContractDocument.model_validate(document)
        _downgrade(engine, "0003")
        with engine.connect() as conn:
            document = conn.execute(select(Contract.document)).scalar_one()
        assert "history" not in document
        assert document["realised_payments"][0]["amount"] == {"amount": "6000000", "currency": "USD"}
    finally:
        with engine.begin() as conn:
            conn.execute(delete(Contract))
        db.migrate(engine)


def test_documents_cleaned_by_the_limits_migration_get_matching_hashes(engine: Engine) -> None:
    """0008 removes a ``javascript:`` URL and shortens overlong text; 0009 makes the stored hash match again."""
    seed = read_contract_file(SEED_DIR / "us-nyc-rikers-2012.yaml")
    old = document_json(seed)
    old["sources"][0]["url"] = "javascript:alert(1)"
    old["identity"]["alternative_names"] = ["n" * 800]
    old_record = {"document": {"id": "indigo-poj-0001", "sources": [{"id": "s", "url": "javascript:x"}]},
                  "raw": {"projects": [{"id": "INDIGO-POJ-0001"}]}}
    _downgrade(engine, "0007")
    try:
        with engine.begin() as conn:
            conn.execute(_stored_table(conn, "contract").insert().values(
                id=seed.id, document=old, content_hash=content_hash(old), search_text="", origin="curated",
                country="US", policy_sector="criminal_justice", stage="terminated", currency="USD", has_terms=True,
                created_at=utcnow(), updated_at=utcnow(), updated_by="test"))
            conn.execute(IndigoRecord.__table__.insert().values(  # type: ignore[attr-defined]
                indigo_id="INDIGO-POJ-0001", contract_id="indigo-poj-0001", export_label="2025-12",
                document=old_record["document"], raw=old_record["raw"], content_hash=content_hash(old_record),
                imported_at=utcnow(), updated_at=utcnow()))
        db.migrate(engine)
        with engine.connect() as conn:
            document, digest = conn.execute(select(Contract.document, Contract.content_hash)).one()
            record_document, raw, record_digest = conn.execute(
                select(IndigoRecord.document, IndigoRecord.raw, IndigoRecord.content_hash)).one()
        assert "url" not in document["sources"][0]
        assert document["identity"]["alternative_names"] == ["n" * 499 + "…"]
        assert digest == content_hash(document) != content_hash(old)
        assert "url" not in record_document["sources"][0]
        assert record_digest == content_hash({"document": record_document, "raw": raw})
        ContractDocument.model_validate(document)
    finally:
        with engine.begin() as conn:
            conn.execute(delete(Contract))
            conn.execute(delete(IndigoRecord))
        db.migrate(engine)


def test_stored_verdicts_are_recomputed_by_the_per_payment_back_test(engine: Engine) -> None:
    """0010 replaces the verdicts the earlier, all-or-nothing back-test stored."""
    seed = read_contract_file(SEED_DIR / "us-chicago-cpc-2014.yaml")
    document = document_json(seed)
    _downgrade(engine, "0009")
    try:
        with engine.begin() as conn:
            conn.execute(_stored_table(conn, "contract").insert().values(
                id=seed.id, document=document, content_hash=content_hash(document), search_text="",
                origin="curated", country="US", policy_sector="education", stage="complete", currency="USD",
                has_terms=True, reproduced="no", created_at=utcnow(), updated_at=utcnow(), updated_by="test"))
        db.migrate(engine)
        with engine.connect() as conn:
            assert conn.execute(select(Contract.reproduced)).scalar_one() == "unknown"
    finally:
        with engine.begin() as conn:
            conn.execute(delete(Contract))
        db.migrate(engine)


def test_repayment_classes_are_computed_for_stored_contracts(engine: Engine) -> None:
    """0013 classifies what the investors of each stored contract got back, as every write does since."""
    seed = read_contract_file(SEED_DIR / "us-nyc-rikers-2012.yaml")
    document = document_json(seed)
    _downgrade(engine, "0012")
    try:
        with engine.begin() as conn:
            conn.execute(_stored_table(conn, "contract").insert().values(
                id=seed.id, document=document, content_hash=content_hash(document), search_text="",
                origin="curated", country="US", policy_sector="criminal_justice", stage="terminated",
                currency="USD", has_terms=True, created_at=utcnow(), updated_at=utcnow(), updated_by="test"))
        db.migrate(engine)
        with engine.connect() as conn:
            # the investor results: USD 6.0 m back of 7.2 m drawn
            assert conn.execute(select(Contract.repayment_class)).scalar_one() == "partial"
    finally:
        with engine.begin() as conn:
            conn.execute(delete(Contract))
        db.migrate(engine)
