"""The utfall web application (Flask app factory)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context, request, session
from flask_babel import force_locale
from sqlalchemy import event

from registry.db import database_url, instance_path
from registry.schema import MAX_YAML_BYTES
from web import formatting, guards, i18n, security, vocabulary
from web.extensions import babel, csrf, db

LANGUAGES = ("sv", "en")
TEMPLATE_DIRS = (Path(__file__).resolve().parent.parent / "templates", Path(__file__).resolve().parent / "_templates")


def select_locale() -> str:
    """Explicit choice (``?lang=`` or the session) first, then the browser's languages, then Swedish."""
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "sv"


def _remember_language() -> None:
    """A ``?lang=`` in any URL becomes the reader's choice for the following pages too."""
    lang = request.args.get("lang")
    if lang in LANGUAGES and session.get("lang") != lang:
        session["lang"] = lang


def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the app; configuration from defaults, then ``UTFALL_*``/``FLASK_*`` environment, then ``config``."""
    template_folder = next((str(p) for p in TEMPLATE_DIRS if p.is_dir()), None)
    app = Flask(__name__, template_folder=template_folder, instance_path=str(instance_path()))
    app.config.from_mapping(
        SECRET_KEY=None,  # UTFALL_SECRET_KEY; required outside debug and testing (web.security)
        SQLALCHEMY_ENGINES={"default": database_url()},
        BABEL_DEFAULT_LOCALE="sv",
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        # Werkzeug keeps form fields to 500 kB; the YAML editor's field may hold a whole contract file, so the
        # loader's own cap (a clear message naming the size) applies instead of a bare 413.
        MAX_FORM_MEMORY_SIZE=MAX_YAML_BYTES + 64 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.from_prefixed_env("FLASK")
    app.config.from_prefixed_env("UTFALL")
    if config:
        app.config.update(config)
    security.init_app(app)  # before anything else: refuses to start without a secret key
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(i18n.compiled_translations(Path(app.instance_path)))

    db.init_app(app)
    if not app.config.get("SQLALCHEMY_ASYNC_ENGINES"):
        # Flask runs an async teardown through asgiref on every request (~0.5 ms) even with no async engine.
        app.teardown_appcontext_funcs[:] = [
            f for f in app.teardown_appcontext_funcs if f.__name__ != "_close_async_sessions"
        ]
    with app.app_context():
        # The registry's own engines switch SQLite foreign keys on; do the same for the app's engine.
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_foreign_keys)
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    app.before_request(_remember_language)
    guards.init_app(app)  # bounded <int:> ids and unstorable text as 4xx; before any blueprint adds routes
    formatting.init_app(app)
    vocabulary.init_app(app)

    # lazy: the blueprints bring the engine (numpy, scipy, pandas) and the PDF renderer, which importing this
    # package (every ``utfall`` command does) must not; and some of them import this package back
    from web import admin, api, auth, contract_draft, curate, factsheets, outcome_prices, pages, portfolios, tray

    for blueprint in (pages.bp, auth.bp, curate.bp, api.bp, portfolios.bp, factsheets.bp, admin.bp, tray.bp,
                      outcome_prices.bp, contract_draft.bp):
        app.register_blueprint(blueprint)
    return app


def offline_app() -> Flask:
    """The app for work outside requests (scheduled jobs, command-line fact sheets): it never signs a
    cookie anyone receives, so a throwaway secret key does when ``UTFALL_SECRET_KEY`` is not set."""
    key = os.environ.get("UTFALL_SECRET_KEY", "")
    return create_app(None if len(key) >= security.MIN_SECRET_KEY_LENGTH else {"SECRET_KEY": secrets.token_hex(32)})


@cache
def standalone_app() -> Flask:
    """One offline app per process, for work outside requests."""
    return offline_app()


@contextmanager
def in_language(lang: str) -> Iterator[Flask]:
    """The current app, or an offline one outside Flask (commands, scheduler, scripts), with ``lang`` forced."""
    if has_app_context():
        with force_locale(lang):
            yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    app = standalone_app()
    with app.app_context(), force_locale(lang):
        yield app
