"""Users, login and access control.

Browsers log in with a form and keep a signed session cookie; API clients may instead send HTTP Basic
credentials with every request. Roles: ``investor`` (own portfolios), ``curator`` (edits the registry)
and ``admin`` (everything; passes every role check).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from registry.models import User
from web.extensions import session as db_session

bp = Blueprint("auth", __name__)

ROLES = ("investor", "curator", "admin")
MIN_PASSWORD_LENGTH = 8


@functools.cache
def _dummy_hash() -> str:
    """A real hash of a random password, checked when the username is unknown so that a failed login takes
    as long for unknown users as for known ones (no username probing by timing). Made on first use, not at
    import: every ``utfall`` command imports this module and a scrypt hash costs tens of milliseconds."""
    return generate_password_hash("not-a-real-password-4f1c", method="scrypt")


F = TypeVar("F", bound=Callable[..., Any])


class UserError(ValueError):
    """A user cannot be created as asked (bad role, short password, taken name)."""


def hash_password(password: str) -> str:
    """A salted scrypt hash (werkzeug's standard format, ``scrypt:32768:8:1$salt$hash``)."""
    return generate_password_hash(password, method="scrypt")


def create_user(session: Session, username: str, password: str, role: str = "investor") -> User:
    """Add a user (flushes, does not commit); raises :class:`UserError` when the input is not acceptable."""
    username = username.strip()
    if not username or len(username) > 80:
        raise UserError("username must be 1 to 80 characters")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user with these credentials, or ``None``."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def current_user() -> User | None:
    """The logged-in user of this request (session cookie, else HTTP Basic credentials), or ``None``."""
    if "current_user" in g:
        return g.current_user  # type: ignore[no-any-return]
    user: User | None = None
    user_id = session.get("user_id")
    if user_id is not None:
        user = db_session().get(User, user_id)
        if user is None:  # the account was deleted while logged in
            session.pop("user_id", None)
    elif request.authorization is not None and request.authorization.type == "basic":
        auth = request.authorization
        user = authenticate(db_session(), auth.username or "", auth.password or "")
    g.current_user = user
    return user


def has_role(user: User | None, *roles: str) -> bool:
    """Whether ``user`` has one of ``roles``; admins have every role."""
    return user is not None and (user.role == "admin" or user.role in roles)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json"
    )


def _unauthenticated() -> ResponseReturnValue:
    if _wants_json() or request.authorization is not None:
        return {"error": "authentication required"}, 401, {"WWW-Authenticate": 'Basic realm="utfall"'}
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def login_required(view: F) -> F:
    """Only logged-in users; others are sent to the login page (API clients get 401)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return _unauthenticated()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def role_required(*roles: str) -> Callable[[F], F]:
    """Only users with one of ``roles`` (or admins); anonymous users must log in, others get 403."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return _unauthenticated()
            if not has_role(user, *roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login form cannot be used to redirect elsewhere."""
    if not target:
        return url_for("pages.overview")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.overview")
    return target


@bp.get("/login")
def login() -> ResponseReturnValue:
    """The login form."""
    return render_template("auth/login.html", next=request.args.get("next", ""), username="")


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    """Check the credentials and start a session."""
    username = request.form.get("username", "").strip()
    user = authenticate(db_session(), username, request.form.get("password", ""))
    if user is None:
        return render_template(
            "auth/login.html", next=request.form.get("next", ""), username=username,
            error=_("Wrong username or password."),
        ), 401
    lang = session.get("lang")
    session.clear()  # a fresh session on login (no fixation of a pre-login cookie)
    if lang:
        session["lang"] = lang
    session["user_id"] = user.id
    g.pop("current_user", None)
    flash(_("Logged in as %(name)s.", name=user.username), "info")
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("Logged out."), "info")
    return redirect(url_for("pages.overview"))
