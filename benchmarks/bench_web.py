"""Web speed: page response times with 1,000 contracts, and requests per second under gunicorn.

    python benchmarks/bench_web.py                 # temporary SQLite database
    DATABASE_URL=postgresql://... python benchmarks/bench_web.py --keep-data   # an (empty) PostgreSQL one

1. Fills a fresh database with ``--contracts`` contracts generated from the seed documents (new ids and
   names, everything else as in the seed), plus the seeds themselves.
2. Times the registry list, the contract page, the overview and their API twins with the Flask test client (in
   process, no network) and reports median, 90th percentile and mean in milliseconds. Aim: median under 50 ms;
   the overview, served from the stored market snapshot, under 10 ms. Then times computing the market
   statistics (what every overview request cost before the snapshot) and storing a snapshot (what every commit
   that writes contracts costs now).
3. Starts gunicorn with two workers on 127.0.0.1, serving the app plus one trivial Flask route (the floor), and
   measures each page's median latency from one client thread, as a ratio to the trivial route's (aim: registry
   list, contract page and API list within 10x), then requests per second with a bounded client (a fixed number
   of requests from a few threads, stopped at a time limit).

Timings depend on the machine; nothing here asserts them.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def generate_contracts(count: int, url: str) -> list[str]:
    """Write the seeds plus ``count`` variants of them (new ids and names) to the database at ``url``."""
    from registry import db
    from registry.loader import SEED_DIR, document_json, load_documents, parse_document, validate_paths

    seeds, issues = validate_paths([SEED_DIR])
    if issues:
        raise SystemExit("\n".join(str(i) for i in issues))
    docs = list(seeds)
    for i in range(count - len(seeds)):
        base = document_json(seeds[i % len(seeds)])
        base["id"] = f"bench-{i:04d}-{base['id']}"[:80].rstrip("-")
        base.pop("indigo_id", None)
        names = base["identity"]["names"]
        for lang in ("sv", "en"):
            if names.get(lang):
                names[lang] = f"{names[lang]} (benchmark copy {i})"
        docs.append(parse_document(base, f"bench-{i}"))
    with db.session_scope(url) as session:
        load_documents(docs, session=session, actor="benchmark")
    return [d.id for d in docs]


def summarise(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    return f"median {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   mean {statistics.fmean(ms):7.1f} ms"


def time_requests(get: Callable[[str], int], paths: list[str], repeat: int, warmup: int = 3) -> list[float]:
    for path in paths[:warmup]:
        get(path)
    samples = []
    for i in range(repeat):
        path = paths[i % len(paths)]
        start = time.perf_counter()
        status = get(path)
        samples.append(time.perf_counter() - start)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}")
    return samples


def time_market_snapshot(app: Any, repeat: int) -> None:
    """What the overview paid per request before it read the stored snapshot, and what a write pays now."""
    from registry.market import market_statistics, store_snapshot
    from web.extensions import session as db_session

    with app.app_context():
        session = db_session()
        computed = [_timed(lambda: market_statistics(session=session)) for _ in range(repeat)]
        stored = [_timed(lambda: store_snapshot(session=session)) for _ in range(repeat)]
        session.rollback()
    print(f"\nMarket statistics, {repeat} times each")
    print(f"  {'computed (per request before)':<34} {summarise(computed)}")
    print(f"  {'stored as a snapshot (per write)':<34} {summarise(stored)}")


def _timed(call: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    call()
    return clock() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def load_test(base: str, paths: list[str], total: int, threads: int, time_limit: float) -> dict[str, Any]:
    """``total`` GETs spread over ``threads`` client threads, stopped after ``time_limit`` seconds."""
    lock = threading.Lock()
    issued = 0
    done = 0
    errors = 0
    deadline = time.monotonic() + time_limit

    def worker() -> None:
        nonlocal issued, done, errors
        while True:
            with lock:
                if issued >= total or time.monotonic() >= deadline:
                    return
                path = paths[issued % len(paths)]
                issued += 1
            try:
                status = fetch(base + path)
            except OSError:
                status = 0
            with lock:
                done += 1
                errors += status != 200

    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return {"requests": done, "errors": errors, "seconds": elapsed, "rps": done / elapsed if elapsed else 0.0}


TRIVIAL_PATH = "/_bench/trivial"


def app_with_trivial_route() -> Any:
    """The utfall app plus a route that does nothing (gunicorn: ``bench_web:app_with_trivial_route()``)."""
    from web import create_app

    app = create_app()
    app.add_url_rule(TRIVIAL_PATH, "bench_trivial", lambda: "ok")
    return app


def run_gunicorn(env: dict[str, str], args: argparse.Namespace, pages: dict[str, list[str]]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = Path(env["UTFALL_INSTANCE"]) / "gunicorn.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
             "--log-level", "warning", "--pythonpath", str(Path(__file__).resolve().parent),
             "bench_web:app_with_trivial_route()"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180  # worker boot is seconds, minutes on a machine busy with other work
        while True:
            try:
                if fetch(base + "/") == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start; see {log_path}:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        floor = statistics.median(time_requests(lambda p: fetch(base + p), [TRIVIAL_PATH], args.latency_repeat))
        print(f"\ngunicorn, 2 workers, one client thread, {args.latency_repeat} requests per page (median latency)")
        print(f"  {'trivial Flask route':<22} {floor * 1000:7.2f} ms  (floor)")
        for name, paths in pages.items():
            median = statistics.median(time_requests(lambda p: fetch(base + p), paths, args.latency_repeat))
            print(f"  {name:<22} {median * 1000:7.2f} ms  {median / floor:6.1f}x floor (aim <= 10x)")
        print(f"\ngunicorn, 2 workers, {base}; client: {args.threads} threads, "
              f"{args.gunicorn_requests} requests or {args.time_limit:.0f} s per page")
        for name, paths in pages.items():
            load_test(base, paths, min(40, args.gunicorn_requests), args.threads, 10)  # warm both workers
            result = load_test(base, paths, args.gunicorn_requests, args.threads, args.time_limit)
            print(f"  {name:<22} {result['rps']:7.1f} req/s   ({result['requests']} requests in "
                  f"{result['seconds']:.1f} s, {result['errors']} errors)")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=1000, help="contracts in the database (default 1000)")
    parser.add_argument("--repeat", type=int, default=200, help="timed requests per page, test client")
    parser.add_argument("--gunicorn-requests", type=int, default=1000, help="requests per page under gunicorn")
    parser.add_argument("--latency-repeat", type=int, default=100, help="sequential requests per page, gunicorn")
    parser.add_argument("--threads", type=int, default=8, help="client threads for the gunicorn load")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per page under gunicorn, at most")
    parser.add_argument("--no-gunicorn", action="store_true", help="only the in-process timings")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="utfall-bench-"))
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite'}")
    env["UTFALL_INSTANCE"] = str(workdir)
    env.setdefault("UTFALL_SECRET_KEY", secrets.token_hex(32))  # gunicorn workers refuse to start without one
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "UTFALL_INSTANCE", "UTFALL_SECRET_KEY")})

    from registry.db import database_url

    started = time.perf_counter()
    ids = generate_contracts(args.contracts, database_url())
    print(f"{len(ids)} contracts written to {database_url()} in {time.perf_counter() - started:.1f} s")

    from web import create_app

    app = create_app()
    client = app.test_client()
    sample = ids[:: max(1, len(ids) // 50)][:50]
    pages = {
        "registry list": ["/contracts?lang=sv", "/contracts?lang=en", "/contracts?page=5", "/contracts?country=SE"],
        "contract page": [f"/contracts/{cid}" for cid in sample],
        "API contract list": ["/api/v1/contracts", "/api/v1/contracts?offset=500"],
        "API contract detail": [f"/api/v1/contracts/{cid}" for cid in sample],
        "overview": ["/?lang=sv", "/?lang=en"],
        "API market": ["/api/v1/market"],
        "map": ["/map?lang=sv", "/map?lang=en"],
        "glossary": ["/glossary?lang=sv", "/glossary?lang=en"],
        "outcome prices": ["/outcome-prices?category=school_attainment&lang=sv",
                           "/outcome-prices?category=reoffending&currency=orig&lang=en"],
        "API outcome prices": ["/api/v1/outcome-prices?category=school_attainment&currency=SEK"],
        "contract draft": ["/outcome-prices/draft?category=school_attainment&lang=sv"],
    }
    print(f"\nFlask test client, {args.repeat} requests per page (aim: median under 50 ms; overview under 10 ms)")
    for name, paths in pages.items():
        samples = time_requests(lambda p: client.get(p).status_code, paths, args.repeat)
        print(f"  {name:<22} {summarise(samples)}")
    # CPU time is what the process itself spends; on a busy machine wall-clock figures also hold the waits for it
    cpu = [_timed(lambda: client.get("/?lang=sv"), clock=time.process_time) for _ in range(args.repeat)]
    print(f"  {'overview, CPU time':<22} {summarise(cpu)}")
    time_market_snapshot(app, args.repeat // 10 or 1)

    if not args.no_gunicorn:
        run_gunicorn(env, args, {"registry list": pages["registry list"], "contract page": pages["contract page"],
                                 "API contract list": pages["API contract list"]})


if __name__ == "__main__":
    main()
