"""Fact sheets and portfolio reports: what they show, rendered to PDF in the reader's language, and cached.

A contract's sheet is one or two A4 pages (``templates/factsheet/contract.html``), in Swedish or English.
Sheets are cached in the ``Factsheet`` table per (contract, language) under a hash of the displayed
document, the layout (templates, stylesheet, this code, the vocabulary and the translations) and the registry
version; a changed contract gets a new sheet on the next request or from the scheduler's ``factsheets`` job.
A portfolio report (``templates/factsheet/portfolio.html``) shows a saved portfolio's last results with the
results page's labels.

Every text is a gettext message rendered inside :func:`web.in_language`; the PDF machinery (restricted
fetcher, layout estimate) is in :mod:`web.pdf`.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from flask_babel import pgettext
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from registry.backtest import backtest
from registry.indigo.merge import get_display_document
from registry.models import Contract, Factsheet, Portfolio, utcnow
from registry.payoff import PayoffSweep, payoff_sweep
from registry.schema import ContractDocument, Role, document_json
from registry.terms import compile_terms
from web import in_language
from web.backtest_view import BacktestView, backtest_view
from web.charts import render_sweep_svg
from web.formatting import number, shorten
from web.pdf import STATIC_DIR, STATIC_SCHEME, html_to_pdf, render
from web.portfolio_results import holding_sources, result_view
from web.vocabulary import NP_, label

LANGS = ("sv", "en")
WEB_DIR = Path(__file__).resolve().parent
LAYOUT_FILES = (
    WEB_DIR.parent / "templates" / "factsheet",
    STATIC_DIR / "factsheet.css",
    WEB_DIR / "charts.py",
    WEB_DIR / "svg.py",
    WEB_DIR.parent / "registry" / "payoff.py",
    WEB_DIR / "pdf.py",
    WEB_DIR / "vocabulary.py",
    WEB_DIR / "translations",
    Path(__file__),
)
GO_LAB_ATTRIBUTION = (
    "INDIGO data: Government Outcomes Lab, Blavatnik School of Government, University of Oxford "
    "(INDIGO Impact Bond Dataset, CC BY 4.0)."
)


# --- versions and hashes --------------------------------------------------------------------------


@cache
def registry_version() -> str:
    """The installed utfall version, else the one in pyproject.toml (a source checkout)."""
    try:
        return metadata.version("utfall")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


@cache
def layout_version() -> str:
    """A digest of the templates, stylesheet and code that shape a sheet: editing any rebuilds the cache."""
    digest = hashlib.sha256()
    for root in LAYOUT_FILES:
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if path.is_file():
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def factsheet_hash(doc: ContractDocument) -> str:
    """What a cached sheet depends on: the displayed document, the layout and the registry version."""
    payload = json.dumps(document_json(doc), sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(f"{layout_version()}\n{registry_version()}\n".encode())
    digest.update(payload.encode())
    return digest.hexdigest()


def display_document(*, session: Session, contract_id: str) -> ContractDocument | None:
    """The document as shown: curated facts merged with INDIGO facts."""
    return get_display_document(session=session, contract_id=contract_id)


# --- what the sheet shows -------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFigure:
    label: str
    amount: Decimal | float | None = None
    currency: str | None = None
    text: str | None = None
    confidence: str | None = None
    bound: str = "exact"


@dataclass(frozen=True)
class TimelineEntry:
    date: str
    label: str
    detail: str = ""


def _terms_figures(sweep: PayoffSweep | None, doc: ContractDocument) -> dict[str, float]:
    """Guarantee, premium and cap as the compiled terms give them over the swept outcomes."""
    if sweep is None or not doc.payment_terms:
        return {}
    compiled = compile_terms(doc, source=doc.id)
    n = len(sweep.x)
    inputs: dict[str, Any] = {}
    for name in compiled.outcome_names:
        if name == sweep.metric.id:
            inputs[name] = sweep.x.astype(bool) if sweep.binary else sweep.x
        else:
            ref = sweep.reference.get(name, True)
            inputs[name] = np.full(n, ref, dtype=bool if isinstance(ref, bool) else float)
    result = compiled.evaluate(inputs) if compiled.outcome_names else compiled.evaluate({})
    figures: dict[str, float] = {}
    for component in ("guarantee", "premium"):
        values = result.by_component.get(component)
        if values is not None and float(np.max(values)) > 0:
            figures[component] = float(np.max(values))
    payer_max = float(np.max(sweep.payer))
    # Only call it a cap when the payer's cost stops rising inside the swept range.
    flat_end = float(sweep.payer[-1]) == payer_max and float(sweep.payer[-2]) == payer_max
    if payer_max > 0 and not sweep.binary and flat_end:
        figures["cap"] = payer_max
    return figures


# The sheet's labels of finance facts, by field of ``doc.finance``.
FINANCE_LABELS = {
    "capital_committed": NP_("fact sheet", "Capital committed"),
    "capital_drawn": NP_("fact sheet", "Capital drawn"),
    "max_outcome_payment": NP_("fact sheet", "Maximum outcome payment"),
    "total_outcome_payments_made": NP_("fact sheet", "Outcome payments made"),
    "target_irr": NP_("fact sheet", "Target IRR"),
    "realised_irr": NP_("fact sheet", "Realised IRR"),
}


def _key_figures(doc: ContractDocument, sweep: PayoffSweep | None) -> list[KeyFigure]:
    cur = doc.finance.currency
    figures: list[KeyFigure] = []
    for field in ("capital_committed", "capital_drawn", "max_outcome_payment", "total_outcome_payments_made"):
        fact = getattr(doc.finance, field)
        if fact is not None:
            figures.append(KeyFigure(pgettext(*FINANCE_LABELS[field]), fact.amount, fact.currency or cur,
                                     confidence=str(fact.confidence), bound=fact.bound))
    from_terms = _terms_figures(sweep, doc)
    terms_conf = str(doc.payment_terms.confidence) if doc.payment_terms else None
    guarantee_tranches = [i for i in doc.investments if str(i.tranche) == "guarantee" and i.committed]
    guarantee = pgettext("fact sheet", "Guarantee")
    if guarantee_tranches:
        total = sum((i.committed.amount for i in guarantee_tranches if i.committed), Decimal(0))
        figures.append(KeyFigure(guarantee, total, cur, confidence=str(guarantee_tranches[0].confidence)))
    elif "guarantee" in from_terms:
        figures.append(KeyFigure(guarantee, from_terms["guarantee"], cur, confidence=terms_conf))
    if "cap" in from_terms:
        figures.append(KeyFigure(pgettext("fact sheet", "Cap on payments (per the terms)"), from_terms["cap"], cur,
                                 confidence=terms_conf))
    if "premium" in from_terms:
        figures.append(KeyFigure(pgettext("fact sheet", "Maximum premium"), from_terms["premium"], cur,
                                 confidence=terms_conf))
    tp = doc.target_population
    if tp and (tp.targeted_participants is not None or tp.actual_participants is not None):
        parts = []
        targeted, actual = pgettext("fact sheet", "targeted"), pgettext("fact sheet", "actual")
        if tp.targeted_participants is not None:
            parts.append(f"{tp.targeted_participants} ({targeted})")
        if tp.actual_participants is not None:
            parts.append(f"{tp.actual_participants} ({actual})")
        unit = f" {tp.unit}" if tp.unit else ""
        figures.append(KeyFigure(pgettext("fact sheet", "Participants"), text=" / ".join(parts) + unit,
                                 confidence=str(tp.confidence)))
    for field in ("target_irr", "realised_irr"):
        fact = getattr(doc.finance, field)
        if fact is not None:
            figures.append(KeyFigure(pgettext(*FINANCE_LABELS[field]),
                                     text=f"{fact.value}{' ' + fact.unit if fact.unit else ''}",
                                     confidence=str(fact.confidence)))
    return figures


def _timeline(doc: ContractDocument, lang: str) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for field in ("signed", "service_start", "service_end", "evaluation_end", "anticipated_completion",
                  "actual_completion"):
        value = getattr(doc.dates, field)
        if value:
            entries.append(TimelineEntry(value, label("sheet_date", field)))
    for m in doc.milestones:
        entries.append(TimelineEntry(m.date, label("milestone_kind", m.kind), m.description))
    for a in doc.amendments:
        entries.append(TimelineEntry(a.date, pgettext("fact sheet", "Amendments"), a.description.get(lang)))
    return sorted(entries, key=lambda e: e.date)


def _source_confidence(doc: ContractDocument) -> dict[str, dict[str, int]]:
    """For each source id: how many fact groups of each confidence cite it."""
    counts: dict[str, dict[str, int]] = {s.id: {} for s in doc.sources}
    for _path, fact in doc.iter_facts():
        for sid in fact.sources:
            if sid in counts:
                conf = str(fact.confidence)
                counts[sid][conf] = counts[sid].get(conf, 0) + 1
    return counts


def uses_indigo(doc: ContractDocument) -> bool:
    """Whether the sheet shows INDIGO data (and so must carry GO Lab's attribution)."""
    return doc.origin == "indigo" or bool(doc.indigo_id) or any(
        "indigo" in (s.id + " " + s.title + " " + (s.publisher or "")).lower() for s in doc.sources)


def _realised(doc: ContractDocument, lang: str) -> BacktestView | None:
    """The back-test (its sentences come from the gettext catalogue)."""
    if doc.history is None:
        return None
    return backtest_view(doc, backtest(doc), lang)


def factsheet_context(doc: ContractDocument, lang: str, *, generated: datetime | None = None) -> dict[str, Any]:
    """Everything the template needs (also used by tests to see what a sheet shows).

    Call inside :func:`web.in_language` with ``lang``: the labels are gettext messages.
    """
    sweep = payoff_sweep(doc)
    parties: list[tuple[str, list[str]]] = []
    for role in Role:
        orgs = doc.parties_with_role(role)
        if orgs:
            parties.append((label("sheet_role", role), [o.name for o in orgs]))
    attributions = list(dict.fromkeys(s.attribution for s in doc.sources if s.attribution))
    if uses_indigo(doc) and not any("GO Lab" in a or "Government Outcomes Lab" in a for a in attributions):
        attributions.append(GO_LAB_ATTRIBUTION)
    metric_names = {m.id: m.name.get(lang) for m in doc.outcome_metrics}
    return {
        "doc": doc,
        "lang": lang,
        "other_lang": "en" if lang == "sv" else "sv",
        "label": label,
        "name": doc.name(lang),
        "parties": parties,
        "key_figures": _key_figures(doc, sweep),
        "chart_svg": render_sweep_svg(sweep, doc, lang) if sweep is not None else None,
        "reference_outcomes": sweep.reference if sweep is not None else {},
        "metric_names": metric_names,
        "timeline": _timeline(doc, lang),
        "source_confidence": _source_confidence(doc),
        "attributions": attributions,
        "generated": generated or datetime.now(UTC),
        "version": registry_version(),
        "static": STATIC_SCHEME,
        "num": plain_number,
        "realised": _realised(doc, lang),
    }


def plain_number(value: Any) -> str:
    """A stated number in the reader's locale with exactly the decimals it has (``0.30`` → ``0,3``)."""
    dec = Decimal(str(value)).normalize()
    exponent = dec.as_tuple().exponent
    return number(dec, max(0, -exponent) if isinstance(exponent, int) else 0)


# --- rendering ------------------------------------------------------------------------------------


class Clipper:
    """The template's ``clip(text, limit)``: ``text`` shortened to ``limit`` characters (ending in "…"), and a
    record that something was shortened, so that the sheet says where the full text is. Every text from the
    document goes through it: a field of any length (the schema allows long ones) still gives a short sheet."""

    def __init__(self) -> None:
        self.shortened = 0

    def __call__(self, value: Any, limit: int, killwords: bool = False) -> str:
        text = "" if value is None else str(value)
        if len(text) <= limit:
            return text
        self.shortened += 1
        return text[: limit - 1] + "…" if killwords else shorten(text, limit)


def factsheet_html(doc: ContractDocument, lang: str, *, generated: datetime | None = None,
                   compact: bool = False, context: dict[str, Any] | None = None) -> str:
    """The sheet's HTML in ``lang``.

    ``compact`` leaves out metric definitions and long explanations and shortens long texts, for
    contracts whose full sheet runs past two pages.
    """
    lang = lang if lang in LANGS else "sv"
    with in_language(lang):
        context = context or factsheet_context(doc, lang, generated=generated)
        return render("factsheet/contract.html", compact=compact, clip=Clipper(), **context)


def build_factsheet_pdf(doc: ContractDocument, lang: str, *, fetcher: Any = None,
                        generated: datetime | None = None) -> bytes:
    """Render one sheet in ``lang`` without touching the cache."""
    lang = lang if lang in LANGS else "sv"
    with in_language(lang):
        context = factsheet_context(doc, lang, generated=generated)
        full = factsheet_html(doc, lang, context=context)
        return html_to_pdf(full, fetcher=fetcher,
                           compact_html=lambda: factsheet_html(doc, lang, context=context, compact=True))


class FactsheetNotFound(LookupError):
    """There is no such contract."""


def render_factsheet(contract_id: str, lang: str, *, session: Session, force: bool = False,
                     now: datetime | None = None) -> bytes:
    """The contract's sheet in ``lang``: from the cache while current, else rendered and cached (flushed).

    Raises :class:`FactsheetNotFound` when the contract does not exist.
    """
    lang = lang if lang in LANGS else "sv"
    doc = display_document(session=session, contract_id=contract_id)
    if doc is None:
        raise FactsheetNotFound(contract_id)
    digest = factsheet_hash(doc)
    row = session.exec(select(Factsheet).where(Factsheet.contract_id == contract_id, Factsheet.lang == lang)).first()
    if row is not None and row.content_hash == digest and not force:
        return bytes(row.pdf)
    generated = now or utcnow()
    pdf = build_factsheet_pdf(doc, lang, generated=generated)
    if row is not None:
        session.expire(row)  # written below without the ORM
    store_factsheet(session, contract_id=contract_id, lang=lang, content_hash=digest, pdf=pdf, generated=generated)
    return pdf


def store_factsheet(session: Session, *, contract_id: str, lang: str, content_hash: str, pdf: bytes,
                    generated: datetime) -> None:
    """Insert or replace the cached sheet in one statement (not committed).

    Two first renders of one sheet may finish at once (two readers, or a reader and the scheduler): an
    INSERT ... ON CONFLICT DO UPDATE lets the second replace the first's identical sheet, where a plain
    INSERT failed on the unique (contract, language) and the reader got HTTP 500.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = Factsheet.__table__  # type: ignore[attr-defined]
    values = {"content_hash": content_hash, "pdf": pdf, "generated_at": generated}
    session.execute(insert(table).values(contract_id=contract_id, lang=lang, **values)
                    .on_conflict_do_update(index_elements=["contract_id", "lang"], set_=values))


def stale_factsheets(*, session: Session, langs: tuple[str, ...] = LANGS) -> list[tuple[str, str]]:
    """(contract id, language) pairs whose cached sheet is missing or out of date."""
    cached = {(r.contract_id, r.lang): r.content_hash for r in session.exec(select(Factsheet)).all()}
    stale: list[tuple[str, str]] = []
    for contract_id in session.exec(select(Contract.id).order_by(Contract.id)).all():
        doc = display_document(session=session, contract_id=contract_id)
        if doc is None:
            continue
        digest = factsheet_hash(doc)
        stale.extend((contract_id, lang) for lang in langs if cached.get((contract_id, lang)) != digest)
    return stale


def portfolio_report_pdf(portfolio: Portfolio, lang: str, *, session: Session) -> bytes:
    """A PDF of a saved portfolio's last results in ``lang``, with the results page's labels and numbers."""
    lang = lang if lang in LANGS else "sv"
    with in_language(lang):
        results = result_view(portfolio.result or {}, session=session)
        html = render(
            "factsheet/portfolio.html", portfolio=portfolio, lang=lang, results=results, generated=datetime.now(UTC),
            sources=holding_sources(portfolio.result or {}, results["names"], session=session),
            version=registry_version(), static=STATIC_SCHEME,
        )
        return html_to_pdf(html)
