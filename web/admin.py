"""Admin pages: the scheduled jobs' recent runs and the milestones due soon (curators and admins)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from flask_babel import get_locale

from web.auth import role_required
from web.extensions import session as db_session
from web.jobs import JOBS, last_runs, local_date, recent_runs, system_clock
from web.reminders import DEFAULT_DAYS, KIND_LABELS, reminders_due

bp = Blueprint("admin", __name__, url_prefix="/admin")

LABELS = {
    "sv": {"title": "Schemalagda jobb", "last": "Senaste körning per jobb", "job": "Jobb", "started": "Start",
           "finished": "Slut", "status": "Status", "error": "Fel", "never": "har inte körts",
           "recent": "Senaste körningar", "reminders": "Milstolpar inom {days} dagar från {today}",
           "date": "Datum", "contract": "Kontrakt", "kind": "Typ", "what": "Vad", "none": "Inget att visa.",
           "describe": {"factsheets": "Skapar saknade och inaktuella faktablad",
                        "portfolios": "Räknar om sparade portföljer (natt)",
                        "reminders": "Milstolpar inom 30 dagar (morgon)",
                        "market": "Uppdaterar marknadsstatistiken (natt)"},
           "status_words": {"success": "klart", "failed": "misslyckades", "running": "pågår"}},
    "en": {"title": "Scheduled jobs", "last": "Latest run of each job", "job": "Job", "started": "Started",
           "finished": "Finished", "status": "Status", "error": "Error", "never": "never ran",
           "recent": "Recent runs", "reminders": "Milestones within {days} days of {today}",
           "date": "Date", "contract": "Contract", "kind": "Kind", "what": "What", "none": "Nothing to show.",
           "describe": {"factsheets": "Regenerates missing and out-of-date fact sheets",
                        "portfolios": "Recomputes saved portfolios (nightly)",
                        "reminders": "Milestones due within 30 days (mornings)",
                        "market": "Refreshes the market statistics (nightly)"},
           "status_words": {"success": "success", "failed": "failed", "running": "running"}},
}


@bp.get("/jobs")
@role_required("curator", "admin")
def jobs() -> str:
    """Recent job runs (job, start, end, status, error) and the reminders due within 30 days."""
    lang = str(get_locale() or "sv")
    lang = lang if lang in LABELS else "sv"
    session = db_session()
    try:
        today = date.fromisoformat(request.args["date"]) if "date" in request.args else local_date(system_clock())
    except ValueError:
        today = local_date(system_clock())
    return render_template(
        "admin/jobs.html", t=LABELS[lang], jobs=JOBS, last=last_runs(session=session),
        runs=recent_runs(session=session, limit=50), reminders=reminders_due(session=session, today=today),
        kind_labels=KIND_LABELS[lang], today=today, days=DEFAULT_DAYS, page_lang=lang,
    )
