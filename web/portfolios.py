"""The portfolio builder: an investor's private portfolios, simulations run in the background.

Pages live under ``/portfolios`` and belong to their owner: anyone else, logged in or not, gets 404.

A run is a :class:`~registry.models.SimulationRun` row plus a task on the app's
:class:`~concurrent.futures.ThreadPoolExecutor` (``app.extensions["utfall_runs"]``). The task works in
its own app context, hence its own database session, and writes ``progress`` as the engine reports
finished chunks, so a long run neither blocks the request that started it nor any other; the page polls
:func:`run_status`. When the run is done its result (JSON tables plus histograms) is stored on the run
and on the portfolio.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import sqlalchemy as sa
from babel.numbers import format_decimal
from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from pydantic import ValidationError
from sqlalchemy import update
from sqlmodel import Session, col, select

import portfolio as engine
from registry.calibration import CalibratedPriors
from registry.models import Contract, OrganisationRow, Portfolio, SimulationRun, User, utcnow
from registry.portfolio_file import PortfolioFile, PortfolioFileError, build_portfolio
from registry.services.contracts import get_contract
from web.auth import current_user, login_required
from web.charts import histogram_svg
from web.extensions import db
from web.extensions import session as db_session
from web.formatting import percent_pattern
from web.problems import localise
from web.vocabulary import label

log = logging.getLogger(__name__)

bp = Blueprint("portfolios", __name__, url_prefix="/portfolios")

# Up to this many scenarios the API answers a simulation at once; larger runs go to the background.
SYNC_SCENARIOS = 20_000
MAX_SCENARIOS = 1_000_000
HISTOGRAM_BINS = 30
EXTENSION = "utfall_runs"


# --- background runs -------------------------------------------------------------------------------------


class RunManager:
    """The app's pool of simulation threads, the runs still in flight, and their heartbeat.

    While a run is queued or running here, a thread renews its ``heartbeat_at`` every
    ``UTFALL_RUN_HEARTBEAT_SECONDS``; if this process dies (a gunicorn worker killed or restarted) the
    heartbeat stops, and :func:`fail_if_stale` lets any process that reads the run mark it failed.
    """

    def __init__(self, app: Flask, workers: int, heartbeat_seconds: float = 10.0) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="utfall-simulation")
        self.heartbeat_seconds = heartbeat_seconds
        self._futures: dict[Future[None], int] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._beater: threading.Thread | None = None

    def submit(self, run_id: int) -> Future[None]:
        future = self.executor.submit(_execute, self.app, run_id)
        with self._lock:
            self._futures[future] = run_id
            if self._beater is None:
                self._beater = threading.Thread(target=self._beat_loop, name="utfall-run-heartbeat", daemon=True)
                self._beater.start()
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.pop(future, None)

    def in_flight(self) -> list[int]:
        with self._lock:
            return sorted(self._futures.values())

    def beat(self) -> None:
        """Renew the heartbeat of every run this process still holds."""
        ids = self.in_flight()
        if not ids:
            return
        with self.app.app_context():
            engine = db.engine
        with Session(engine) as s:
            s.exec(update(SimulationRun).where(  # type: ignore[call-overload]
                col(SimulationRun.id).in_(ids), col(SimulationRun.status).in_(("queued", "running"))
            ).values(heartbeat_at=utcnow()))
            s.commit()

    def _beat_loop(self) -> None:
        while not self._stopped.wait(self.heartbeat_seconds):
            try:
                self.beat()
            except Exception:  # the database away for a moment: the next beat tries again
                log.exception("simulation heartbeat failed")

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until every submitted run has finished (tests, shutdown); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._futures)
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for future in pending:
                try:
                    future.result(timeout=max(remaining, 0.01))
                except TimeoutError:
                    return False
                except Exception:  # the task records its own failure on the run row
                    pass

    def shutdown(self) -> None:
        self._stopped.set()
        self.executor.shutdown(wait=True, cancel_futures=False)


@bp.record_once
def _init_runs(state: BlueprintSetupState) -> None:
    app = state.app
    app.extensions[EXTENSION] = RunManager(app, int(app.config.get("UTFALL_SIMULATION_WORKERS", 1)),
                                           float(_setting("RUN_HEARTBEAT_SECONDS", 10, app)))


def runs(app: Flask | None = None) -> RunManager:
    """The app's run manager."""
    return (app or current_app).extensions[EXTENSION]  # type: ignore[no-any-return]


def start_run(spec: dict[str, Any], *, owner_id: int | None, portfolio_id: int | None) -> SimulationRun:
    """Record a queued run (committed, so the worker sees it) and hand it to the pool."""
    session = db_session()
    run = SimulationRun(owner_id=owner_id, portfolio_id=portfolio_id, status="queued", progress=0.0, spec=spec,
                        heartbeat_at=utcnow())
    session.add(run)
    session.commit()
    runs().submit(run.id or 0)
    return run


def fail_interrupted_runs(*, session: Session) -> int:
    """Mark runs left queued or running by a stopped server as failed; returns how many.

    Runs live in the server's own threads, so at start-up none can still be running.
    """
    stale = session.exec(
        select(SimulationRun).where(col(SimulationRun.status).in_(("queued", "running")))
    ).all()
    for run in stale:
        run.status, run.error, run.finished_at = "failed", "interrupted: the server stopped during the run", utcnow()
    session.flush()
    return len(stale)


def _setting(name: str, default: float, app: Flask | None = None) -> Any:
    """``UTFALL_<name>`` from the app's config, or ``<name>`` as the environment's ``UTFALL_<name>`` sets it."""
    config = (app or current_app).config
    return config.get(f"UTFALL_{name}", config.get(name, default))


STALE_ERROR = "interrupted: the process running it stopped (no heartbeat since {since:%Y-%m-%d %H:%M:%S} UTC)"


def fail_if_stale(run: SimulationRun, *, session: Session, stale_seconds: float | None = None) -> bool:
    """Mark ``run`` failed if it is queued or running and its heartbeat is older than ``stale_seconds``.

    Whichever process reads the run first does it (a conditional UPDATE, so only one writes); ``run`` is
    refreshed either way. Returns whether this call failed it.
    """
    if run.status not in ("queued", "running"):
        return False
    seconds = stale_seconds if stale_seconds is not None else float(_setting("RUN_STALE_SECONDS", 60))
    now = utcnow()
    cutoff = now - timedelta(seconds=seconds)
    last = run.heartbeat_at or run.created_at
    if last >= cutoff:
        return False
    done = session.exec(update(SimulationRun).where(  # type: ignore[call-overload]
        col(SimulationRun.id) == run.id, col(SimulationRun.status).in_(("queued", "running")),
        sa.func.coalesce(col(SimulationRun.heartbeat_at), col(SimulationRun.created_at)) < cutoff,
    ).values(status="failed", error=STALE_ERROR.format(since=last), finished_at=now)
        .execution_options(synchronize_session=False))
    session.commit()
    session.refresh(run)
    return bool(done.rowcount)


def _set_progress(engine: Any, run_id: int, **values: Any) -> None:
    # A short transaction of its own: the request thread may be reading the row at the same time.
    with Session(engine) as s:
        s.exec(update(SimulationRun).where(col(SimulationRun.id) == run_id).values(**values))  # type: ignore[call-overload]
        s.commit()


def _execute(app: Flask, run_id: int) -> None:
    """The worker: resolve the spec, simulate with progress reports, store the result (or the error)."""
    with app.app_context():
        session = db_session()
        engine = db.engine
        run = session.get(SimulationRun, run_id)
        if run is None:
            return
        try:
            _set_progress(engine, run_id, status="running", progress=0.0, heartbeat_at=utcnow())
            spec = PortfolioFile.model_validate(run.spec)
            resolved = resolve_or_error(spec, session)
            if isinstance(resolved, SpecProblem):
                raise ValueError(resolved.message)
            total = max(scenarios_of(spec), 1)
            done = 0
            last = time.monotonic()

            def progress(finished: int) -> None:
                nonlocal done, last
                done += finished
                now = time.monotonic()
                if now - last >= 0.25:  # a few writes a second are plenty for a progress bar
                    last = now
                    # the tables after the last chunk take a moment too, so the bar stops short of 100 %
                    _set_progress(engine, run_id, progress=round(min(done / total, 1.0) * 0.95, 4))

            result = simulate_now(resolved, progress=progress)
            session.expire_all()
            run = session.get(SimulationRun, run_id)
            assert run is not None
            run.result, run.status, run.progress, run.finished_at = result, "done", 1.0, utcnow()
            if run.portfolio_id is not None:
                portfolio = session.get(Portfolio, run.portfolio_id)
                if portfolio is not None:
                    portfolio.result, portfolio.result_computed_at = result, run.finished_at
            session.commit()
        except Exception as exc:
            log.exception("simulation run %s failed", run_id)
            session.rollback()
            _set_progress(engine, run_id, status="failed", error=str(exc)[:2000], finished_at=utcnow())


# --- specifications and simulation -----------------------------------------------------------------------


@dataclass(frozen=True)
class SpecProblem:
    """Why a specification cannot be simulated: every ``(field, reason)``, the first one in front."""

    message: str
    field: str | None = None
    errors: tuple[tuple[str, str], ...] = ()


def resolve_or_error(spec: PortfolioFile, session: Session) -> engine.Portfolio | SpecProblem:
    """The engine's portfolio for ``spec`` (holdings looked up in the registry), or what is wrong with it."""
    limit = int(current_app.config.get("UTFALL_MAX_SCENARIOS", MAX_SCENARIOS))
    if spec.scenarios > limit:
        reason = f"at most {limit:,} scenarios in the web app (use the command line for more)"
        return SpecProblem(f"scenarios: {reason}", "scenarios", (("scenarios", reason),))
    try:
        return build_portfolio(spec, source="portfolio",
                               get_contract=lambda cid: get_contract(session=session, contract_id=cid),
                               priors=CalibratedPriors.from_session(session))
    except PortfolioFileError as exc:
        loc, reason = exc.errors[0] if exc.errors else ("", str(exc))
        return SpecProblem(f"{loc}: {reason}" if loc else reason, loc or None, tuple(exc.errors))
    except ValueError as exc:  # the engine's own checks (e.g. a holding's weight)
        return SpecProblem(str(exc))


def spec_json(spec: PortfolioFile) -> dict[str, Any]:
    """The stored form of a specification: the file's own field names, defaults written out."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True)


def scenarios_of(spec: PortfolioFile) -> int:
    return spec.scenarios


def simulate_now(resolved: engine.Portfolio, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Simulate and return the JSON result: every table, plus histograms of the return distribution."""
    result = engine.simulate(resolved, progress=progress)
    data = result.to_dict()
    capital = float(result.raw.capital)
    data["distributions"] = {
        "multiple": histogram(result.raw.repayment / capital if capital > 0 else result.raw.repayment * 0),
        "irr": histogram(result.irr),
    }
    return jsonable(data)


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, non-finite floats as ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(mode="json"))
    return value


def histogram(values: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Bin edges and counts of the finite values (the return distribution on the page)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return {"edges": [], "counts": [], "n": 0}
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.005, hi + 0.005
    counts, edges = np.histogram(finite, bins=bins, range=(lo, hi))
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts], "n": int(finite.size)}


# --- saving --------------------------------------------------------------------------------------------


def save_portfolio(session: Session, *, owner_id: int, name: str, spec: dict[str, Any]) -> Portfolio:
    """Store a new portfolio (committed)."""
    row = Portfolio(owner_id=owner_id, name=name.strip(), spec=spec)
    session.add(row)
    session.commit()
    return row


def update_portfolio(session: Session, row: Portfolio, *, name: str | None = None,
                     spec: dict[str, Any] | None = None) -> Portfolio:
    """Rename and/or replace the specification; a new specification clears the stale result."""
    if name is not None:
        row.name = name.strip()
    if spec is not None and spec != row.spec:
        row.spec = spec
        row.result, row.result_computed_at = None, None
    row.updated_at = utcnow()
    session.add(row)
    session.commit()
    return row


def delete_portfolio(session: Session, row: Portfolio) -> None:
    """Delete a portfolio; its runs keep their log entry but no longer point to it."""
    session.exec(
        update(SimulationRun).where(col(SimulationRun.portfolio_id) == row.id).values(portfolio_id=None)  # type: ignore[call-overload]
    )
    session.delete(row)
    session.commit()


# --- the builder form ----------------------------------------------------------------------------------

SCENARIO_CHOICES = (10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
BASE_CURRENCIES = ("SEK", "EUR", "USD", "GBP", "NOK", "DKK")
EXTRA_ROWS = 2  # blank holding rows under the filled ones (more with the "add row" button)
# What the form edits; everything else in a stored specification (outcome models, delays, inline
# contracts, per-holding assumptions) is kept as it was.
HOLDING_FORM_KEYS = ("contract", "amount", "share")


def default_spec() -> dict[str, Any]:
    """A new portfolio's settings (the portfolio-file defaults, with a quick scenario count)."""
    spec = PortfolioFile.model_validate({"base_currency": "SEK", "scenarios": 20_000, "seed": 1,
                                         "holdings": [{"contract": "x", "share": 1}]})
    data = spec_json(spec)
    data["holdings"] = []
    return data


def parse_number(text: str | None) -> float | None:
    """Numbers as people type them in either language: ``5 000 000``, ``2,5``, ``1,234.5``."""
    if text is None or not text.strip():
        return None
    cleaned = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace("_", "")
    if "," in cleaned and "." in cleaned:
        cleaned = cleaned.replace(",", "")  # 1,234.5
    else:
        cleaned = cleaned.replace(",", ".")  # 2,5
    value = float(cleaned)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


@dataclass
class BuilderForm:
    """The builder's fields, read from a request or from a stored specification."""

    name: str
    spec: dict[str, Any]
    rows: list[dict[str, Any]]  # contract, amount, share (percent), as typed
    errors: list[tuple[str, str]]  # (form field or "", message)

    @property
    def row_errors(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for key, message in self.errors:
            if key.startswith("h-"):
                out.setdefault(int(key.split("-")[1]), []).append(message)
        return out

    def field_errors(self, key: str) -> list[str]:
        return [m for k, m in self.errors if k == key]


def _fmt_plain(value: Any) -> str:
    if value is None:
        return ""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def form_from_spec(name: str, spec: dict[str, Any]) -> BuilderForm:
    rows = [{"contract": h.get("contract", ""), "amount": _fmt_plain(h.get("amount")),
             "share": _fmt_plain(h["share"] * 100) if h.get("share") is not None else ""}
            for h in spec.get("holdings", [])]
    rows += [{"contract": "", "amount": "", "share": ""} for _ in range(EXTRA_ROWS)]
    return BuilderForm(name=name, spec=spec, rows=rows, errors=[])


_ROW_FIELD = re.compile(r"h-([0-9]{1,6})-", re.ASCII)


def form_from_request(form: Any, existing: dict[str, Any] | None) -> BuilderForm:
    """Merge the posted fields into ``existing`` (or the defaults); collect the problems found."""
    spec = dict(existing or default_spec())
    errors: list[tuple[str, str]] = []
    name = (form.get("name") or "").strip()
    if not name:
        errors.append(("name", _("Give the portfolio a name.")))
    spec["name"] = name

    def number(key: str, target: str, scale: float = 1.0, integer: bool = False) -> float | None:
        try:
            value = parse_number(form.get(key))
        except ValueError:
            errors.append((key, _("Not a number: %(text)s", text=form.get(key))))
            return None
        if value is None:
            return None
        value = value * scale
        return int(round(value)) if integer else value

    spec["base_currency"] = (form.get("base_currency") or spec.get("base_currency") or "SEK").upper()
    for key, target, scale, integer in (("scenarios", "scenarios", 1.0, True), ("seed", "seed", 1.0, True),
                                        ("metric_correlation", "metric_correlation", 1.0, False),
                                        ("hurdle_rate", "hurdle_rate", 0.01, False)):
        value = number(key, target, scale, integer)
        if value is not None:
            spec[target] = value
    copula = dict(spec.get("copula") or {})
    copula["family"] = form.get("copula") or copula.get("family", "gaussian")
    df = number("df", "df")
    if df is not None:
        copula["df"] = df
    spec["copula"] = copula
    loadings = dict(spec.get("loadings") or {})
    for factor in ("global", "country", "payer", "sector"):
        value = number(f"loading_{factor}", factor)
        if value is not None:
            loadings[factor] = value
    spec["loadings"] = loadings
    fx = dict(spec.get("fx") or {})
    for key in form:
        if key.startswith("fx_"):
            currency = key[3:].upper()
            value = number(key, currency)
            if value is None:
                fx.pop(currency, None)
            else:
                fx[currency] = value
    spec["fx"] = {c: r for c, r in fx.items() if c != spec["base_currency"]}

    previous = {h.get("contract"): h for h in (existing or {}).get("holdings", [])}
    rows: list[dict[str, Any]] = []
    holdings: list[dict[str, Any]] = []
    row_of: list[int] = []
    # Row numbers are the form's own ASCII digits; "h-²-..." passes str.isdigit but not int(), and a
    # thousand-digit number passes both but exceeds int()'s limit on digits.
    indices = sorted({int(m[1]) for k in form if (m := _ROW_FIELD.match(k))})
    for i in indices:
        row = {"contract": (form.get(f"h-{i}-contract") or "").strip(),
               "amount": form.get(f"h-{i}-amount") or "", "share": form.get(f"h-{i}-share") or ""}
        rows.append(row)
        if not row["contract"]:
            if row["amount"].strip() or row["share"].strip():
                errors.append((f"h-{len(rows) - 1}", _("Choose a contract for this amount.")))
            continue
        holding = {k: v for k, v in previous.get(row["contract"], {}).items() if k not in HOLDING_FORM_KEYS}
        holding["contract"] = row["contract"]
        amount = number(f"h-{len(rows) - 1}-amount", "amount")
        share = number(f"h-{len(rows) - 1}-share", "share", 0.01)
        if amount is not None:
            holding["amount"] = amount
        if share is not None:
            holding["share"] = share
        if amount is None and share is None and not any(k.startswith(f"h-{len(rows) - 1}-") for k, _m in errors):
            errors.append((f"h-{len(rows) - 1}", _("Give an amount or a share of the investor position.")))
            continue
        holdings.append(holding)
        row_of.append(len(rows) - 1)
    spec["holdings"] = holdings
    held = {h["contract"] for h in holdings}
    # Assumptions about contracts no longer held would make the file invalid; they go with the holding.
    spec["outcome_models"] = {c: m for c, m in (spec.get("outcome_models") or {}).items() if c in held}
    spec["delays"] = {c: d for c, d in (spec.get("delays") or {}).items() if c in held}
    rows += [{"contract": "", "amount": "", "share": ""} for _ in range(EXTRA_ROWS)]
    if not holdings and not any(k.startswith("h-") for k, _m in errors):
        errors.append(("h-0", _("Add at least one contract.")))
    result = BuilderForm(name=name, spec=spec, rows=rows, errors=errors)
    result.row_of = row_of  # type: ignore[attr-defined]
    return result


def _problem_errors(problem_errors: list[tuple[str, str]], row_of: list[int]) -> list[tuple[str, str]]:
    """Specification field paths (``holdings[2].amount``) to the form's fields (``h-3``)."""
    out = []
    for loc, english in problem_errors:
        reason = localise(english)  # pydantic and the file checks speak English (web.problems)
        if loc.startswith("holdings[") and "]" in loc:
            k = int(loc[len("holdings["):loc.index("]")])
            key = f"h-{row_of[k]}" if k < len(row_of) else ""
            out.append((key, reason))
        elif loc.startswith("fx"):
            out.append(("fx", reason))
        else:
            out.append(("", f"{loc}: {reason}" if loc else reason))
    return out


def validate_form(form: BuilderForm, session: Session) -> PortfolioFile | None:
    """Check the merged specification against the file schema and the registry; errors go on ``form``."""
    if form.errors:
        return None
    row_of: list[int] = getattr(form, "row_of", [])
    try:
        spec = PortfolioFile.model_validate(form.spec)
    except ValidationError as exc:
        form.errors.extend(_problem_errors([(_loc(e["loc"]), e["msg"]) for e in exc.errors()], row_of))
        return None
    problem = resolve_or_error(spec, session)
    if isinstance(problem, SpecProblem):
        form.errors.extend(_problem_errors(list(problem.errors) or [(problem.field or "", problem.message)], row_of))
        return None
    return spec


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, str) and p in {"normal", "lognormal", "beta", "bernoulli", "empirical", "mixture"}:
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def contract_choices(session: Session, spec: dict[str, Any]) -> list[dict[str, str]]:
    """Contracts that can be held (their payment terms are recorded), named in the reader's language."""
    lang = str(get_locale() or "sv")
    rows = session.exec(
        select(Contract.id, Contract.name_sv, Contract.name_en, Contract.currency, Contract.country)
        .where(col(Contract.has_terms).is_(True))
    ).all()
    choices = []
    for cid, name_sv, name_en, currency, country in rows:
        name = (name_sv or name_en) if lang == "sv" else (name_en or name_sv)
        short = name if len(name or "") <= 90 else name[:88].rstrip() + "…"  # type: ignore[index]
        choices.append({"id": cid, "label": f"{short} ({country}, {currency})", "currency": currency})
    for doc in spec.get("contracts") or []:  # what-if contracts written into the specification
        if isinstance(doc, dict) and doc.get("id"):
            choices.append({"id": doc["id"], "label": f"{doc['id']} ({_('what-if')})",
                            "currency": (doc.get("finance") or {}).get("currency", "")})
    return sorted(choices, key=lambda c: c["label"].lower())


def currencies(choices: list[dict[str, str]], spec: dict[str, Any]) -> list[str]:
    """Currencies that may need an exchange rate into the base currency."""
    found = {c["currency"] for c in choices if c["currency"]} | set(spec.get("fx") or {})
    return sorted(found - {spec.get("base_currency", "SEK")})


# --- results for the page ----------------------------------------------------------------------------

SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("capital", "money"), ("expected_repayment", "money"), ("expected_multiple", "multiple"),
    ("p_loss", "percent"), ("expected_loss", "money"), ("mean_net_loss", "money"),
    ("var95", "money"), ("es95", "money"), ("var99", "money"), ("es99", "money"),
    ("irr_p5", "percent"), ("irr_p50", "percent"), ("irr_p95", "percent"), ("irr_mean", "percent"),
    ("npv_hurdle", "money"),
)


def summary_labels() -> dict[str, str]:
    return {key: label("summary", key) for key, _kind in SUMMARY_ROWS}


def organisation_names(session: Session, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.exec(select(OrganisationRow.id, OrganisationRow.name).where(col(OrganisationRow.id).in_(ids)))
    return dict(rows.all())


def result_view(result: dict[str, Any], session: Session) -> dict[str, Any]:
    """What the results part of the page shows, prepared from the stored JSON result."""
    settings = result.get("settings", {})
    base = settings.get("base_currency", "SEK")
    lang = str(get_locale() or "sv")
    dist = result.get("distributions", {})

    def multiple_label(v: float) -> str:
        return format_decimal(v, format="0.00", locale=lang) + "×"

    def irr_label(v: float) -> str:
        return percent_pattern(v)

    exposures = result.get("exposures", [])
    names = organisation_names(session, sorted({e["organisation"] for e in exposures}))
    return {
        "base": base,
        "settings": settings,
        "summary": [(key, kind, summary_labels()[key], result.get("summary", {}).get(key, {}))
                    for key, kind in SUMMARY_ROWS if key in result.get("summary", {})],
        "contracts": result.get("contracts", []),
        "exposures": exposures,
        "org_names": names,
        "concentration": result.get("concentration", []),
        "hhi": result.get("hhi", []),
        "assumptions": result.get("assumptions", []),
        "default_priors": [a for a in result.get("assumptions", []) if a.get("default_prior")],
        "multiple_svg": histogram_svg(dist.get("multiple", {}), title=_("Multiple on invested capital"),
                                      edge_label=multiple_label, marker=1.0, marker_label=_("break-even")),
        "irr_svg": histogram_svg(dist.get("irr", {}), title=_("Internal rate of return (IRR)"),
                                 edge_label=irr_label, marker=0.0, marker_label="0 %"),
    }


# --- pages ---------------------------------------------------------------------------------------------


def _user() -> User:
    user = current_user()
    assert user is not None  # login_required ran first
    return user


def _own(portfolio_id: int) -> Portfolio:
    """The logged-in user's portfolio, or 404 (also when it exists but is someone else's)."""
    row = db_session().get(Portfolio, portfolio_id)
    user = current_user()
    if row is None or user is None or row.owner_id != user.id:
        abort(404)
    return row


def _own_run(run_id: int) -> SimulationRun:
    run = db_session().get(SimulationRun, run_id)
    user = current_user()
    if run is None or user is None or run.owner_id != user.id:
        abort(404)
    fail_if_stale(run, session=db_session())
    return run


def _active_run(portfolio_id: int) -> SimulationRun | None:
    """The portfolio's latest run, if it is still queued or running or failed after the last result."""
    run = db_session().exec(
        select(SimulationRun).where(SimulationRun.portfolio_id == portfolio_id)
        .order_by(col(SimulationRun.id).desc()).limit(1)
    ).first()
    if run is not None:
        fail_if_stale(run, session=db_session())
    return run if run is not None and run.status != "done" else None


def _render_builder(form: BuilderForm, row: Portfolio | None, status: int = 200) -> ResponseReturnValue:
    session = db_session()
    choices = contract_choices(session, form.spec)
    run = _active_run(row.id) if row is not None and row.id is not None else None
    results = result_view(row.result, session) if row is not None and row.result else None
    return render_template(
        "portfolios/show.html", form=form, portfolio=row, choices=choices,
        currencies=currencies(choices, form.spec), scenario_choices=SCENARIO_CHOICES,
        base_currencies=BASE_CURRENCIES, run=run, results=results,
    ), status


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    """The logged-in investor's portfolios."""
    rows = db_session().exec(
        select(Portfolio).where(Portfolio.owner_id == _user().id).order_by(col(Portfolio.updated_at).desc())
    ).all()
    return render_template("portfolios/index.html", portfolios=rows)


@bp.get("/new")
@login_required
def new() -> ResponseReturnValue:
    """An empty builder."""
    return _render_builder(form_from_spec("", default_spec()), None)


@bp.post("")
@login_required
def create() -> ResponseReturnValue:
    """Save a new portfolio from the builder (and run it if asked)."""
    session = db_session()
    form = form_from_request(request.form, None)
    spec = validate_form(form, session)
    if spec is None:
        return _render_builder(form, None, 422)
    row = save_portfolio(session, owner_id=_user().id or 0, name=form.name, spec=spec_json(spec))
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
    row = _own(portfolio_id)
    return _render_builder(form_from_spec(row.name, row.spec), row)


@bp.post("/<int:portfolio_id>")
def save(portfolio_id: int) -> ResponseReturnValue:
    """Save changes from the builder (and run if asked)."""
    row = _own(portfolio_id)
    session = db_session()
    form = form_from_request(request.form, row.spec)
    spec = validate_form(form, session)
    if spec is None:
        return _render_builder(form, row, 422)
    update_portfolio(session, row, name=form.name, spec=spec_json(spec))
    flash(_("Portfolio saved."), "info")
    return _after_save(row)


@bp.post("/<int:portfolio_id>/rename")
def rename(portfolio_id: int) -> ResponseReturnValue:
    """Change the name only."""
    row = _own(portfolio_id)
    name = (request.form.get("name") or "").strip()
    if not name or len(name) > 200:
        flash(_("A name has 1 to 200 characters."), "error")
    else:
        update_portfolio(db_session(), row, name=name)
        flash(_("Portfolio renamed."), "info")
    return redirect(request.form.get("next") == "index" and url_for("portfolios.index")
                    or url_for("portfolios.show", portfolio_id=row.id))


@bp.post("/<int:portfolio_id>/delete")
def delete(portfolio_id: int) -> ResponseReturnValue:
    """Delete the portfolio."""
    row = _own(portfolio_id)
    name = row.name
    delete_portfolio(db_session(), row)
    flash(_("Portfolio “%(name)s” deleted.", name=name), "info")
    return redirect(url_for("portfolios.index"))


@bp.post("/<int:portfolio_id>/run")
def run(portfolio_id: int) -> ResponseReturnValue:
    """Start the simulation of the saved portfolio in the background."""
    row = _own(portfolio_id)
    start_run(row.spec, owner_id=row.owner_id, portfolio_id=row.id)
    return redirect(url_for("portfolios.show", portfolio_id=row.id) + "#run")


@bp.get("/runs/<int:run_id>")
def run_status(run_id: int) -> ResponseReturnValue:
    """Progress of a run, as JSON, for the page's poller."""
    run = _own_run(run_id)
    return {
        "id": run.id, "status": run.status, "progress": run.progress, "error": run.error,
        "portfolio_url": url_for("portfolios.show", portfolio_id=run.portfolio_id) if run.portfolio_id else None,
    }
