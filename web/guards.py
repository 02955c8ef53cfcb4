"""Input the databases cannot hold, turned away at the door as a 4xx instead of failing deep inside as a 500.

Two kinds of input reach the database unchanged from many views and would fail there on one engine or the
other, so they are checked once for the whole app rather than in every view:

* ids in the URL (``<int:...>``): SQLite stores 64-bit and PostgreSQL's ``integer`` ids 32-bit integers, and
  a larger number is an overflow error in the driver. The app's ``int`` converter answers 404 for a number
  above :data:`MAX_ID`, as no row can have it.
* text with a NUL character (PostgreSQL's text and JSON types cannot hold one) or, in JSON bodies, a lone
  UTF-16 surrogate (``"\\ud800"``: valid JSON, but not encodable as UTF-8, so no driver can send it). No
  contract id, filter, name or document field has either, so such a request is answered with 400 (pages) or
  422 naming the field (the JSON API: its error format), before any view runs.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response, abort, jsonify, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

# The largest id any table can hold on every supported database (PostgreSQL ``integer``).
MAX_ID = 2**31 - 1
API_PREFIX = "/api/"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class IdConverter(IntegerConverter):
    """``<int:...>`` of every route: a non-negative integer; one above :data:`MAX_ID` is no row's id (404).

    The 404 is raised here rather than by failing the match: a failed converter makes werkzeug answer 405
    for a method that another rule of the same path shape allows, which would be wrong.
    """

    # ASCII digits only: werkzeug's ``\d+`` also matches other scripts' digits, and int() reads them, so
    # /portfolios/𝟙 would have been portfolio 1.
    regex = r"[0-9]+"

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if self.max is None and number > MAX_ID:
            raise NotFound()
        return number  # type: ignore[no-any-return]


def unstorable_path(value: Any, path: str = "") -> str | None:
    """The path (``spec.holdings[0].contract``) of the first string or key in ``value`` with a NUL or a lone
    surrogate, ``""`` for ``value`` itself; ``None`` when everything can be stored."""
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _UNSTORABLE.search(str(key)):
                return path or where.replace("\x00", "\\x00")
            found = unstorable_path(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _reject(field: str | None, *, in_path: bool = False) -> Response:
    """404 for an id in the path (no row can have it); else 422 naming the field (API) or 400 (pages)."""
    api = request.path.startswith(API_PREFIX)
    status = 404 if in_path else 422 if api else 400
    message = "contains a character that cannot be stored (NUL or a lone surrogate)"
    if api:
        # The JSON API's error shape (web.api.errors.ErrorResponse), built here so that this module needs no
        # import of it.
        text = f"{field}: {message}" if field else message
        response = jsonify({"message": text, "field": field, "errors": [{"field": field, "message": message}]})
        response.status_code = status
        return response
    abort(status)


def _check_request() -> Response | None:
    """Turn away a request carrying text the database cannot hold (see the module's description)."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and _UNSTORABLE.search(value):
            return _reject(name, in_path=True)
    for source in (request.args, request.form if request.method != "GET" else None):
        for name, value in (source.items(multi=True) if source is not None else ()):
            if _UNSTORABLE.search(name) or _UNSTORABLE.search(value):
                return _reject(name.replace("\x00", "\\x00"))
    if request.is_json:
        data = request.get_json(silent=True)
        found = unstorable_path(data) if data is not None else None
        if found is not None:
            return _reject(found or "body")
    return None


def init_app(app: Flask) -> None:
    """Install the bounded id converter (before any blueprint adds its routes) and the request check."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(_check_request)
