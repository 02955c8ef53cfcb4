"""Read-only share links to portfolios: made and revoked by the portfolio's owner, opened by anyone with the token.

A token is 32 random bytes (``secrets.token_urlsafe``: 43 characters), so a link cannot be guessed from
another or from an id; a revoked link, like an unknown one, finds nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlmodel import Session, col, select

from registry.models import Portfolio, PortfolioShare, utcnow

TOKEN_BYTES = 32


def create_share(*, session: Session, portfolio: Portfolio) -> PortfolioShare:
    """A new link to ``portfolio`` (committed)."""
    share = PortfolioShare(portfolio_id=portfolio.id or 0, token=secrets.token_urlsafe(TOKEN_BYTES))
    session.add(share)
    session.commit()
    return share


def active_shares(*, session: Session, portfolio_id: int) -> Sequence[PortfolioShare]:
    """The portfolio's links that still open, oldest first."""
    return session.exec(select(PortfolioShare).where(
        PortfolioShare.portfolio_id == portfolio_id, col(PortfolioShare.revoked_at).is_(None),
    ).order_by(col(PortfolioShare.id))).all()


def revoke_share(*, session: Session, portfolio: Portfolio, share_id: int) -> bool:
    """Revoke the link ``share_id`` of ``portfolio`` (committed); ``False`` when the portfolio has no such
    active link (another portfolio's link is not this one's to revoke)."""
    share = session.get(PortfolioShare, share_id)
    if share is None or share.portfolio_id != portfolio.id or share.revoked_at is not None:
        return False
    share.revoked_at = utcnow()
    session.add(share)
    session.commit()
    return True


def shared_portfolio(*, session: Session, token: str) -> Portfolio | None:
    """The portfolio an active link ``token`` opens, or ``None``."""
    return session.exec(select(Portfolio).join(PortfolioShare, col(PortfolioShare.portfolio_id) == Portfolio.id).where(
        PortfolioShare.token == token, col(PortfolioShare.revoked_at).is_(None),
    )).first()


def delete_shares(*, session: Session, portfolio_id: int) -> None:
    """Remove every link to a portfolio (flushed; the caller commits), before the portfolio itself goes."""
    for share in session.exec(select(PortfolioShare).where(PortfolioShare.portfolio_id == portfolio_id)).all():
        session.delete(share)
    session.flush()
