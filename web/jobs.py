"""Scheduled jobs, their schedule, and the one scheduler per database; each run recorded in ``JobRun`` (job,
start, end, status, error, detail).

The jobs run in one dedicated process (``utfall scheduler``, the command in ``web.cli.jobs``) so that several
web workers never run a job twice. That process runs only while it holds the database's scheduler lease
(:func:`take_lease`), renewed by a :class:`LeaseKeeper` thread. :func:`run_job` is what the scheduler calls: it
records the start, runs the job in its own app context and session, and records the end with ``success`` or
``failed`` and the error. It never raises for a job's failure, so a failing job cannot stop the scheduler; the
job simply runs again at its next time (and its work is written so that a rerun picks up what is still to do).

The clock is injectable (``now=``) so that tests can run jobs at a fixed time and check their effects.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import Engine, case, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from registry.market import store_snapshot
from registry.models import JobRun, SchedulerLease
from registry.reminders import DEFAULT_DAYS, reminders_due
from registry.services.contracts import get_contract
from registry.services.portfolios import all_portfolios
from web import offline_app
from web.extensions import db as app_db
from web.extensions import session as app_session

log = logging.getLogger(__name__)

TIMEZONE = ZoneInfo("Europe/Stockholm")
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class JobFailed(RuntimeError):
    """A job did part of its work and failed for some items (its detail says which)."""

    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class JobSpec:
    """A job: its function ``(session, now) -> detail`` and a one-line description for ``utfall jobs``."""

    name: str
    func: Callable[[Session, datetime], dict[str, Any]]
    description: str


def local_date(now: datetime) -> date:
    """The calendar date in Stockholm at ``now`` (reminders are about Swedish working days)."""
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(TIMEZONE).date()


# --- the jobs -------------------------------------------------------------------------------------


def regenerate_factsheets(session: Session, now: datetime) -> dict[str, Any]:
    """Render every missing or out-of-date fact sheet (both languages); commits sheet by sheet."""
    # lazy: the fact-sheet service loads both databases' SQL dialects, the charts and the PDF layer, which the
    # commands importing this module (every 'utfall' command) do not need
    from web.factsheet_service import render_factsheet, stale_factsheets

    stale = stale_factsheets(session=session)
    done: list[str] = []
    failed: dict[str, str] = {}
    for contract_id, lang in stale:
        try:
            render_factsheet(contract_id, lang, session=session, now=now)
            session.commit()
            done.append(f"{contract_id}/{lang}")
        except Exception as exc:  # one bad contract must not keep the others stale
            session.rollback()
            failed[f"{contract_id}/{lang}"] = f"{type(exc).__name__}: {exc}"
            log.exception("fact sheet %s/%s failed", contract_id, lang)
    detail = {"stale": len(stale), "regenerated": done, "failed": failed}
    if failed:
        raise JobFailed(f"{len(failed)} of {len(stale)} fact sheets failed: " + ", ".join(failed), detail)
    return detail


def recompute_portfolios(session: Session, now: datetime) -> dict[str, Any]:
    """Simulate every saved portfolio again with the current registry and store its results."""
    # lazy: the engine (numpy, scipy, pandas) loads in the process that runs the job, not in every command
    from portfolio import simulate
    from registry.calibration import CalibratedPriors
    from registry.portfolio_file import build_portfolio, parse_portfolio
    from registry.reference_rates import load_rate_table

    done: list[int] = []
    failed: dict[str, str] = {}
    rows = all_portfolios(session=session)
    for row in rows:
        try:
            spec = parse_portfolio(row.spec, source=f"portfolio {row.id}")
            built = build_portfolio(spec, source=f"portfolio {row.id}",
                                    get_contract=lambda cid: get_contract(session=session, contract_id=cid),
                                    priors=CalibratedPriors.from_session(session),
                                    rates=load_rate_table(session=session))
            row.result = simulate(built).to_dict()
            row.result_computed_at = now
            session.add(row)
            session.commit()
            done.append(int(row.id or 0))
        except Exception as exc:  # the next portfolio still gets its results
            session.rollback()
            failed[str(row.id)] = f"{type(exc).__name__}: {exc}"
            log.exception("portfolio %s failed", row.id)
    detail = {"portfolios": len(rows), "recomputed": done, "failed": failed}
    if failed:
        raise JobFailed(f"{len(failed)} of {len(rows)} portfolios failed: " + ", ".join(failed), detail)
    return detail


def milestone_reminders(session: Session, now: datetime) -> dict[str, Any]:
    """Milestones due within 30 days of today (Stockholm), kept in the run's detail for the admin page."""
    today = local_date(now)
    due = reminders_due(session=session, today=today, days=DEFAULT_DAYS)
    return {"today": today.isoformat(), "days": DEFAULT_DAYS, "count": len(due),
            "reminders": [r.as_dict() for r in due]}


def refresh_market_statistics(session: Session, now: datetime) -> dict[str, Any]:
    """Compute the market statistics and store them as a new ``MarketSnapshot`` (every write does too)."""
    snapshot = store_snapshot(session=session, now=now)
    session.commit()
    return {"snapshot": snapshot.id, "keys": sorted(snapshot.data)[:20]}


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("factsheets", regenerate_factsheets, "regenerate missing and out-of-date PDF fact sheets"),
        JobSpec("portfolios", recompute_portfolios, "recompute saved portfolios' results"),
        JobSpec("reminders", milestone_reminders, "milestones due within 30 days"),
        JobSpec("market", refresh_market_statistics, "refresh the market statistics"),
    )
}

# Job id -> trigger arguments (Europe/Stockholm). Fact sheets every 15 minutes (cheap when nothing changed),
# the rest nightly or each morning.
SCHEDULE: dict[str, dict[str, Any]] = {
    "factsheets": {"trigger": "interval", "minutes": 15},
    "market": {"trigger": "cron", "hour": 2, "minute": 10},
    "portfolios": {"trigger": "cron", "hour": 2, "minute": 40},
    "reminders": {"trigger": "cron", "hour": 6, "minute": 0},
}
MISFIRE_GRACE_SECONDS = 6 * 3600


def build_scheduler(app: Flask, scheduler_class: type | None = None) -> Any:
    """A scheduler with every job of ``JOBS`` on its ``SCHEDULE`` (not started)."""
    # lazy: only the scheduler process needs APScheduler, not the web workers that import this module
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = (scheduler_class or BlockingScheduler)(
        timezone=TIMEZONE,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    for name in JOBS:
        trigger = dict(SCHEDULE[name])
        scheduler.add_job(run_job, trigger.pop("trigger"), args=[name], kwargs={"app": app}, id=name, name=name,
                          replace_existing=True, **trigger)
    return scheduler


# --- running and recording ------------------------------------------------------------------------


@contextmanager
def short_lived_app() -> Iterator[Flask]:
    """An app for one command or job run; its engines are disposed at the end so that no connection is left
    open."""
    app = offline_app()
    try:
        yield app
    finally:
        with app.app_context():
            for engine in app_db.engines.values():
                engine.dispose()


def _engine(app: Flask) -> Any:
    with app.app_context():
        return app_db.engine


def run_job(name: str, *, app: Flask | None = None, now: Clock | None = None,
            jobs: dict[str, JobSpec] | None = None) -> JobRun:
    """Run one job and record it; returns the finished ``JobRun`` (status ``success`` or ``failed``).

    The record is written in its own session before the job starts, so a run that dies half-way is still
    visible as ``running``; the job's own work happens in the app context's session.
    """
    clock = now or system_clock
    registry = jobs or JOBS
    if name not in registry:
        raise KeyError(f"unknown job {name!r}; jobs: {', '.join(registry)}")
    if app is None:
        with short_lived_app() as fresh:
            return run_job(name, app=fresh, now=now, jobs=jobs)
    engine = _engine(app)
    with Session(engine, expire_on_commit=False) as rec:
        run = JobRun(job=name, started_at=clock(), status="running")
        rec.add(run)
        rec.commit()
        try:
            with app.app_context():
                session = app_session()
                try:
                    detail = registry[name].func(session, clock())
                    session.commit()
                finally:
                    session.close()
            run.status, run.detail = "success", _jsonable(detail or {})
        except Exception as exc:  # recorded, never raised: the scheduler keeps running
            run.status = "failed"
            run.error = "".join(traceback.format_exception_only(exc)).strip()[:4000]
            run.detail = _jsonable(getattr(exc, "detail", {}) or {})
            run.detail["traceback"] = traceback.format_exc()[-4000:]
            log.error("job %s failed: %s", name, run.error)
        run.finished_at = clock()
        rec.add(run)
        rec.commit()
        rec.refresh(run)
        return run


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def fail_interrupted_job_runs(*, session: Session, now: datetime | None = None) -> int:
    """Mark runs a stopped scheduler left ``running`` as failed; returns how many.

    Only one scheduler process runs jobs, so when it starts no earlier run can still be going.
    """
    stale = session.exec(select(JobRun).where(JobRun.status == "running")).all()
    for run in stale:
        run.status, run.error = "failed", "interrupted: the scheduler stopped during the run"
        run.finished_at = now or system_clock()
    session.flush()
    return len(stale)


def recent_runs(*, session: Session, limit: int = 50, job: str | None = None) -> list[JobRun]:
    statement = select(JobRun)
    if job:
        statement = statement.where(JobRun.job == job)
    return list(session.exec(statement.order_by(col(JobRun.started_at).desc(), col(JobRun.id).desc())
                             .limit(limit)).all())


def last_runs(*, session: Session) -> dict[str, JobRun | None]:
    """The latest run of each job (``None`` for a job that never ran)."""
    return {name: next(iter(recent_runs(session=session, limit=1, job=name)), None) for name in JOBS}


# --- one scheduler per database --------------------------------------------------------------------------

LEASE = "scheduler"
LEASE_SECONDS = 60.0
"""How long a lease lasts without renewal; the holder renews it every third of that."""


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds the scheduler lease, as read when taking it failed."""

    owner: str
    heartbeat_at: datetime
    expires_at: datetime


def take_lease(engine: Engine, owner: str, *, seconds: float = LEASE_SECONDS, now: datetime | None = None,
               name: str = LEASE) -> LeaseHolder | None:
    """Take or renew the lease for ``owner``; ``None`` when it is ours now, else who holds it.

    One conditional UPDATE decides (the row is ours already, or its lease expired), so two processes that
    try at once cannot both win, on SQLite and PostgreSQL alike. The row is created on first use.
    """
    at = now or system_clock()
    until = at + timedelta(seconds=seconds)
    table = SchedulerLease.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        taken = conn.execute(update(table).where(
            table.c.name == name, (table.c.owner == owner) | (table.c.expires_at < at)
        ).values(owner=owner, heartbeat_at=at, expires_at=until,
                 acquired_at=case((table.c.owner == owner, table.c.acquired_at), else_=at)))
        if taken.rowcount == 1:
            return None
    try:
        with engine.begin() as conn:
            conn.execute(insert(table).values(name=name, owner=owner, acquired_at=at, heartbeat_at=at,
                                              expires_at=until))
        return None
    except IntegrityError:  # someone holds it (or took it a moment ago)
        pass
    with Session(engine) as s:
        row = s.get(SchedulerLease, name)
        if row is None:  # released and removed in between: try once more
            return take_lease(engine, owner, seconds=seconds, now=now, name=name)
        if row.owner == owner or row.expires_at < at:
            return take_lease(engine, owner, seconds=seconds, now=now, name=name)
        return LeaseHolder(row.owner, row.heartbeat_at, row.expires_at)


def release_lease(engine: Engine, owner: str, *, name: str = LEASE) -> None:
    """Give the lease up at once (a stopped scheduler), if ``owner`` still holds it."""
    table = SchedulerLease.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.name == name, table.c.owner == owner)
                     .values(expires_at=system_clock()))


def lease_owner() -> str:
    """This process, as the scheduler lease names it: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseKeeper:
    """Renews the scheduler lease in a thread; if it is lost (this process stalled past its expiry and
    another scheduler took over), stops the scheduler so that jobs do not run twice."""

    def __init__(self, engine: Engine, owner: str, scheduler: Any, seconds: float) -> None:
        self.engine, self.owner, self.scheduler, self.seconds = engine, owner, scheduler, seconds
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="utfall-scheduler-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                holder = take_lease(self.engine, self.owner, seconds=self.seconds)
            except Exception:  # the database is away for a moment: keep trying until the lease runs out
                log.exception("renewing the scheduler lease failed")
                continue
            if holder is not None:
                self.lost = True
                log.error("scheduler lease lost to %s; stopping", holder.owner)
                try:
                    self.scheduler.shutdown(wait=False)
                except Exception:  # not started yet: the command checks ``lost`` before starting it
                    pass
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.seconds)
