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

from registry.models import User
from registry.services.users import authenticate, end_sessions
from web import security
from web.extensions import session as db_session

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])


def current_user() -> User | None:
    """The logged-in user of this request (session cookie, else HTTP Basic credentials), or ``None``."""
    if "current_user" in g:
        return g.current_user  # type: ignore[no-any-return]
    user: User | None = None
    user_id = session.get("user_id")
    if user_id is not None:
        user = db_session().get(User, user_id)
        # Deleted while logged in, or logged out / password changed since this cookie was issued: a
        # copy of the cookie made before then must not work.
        if user is None or session.get("session_version") != user.session_version:
            session.pop("user_id", None)
            session.pop("session_version", None)
            user = None
    elif request.authorization is not None and request.authorization.type == "basic":
        auth = request.authorization
        user = _basic_auth(auth.username or "", auth.password or "")
    g.current_user = user
    return user


def _basic_auth(username: str, password: str) -> User | None:
    """HTTP Basic credentials, throttled like the login form (each request is a password guess)."""
    dbs = db_session()
    throttle = security.login_throttle(username, session=dbs)
    if throttle.refused:
        abort(429, description=_too_many_failures(throttle.minutes))
    user = authenticate(session=dbs, username=username, password=password)
    if user is None:
        security.record_login_failure(username, session=dbs)
    return user


def _too_many_failures(minutes: int) -> str:
    return _("Too many failed logins. Try again in %(minutes)s minutes.", minutes=minutes)


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


def safe_next(target: str | None, default: str | None = None) -> str:
    """Only same-site relative paths (else ``default``, the overview without one), so a form's ``next`` cannot
    be used to redirect elsewhere."""
    fallback = default or url_for("pages.overview")
    if not target:
        return fallback
    parts = urlsplit(target)
    # Browsers read a backslash as a slash and drop tabs and newlines: "/\\evil.example" and "/\t/evil.example"
    # would leave the site.
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 32 for c in target)):
        return fallback
    return target


# The reader's own choices, kept when a login or logout starts a fresh session: the language, and the contracts
# set aside in the tray (web/tray.py; public ids, nothing of the account).
READER_CHOICES = ("lang", "tray")


def _fresh_session() -> None:
    kept = {key: session[key] for key in READER_CHOICES if session.get(key)}
    session.clear()
    session.update(kept)


@bp.get("/login")
def login() -> ResponseReturnValue:
    """The login form."""
    return render_template("auth/login.html", next=request.args.get("next", ""), username="")


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    """Check the credentials and start a session."""
    username = request.form.get("username", "").strip()
    dbs = db_session()
    throttle = security.login_throttle(username, session=dbs)
    if throttle.refused:
        return render_template(
            "auth/login.html", next=request.form.get("next", ""), username=username,
            error=_too_many_failures(throttle.minutes),
        ), 429, {"Retry-After": str(throttle.minutes * 60)}
    user = authenticate(session=dbs, username=username, password=request.form.get("password", ""))
    if user is None:
        security.record_login_failure(username, session=dbs)
        return render_template(
            "auth/login.html", next=request.form.get("next", ""), username=username,
            error=_("Wrong username or password."),
        ), 401
    security.clear_login_failures(username, session=dbs)
    dbs.commit()
    _fresh_session()  # a fresh session on login (no fixation of a pre-login cookie)
    session["user_id"] = user.id
    session["session_version"] = user.session_version
    g.pop("current_user", None)
    flash(_("Logged in as %(name)s.", name=user.username), "info")
    return redirect(safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session, and every other session of the account: the cookie stops working server-side."""
    user = current_user()
    if user is not None and session.get("user_id") == user.id:
        end_sessions(session=db_session(), user=user)
    _fresh_session()
    flash(_("Logged out."), "info")
    return redirect(url_for("pages.overview"))
