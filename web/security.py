"""Deployment security in one place: the secret key, cookies behind HTTPS, proxy headers, response headers
and login throttling.

Settings (environment, or the ``config`` given to :func:`web.create_app`):

``UTFALL_SECRET_KEY``
    Signs session cookies. Required unless the app runs in debug or testing mode; ``utfall serve`` keeps
    one in ``<instance>/secret_key`` for a single-user installation.
``UTFALL_HTTPS=1``
    The site is served over HTTPS: cookies get ``Secure``, and ``Strict-Transport-Security`` is sent.
``UTFALL_PROXIES=N``
    The app runs behind N reverse proxies that set ``X-Forwarded-For``/``X-Forwarded-Proto`` (trusted
    for the client's address, used by login throttling, and the scheme).
``UTFALL_LOGIN_FAILURES_PER_ACCOUNT`` (10), ``UTFALL_LOGIN_FAILURES_PER_ADDRESS`` (50),
``UTFALL_LOGIN_THROTTLE_MINUTES`` (15)
    Failed logins allowed per account and per client address within the window before logins are refused
    with HTTP 429 until the window has passed.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask, Response, current_app, request
from sqlmodel import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from registry.schema import is_http_url
from registry.services.users import forget_login_failures, recent_login_failures, record_login_failures

SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY_LENGTH = 16
# No inline script or style anywhere: every script and stylesheet is a static file, so injected markup
# cannot run. Charts are inline SVG (markup, not script); images may be data: URIs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class ConfigurationError(RuntimeError):
    """The app cannot start safely as configured."""


def instance_secret_key(instance: Path) -> str:
    """The secret key kept in ``<instance>/secret_key``, created (readable by its owner only) on first use."""
    path = instance / SECRET_KEY_FILE
    instance.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigurationError(f"{path} holds no usable secret key; delete it to have a new one made") from None
        return key
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key


def _check_secret_key(app: Flask) -> None:
    key = app.config.get("SECRET_KEY")
    if key is not None and not isinstance(key, str | bytes):
        # from_prefixed_env reads values as JSON: an all-digit key arrives as a number
        key = app.config["SECRET_KEY"] = os.environ.get("UTFALL_SECRET_KEY") or str(key)
    if key and len(str(key)) >= MIN_SECRET_KEY_LENGTH:
        return
    if app.debug or app.testing:
        if not key:  # a throwaway key: sessions last as long as this process
            app.config["SECRET_KEY"] = secrets.token_hex(32)
        return
    problem = "is not set" if not key else f"is shorter than {MIN_SECRET_KEY_LENGTH} characters"
    raise ConfigurationError(
        f"UTFALL_SECRET_KEY {problem}: the web app will not sign sessions with a guessable key. Set "
        "UTFALL_SECRET_KEY to a long random value (python -c 'import secrets; print(secrets.token_hex(32))') "
        "in the environment of every worker, or start a single-user installation with 'utfall serve', "
        "which keeps a key in the instance folder."
    )


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    """Refuse to start without a secret key; set up HTTPS cookies, proxy headers and security headers."""
    _check_secret_key(app)
    if _flag(app.config.get("HTTPS", False)):
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["PREFERRED_URL_SCHEME"] = "https"
    proxies = int(app.config.get("PROXIES") or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.after_request(_security_headers)
    # Templates make a link only of an http(s) URL ({% if url is http_url %}), also for documents
    # stored before the schema refused other schemes.
    app.jinja_env.tests["http_url"] = is_http_url


# --- login throttling ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throttle:
    """Whether logins are refused for now, and for how many more minutes."""

    refused: bool
    minutes: int = 0


def _limits() -> tuple[int, int, timedelta]:
    config = current_app.config
    return (
        int(config.get("LOGIN_FAILURES_PER_ACCOUNT", 10)),
        int(config.get("LOGIN_FAILURES_PER_ADDRESS", 50)),
        timedelta(minutes=float(config.get("LOGIN_THROTTLE_MINUTES", 15))),
    )


def _keys(username: str) -> list[tuple[str, str, int]]:
    per_account, per_address, _ = _limits()
    return [("account", username.strip().casefold()[:200], per_account),
            ("address", (request.remote_addr or "unknown")[:200], per_address)]


def login_throttle(username: str, *, session: Session) -> Throttle:
    """Refuse logins to an account, or from an address, with too many recent failures (before any password
    is checked, so that the right password after many wrong ones is refused too)."""
    _, _, window = _limits()
    now = datetime.now(UTC)
    for scope, key, limit in _keys(username):
        count, oldest = recent_login_failures(session=session, scope=scope, key=key, since=now - window)
        if count >= limit:
            assert oldest is not None  # the limits are at least one failure
            if oldest.tzinfo is None:  # SQLite returns naive datetimes
                oldest = oldest.replace(tzinfo=UTC)
            remaining = max(1, int(((oldest + window) - now).total_seconds() // 60) + 1)
            return Throttle(True, remaining)
    return Throttle(False)


def record_login_failure(username: str, *, session: Session) -> None:
    """Count a failed login against the account and the address (and forget failures older than the window)."""
    _, _, window = _limits()
    now = datetime.now(UTC)
    record_login_failures(session=session, keys=[(scope, key) for scope, key, _limit in _keys(username)], at=now,
                          forget_before=now - window)


def clear_login_failures(username: str, *, session: Session) -> None:
    """A successful login forgets the account's failures (not the address's: one right guess among many
    wrong ones for other accounts does not lift the address's limit)."""
    forget_login_failures(session=session, scope="account", key=username.strip().casefold()[:200])
