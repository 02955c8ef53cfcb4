"""Public pages: overview, registry (with CSV/XLSX download), contract pages, compare.

The registry list is prepared by :mod:`web.registry_view`, a contract's timeline, payoff chart and compare rows
by :mod:`web.contract_view`; contracts are read through :mod:`registry.services.contracts`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from registry.backtest import VERDICTS, backtest
from registry.indigo.merge import get_display_document
from registry.market import current_snapshot, repayment_of
from registry.schema import ContractDocument, PolicySector, Stage, document_json
from registry.services.contracts import (
    ContractFilter,
    contract_history,
    contracts_in_countries,
    contracts_per_country,
    distinct_values,
    list_contracts,
    reader_name,
)
from web import barchart
from web.auth import current_user, has_role
from web.backtest_view import backtest_view, verdict_label
from web.contract_view import compare_rows, payoff_chart, timeline
from web.downloads import frame_download
from web.extensions import session as db_session
from web.formatting import country as country_name
from web.formatting import money_short
from web.glossary import glossary_href, sections
from web.lookups import found
from web.registry_view import (
    PAYER_TYPES,
    PER_PAGE,
    RESULT_CLASSES,
    RegistryQuery,
    registry_items,
    result_label,
    selection_frame,
)
from web.tray import COMPARE_MAX, build_url, compare_url, tray_ids
from web.vocabulary import vocab
from web.worldmap import drawn_countries, legend, municipality_of, sweden_map_svg, sweden_shapes, world_map_svg

bp = Blueprint("pages", __name__)

NORDIC = ("SE", "NO", "DK", "FI", "IS")
NORDIC_CARDS = 12  # the overview's cards; beyond them, links to the registry by country


# --- template helpers ---------------------------------------------------------------------------------------


def attribution(text: str) -> str:
    """A source's attribution with its English "Source:" label (recorded so by the INDIGO import) in the
    reader's language; the attributed names stay as recorded."""
    if text.startswith("Source: "):
        return _("Source: %(attribution)s", attribution=text.removeprefix("Source: "))
    return text


def _lang() -> str:
    return str(get_locale() or "sv")


@bp.app_template_filter("glossary")
def _glossary_filter(value: object, kind: str) -> str:
    return glossary_href(value, kind)


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
        "attribution": attribution,
    }


# --- overview ----------------------------------------------------------------------------------------------


def _bars(data: dict[str, dict[str, Any]], field: str, label: Callable[[str], str],
          fmt: Callable[[Any], str], link: Callable[[str], str] | None = None, limit: int = 12, *,
          title: str) -> Markup:
    items = [barchart.Bar(label(k), float(v.get(field) or 0), fmt(v.get(field) or 0), link(k) if link else None)
             for k, v in list(data.items())[:limit]]
    return barchart.horizontal_bars(items, label=title)


# The overview's charts by (snapshot digest, language): drawn once per snapshot, not on every request.
_CHARTS: dict[tuple[str, str], dict[str, Markup]] = {}


@bp.get("/")
def overview() -> str:
    """The market at a glance, from the newest market snapshot."""
    session = db_session()
    digest, stats = current_snapshot(session=session)
    nordic_rows = contracts_in_countries(session=session, countries=NORDIC, limit=NORDIC_CARDS)
    lang = _lang()
    key = (digest, lang)
    if key not in _CHARTS:
        if len(_CHARTS) > 32:
            _CHARTS.clear()
        _CHARTS[key] = _overview_charts(stats)
    nordic = [{"row": r, "name": reader_name(r, lang)} for r in nordic_rows]
    nordic_counts = {c: stats["by_country"][c]["contracts"] for c in NORDIC if c in stats["by_country"]}
    return render_template("pages/overview.html", stats=stats, charts=_CHARTS[key], nordic=nordic,
                           nordic_counts=nordic_counts)


def _overview_charts(stats: dict[str, Any]) -> dict[str, Markup]:
    by_year = {k: v for k, v in stats["by_year"].items() if k.isdigit()}
    outcomes: Counter[str] = Counter()
    for counts in stats["repayment_by_sector"].values():
        outcomes.update({k: counts.get(k, 0) for k in RESULT_CLASSES})
    by_count = lambda key: dict(sorted(stats[key].items(), key=lambda kv: -kv[1]["contracts"]))  # noqa: E731
    return {
        "year_count": barchart.columns(
            [barchart.Bar(str(k), float(v["contracts"]), str(v["contracts"]), _registry_link(year_from=k, year_to=k))
             for k, v in by_year.items()], label=_("Contracts by year")),
        "year_capital": barchart.columns(
            [barchart.Bar(str(k), float(v["capital_usd"] or 0),
                          money_short(v["capital_usd"], "USD") if v["capital_usd"] else "–")
             for k, v in by_year.items()], label=_("Capital committed by year (USD)")),
        "country": _bars(by_count("by_country"), "contracts", country_name, str,
                         lambda k: _registry_link(country=k), title=_("Contracts by country")),
        "sector": _bars(by_count("by_sector"), "contracts", lambda k: vocab(k, "sector"), str,
                        lambda k: _registry_link(sector=k), title=_("Contracts by sector")),
        "stage": _bars({s.value: stats["by_stage"][s.value] for s in Stage if s.value in stats["by_stage"]},
                       "contracts", lambda k: vocab(k, "stage"), str,
                       lambda k: _registry_link(stage=k), title=_("Contracts by stage")),
        "capital_country": _bars(
            dict(sorted(stats["by_country"].items(), key=lambda kv: -(kv[1]["capital_usd"] or 0))),
            "capital_usd", country_name, lambda v: money_short(v, "USD") if v else "–",
            title=_("Capital by country (USD)")),
        "outcomes": _bars({k: {"contracts": outcomes[k]} for k in RESULT_CLASSES if outcomes[k]}, "contracts",
                          result_label, str, lambda k: _registry_link(result=k, stage="complete"),
                          title=_("Outcomes of completed contracts")),
    }


def _registry_link(**args: Any) -> str:
    return url_for("pages.registry", **{k: v for k, v in args.items() if v is not None})


# --- registry -----------------------------------------------------------------------------------------------


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


@bp.get("/contracts.<any(csv, xlsx):fmt>")
def registry_download(fmt: str) -> ResponseReturnValue:
    """The current registry selection as CSV or Excel."""
    query = RegistryQuery.from_args(request.args)
    lang = _lang()
    rows, _total = query.selection(db_session(), lang=lang, paginate=False)
    return frame_download(selection_frame(rows, lang), fmt, lang=lang, name="utfall-contracts", sheet="contracts")


# --- contract page ------------------------------------------------------------------------------------------


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
        by_role={r: v for r, v in by_role.items() if v}, sources=sources, timeline=timeline(doc, lang),
        chart=payoff_chart(doc, lang), history=history, factsheet_url=_factsheet_url(contract_id, lang),
        attributions=sorted({s.attribution for s in doc.sources if s.attribution}),
        currency=doc.finance.currency, realised=realised, repayment=repayment_of(document_json(doc)),
    )


# --- compare ------------------------------------------------------------------------------------------------


COMPARE_SEARCH_LIMIT = 10  # matches offered at once by the compare page's search


def _compare_selection() -> list[str]:
    """The ids of ``?id=a,b&id=c`` in order, without repeats; without any, the tray's comparison."""
    wanted: list[str] = []
    for raw in request.args.getlist("id"):
        for part in raw.split(","):
            if part.strip() and part.strip() not in wanted:
                wanted.append(part.strip())
    return wanted if "id" in request.args else tray_ids("compare")


@bp.get("/compare")
def compare() -> str:
    """Two to four contracts side by side, section by section, with a search to add more."""
    session = db_session()
    lang = _lang()
    wanted = _compare_selection()
    docs: list[ContractDocument] = []
    missing: list[str] = []
    for contract_id in wanted[:COMPARE_MAX]:
        doc = get_display_document(session=session, contract_id=contract_id)
        (docs.append(doc) if doc else missing.append(contract_id))
    selected = [d.id for d in docs]
    only_differences = request.args.get("diff") == "1" and len(docs) > 1
    text = (request.args.get("q") or "").strip()[:200]
    matches = []
    if text and len(selected) < COMPARE_MAX:
        rows = list_contracts(session=session, filters=ContractFilter(text=text), lang=lang,
                              limit=COMPARE_SEARCH_LIMIT + len(selected)).rows
        matches = [{"id": r.id, "name": reader_name(r, lang), "country": country_name(r.country),
                    "url": compare_url([*selected, r.id])} for r in rows if r.id not in selected]
    return render_template(
        "pages/compare.html", docs=docs, missing=missing, too_many=len(wanted) > COMPARE_MAX, lang=lang,
        groups=compare_rows(docs, lang, only_differences=only_differences) if docs else [],
        only_differences=only_differences, text=text, matches=matches[:COMPARE_SEARCH_LIMIT],
        compare_max=COMPARE_MAX, selected=selected,
        without={d.id: compare_url([i for i in selected if i != d.id]) for d in docs},
        toggle_url=compare_url(selected) + ("" if only_differences else "&diff=1"),
        build_url=build_url(selected) if selected else None,
    )


# --- glossary -----------------------------------------------------------------------------------------------


@bp.get("/glossary")
def glossary() -> str:
    """Roles, stages, confidence levels and core concepts, explained."""
    return render_template("pages/glossary.html", sections=sections())


# --- map ----------------------------------------------------------------------------------------------------


@bp.get("/map")
def world_map() -> str:
    """Contracts by country on a map, each country linking to its contracts; the Nordic ones by region."""
    session = db_session()
    lang = _lang()
    counts = contracts_per_country(session=session)
    links = {code: _registry_link(country=code) for code in counts}
    drawn = drawn_countries()
    rows = sorted(({"code": code, "name": country_name(code), "count": n, "href": links[code],
                    "drawn": code in drawn} for code, n in counts.items()),
                  key=lambda r: (-r["count"], r["name"]))
    nordic = [{"row": r, "name": reader_name(r, lang)}
              for r in sorted(contracts_in_countries(session=session, countries=NORDIC),
                              key=lambda r: (country_name(r.country), r.region or "", r.id))]
    return render_template("pages/map.html", map_svg=Markup(world_map_svg(counts, links)), legend=legend(),
                           rows=rows, nordic=nordic, **_sweden_map(nordic))


def _sweden_map(nordic: list[dict[str, Any]]) -> dict[str, Any]:
    """Sweden's map: the Swedish contracts placed by the municipality their region names; the others listed."""
    _shapes, names, _height = sweden_shapes()
    counts: Counter[str] = Counter()
    unplaced = []
    for item in nordic:
        if item["row"].country != "SE":
            continue
        code = municipality_of(item["row"].region, names)
        if code:
            counts[code] += 1
        else:
            unplaced.append(item)
    links = {code: _registry_link(country="SE", q=names[code]) for code in counts}
    return {"sweden_svg": Markup(sweden_map_svg(counts, links)), "sweden_unplaced": unplaced}
