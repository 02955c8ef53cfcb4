"""The overview and /api/v1/market read the newest market snapshot, which every write and import refreshes in
its own transaction (and the scheduler nightly)."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from registry.indigo.importer import import_export
from registry.loader import load_paths, parse_document, upsert_contract
from registry.market import CODE_VERSION, market_statistics
from registry.models import MarketSnapshot
from tests.web.conftest import login, sample_document
from tests.web.test_curate import form_of

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "indigo-sample" / "2025-12"


def snapshots(engine: Engine) -> list[MarketSnapshot]:
    with Session(engine) as s:
        return list(s.exec(select(MarketSnapshot).order_by(col(MarketSnapshot.id))).all())


def overview_total(client: FlaskClient) -> int:
    html = client.get("/?lang=en").get_data(as_text=True)
    found = re.search(r'<span class="stat-value">([\d,\s\u00a0\u202f]+)</span><span class="stat-label">contracts',
                      html)
    assert found, "the overview shows no contract count"
    return int(re.sub(r"\D", "", found.group(1)))


def test_seeding_stores_a_snapshot_the_overview_and_api_serve(client: FlaskClient, engine: Engine,
                                                               seed_dir: Path) -> None:
    with Session(engine) as s:
        report = load_paths([seed_dir], session=s, actor="seed")
        s.commit()
        fresh = market_statistics(session=s)
    (stored,) = snapshots(engine)
    assert {k: v for k, v in stored.data.items() if k != "digest"} == fresh | {"code_version": CODE_VERSION}
    assert overview_total(client) == len(report.created) == fresh["totals"]["contracts"]
    assert client.get("/api/v1/market").get_json()["totals"] == fresh["totals"]

    # served from the snapshot, not recomputed: a figure changed in the stored snapshot is the one shown
    with Session(engine) as s:
        row = s.exec(select(MarketSnapshot)).one()
        row.data = {**row.data, "totals": {**row.data["totals"], "contracts": 4321}}
        s.add(row)
        s.commit()
    assert overview_total(client) == 4321
    assert client.get("/api/v1/market").get_json()["totals"]["contracts"] == 4321
    assert len(snapshots(engine)) == 1  # reading writes nothing


def test_an_added_contract_and_an_import_refresh_it(client: FlaskClient, engine: Engine) -> None:
    with Session(engine) as s:
        upsert_contract(parse_document(sample_document(), "test"), session=s, actor="test")
        s.commit()
    assert overview_total(client) == 1
    with Session(engine) as s:
        import_export(SAMPLE, session=s)
        s.commit()
        expected = market_statistics(session=s)["totals"]
    assert expected["indigo"] > 0
    assert overview_total(client) == expected["contracts"] > 1
    assert client.get("/api/v1/market").get_json()["totals"] == expected
    assert len(snapshots(engine)) == 2


def test_a_curator_edit_refreshes_it_and_a_rolled_back_write_does_not(
        client: FlaskClient, make_user, add_contract, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    add_contract()
    assert client.get("/api/v1/market").get_json()["by_stage"] == {
        "implementation": {"contracts": 1, "capital_usd": 0.0, "with_capital_usd": 0}}
    make_user("cora-qz", role="curator")
    login(client, "cora-qz")
    data = form_of(client.get("/contracts/test-contract/edit").get_data(as_text=True))
    data["stage"] = "complete"
    assert client.post("/contracts/test-contract/edit", data=data).status_code == 302
    assert set(client.get("/api/v1/market").get_json()["by_stage"]) == {"complete"}
    count = len(snapshots(engine))

    with Session(engine) as s:
        other = sample_document()
        other["id"] = "rolled-back"
        upsert_contract(parse_document(other, "test"), session=s, actor="test")
        s.rollback()
        s.commit()
    assert len(snapshots(engine)) == count


def test_without_a_snapshot_the_first_reader_stores_one(client: FlaskClient, add_contract, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    add_contract()
    with Session(engine) as s:
        s.exec(delete(MarketSnapshot))  # type: ignore[call-overload]
        s.commit()
    assert overview_total(client) == 1
    assert len(snapshots(engine)) == 1
    assert overview_total(client) == 1 and len(snapshots(engine)) == 1


def test_a_snapshot_from_other_code_is_recomputed(client: FlaskClient, add_contract, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    add_contract()
    with Session(engine) as s:
        row = s.exec(select(MarketSnapshot)).one()
        row.data = {**row.data, "code_version": "older", "totals": {**row.data["totals"], "contracts": 77}}
        s.add(row)
        s.commit()
    assert overview_total(client) == 1
    assert snapshots(engine)[-1].data["code_version"] == CODE_VERSION


def test_the_overview_shows_twelve_nordic_cards_and_links_to_all_by_country(client: FlaskClient,
                                                                           engine: Engine) -> None:
    with Session(engine) as s:
        for i in range(14):
            doc = sample_document(f"se-card-{i:02d}-2020")
            upsert_contract(parse_document(doc, "test"), session=s, actor="test")
        s.commit()
    html = client.get("/?lang=sv").get_data(as_text=True)
    assert html.count('class="card-title"') == 12
    assert "12 av 14 nordiska kontrakt visas" in html and 'href="/contracts?country=SE"' in html
    assert '<span class="stat-value">14</span><span class="stat-label">nordiska kontrakt' in html
