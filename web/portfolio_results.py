"""A portfolio's stored result as its page shows it: the summary's labels, the tables and the histograms."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlmodel import Session

from registry.services.contracts import organisation_names
from web.charts import histogram_svg
from web.formatting import number, percent_pattern
from web.vocabulary import label

SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("capital", "money"), ("expected_repayment", "money"), ("expected_multiple", "multiple"),
    ("p_loss", "percent"), ("expected_loss", "money"), ("mean_net_loss", "money"),
    ("var95", "money"), ("es95", "money"), ("var99", "money"), ("es99", "money"),
    ("irr_p5", "percent"), ("irr_p50", "percent"), ("irr_p95", "percent"), ("irr_mean", "percent"),
    ("npv_hurdle", "money"),
)


def summary_labels() -> dict[str, str]:
    return {key: label("summary", key) for key, _kind in SUMMARY_ROWS}


def result_view(result: dict[str, Any], *, session: Session) -> dict[str, Any]:
    """What the results part of the page shows, prepared from the stored JSON result."""
    settings = result.get("settings", {})
    base = settings.get("base_currency", "SEK")
    dist = result.get("distributions", {})

    def multiple_label(v: float) -> str:
        return number(v, 2) + "×"

    def irr_label(v: float) -> str:
        return percent_pattern(v)

    exposures = result.get("exposures", [])
    names = organisation_names(session=session, ids=sorted({e["organisation"] for e in exposures}))
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
                                 edge_label=irr_label, marker=0.0, marker_label=irr_label(0.0)),
    }
