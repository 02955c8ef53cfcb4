"""What the investors of completed contracts got back, as INDIGO records it: recounted from the raw CSV files
with a reading of their own and compared with the overview, the registry filter, the API and the contract page."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session

from registry.indigo import BUNDLED_EXPORT
from registry.indigo.importer import import_export
from registry.market import REPAYMENT_CLASSES
from tests.indigo.helpers import csv_rows

STAGE = "Stage of Development - (Value)"
PROJECT_REPAYMENT = "Overall project finance - Investor repayment - (Value)"
LATEST_IRR = "Investment Details - Internal Rate of Return - Latest - (Value)"


def _read(text: str) -> str:
    """This test's own reading of INDIGO's repayment phrases (GO Lab's codelist words, and one free text)."""
    low = text.lower()
    if low.startswith("principal +") or "the principal +" in low:
        return "full"
    if low.startswith("some repayment"):
        return "partial"
    if low.startswith("no repayment"):
        return "none"
    return "unknown"


def raw_classes() -> dict[str, str]:
    """INDIGO id -> class for every completed project, from the CSV files alone."""
    stated: dict[str, list[str]] = {}
    for row in csv_rows(BUNDLED_EXPORT, "projects_investments"):
        if row.get("Investor Repayment - (Value)", "").strip():
            stated.setdefault(row["Project ID"], []).append(row["Investor Repayment - (Value)"].strip())
    classes = {}
    for row in csv_rows(BUNDLED_EXPORT, "projects"):
        if row["ID"] == "ID" or row[STAGE].strip() != "Complete":
            continue  # a repeated header row, or not completed
        texts = [row[PROJECT_REPAYMENT].strip()] if row[PROJECT_REPAYMENT].strip() else stated.get(row["ID"], [])
        found = {_read(t) for t in texts} - {"unknown"}
        if found:
            classes[row["ID"]] = found.pop() if len(found) == 1 else "partial"
        elif row[LATEST_IRR].strip():
            irr = Decimal(row[LATEST_IRR].strip().rstrip("%"))
            classes[row["ID"]] = "full" if irr >= 0 else "partial"
        else:
            classes[row["ID"]] = "unknown"
    return classes


@pytest.fixture
def imported(engine: Engine) -> None:
    with Session(engine) as s:
        import_export(BUNDLED_EXPORT, session=s)
        s.commit()


def _overview_counts(client: FlaskClient) -> dict[str, int]:
    html = client.get("/").get_data(as_text=True)
    counts = {}
    for cls in REPAYMENT_CLASSES:
        # each bar links to the completed contracts of its class; its title says "label: count"
        found = re.search(rf'href="/contracts\?result={cls}&amp;stage=complete"><title>[^<]*: (\d+)</title>', html)
        counts[cls] = int(found.group(1)) if found else 0
    return counts


def test_completed_contracts_show_the_repayment_indigo_records(client: FlaskClient, imported: None) -> None:
    raw = raw_classes()
    assert len(raw) == 128
    expected = Counter(raw.values())
    assert expected["full"] >= 3 and expected["partial"] >= 1  # the records exist, so the reading reads them

    api: dict[str, str] = {}
    for cls in REPAYMENT_CLASSES:
        page = client.get(f"/api/v1/contracts?stage=complete&result={cls}&limit=500").get_json()
        assert page["total"] == len(page["items"])
        api.update({c["indigo_id"]: c["repayment_class"] for c in page["items"]})
        assert all(c["repayment_class"] == cls for c in page["items"])
    assert api == raw
    assert _overview_counts(client) == {cls: expected[cls] for cls in REPAYMENT_CLASSES}

    registry = client.get("/contracts?result=partial&stage=complete").get_data(as_text=True)
    assert f'data-total="{expected["partial"]}"' in registry and "indigo-poj-0061" in registry


def test_the_contract_page_names_the_class_its_basis_and_sources(client: FlaskClient, imported: None) -> None:
    page = client.get("/contracts/indigo-poj-0076?lang=en").get_data(as_text=True)
    assert 'data-repayment="full"' in page and "stated investor repayment" in page
    assert 'href="#source-indigo-source5"' in page.split('data-repayment="full"')[1].split("</dd>")[0]
    irr = client.get("/contracts/indigo-poj-0195?lang=en").get_data(as_text=True)
    assert 'data-repayment="full"' in irr and "realised IRR: 11.0" in irr
    unknown = client.get("/contracts/indigo-poj-0036?lang=sv").get_data(as_text=True)
    assert 'data-repayment="unknown"' in unknown
    assert "Ingen källa i registret anger vad finansiärerna fick tillbaka." in unknown
