"""PDF downloads: a contract's fact sheet and a portfolio's report (the service is :mod:`web.factsheet_service`)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from flask_babel import gettext as _

from web.auth import current_user
from web.extensions import session as db_session
from web.factsheet_service import LANGS, FactsheetNotFound, portfolio_report_pdf, render_factsheet
from web.lookups import own_portfolio_or_404

bp = Blueprint("factsheets", __name__)


def _lang() -> str:
    lang = request.args.get("lang") or "sv"
    if lang not in LANGS:
        abort(400)
    return lang


def _pdf_response(pdf: bytes, filename: str) -> Response:
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.get("/contracts/<contract_id>/factsheet.pdf")
def contract_factsheet(contract_id: str) -> Response:
    lang = _lang()
    session = db_session()
    try:
        pdf = render_factsheet(contract_id, lang, session=session)
    except FactsheetNotFound:
        abort(404)
    session.commit()
    return _pdf_response(pdf, f"{contract_id}-{lang}.pdf")


@bp.get("/portfolios/<int:portfolio_id>/report.pdf")
def portfolio_report(portfolio_id: int) -> Response:
    if current_user() is None:
        abort(401)
    portfolio = own_portfolio_or_404(portfolio_id)
    if not portfolio.result:
        abort(409, description=_("This portfolio has no computed results yet."))
    lang = _lang()
    pdf = portfolio_report_pdf(portfolio, lang, session=db_session())
    return _pdf_response(pdf, f"portfolio-{portfolio_id}-{lang}.pdf")
