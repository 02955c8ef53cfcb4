"""Fixtures for job tests: the web app fixtures and a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.web.conftest import add_contract, app, client, login_as, make_user  # noqa: F401


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2023, 6, 20, 4, 0, tzinfo=UTC))
