"""Saved portfolios: each belongs to one user; a new specification clears the result computed for the old one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from registry.models import Portfolio, SimulationRun, User, utcnow
from registry.services.shares import delete_shares
from registry.services.users import owned


def owned_portfolio(*, session: Session, portfolio_id: int, user: User | None) -> Portfolio | None:
    """``user``'s portfolio ``portfolio_id``, or ``None`` (also when it exists but is someone else's)."""
    return owned(session=session, model=Portfolio, row_id=portfolio_id, user=user)


def portfolios_of(*, session: Session, owner_id: int) -> Sequence[Portfolio]:
    """A user's portfolios, most recently changed first."""
    return session.exec(
        select(Portfolio).where(Portfolio.owner_id == owner_id).order_by(col(Portfolio.updated_at).desc())
    ).all()


def all_portfolios(*, session: Session) -> Sequence[Portfolio]:
    """Every user's portfolios, by id."""
    return session.exec(select(Portfolio).order_by(col(Portfolio.id))).all()


def create_portfolio(*, session: Session, owner_id: int, name: str, spec: dict[str, Any]) -> Portfolio:
    """Store a new portfolio (committed)."""
    row = Portfolio(owner_id=owner_id, name=name.strip(), spec=spec)
    session.add(row)
    session.commit()
    return row


def update_portfolio(*, session: Session, portfolio: Portfolio, name: str | None = None,
                     spec: dict[str, Any] | None = None) -> Portfolio:
    """Rename and/or replace the specification (committed); a new specification clears the stale result."""
    if name is not None:
        portfolio.name = name.strip()
    if spec is not None and spec != portfolio.spec:
        portfolio.spec = spec
        portfolio.result, portfolio.result_computed_at = None, None
    portfolio.updated_at = utcnow()
    session.add(portfolio)
    session.commit()
    return portfolio


def save_stress(*, session: Session, portfolio: Portfolio, stress: dict[str, Any]) -> None:
    """Keep stress-test results with the portfolio's result they were run beside (committed); a new result or
    specification replaces the result and so drops them."""
    if portfolio.result is None:
        raise ValueError("a portfolio without a result has nothing to stress beside")
    portfolio.result = {**portfolio.result, "stress": stress}  # a new dict: the JSON column sees the change
    session.add(portfolio)
    session.commit()


def delete_portfolio(*, session: Session, portfolio: Portfolio) -> None:
    """Delete a portfolio (committed); its runs keep their log entry but no longer point to it."""
    session.exec(
        update(SimulationRun).where(col(SimulationRun.portfolio_id) == portfolio.id).values(portfolio_id=None)  # type: ignore[call-overload]
    )
    delete_shares(session=session, portfolio_id=portfolio.id or 0)
    session.delete(portfolio)
    session.commit()
