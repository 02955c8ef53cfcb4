"""Reliability under load and faults: gunicorn on PostgreSQL, a worker killed, an INDIGO import killed.

    python benchmarks/bench_reliability.py                        # PostgreSQL at 127.0.0.1:5432, db "test"
    python benchmarks/bench_reliability.py --seconds 5 --database-url postgresql://postgres@127.0.0.1/test

Everything runs on this machine (127.0.0.1 only) in a database of its own, created on the server of
``--database-url`` and dropped at the end, and stops by itself: every phase is bounded in requests and
seconds, and the whole run by ``--deadline``.

1. Fills the database with the seed contracts and an INDIGO export (the bundled test sample by default).
2. Starts gunicorn (``--workers``, default 2) and, for each concurrency in 1/8/32/64, sends GETs round-robin
   over the main routes (registry page, contract page, API list and detail, cached fact sheet) for
   ``--seconds``: requests per second, median and 99th-percentile latency, errors.
3. At concurrency 8, kills one worker with SIGKILL half-way: gunicorn starts another; the errors counted are
   the requests that worker had in flight.
4. Starts a large simulation in the background (API, HTTP Basic), kills every worker with SIGKILL and polls
   the run: it must end ``failed`` once its heartbeat is ``UTFALL_RUN_STALE_SECONDS`` (10 here) old.
5. Starts ``utfall import indigo`` of a second export and kills it with SIGKILL half-way through its projects.
6. Checks the database: every contract's stored hash matches its document, parties match the documents, the
   killed import left nothing (same contracts and records as before it), no INDIGO record without its
   contract, no simulation run left running, at most one scheduler lease.

Figures depend on the machine (2 shared cores here); nothing is asserted, the run prints what it saw.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "tests" / "data" / "indigo-sample"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> tuple[int, float]:
    """Status (0 for a connection error) and seconds taken."""
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
    except (OSError, urllib.error.URLError):
        status = 0
    return status, time.perf_counter() - start


def load(base: str, paths: list[str], concurrency: int, seconds: float, max_requests: int,
         during: Any = None) -> dict[str, Any]:
    """GETs over ``paths`` from ``concurrency`` threads for ``seconds`` (at most ``max_requests``).

    ``during`` is called once, half-way, from its own thread (the fault to inject).
    """
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    issued = 0
    start = time.monotonic()
    deadline = start + seconds

    def worker() -> None:
        nonlocal issued
        while True:
            with lock:
                if issued >= max_requests or time.monotonic() >= deadline:
                    return
                path = paths[issued % len(paths)]
                issued += 1
            status, took = fetch(base + path)
            with lock:
                latencies.append(took)
                if status != 200:
                    key = f"{status or 'connection'} {path.split('?')[0]}"
                    errors[key] = errors.get(key, 0) + 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in pool:
        t.start()
    fault = None
    if during is not None:
        time.sleep(seconds / 2)
        fault = during()
    for t in pool:
        t.join(seconds + 60)
    elapsed = time.monotonic() - start
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    return {"requests": len(latencies), "rps": len(latencies) / elapsed if elapsed else 0.0,
            "p50_ms": statistics.median(ordered) * 1000 if ordered else 0.0, "p99_ms": p99 * 1000,
            "errors": sum(errors.values()), "error_kinds": errors, "fault": fault}


def private_database(server_url: str) -> str:
    from sqlalchemy import create_engine, make_url, text

    url = make_url(server_url)
    name = f"utfall_bench_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    from sqlalchemy import create_engine, make_url, text

    from registry import db

    db.dispose_engines()
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def fill(url: str, indigo: Path) -> list[str]:
    from sqlmodel import select

    from registry import db
    from registry.indigo.importer import import_export
    from registry.loader import SEED_DIR, load_paths
    from registry.models import Contract

    with db.session_scope(url) as session:
        load_paths([SEED_DIR], session=session, actor="seed")
    with db.session_scope(url) as session:
        import_export(indigo, session=session)
    with db.session_scope(url) as session:
        return list(session.exec(select(Contract.id).order_by(Contract.id)).all())


def worker_pids(master: int) -> list[int]:
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def wait_until_up(base: str, proc: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn stopped; see {log}:\n{log.read_text()[-2000:]}")
        if fetch(base + "/api/v1/market")[0] == 200:
            return
        time.sleep(0.5)
    raise SystemExit(f"gunicorn did not answer within {seconds:.0f} s; see {log}")


def kill_import_midway(env: dict[str, str], export: Path, seconds: float) -> str:
    """Run ``utfall import indigo`` and SIGKILL it once its progress bar passes half of the projects."""
    import re

    proc = subprocess.Popen([sys.executable, "-c", "from web.cli import main; main()", "import", "indigo",
                             str(export), "--progress", "--label", "killed"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    deadline = time.monotonic() + seconds
    seen = b""
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            chunk = proc.stderr.read(4096) or b""
            seen = (seen + chunk)[-4000:]
            counts = re.findall(rb"(\d+)/(\d+)", seen)
            if counts:
                done, total = map(int, counts[-1])
                if total and done >= total / 2:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(30)
                    return f"killed at project {done} of {total}"
            time.sleep(0.02)
        return f"not killed: the import ended first (exit {proc.returncode})" if proc.poll() is not None \
            else "not killed: no progress within the time limit"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def orphaned_run(base: str, master: int, url: str, seconds: float) -> str:
    """Start a background simulation, kill every worker, and poll until the run is reported failed."""
    import base64
    import json

    import yaml

    from registry import db
    from web.auth import create_user

    password = "bench-" + os.urandom(8).hex()
    with db.session_scope(url) as session:
        create_user(session, "bench-runner", password, "investor")
    auth = "Basic " + base64.b64encode(f"bench-runner:{password}".encode()).decode()
    spec = yaml.safe_load((ROOT / "docs" / "examples" / "nordic-portfolio.yaml").read_text(encoding="utf-8"))
    spec["scenarios"] = 1_000_000
    request = urllib.request.Request(base + "/api/v1/simulations", data=json.dumps(spec).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": auth})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            run = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return f"could not start a run: HTTP {exc.code} {exc.read()[:200]!r}"
    for pid in worker_pids(master):
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + seconds
    status = "?"
    while time.monotonic() < deadline:
        poll = urllib.request.Request(f"{base}/api/v1/simulations/{run['id']}", headers={"Authorization": auth})
        try:
            with urllib.request.urlopen(poll, timeout=30) as response:
                status = json.loads(response.read())["status"]
        except (OSError, urllib.error.URLError, KeyError, ValueError):
            status = "no answer"
        if status in ("failed", "done"):
            return f"run {run['id']}: workers killed, reported {status} after {time.monotonic() - killed:.0f} s"
        time.sleep(1)
    return f"run {run['id']}: still {status} {seconds:.0f} s after its workers were killed"


def consistency(url: str) -> dict[str, Any]:
    """What must hold whatever was killed: counts, and every problem found."""
    from sqlmodel import Session, select

    from registry import db
    from registry.loader import content_hash, parse_document
    from registry.models import ChangeRecord, Contract, ContractParty, IndigoRecord, SchedulerLease, SimulationRun

    problems: list[str] = []
    with Session(db.shared_engine(url)) as s:
        contracts = s.exec(select(Contract)).all()
        parties: dict[str, set[tuple[str, str]]] = {}
        for p in s.exec(select(ContractParty)).all():
            parties.setdefault(p.contract_id, set()).add((p.organisation_id, p.role))
        created = set(s.exec(select(ChangeRecord.contract_id).where(ChangeRecord.kind == "created")).all())
        for row in contracts:
            if content_hash(row.document) != row.content_hash:
                problems.append(f"{row.id}: stored hash does not match its document")
            doc = parse_document(row.document, row.id)
            expected = {(party.organisation, str(role)) for party in doc.parties for role in party.roles}
            if parties.get(row.id, set()) != expected:
                problems.append(f"{row.id}: party index differs from the document")
            if row.id not in created:
                problems.append(f"{row.id}: no 'created' change record")
        ids = {row.id for row in contracts}
        records = s.exec(select(IndigoRecord)).all()
        problems += [f"INDIGO record {r.indigo_id} points at missing contract {r.contract_id}"
                     for r in records if r.contract_id not in ids]
        running = s.exec(select(SimulationRun).where(SimulationRun.status == "running")).all()
        problems += [f"simulation run {r.id} still running" for r in running]
        if len(s.exec(select(SchedulerLease)).all()) > 1:
            problems.append("more than one scheduler lease")
        changes = len(s.exec(select(ChangeRecord.id)).all())
    return {"contracts": len(contracts), "indigo_records": len(records), "change_records": changes,
            "problems": problems}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/test"),
                        help="a PostgreSQL server URL; the benchmark makes and drops a database of its own there")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per concurrency level")
    parser.add_argument("--max-requests", type=int, default=5000, help="requests per level, at most")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--concurrency", default="1,8,32,64", help="client threads per level")
    parser.add_argument("--indigo", type=Path, default=SAMPLE / "2025-05",
                        help="the export loaded first (default: the bundled sample, 2025-05 layout)")
    parser.add_argument("--indigo-killed", type=Path, default=SAMPLE / "2025-12",
                        help="the export whose import is killed half-way")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for the whole run, at most")
    args = parser.parse_args()
    started = time.monotonic()

    from registry import db

    server = db.normalise_url(args.database_url)
    if not server.startswith("postgresql"):
        raise SystemExit("--database-url must be a PostgreSQL server (gunicorn's workers share it)")
    url = private_database(server)
    instance = Path(tempfile.mkdtemp(prefix="utfall-reliability-"))
    env = {**os.environ, "DATABASE_URL": url, "UTFALL_INSTANCE": str(instance), "UTFALL_RUN_STALE_SECONDS": "10",
           "UTFALL_SECRET_KEY": os.environ.get("UTFALL_SECRET_KEY", "bench-reliability-" + os.urandom(8).hex())}
    proc: subprocess.Popen[bytes] | None = None
    try:
        ids = fill(url, args.indigo)
        print(f"database: {len(ids)} contracts (seeds + {args.indigo.name} INDIGO export), PostgreSQL")
        curated = [i for i in ids if not i.startswith("indigo-")][:5] or ids[:5]
        paths = ["/contracts?lang=en", "/api/v1/contracts?limit=50"]
        for cid in curated:
            paths += [f"/contracts/{cid}?lang=en", f"/api/v1/contracts/{cid}", f"/contracts/{cid}/factsheet.pdf"]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = instance / "gunicorn.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--bind",
                                     f"127.0.0.1:{port}", "--timeout", "120", "web:create_app()"],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_until_up(base, proc, log, 600)  # a busy machine takes minutes to start the workers
        for path in paths:  # first renders of the fact sheets, so that the levels measure the cache
            fetch(base + path)
        print(f"gunicorn: {args.workers} workers at {base}; {len(paths)} routes; {args.seconds:.0f} s a level\n")
        print(f"{'level':<22}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")

        def row(label: str, r: dict[str, Any]) -> None:
            print(f"{label:<22}{r['requests']:>9}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
                  f"{r['errors']:>8}" + (f"  {r['fault']}" if r.get("fault") else ""))
            for kind, n in sorted(r["error_kinds"].items()):
                print(f"{'':<24}{n} x {kind}")

        for level in (int(c) for c in args.concurrency.split(",")):
            if time.monotonic() - started > args.deadline - 120:
                print("deadline near: remaining levels skipped")
                break
            row(f"concurrency {level}", load(base, paths, level, args.seconds, args.max_requests))

        def kill_a_worker() -> str:
            pids = worker_pids(proc.pid) if proc else []
            if not pids:
                return "no worker found to kill"
            os.kill(pids[0], signal.SIGKILL)
            return f"worker {pids[0]} killed (SIGKILL) half-way"

        row("8, a worker killed", load(base, paths, 8, args.seconds, args.max_requests, during=kill_a_worker))
        after = load(base, paths, 8, min(args.seconds, 4), args.max_requests)
        row("8, after the restart", after)

        print(f"\nsimulation of a killed worker: {orphaned_run(base, proc.pid, url, 120)}")
        before = consistency(url)
        outcome = kill_import_midway(env, args.indigo_killed, max(60.0, args.deadline - (time.monotonic() - started)))
        now = consistency(url)
        print(f"\nINDIGO import of {args.indigo_killed.name}: {outcome}")
        same = (before["contracts"], before["indigo_records"], before["change_records"]) == (
            now["contracts"], now["indigo_records"], now["change_records"])
        print(f"after the killed import: {now['contracts']} contracts, {now['indigo_records']} INDIGO records, "
              f"{now['change_records']} change records ({'unchanged: all or nothing held' if same else 'CHANGED'})")
        problems = now["problems"] + ([] if same else ["the killed import left part of its work behind"])
        print("consistency check: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
        for p in problems[:30]:
            print(f"  {p}")
        print(f"\ntotal {time.monotonic() - started:.0f} s")
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        drop_database(server, url)


if __name__ == "__main__":
    main()
