"""Milestone reminders: what falls due within 30 days of a fixed date."""

from __future__ import annotations

from datetime import date
from typing import Any

from registry.loader import parse_document
from registry.reminders import contract_milestones, due_within, frequency_months, period_of
from tests.factsheets.conftest import rich_contract


def planned_contract(**changes: Any) -> dict[str, Any]:
    data = rich_contract()
    data["dates"] = {"signed": "2022-12", "service_start": "2023-01-15", "service_end": "2025-12",
                     "evaluation_end": "2023-07-10", "confidence": "unverified"}
    data["milestones"] = [
        {"date": "2023-06-30", "kind": "measurement", "description": "Mätning av kostnader"},
        {"date": "2023-09-01", "kind": "other", "description": "Too late for the window"},
        {"date": "2023-06-01", "kind": "other", "description": "Already past"},
    ]
    data["measurements"] = [
        {"metric": "savings", "date": "2023-07-01", "description": "Kostnadsuppföljning", "confidence": "unverified"},
        {"metric": "savings", "date": "2023-07-02", "value": "100", "confidence": "unverified"},  # done
    ]
    data["governance"] = [{"description": {"sv": "Insatsrådet"}, "body": "insatsråd", "frequency": "quarterly",
                           "confidence": "unverified"}]
    data["payment_terms"]["payments"][0]["timing"] = {"months_after_start": 6}  # 2023-07-15
    data["payment_terms"]["payments"][1]["timing"] = {"date": "2023-07"}  # the whole of July
    data["payment_terms"]["payments"][2]["timing"] = {"date": "2026"}
    data.update(changes)
    return data


def test_due_within_30_days_of_a_fixed_date() -> None:
    doc = parse_document(planned_contract(), "test")
    due = due_within([doc], date(2023, 6, 20), days=30)
    got = [(r.date_text, r.kind, r.description) for r in due]
    assert got == [
        ("2023-06-30", "measurement", "Mätning av kostnader"),
        ("2023-07-01", "measurement", "Kostnadsuppföljning"),
        ("2023-07", "payment", "savings_share"),
        ("2023-07-10", "evaluation", ""),
        ("2023-07-15", "governance", "insatsråd"),  # quarterly from 2023-01-15: Apr 15, Jul 15, ...
        ("2023-07-15", "payment", "guarantee"),
    ]
    assert all(r.contract_id == doc.id and r.name_sv.startswith("Sociala") for r in due)


def test_window_edges_and_finished_contracts() -> None:
    doc = parse_document(planned_contract(), "test")
    # The last day of the window counts; the day after does not.
    assert [r.date_text for r in due_within([doc], date(2023, 6, 15), days=15)] == ["2023-06-30"]
    assert [r.date_text for r in due_within([doc], date(2023, 5, 30), days=30)] == ["2023-06-01"]
    # Partial dates: a month is due while any of its days is in the window.
    assert ("2023-07", "payment") in {(r.date_text, r.kind) for r in due_within([doc], date(2023, 7, 30), 0)}
    finished = parse_document(planned_contract(stage="complete"), "test")
    assert due_within([finished], date(2023, 6, 20)) == []


def test_quarterly_meetings_stop_at_the_end_of_the_contract() -> None:
    doc = parse_document(planned_contract(), "test")
    meetings = [r.start for r in contract_milestones(doc, horizon=date(2030, 1, 1)) if r.kind == "governance"]
    assert meetings[:3] == [date(2023, 4, 15), date(2023, 7, 15), date(2023, 10, 15)]
    # Until the latest planned end (service end, December 2025), not beyond.
    assert meetings[-1] == date(2025, 10, 15)
    ended = parse_document(planned_contract(dates={"service_start": "2023-01-15", "actual_completion": "2023-08",
                                                   "confidence": "unverified"}), "test")
    assert [r.start for r in contract_milestones(ended) if r.kind == "governance"] == [date(2023, 4, 15),
                                                                                     date(2023, 7, 15)]


def test_frequencies_and_periods() -> None:
    assert frequency_months("quarterly") == 3
    assert frequency_months("Kvartalsvis") == 3
    assert frequency_months("en gång per år") == 12
    assert frequency_months("when needed") is None
    assert period_of("2024") == (date(2024, 1, 1), date(2024, 12, 31))
    assert period_of("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert period_of("2024-02-10") == (date(2024, 2, 10), date(2024, 2, 10))
