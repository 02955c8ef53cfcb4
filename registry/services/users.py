"""Users: accounts, passwords, and the one ownership check (a portfolio or run is its owner's alone).

Passwords are stored as salted scrypt hashes (werkzeug's standard format, ``scrypt:32768:8:1$salt$hash``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session, col, delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from registry.models import LoginFailure, User

ROLES = ("investor", "curator", "admin")
MIN_PASSWORD_LENGTH = 8

Owned = TypeVar("Owned")


class UserError(ValueError):
    """A user cannot be created as asked (bad role, short password, taken name)."""


@functools.cache
def _dummy_hash() -> str:
    """A real hash of a random password, checked when the username is unknown so that a failed login takes
    as long for unknown users as for known ones (no username probing by timing). Made on first use, not at
    import: every ``utfall`` command imports this module and a scrypt hash costs tens of milliseconds."""
    return generate_password_hash("not-a-real-password-4f1c", method="scrypt")


def hash_password(password: str) -> str:
    """A salted scrypt hash (werkzeug's standard format, ``scrypt:32768:8:1$salt$hash``)."""
    return generate_password_hash(password, method="scrypt")


def _check_password_length(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def user_named(*, session: Session, username: str) -> User | None:
    """The user called ``username``, or ``None``."""
    return session.exec(select(User).where(User.username == username)).first()


def any_users(*, session: Session) -> bool:
    """Whether any user account exists."""
    return session.exec(select(User.id).limit(1)).first() is not None


def list_users(*, session: Session) -> Sequence[User]:
    """Every user, by username."""
    return session.exec(select(User).order_by(col(User.username))).all()


def create_user(*, session: Session, username: str, password: str, role: str = "investor") -> User:
    """Add a user (flushes, does not commit); raises :class:`UserError` when the input is not acceptable."""
    username = username.strip()
    if not username or len(username) > 80:
        raise UserError("username must be 1 to 80 characters")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    _check_password_length(password)
    if user_named(session=session, username=username) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def set_password(*, session: Session, user: User, password: str) -> None:
    """Change ``user``'s password and end every session they have (flushes, does not commit)."""
    _check_password_length(password)
    user.password_hash = hash_password(password)
    user.session_version += 1
    session.add(user)
    session.flush()


def end_sessions(*, session: Session, user: User) -> None:
    """End every login session of ``user``: cookies issued before now stop working (commits)."""
    user.session_version += 1
    session.add(user)
    session.commit()


def authenticate(*, session: Session, username: str, password: str) -> User | None:
    """The user with these credentials, or ``None``."""
    user = user_named(session=session, username=username)
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def recent_login_failures(*, session: Session, scope: str, key: str, since: datetime) -> tuple[int, datetime | None]:
    """How many failed logins ``key`` (an account or an address, as ``scope`` says) has had after ``since``, and
    when the first of them was."""
    count, first = session.exec(select(func.count(), func.min(LoginFailure.at)).where(
        LoginFailure.scope == scope, LoginFailure.key == key, LoginFailure.at > since)).one()
    return int(count), first


def record_login_failures(*, session: Session, keys: Sequence[tuple[str, str]], at: datetime,
                          forget_before: datetime) -> None:
    """Record a failed login against each ``(scope, key)``, and forget failures before ``forget_before``
    (committed)."""
    session.exec(delete(LoginFailure).where(col(LoginFailure.at) < forget_before))  # type: ignore[call-overload]
    for scope, key in keys:
        session.add(LoginFailure(scope=scope, key=key, at=at))
    session.commit()


def forget_login_failures(*, session: Session, scope: str, key: str) -> None:
    """Forget the failed logins of ``key`` in ``scope`` (flushed with the caller's transaction)."""
    session.exec(delete(LoginFailure).where(  # type: ignore[call-overload]
        col(LoginFailure.scope) == scope, col(LoginFailure.key) == key
    ))


def owned(*, session: Session, model: type[Owned], row_id: int, user: User | None) -> Owned | None:
    """The row ``row_id`` of ``model`` (a table with ``owner_id``) if ``user`` owns it, else ``None``: whether
    someone else's row exists is not revealed."""
    row: Any = session.get(model, row_id)
    if row is None or user is None or row.owner_id != user.id:
        return None
    return row  # type: ignore[no-any-return]
