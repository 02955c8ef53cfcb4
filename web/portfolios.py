"""The portfolio builder's pages: an investor's private portfolios, simulations run in the background.

Pages live under ``/portfolios`` and belong to their owner: anyone else, logged in or not, gets 404. The form
is read by :mod:`web.portfolio_form`, results are prepared by :mod:`web.portfolio_results`, runs go to the
background through :mod:`web.runs`, and portfolios are kept by :mod:`registry.services.portfolios`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _

from registry.models import Portfolio, SimulationRun, User
from registry.portfolio_file import PortfolioFile
from registry.schema import PolicySector
from registry.services.contracts import distinct_values, reader_name
from registry.services.holdings import search_holdable
from registry.services.portfolios import (
    create_portfolio,
    delete_portfolio,
    portfolios_of,
    save_stress,
    update_portfolio,
)
from registry.services.runs import finished_runs
from registry.services.shares import active_shares, create_share, revoke_share
from web import runs as background_runs
from web.auth import current_user, login_required
from web.downloads import frame_download, workbook_download
from web.extensions import session as db_session
from web.factsheet_service import portfolio_report_pdf
from web.formatting import country as country_name
from web.lookups import own_portfolio_or_404, own_run_or_404, shared_portfolio_or_404
from web.portfolio_export import TABLES, result_frames
from web.portfolio_form import (
    BASE_CURRENCIES,
    SCENARIO_CHOICES,
    BuilderForm,
    apply_model_edits,
    default_spec,
    edit_rows,
    form_from_request,
    form_from_spec,
    holding_views,
    parse_number,
    rate_rows,
    validate_form,
)
from web.portfolio_results import holding_rows, result_view, run_comparison, stress_targets
from web.problems import localise
from web.runs import active_run, start_run
from web.simulations import SpecProblem, resolve_or_error, spec_json, stress_now
from web.vocabulary import vocab

bp = Blueprint("portfolios", __name__, url_prefix="/portfolios")


@bp.record_once
def _init_runs(state: BlueprintSetupState) -> None:
    background_runs.init_app(state.app)


def _user() -> User:
    user = current_user()
    assert user is not None  # login_required ran first
    return user


def _search(portfolio_id: int | None) -> dict[str, Any]:
    """The contract search beside the holdings (``q``, ``country``, ``sector``): its choices and matches."""
    session = db_session()
    query = {key: (request.args.get(key) or "").strip()[:200] for key in ("q", "country", "sector")}
    countries = sorted(((code, country_name(code)) for code in distinct_values(session=session, column="country")),
                       key=lambda c: c[1])
    found: list[dict[str, Any]] = []
    total = 0
    if any(query.values()):
        lang = str(get_locale() or "sv")
        matches, total = search_holdable(session=session, text=query["q"], country=query["country"],
                                         sector=query["sector"], lang=lang)
        found = [{"id": c.id, "name": reader_name(c, lang), "country": c.country, "sector": c.sector,
                  "currency": c.currency, "can_simulate": c.problem is None,
                  "problem": localise(c.problem) if c.problem else None} for c in matches]
    return {
        "query": query, "countries": countries, "sectors": [(s.value, vocab(s.value, "sector")) for s in PolicySector],
        "found": found, "total": total, "searched": any(query.values()),
        "action": url_for("portfolios.show", portfolio_id=portfolio_id) if portfolio_id else url_for("portfolios.new"),
    }


def _render_builder(form: BuilderForm, row: Portfolio | None, status: int = 200) -> ResponseReturnValue:
    session = db_session()
    holdings = holding_views(form, session=session)
    run = active_run(row.id) if row is not None and row.id is not None else None
    results = result_view(row.result, session=session) if row is not None and row.result else None
    shares = active_shares(session=session, portfolio_id=row.id) if row is not None and row.id is not None else []
    return render_template(
        "portfolios/show.html", form=form, portfolio=row, holdings=holdings, search=_search(row.id if row else None),
        rates=rate_rows(holdings, form.spec, session=session), scenario_choices=SCENARIO_CHOICES,
        base_currencies=BASE_CURRENCIES, run=run, results=results, shares=shares,
    ), status


def _draft(existing: dict[str, Any] | None) -> BuilderForm | None:
    """The form as it stood when a search, add or remove button sent it here (``state`` is set), with those
    edits made; ``None`` when the page was opened afresh. Nothing is checked or saved until Save."""
    args = request.args
    if "state" not in args and "add" not in args:
        return None
    if "state" in args:
        form = form_from_request(args, existing)
        apply_model_edits(form, session=db_session())
        form.errors = []
    else:  # ?add= links from other pages start a new portfolio
        form = form_from_spec("", default_spec())
    edit_rows(form, add=args.getlist("add"), remove=args.get("remove"), session=db_session())
    return form


def _address_without_token() -> ResponseReturnValue | None:
    """A redirect to this address without ``csrf_token`` when a browser without scripts sent the builder's form
    here by GET (search, add, remove): the token then stays out of the address bar and the history."""
    if "csrf_token" not in request.args:
        return None
    kept = [(key, value) for key, value in request.args.items(multi=True) if key != "csrf_token"]
    return redirect(request.path + ("?" + urlencode(kept) if kept else ""), 303)


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    """The logged-in investor's portfolios."""
    rows = portfolios_of(session=db_session(), owner_id=_user().id or 0)
    return render_template("portfolios/index.html", portfolios=rows)


@bp.get("/new")
@login_required
def new() -> ResponseReturnValue:
    """An empty builder; ``?add=ID&add=ID`` starts it with those contracts (those that can be simulated)."""
    if (clean := _address_without_token()) is not None:
        return clean
    return _render_builder(_draft(None) or form_from_spec("", default_spec()), None)


@bp.post("")
@login_required
def create() -> ResponseReturnValue:
    """Save a new portfolio from the builder (and run it if asked)."""
    session = db_session()
    form = form_from_request(request.form, None)
    apply_model_edits(form, session=session)
    spec = validate_form(form, session=session)
    if spec is None:
        return _render_builder(form, None, 422)
    row = create_portfolio(session=session, owner_id=_user().id or 0, name=form.name, spec=spec_json(spec))
    flash(_("Portfolio saved."), "info")
    return _after_save(row)


def _after_save(row: Portfolio) -> ResponseReturnValue:
    if request.form.get("action") == "run":
        start_run(row.spec, owner_id=row.owner_id, portfolio_id=row.id)
        return redirect(url_for("portfolios.show", portfolio_id=row.id) + "#run")
    return redirect(url_for("portfolios.show", portfolio_id=row.id))


@bp.get("/<int:portfolio_id>")
def show(portfolio_id: int) -> ResponseReturnValue:
    """The builder with the portfolio's settings, its run in progress and its last results."""
    row = own_portfolio_or_404(portfolio_id)
    if (clean := _address_without_token()) is not None:
        return clean
    draft = _draft(row.spec) if "state" in request.args else None
    return _render_builder(draft or form_from_spec(row.name, row.spec), row)


@bp.post("/<int:portfolio_id>")
def save(portfolio_id: int) -> ResponseReturnValue:
    """Save changes from the builder (and run if asked)."""
    row = own_portfolio_or_404(portfolio_id)
    session = db_session()
    form = form_from_request(request.form, row.spec)
    apply_model_edits(form, session=session)
    spec = validate_form(form, session=session)
    if spec is None:
        return _render_builder(form, row, 422)
    update_portfolio(session=session, portfolio=row, name=form.name, spec=spec_json(spec))
    flash(_("Portfolio saved."), "info")
    return _after_save(row)


@bp.post("/<int:portfolio_id>/rename")
def rename(portfolio_id: int) -> ResponseReturnValue:
    """Change the name only."""
    row = own_portfolio_or_404(portfolio_id)
    name = (request.form.get("name") or "").strip()
    if not name or len(name) > 200:
        flash(_("A name has 1 to 200 characters."), "error")
    else:
        update_portfolio(session=db_session(), portfolio=row, name=name)
        flash(_("Portfolio renamed."), "info")
    return redirect(request.form.get("next") == "index" and url_for("portfolios.index")
                    or url_for("portfolios.show", portfolio_id=row.id))


@bp.post("/<int:portfolio_id>/delete")
def delete(portfolio_id: int) -> ResponseReturnValue:
    """Delete the portfolio."""
    row = own_portfolio_or_404(portfolio_id)
    name = row.name
    delete_portfolio(session=db_session(), portfolio=row)
    flash(_("Portfolio “%(name)s” deleted.", name=name), "info")
    return redirect(url_for("portfolios.index"))


@bp.post("/<int:portfolio_id>/run")
def run(portfolio_id: int) -> ResponseReturnValue:
    """Start the simulation of the saved portfolio in the background."""
    row = own_portfolio_or_404(portfolio_id)
    start_run(row.spec, owner_id=row.owner_id, portfolio_id=row.id)
    return redirect(url_for("portfolios.show", portfolio_id=row.id) + "#run")


def _with_result(portfolio_id: int) -> Portfolio:
    row = own_portfolio_or_404(portfolio_id)
    if not row.result:
        abort(409, description=_("This portfolio has no computed results yet."))
    return row


@bp.get("/<int:portfolio_id>/results.xlsx")
def results_xlsx(portfolio_id: int) -> ResponseReturnValue:
    """The saved result as an Excel workbook: a sheet per table, the scenario sample included."""
    row = _with_result(portfolio_id)
    frames = result_frames(row.result or {}, session=db_session())
    return workbook_download(frames, name=f"portfolio-{row.id}-results")


@bp.get(f"/<int:portfolio_id>/results/<any({', '.join(TABLES)}):table>.csv")
def results_csv(portfolio_id: int, table: str) -> ResponseReturnValue:
    """One table of the saved result as CSV (the reader's convention: ``;`` and decimal commas in Swedish)."""
    row = _with_result(portfolio_id)
    frame = result_frames(row.result or {}, session=db_session())[table]
    return frame_download(frame, "csv", lang=str(get_locale() or "sv"), name=f"portfolio-{row.id}-{table}",
                          sheet=table)


def _picked(runs: list[SimulationRun], name: str, default: SimulationRun | None) -> SimulationRun | None:
    """The run the query's ``name`` names among ``runs`` (404 for any other: someone else's, or another
    portfolio's, is as missing as one that does not exist); ``default`` when the query names none."""
    value = request.args.get(name)
    if not value:
        return default
    chosen = next((r for r in runs if str(r.id) == value), None)
    if chosen is None:
        abort(404)
    return chosen


@bp.get("/<int:portfolio_id>/runs")
def compare_runs(portfolio_id: int) -> ResponseReturnValue:
    """Two finished runs of the portfolio side by side (``?a=<run id>&b=<run id>``; the latest two by default)."""
    row = own_portfolio_or_404(portfolio_id)
    session = db_session()
    runs = finished_runs(session=session, portfolio_id=row.id or 0, owner_id=row.owner_id)
    a = _picked(runs, "a", runs[1] if len(runs) > 1 else None)
    b = _picked(runs, "b", runs[0] if runs else None)
    comparison = (run_comparison(a.result or {}, b.result or {}, session=session)
                  if a is not None and b is not None else None)
    return render_template("portfolios/compare_runs.html", portfolio=row, runs=runs, a=a, b=b,
                           comparison=comparison)


MAX_DELAY_MONTHS = 120


def _stress_choice(row: Portfolio) -> tuple[str | None, str | None, float] | str:
    """The sector, payer and delay asked for on the form, or what is wrong with them."""
    sectors, payers = stress_targets(row.result or {})
    sector = request.form.get("sector") or None
    payer = request.form.get("payer") or None
    if sector is not None and sector not in sectors:
        return _("The sector %(sector)s is not one of the portfolio's.", sector=sector)
    if payer is not None and payer not in payers:
        return _("The organisation %(payer)s pays none of the portfolio's contracts.", payer=payer)
    try:
        delay = parse_number(request.form.get("delay_months"))
    except ValueError:
        delay = -1.0
    if delay is None:
        delay = 12.0
    if not 0 < delay <= MAX_DELAY_MONTHS:
        return _("The delay is a number of months above 0 and at most %(max)s.", max=MAX_DELAY_MONTHS)
    return sector, payer, delay


@bp.post("/<int:portfolio_id>/stress")
def stress(portfolio_id: int) -> ResponseReturnValue:
    """Run the stress scenarios beside the saved result (the page waits) and keep them with it."""
    row = own_portfolio_or_404(portfolio_id)
    target = url_for("portfolios.show", portfolio_id=row.id) + "#stress"
    if not row.result:
        flash(_("Run the simulation first: the stress tests are compared with its result."), "error")
        return redirect(target)
    choice = _stress_choice(row)
    if isinstance(choice, str):
        flash(choice, "error")
        return redirect(target)
    session = db_session()
    resolved = resolve_or_error(PortfolioFile.model_validate(row.spec), session=session)
    if isinstance(resolved, SpecProblem):
        flash(resolved.message, "error")
        return redirect(target)
    sector, payer, delay = choice
    save_stress(session=session, portfolio=row,
                stress=stress_now(resolved, sector=sector, payer=payer, delay_months=delay))
    return redirect(target)


@bp.get("/search")
@login_required
def search() -> ResponseReturnValue:
    """The contract search's matches as an HTML fragment for the builder's script (``portfolio``: the builder
    the add buttons go back to), or as JSON with ``format=json``."""
    pid = request.args.get("portfolio", "")
    portfolio_id = own_portfolio_or_404(int(pid)).id if re.fullmatch(r"[0-9]{1,9}", pid) else None
    view = _search(portfolio_id)
    if request.args.get("format") == "json":
        return {"total": view["total"], "contracts": view["found"]}
    return render_template("portfolios/_search_results.html", search=view)


@bp.get("/runs/<int:run_id>")
def run_status(run_id: int) -> ResponseReturnValue:
    """Progress of a run, as JSON, for the page's poller."""
    run = own_run_or_404(run_id)
    return {
        "id": run.id, "status": run.status, "progress": run.progress, "error": run.error,
        "portfolio_url": url_for("portfolios.show", portfolio_id=run.portfolio_id) if run.portfolio_id else None,
    }


@bp.post("/<int:portfolio_id>/shares")
def share(portfolio_id: int) -> ResponseReturnValue:
    """Make a read-only link to the portfolio."""
    row = own_portfolio_or_404(portfolio_id)
    create_share(session=db_session(), portfolio=row)
    flash(_("Share link made: anyone with it can see this portfolio and its results, but not change them."), "info")
    return redirect(url_for("portfolios.show", portfolio_id=row.id) + "#share")


@bp.post("/<int:portfolio_id>/shares/<int:share_id>/revoke")
def revoke(portfolio_id: int, share_id: int) -> ResponseReturnValue:
    """Revoke a read-only link: it no longer opens."""
    row = own_portfolio_or_404(portfolio_id)
    if not revoke_share(session=db_session(), portfolio=row, share_id=share_id):
        abort(404)
    flash(_("Share link revoked."), "info")
    return redirect(url_for("portfolios.show", portfolio_id=row.id) + "#share")


def _private(response: Response) -> Response:
    # A shared page's address is its key: never sent on to sites it links to, never indexed or cached by others.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/shared/<token>")
def shared(token: str) -> ResponseReturnValue:
    """A portfolio and its results, read-only, for whoever has the link (no account needed)."""
    row = shared_portfolio_or_404(token)
    session = db_session()
    results = result_view(row.result, session=session) if row.result else None
    holdings = holding_rows(row.spec, session=session)
    page = render_template("portfolios/shared.html", portfolio=row, results=results, holdings=holdings,
                           token=token, shared=True)
    return _private(make_response(page))


@bp.get("/shared/<token>/report.pdf")
def shared_report(token: str) -> ResponseReturnValue:
    """The shared portfolio's PDF report."""
    row = shared_portfolio_or_404(token)
    if not row.result:
        abort(404)
    lang = request.args.get("lang", "sv")
    pdf = portfolio_report_pdf(row, lang if lang in ("sv", "en") else "sv", session=db_session())
    response = make_response(pdf)
    response.mimetype = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="portfolio-{lang}.pdf"'
    return _private(response)
