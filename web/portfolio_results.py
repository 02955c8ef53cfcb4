"""A portfolio's stored result as its page, its report and its exports show it: headline figures with their
Monte Carlo error, contracts and payers by name, risk contributions as bar charts, models in words."""

from __future__ import annotations

from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlmodel import Session

from registry.services.contracts import get_contract, names_by_id, organisation_names, reader_name
from web.charts import contribution_bars_svg, histogram_svg
from web.formatting import country, money, number, percent, percent_pattern
from web.outcome_words import model_in_words
from web.vocabulary import label

SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("capital", "money"), ("expected_repayment", "money"), ("expected_multiple", "multiple"),
    ("p_loss", "percent"), ("expected_loss", "money"), ("mean_net_loss", "money"),
    ("var95", "money"), ("es95", "money"), ("var99", "money"), ("es99", "money"),
    ("irr_p5", "percent"), ("irr_p50", "percent"), ("irr_p95", "percent"), ("irr_mean", "percent"),
    ("npv_hurdle", "money"),
)
KINDS = dict(SUMMARY_ROWS)
# The headline cards, in the order a credit analyst reads them: return, then the chance and size of a loss.
HEADLINE = ("expected_multiple", "irr_mean", "irr_p50", "p_loss", "expected_loss", "var95", "es95", "var99", "es99")
DIMENSIONS = ("country", "payer", "sector")


def summary_labels() -> dict[str, str]:
    return {key: label("summary", key) for key, _kind in SUMMARY_ROWS}


def shown(value: float | None, kind: str, base: str, *, precise: bool = False) -> str:
    """A summary figure as the reader reads it: money in the base currency, shares as percentages
    (``precise``: a standard error, a decimal more)."""
    if value is None:
        return "–"
    if kind == "money":
        return money(value, base, 0)
    if kind == "percent":
        return percent(value, 2 if precise else 1)
    if kind == "multiple":
        return number(value, 3) + "×"
    return number(value, 3)


def _lang() -> str:
    locale = get_locale()
    return str(locale) if locale else "sv"


def contract_id_of(holding: str) -> str:
    """The registry id of a holding's label (a contract held twice is ``id#2``)."""
    return holding.split("#")[0]


def headline(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline cards: each metric's label, estimate and standard error as text, and the raw numbers."""
    base = result.get("settings", {}).get("base_currency", "SEK")
    summary = result.get("summary", {})
    cards = []
    for key in HEADLINE:
        if key not in summary:
            continue
        value = summary[key]
        kind = KINDS[key]
        cards.append({"key": key, "label": label("summary", key), "estimate": value.get("estimate"),
                      "std_error": value.get("std_error"), "text": shown(value.get("estimate"), kind, base),
                      "error_text": shown(value.get("std_error"), kind, base, precise=True)})
    return cards


def group_name(dimension: str, group: str, org_names: dict[str, str]) -> str:
    """A concentration group's name: the sector's label, the country's name, the payer's organisation name."""
    if dimension == "sector":
        return label("sector", group)
    if dimension == "country":
        return country(group)
    return org_names.get(group, group)


def _charts(result: dict[str, Any], names: dict[str, str], org_names: dict[str, str]) -> dict[str, Markup]:
    base = result.get("settings", {}).get("base_currency", "SEK")
    holdings = sorted(result.get("contracts", []), key=lambda c: -(c.get("es99_contribution") or 0.0))
    charts = {"holding": contribution_bars_svg(
        [(names.get(c["holding"], c["holding"]), c.get("es99_contribution") or 0.0,
          money(c.get("es99_contribution") or 0.0, base, 0)) for c in holdings],
        title=_("Contribution to expected shortfall 99 % by holding"))}
    titles = {"country": _("Share of expected shortfall 99 % by country"),
              "payer": _("Share of expected shortfall 99 % by outcome payer"),
              "sector": _("Share of expected shortfall 99 % by sector")}
    for dim in DIMENSIONS:
        rows = [r for r in result.get("concentration", []) if r.get("dimension") == dim]
        rows.sort(key=lambda r: -(r.get("es99_share") or 0.0))
        charts[dim] = contribution_bars_svg(
            [(group_name(dim, r["group"], org_names), r.get("es99_share") or 0.0, percent(r.get("es99_share"), 1))
             for r in rows], title=titles[dim])
    return charts


def holding_names(result: dict[str, Any], *, session: Session) -> dict[str, str]:
    """Each holding label's contract name in the reader's language (``… (2)`` for a second holding of it)."""
    holdings = [c["holding"] for c in result.get("contracts", [])]
    lang = _lang()
    rows = names_by_id(session=session, ids=sorted({contract_id_of(h) for h in holdings}))
    by_id = {cid: reader_name(row, lang) for cid, row in rows.items()}
    out = {}
    for h in holdings:
        cid, _sep, nth = h.partition("#")
        name = by_id.get(cid) or next((c.get("name") for c in result["contracts"] if c["holding"] == h), None) or cid
        out[h] = f"{name} ({nth})" if nth else name
    for a in result.get("assumptions", []):
        out.setdefault(a["contract"], by_id.get(a["contract"], a["contract"]))
    return out


def assumptions_in_words(result: dict[str, Any], names: dict[str, str]) -> list[dict[str, Any]]:
    """The assumptions table as sentences: contract name, metric, the model in words, what it rests on."""
    rows = []
    for a in result.get("assumptions", []):
        metric = {"(delay, months)": _("delay"), "(factor loadings)": _("common factors")}.get(a["metric"],
                                                                                              a["metric"])
        rows.append({"contract": a["contract"], "name": names.get(a["contract"], a["contract"]), "metric": metric,
                     "words": model_in_words(a.get("params"), a.get("model", "")), "model": a.get("model", ""),
                     "label": a.get("label", ""), "default_prior": bool(a.get("default_prior"))})
    return rows


SOURCES_PER_CONTRACT = 4


def holding_sources(result: dict[str, Any], names: dict[str, str], *, session: Session) -> list[dict[str, Any]]:
    """The documents each held contract's facts rest on (at most :data:`SOURCES_PER_CONTRACT` each), for the
    report's list of sources."""
    out: list[dict[str, Any]] = []
    for cid in dict.fromkeys(contract_id_of(c["holding"]) for c in result.get("contracts", [])):
        doc = get_contract(session=session, contract_id=cid)
        if doc is None:
            continue
        for source in doc.sources[:SOURCES_PER_CONTRACT]:
            out.append({"contract": names.get(cid, cid), "title": source.title, "publisher": source.publisher,
                        "date": str(source.date) if source.date else None,
                        "url": str(source.url) if source.url else None})
    return out


def default_priors(assumptions: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Each contract some of whose models are the sector's default prior, with those metrics."""
    grouped: dict[str, list[str]] = {}
    for a in assumptions:
        if a["default_prior"]:
            grouped.setdefault(a["name"], []).append(a["metric"])
    return list(grouped.items())


def result_view(result: dict[str, Any], *, session: Session) -> dict[str, Any]:
    """What the results part of the page shows, prepared from the stored JSON result."""
    settings = result.get("settings", {})
    base = settings.get("base_currency", "SEK")
    dist = result.get("distributions", {})

    def multiple_label(v: float) -> str:
        return number(v, 2) + "×"

    exposures = result.get("exposures", [])
    payers = {r["group"] for r in result.get("concentration", []) if r.get("dimension") == "payer"}
    org_names = organisation_names(session=session, ids=sorted({e["organisation"] for e in exposures} | payers))
    names = holding_names(result, session=session)
    assumptions = assumptions_in_words(result, names)
    return {
        "base": base,
        "settings": settings,
        "headline": headline(result),
        "summary": [(key, kind, summary_labels()[key], result.get("summary", {}).get(key, {}))
                    for key, kind in SUMMARY_ROWS if key in result.get("summary", {})],
        "contracts": result.get("contracts", []),
        "names": names,
        "exposures": exposures,
        "org_names": org_names,
        "concentration": result.get("concentration", []),
        "hhi": result.get("hhi", []),
        "assumptions": assumptions,
        "default_priors": default_priors(assumptions),
        "charts": _charts(result, names, org_names),
        "stress": stress_view(result, org_names),
        "stress_targets": stress_targets(result),
        "multiple_svg": histogram_svg(dist.get("multiple", {}), title=_("Multiple on invested capital"),
                                      edge_label=multiple_label, marker=1.0, marker_label=_("break-even")),
        "irr_svg": histogram_svg(dist.get("irr", {}), title=_("Internal rate of return (IRR)"),
                                 edge_label=percent_pattern, marker=0.0, marker_label=percent_pattern(0.0)),
    }


# For these measures a higher value is worse for the investor (the others: a lower value is).
HIGHER_IS_WORSE = {"p_loss", "expected_loss", "es95", "es99"}


def stress_targets(result: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The sectors and the outcome payers a stress test can hit: those of the portfolio's holdings."""
    sectors = sorted({c["sector"] for c in result.get("contracts", []) if c.get("sector")})
    payers = sorted({r["group"] for r in result.get("concentration", []) if r.get("dimension") == "payer"})
    return sectors, payers


def _delta_text(delta: float, kind: str, base: str) -> str:
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    size = abs(delta)
    if kind == "money":
        return sign + money(size, base, 0)
    if kind == "percent":
        return sign + _("%(points)s pp", points=number(size * 100, 1))
    return sign + number(size, 3) + "×"


def _scenario_label(name: str, settings: dict[str, Any], org_names: dict[str, str]) -> str:
    if name == "base":
        return _("Base case")
    if name == "sector_shock":
        return _("A bad year for %(sector)s (its factor 2 standard deviations down)",
                 sector=label("sector", settings.get("sector", "")))
    if name == "savings_delayed":
        return _("Savings %(months)s months late", months=number(settings.get("delay_months", 0)))
    if name == "payer_termination":
        payer = settings.get("payer", "")
        return _("%(payer)s ends its contracts", payer=org_names.get(payer, payer))
    if name == "worst_case":
        return _("Every contract at the outcomes that repay investors least")
    return name


def stress_view(result: dict[str, Any], org_names: dict[str, str]) -> dict[str, Any] | None:
    """The stored stress tests as rows (base case first): each measure's value and its change from the base."""
    stress = result.get("stress")
    if not stress:
        return None
    base_ccy = result.get("settings", {}).get("base_currency", "SEK")
    settings = stress.get("settings", {})
    metrics = [m for m in stress.get("table", {}) if m in KINDS]
    rows = []
    for name in stress.get("scenarios", []):
        cells = []
        for m in metrics:
            value, reference = stress["table"][m].get(name), stress["table"][m].get("base")
            delta = None if value is None or reference is None or name == "base" else value - reference
            worse = delta is not None and abs(delta) > 1e-12 and ((delta > 0) == (m in HIGHER_IS_WORSE))
            cells.append({"metric": m, "value": value, "text": shown(value, KINDS[m], base_ccy), "delta": delta,
                          "delta_text": None if delta is None else _delta_text(delta, KINDS[m], base_ccy),
                          "worse": worse})
        rows.append({"name": name, "label": _scenario_label(name, settings, org_names), "cells": cells})
    return {"settings": settings, "metrics": [(m, label("summary", m)) for m in metrics], "rows": rows}


def holding_rows(spec: dict[str, Any], *, session: Session) -> list[dict[str, Any]]:
    """The portfolio's holdings as its specification states them, with contract names and currencies: what a
    shared page lists (amounts in the contract's currency, or a share of the investor position)."""
    holdings = spec.get("holdings", [])
    rows_by_id = names_by_id(session=session, ids=sorted({h.get("contract", "") for h in holdings}))
    lang = _lang()
    out = []
    for h in holdings:
        cid = h.get("contract", "")
        row = rows_by_id.get(cid)
        out.append({"contract": cid, "name": reader_name(row, lang) if row is not None else cid,
                    "amount": h.get("amount"), "share": h.get("share"),
                    "currency": row.currency if row is not None else None, "payer_view": h.get("role") == "payer"})
    return out


# Two estimates differ beyond Monte Carlo noise when they are further apart than this many standard errors
# of their difference (about a 5 % chance for two runs of the same model).
NOISE_Z = 2.0


def _compared_metric(key: str, a: dict[str, Any], b: dict[str, Any], base: str) -> dict[str, Any]:
    kind = KINDS[key]
    va, vb = a.get(key, {}), b.get(key, {})
    ea, eb = va.get("estimate"), vb.get("estimate")
    delta = None if ea is None or eb is None else eb - ea
    sa, sb = va.get("std_error") or 0.0, vb.get("std_error") or 0.0
    noise = NOISE_Z * (sa * sa + sb * sb) ** 0.5
    return {"key": key, "label": label("summary", key), "a": shown(ea, kind, base), "b": shown(eb, kind, base),
            "a_error": shown(va.get("std_error"), kind, base, precise=True),
            "b_error": shown(vb.get("std_error"), kind, base, precise=True),
            "delta": None if delta is None else _delta_text(delta, kind, base),
            "significant": delta is not None and abs(delta) > noise and abs(delta) > 1e-12}


def run_comparison(a: dict[str, Any], b: dict[str, Any], *, session: Session) -> dict[str, Any]:
    """Two stored results side by side: settings, every summary measure with both errors and the change
    (flagged where it exceeds the Monte Carlo noise), and each holding's figures by name."""
    base = a.get("settings", {}).get("base_currency", "SEK")
    same_currency = base == b.get("settings", {}).get("base_currency", "SEK")
    sa, sb = a.get("summary", {}), b.get("summary", {})
    metrics = [_compared_metric(k, sa, sb, base) for k, _kind in SUMMARY_ROWS if same_currency and (k in sa or k in sb)]
    names = {**holding_names(a, session=session), **holding_names(b, session=session)}
    by_a = {c["holding"]: c for c in a.get("contracts", [])}
    by_b = {c["holding"]: c for c in b.get("contracts", [])}
    holdings = [{"holding": h, "name": names.get(h, h), "a": by_a.get(h), "b": by_b.get(h)}
                for h in dict.fromkeys([*by_a, *by_b])]
    keys = ("scenarios", "seed", "copula", "df", "base_currency", "hurdle_rate")
    settings = [(k, a.get("settings", {}).get(k), b.get("settings", {}).get(k)) for k in keys]
    return {"base": base, "same_currency": same_currency, "metrics": metrics, "holdings": holdings,
            "settings": settings}
