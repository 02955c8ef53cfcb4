"""Run the ``utfall`` console script as a real process, on a database of its own, with deadlines on every wait."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from registry import db
from tests.conftest import private_postgres_database

UTFALL = Path(sys.executable).parent / "utfall"


class Command:
    """A running ``utfall`` process whose output (stdout and stderr together) is read line by line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        assert UTFALL.is_file(), f"the utfall console script is not installed beside {sys.executable}"
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen([str(UTFALL), *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 600) -> re.Match[str]:
        """The first line (from here on) matching ``pattern``; fails at the deadline or if the process ends."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"utfall ended (exit {self.process.wait(10)}) before printing {pattern!r}:\n"
                            + "\n".join(self.lines))
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        pytest.fail(f"no line matching {pattern!r} within {timeout} s:\n" + "\n".join(self.lines))

    def stop(self, sig: signal.Signals, timeout: float = 60) -> int:
        """Send ``sig`` and wait for the exit code; the rest of the output is read into ``lines``."""
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            pytest.fail(f"utfall did not stop within {timeout} s of {sig.name}:\n" + "\n".join(self.lines))
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def close(self) -> None:
        """Kill the process if it still runs, and release its pipe."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes empty databases (no schema): SQLite files, or PostgreSQL databases when the suite runs on it."""
    configured = os.environ.get("DATABASE_URL", "")
    with ExitStack() as stack:
        made: list[str] = []

        def make() -> str:
            name = f"_cmd{len(made)}"
            if db.normalise_url(configured).startswith("postgresql"):
                url = stack.enter_context(private_postgres_database(db.normalise_url(configured), name))
            else:
                url = f"sqlite:///{tmp_path / (name + '.sqlite')}"
            made.append(url)
            return url

        yield make


@pytest.fixture
def run_utfall(tmp_path: Path) -> Iterator[Callable[..., Command]]:
    """Start ``utfall ARGS`` on ``database`` in a working folder of its own; every process is ended afterwards."""
    started: list[Command] = []

    def start(*args: str, database: str) -> Command:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UTFALL_", "DATABASE_URL"))}
        env.update(DATABASE_URL=database, UTFALL_INSTANCE=str(tmp_path / "instance"), PYTHONUNBUFFERED="1")
        command = Command(list(args), env, tmp_path)
        started.append(command)
        return command

    yield start
    for command in started:
        command.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
