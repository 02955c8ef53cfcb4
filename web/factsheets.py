"""PDF fact sheets (WeasyPrint): one or two A4 pages per contract, in Swedish or English.

Rendering fetches nothing from outside. The templates escape every text from the document, so markup in
a contract (an ``<img src="http://...">``, a ``file:///`` link) is shown as text and never becomes an
element; and the URL fetcher, :class:`StaticOnlyFetcher`, serves only files under ``web/static`` through
the private ``utfall-static:`` scheme and refuses ``http(s):``, ``file:``, ``data:`` and everything else.
Fonts come from fontconfig (DejaVu Sans, Debian package ``fonts-dejavu-core``) and are embedded, subset.

Sheets are cached in the ``Factsheet`` table per (contract, language) under a hash of the displayed
document, the template version and the registry version; a changed contract gets a new sheet on the next
request or from the scheduler's ``factsheets`` job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import mimetypes
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from flask import Blueprint, Flask, Response, abort, current_app, has_app_context, request
from flask_babel import force_locale
from sqlmodel import Session, select

from registry.backtest import backtest
from registry.loader import document_json
from registry.models import Contract, Factsheet, Portfolio, utcnow
from registry.payoff import PayoffSweep, payoff_sweep
from registry.schema import ContractDocument, Role
from web.backtest_view import BacktestView, backtest_view
from web.charts import render_sweep_svg
from web.formatting import shorten

log = logging.getLogger(__name__)

bp = Blueprint("factsheets", __name__)

LANGS = ("sv", "en")
STATIC_DIR = Path(__file__).resolve().parent / "static"
LAYOUT_FILES = (
    Path(__file__).resolve().parent.parent / "templates" / "factsheet",
    STATIC_DIR / "factsheet.css",
    Path(__file__).resolve().parent / "charts.py",
    Path(__file__).resolve().parent / "svg.py",
    Path(__file__).resolve().parent.parent / "registry" / "payoff.py",
    Path(__file__),
)
STATIC_SCHEME = "utfall-static:"
GO_LAB_ATTRIBUTION = (
    "INDIGO data: Government Outcomes Lab, Blavatnik School of Government, University of Oxford "
    "(INDIGO Impact Bond Dataset, CC BY 4.0)."
)


# --- the restricted fetcher -----------------------------------------------------------------------


class FetchRefused(ValueError):
    """A resource the fact sheet may not load (anything outside the app's static files)."""


@cache
def _fetcher_class() -> type:
    """Built on first use, so that importing this module (every web worker, every CLI call) stays cheap."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):  # type: ignore[misc]
        """Serves ``utfall-static:<path>`` from the static folder and refuses every other URL.

        Refused URLs are remembered in ``refused`` (for logs and tests); WeasyPrint then renders without the
        resource. No handler of the base class (network, files, data URLs) is ever reached.
        """

        def __init__(self, static_dir: Path = STATIC_DIR) -> None:
            super().__init__(timeout=1, allowed_protocols=(), allow_redirects=False, fail_on_errors=False)
            self.static_dir = static_dir.resolve()
            self.refused: list[str] = []
            self.served: list[str] = []

        def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
            if not url.startswith(STATIC_SCHEME):
                self.refused.append(url)
                raise FetchRefused(f"fact sheets load only the app's own static files, not {url[:200]!r}")
            relative = url[len(STATIC_SCHEME):].split("?", 1)[0].split("#", 1)[0].lstrip("/")
            path = (self.static_dir / relative).resolve()
            if not path.is_relative_to(self.static_dir) or not path.is_file():
                self.refused.append(url)
                raise FetchRefused(f"no static file {relative!r}")
            self.served.append(url)
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": content_type})

    return StaticOnlyFetcher


def make_fetcher(static_dir: Path = STATIC_DIR) -> Any:
    """A fresh restricted fetcher (a ``weasyprint.urls.URLFetcher``) with empty ``refused``/``served`` lists."""
    return _fetcher_class()(static_dir)


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
    """The document as shown: curated facts merged with INDIGO facts when the merge module is present."""
    try:
        from registry.indigo.merge import get_display_document
    except ImportError:
        from registry.services.contracts import get_contract

        return get_contract(session=session, contract_id=contract_id)
    return get_display_document(session=session, contract_id=contract_id)


# --- what the sheet shows -------------------------------------------------------------------------

LABELS: dict[str, dict[str, str]] = {
    "sv": {
        "factsheet": "Faktablad", "status": "Status", "parties": "Parter", "key_figures": "Nyckeltal",
        "capital_committed": "Utlovat kapital", "capital_drawn": "Utnyttjat kapital",
        "max_outcome_payment": "Högsta utfallsbetalning", "guarantee": "Garanti",
        "cap": "Tak för betalningar (enligt villkoren)", "premium": "Högsta premie",
        "participants": "Deltagare", "targeted": "mål", "actual": "faktiskt",
        "payoff": "Betalningar efter utfall", "payoff_note": "Beräknat med avtalsvillkoren i registret.",
        "metrics": "Utfallsmått", "metric": "Mått", "threshold": "Tröskel / mål", "baseline": "Baslinje",
        "method": "Mätmetod", "payment_relevant": "Betalningsgrundande", "yes": "ja", "no": "nej",
        "timeline": "Tidslinje", "results": "Resultat hittills", "sources": "Källor",
        "confidence": "Säkerhet", "generated": "Skapat", "version": "registerversion",
        "no_chart": "Inga körbara betalningsvillkor finns registrerade för kontraktet.",
        "investor_repayment": "Återbetalning till investerare", "payments_made": "Gjorda utfallsbetalningar",
        "realised_irr": "Realiserad avkastning (IRR)", "target_irr": "Målavkastning (IRR)",
        "country": "Land", "sector": "Område", "region": "Region/kommun", "amendments": "Ändringar",
        "measurements": "Mätningar", "payments": "Betalningar", "cited_by": "stödjer",
        "outcomes_measured": "Uppmätta utfall",
        "facts": "uppgifter", "none": "–", "reference_note": "Övriga utfall hålls vid referensvärde: "
        "binära som uppnådda, numeriska vid första målvärdet.", "portfolio_report": "Portföljrapport",
        "summary": "Sammanfattning", "estimate": "Skattning", "std_error": "Medelfel",
        "holdings": "Innehav", "computed": "Beräknad", "concentration": "Koncentration",
        "terms_derived": "Villkoren är härledda ur INDIGO-data och ej granskade.", "more": "och {n} till",
        "shortened": "Texter som slutar med … är förkortade; hela texten finns på kontraktets sida i registret.",
    },
    "en": {
        "factsheet": "Fact sheet", "status": "Status", "parties": "Parties", "key_figures": "Key figures",
        "capital_committed": "Capital committed", "capital_drawn": "Capital drawn",
        "max_outcome_payment": "Maximum outcome payment", "guarantee": "Guarantee",
        "cap": "Cap on payments (per the terms)", "premium": "Maximum premium",
        "participants": "Participants", "targeted": "targeted", "actual": "actual",
        "payoff": "Payments by outcome", "payoff_note": "Computed with the contract's terms in the registry.",
        "metrics": "Outcome metrics", "metric": "Metric", "threshold": "Threshold / target",
        "baseline": "Baseline", "method": "Measurement", "payment_relevant": "Payment-relevant", "yes": "yes",
        "no": "no", "timeline": "Timeline", "results": "Results to date", "sources": "Sources",
        "confidence": "Confidence", "generated": "Generated", "version": "registry version",
        "no_chart": "No executable payment terms are recorded for this contract.",
        "investor_repayment": "Investor repayment", "payments_made": "Outcome payments made",
        "realised_irr": "Realised IRR", "target_irr": "Target IRR", "country": "Country",
        "sector": "Policy sector", "region": "Region/municipality", "amendments": "Amendments",
        "measurements": "Measurements", "payments": "Payments", "cited_by": "supports", "facts": "facts",
        "outcomes_measured": "Outcomes measured",
        "none": "–", "reference_note": "Other outcomes held at reference: binary ones achieved, numeric ones "
        "at their first target.", "portfolio_report": "Portfolio report", "summary": "Summary",
        "estimate": "Estimate", "std_error": "Std. error", "holdings": "Holdings", "computed": "Computed",
        "concentration": "Concentration",
        "terms_derived": "The terms are derived from INDIGO data and have not been reviewed.", "more": "and {n} more",
        "shortened": "Texts ending in … are shortened; the full text is on the contract's page in the registry.",
    },
}

VOCAB: dict[str, dict[str, dict[str, str]]] = {
    "stage": {
        "sv": {"design": "Under utformning", "contracted": "Avtalat", "implementation": "Pågår",
               "service_delivery_complete": "Insatsen avslutad", "complete": "Avslutat", "terminated": "Avbrutet"},
        "en": {"design": "Design", "contracted": "Contracted", "implementation": "Implementation",
               "service_delivery_complete": "Service delivery complete", "complete": "Complete",
               "terminated": "Terminated"},
    },
    "role": {
        "sv": {"outcome_payer": "Utfallsansvarig", "investor": "Finansiär", "provider": "Utförare",
               "intermediary": "Intermediär", "evaluator": "Utvärderare", "guarantor": "Garant",
               "technical_adviser": "Teknisk rådgivare", "other": "Övrig"},
        "en": {"outcome_payer": "Outcome payer", "investor": "Investor", "provider": "Service provider",
               "intermediary": "Intermediary", "evaluator": "Evaluator", "guarantor": "Guarantor",
               "technical_adviser": "Technical adviser", "other": "Other"},
    },
    "confidence": {
        "sv": {"verified": "verifierad", "secondary": "andrahandskälla", "unverified": "ej verifierad",
               "disputed": "omstridd"},
        "en": {"verified": "verified", "secondary": "secondary source", "unverified": "unverified",
               "disputed": "disputed"},
    },
    "method": {
        "sv": {"rct": "Randomiserad kontrollerad studie", "matched_comparison": "Matchad jämförelsegrupp",
               "historical_baseline": "Historisk baslinje", "pre_post": "Före/efter",
               "validated_administrative": "Validerade registerdata", "descriptive": "Beskrivande",
               "other": "Annan", "unknown": "Okänd"},
        "en": {"rct": "Randomised controlled trial", "matched_comparison": "Matched comparison group",
               "historical_baseline": "Historical baseline", "pre_post": "Pre/post",
               "validated_administrative": "Validated administrative data", "descriptive": "Descriptive",
               "other": "Other", "unknown": "Unknown"},
    },
    "sector": {
        "sv": {"employment_and_training": "Arbete och utbildning", "health": "Hälsa", "education": "Utbildning",
               "child_and_family_welfare": "Barn och familj", "homelessness": "Hemlöshet",
               "criminal_justice": "Kriminalvård", "agriculture_and_environment": "Jordbruk och miljö",
               "poverty_reduction": "Fattigdomsbekämpning", "other": "Övrigt"},
        "en": {"employment_and_training": "Employment and training", "health": "Health",
               "education": "Education", "child_and_family_welfare": "Child and family welfare",
               "homelessness": "Homelessness", "criminal_justice": "Criminal justice",
               "agriculture_and_environment": "Agriculture and environment",
               "poverty_reduction": "Poverty reduction", "other": "Other"},
    },
    "date": {
        "sv": {"signed": "Avtal undertecknat", "service_start": "Insatsen startar",
               "service_end": "Insatsen slutar", "evaluation_end": "Utvärdering klar",
               "anticipated_completion": "Beräknat slut", "actual_completion": "Avslutat"},
        "en": {"signed": "Contract signed", "service_start": "Service starts", "service_end": "Service ends",
               "evaluation_end": "Evaluation ends", "anticipated_completion": "Anticipated completion",
               "actual_completion": "Completed"},
    },
    "milestone": {
        "sv": {"measurement": "Mätning", "governance": "Insatsråd/styrgrupp", "evaluation": "Utvärdering",
               "payment": "Betalning", "other": "Övrigt"},
        "en": {"measurement": "Measurement", "governance": "Governance meeting", "evaluation": "Evaluation",
               "payment": "Payment", "other": "Other"},
    },
}


def vocab(kind: str, value: Any, lang: str) -> str:
    if value is None:
        return "–"
    key = str(getattr(value, "value", value))
    return VOCAB.get(kind, {}).get(lang, {}).get(key, key.replace("_", " "))


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
    from registry.terms import compile_terms

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


def _key_figures(doc: ContractDocument, sweep: PayoffSweep | None, lang: str) -> list[KeyFigure]:
    labels = LABELS[lang]
    cur = doc.finance.currency
    figures: list[KeyFigure] = []
    for field in ("capital_committed", "capital_drawn", "max_outcome_payment", "total_outcome_payments_made"):
        fact = getattr(doc.finance, field)
        if fact is not None:
            label = labels["payments_made"] if field == "total_outcome_payments_made" else labels[field]
            figures.append(KeyFigure(label, fact.amount, fact.currency or cur, confidence=str(fact.confidence),
                                     bound=fact.bound))
    from_terms = _terms_figures(sweep, doc)
    guarantee_tranches = [i for i in doc.investments if str(i.tranche) == "guarantee" and i.committed]
    if guarantee_tranches:
        total = sum((i.committed.amount for i in guarantee_tranches if i.committed), Decimal(0))
        figures.append(KeyFigure(labels["guarantee"], total, cur, confidence=str(guarantee_tranches[0].confidence)))
    elif "guarantee" in from_terms:
        figures.append(KeyFigure(labels["guarantee"], from_terms["guarantee"], cur,
                                 confidence=str(doc.payment_terms.confidence) if doc.payment_terms else None))
    terms_conf = str(doc.payment_terms.confidence) if doc.payment_terms else None
    if "cap" in from_terms:
        figures.append(KeyFigure(labels["cap"], from_terms["cap"], cur, confidence=terms_conf))
    if "premium" in from_terms:
        figures.append(KeyFigure(labels["premium"], from_terms["premium"], cur, confidence=terms_conf))
    tp = doc.target_population
    if tp and (tp.targeted_participants is not None or tp.actual_participants is not None):
        parts = []
        if tp.targeted_participants is not None:
            parts.append(f"{tp.targeted_participants} ({labels['targeted']})")
        if tp.actual_participants is not None:
            parts.append(f"{tp.actual_participants} ({labels['actual']})")
        unit = f" {tp.unit}" if tp.unit else ""
        figures.append(KeyFigure(labels["participants"], text=" / ".join(parts) + unit, confidence=str(tp.confidence)))
    for field in ("target_irr", "realised_irr"):
        fact = getattr(doc.finance, field)
        if fact is not None:
            figures.append(KeyFigure(labels[field], text=f"{fact.value}{' ' + fact.unit if fact.unit else ''}",
                                     confidence=str(fact.confidence)))
    return figures


def _timeline(doc: ContractDocument, lang: str) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for field in ("signed", "service_start", "service_end", "evaluation_end", "anticipated_completion",
                  "actual_completion"):
        value = getattr(doc.dates, field)
        if value:
            entries.append(TimelineEntry(value, vocab("date", field, lang)))
    for m in doc.milestones:
        entries.append(TimelineEntry(m.date, vocab("milestone", m.kind, lang), m.description))
    for a in doc.amendments:
        entries.append(TimelineEntry(a.date, LABELS[lang]["amendments"], a.description.get(lang)))
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
    """The back-test in ``lang`` (its sentences come from the gettext catalogue)."""
    if doc.history is None:
        return None
    with force_locale(lang):
        return backtest_view(doc, backtest(doc), lang)


def factsheet_context(doc: ContractDocument, lang: str, *, generated: datetime | None = None) -> dict[str, Any]:
    """Everything the template needs (also used by tests to see what a sheet shows)."""
    sweep = payoff_sweep(doc)
    parties: list[tuple[str, list[str]]] = []
    for role in Role:
        orgs = doc.parties_with_role(role)
        if orgs:
            parties.append((vocab("role", role, lang), [o.name for o in orgs]))
    attributions = list(dict.fromkeys(s.attribution for s in doc.sources if s.attribution))
    if uses_indigo(doc) and not any("GO Lab" in a or "Government Outcomes Lab" in a for a in attributions):
        attributions.append(GO_LAB_ATTRIBUTION)
    metric_names = {m.id: m.name.get(lang) for m in doc.outcome_metrics}
    return {
        "doc": doc,
        "lang": lang,
        "other_lang": "en" if lang == "sv" else "sv",
        "t": LABELS[lang],
        "vocab": lambda kind, value: vocab(kind, value, lang),
        "name": doc.name(lang),
        "parties": parties,
        "key_figures": _key_figures(doc, sweep, lang),
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
    from web.formatting import number

    dec = Decimal(str(value)).normalize()
    exponent = dec.as_tuple().exponent
    return number(dec, max(0, -exponent) if isinstance(exponent, int) else 0)


# --- choosing the form before layout ----------------------------------------------------------------
# WeasyPrint's layout is most of a sheet's time, so the full and compact forms are not both laid out: the
# full form's HTML is measured with a rough model of the stylesheet (text width per font size, margins,
# side-by-side cells) and the compact form is chosen when the estimate runs past ``max_pages``.

_PAGE_WIDTH_MM, _PAGE_HEIGHT_MM = 182.0, 267.0  # A4 less the @page margins in factsheet.css
_PT = 0.3528  # mm per point
_CHAR_EM = 0.56  # mean advance of DejaVu Sans in text like ours, in em
# The model above overestimates (it ignores that short lines leave room and that cells share rows); this factor
# brings it to the page counts WeasyPrint lays out for the seed contracts and INDIGO 2025-12 sheets
# (tests/factsheets/test_factsheet_form.py checks the choice on both).
_CALIBRATION = 0.665
_FONT_PT = {"h1": 17.0, "h2": 10.5, "h3": 9.0}
_CLASS_FONT_PT = {"small": 7.5, "note": 7.5, "kicker": 7.5, "terms-summary": 8.0, "metrics": 8.0,
                  "sheet-footer": 7.0, "sources": 7.2}
_BLOCK_MARGIN_MM = {"p": 1.4, "h1": 1.0, "h2": 6.1, "h3": 3.0, "li": 0.8, "tr": 1.4, "ul": 0.0, "ol": 0.0}
_SIDE_BY_SIDE = {"two-col", "timeline-section"}
_CELL_SHARES = {"figures": (0.44, 0.35, 0.21), "parties": (0.4, 0.6), "timeline": (0.22, 0.78),
                "metrics": (0.34, 0.22, 0.18, 0.16, 0.10)}
_BLOCKS = {"p", "li", "h1", "h2", "h3", "tr", "ul", "ol", "div", "section", "header", "footer", "table",
           "thead", "tbody", "body", "td", "th"}
_VOID = {"br", "meta", "link", "img", "hr"}


@dataclass
class _Node:
    tag: str
    classes: frozenset[str]
    children: list[Any]


class _Tree(HTMLParser):
    """The sheet's body as a tree of elements and text (the SVG chart kept as one leaf)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("body", frozenset(), [])
        self.stack = [self.root]
        self.in_body = False
        self.svg_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_body = True
            return
        if not self.in_body:
            return
        if self.svg_depth or tag == "svg":
            if tag == "svg" and not self.svg_depth:
                self.stack[-1].children.append(_Node("svg", frozenset(), []))
            self.svg_depth += 1
            return
        node = _Node(tag, frozenset((dict(attrs).get("class") or "").split()), [])
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if self.svg_depth:
            self.svg_depth -= 1
            return
        if tag in _VOID or not self.in_body or len(self.stack) == 1:
            return
        while len(self.stack) > 1 and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.in_body and not self.svg_depth:
            self.stack[-1].children.append(data)


def _font_of(node: _Node, inherited: float) -> float:
    size = _FONT_PT.get(node.tag, inherited)
    for cls in node.classes:
        size = _CLASS_FONT_PT.get(cls, size)
    return size


def _height_mm(node: _Node, width: float, font: float, table: str = "") -> float:
    """Estimated height of ``node`` laid out at ``width`` mm (``table``: the class of the enclosing table)."""
    if "running-footer" in node.classes:
        return 0.0
    font = _font_of(node, font)
    line = font * _PT * (1.15 if node.tag == "h1" else 1.3)
    if node.tag == "svg":
        return width * 0.74 * 300 / 640
    if node.tag == "tr":
        cells = [c for c in node.children if isinstance(c, _Node)]
        shares = _CELL_SHARES.get(table)
        if shares is None or len(shares) != len(cells):
            shares = tuple(1 / max(1, len(cells)) for _ in cells)
        return max((_height_mm(c, width * s, font) for c, s in zip(cells, shares, strict=True)), default=0.0) + 1.4
    if node.classes & _SIDE_BY_SIDE:
        cols = [c for c in node.children if isinstance(c, _Node)]
        return max((_height_mm(c, width / max(1, len(cols)), font) for c in cols), default=0.0)
    if node.tag == "table":
        table = next((cls for cls in node.classes if cls in _CELL_SHARES), "")
    total = _BLOCK_MARGIN_MM.get(node.tag, 0.0)
    chars_per_line = max(1.0, width / (font * _PT * _CHAR_EM))
    run = 0

    def flush() -> float:
        nonlocal run
        lines = math.ceil(run / chars_per_line) if run else 0
        run = 0
        return lines * line

    for child in node.children:
        if isinstance(child, str):
            run += len(" ".join(child.split())) + (1 if child[:1].isspace() else 0)
        elif child.tag == "br":
            total += flush() if run else line
        elif child.tag in _BLOCKS or child.tag == "svg":
            total += flush()
            total += _height_mm(child, width, font, table)
        else:  # inline element: its text joins the run
            run += sum(len(" ".join(t.split())) for t in _texts(child))
    return total + flush()


def _texts(node: _Node) -> Iterator[str]:
    for child in node.children:
        if isinstance(child, str):
            yield child
        else:
            yield from _texts(child)


def estimated_pages(html: str) -> float:
    """How many A4 pages the sheet's HTML fills, estimated without laying it out (for choosing the form)."""
    tree = _Tree()
    tree.feed(html)
    return _height_mm(tree.root, _PAGE_WIDTH_MM, 8.4) / _PAGE_HEIGHT_MM * _CALIBRATION


# --- rendering ------------------------------------------------------------------------------------


@contextmanager
def _app_context() -> Iterator[Flask]:
    """The current app, or a fresh one for callers outside Flask (scripts, benchmarks)."""
    if has_app_context():
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    app = _standalone_app()
    with app.app_context():
        yield app


@cache
def _standalone_app() -> Flask:
    from web import offline_app

    return offline_app()


@cache
def _font_config() -> Any:
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


_IMAGE_CACHE: dict[str, Any] = {}


def _render_document(html: str, fetcher: Any) -> Any:
    from weasyprint import HTML

    return HTML(string=html, url_fetcher=fetcher, base_url=STATIC_SCHEME).render(
        font_config=_font_config(), cache=_IMAGE_CACHE)


def html_to_pdf(html: str, *, fetcher: Any = None, compact_html: Callable[[], str] | None = None,
                max_pages: int = 2) -> bytes:
    """Render HTML with the restricted fetcher, embedding fonts.

    When the result would be longer than ``max_pages`` and a ``compact_html`` variant is given, that is used
    instead. Which one is chosen from the HTML before layout (:func:`estimated_pages`), so a sheet is laid out
    once; only when the estimate chose the full form and layout finds it too long is it laid out again.
    """
    fetcher = fetcher or make_fetcher()
    if compact_html is not None and estimated_pages(html) > max_pages:
        html, compact_html = compact_html(), None
    document = _render_document(html, fetcher)
    if compact_html is not None and len(document.pages) > max_pages:
        log.info("fact sheet estimated at %.2f pages laid out on %d; laying out the compact form",
                 estimated_pages(html), len(document.pages))
        document = _render_document(compact_html(), fetcher)
    pdf = document.write_pdf()
    if fetcher.refused:
        log.warning("fact sheet rendering refused %d resource(s): %s", len(fetcher.refused),
                    ", ".join(u[:80] for u in fetcher.refused))
    return bytes(pdf)


def _render(template: str, **context: Any) -> str:
    """Render without the request-bound context processors, so that the CLI and the scheduler can render too.

    The filters (money, date, ...) live on the app's Jinja environment and follow ``force_locale``.
    """
    return current_app.jinja_env.get_template(template).render(**context)


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
    """The sheet's HTML (needs an app context: templates and number formatting).

    ``compact`` leaves out metric definitions and long explanations and shortens long texts, for
    contracts whose full sheet runs past two pages.
    """
    lang = lang if lang in LANGS else "sv"
    context = context or factsheet_context(doc, lang, generated=generated)
    with force_locale(lang):
        return _render("factsheet/contract.html", compact=compact, clip=Clipper(), **context)


def build_factsheet_pdf(doc: ContractDocument, lang: str, *, fetcher: Any = None,
                        generated: datetime | None = None) -> bytes:
    """Render one sheet without touching the cache."""
    lang = lang if lang in LANGS else "sv"
    with _app_context():
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
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
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


def portfolio_report_pdf(portfolio: Portfolio, lang: str) -> bytes:
    """A PDF of a saved portfolio's last results (needs an app context)."""
    lang = lang if lang in LANGS else "sv"
    result = portfolio.result or {}
    summary = result.get("summary") or {}
    tables = {key: result.get(key) or [] for key in ("contracts", "concentration")}
    with force_locale(lang):
        html = _render(
            "factsheet/portfolio.html", portfolio=portfolio, lang=lang, t=LABELS[lang], summary=summary,
            summary_labels=_summary_labels(), tables=tables, settings=result.get("settings") or {},
            generated=datetime.now(UTC), version=registry_version(), static=STATIC_SCHEME, cell=_cell,
        )
    return html_to_pdf(html)


def _cell(value: Any) -> str:
    """A result-table value for print: numbers in the locale with sensible precision, None as a dash."""
    from web.formatting import number

    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "✓" if value else "–"
    if isinstance(value, int | float | Decimal):
        magnitude = abs(float(value))
        digits = 0 if magnitude >= 1000 or float(value).is_integer() else (2 if magnitude >= 1 else 4)
        return number(value, digits)
    return str(value)


def _summary_labels() -> dict[str, str]:
    try:
        from portfolio.results import SUMMARY_LABELS
    except ImportError:  # pragma: no cover - the portfolio package is part of this project
        return {}
    return dict(SUMMARY_LABELS)


# --- web ------------------------------------------------------------------------------------------


def _pdf_response(pdf: bytes, filename: str) -> Response:
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.get("/contracts/<contract_id>/factsheet.pdf")
def contract_factsheet(contract_id: str) -> Response:
    from web.extensions import session as db_session

    lang = request.args.get("lang") or "sv"
    if lang not in LANGS:
        abort(400)
    session = db_session()
    try:
        pdf = render_factsheet(contract_id, lang, session=session)
    except FactsheetNotFound:
        abort(404)
    session.commit()
    return _pdf_response(pdf, f"{contract_id}-{lang}.pdf")


@bp.get("/portfolios/<int:portfolio_id>/report.pdf")
def portfolio_report(portfolio_id: int) -> Response:
    from web.auth import current_user
    from web.extensions import session as db_session

    user = current_user()
    if user is None:
        abort(401)
    portfolio = db_session().get(Portfolio, portfolio_id)
    # Someone else's portfolio is reported as missing, so its existence is not revealed.
    if portfolio is None or portfolio.owner_id != user.id:
        abort(404)
    if not portfolio.result:
        abort(409, description="This portfolio has no computed results yet.")
    lang = request.args.get("lang") or "sv"
    if lang not in LANGS:
        abort(400)
    return _pdf_response(portfolio_report_pdf(portfolio, lang), f"portfolio-{portfolio_id}-{lang}.pdf")
