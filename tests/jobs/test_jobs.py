"""Scheduled jobs run with a controlled clock: their records and their effects."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry.loader import parse_document, upsert_contract
from registry.models import Factsheet, JobRun, Portfolio, User
from tests.factsheets.conftest import rich_contract
from tests.jobs.conftest import FixedClock
from tests.jobs.test_reminders import planned_contract
from web.jobs import JOBS, MISFIRE_GRACE_SECONDS, JobSpec, build_scheduler, run_job


def store(engine: Engine, data: dict[str, Any]) -> str:
    doc = parse_document(data, "test")
    with Session(engine) as s:
        upsert_contract(doc, session=s, actor="test", origin_ref="test")
        s.commit()
    return doc.id


def sheets(engine: Engine) -> dict[tuple[str, str], Factsheet]:
    with Session(engine) as s:
        return {(r.contract_id, r.lang): r for r in s.exec(select(Factsheet)).all()}


def test_stale_factsheets_are_regenerated_after_the_contract_changes(
    app: Flask, engine: Engine, clock: FixedClock
) -> None:
    contract_id = store(engine, rich_contract())
    first = run_job("factsheets", app=app, now=clock)
    assert first.status == "success", first.error
    assert first.started_at == clock.now.replace(tzinfo=first.started_at.tzinfo)
    assert sorted(first.detail["regenerated"]) == [f"{contract_id}/en", f"{contract_id}/sv"]
    before = sheets(engine)
    assert set(before) == {(contract_id, "sv"), (contract_id, "en")}

    clock.now += timedelta(minutes=15)
    quiet = run_job("factsheets", app=app, now=clock)
    assert quiet.status == "success" and quiet.detail["stale"] == 0
    assert sheets(engine)[(contract_id, "sv")].content_hash == before[(contract_id, "sv")].content_hash

    changed = rich_contract()
    changed["stage"] = "terminated"
    store(engine, changed)
    clock.now += timedelta(minutes=15)
    again = run_job("factsheets", app=app, now=clock)
    assert again.status == "success"
    assert again.detail["stale"] == 2
    after = sheets(engine)
    for lang in ("sv", "en"):
        assert after[(contract_id, lang)].content_hash != before[(contract_id, lang)].content_hash
        assert after[(contract_id, lang)].generated_at.replace(tzinfo=UTC) == clock.now
    assert b"%PDF" in bytes(after[(contract_id, "en")].pdf)[:8]


def test_a_failing_job_is_recorded_and_the_next_job_still_runs(app: Flask, engine: Engine, clock: FixedClock) -> None:
    def boom(session: Session, now: datetime) -> dict[str, Any]:
        raise RuntimeError("the market data source is down")

    def fine(session: Session, now: datetime) -> dict[str, Any]:
        return {"at": now.isoformat()}

    jobs = {"boom": JobSpec("boom", boom, "fails"), "fine": JobSpec("fine", fine, "works")}
    failed = run_job("boom", app=app, now=clock, jobs=jobs)  # does not raise
    assert failed.status == "failed"
    assert "RuntimeError: the market data source is down" in (failed.error or "")
    assert failed.finished_at is not None
    ok = run_job("fine", app=app, now=clock, jobs=jobs)
    assert ok.status == "success" and ok.detail == {"at": clock.now.isoformat()}
    with Session(engine) as s:
        rows = s.exec(select(JobRun).order_by(JobRun.id)).all()
    assert [(r.job, r.status) for r in rows] == [("boom", "failed"), ("fine", "success")]


def test_the_scheduler_keeps_running_after_a_job_fails(app: Flask, engine: Engine) -> None:
    """A real APScheduler (background variant, same configuration) with a failing and a working job."""
    from apscheduler.schedulers.background import BackgroundScheduler

    calls: list[str] = []

    def boom(session: Session, now: datetime) -> dict[str, Any]:
        calls.append("boom")
        raise ValueError("broken")

    def fine(session: Session, now: datetime) -> dict[str, Any]:
        calls.append("fine")
        return {}

    jobs = {"boom": JobSpec("boom", boom, ""), "fine": JobSpec("fine", fine, "")}
    scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(run_job, "interval", seconds=0.2, args=["boom"], kwargs={"app": app, "jobs": jobs}, id="boom",
                      next_run_time=datetime.now(UTC))
    scheduler.add_job(run_job, "interval", seconds=0.2, args=["fine"], kwargs={"app": app, "jobs": jobs}, id="fine",
                      next_run_time=datetime.now(UTC) + timedelta(seconds=0.1))
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (calls.count("boom") < 2 or calls.count("fine") < 2):
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert calls.count("boom") >= 2 and calls.count("fine") >= 2  # boom was retried; fine ran after it failed
    with Session(engine) as s:
        statuses = {(r.job, r.status) for r in s.exec(select(JobRun)).all()}
    assert statuses == {("boom", "failed"), ("fine", "success")}


def test_scheduler_configuration(app: Flask) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = build_scheduler(app, BackgroundScheduler)
    assert str(scheduler.timezone) == "Europe/Stockholm"
    scheduler.start(paused=True)  # job defaults are applied when the scheduler starts
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert set(jobs) == set(JOBS)
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == MISFIRE_GRACE_SECONDS >= 3600
        assert job.func is run_job and job.args == (job.id,)
    assert "cron" in str(jobs["portfolios"].trigger) and "hour='2'" in str(jobs["portfolios"].trigger)


def test_reminders_job_records_what_is_due(app: Flask, engine: Engine, clock: FixedClock) -> None:
    store(engine, planned_contract())
    run = run_job("reminders", app=app, now=clock)
    assert run.status == "success", run.error
    assert run.detail["today"] == "2023-06-20"
    assert run.detail["count"] == 6
    assert run.detail["reminders"][0]["description"] == "Mätning av kostnader"


def test_portfolios_are_recomputed(app: Flask, engine: Engine, clock: FixedClock) -> None:
    contract_id = store(engine, rich_contract())
    with Session(engine) as s:
        user = User(username="investor", password_hash="x", role="investor")
        s.add(user)
        s.flush()
        good = Portfolio(owner_id=user.id, name="Good", spec={
            "base_currency": "SEK", "scenarios": 2000, "seed": 1,
            "holdings": [{"contract": contract_id, "share": 1.0}]})
        bad = Portfolio(owner_id=user.id, name="Bad", spec={
            "base_currency": "SEK", "holdings": [{"contract": "no-such-contract", "share": 1.0}]})
        s.add(good)
        s.add(bad)
        s.commit()
        good_id, bad_id = good.id, bad.id
    run = run_job("portfolios", app=app, now=clock)
    assert run.status == "failed"  # the bad one is reported ...
    assert run.detail["recomputed"] == [good_id]  # ... and the good one still got its results
    assert "no-such-contract" in run.detail["failed"][str(bad_id)]
    with Session(engine) as s:
        good_row, bad_row = s.get(Portfolio, good_id), s.get(Portfolio, bad_id)
        assert good_row.result and "summary" in good_row.result
        assert good_row.result_computed_at.replace(tzinfo=UTC) == clock.now
        assert bad_row.result is None


def test_market_statistics_are_stored(app: Flask, engine: Engine, clock: FixedClock) -> None:
    from registry.models import MarketSnapshot

    store(engine, rich_contract())  # a write stores one
    run = run_job("market", app=app, now=clock)
    assert run.status == "success", run.error
    with Session(engine) as s:
        written, scheduled = s.exec(select(MarketSnapshot).order_by(MarketSnapshot.id)).all()  # type: ignore[arg-type]
    assert scheduled.computed_at.replace(tzinfo=UTC) == clock.now and scheduled.data == written.data


def test_admin_page_lists_runs_and_reminders(app: Flask, client: FlaskClient, engine: Engine, login_as: Any,
                                             clock: FixedClock) -> None:
    store(engine, planned_contract())
    run_job("reminders", app=app, now=clock)
    run_job("boom", app=app, now=clock, jobs={"boom": JobSpec("boom", _fail, "")})
    assert client.get("/admin/jobs").status_code == 302  # anonymous: log in first
    login_as("curator", role="curator")
    page = client.get("/admin/jobs?date=2023-06-20&lang=en").get_data(as_text=True)
    assert "Scheduled jobs" in page and "reminders" in page
    assert "ZeroDivisionError" in page  # the failed run with its error
    assert "Mätning av kostnader" in page and "insatsråd" in page


def test_admin_page_is_for_curators_and_admins(client: FlaskClient, login_as: Any) -> None:
    login_as("investor", role="investor")
    assert client.get("/admin/jobs").status_code == 403


def _fail(session: Session, now: datetime) -> dict[str, Any]:
    return {"x": 1 / 0}


def test_runs_left_running_by_a_stopped_scheduler_are_marked_failed(session: Session) -> None:
    from registry.models import JobRun
    from web.jobs import fail_interrupted_job_runs

    session.add(JobRun(job="factsheets", status="running"))
    session.add(JobRun(job="reminders", status="success"))
    session.commit()
    assert fail_interrupted_job_runs(session=session) == 1
    session.commit()
    runs = {r.job: r for r in session.exec(select(JobRun)).all()}
    assert runs["factsheets"].status == "failed" and "interrupted" in (runs["factsheets"].error or "")
    assert runs["factsheets"].finished_at is not None
    assert runs["reminders"].status == "success"
