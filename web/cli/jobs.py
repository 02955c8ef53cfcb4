"""Commands for fact sheets, reminders and the scheduler process.

``utfall scheduler`` is the one process that runs the scheduled jobs (APScheduler 3.x, memory job store; the
jobs and their schedule are defined in code in ``web.jobs``). The web workers never start a scheduler, and a
scheduler runs only while it holds the database's scheduler lease (``web.jobs.take_lease``), renewed every
twenty seconds: a second ``utfall scheduler`` on the same database exits with a message naming the holder, or
with ``--wait`` waits until the lease is free (the holder stopped, or died and its lease expired).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy import Engine

from registry import db
from registry.reminders import reminders_due
from registry.services.contracts import contract_ids as all_contract_ids
from web import in_language, offline_app
from web.extensions import db as app_db
from web.jobs import (
    JOBS,
    LEASE_SECONDS,
    LeaseKeeper,
    build_scheduler,
    fail_interrupted_job_runs,
    lease_owner,
    local_date,
    recent_runs,
    release_lease,
    run_job,
    short_lived_app,
    system_clock,
    take_lease,
)
from web.vocabulary import label


def acquire_scheduler_lease(engine: Engine, owner: str, *, wait: bool, seconds: float,
                            poll: float = 5.0) -> bool:
    """Take the lease, waiting for it with ``wait``; ``False`` (after saying who holds it) otherwise."""
    told = False
    while True:
        holder = take_lease(engine, owner, seconds=seconds)
        if holder is None:
            return True
        if not wait:
            click.echo(f"another scheduler is running for this database ({holder.owner}, last seen "
                       f"{holder.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); only one may run. Stop it first, or "
                       "start this one with --wait to take over when it stops.", err=True)
            return False
        if not told:
            click.echo(f"waiting for the scheduler lease held by {holder.owner} ...", err=True)
            told = True
        time.sleep(poll)


@click.command("scheduler")
@click.option("--run-now/--no-run-now", default=True, show_default=True,
              help="Run every job once at start-up (catches up after downtime).")
@click.option("--wait", is_flag=True,
              help="If another scheduler runs for this database, wait until it stops instead of exiting.")
def scheduler_command(run_now: bool, wait: bool) -> None:
    """Run the scheduled jobs in the foreground (one scheduler per database: a second one exits or waits)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # a line per layout step otherwise
    with db.session_scope():  # migrates the database before the first job
        pass
    app = offline_app()
    with app.app_context():
        engine = app_db.engine
    owner = lease_owner()
    if not acquire_scheduler_lease(engine, owner, wait=wait, seconds=LEASE_SECONDS):
        sys.exit(1)
    scheduler = build_scheduler(app)
    keeper = LeaseKeeper(engine, owner, scheduler, LEASE_SECONDS)
    keeper.start()
    try:
        # Only the lease holder gets here, so a run still marked running was left by a stopped scheduler.
        with db.session_scope() as session:
            interrupted = fail_interrupted_job_runs(session=session)
        if interrupted:
            click.echo(f"marked {interrupted} job run(s) interrupted by the last stop as failed")
        if run_now:
            for name in JOBS:
                run = run_job(name, app=app)
                click.echo(f"{name}: {run.status}" + (f" ({run.error})" if run.error else ""))
        for job in scheduler.get_jobs():
            click.echo(f"scheduled {job.id}: {job.trigger}")
        # A service manager stops the process with SIGTERM: end like Ctrl-C, letting a running job finish.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            # Announced inside the try: a stop that arrives as soon as the line is out (the signal is raised when
            # echo returns) must end the same clean way.
            click.echo("scheduler running (Europe/Stockholm); stop with Ctrl-C")
            if not keeper.lost:
                scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            pass
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        keeper.stop()
        if not keeper.lost:
            release_lease(engine, owner)
    if keeper.lost:
        _fail("stopped: another scheduler took the lease over (this one had stalled past its expiry)")
    click.echo("scheduler stopped")


def _raise_keyboard_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


@click.command("factsheet")
@click.argument("contract_id")
@click.option("--lang", type=click.Choice(["sv", "en"]), default="sv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The PDF file to write.")
@click.option("--force", is_flag=True, help="Render again even if the cached sheet is current.")
def factsheet_command(contract_id: str, lang: str, output: Path, force: bool) -> None:
    """Write one contract's PDF fact sheet."""
    # lazy: the fact-sheet service loads both databases' SQL dialects, the charts and the PDF layer (several % of
    # 'utfall --help'), which only the commands that render need
    from web.factsheet_service import FactsheetNotFound, render_factsheet

    with short_lived_app() as app, db.session_scope() as session, app.app_context():
        try:
            pdf = render_factsheet(contract_id, lang, session=session, force=force)
        except FactsheetNotFound:
            _fail(f"no contract {contract_id!r}")
            return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(pdf)
    click.echo(f"wrote {output} ({len(pdf) // 1024} KiB)")


_worker_app: Flask | None = None


def _factsheet_worker_init() -> None:
    """A process of ``utfall factsheets``' pool: its own app and database connections."""
    global _worker_app
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    _worker_app = offline_app()


def _write_factsheet(contract_id: str, lang: str, output: Path, force: bool, app: Any = None) -> str | None:
    """Render (or take from the cache) one sheet and write it to ``output``; the error text, or ``None``."""
    from web.factsheet_service import FactsheetNotFound, render_factsheet  # lazy: see factsheet_command

    app = app or _worker_app
    try:
        with app.app_context(), db.session_scope(migrate_first=False) as session:
            pdf = render_factsheet(contract_id, lang, session=session, force=force)
    except FactsheetNotFound:
        return f"{contract_id}: no such contract"
    except Exception as exc:  # report and carry on with the other contracts
        return f"{contract_id}/{lang}: {type(exc).__name__}: {exc}"
    (output / f"{contract_id}-{lang}.pdf").write_bytes(pdf)
    return None


@click.command("factsheets")
@click.argument("contract_ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every contract in the registry.")
@click.option("--lang", "langs", type=click.Choice(["sv", "en"]), multiple=True,
              help="Languages (default: both).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The folder to write <id>-<lang>.pdf files into.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
@click.option("--force", is_flag=True, help="Render again even where the cached sheet is current.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Processes rendering at once (default: one per CPU core).")
def factsheets_command(contract_ids: tuple[str, ...], all_: bool, langs: tuple[str, ...], output: Path,
                       progress: bool | None, force: bool, jobs: int | None) -> None:
    """Write fact sheets for several contracts (or --all) into a folder, on every CPU core."""
    if all_ == bool(contract_ids):
        _fail("give contract ids or --all (not both)")
    langs = langs or ("sv", "en")
    output.mkdir(parents=True, exist_ok=True)
    with db.session_scope() as session:  # migrates the database before any worker starts
        ids = list(contract_ids) or all_contract_ids(session=session)
    work = [(cid, lang) for cid in ids for lang in langs]
    workers = min(jobs or os.cpu_count() or 1, len(work))
    from tqdm import tqdm  # lazy: only a command that shows a progress bar loads it
    bar = tqdm(total=len(work), unit="sheet", disable=not (sys.stderr.isatty() if progress is None else progress),
               file=sys.stderr)
    failed: list[str] = []
    if workers <= 1:
        with short_lived_app() as app:
            for cid, lang in work:
                bar.set_postfix_str(f"{cid}/{lang}", refresh=False)
                error = _write_factsheet(cid, lang, output, force, app)
                failed.extend([error] if error else [])
                bar.update()
    else:
        # Rendering is CPU-bound Python (WeasyPrint), so processes, not threads; spawned, not forked, so that no
        # worker inherits this process's database connections.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_factsheet_worker_init) as pool:
            futures = [pool.submit(_write_factsheet, cid, lang, output, force) for cid, lang in work]
            for future in futures:
                error = future.result()
                failed.extend([error] if error else [])
                bar.update()
    bar.close()
    click.echo(f"wrote {len(work) - len(failed)} fact sheets to {output}")
    if failed:
        _fail("failed:\n  " + "\n  ".join(failed))


@click.command("reminders")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Count from this date (default: today in Stockholm).")
@click.option("--days", default=30, show_default=True, type=click.IntRange(0, 3660))
@click.option("--lang", type=click.Choice(["sv", "en"]), default="sv", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def reminders_command(on: Any, days: int, lang: str, as_json: bool) -> None:
    """Milestones due soon: measurements, insatsråd meetings, evaluations and payment dates."""
    today: date = on.date() if on else local_date(system_clock())
    with db.session_scope() as session:
        due = reminders_due(session=session, today=today, days=days)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in due], ensure_ascii=False, indent=2))
        return
    if not due:
        click.echo(f"nothing due from {today} to {days} days ahead")
        return
    with in_language(lang):
        kinds = {r.kind: label("milestone_kind", r.kind) for r in due}
    for r in due:
        text = f"  {r.description}" if r.description else ""
        click.echo(f"{r.date_text:<10}  {r.contract_id:<32}  {kinds[r.kind]}{text}")


@click.command("jobs")
@click.option("--run", "run_name", default=None, help="Run this job now (and record it) instead of listing.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def jobs_command(run_name: str | None, limit: int, as_json: bool) -> None:
    """Recent runs of the scheduled jobs (job, start, end, status, error); --run NAME runs one now."""
    if run_name:
        if run_name not in JOBS:
            _fail(f"unknown job {run_name!r}; jobs: {', '.join(JOBS)}")
        with db.session_scope():
            pass  # migrate first
        with short_lived_app() as app:
            run = run_job(run_name, app=app)
        click.echo(f"{run.job}: {run.status}" + (f"\n{run.error}" if run.error else ""))
        if run.status != "success":
            sys.exit(1)
        return
    with db.session_scope() as session:
        runs = recent_runs(session=session, limit=limit)
        rows = [{"id": r.id, "job": r.job, "started_at": r.started_at.isoformat() if r.started_at else None,
                 "finished_at": r.finished_at.isoformat() if r.finished_at else None, "status": r.status,
                 "error": r.error} for r in runs]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no job runs recorded yet; jobs: " + ", ".join(f"{n} ({s.description})" for n, s in JOBS.items()))
        return
    for r in rows:
        start = (r["started_at"] or "")[:19].replace("T", " ")
        end = (r["finished_at"] or "")[:19].replace("T", " ") or "-"
        error = f"  {r['error'].splitlines()[-1][:100]}" if r["error"] else ""
        click.echo(f"{r['id']:>5}  {r['job']:<11} {start}  {end}  {r['status']:<8}{error}")

