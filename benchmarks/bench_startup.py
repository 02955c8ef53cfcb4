"""Start-up time of the ``utfall`` command and of a gunicorn worker, each as a ratio to its floor.

    python benchmarks/bench_startup.py              # median of 5 runs each
    python benchmarks/bench_startup.py --repeat 3 --no-gunicorn

Floors, measured in the same run:
- the command: ``python -c "import flask, sqlalchemy"`` (the two libraries every command needs).
  Aim: ``utfall --help`` and ``utfall contracts list`` (seed contracts, temporary SQLite) within 2.5x.
- gunicorn: one worker serving a trivial Flask app; the ratio is the time from launching gunicorn to the first
  answer, for the utfall app (``/login``, no database query) over the trivial app.

Timings depend on the machine and on what else runs; nothing here asserts them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UTFALL = shutil.which("utfall", path=str(Path(sys.executable).parent)) or shutil.which("utfall")


def trivial_app():  # type: ignore[no-untyped-def]  # gunicorn's floor: 'bench_startup:trivial_app()'
    from flask import Flask

    app = Flask(__name__)
    app.add_url_rule("/", "index", lambda: "ok")
    return app


def time_command(argv: list[str], env: dict[str, str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_answer(app_spec: str, path: str, env: dict[str, str], chdir: Path) -> float:
    """Seconds from launching gunicorn (one worker) to the first answer to ``path``."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "error",
         "--chdir", str(chdir), app_spec],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
                    response.read()
                return time.perf_counter() - start
            except urllib.error.HTTPError:
                return time.perf_counter() - start
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn {app_spec} did not answer (exit code {proc.poll()})")
            time.sleep(0.01)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median; default 5)")
    parser.add_argument("--no-gunicorn", action="store_true", help="only the command's start-up")
    args = parser.parse_args()
    if UTFALL is None:
        raise SystemExit("the utfall command is not installed (pip install -e .)")

    workdir = Path(tempfile.mkdtemp(prefix="utfall-startup-"))
    env = dict(os.environ)
    env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite'}"
    env["UTFALL_INSTANCE"] = str(workdir)
    env.setdefault("UTFALL_SECRET_KEY", "benchmark-only")
    subprocess.run([UTFALL, "seed"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)

    floor = time_command([sys.executable, "-c", "import flask, sqlalchemy"], env, args.repeat)
    print(f"floor: python -c 'import flask, sqlalchemy'   {floor:6.3f} s  (median of {args.repeat})")
    for argv in (["--help"], ["contracts", "list"]):
        seconds = time_command([UTFALL, *argv], env, args.repeat)
        print(f"utfall {' '.join(argv):<34} {seconds:6.3f} s  {seconds / floor:5.2f}x floor  (aim <= 2.5x)")

    if not args.no_gunicorn:
        trivial = statistics.median(
            first_answer("bench_startup:trivial_app()", "/", env, Path(__file__).parent) for _ in range(args.repeat)
        )
        utfall = statistics.median(
            first_answer("web:create_app()", "/login", env, ROOT) for _ in range(args.repeat)
        )
        print(f"gunicorn launch to first answer, trivial Flask app  {trivial:6.3f} s")
        print(f"gunicorn launch to first answer, utfall app         {utfall:6.3f} s  {utfall / trivial:5.2f}x trivial "
              f"(worker boot {utfall - trivial:+.3f} s)")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
