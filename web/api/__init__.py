"""The JSON API under ``/api/v1``, and its OpenAPI document built from the same route metadata.

Modules: :mod:`~web.api.operations` (the blueprint and the ``operation`` decorator), :mod:`~web.api.errors`,
:mod:`~web.api.models` (request and response models), the endpoints in :mod:`~web.api.contracts`,
:mod:`~web.api.portfolios` and :mod:`~web.api.rates`, and :mod:`~web.api.docs` (the OpenAPI document and the
docs page).

Every operation is declared once with :func:`operation`: its method, path, pydantic models for the query,
the body and each response. The decorator parses and validates the input (422 with the field path when it
is wrong), checks authentication, serialises the result, and records the metadata from which
:func:`openapi_document` builds the OpenAPI 3.1 document (schemas come from ``model_json_schema``). The
human docs page renders that same document, so the two cannot disagree.

Errors are always JSON: ``{"message": ..., "field": ..., "errors": [{"field": ..., "message": ...}]}``.

Authentication is the session cookie or HTTP Basic (``web.auth.current_user``). The blueprint is exempt
from CSRF tokens; instead every request with a body must be ``application/json``, which a cross-site form
cannot send, and the session cookie is ``SameSite=Lax``.
"""

from __future__ import annotations

# Imported in this order, the endpoint modules declare their operations in the order the OpenAPI document lists
# them: contracts and market, simulations and portfolios, then the document itself.
# isort: off
from web.api import contracts  # noqa: F401
from web.api import outcome_prices  # noqa: F401
from web.api import portfolios  # noqa: F401
from web.api import rates  # noqa: F401
from web.api import docs  # noqa: F401
# isort: on
from web.api.operations import bp

__all__ = ["bp"]
