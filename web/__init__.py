"""The utfall web application (Flask app factory)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, request, session

from registry.db import database_url, instance_path
from web.extensions import babel, csrf, db

LANGUAGES = ("sv", "en")
TEMPLATE_DIRS = (Path(__file__).resolve().parent.parent / "templates", Path(__file__).resolve().parent / "_templates")


def select_locale() -> str:
    """Explicit choice (``?lang=`` or the session) first, then the browser's languages, then Swedish."""
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "sv"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the app; configuration from defaults, then ``UTFALL_*``/``FLASK_*`` environment, then ``config``."""
    template_folder = next((str(p) for p in TEMPLATE_DIRS if p.is_dir()), None)
    app = Flask(__name__, template_folder=template_folder, instance_path=str(instance_path()))
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("UTFALL_SECRET_KEY", "dev-only-secret-change-me"),
        SQLALCHEMY_ENGINES={"default": database_url()},
        BABEL_DEFAULT_LOCALE="sv",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).resolve().parent / "translations"),
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
    )
    app.config.from_prefixed_env("FLASK")
    app.config.from_prefixed_env("UTFALL")
    if config:
        app.config.update(config)

    db.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)

    from web import pages

    app.register_blueprint(pages.bp)
    return app
