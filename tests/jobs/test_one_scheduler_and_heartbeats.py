"""One scheduler per database, simulation runs that die are failed, and fact-sheet cache writes that race."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from registry.models import Factsheet, JobRun, Portfolio, SchedulerLease, SimulationRun, utcnow
from tests.web.conftest import login
from web.jobs import take_lease

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


# --- the lease ----------------------------------------------------------------------------------------


def test_the_lease_is_held_renewed_and_taken_over_only_after_expiry(engine: Engine, db_url: str) -> None:
    assert take_lease(engine, "a", seconds=60, now=T0) is None
    holder = take_lease(engine, "b", seconds=60, now=T0 + timedelta(seconds=1))
    assert holder is not None and holder.owner == "a"
    assert take_lease(engine, "a", seconds=60, now=T0 + timedelta(seconds=50)) is None  # renewed
    assert take_lease(engine, "b", seconds=60, now=T0 + timedelta(seconds=100)) is not None  # a's until 110
    assert take_lease(engine, "b", seconds=60, now=T0 + timedelta(seconds=111)) is None  # a went silent
    again = take_lease(engine, "a", seconds=60, now=T0 + timedelta(seconds=112))
    assert again is not None and again.owner == "b"
    with Session(engine) as s:
        row = s.get(SchedulerLease, "scheduler")
        assert row is not None and row.acquired_at == T0 + timedelta(seconds=111)


def test_processes_racing_for_a_free_lease_get_one_winner(engine: Engine, db_url: str) -> None:
    for attempt in range(3):  # a fresh row, then an expired one, twice
        barrier = threading.Barrier(4, timeout=30)
        wins: list[str] = []
        at = T0 + timedelta(hours=attempt)

        def race(owner: str, at: datetime = at, barrier: threading.Barrier = barrier,
                 wins: list[str] = wins) -> None:
            barrier.wait()
            if take_lease(engine, owner, seconds=60, now=at) is None:
                wins.append(owner)

        threads = [threading.Thread(target=race, args=(f"p{attempt}-{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(wins) == 1, wins


def _scheduler(db_url: str, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": db_url, "UTFALL_INSTANCE": str(tmp_path), "PYTHONUNBUFFERED": "1",
           "UTFALL_SECRET_KEY": "scheduler-test-secret"}
    return subprocess.Popen([sys.executable, "-c", "from web.cli import main; main()", "scheduler", "--no-run-now",
                             *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_lease(engine: Engine, process: subprocess.Popen[str], deadline_seconds: float = 600
                    ) -> SchedulerLease:
    # Generous: starting Python with Flask, pandas and WeasyPrint takes a minute on a busy machine.
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the scheduler stopped: {process.communicate()[0]}")
        with Session(engine) as s:
            row = s.get(SchedulerLease, "scheduler")
            if row is not None and row.expires_at > utcnow():
                return row
        time.sleep(0.2)
    raise AssertionError("the first scheduler never took the lease")


def test_a_second_scheduler_process_exits_with_a_clear_message(engine: Engine, db_url: str,
                                                                tmp_path: Path) -> None:
    first = _scheduler(db_url, tmp_path)
    try:
        holder = _wait_for_lease(engine, first)
        deadline = time.monotonic() + 600
        while "scheduler running" not in (first.stdout.readline() if first.stdout else "EOF"):
            assert time.monotonic() < deadline and first.poll() is None, "the first scheduler did not start"
        with Session(engine) as s:  # a job of the first scheduler, still running
            s.add(JobRun(job="factsheets", started_at=utcnow(), status="running"))
            s.commit()
        second = _scheduler(db_url, tmp_path)
        output, _ = second.communicate(timeout=600)
        assert second.returncode == 1, output
        assert "another scheduler is running for this database" in output and holder.owner in output
        assert "Traceback" not in output
        with Session(engine) as s:  # the second did not mark the first's job interrupted
            assert s.exec(select(JobRun.status)).all() == ["running"]
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=600)
    with Session(engine) as s:  # stopping released the lease: the next scheduler starts at once
        row = s.get(SchedulerLease, "scheduler")
        assert row is not None and row.expires_at <= utcnow()
    third = _scheduler(db_url, tmp_path)
    try:
        _wait_for_lease(engine, third)
    finally:
        third.send_signal(signal.SIGINT)
        third.communicate(timeout=600)


# --- simulation runs -----------------------------------------------------------------------------------


def _run_of(engine: Engine, owner_id: int, *, status: str = "running", age: timedelta, portfolio_id: int | None = None
            ) -> int:
    with Session(engine) as s:
        run = SimulationRun(owner_id=owner_id, portfolio_id=portfolio_id, status=status, progress=0.4, spec={},
                            created_at=utcnow() - age - timedelta(minutes=1), heartbeat_at=utcnow() - age)
        s.add(run)
        s.commit()
        return int(run.id or 0)


def test_a_run_whose_process_died_is_failed_by_the_next_reader(app, client, make_user, engine: Engine) -> None:
    user = make_user("ulla", role="investor")
    login(client, "ulla")
    dead = _run_of(engine, user.id, age=timedelta(minutes=10))
    alive = _run_of(engine, user.id, age=timedelta(seconds=1))
    queued_dead = _run_of(engine, user.id, status="queued", age=timedelta(minutes=10))
    status = client.get(f"/portfolios/runs/{dead}").get_json()
    assert status["status"] == "failed" and "interrupted" in status["error"]
    assert client.get(f"/portfolios/runs/{alive}").get_json()["status"] == "running"
    api = client.get(f"/api/v1/simulations/{queued_dead}").get_json()
    assert api["status"] == "failed"
    with Session(engine) as s:
        rows = {r.id: r for r in s.exec(select(SimulationRun)).all()}
        assert rows[dead].status == rows[queued_dead].status == "failed" and rows[dead].finished_at is not None
        assert rows[alive].status == "running"


def test_the_portfolio_page_of_a_dead_run_stops_polling(app, client, make_user, engine: Engine) -> None:
    user = make_user("ulla", role="investor")
    login(client, "ulla")
    with Session(engine) as s:
        row = Portfolio(owner_id=user.id, name="P", spec={"name": "P", "positions": []})
        s.add(row)
        s.commit()
        pid = int(row.id or 0)
    _run_of(engine, user.id, age=timedelta(minutes=10), portfolio_id=pid)
    page = client.get(f"/portfolios/{pid}").get_data(as_text=True)
    assert 'data-status="failed"' in page and 'data-status="running"' not in page


def test_the_run_manager_keeps_the_heartbeat_of_runs_it_holds(app, engine: Engine, make_user) -> None:
    from web.runs import runs

    user = make_user("ulla", role="investor")
    manager = runs(app)
    gate = threading.Event()
    manager.executor.submit(gate.wait, 60)  # the only worker is busy, so the next run waits queued
    queued = _run_of(engine, user.id, status="queued", age=timedelta(minutes=10))
    try:
        manager.submit(queued)
        manager.beat()
        with Session(engine) as s:
            run = s.get(SimulationRun, queued)
            assert run is not None and run.heartbeat_at is not None
            assert run.heartbeat_at > utcnow() - timedelta(minutes=1)
    finally:
        gate.set()
    assert manager.wait(120)


# --- fact sheets ---------------------------------------------------------------------------------------


def test_two_first_renders_of_one_sheet_both_succeed(app, add_contract, engine: Engine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import web.factsheet_service as factsheets

    add_contract()
    barrier = threading.Barrier(2, timeout=60)
    real = factsheets.build_factsheet_pdf

    def both_render_before_either_stores(*args, **kwargs):  # type: ignore[no-untyped-def]
        pdf = real(*args, **kwargs)
        barrier.wait()  # each found no cached sheet, and both now store theirs
        return pdf

    monkeypatch.setattr(factsheets, "build_factsheet_pdf", both_render_before_either_stores)
    statuses: list[int] = []

    def fetch() -> None:
        response = app.test_client().get("/contracts/test-contract/factsheet.pdf?lang=en")
        statuses.append(response.status_code)
        assert response.data.startswith(b"%PDF")

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert statuses == [200, 200]
    with Session(engine) as s:
        assert len(s.exec(select(Factsheet)).all()) == 1
