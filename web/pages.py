"""Public pages: overview, registry (with CSV/XLSX download), contract pages, compare."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from flask import Blueprint, current_app, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlmodel import Session

from registry.backtest import VERDICTS, backtest
from registry.indigo.merge import get_display_document
from registry.market import REPAYMENT_CLASSES, SIZE_BANDS, classify_repayment, market_statistics
from registry.schema import ContractDocument, Money, PolicySector, Provenanced, Stage
from registry.services.contracts import (
    SORTABLE,
    ContractFilter,
    ContractPage,
    contract_history,
    contract_names,
    contracts_in_countries,
    distinct_values,
    list_contracts,
    outcome_payers,
    reader_name,
)
from registry.spreadsheet import safe_frame
from web import barchart
from web.auth import current_user, has_role
from web.backtest_view import backtest_view, verdict_label
from web.charts import payoff_chart_svg
from web.extensions import session as db_session
from web.formatting import N_, money, money_short, number, translate
from web.formatting import country as country_name
from web.formatting import date as format_partial_date
from web.lookups import found
from web.vocabulary import vocab

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

PER_PAGE = 50
NORDIC = ("SE", "NO", "DK", "FI", "IS")
COMPARE_MAX = 4
ORIGINS = ("curated", "indigo")
PAYER_TYPES = ("local_government", "regional_government", "central_government", "public_body", "foundation",
               "other")


# --- investor repayment, as stated, in the market statistics' classes --------------------------------------
RESULT_CLASSES = REPAYMENT_CLASSES  # full, partial, none, unknown (registry.market.classify_repayment)


@lru_cache(maxsize=4096)
def _classify(text: str) -> str:
    # Free-text statements repeat across contracts (INDIGO uses a few dozen phrasings), so classify each once.
    return classify_repayment(text)


def result_class(text: str | None) -> str | None:
    """The class of a stated investor repayment (``None`` when nothing is stated)."""
    return _classify(text) if text else None


RESULT_LABELS = {
    "full": N_("repaid in full"),
    "partial": N_("partly repaid"),
    "none": N_("not repaid"),
    "unknown": N_("not publicly known"),
}


def result_label(cls: str | None) -> str:
    label = RESULT_LABELS.get(cls or "")
    return translate(label) if label else "–"


# --- template helpers ---------------------------------------------------------------------------------------


def attribution(text: str) -> str:
    """A source's attribution with its English "Source:" label (recorded so by the INDIGO import) in the
    reader's language; the attributed names stay as recorded."""
    if text.startswith("Source: "):
        return _("Source: %(attribution)s", attribution=text.removeprefix("Source: "))
    return text


def _lang() -> str:
    return str(get_locale() or "sv")


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    user = current_user()

    def lang_url(code: str) -> str:
        args = request.args.to_dict(flat=False)
        args["lang"] = [code]
        return request.path + "?" + urlencode(args, doseq=True)

    def has_endpoint(endpoint: str) -> bool:
        return endpoint in current_app.view_functions

    return {
        "lang": _lang(),
        "lang_url": lang_url,
        "current_user": user,
        "can_curate": has_role(user, "curator"),
        "config_blueprints": current_app.blueprints,
        "has_endpoint": has_endpoint,
        "result_label": result_label,
        "result_class": result_class,
        "attribution": attribution,
    }


# --- overview ----------------------------------------------------------------------------------------------


def _bars(data: dict[str, dict[str, Any]], field: str, label: Callable[[str], str],
          fmt: Callable[[Any], str], link: Callable[[str], str] | None = None, limit: int = 12) -> Markup:
    items = [barchart.Bar(label(k), float(v.get(field) or 0), fmt(v.get(field) or 0), link(k) if link else None)
             for k, v in list(data.items())[:limit]]
    return barchart.horizontal_bars(items)


@bp.get("/")
def overview() -> str:
    """The market at a glance."""
    session = db_session()
    stats = market_statistics(session=session)
    nordic_rows = contracts_in_countries(session=session, countries=NORDIC)
    lang = _lang()
    by_year = {k: v for k, v in stats["by_year"].items() if k.isdigit()}
    outcomes: Counter[str] = Counter()
    for counts in stats["repayment_by_sector"].values():
        outcomes.update({k: counts.get(k, 0) for k in RESULT_CLASSES})
    by_count = lambda key: dict(sorted(stats[key].items(), key=lambda kv: -kv[1]["contracts"]))  # noqa: E731
    charts = {
        "year_count": barchart.columns(
            [barchart.Bar(str(k), float(v["contracts"]), str(v["contracts"]), _registry_link(year_from=k, year_to=k))
             for k, v in by_year.items()]),
        "year_capital": barchart.columns(
            [barchart.Bar(str(k), float(v["capital_usd"] or 0),
                          money_short(v["capital_usd"], "USD") if v["capital_usd"] else "–")
             for k, v in by_year.items()]),
        "country": _bars(by_count("by_country"), "contracts", country_name, str,
                         lambda k: _registry_link(country=k)),
        "sector": _bars(by_count("by_sector"), "contracts", lambda k: vocab(k, "sector"), str,
                        lambda k: _registry_link(sector=k)),
        "stage": _bars({s.value: stats["by_stage"][s.value] for s in Stage if s.value in stats["by_stage"]},
                       "contracts", lambda k: vocab(k, "stage"), str,
                       lambda k: _registry_link(stage=k)),
        "capital_country": _bars(
            dict(sorted(stats["by_country"].items(), key=lambda kv: -(kv[1]["capital_usd"] or 0))),
            "capital_usd", country_name, lambda v: money_short(v, "USD") if v else "–"),
        "outcomes": _bars({k: {"contracts": outcomes[k]} for k in RESULT_CLASSES if outcomes[k]}, "contracts",
                          result_label, str, lambda k: _registry_link(result=k)),
    }
    nordic = [{"row": r, "name": reader_name(r, lang)} for r in nordic_rows]
    return render_template("pages/overview.html", stats=stats, charts=charts, nordic=nordic)


def _registry_link(**args: Any) -> str:
    return url_for("pages.registry", **{k: v for k, v in args.items() if v is not None})


# --- registry -----------------------------------------------------------------------------------------------


@dataclass
class RegistryQuery:
    """The registry page's query string, parsed and checked (unknown values are dropped, not errors)."""

    text: str = ""
    country: str = ""
    sector: str = ""
    stage: str = ""
    origin: str = ""
    payer_type: str = ""
    size: str = ""
    result: str = ""
    reproduced: str = ""
    sort: str = "name"
    descending: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> RegistryQuery:
        def pick(name: str, allowed: Sequence[str]) -> str:
            value = (args.get(name) or "").strip()
            return value if value in allowed else ""

        try:
            page = min(max(1, int(args.get("page", 1))), (2**31 - 1) // PER_PAGE)  # offset fits every database
        except ValueError:
            page = 1
        sort = args.get("sort", "name")
        return cls(
            text=(args.get("q") or "").strip()[:200],
            country=(args.get("country") or "").strip().upper()[:2],
            sector=pick("sector", [s.value for s in PolicySector]),
            stage=pick("stage", [s.value for s in Stage]),
            origin=pick("origin", ORIGINS),
            payer_type=pick("payer_type", PAYER_TYPES),
            size=pick("size", list(SIZE_BANDS)),
            result=pick("result", RESULT_CLASSES),
            reproduced=pick("reproduced", VERDICTS),
            sort=sort if sort in SORTABLE else "name",
            descending=args.get("dir") == "desc",
            page=page,
        )

    def contract_filter(self) -> ContractFilter:
        low, high = SIZE_BANDS.get(self.size, (None, None))
        return ContractFilter(text=self.text or None, country=self.country or None, sector=self.sector or None,
                              stage=self.stage or None, origin=self.origin or None,
                              payer_type=self.payer_type or None, min_capital_usd=low, max_capital_usd=high,
                              reproduced=self.reproduced or None, repayment=self.result or None)

    def selection(self, session: Session, *, lang: str, paginate: bool) -> ContractPage:
        """The contracts of this selection (rows of ``LIST_COLUMNS``), in the reader's order, and their count."""
        paging = {"limit": PER_PAGE, "offset": (self.page - 1) * PER_PAGE} if paginate else {}
        return list_contracts(session=session, filters=self.contract_filter(), sort=self.sort,
                              descending=self.descending, lang=lang, **paging)

    def args(self, **changes: Any) -> dict[str, Any]:
        """The query string of this selection (with ``changes``), without empty values."""
        values = {"q": self.text, "country": self.country, "sector": self.sector, "stage": self.stage,
                  "origin": self.origin, "payer_type": self.payer_type, "size": self.size, "result": self.result,
                  "reproduced": self.reproduced,
                  "sort": "" if self.sort == "name" else self.sort, "dir": "desc" if self.descending else "",
                  "page": "" if self.page == 1 else self.page}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


@dataclass(frozen=True)
class RegistryItem:
    """One row of the registry table, with every cell already in the reader's language."""

    id: str
    name: str
    indigo: bool
    country: str
    region: str | None
    sector: str
    stage: str
    year: int | None
    capital: str
    result: str


def registry_items(rows: Sequence[Any], lang: str) -> list[RegistryItem]:
    """The table rows for ``rows``. A page repeats a handful of countries, sectors, stages and result
    classes, so each label is looked up once per page instead of once per cell."""
    labels: dict[tuple[str, Any], str] = {}

    def label(kind: str, value: Any, make: Callable[[Any], str]) -> str:
        key = (kind, value)
        if key not in labels:
            labels[key] = make(value)
        return labels[key]

    items = []
    for r in rows:
        cls = result_class(r.investor_repayment)
        items.append(RegistryItem(
            id=r.id,
            name=reader_name(r, lang),
            indigo=r.origin == "indigo",
            country=label("country", r.country, country_name),
            region=r.region,
            sector=label("sector", r.policy_sector, lambda v: vocab(v, "sector")),
            stage=label("stage", r.stage, lambda v: vocab(v, "stage")),
            year=r.start_year,
            capital=money_short(r.capital_committed, r.currency) if r.capital_committed is not None else "–",
            result=label("result", cls, result_label) if cls else "–",
        ))
    return items


@bp.get("/contracts")
def registry() -> str:
    """Search, filter and sort the registry."""
    session = db_session()
    query = RegistryQuery.from_args(request.args)
    lang = _lang()
    rows, total = query.selection(session, lang=lang, paginate=True)
    pages = max(1, -(-total // PER_PAGE))
    countries = [(code, country_name(code)) for code in distinct_values(session=session, column="country")]
    return render_template(
        "pages/registry.html", query=query, items=registry_items(rows, lang), total=total, pages=pages,
        countries=sorted(countries, key=lambda c: c[1]),
        sectors=[(s.value, vocab(s.value, "sector")) for s in PolicySector],
        stages=[(s.value, vocab(s.value, "stage")) for s in Stage],
        payer_types=[(p, vocab(p, "org_type")) for p in PAYER_TYPES],
        results=[(r, result_label(r)) for r in RESULT_CLASSES],
        verdicts=[(v, verdict_label(v)) for v in VERDICTS],
    )


def _selection_frame(rows: Sequence[Any], lang: str) -> pd.DataFrame:
    records = []
    payers = outcome_payers(session=db_session(), contract_ids=[r.id for r in rows])
    for r in rows:
        records.append({
            "id": r.id,
            "name": reader_name(r, lang),
            "name_sv": r.name_sv,
            "name_en": r.name_en,
            "indigo_id": r.indigo_id,
            "origin": r.origin,
            "country": r.country,
            "region": r.region,
            "policy_sector": r.policy_sector,
            "stage": r.stage,
            "start_year": r.start_year,
            "currency": r.currency,
            "capital_committed": float(r.capital_committed) if r.capital_committed is not None else None,
            "capital_committed_usd": float(r.capital_committed_usd) if r.capital_committed_usd is not None else None,
            "max_outcome_payment": float(r.max_outcome_payment) if r.max_outcome_payment is not None else None,
            "participants_targeted": r.participants_targeted,
            "investor_repayment": r.investor_repayment,
            "outcome_payers": ", ".join(payers.get(r.id, [])),
            "url": request.host_url.rstrip("/") + f"/contracts/{r.id}",
        })
    return pd.DataFrame.from_records(records, columns=[
        "id", "name", "name_sv", "name_en", "indigo_id", "origin", "country", "region", "policy_sector", "stage",
        "start_year", "currency", "capital_committed", "capital_committed_usd", "max_outcome_payment",
        "participants_targeted", "investor_repayment", "outcome_payers", "url"])


@bp.get("/contracts.<any(csv, xlsx):fmt>")
def registry_download(fmt: str) -> ResponseReturnValue:
    """The current registry selection as CSV or Excel."""
    query = RegistryQuery.from_args(request.args)
    lang = _lang()
    rows, _total = query.selection(db_session(), lang=lang, paginate=False)
    frame = safe_frame(_selection_frame(rows, lang))
    buffer = BytesIO()
    if fmt == "csv":
        # Swedish Excel opens ';'-separated files with decimal commas directly; English readers get plain CSV.
        if lang == "sv":
            frame.to_csv(buffer, index=False, sep=";", decimal=",", encoding="utf-8-sig")
        else:
            frame.to_csv(buffer, index=False, encoding="utf-8")
        mimetype = "text/csv"
    else:
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            frame.to_excel(writer, index=False, sheet_name="contracts")
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    buffer.seek(0)
    return send_file(buffer, mimetype=mimetype, as_attachment=True, download_name=f"utfall-contracts.{fmt}")


# --- contract page ------------------------------------------------------------------------------------------


def _timeline(doc: ContractDocument, lang: str) -> list[dict[str, Any]]:
    """Dates, amendments, measurements, payments, milestones and results in date order."""
    events: list[dict[str, Any]] = []
    date_labels = {
        "signed": _("Contract signed"),
        "service_start": _("Service starts"),
        "service_end": _("Service ends"),
        "evaluation_end": _("Evaluation ends"),
        "anticipated_completion": _("Completion expected"),
        "actual_completion": _("Completed"),
    }
    for key, label in date_labels.items():
        value = getattr(doc.dates, key)
        if value:
            events.append({"date": value, "kind": "date", "label": label, "text": "", "fact": doc.dates})
    for a in doc.amendments:
        text = a.description.get(lang)
        if a.field:
            text += f" ({a.field}: {a.old_value if a.old_value is not None else '–'} → {a.new_value})"
        events.append({"date": a.date, "kind": "amendment", "label": _("Amendment"), "text": text, "fact": a})
    metric_names = {m.id: m.name.get(lang) for m in doc.outcome_metrics}
    for m in doc.measurements:
        text = ", ".join(p for p in (metric_names.get(m.metric or "", ""), m.description or "") if p)
        events.append({"date": m.date, "kind": "measurement", "label": _("Measurement"), "text": text,
                       "value": m.value, "n": m.n, "fact": m})
    history = doc.history
    for o in history.outcomes if history else []:
        text = ", ".join(p for p in (metric_names.get(o.metric, o.metric), o.cohort or "", o.description or "") if p)
        events.append({"date": o.date or "", "kind": "measurement", "label": _("Measurement"), "text": text,
                       "value": o.value, "n": o.n, "fact": o})
    for p in history.payments if history else []:
        payer = doc.organisation(p.payer) if p.payer else None
        payee = doc.organisation(p.payee) if p.payee else None
        events.append({"date": p.date or "", "kind": "payment", "label": _("Payment"),
                       "text": " → ".join(o.name for o in (payer, payee) if o) + (
                           f" ({p.description})" if p.description else ""),
                       "money": Money(amount=p.amount, currency=p.currency), "component": p.component, "fact": p})
    for ms in doc.milestones:
        events.append({"date": ms.date, "kind": "milestone", "label": vocab(ms.kind, "milestone"),
                       "text": ms.description, "fact": None})
    for r in doc.results:
        if r.date:
            events.append({"date": r.date, "kind": "result", "label": _("Result"), "text": r.summary.get(lang),
                           "fact": r})
    return sorted(events, key=lambda e: (e["date"] or "9999", e["kind"] != "date"))


def _payoff_chart(doc: ContractDocument, lang: str) -> Markup | None:
    """The payoff chart from ``web.charts`` (inline SVG), or ``None`` when the terms do not allow one."""
    try:
        svg = payoff_chart_svg(doc, lang)
    except Exception:  # a chart problem must not take the contract page down
        log.exception("payoff chart failed for %s", doc.id)
        return None
    # The SVG is built by our own code with every text escaped there, so it is safe to embed as is.
    return Markup(svg) if svg else None


def _factsheet_url(contract_id: str, lang: str) -> str | None:
    if "factsheets" not in current_app.blueprints:
        return None
    return f"/contracts/{contract_id}/factsheet.pdf?lang={lang}"


@bp.get("/contracts/<contract_id>")
def contract(contract_id: str) -> str:
    """One contract: parties, money, payoff, outcomes, timeline, results, sources and history."""
    session = db_session()
    doc = found(get_display_document(session=session, contract_id=contract_id),
                message=f"no contract {contract_id!r}", field="contract_id")
    lang = _lang()
    roles_in_order = ["outcome_payer", "investor", "provider", "intermediary", "evaluator", "guarantor",
                      "technical_adviser", "other"]
    by_role: dict[str, list[Any]] = {r: [] for r in roles_in_order}
    for party in doc.parties:
        for role in party.roles:
            by_role.setdefault(str(role), []).append({"party": party, "org": doc.organisation(party.organisation)})
    sources = {s.id: s for s in doc.sources}
    realised = backtest_view(doc, backtest(doc), lang) if doc.history else None
    history = list(contract_history(session=session, contract_id=contract_id))
    history.reverse()
    return render_template(
        "pages/contract.html", doc=doc, name=doc.name(lang),
        other_name=doc.identity.names.en if lang == "sv" else doc.identity.names.sv,
        by_role={r: v for r, v in by_role.items() if v}, sources=sources, timeline=_timeline(doc, lang),
        chart=_payoff_chart(doc, lang), history=history, factsheet_url=_factsheet_url(contract_id, lang),
        attributions=sorted({s.attribution for s in doc.sources if s.attribution}),
        currency=doc.finance.currency, realised=realised,
    )


# --- compare ------------------------------------------------------------------------------------------------


def _fact_cell(fact: Provenanced | None, text: str) -> dict[str, Any]:
    return {"text": text, "fact": fact}


def compare_rows(docs: Sequence[ContractDocument], lang: str) -> list[dict[str, Any]]:
    """Field-by-field rows for the compare table; ``differs`` marks rows whose values are not all equal."""
    def names_with_role(doc: ContractDocument, role: str) -> str:
        return ", ".join(o.name for o in doc.parties_with_role(role)) or "–"

    def money_fact(doc: ContractDocument, attr: str) -> dict[str, Any]:
        fact = getattr(doc.finance, attr)
        if fact is None:
            return _fact_cell(None, "–")
        prefix = {"min": _("at least") + " ", "max": _("up to") + " "}.get(fact.bound, "")
        return _fact_cell(fact, prefix + money(fact.amount, fact.currency or doc.finance.currency))

    fields: list[tuple[str, Callable[[ContractDocument], dict[str, Any]]]] = [
        (_("Country"), lambda d: _fact_cell(d.classification, country_name(d.classification.country))),
        (_("Region"), lambda d: _fact_cell(d.classification, d.classification.region or "–")),
        (_("Sector"), lambda d: _fact_cell(d.classification, vocab(d.classification.policy_sector, "sector"))),
        (_("Stage"), lambda d: _fact_cell(d.stage_provenance, vocab(d.stage, "stage"))),
        (_("Signed"), lambda d: _fact_cell(d.dates, format_partial_date(d.dates.signed))),
        (_("Service starts"), lambda d: _fact_cell(d.dates, format_partial_date(d.dates.service_start))),
        (_("Service ends"), lambda d: _fact_cell(d.dates, format_partial_date(d.dates.service_end))),
        (_("Outcome payers"), lambda d: _fact_cell(None, names_with_role(d, "outcome_payer"))),
        (_("Investors"), lambda d: _fact_cell(None, names_with_role(d, "investor"))),
        (_("Providers"), lambda d: _fact_cell(None, names_with_role(d, "provider"))),
        (_("Intermediaries"), lambda d: _fact_cell(None, names_with_role(d, "intermediary"))),
        (_("Capital committed"), lambda d: money_fact(d, "capital_committed")),
        (_("Capital drawn"), lambda d: money_fact(d, "capital_drawn")),
        (_("Maximum outcome payments"), lambda d: money_fact(d, "max_outcome_payment")),
        (_("Outcome payments made"), lambda d: money_fact(d, "total_outcome_payments_made")),
        (_("Participants targeted"), lambda d: _fact_cell(
            d.target_population,
            number(d.target_population.targeted_participants)
            if d.target_population and d.target_population.targeted_participants is not None else "–")),
        (_("Outcome metrics"), lambda d: _fact_cell(
            None, "; ".join(m.name.get(lang) for m in d.outcome_metrics) or "–")),
        (_("Measurement"), lambda d: _fact_cell(
            None, ", ".join(sorted({vocab(m.measurement, "measurement") for m in d.outcome_metrics})) or "–")),
        (_("Payment terms"), lambda d: _fact_cell(
            d.payment_terms, (d.payment_terms.summary.get(lang) if d.payment_terms and d.payment_terms.summary
                              else ("–" if not d.payment_terms else _("%(n)s payment rules",
                                                                       n=len(d.payment_terms.payments)))))),
        (_("Maximum potential loss"), lambda d: _fact_cell(None, d.finance.max_potential_loss or "–")),
        (_("Investor repayment"), lambda d: _fact_cell(None, d.finance.investor_repayment or "–")),
        (_("Result"), lambda d: _fact_cell(d.results[0] if d.results else None,
                                           d.results[0].summary.get(lang) if d.results else "–")),
    ]
    rows = []
    for label, get in fields:
        cells = [get(d) for d in docs]
        rows.append({"label": label, "cells": cells, "differs": len({c["text"] for c in cells}) > 1})
    return rows


@bp.get("/compare")
def compare() -> str:
    """Two to four contracts side by side, field by field."""
    session = db_session()
    lang = _lang()
    wanted: list[str] = []
    for raw in request.args.getlist("id"):
        for part in raw.split(","):
            if part.strip() and part.strip() not in wanted:
                wanted.append(part.strip())
    docs: list[ContractDocument] = []
    missing: list[str] = []
    for contract_id in wanted[:COMPARE_MAX]:
        doc = get_display_document(session=session, contract_id=contract_id)
        (docs.append(doc) if doc else missing.append(contract_id))
    options = sorted(((row.id, reader_name(row, lang), row.country) for row in contract_names(session=session)),
                     key=lambda t: t[1].lower())
    return render_template(
        "pages/compare.html", docs=docs, rows=compare_rows(docs, lang) if docs else [], missing=missing,
        too_many=len(wanted) > COMPARE_MAX, options=options, selected=[d.id for d in docs], lang=lang,
    )
