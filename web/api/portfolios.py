"""The API's simulations (small ones answered at once, large ones run in the background) and saved portfolios
(each private to its owner: anyone else gets 404)."""

from __future__ import annotations

from flask import Response, current_app, url_for
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from registry.portfolio_file import PortfolioFile
from registry.services import portfolios as portfolio_store
from web.api.errors import ApiError, ErrorResponse, FieldError, validation_error
from web.api.models import (
    Input,
    PortfolioCreate,
    PortfolioDetail,
    PortfolioList,
    PortfolioSummary,
    PortfolioUpdate,
    RunStatus,
    SimulationResult,
)
from web.api.operations import operation
from web.auth import current_user
from web.extensions import session as db_session
from web.lookups import own_portfolio_or_404, own_run_or_404
from web.runs import start_run
from web.simulations import (
    SYNC_SCENARIOS,
    SpecProblem,
    resolve_or_error,
    scenarios_of,
    simulate_now,
    spec_json,
)


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
