"""Lookup-or-404, one for the pages and the API: a row the reader may not see is as missing as one that does not
exist. Pages answer the standard 404 page; the API answers its JSON error naming the path parameter."""

from __future__ import annotations

import re
from typing import TypeVar

from werkzeug.exceptions import NotFound

from registry.models import Contract, Portfolio, SimulationRun
from registry.services.portfolios import owned_portfolio
from registry.services.runs import owned_run
from registry.services.shares import shared_portfolio
from web.auth import current_user
from web.extensions import session as db_session
from web.runs import fail_if_stale

Row = TypeVar("Row")


class Missing(NotFound):
    """A 404 for a row looked up by a path parameter; ``message`` and ``field`` are for the API's answer."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__()  # pages show werkzeug's standard text, not the English message
        self.message = message
        self.field = field


def found(row: Row | None, *, message: str, field: str) -> Row:
    """``row``, or :class:`Missing` (404) when there is none."""
    if row is None:
        raise Missing(message, field)
    return row


def contract_or_404(contract_id: str) -> Contract:
    """The stored contract ``contract_id``."""
    return found(db_session().get(Contract, contract_id), message=f"no contract {contract_id!r}",
                 field="contract_id")


def own_portfolio_or_404(portfolio_id: int) -> Portfolio:
    """The logged-in user's portfolio (404 for anyone else's, and for anyone not logged in)."""
    return found(owned_portfolio(session=db_session(), portfolio_id=portfolio_id, user=current_user()),
                 message=f"no portfolio {portfolio_id}", field="portfolio_id")


def own_run_or_404(run_id: int) -> SimulationRun:
    """The logged-in user's simulation run, failed first if its process has died (so it does not show as
    running for ever)."""
    run = found(owned_run(session=db_session(), run_id=run_id, user=current_user()),
                message=f"no simulation run {run_id}", field="run_id")
    fail_if_stale(run)
    return run


_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


def shared_portfolio_or_404(token: str) -> Portfolio:
    """The portfolio an active share link opens (404 for a revoked, unknown or malformed token)."""
    portfolio = shared_portfolio(session=db_session(), token=token) if _TOKEN.fullmatch(token) else None
    return found(portfolio, message="no shared portfolio at this address", field="token")
