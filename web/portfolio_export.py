"""A portfolio's stored result as spreadsheet tables: summary, holdings, exposures, concentration, assumptions,
stress tests and the stored sample of scenarios, for the XLSX (a sheet each) and CSV (a file each) exports.

Figures are the stored numbers, unformatted (a spreadsheet formats them); names are in the reader's language
beside the registry's ids, and the assumptions are in words as on the page.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlmodel import Session

from web.portfolio_results import group_name, result_view
from web.vocabulary import label

TABLES = ("summary", "holdings", "exposures", "concentration", "assumptions", "stress", "scenarios")

HOLDING_COLUMNS = ("capital", "expected_repayment", "expected_multiple", "p_loss", "expected_loss",
                   "expected_loss_se", "es95_contribution", "es99_contribution", "es99_share", "currency",
                   "fx_rate", "country", "sector", "default_prior")
EXPOSURE_COLUMNS = ("max_contractual_exposure", "expected_payment", "expected_payment_se", "p99_payment",
                    "p99_payment_se", "p_pays")


def _summary(result: dict[str, Any]) -> pd.DataFrame:
    base = result.get("settings", {}).get("base_currency")
    rows = [{"metric": m, "label": label("summary", m), "estimate": v.get("estimate"),
             "std_error": v.get("std_error"), "currency": base if m not in ("expected_multiple", "p_loss")
             and not m.startswith("irr") else None}
            for m, v in result.get("summary", {}).items()]
    return pd.DataFrame(rows, columns=["metric", "label", "estimate", "std_error", "currency"])


def _holdings(result: dict[str, Any], names: dict[str, str]) -> pd.DataFrame:
    rows = [{"holding": c["holding"], "name": names.get(c["holding"], c["holding"]),
             **{k: c.get(k) for k in HOLDING_COLUMNS}} for c in result.get("contracts", [])]
    return pd.DataFrame(rows, columns=["holding", "name", *HOLDING_COLUMNS])


def _exposures(result: dict[str, Any], org_names: dict[str, str]) -> pd.DataFrame:
    rows = [{"organisation": e["organisation"], "name": org_names.get(e["organisation"], e["organisation"]),
             "role": e["role"], "role_label": label("role", e["role"]), **{k: e.get(k) for k in EXPOSURE_COLUMNS}}
            for e in result.get("exposures", [])]
    return pd.DataFrame(rows, columns=["organisation", "name", "role", "role_label", *EXPOSURE_COLUMNS])


def _concentration(result: dict[str, Any], org_names: dict[str, str]) -> pd.DataFrame:
    rows = [{"dimension": r["dimension"], "group": r["group"],
             "name": group_name(r["dimension"], r["group"], org_names),
             "capital": r.get("capital"), "capital_share": r.get("capital_share"),
             "es99_contribution": r.get("es99_contribution"), "es99_share": r.get("es99_share")}
            for r in result.get("concentration", [])]
    return pd.DataFrame(rows, columns=["dimension", "group", "name", "capital", "capital_share", "es99_contribution",
                                       "es99_share"])


def _stress(result: dict[str, Any]) -> pd.DataFrame:
    stress = result.get("stress") or {}
    rows = []
    for metric, by_scenario in stress.get("table", {}).items():
        base = by_scenario.get("base")
        for scenario in stress.get("scenarios", []):
            value = by_scenario.get(scenario)
            rows.append({"scenario": scenario, "metric": metric, "value": value,
                         "std_error": stress.get("std_errors", {}).get(metric, {}).get(scenario),
                         "change_from_base": None if value is None or base is None else value - base})
    return pd.DataFrame(rows, columns=["scenario", "metric", "value", "std_error", "change_from_base"])


def result_frames(result: dict[str, Any], *, session: Session) -> dict[str, pd.DataFrame]:
    """Every table of the export, by name (:data:`TABLES`), from the stored JSON result."""
    view = result_view(result, session=session)
    assumptions = pd.DataFrame(
        [{"contract": a["contract"], "name": a["name"], "metric": a["metric"], "model": a["words"],
          "notation": a["model"], "rests_on": a["label"], "default_prior": a["default_prior"]}
         for a in view["assumptions"]],
        columns=["contract", "name", "metric", "model", "notation", "rests_on", "default_prior"])
    sample = result.get("scenario_sample") or {}
    return {
        "summary": _summary(result),
        "holdings": _holdings(result, view["names"]),
        "exposures": _exposures(result, view["org_names"]),
        "concentration": _concentration(result, view["org_names"]),
        "assumptions": assumptions,
        "stress": _stress(result),
        "scenarios": pd.DataFrame(sample, columns=["scenario", "repayment", "loss", "multiple", "irr"]),
    }
