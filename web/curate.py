"""Editing for curators: contract forms and the raw YAML editor."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("curate", __name__)


@bp.get("/contracts/new")
def new_contract() -> str:
    """Placeholder."""
    return ""
