"""``utfall scheduler`` as its own process: it starts, registers every job, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.commands.conftest import Command
from web.jobs import JOBS, SCHEDULE

pytestmark = pytest.mark.slow


def test_scheduler_registers_its_jobs_and_stops_on_sigterm(run_utfall: Callable[..., Command],
                                                           fresh_database: Callable[[], str]) -> None:
    scheduler = run_utfall("scheduler", "--no-run-now", database=fresh_database())
    scheduler.wait_for(r"^scheduler running")
    scheduled = {line.split()[1].rstrip(":") for line in scheduler.lines if line.startswith("scheduled ")}
    assert scheduled == set(JOBS) == set(SCHEDULE)
    assert scheduler.stop(signal.SIGTERM) == 0, scheduler.output
    assert scheduler.lines[-1] == "scheduler stopped", scheduler.output
    assert "Traceback" not in scheduler.output
