"""The tray: contracts a reader sets aside for the comparison and for a new portfolio while browsing.

It lives in the signed session cookie (no account needed, nothing stored on the server) as two lists of
contract ids, and is changed by POST forms with CSRF tokens that work without JavaScript: each answers with a
redirect back to the page it came from. ``static/tray.js`` posts the same forms and asks for JSON, so the page
is not reloaded; the answer carries the tray bar's new markup and the ids now held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from flask import (
    Blueprint,
    current_app,
    flash,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _

from registry.services.contracts import names_by_id, reader_name
from web.auth import safe_next
from web.extensions import session as db_session

bp = Blueprint("tray", __name__, url_prefix="/tray")

COMPARE_MAX = 4  # columns the compare table can show side by side
PORTFOLIO_MAX = 50  # holdings set aside for one portfolio; the session cookie stays well under 4 kB
LIMITS = {"compare": COMPARE_MAX, "portfolio": PORTFOLIO_MAX}
SESSION_KEY = "tray"
MAX_ID_LENGTH = 200  # longer than any contract id; a longer one is turned away before the database is asked


class TrayError(ValueError):
    """A change the tray refuses, with the reason in the reader's language."""


def tray_ids(kind: str) -> list[str]:
    """The ids of the contracts set aside for ``kind`` (``compare`` or ``portfolio``), in the order added."""
    stored = session.get(SESSION_KEY, {})
    ids = stored.get(kind, []) if isinstance(stored, dict) else []
    return [i for i in ids if isinstance(i, str)][: LIMITS[kind]]


def _save(kind: str, ids: list[str]) -> None:
    stored = dict(session.get(SESSION_KEY) or {})
    stored[kind] = ids
    session[SESSION_KEY] = {k: v for k, v in stored.items() if k in LIMITS and v}


def add(kind: str, contract_id: str) -> str:
    """Set ``contract_id`` aside for ``kind``; returns what happened in words. Adding a contract already there
    changes nothing. Raises :class:`TrayError` for an unknown contract or a full tray."""
    ids = tray_ids(kind)
    name = _name_of(contract_id)
    if contract_id in ids:
        return _already_message(kind, name)
    if len(ids) >= LIMITS[kind]:
        raise TrayError(_full_message(kind))
    _save(kind, [*ids, contract_id])
    return _added_message(kind, name)


def remove(kind: str, contract_id: str) -> str:
    """Take ``contract_id`` out of ``kind``'s tray (nothing happens if it is not there); returns what happened."""
    ids = tray_ids(kind)
    _save(kind, [i for i in ids if i != contract_id])
    names = names_by_id(session=db_session(), ids=[contract_id])
    name = reader_name(names[contract_id], _lang()) if contract_id in names else contract_id
    if kind == "compare":
        return _("%(name)s was taken out of the comparison.", name=name)
    return _("%(name)s was taken out of the portfolio selection.", name=name)


def clear(kind: str) -> str:
    """Empty ``kind``'s tray; returns what happened."""
    _save(kind, [])
    return _("The comparison is empty.") if kind == "compare" else _("The portfolio selection is empty.")


def _lang() -> str:
    return str(get_locale() or "sv")


def _name_of(contract_id: str) -> str:
    if not contract_id or len(contract_id) > MAX_ID_LENGTH:
        raise TrayError(_("Choose a contract: the form sent no valid contract id."))
    row = names_by_id(session=db_session(), ids=[contract_id]).get(contract_id)
    if row is None:
        raise TrayError(_("There is no contract %(id)s in the registry.", id=contract_id))
    return reader_name(row, _lang())


def _already_message(kind: str, name: str) -> str:
    if kind == "compare":
        return _("%(name)s is already in the comparison.", name=name)
    return _("%(name)s is already in the portfolio selection.", name=name)


def _added_message(kind: str, name: str) -> str:
    if kind == "compare":
        return _("%(name)s was added to the comparison.", name=name)
    return _("%(name)s was added to the portfolio selection.", name=name)


def _full_message(kind: str) -> str:
    if kind == "compare":
        return _("At most %(n)s contracts can be compared: take one out of the comparison first.", n=COMPARE_MAX)
    return _("A portfolio selection holds at most %(n)s contracts: take one out first.", n=PORTFOLIO_MAX)


# --- what the templates show --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrayPart:
    """One of the tray's two lists as the bar shows it."""

    kind: str
    items: list[dict[str, str]]  # id and name, in the order added
    limit: int
    url: str | None  # where the list's action leads (the comparison, the builder)


def compare_url(ids: list[str]) -> str:
    """The compare page for ``ids``: ``/compare?id=a,b`` (commas kept readable)."""
    return url_for("pages.compare") + "?id=" + ",".join(quote(i, safe="") for i in ids)


def build_url(ids: list[str]) -> str | None:
    """The portfolio builder prefilled with ``ids`` (``/portfolios/new?add=a&add=b``), if the app has one."""
    if "portfolios.new" not in current_app.view_functions:
        return None
    return url_for("portfolios.new") + "?" + urlencode([("add", i) for i in ids])


def tray_parts() -> list[TrayPart]:
    """Both lists with the contracts' names in the reader's language; ids of contracts since deleted are left
    out."""
    wanted = {kind: tray_ids(kind) for kind in LIMITS}
    every = [i for ids in wanted.values() for i in ids]
    rows = names_by_id(session=db_session(), ids=every) if every else {}
    lang = _lang()
    parts = []
    for kind, ids in wanted.items():
        present = [i for i in ids if i in rows]
        items = [{"id": i, "name": reader_name(rows[i], lang)} for i in present]
        url = (compare_url(present) if kind == "compare" else build_url(present)) if present else None
        parts.append(TrayPart(kind=kind, items=items, limit=LIMITS[kind], url=url))
    return parts


@bp.app_context_processor
def _tray_globals() -> dict[str, Callable[..., Any]]:
    # Functions, not values: the names are looked up only by pages that show the tray (not by PDFs or mails).
    def in_tray(kind: str, contract_id: str) -> bool:
        return has_request_context() and contract_id in tray_ids(kind)

    def tray_next() -> str:
        # Where a tray form comes back to: this page; for the bar sent with a tray change, the page it was
        # posted from; for a page that answers another POST (a form shown again with its errors), the registry,
        # as a GET of that URL would not show the same page.
        if request.method in ("GET", "HEAD"):
            return request.full_path.rstrip("?")
        return _way_back() if request.endpoint == "tray.change" else url_for("pages.registry")

    return {"tray_parts": tray_parts, "in_tray": in_tray, "tray_next": tray_next}


# --- routes -------------------------------------------------------------------------------------------------

OPERATIONS: dict[str, Callable[[str, str], str]] = {
    "add": add,
    "remove": remove,
    "clear": lambda kind, _contract_id: clear(kind),
}


@bp.post("/<any(compare, portfolio):kind>")
def change(kind: str) -> ResponseReturnValue:
    """Add a contract to, or take one out of, a list of the tray (form fields ``op``: add, remove or clear;
    ``id``; ``next``: the same-site page to go back to)."""
    operation = OPERATIONS.get(request.form.get("op", ""))
    try:
        if operation is None:
            raise TrayError(_("Unknown tray operation: choose add, remove or clear."))
        message = operation(kind, request.form.get("id", "").strip())
    except TrayError as error:
        return _answer(str(error), ok=False)
    return _answer(message, ok=True)


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _answer(message: str, *, ok: bool) -> ResponseReturnValue:
    if _wants_json():
        body = {"ok": ok, "message": message, **{kind: tray_ids(kind) for kind in LIMITS},
                "html": render_template("_tray.html")}
        return jsonify(body), 200 if ok else 400
    flash(message, "info" if ok else "error")
    return redirect(_way_back(), 303)


def _way_back() -> str:
    return safe_next(request.form.get("next"), default=url_for("pages.registry"))
