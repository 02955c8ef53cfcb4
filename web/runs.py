"""Simulation runs in the background: the app's pool of worker threads, the heartbeat, starting and reading runs.

A run is a :class:`~registry.models.SimulationRun` row (kept by :mod:`registry.services.runs`) plus a task on
the app's :class:`~concurrent.futures.ThreadPoolExecutor` (``app.extensions["utfall_runs"]``). The task works in
its own app context, hence its own database session, and writes ``progress`` as the engine reports finished
chunks, so a long run neither blocks the request that started it nor any other; pages and API clients poll the
run. When the run is done its result (JSON tables plus histograms) is stored on the run and on the portfolio.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from flask import Flask, current_app
from sqlmodel import Session

from registry.models import SimulationRun, utcnow
from registry.portfolio_file import PortfolioFile
from registry.services import runs as run_store
from registry.services.runs import renew_heartbeats
from web.extensions import db
from web.extensions import session as db_session
from web.simulations import SpecProblem, resolve_or_error, scenarios_of, simulate_now

log = logging.getLogger(__name__)

EXTENSION = "utfall_runs"


class RunManager:
    """The app's pool of simulation threads, the runs still in flight, and their heartbeat.

    While a run is queued or running here, a thread renews its ``heartbeat_at`` every
    ``UTFALL_RUN_HEARTBEAT_SECONDS``; if this process dies (a gunicorn worker killed or restarted) the
    heartbeat stops, and :func:`fail_if_stale` lets any process that reads the run mark it failed.
    """

    def __init__(self, app: Flask, workers: int, heartbeat_seconds: float = 10.0) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="utfall-simulation")
        self.heartbeat_seconds = heartbeat_seconds
        self._futures: dict[Future[None], int] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._beater: threading.Thread | None = None

    def submit(self, run_id: int) -> Future[None]:
        future = self.executor.submit(_execute, self.app, run_id)
        with self._lock:
            self._futures[future] = run_id
            if self._beater is None:
                self._beater = threading.Thread(target=self._beat_loop, name="utfall-run-heartbeat", daemon=True)
                self._beater.start()
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.pop(future, None)

    def in_flight(self) -> list[int]:
        with self._lock:
            return sorted(self._futures.values())

    def beat(self) -> None:
        """Renew the heartbeat of every run this process still holds."""
        ids = self.in_flight()
        if not ids:
            return
        with self.app.app_context():
            engine = db.engine
        with Session(engine) as s:
            renew_heartbeats(session=s, run_ids=ids)

    def _beat_loop(self) -> None:
        while not self._stopped.wait(self.heartbeat_seconds):
            try:
                self.beat()
            except Exception:  # the database away for a moment: the next beat tries again
                log.exception("simulation heartbeat failed")

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until every submitted run has finished (tests, shutdown); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._futures)
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for future in pending:
                try:
                    future.result(timeout=max(remaining, 0.01))
                except TimeoutError:
                    return False
                except Exception:  # the task records its own failure on the run row
                    pass

    def shutdown(self) -> None:
        self._stopped.set()
        self.executor.shutdown(wait=True, cancel_futures=False)


def init_app(app: Flask) -> None:
    """Give ``app`` its run manager (workers and heartbeat from the ``UTFALL_*`` settings)."""
    app.extensions[EXTENSION] = RunManager(app, int(app.config.get("UTFALL_SIMULATION_WORKERS", 1)),
                                           float(_setting("RUN_HEARTBEAT_SECONDS", 10, app)))


def runs(app: Flask | None = None) -> RunManager:
    """The app's run manager."""
    return (app or current_app).extensions[EXTENSION]  # type: ignore[no-any-return]


def start_run(spec: dict[str, Any], *, owner_id: int | None, portfolio_id: int | None) -> SimulationRun:
    """Record a queued run (committed, so the worker sees it) and hand it to the pool."""
    run = run_store.create_run(session=db_session(), spec=spec, owner_id=owner_id, portfolio_id=portfolio_id)
    runs().submit(run.id or 0)
    return run


def _setting(name: str, default: float, app: Flask | None = None) -> Any:
    """``UTFALL_<name>`` from the app's config, or ``<name>`` as the environment's ``UTFALL_<name>`` sets it."""
    config = (app or current_app).config
    return config.get(f"UTFALL_{name}", config.get(name, default))


def fail_if_stale(run: SimulationRun) -> bool:
    """Mark ``run`` failed if its process stopped renewing its heartbeat (``UTFALL_RUN_STALE_SECONDS``), so that
    it does not show as running for ever; returns whether this call failed it."""
    return run_store.fail_if_stale(session=db_session(), run=run,
                                   stale_seconds=float(_setting("RUN_STALE_SECONDS", 60)))


def active_run(portfolio_id: int) -> SimulationRun | None:
    """The portfolio's latest run, if it is still queued or running or failed after the last result."""
    run = run_store.latest_run(session=db_session(), portfolio_id=portfolio_id)
    if run is not None:
        fail_if_stale(run)
    return run if run is not None and run.status != "done" else None


def _set_progress(engine: Any, run_id: int, **values: Any) -> None:
    # A short transaction of its own: the request thread may be reading the row at the same time.
    with Session(engine) as s:
        run_store.set_run_state(session=s, run_id=run_id, **values)


def _execute(app: Flask, run_id: int) -> None:
    """The worker: resolve the spec, simulate with progress reports, store the result (or the error)."""
    with app.app_context():
        session = db_session()
        engine = db.engine
        run = session.get(SimulationRun, run_id)
        if run is None:
            return
        try:
            _set_progress(engine, run_id, status="running", progress=0.0, heartbeat_at=utcnow())
            spec = PortfolioFile.model_validate(run.spec)
            resolved = resolve_or_error(spec, session=session)
            if isinstance(resolved, SpecProblem):
                raise ValueError(resolved.message)
            total = max(scenarios_of(spec), 1)
            done = 0
            last = time.monotonic()

            def progress(finished: int) -> None:
                nonlocal done, last
                done += finished
                now = time.monotonic()
                if now - last >= 0.25:  # a few writes a second are plenty for a progress bar
                    last = now
                    # the tables after the last chunk take a moment too, so the bar stops short of 100 %
                    _set_progress(engine, run_id, progress=round(min(done / total, 1.0) * 0.95, 4))

            run_store.finish_run(session=session, run_id=run_id, result=simulate_now(resolved, progress=progress))
        except Exception as exc:
            log.exception("simulation run %s failed", run_id)
            session.rollback()
            _set_progress(engine, run_id, status="failed", error=str(exc)[:2000], finished_at=utcnow())
