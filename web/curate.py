"""Editing for curators: a form for a contract's main fields, and a raw YAML editor for the whole document.

Both paths validate exactly as contract files are validated (``registry.loader.parse_document``, payment
terms included) and write through ``registry.loader.upsert_contract``, which records who changed what.
The form's field names are the document paths themselves (``finance.capital_committed.amount``,
``parties[2].roles``), so a validation issue's path points straight at the field it belongs to. The form
edits the document it was opened on: parts it has no fields for (payment terms, metrics, ...) are kept.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from decimal import Decimal
from typing import Any

import yaml
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlmodel import Session

from registry.loader import ContractInputError, Issue, StaleEditError, parse_document, save_edit
from registry.models import ChangeRecord, Contract
from registry.schema import ContractDocument, OrganisationType, PolicySector, Role, Stage
from registry.yaml_input import YamlInputError, load_yaml
from web import formatting
from web.auth import current_user, role_required
from web.extensions import session as db_session
from web.lookups import contract_or_404
from web.problems import localise

bp = Blueprint("curate", __name__)

RESERVED_IDS = {"new"}
DATE_FIELDS = ("signed", "service_start", "service_end", "evaluation_end", "anticipated_completion",
               "actual_completion")
MONEY_FIELDS = ("capital_committed", "capital_drawn", "max_outcome_payment", "total_outcome_payments_made")
CONFIDENCES = ("verified", "secondary", "unverified", "disputed")
BLANK_ROWS = 2
# Rows a list (organisations, parties, sources) may have in the form; the count comes back from the page
# in a hidden field, so it is clamped where it is read: the form is rendered with that many rows.
MAX_ROWS = 500
ORG_FIELDS = ("id", "name", "type", "country", "website")
PARTY_FIELDS = ("organisation", "description", "confidence", "sources", "start", "end")
SOURCE_FIELDS = ("id", "title", "publisher", "date", "url", "attribution")


# --- document <-> form values ---------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _get(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def document_values(data: dict[str, Any]) -> dict[str, Any]:
    """The form's field values for a stored document (JSON form)."""
    values: dict[str, Any] = {"id": data.get("id", "")}
    for path in ("identity.names.sv", "identity.names.en", "classification.country", "classification.region",
                 "classification.policy_sector", "classification.social_challenge", "classification.intervention",
                 "classification.confidence", "classification.sources", "classification.note", "stage",
                 "dates.confidence", "dates.sources", "dates.note", "finance.currency",
                 "finance.investor_repayment", "finance.max_potential_loss"):
        values[path] = _text(_get(data, path))
    values["identity.alternative_names"] = "\n".join(_get(data, "identity.alternative_names") or [])
    for key in DATE_FIELDS:
        values[f"dates.{key}"] = _text(_get(data, f"dates.{key}"))
    for key in MONEY_FIELDS:
        for part in ("amount", "currency", "amount_usd", "bound", "confidence", "sources", "note"):
            values[f"finance.{key}.{part}"] = _text(_get(data, f"finance.{key}.{part}"))
    for name, fields in (("organisations", ORG_FIELDS), ("parties", PARTY_FIELDS), ("sources", SOURCE_FIELDS)):
        items = data.get(name) or []
        values[f"rows.{name}"] = len(items) + BLANK_ROWS
        for i, item in enumerate(items):
            for f in fields:
                values[f"{name}[{i}].{f}"] = _text(item.get(f))
            if name == "parties":
                values[f"parties[{i}].roles"] = list(item.get("roles") or [])
    return values


def _number(text: str) -> str:
    """Accept ``1 234 567``, ``1,5`` and ``1,234.5`` as typed; anything else goes to validation unchanged."""
    cleaned = text.strip().replace("\xa0", "").replace(" ", "")
    if re.fullmatch(r"-?\d+,\d+", cleaned):
        cleaned = cleaned.replace(",", ".")
    elif re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", cleaned):
        cleaned = cleaned.replace(",", "")
    return cleaned


def _ids(text: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", text.strip()) if part]


def _set(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``, or remove it when the form left it empty (so the schema's default applies)."""
    if value in ("", None, []):
        target.pop(key, None)
    else:
        target[key] = value


def row_count(form: Any, name: str, *, default: int) -> int:
    """The posted number of rows of list ``name``, within 0..MAX_ROWS (``default`` when it is no number)."""
    try:
        return max(0, min(int(form.get(f"rows.{name}", 0)), MAX_ROWS))
    except ValueError:
        return default


def form_to_document(form: Any, base: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[int, int]]]:
    """Apply the submitted form to ``base`` (a document in JSON form).

    Returns the new document data and, for each list edited through rows, the map from the index an item
    has in the document to the form row it came from (blank rows are dropped, so they can differ).
    """
    data = copy.deepcopy(base)
    get = lambda name: (form.get(name) or "").strip()  # noqa: E731

    def put(target: dict[str, Any], key: str, name: str, value: Any = None) -> None:
        # A field the page did not send is one it does not show: the document keeps its value.
        if name in form:
            _set(target, key, get(name) if value is None else value(get(name)))

    upper = str.upper
    if "id" in form:
        data["id"] = get("id")
    identity = data.setdefault("identity", {})
    names = identity.setdefault("names", {})
    put(names, "sv", "identity.names.sv")
    put(names, "en", "identity.names.en")
    if "identity.alternative_names" in form:
        _set(identity, "alternative_names", [line.strip() for line in form.get("identity.alternative_names", "")
                                             .splitlines() if line.strip()])
    cls = data.setdefault("classification", {})
    for key in ("country", "region", "policy_sector", "social_challenge", "intervention", "confidence", "note"):
        put(cls, key, f"classification.{key}", upper if key == "country" else None)
    put(cls, "sources", "classification.sources", _ids)
    if "stage" in form:
        data["stage"] = get("stage")
    dates = data.setdefault("dates", {})
    for key in (*DATE_FIELDS, "confidence", "note"):
        put(dates, key, f"dates.{key}")
    put(dates, "sources", "dates.sources", _ids)
    finance = data.setdefault("finance", {})
    if "finance.currency" in form:
        finance["currency"] = get("finance.currency").upper()
    put(finance, "investor_repayment", "finance.investor_repayment")
    put(finance, "max_potential_loss", "finance.max_potential_loss")
    for key in MONEY_FIELDS:
        prefix = f"finance.{key}"
        if f"{prefix}.amount" not in form:
            continue
        if not get(f"{prefix}.amount"):
            finance.pop(key, None)
            continue
        fact = finance.setdefault(key, {})
        fact["amount"] = _number(get(f"{prefix}.amount"))
        put(fact, "amount_usd", f"{prefix}.amount_usd", _number)
        put(fact, "currency", f"{prefix}.currency", upper)
        for part in ("bound", "confidence", "note"):
            put(fact, part, f"{prefix}.{part}")
        put(fact, "sources", f"{prefix}.sources", _ids)

    row_maps: dict[str, dict[int, int]] = {}
    for name, fields, key_field in (("organisations", ORG_FIELDS, "id"), ("parties", PARTY_FIELDS, "organisation"),
                                    ("sources", SOURCE_FIELDS, "id")):
        old_items = base.get(name) or []
        rows = row_count(form, name, default=0)
        items: list[dict[str, Any]] = []
        row_maps[name] = {}
        for row in range(rows):
            prefix = f"{name}[{row}]"
            if not get(f"{prefix}.{key_field}"):
                continue  # an empty key field removes the row (or leaves a blank row blank)
            item = copy.deepcopy(old_items[row]) if row < len(old_items) else {}
            for f in fields:
                put(item, f, f"{prefix}.{f}", _ids if f == "sources" else upper if f == "country" else None)
            if name == "parties":
                chosen = [r for r in form.getlist(f"{prefix}.roles") if r]
                # A multiple select sends options in its own order; the document keeps the order it had.
                kept = [r for r in item.get("roles") or [] if r in chosen]
                item["roles"] = kept + [r for r in chosen if r not in kept]
            row_maps[name][len(items)] = row
            items.append(item)
        data[name] = items
    return data, row_maps


_INDEX = re.compile(r"^(organisations|parties|sources)\[(\d+)\]")


def issues_by_field(issues: list[Issue], row_maps: dict[str, dict[int, int]] | None = None) -> dict[str, list[str]]:
    """Validation messages keyed by the form field (or field group) they belong to."""
    errors: dict[str, list[str]] = {}
    for issue in issues:
        path = issue.path
        match = _INDEX.match(path)
        if match and row_maps is not None:
            row = row_maps.get(match.group(1), {}).get(int(match.group(2)))
            if row is not None:
                path = f"{match.group(1)}[{row}]" + path[match.end():]
        # A list of roles or sources is one field: "parties[0].roles[1]" belongs to "parties[0].roles".
        path = re.sub(r"\.(roles|sources|alternative_names)\[\d+\]$", r".\1", path)
        errors.setdefault(path, []).append(issue.reason)
    return errors


# --- shared write path ------------------------------------------------------------------------------------


def _actor() -> str:
    user = current_user()
    return f"user:{user.username}" if user else "user:?"


def _save(session: Session, doc: ContractDocument, row: Contract | None) -> str:
    """Write the edit; raises StaleEditError (after rolling back) if ``row`` changed since the editor opened it.

    The version the editor was opened on comes back with the form and is required: a save without it is
    treated as stale rather than skipping the check.
    """
    expected = (request.form.get("content_hash") or "missing") if row is not None else None
    try:
        outcome = save_edit(doc, session=session, actor=_actor(), expected_hash=expected, origin_ref="web form")
    except StaleEditError:
        session.rollback()
        raise
    session.commit()
    return outcome


def conflict_issues(exc: StaleEditError) -> list[Issue]:
    """What the editor is told about a refused stale save: that it was refused, then who changed what, when."""
    issues = [Issue("web form", "", _("Someone else changed this contract after you opened it. Reload the page "
                                       "to see their version, then make your changes again."))]
    for record in exc.changes[-10:]:
        fields = ", ".join(c["path"] for c in record.changes[:12]) or record.kind
        if len(record.changes) > 12:
            fields += ", …"
        issues.append(Issue("web form", "", _("%(when)s, %(who)s changed: %(fields)s",
                                               when=formatting.datetime(record.at), who=_who(record),
                                               fields=fields)))
    return issues


def _who(record: ChangeRecord) -> str:
    return record.actor.removeprefix("user:")


def _flash_outcome(outcome: str) -> None:
    messages = {"created": _("The contract was created."), "updated": _("Your changes were saved."),
                "unchanged": _("Nothing was changed.")}
    flash(messages[outcome], "info")


def _validate_new_id(session: Session, contract_id: str) -> list[Issue]:
    if contract_id in RESERVED_IDS:
        return [Issue("web form", "id", _("this id is reserved; choose another"))]
    if contract_id and session.get(Contract, contract_id) is not None:
        return [Issue("web form", "id", _("a contract with this id already exists"))]
    return []


# --- the contract form -------------------------------------------------------------------------------------

NEW_DOCUMENT: dict[str, Any] = {
    "schema": "utfall-contract/1",
    "id": "",
    "origin": "curated",
    "identity": {"names": {}},
    "classification": {"country": "SE", "policy_sector": "employment_and_training"},
    "stage": "design",
    "finance": {"currency": "SEK"},
}


def _render_form(*, values: dict[str, Any], errors: dict[str, list[str]], issues: list[Issue],
                 row: Contract | None, status: int = 200) -> ResponseReturnValue:
    # The registry and pydantic report in English; show the reader's language (web.problems).
    errors = {path: [localise(m) for m in messages] for path, messages in errors.items()}
    issues = [dataclasses.replace(issue, reason=localise(issue.reason)) for issue in issues]
    return render_template(
        "curate/form.html", values=values, errors=errors, issues=issues, row=row,
        stages=[s.value for s in Stage], sectors=[s.value for s in PolicySector], roles=[r.value for r in Role],
        org_types=[t.value for t in OrganisationType], confidences=CONFIDENCES, date_fields=DATE_FIELDS,
        money_fields=MONEY_FIELDS, content_hash=_opened_version(row),
    ), status


def _opened_version(row: Contract | None) -> str:
    """The version an editor works on: the stored one when opened, the one it was opened on when re-shown."""
    if row is None:
        return ""
    return request.form.get("content_hash", "") if request.method == "POST" else row.content_hash


def _submitted_values() -> dict[str, Any]:
    values: dict[str, Any] = {k: v for k, v in request.form.items()}
    for key in request.form:
        if key.endswith(".roles"):
            values[key] = request.form.getlist(key)
    for name in ("organisations", "parties", "sources"):
        values[f"rows.{name}"] = row_count(request.form, name, default=BLANK_ROWS)
    return values


def _submit_form(row: Contract | None) -> ResponseReturnValue:
    session = db_session()
    base = copy.deepcopy(row.document) if row else copy.deepcopy(NEW_DOCUMENT)
    data, row_maps = form_to_document(request.form, base)
    if row is not None:
        data["id"] = row.id  # the id of an existing contract is not editable here
    issues = [] if row else _validate_new_id(session, data.get("id", ""))
    doc = None
    try:
        doc = parse_document(data, "web form")
    except ContractInputError as exc:
        issues += exc.issues
    status = 422
    if not issues and doc is not None:
        try:
            _flash_outcome(_save(session, doc, row))
            return redirect(url_for("pages.contract", contract_id=doc.id))
        except StaleEditError as exc:
            issues, status = conflict_issues(exc), 409
    values = _submitted_values()
    if row is not None:
        values["id"] = row.id
    return _render_form(values=values, errors=issues_by_field(issues, row_maps), issues=issues, row=row,
                        status=status)


@bp.get("/contracts/new")
@role_required("curator")
def new_contract() -> ResponseReturnValue:
    """The form for a new contract."""
    return _render_form(values=document_values(NEW_DOCUMENT), errors={}, issues=[], row=None)


@bp.post("/contracts/new")
@role_required("curator")
def new_contract_submit() -> ResponseReturnValue:
    """Validate and create a contract from the form."""
    return _submit_form(None)


@bp.get("/contracts/<contract_id>/edit")
@role_required("curator")
def edit_contract(contract_id: str) -> ResponseReturnValue:
    """The form for a contract's main fields."""
    row = contract_or_404(contract_id)
    return _render_form(values=document_values(row.document), errors={}, issues=[], row=row)


@bp.post("/contracts/<contract_id>/edit")
@role_required("curator")
def edit_contract_submit(contract_id: str) -> ResponseReturnValue:
    """Validate and save the form."""
    row = contract_or_404(contract_id)
    return _submit_form(row)


# --- the YAML editor -----------------------------------------------------------------------------------------


class _DocumentDumper(yaml.SafeDumper):
    """Writes Decimals as plain YAML numbers and keeps the document's key order."""


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    text = format(value, "f")
    if "." not in text:
        return dumper.represent_scalar("tag:yaml.org,2002:int", text)
    if format(Decimal(repr(float(value))), "f") == text:
        return dumper.represent_scalar("tag:yaml.org,2002:float", text)
    # Written as a string when a float would lose digits ("0.50" stays 0.50, not 0.5); the schema reads it back.
    return dumper.represent_str(text)


_DocumentDumper.add_representer(Decimal, _represent_decimal)
_DocumentDumper.add_representer(tuple, lambda d, v: d.represent_list(list(v)))


def document_yaml(doc: ContractDocument) -> str:
    """The document as YAML in the seed files' layout (defaults and empty parts left out)."""
    data = doc.model_dump(mode="python", by_alias=True, exclude_none=True, exclude_defaults=True)
    data = {"schema": doc.schema_, **data}
    return yaml.dump(data, Dumper=_DocumentDumper, allow_unicode=True, sort_keys=False, width=110)


def _render_yaml(*, text: str, issues: list[Issue], row: Contract | None, status: int = 200) -> ResponseReturnValue:
    issues = [dataclasses.replace(issue, reason=localise(issue.reason)) for issue in issues]
    return render_template("curate/yaml.html", text=text, issues=issues, row=row,
                           content_hash=_opened_version(row)), status


def _submit_yaml(row: Contract | None) -> ResponseReturnValue:
    session = db_session()
    text = request.form.get("document", "")
    try:
        data = load_yaml(text)
    except YamlInputError as exc:
        reason = (_("not valid YAML: %(error)s", error=exc.detail) if exc.syntax
                  else _("The YAML is too large or too deeply nested: %(error)s", error=exc.detail))
        return _render_yaml(text=text, issues=[Issue("YAML", "", reason)], row=row, status=422)
    issues: list[Issue] = []
    doc = None
    try:
        doc = parse_document(data, "YAML")
    except ContractInputError as exc:
        issues += exc.issues
    if doc is not None:
        if row is not None and doc.id != row.id:
            issues.append(Issue("YAML", "id", _("the id cannot be changed here (it must stay %(id)s)", id=row.id)))
        elif row is None:
            issues += _validate_new_id(session, doc.id)
    if issues or doc is None:
        return _render_yaml(text=text, issues=issues, row=row, status=422)
    try:
        _flash_outcome(_save(session, doc, row))
    except StaleEditError as exc:
        return _render_yaml(text=text, issues=conflict_issues(exc), row=row, status=409)
    return redirect(url_for("pages.contract", contract_id=doc.id))


@bp.get("/contracts/new/yaml")
@role_required("curator")
def new_yaml() -> ResponseReturnValue:
    """The YAML editor for a new contract, starting from a minimal document."""
    skeleton = {**NEW_DOCUMENT, "id": "xx-place-2025",
                "identity": {"names": {"sv": "Namn på svenska", "en": "Name in English"}}}
    return _render_yaml(text=yaml.dump(skeleton, allow_unicode=True, sort_keys=False), issues=[], row=None)


@bp.post("/contracts/new/yaml")
@role_required("curator")
def new_yaml_submit() -> ResponseReturnValue:
    """Validate and create a contract from YAML."""
    return _submit_yaml(None)


@bp.get("/contracts/<contract_id>/yaml")
@role_required("curator")
def edit_yaml(contract_id: str) -> ResponseReturnValue:
    """The whole document in a YAML editor (the expert path)."""
    row = contract_or_404(contract_id)
    doc = ContractDocument.model_validate(row.document)
    return _render_yaml(text=document_yaml(doc), issues=[], row=row)


@bp.post("/contracts/<contract_id>/yaml")
@role_required("curator")
def edit_yaml_submit(contract_id: str) -> ResponseReturnValue:
    """Validate and save the YAML document."""
    row = contract_or_404(contract_id)
    return _submit_yaml(row)
