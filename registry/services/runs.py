"""Simulation runs: recorded when started, their progress and heartbeat while a process holds them, their result.

A run lives in the threads of the web process that started it. That process renews the run's heartbeat while
it holds it; a run whose heartbeat stopped (the process died) is failed by whichever process reads it next.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import update
from sqlmodel import Session, col, select

from registry.models import Portfolio, SimulationRun, User, utcnow
from registry.services.users import owned

UNFINISHED = ("queued", "running")
STALE_ERROR = "interrupted: the process running it stopped (no heartbeat since {since:%Y-%m-%d %H:%M:%S} UTC)"


def owned_run(*, session: Session, run_id: int, user: User | None) -> SimulationRun | None:
    """``user``'s run ``run_id``, or ``None`` (also when it exists but is someone else's)."""
    return owned(session=session, model=SimulationRun, row_id=run_id, user=user)


def create_run(*, session: Session, spec: dict[str, Any], owner_id: int | None,
               portfolio_id: int | None) -> SimulationRun:
    """Record a queued run (committed, so that a worker thread sees it)."""
    run = SimulationRun(owner_id=owner_id, portfolio_id=portfolio_id, status="queued", progress=0.0, spec=spec,
                        heartbeat_at=utcnow())
    session.add(run)
    session.commit()
    return run


def latest_run(*, session: Session, portfolio_id: int) -> SimulationRun | None:
    """The portfolio's most recent run, or ``None``."""
    return session.exec(
        select(SimulationRun).where(SimulationRun.portfolio_id == portfolio_id)
        .order_by(col(SimulationRun.id).desc()).limit(1)
    ).first()


def finished_runs(*, session: Session, portfolio_id: int, owner_id: int, limit: int = 50) -> list[SimulationRun]:
    """The portfolio's runs that finished with a result, newest first (at most ``limit``)."""
    runs = session.exec(
        select(SimulationRun).where(SimulationRun.portfolio_id == portfolio_id, SimulationRun.owner_id == owner_id,
                                    SimulationRun.status == "done")
        .order_by(col(SimulationRun.id).desc()).limit(limit)
    ).all()
    return [run for run in runs if run.result]


def set_run_state(*, session: Session, run_id: int, **values: Any) -> None:
    """Write ``values`` (status, progress, error, ...) to the run (committed): progress is written from the
    worker in short transactions of their own while a request may be reading the row."""
    session.exec(update(SimulationRun).where(col(SimulationRun.id) == run_id).values(**values))  # type: ignore[call-overload]
    session.commit()


def renew_heartbeats(*, session: Session, run_ids: list[int]) -> None:
    """Renew the heartbeat of the unfinished runs among ``run_ids`` (committed)."""
    session.exec(update(SimulationRun).where(  # type: ignore[call-overload]
        col(SimulationRun.id).in_(run_ids), col(SimulationRun.status).in_(UNFINISHED)
    ).values(heartbeat_at=utcnow()))
    session.commit()


def finish_run(*, session: Session, run_id: int, result: dict[str, Any]) -> None:
    """Store a run's result, also on its portfolio if it still has one (committed)."""
    session.expire_all()
    run = session.get(SimulationRun, run_id)
    if run is None:
        raise LookupError(f"no simulation run {run_id}")
    run.result, run.status, run.progress, run.finished_at = result, "done", 1.0, utcnow()
    if run.portfolio_id is not None:
        portfolio = session.get(Portfolio, run.portfolio_id)
        if portfolio is not None:
            portfolio.result, portfolio.result_computed_at = result, run.finished_at
    session.commit()


def fail_interrupted_runs(*, session: Session) -> int:
    """Mark runs left queued or running by a stopped server as failed (flushes); returns how many.

    Runs live in the server's own threads, so at start-up none can still be running.
    """
    stale = session.exec(select(SimulationRun).where(col(SimulationRun.status).in_(UNFINISHED))).all()
    for run in stale:
        run.status, run.error, run.finished_at = "failed", "interrupted: the server stopped during the run", utcnow()
    session.flush()
    return len(stale)


def fail_if_stale(*, session: Session, run: SimulationRun, stale_seconds: float) -> bool:
    """Mark ``run`` failed if it is queued or running and its heartbeat is older than ``stale_seconds``.

    Whichever process reads the run first does it (a conditional UPDATE, so only one writes); ``run`` is
    refreshed either way. Returns whether this call failed it.
    """
    if run.status not in UNFINISHED:
        return False
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_seconds)
    last = run.heartbeat_at or run.created_at
    if last >= cutoff:
        return False
    done = session.exec(update(SimulationRun).where(  # type: ignore[call-overload]
        col(SimulationRun.id) == run.id, col(SimulationRun.status).in_(UNFINISHED),
        sa.func.coalesce(col(SimulationRun.heartbeat_at), col(SimulationRun.created_at)) < cutoff,
    ).values(status="failed", error=STALE_ERROR.format(since=last), finished_at=now)
        .execution_options(synchronize_session=False))
    session.commit()
    session.refresh(run)
    return bool(done.rowcount)
