"""Public pages: overview, registry, contract pages, compare."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__)


@bp.get("/")
def overview() -> str:
    """The market at a glance."""
    return "utfall"
