"""The API's errors: always JSON, ``{"message": ..., "field": ..., "errors": [{"field": ..., "message": ...}]}``."""

from __future__ import annotations

from flask import Response, jsonify
from pydantic import BaseModel, Field, ValidationError


class FieldError(BaseModel):
    field: str | None = Field(description="Path of the offending input, e.g. `holdings[0].amount`.")
    message: str


class ErrorResponse(BaseModel):
    """Every error response: a message, the field at fault (if any) and all problems found."""

    message: str
    field: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ApiError(Exception):
    """An error answered as JSON with ``status``; ``field`` names the input at fault."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 errors: list[FieldError] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.errors = errors if errors is not None else ([FieldError(field=field, message=message)] if field else [])
        self.headers = headers or {}

    def response(self) -> Response:
        body = ErrorResponse(message=self.message, field=self.field, errors=self.errors)
        response = jsonify(body.model_dump(mode="json"))
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


def loc_path(loc: tuple[int | str, ...]) -> str:
    """``("holdings", 0, "amount")`` → ``holdings[0].amount``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_error(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> ApiError:
    """A 422 naming every invalid field (the first one in ``field``)."""
    errors = [FieldError(field=loc_path(prefix + tuple(e["loc"])) or None, message=e["msg"]) for e in error.errors()]
    first = errors[0] if errors else FieldError(field=None, message="invalid input")
    return ApiError(422, f"{first.field}: {first.message}" if first.field else first.message, first.field, errors)
