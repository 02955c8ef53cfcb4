"""Admin pages: the scheduled jobs' recent runs and the milestones due soon (curators and admins)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from flask_babel import get_locale

from registry.reminders import DEFAULT_DAYS, reminders_due
from web.auth import role_required
from web.extensions import session as db_session
from web.jobs import JOBS, last_runs, local_date, recent_runs, system_clock

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/jobs")
@role_required("curator", "admin")
def jobs() -> str:
    """Recent job runs (job, start, end, status, error) and the reminders due within 30 days."""
    session = db_session()
    try:
        today = date.fromisoformat(request.args["date"]) if "date" in request.args else local_date(system_clock())
    except ValueError:
        today = local_date(system_clock())
    return render_template(
        "admin/jobs.html", jobs=JOBS, last=last_runs(session=session), runs=recent_runs(session=session, limit=50),
        reminders=reminders_due(session=session, today=today), today=today, days=DEFAULT_DAYS,
        page_lang=str(get_locale() or "sv"),
    )
