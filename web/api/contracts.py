"""The API's contract endpoints (list, read, edit, back-test, payout) and market statistics."""

from __future__ import annotations

import math
from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from registry.backtest import backtest as run_backtest
from registry.loader import ContractInputError, StaleEditError, parse_document, save_edit
from registry.market import current_statistics
from registry.models import Contract
from registry.schema import ContractDocument, MetricKind
from registry.services.contracts import list_contracts
from registry.terms import OutcomeError, Payout, TermsError, compile_terms
from web.api.errors import ApiError, ErrorResponse, FieldError
from web.api.models import (
    BacktestResult,
    ChangeInfo,
    ConflictResponse,
    ContractDetail,
    ContractEdit,
    ContractList,
    ContractQuery,
    ContractSummary,
    MarketStatistics,
    PayoutRequest,
)
from web.api.operations import operation
from web.auth import current_user, has_role
from web.extensions import session as db_session
from web.lookups import contract_or_404
from web.simulations import (
    jsonable,
)

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
    return jsonable(current_statistics(session=db_session()))
