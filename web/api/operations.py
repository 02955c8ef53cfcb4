"""The API's blueprint and :func:`operation`, which declares each endpoint once: routing, input validation,
authentication, serialisation, errors as JSON, and the metadata the OpenAPI document is built from."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from web.api.errors import ApiError, ErrorResponse, validation_error
from web.auth import current_user
from web.extensions import csrf
from web.lookups import Missing

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    return error.response()


@bp.app_errorhandler(HTTPException)
def _http_error(error: HTTPException) -> ResponseReturnValue:
    """JSON for every HTTP error under ``/api/`` (unknown routes, wrong methods, too large bodies...)."""
    if not request.path.startswith(bp.url_prefix or "/api/"):
        return error
    if isinstance(error, Missing):
        return ApiError(404, error.message, error.field).response()
    headers = dict(error.get_headers()) if error.code == 405 else {}
    headers.pop("Content-Type", None)
    return ApiError(error.code or 500, error.description or error.name, headers=headers).response()


Auth = Literal["none", "optional", "required"]


@dataclass
class Operation:
    """One endpoint's metadata: the single source of routing, validation and the OpenAPI document."""

    method: str
    rule: str
    endpoint: str
    summary: str
    description: str
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    responses: dict[int, tuple[str, type[BaseModel] | None]] = field(default_factory=dict)
    auth: Auth = "none"
    path_params: dict[str, str] = field(default_factory=dict)  # name -> description

    @property
    def path(self) -> str:
        """The OpenAPI path: ``/api/v1/contracts/{contract_id}``."""
        return (bp.url_prefix or "") + re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", self.rule)

    @property
    def success(self) -> int:
        return min(code for code in self.responses if code < 400)


OPERATIONS: list[Operation] = []

COMMON_ERRORS: dict[int, str] = {
    400: "Malformed request (e.g. a body that is not JSON).",
    415: "The body is not `application/json`.",
    422: "Invalid input; `field` names the offending field.",
}


def _query_args() -> dict[str, Any]:
    # An empty value is a value: it is validated like any other (``year_to=`` is not a year), as the
    # OpenAPI document says. A parameter given twice with different values is an error: silently using
    # the first would ignore the other.
    args: dict[str, Any] = {}
    for key, values in request.args.lists():
        given = list(dict.fromkeys(values))
        if key == "lang":
            continue
        if len(given) > 1:
            raise ApiError(422, f"{key}: give this parameter once", key)
        args[key] = given[0]
    return args


def _json_body() -> Any:
    if not request.is_json:
        raise ApiError(415, "send the request body as JSON (Content-Type: application/json)", "body")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "the request body is not valid JSON", "body")
    return data


def _serialise(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return value


def operation(
    method: str,
    rule: str,
    *,
    summary: str,
    tag: str,
    responses: dict[int, tuple[str, type[BaseModel] | None]],
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    auth: Auth = "none",
    path_params: dict[str, str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., ResponseReturnValue]]:
    """Declare an endpoint; the view receives path arguments plus ``query``/``body`` as validated models.

    The view returns a model (sent with the first success status), ``(model, status)`` or
    ``(model, status, headers)``.
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., ResponseReturnValue]:
        all_responses = dict(responses)
        if query is not None or body is not None:
            all_responses.setdefault(422, (COMMON_ERRORS[422], ErrorResponse))
        if body is not None:
            all_responses.setdefault(400, (COMMON_ERRORS[400], ErrorResponse))
            all_responses.setdefault(415, (COMMON_ERRORS[415], ErrorResponse))
        if auth == "required":
            all_responses.setdefault(401, ("Not logged in (send a session cookie or HTTP Basic).", ErrorResponse))
        op = Operation(method=method.upper(), rule=rule, endpoint=view.__name__, summary=summary,
                       description=(view.__doc__ or "").strip(), tag=tag, query=query, body=body,
                       responses=all_responses, auth=auth, path_params=path_params or {})
        OPERATIONS.append(op)

        @functools.wraps(view)
        def wrapped(**path_args: Any) -> ResponseReturnValue:
            if auth == "required" and current_user() is None:
                raise ApiError(401, "authentication required", headers={"WWW-Authenticate": 'Basic realm="utfall"'})
            kwargs = dict(path_args)
            if query is not None:
                try:
                    kwargs["query"] = query.model_validate(_query_args())
                except ValidationError as exc:
                    raise validation_error(exc) from None
            if body is not None:
                data = _json_body()
                try:
                    kwargs["body"] = body.model_validate(data)
                except ValidationError as exc:
                    raise validation_error(exc) from None
            result = view(**kwargs)
            if isinstance(result, Response):
                return result
            status, headers = op.success, {}
            if isinstance(result, tuple):
                result, status, *rest = result
                headers = rest[0] if rest else {}
            response = jsonify(_serialise(result))
            response.status_code = status
            response.headers.update(headers)
            return response

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapped, methods=[op.method])
        return wrapped

    return decorator
