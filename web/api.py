"""The JSON API under ``/api/v1``, and its OpenAPI document built from the same route metadata.

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

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import models_json_schema
from werkzeug.exceptions import HTTPException

from registry.backtest import VERDICTS
from registry.backtest import backtest as run_backtest
from registry.loader import ContractInputError, StaleEditError, parse_document, save_edit
from registry.market import REPAYMENT_CLASSES, SIZE_BANDS, market_statistics
from registry.models import Contract, Portfolio, SimulationRun
from registry.portfolio_file import PortfolioFile
from registry.schema import ContractDocument, MetricKind
from registry.services import portfolios as portfolio_store
from registry.services.contracts import SORTABLE, ContractFilter, list_contracts
from registry.terms import OutcomeError, Payout, TermsError, compile_terms
from web.auth import current_user, has_role
from web.extensions import csrf
from web.extensions import session as db_session
from web.guards import MAX_ID
from web.lookups import Missing, contract_or_404, own_portfolio_or_404, own_run_or_404
from web.runs import start_run
from web.simulations import (
    SYNC_SCENARIOS,
    SpecProblem,
    jsonable,
    resolve_or_error,
    scenarios_of,
    simulate_now,
    spec_json,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

API_VERSION = "1.0.0"
REF_TEMPLATE = "#/components/schemas/{model}"


# --- errors ------------------------------------------------------------------------------------------


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


# --- operations and their metadata ---------------------------------------------------------------------

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


# --- models ------------------------------------------------------------------------------------------


class Input(BaseModel):
    """Request models reject fields they do not know (a typo should not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class ContractQuery(Input):
    q: str | None = Field(None, max_length=200, description="Words of the name, id, region or organisations.")
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166 country code, e.g. SE.")
    sector: str | None = Field(None, max_length=40, description="Policy sector, e.g. child_and_family_welfare.")
    stage: str | None = Field(None, max_length=32, description="Contract stage, e.g. implementation.")
    origin: Literal["curated", "indigo"] | None = Field(None, description="Curated here or imported from INDIGO.")
    payer_type: str | None = Field(None, max_length=40, description="Organisation type of an outcome payer.")
    min_capital_usd: float | None = Field(None, ge=0, description="Smallest committed capital in USD.")
    max_capital_usd: float | None = Field(None, ge=0, description="Largest committed capital in USD.")
    size: Literal[tuple(SIZE_BANDS)] | None = Field(  # type: ignore[valid-type]
        None, description="Size class on committed capital in USD: small < 1 m ≤ medium < 5 m ≤ large.")
    result: Literal[REPAYMENT_CLASSES] | None = Field(  # type: ignore[valid-type]
        None, description="Investor repayment as stated, in classes (as on the registry page).")
    year_from: int | None = Field(None, ge=1900, le=2200, description="Signed or started in this year or later.")
    year_to: int | None = Field(None, ge=1900, le=2200, description="Signed or started in this year or earlier.")
    reproduced: Literal[VERDICTS] | None = Field(  # type: ignore[valid-type]
        None, description="Whether the terms reproduce the realised history (back-test): yes, partly (some "
        "payments reproduced, the rest depend on unrecorded outcomes), no or unknown (cannot tell).")
    sort: Literal[tuple(SORTABLE)] = Field("name", description="Sort key.")  # type: ignore[valid-type]
    desc: bool = Field(False, description="Sort descending.")
    limit: int = Field(50, ge=1, le=500, description="Page size.")
    offset: int = Field(0, ge=0, le=MAX_ID, description="Items to skip.")

    def contract_filter(self) -> ContractFilter:
        low, high = SIZE_BANDS.get(self.size or "", (None, None))
        if self.min_capital_usd is not None:
            low = max(low or Decimal(0), Decimal(str(self.min_capital_usd)))
        if self.max_capital_usd is not None:
            high = Decimal(str(self.max_capital_usd)) if high is None else min(high, Decimal(str(self.max_capital_usd)))
        return ContractFilter(
            text=self.q, country=self.country, sector=self.sector, stage=self.stage, origin=self.origin,
            payer_type=self.payer_type, min_capital_usd=low, max_capital_usd=high, year_from=self.year_from,
            year_to=self.year_to, reproduced=self.reproduced, repayment=self.result,
        )


class ContractLinks(BaseModel):
    self: str
    payout: str
    backtest: str


class ContractSummary(BaseModel):
    """A contract's indexed facts (the list view); money as numbers in the contract's currency."""

    id: str
    name_sv: str | None
    name_en: str | None
    origin: str
    indigo_id: str | None
    country: str
    region: str | None
    policy_sector: str
    stage: str
    currency: str
    capital_committed: float | None
    capital_committed_usd: float | None
    max_outcome_payment: float | None
    start_year: int | None
    participants_targeted: int | None
    investor_repayment: str | None
    has_terms: bool
    terms_status: str | None
    reproduced: Literal[VERDICTS] | None = Field(  # type: ignore[valid-type]
        description="Back-test verdict: do the terms reproduce the realised history? None without a history.")
    updated_at: datetime
    links: ContractLinks

    @classmethod
    def of(cls, row: Any) -> ContractSummary:
        """From a `Contract` or a row of `registry.services.contracts.LIST_COLUMNS`."""
        def num(v: Any) -> float | None:
            return None if v is None else float(v)

        return cls(
            id=row.id, name_sv=row.name_sv, name_en=row.name_en, origin=row.origin, indigo_id=row.indigo_id,
            country=row.country, region=row.region, policy_sector=row.policy_sector, stage=row.stage,
            currency=row.currency, capital_committed=num(row.capital_committed),
            capital_committed_usd=num(row.capital_committed_usd), max_outcome_payment=num(row.max_outcome_payment),
            start_year=row.start_year, participants_targeted=row.participants_targeted,
            investor_repayment=row.investor_repayment, has_terms=row.has_terms, terms_status=row.terms_status,
            reproduced=row.reproduced, updated_at=row.updated_at,
            links=ContractLinks(self=url_for("api.get_contract", contract_id=row.id),
                                payout=url_for("api.contract_payout", contract_id=row.id),
                                backtest=url_for("api.contract_backtest", contract_id=row.id)),
        )


class ContractList(BaseModel):
    total: int = Field(description="Contracts matching the filters, before paging.")
    limit: int
    offset: int
    items: list[ContractSummary]


class ContractDetail(ContractSummary):
    """The indexed facts plus the whole contract document (schema `utfall-contract/1`)."""

    outcome_names: list[str] = Field(description="Outcome metrics the payment terms read (payout input).")
    content_hash: str = Field(description="The document's version; send it back with an edit (PUT).")
    document: ContractDocument


class BacktestCheck(BaseModel):
    kind: Literal["payer_total", "payee_total", "investor_repaid", "irr", "multiple", "payment_date"]
    subject: str = Field(description="Organisation id: the payer (the payee for payee_total, where the record "
                         "does not say who paid) or the investor.")
    period: str | None = Field(description="The cohort or period of the recorded payment, if it is for one.")
    status: Literal["yes", "no", "unknown"] = Field(
        description="yes: the terms give this figure within the tolerances; no: they are off, or the recorded "
        "figure lies outside every value they give over the unrecorded outcomes; unknown (cannot tell): it depends "
        "on outcomes not recorded (depends_on) and lies inside that range, or rests on a derived parameter.")
    ok: bool = Field(description="Whether the terms agree with the record within the tolerances (status yes).")
    currency: str | None
    terms: str | float | None = Field(
        description="What the terms give: an amount (decimal string), IRR or date; null when it depends on "
        "unrecorded outcomes (then low and high).")
    recorded: str | float | None = Field(description="What is recorded (a partial ISO date for payment dates).")
    difference: str | float | int | None = Field(
        description="Terms minus recorded where they disagree (days outside the recorded period for dates).")
    relative: float | None = Field(description="The difference as a share of the recorded amount.")
    bound: str = Field(description="For IRRs: exact, min, max or about, as the source states it.")
    low: str | float | None = Field(None, description="The least the terms give over the unrecorded outcomes.")
    high: str | float | None = Field(None, description="The most the terms give over the unrecorded outcomes.")
    depends_on: list[str] = Field(
        default_factory=list, description="Unrecorded outcomes the figure depends on (metric[period] keys).")
    derived: list[str] = Field(
        default_factory=list, description="Parameters it uses that are worked back from the result (circular).")
    needs: list[float] = Field(
        default_factory=list, description="For a figure that depends on one outcome alone and lies in its range: "
        "the least and the most value of that outcome for which the terms give the recorded figure.")
    unreachable: bool = Field(
        False, description="The recorded figure lies between the least and the most the terms give, yet no value "
        "of the one outcome it depends on gives it (a tier table skips it): status no, difference to the nearest.")


class BacktestReason(BaseModel):
    kind: str = Field(description="What blocks or qualifies the verdict, e.g. missing_outcome.")
    subject: str | None = Field(description="The outcome metric or organisation it is about.")
    detail: str | None
    text: str = Field(description="The reason in English.")


class BacktestResult(BaseModel):
    """Do the contract's terms reproduce what happened? (``registry.backtest``)"""

    contract: str
    reproduced: Literal[VERDICTS]  # type: ignore[valid-type]
    currency: str
    reading: int | None = Field(description="The alternative reading of the terms that was evaluated.")
    inputs: dict[str, float] = Field(description="The recorded outcome values the terms were evaluated on.")
    checks: list[BacktestCheck]
    expected: list[BacktestCheck] = Field(
        default_factory=list, description="What the terms give each payer where nothing is recorded to compare.")
    blocked_by: list[str] = Field(
        default_factory=list, description="The unknown figures that keep a partly or unknown verdict from yes or "
        "no: outcomes (periods in brackets) and derived parameters.")
    cannot_tell: list[BacktestReason] = Field(
        description="What blocks a partly or unknown verdict (or why nothing could be compared).")
    caveats: list[BacktestReason] = Field(description="What qualifies a yes or no.")
    tolerances: dict[str, Any]


class ContractEdit(Input):
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$",
                              description="`content_hash` of the version the edit was made on (from GET); "
                                          "required, so an edit never overwrites one it has not seen.")
    document: dict[str, Any] = Field(description="The whole contract document (schema `utfall-contract/1`), "
                                                 "validated as contract files are; its `id` must be the URL's.")


class ChangeInfo(BaseModel):
    at: datetime
    actor: str
    kind: str = Field(description="created, updated or deleted")
    fields: list[str] = Field(description="Paths of the fields that changed.")


class ConflictResponse(ErrorResponse):
    """The edit was made on an older version: nothing was saved; here is what changed since."""

    current_hash: str | None = Field(description="The stored version now (null if the contract was deleted).")
    changes: list[ChangeInfo]


class PayoutRequest(Input):
    outcomes: dict[str, bool | float] = Field(
        description="One value per outcome metric the terms read: true/false for binary metrics, numbers otherwise. "
                    "A metric measured per period or cohort takes one value per period, keyed metric[label] "
                    "(e.g. restoration_rate[y1]), or one plain value that every period shares.",
        examples=[{"delivered": True, "savings": 4000000}],
    )


class MarketStatistics(BaseModel):
    """Market statistics computed from the registry (``registry.market.market_statistics``)."""

    model_config = ConfigDict(extra="allow")

    totals: dict[str, Any] = Field(description="Contracts (curated, INDIGO), countries, capital in USD.")
    by_year: dict[str, dict[str, Any]] = Field(description="Contracts and capital per start year.")
    by_country: dict[str, dict[str, Any]] = Field(description="Contracts and capital per country.")
    by_sector: dict[str, dict[str, Any]] = Field(description="Contracts and capital per policy sector.")
    by_stage: dict[str, dict[str, Any]] = Field(description="Contracts and capital per stage.")
    base_rates: dict[str, Any] = Field(description="Repayment base rates, market-wide and per sector.")


class PortfolioLinks(BaseModel):
    self: str
    runs: str
    page: str


class PortfolioSummary(BaseModel):
    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    result_computed_at: datetime | None
    links: PortfolioLinks

    @classmethod
    def of(cls, row: Portfolio) -> PortfolioSummary:
        return cls(id=row.id or 0, name=row.name, created_at=row.created_at, updated_at=row.updated_at,
                   result_computed_at=row.result_computed_at, links=_portfolio_links(row))


class PortfolioList(BaseModel):
    items: list[PortfolioSummary]


class PortfolioDetail(PortfolioSummary):
    spec: dict[str, Any] = Field(description="The portfolio specification (portfolio-file schema).")
    result: dict[str, Any] | None = Field(description="The last simulation result, if any.")

    @classmethod
    def of(cls, row: Portfolio) -> PortfolioDetail:
        return cls(**PortfolioSummary.of(row).model_dump(), spec=row.spec, result=row.result)


class PortfolioCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    spec: PortfolioFile


class PortfolioUpdate(Input):
    name: str | None = Field(None, min_length=1, max_length=200, description="New name (rename).")
    spec: PortfolioFile | None = Field(None, description="New specification.")


class RunLinks(BaseModel):
    self: str
    portfolio: str | None = None


class RunStatus(BaseModel):
    """A simulation run: queued → running → done | failed; ``result`` once done."""

    id: int
    status: Literal["queued", "running", "done", "failed"]
    progress: float = Field(ge=0, le=1)
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    result: dict[str, Any] | None
    links: RunLinks

    @classmethod
    def of(cls, run: SimulationRun, with_result: bool = True) -> RunStatus:
        return cls(
            id=run.id or 0, status=run.status, progress=run.progress, error=run.error,  # type: ignore[arg-type]
            created_at=run.created_at, finished_at=run.finished_at,
            result=run.result if with_result else None,
            links=RunLinks(
                self=url_for("api.get_simulation", run_id=run.id),
                portfolio=url_for("api.get_portfolio", portfolio_id=run.portfolio_id) if run.portfolio_id else None,
            ),
        )


class SimulationResult(BaseModel):
    """A simulation run synchronously (small scenario counts)."""

    status: Literal["done"] = "done"
    result: dict[str, Any]


class OpenApiDocument(BaseModel):
    model_config = ConfigDict(extra="allow")


def _portfolio_links(row: Portfolio) -> PortfolioLinks:
    return PortfolioLinks(
        self=url_for("api.get_portfolio", portfolio_id=row.id),
        runs=url_for("api.run_portfolio", portfolio_id=row.id),
        page=url_for("portfolios.show", portfolio_id=row.id),
    )


# --- contracts ---------------------------------------------------------------------------------------

NOT_FOUND = ("No such contract.", ErrorResponse)


@operation("GET", "/contracts", summary="List contracts", tag="contracts", query=ContractQuery,
           responses={200: ("A page of contracts.", ContractList)})
def list_contracts_view(query: ContractQuery) -> ContractList:
    """Contracts matching the filters (the same as the registry page's), sorted and paged."""
    # The registry page's query (registry.services.contracts), so that the API, the page and the CLI always
    # select the same contracts in the same order; names sort in English, the Swedish name where there is none.
    rows, total = list_contracts(session=db_session(), filters=query.contract_filter(), sort=query.sort,
                                 descending=query.desc, lang="en", limit=query.limit, offset=query.offset)
    return ContractList(total=total, limit=query.limit, offset=query.offset,
                        items=[ContractSummary.of(r) for r in rows])


@operation("GET", "/contracts/<contract_id>", summary="Get a contract", tag="contracts",
           responses={200: ("The contract.", ContractDetail), 404: NOT_FOUND},
           path_params={"contract_id": "The contract's id (slug), e.g. se-norrkoping-2016."})
def get_contract(contract_id: str) -> ContractDetail:
    """One contract: indexed facts and the full document with sources and provenance."""
    row = contract_or_404(contract_id)
    doc = ContractDocument.model_validate(row.document)
    names: list[str] = []
    if row.has_terms:
        try:
            names = list(compile_terms(doc, source=row.id).outcome_names)
        except TermsError:
            names = []
    return ContractDetail(**ContractSummary.of(row).model_dump(), outcome_names=names,
                          content_hash=row.content_hash, document=doc)


@operation("PUT", "/contracts/<contract_id>", summary="Edit a contract (curators)", tag="contracts",
           auth="required", body=ContractEdit,
           responses={200: ("The saved contract.", ContractDetail),
                      403: ("Only curators edit contracts.", ErrorResponse), 404: NOT_FOUND,
                      409: ("The contract changed since the version sent; nothing was saved.", ConflictResponse)},
           path_params={"contract_id": "The contract's id (slug)."})
def edit_contract(contract_id: str, body: ContractEdit) -> ResponseReturnValue:
    """Replace the document, if the stored version is still ``content_hash`` (checked in the same transaction
    as the write); otherwise 409 with who changed which fields since, and nothing saved."""
    if not has_role(current_user(), "curator"):
        raise ApiError(403, "only curators edit contracts")
    contract_or_404(contract_id)
    try:
        doc = parse_document(body.document, "document")
    except ContractInputError as exc:
        errors = [FieldError(field=f"document.{i.path}" if i.path else "document", message=i.reason)
                  for i in exc.issues]
        raise ApiError(422, f"{errors[0].field}: {errors[0].message}", errors[0].field, errors) from None
    if doc.id != contract_id:
        raise ApiError(422, f"the document's id must be {contract_id!r}", "document.id")
    session = db_session()
    user = current_user()
    try:
        save_edit(doc, session=session, actor=f"user:{user.username if user else '?'}",
                  expected_hash=body.content_hash, origin_ref="api")
    except StaleEditError as exc:
        session.rollback()
        current = session.get(Contract, contract_id)
        conflict = ConflictResponse(
            message="the contract changed since the version you edited; nothing was saved", field="content_hash",
            errors=[FieldError(field="content_hash", message="not the stored version")],
            current_hash=current.content_hash if current else None,
            changes=[ChangeInfo(at=r.at, actor=r.actor, kind=r.kind, fields=[c["path"] for c in r.changes])
                     for r in exc.changes])
        response = jsonify(conflict.model_dump(mode="json"))
        response.status_code = 409
        return response
    session.commit()
    return get_contract(contract_id=contract_id)


def _check_outcomes(doc: ContractDocument, names: tuple[str, ...], kinds: dict[str, Any],
                    outcomes: dict[str, bool | float]) -> None:
    """Name the field at fault before the terms see the values (their errors name the contract only)."""
    errors: list[FieldError] = []
    known = {m.id for m in doc.outcome_metrics}
    given = {key.partition("[")[0] for key in outcomes}  # per-period values are named metric[label]
    for name in names:
        if name not in given:
            errors.append(FieldError(field=f"outcomes.{name}", message="missing outcome value"))
    for key, value in outcomes.items():
        name = key.partition("[")[0]
        if name not in known:
            errors.append(FieldError(field=f"outcomes.{key}",
                                     message=f"unknown outcome; this contract's are: {', '.join(sorted(known))}"))
        elif kinds.get(name) == MetricKind.BINARY and not isinstance(value, bool) and value not in (0, 1):
            errors.append(FieldError(field=f"outcomes.{key}", message="binary outcome: give true or false"))
        elif not isinstance(value, bool) and not math.isfinite(value):
            errors.append(FieldError(field=f"outcomes.{key}", message="not a finite number"))
    if errors:
        raise ApiError(422, f"{errors[0].field}: {errors[0].message}", errors[0].field, errors)


@operation("GET", "/contracts/<contract_id>/backtest", summary="Back-test the terms on the realised history",
           tag="contracts", responses={200: ("The verdict, each comparison and what blocks it.", BacktestResult),
                                       404: NOT_FOUND},
           path_params={"contract_id": "The contract's id."})
def contract_backtest(contract_id: str) -> BacktestResult:
    """The terms evaluated on the recorded outcomes, compared with the recorded payments and investor results:
    reproduced yes, partly, no (each difference) or unknown, per payment, naming the figures that block it."""
    row = contract_or_404(contract_id)
    doc = ContractDocument.model_validate(row.document)
    return BacktestResult.model_validate(run_backtest(doc, source=row.id).as_dict())


@operation("POST", "/contracts/<contract_id>/payout", summary="Evaluate the payment terms for one outcome",
           tag="contracts", body=PayoutRequest,
           responses={200: ("Every payment, exact to the cent, with multiple and IRR.", Payout), 404: NOT_FOUND},
           path_params={"contract_id": "The contract's id."})
def contract_payout(contract_id: str, body: PayoutRequest) -> Payout:
    """What the contract pays for the given outcome values. Amounts are decimal strings (exact to the cent)."""
    row = contract_or_404(contract_id)
    doc = ContractDocument.model_validate(row.document)
    if not doc.payment_terms or not doc.payment_terms.payments:
        raise ApiError(422, f"contract {contract_id!r} has no payment terms recorded", "contract_id")
    try:
        compiled = compile_terms(doc, source=row.id)
    except TermsError as exc:
        raise ApiError(422, f"the payment terms of {contract_id!r} do not compile: {exc}", "contract_id") from None
    _check_outcomes(doc, compiled.outcome_names, dict(compiled.metric_kinds), body.outcomes)
    try:
        return compiled.payout(body.outcomes)
    except OutcomeError as exc:
        raise ApiError(422, str(exc), "outcomes") from None


# --- market ------------------------------------------------------------------------------------------


@operation("GET", "/market", summary="Market statistics", tag="market",
           responses={200: ("Statistics over the whole registry.", MarketStatistics)})
def market() -> dict[str, Any]:
    """Counts, capital and outcomes across the registry, by country, sector, stage and year."""
    return jsonable(market_statistics(session=db_session()))


# --- simulations ---------------------------------------------------------------------------------------


def _spec_error(problem: SpecProblem, prefix: str = "") -> ApiError:
    """A 422 naming every field of the portfolio specification at fault (``spec.holdings[0].contract``)."""

    def where(loc: str | None) -> str | None:
        return ".".join(p for p in (prefix, loc or "") if p) or None

    errors = [FieldError(field=where(loc), message=reason) for loc, reason in problem.errors]
    field_ = where(problem.field)
    reason = problem.errors[0][1] if problem.errors else problem.message
    return ApiError(422, f"{field_}: {reason}" if field_ else reason, field_, errors)


@operation("POST", "/simulations", summary="Simulate a portfolio", tag="simulations", body=PortfolioFile,
           auth="optional",
           responses={200: ("Small runs: the result at once.", SimulationResult),
                      202: ("Large runs: started in the background; poll the `Location` URL.", RunStatus),
                      401: ("Large runs need a logged-in user.", ErrorResponse)})
def simulate(body: PortfolioFile) -> ResponseReturnValue:
    """Run a simulation of a portfolio specification (the portfolio-file schema, as JSON).

    Up to the synchronous limit of scenarios the result comes back at once (200); larger runs are started
    in the background for the logged-in user and answered with 202 and the run's status URL.
    """
    session = db_session()
    resolved = resolve_or_error(body, session=session)
    if isinstance(resolved, SpecProblem):
        raise _spec_error(resolved)
    if scenarios_of(body) <= current_app.config.get("UTFALL_SYNC_SCENARIOS", SYNC_SCENARIOS):
        return SimulationResult(result=simulate_now(resolved))
    user = current_user()
    if user is None:
        raise ApiError(401, "log in (or send HTTP Basic credentials) to run large simulations in the background",
                       "scenarios", headers={"WWW-Authenticate": 'Basic realm="utfall"'})
    run = start_run(spec_json(body), owner_id=user.id, portfolio_id=None)
    return RunStatus.of(run), 202, {"Location": url_for("api.get_simulation", run_id=run.id)}


@operation("GET", "/simulations/<int:run_id>", summary="Status and result of a simulation run", tag="simulations",
           auth="required",
           responses={200: ("The run.", RunStatus), 404: ("No such run of yours.", ErrorResponse)},
           path_params={"run_id": "The run's id."})
def get_simulation(run_id: int) -> RunStatus:
    """Progress (0–1) while it runs; the result once ``status`` is ``done``. Owner only."""
    return RunStatus.of(own_run_or_404(run_id))


# --- portfolios (owner only) ---------------------------------------------------------------------------

PORTFOLIO_NOT_FOUND = ("No such portfolio of yours.", ErrorResponse)
PORTFOLIO_ID = {"portfolio_id": "The portfolio's id."}


def _require_user_id() -> int:
    user = current_user()
    if user is None or user.id is None:
        raise ApiError(401, "authentication required", headers={"WWW-Authenticate": 'Basic realm="utfall"'})
    return user.id


@operation("GET", "/portfolios", summary="List your portfolios", tag="portfolios", auth="required",
           responses={200: ("Your portfolios.", PortfolioList)})
def list_portfolios() -> PortfolioList:
    """The logged-in user's saved portfolios, most recently changed first."""
    owner = _require_user_id()
    rows = portfolio_store.portfolios_of(session=db_session(), owner_id=owner)
    return PortfolioList(items=[PortfolioSummary.of(r) for r in rows])


@operation("POST", "/portfolios", summary="Save a new portfolio", tag="portfolios", auth="required",
           body=PortfolioCreate, responses={201: ("The saved portfolio.", PortfolioDetail)})
def create_portfolio(body: PortfolioCreate) -> ResponseReturnValue:
    """Save a portfolio specification under a name; the holdings must name contracts in the registry."""
    owner = _require_user_id()
    session = db_session()
    problem = resolve_or_error(body.spec, session=session)
    if isinstance(problem, SpecProblem):
        raise _spec_error(problem, "spec")
    row = portfolio_store.create_portfolio(session=session, owner_id=owner, name=body.name, spec=spec_json(body.spec))
    return PortfolioDetail.of(row), 201, {"Location": url_for("api.get_portfolio", portfolio_id=row.id)}


@operation("GET", "/portfolios/<int:portfolio_id>", summary="Get one of your portfolios", tag="portfolios",
           auth="optional", responses={200: ("The portfolio with its last result.", PortfolioDetail),
                                       404: PORTFOLIO_NOT_FOUND}, path_params=PORTFOLIO_ID)
def get_portfolio(portfolio_id: int) -> PortfolioDetail:
    """The specification and the last result. Anyone but the owner gets 404."""
    return PortfolioDetail.of(own_portfolio_or_404(portfolio_id))


@operation("PATCH", "/portfolios/<int:portfolio_id>", summary="Rename or change a portfolio", tag="portfolios",
           auth="optional", body=PortfolioUpdate,
           responses={200: ("The updated portfolio.", PortfolioDetail), 404: PORTFOLIO_NOT_FOUND},
           path_params=PORTFOLIO_ID)
def update_portfolio(portfolio_id: int, body: PortfolioUpdate) -> PortfolioDetail:
    """Give ``name`` to rename, ``spec`` to replace the specification (which clears the old result)."""
    row = own_portfolio_or_404(portfolio_id)
    session = db_session()
    spec = None
    if body.spec is not None:
        problem = resolve_or_error(body.spec, session=session)
        if isinstance(problem, SpecProblem):
            raise _spec_error(problem, "spec")
        spec = spec_json(body.spec)
    portfolio_store.update_portfolio(session=session, portfolio=row, name=body.name, spec=spec)
    return PortfolioDetail.of(row)


@operation("DELETE", "/portfolios/<int:portfolio_id>", summary="Delete a portfolio", tag="portfolios",
           auth="optional", responses={204: ("Deleted.", None), 404: PORTFOLIO_NOT_FOUND}, path_params=PORTFOLIO_ID)
def delete_portfolio(portfolio_id: int) -> ResponseReturnValue:
    """Delete the portfolio (its runs stay in the run log without it)."""
    row = own_portfolio_or_404(portfolio_id)
    portfolio_store.delete_portfolio(session=db_session(), portfolio=row)
    return Response(status=204)


class RunRequest(Input):
    """Starting a run takes no options today; the empty object keeps the request JSON (CSRF-safe)."""


@operation("POST", "/portfolios/<int:portfolio_id>/runs", summary="Run a portfolio's simulation",
           tag="portfolios", auth="optional", body=RunRequest,
           responses={202: ("Started; poll the `Location` URL.", RunStatus), 404: PORTFOLIO_NOT_FOUND},
           path_params=PORTFOLIO_ID)
def run_portfolio(portfolio_id: int, body: RunRequest) -> ResponseReturnValue:
    """Start the simulation in the background; when done, the result is also saved on the portfolio."""
    row = own_portfolio_or_404(portfolio_id)
    try:
        spec = PortfolioFile.model_validate(row.spec)
    except ValidationError as exc:
        raise validation_error(exc, ("spec",)) from None
    problem = resolve_or_error(spec, session=db_session())
    if isinstance(problem, SpecProblem):
        raise _spec_error(problem, "spec")
    run = start_run(row.spec, owner_id=row.owner_id, portfolio_id=row.id)
    return RunStatus.of(run), 202, {"Location": url_for("api.get_simulation", run_id=run.id)}


# --- the OpenAPI document and the human docs -------------------------------------------------------------


@operation("GET", "/openapi.json", summary="This API's OpenAPI 3.1 document", tag="meta",
           responses={200: ("The OpenAPI document.", OpenApiDocument)})
def openapi_json() -> dict[str, Any]:
    """The machine-readable description of every endpoint and schema (the docs page renders the same)."""
    return openapi_document()


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
