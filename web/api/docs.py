"""The OpenAPI 3.1 document, built from the operations' metadata and models, and the human docs page that
renders the same document (so the two cannot disagree)."""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

from flask import render_template, url_for
from markupsafe import Markup, escape
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from web.api.models import ApiIndex, ApiResource, OpenApiDocument
from web.api.operations import OPERATIONS, Operation, bp, operation
from web.guards import MAX_ID

API_VERSION = "1.0.0"
REF_TEMPLATE = "#/components/schemas/{model}"


@operation("GET", "/openapi.json", summary="This API's OpenAPI 3.1 document", tag="meta",
           responses={200: ("The OpenAPI document.", OpenApiDocument)})
def openapi_json() -> dict[str, Any]:
    """The machine-readable description of every endpoint and schema (the docs page renders the same)."""
    return openapi_document()


def _needs_query(op: Operation) -> bool:
    # A resource that answers only with query parameters (a conversion needs an amount) has no plain link.
    return op.query is not None and any(f.is_required() for f in op.query.model_fields.values())


def _index() -> ApiIndex:
    resources = [ApiResource(method=op.method, path=op.path, summary=op.summary, tag=op.tag,
                             operation_id=op.endpoint,
                             href=op.path if op.method == "GET" and "{" not in op.path and not _needs_query(op)
                             else None)
                 for op in OPERATIONS]
    return ApiIndex(name="utfall API", version=API_VERSION, openapi=url_for("api.openapi_json"),
                    docs=url_for("api.docs"), resources=resources)


INDEX_RESPONSES: dict[int, tuple[str, type[BaseModel] | None]] = {
    200: ("The API's resources, taken from the same operations as the OpenAPI document.", ApiIndex)}


@operation("GET", "", summary="An index of this API's resources", tag="meta", responses=INDEX_RESPONSES)
def api_index() -> ApiIndex:
    """Every operation (method, path, summary) and where the OpenAPI document and the docs page are."""
    return _index()


@operation("GET", "/", summary="An index of this API's resources (the same as without the slash)", tag="meta",
           responses=INDEX_RESPONSES)
def api_index_slash() -> ApiIndex:
    """The same index as ``/api/v1``, so that either spelling of the API's root answers."""
    return _index()


SECURITY_SCHEMES = {
    "basicAuth": {"type": "http", "scheme": "basic", "description": "Username and password of a utfall account."},
    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session",
                   "description": "The signed session cookie of a logged-in browser."},
}

TAGS = [
    {"name": "contracts", "description": "The public registry of outcomes contracts."},
    {"name": "market", "description": "Statistics over the registry."},
    {"name": "simulations", "description": "Portfolio simulations (Monte Carlo)."},
    {"name": "portfolios", "description": "Your saved portfolios (private to your account)."},
    {"name": "reference", "description": "Reference exchange rates and price indices, with their sources."},
    {"name": "meta", "description": "This API's description."},
]


def _parameters(op: Operation, components: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in re.findall(r"\{([^}]+)\}", op.path):
        is_int = f"<int:{name}>" in op.rule
        params.append({"name": name, "in": "path", "required": True,
                       "description": op.path_params.get(name, ""),
                       # web.guards bounds every <int:> id (a larger one is a 404).
                       "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID} if is_int
                       else {"type": "string"}})
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF_TEMPLATE, mode="validation")
        components.update(schema.get("$defs", {}))
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = dict(prop)
            description = prop.pop("description", "")
            prop.pop("title", None)
            params.append({"name": name, "in": "query", "required": name in required,
                           "description": description, "schema": prop})
    return params


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document: paths from the operations, schemas from the pydantic models."""
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
    for op in OPERATIONS:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        wanted.extend((model, "serialization") for _, model in op.responses.values() if model is not None)
    wanted = list(dict.fromkeys(wanted))
    key_map, defs = models_json_schema(wanted, ref_template=REF_TEMPLATE)
    components: dict[str, Any] = dict(defs.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        item: dict[str, Any] = {
            "operationId": op.endpoint,
            "summary": op.summary,
            "description": op.description,
            "tags": [op.tag],
            "responses": {},
        }
        params = _parameters(op, components)
        if params:
            item["parameters"] = params
        if op.body is not None:
            item["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": key_map[(op.body, "validation")]}}}
        for code, (description, model) in sorted(op.responses.items()):
            response: dict[str, Any] = {"description": description}
            if model is not None:
                response["content"] = {"application/json": {"schema": key_map[(model, "serialization")]}}
            if code in (201, 202):
                response["headers"] = {"Location": {"description": "URL of the created resource or run.",
                                                    "schema": {"type": "string"}}}
            item["responses"][str(code)] = response
        if op.auth == "required":
            item["security"] = [{"basicAuth": []}, {"cookieAuth": []}]
        elif op.auth == "optional":
            item["security"] = [{"basicAuth": []}, {"cookieAuth": []}, {}]
        paths.setdefault(op.path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "utfall API",
            "version": API_VERSION,
            "description": (
                "The registry of social outcomes contracts (social impact bonds), payout evaluation, portfolio "
                "simulation and market statistics. Errors are JSON objects with `message`, `field` (the input "
                "at fault) and `errors`. Requests with a body must be `application/json`."
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": TAGS,
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items())), "securitySchemes": SECURITY_SCHEMES},
    }


def schema_type(schema: dict[str, Any]) -> Markup:
    """A short human reading of a JSON schema: ``array of <a>Holding</a>``, ``string | null``..."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return Markup('<a href="#schema-{0}">{0}</a>').format(name)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return Markup(" | ").join(schema_type(s) for s in schema[key])
    if "const" in schema:
        return Markup("<code>{}</code>").format(repr(schema["const"]))
    if "enum" in schema:
        return Markup(", ").join(Markup("<code>{}</code>").format(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return Markup(" | ").join(escape(k) for k in kind)
    if kind == "array":
        items = schema.get("items")
        return Markup("array of ") + (schema_type(items) if items else Markup("any"))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return Markup("map of ") + schema_type(schema["additionalProperties"])
    text = escape(kind or "any")
    if "format" in schema:
        text += Markup(" ({})").format(schema["format"])
    return text


def schema_constraints(schema: dict[str, Any]) -> str:
    """Bounds and defaults worth reading: ``≥ 1, ≤ 500, default 50``."""
    parts = []
    for key, label in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"),
                       ("minLength", "min length"), ("maxLength", "max length"), ("pattern", "pattern")):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    if "default" in schema and schema["default"] is not None:
        parts.append(f"default {schema['default']!r}")
    return ", ".join(parts)


@bp.get("/docs")
def docs() -> str:
    """Human-readable API documentation, rendered from the OpenAPI document (no external scripts)."""
    document = openapi_document()
    operations = []
    for path, methods in document["paths"].items():
        for method, item in methods.items():
            operations.append({"path": path, "method": method.upper(), **item})
    return render_template("api/docs.html", document=document, operations=operations, tags=TAGS,
                           schema_type=schema_type, schema_constraints=schema_constraints)
