"""Helpers shared by the command modules: JSON output and the database URL as messages show it."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import make_url

from registry import db


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (dates, decimals and other values as their text)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def safe_database_url() -> str:
    """The configured database URL with its password masked, for messages."""
    url = db.database_url()
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse is shown without anything after a '@'
        return url.rpartition("@")[2]
