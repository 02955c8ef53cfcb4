"""Public pages: overview, registry, contract pages, compare."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, render_template, request
from flask_babel import get_locale

from web.auth import current_user, has_role

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    user = current_user()

    def lang_url(code: str) -> str:
        args = request.args.to_dict(flat=False)
        args["lang"] = [code]
        return request.path + "?" + urlencode(args, doseq=True)

    def has_endpoint(endpoint: str) -> bool:
        return endpoint in current_app.view_functions

    return {
        "lang": str(get_locale() or "sv"),
        "lang_url": lang_url,
        "current_user": user,
        "can_curate": has_role(user, "curator"),
        "config_blueprints": current_app.blueprints,
        "has_endpoint": has_endpoint,
    }


@bp.get("/")
def overview() -> str:
    """The market at a glance."""
    return render_template("base.html")


@bp.get("/contracts")
def registry() -> str:
    """Search, filter and sort the registry."""
    return render_template("base.html")


@bp.get("/compare")
def compare() -> str:
    """Two to four contracts side by side."""
    return render_template("base.html")
