"""Simulation results as pandas tables, with Monte Carlo standard errors beside the estimates."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from portfolio.engine import RawRun, combine_moments, quantile_from_top, quantile_layout
from portfolio.risk import batch_standard_error, es_contributions, hhi, var_es, var_es_rows

__all__ = ["SimulationResult", "build_result", "SUMMARY_LABELS"]

# The engine's own English names of the summary measures, precise about what is computed: the command line and
# the JSON results print them. The web app shows the reader's-language labels of web/vocabulary.py ("summary").
SUMMARY_LABELS: dict[str, str] = {
    "capital": "Capital (base currency)",
    "expected_repayment": "Expected repayment",
    "expected_multiple": "Expected multiple (E[repayment] / capital)",
    "irr_mean": "IRR, mean over scenarios",
    "irr_p5": "IRR, 5th percentile",
    "irr_p50": "IRR, median",
    "irr_p95": "IRR, 95th percentile",
    "p_loss": "Probability of losing capital",
    "expected_loss": "Expected loss E[max(capital - repayment, 0)]",
    "mean_net_loss": "Mean net loss E[capital - repayment]",
    "var95": "VaR 95 % of loss",
    "es95": "Expected shortfall 95 % of loss",
    "var99": "VaR 99 % of loss",
    "es99": "Expected shortfall 99 % of loss",
    "npv_hurdle": "Expected NPV of investor cash flows at the hurdle rate",
}


@dataclass
class SimulationResult:
    """What :func:`portfolio.simulate` returns.

    Attributes
    ----------
    summary
        Index: metric (see :data:`SUMMARY_LABELS`); columns ``estimate``, ``std_error``.
    contracts
        One row per holding: capital, expected repayment and loss, probability of loss, Euler ES
        contributions at 95 % and 99 % (they add up to the portfolio ES), worst case, default-prior flag.
    exposures
        One row per (organisation, role) where role is ``outcome_payer`` or ``guarantor``: maximum
        contractual exposure, expected payment, 99th-percentile payment. Amounts are in the base currency
        at 100 % of each contract (a payer owes the whole contract, whoever holds the investor position).
    concentration
        Capital and ES-99 shares by sector, country and outcome payer.
    hhi
        Herfindahl-Hirschman index (not normalised) and effective number per dimension.
    assumptions
        Every outcome model used, labelled, with ``default_prior`` where it is the sector default.
    """

    summary: pd.DataFrame
    contracts: pd.DataFrame
    exposures: pd.DataFrame
    concentration: pd.DataFrame
    hhi: pd.DataFrame
    assumptions: pd.DataFrame
    settings: dict[str, Any]
    raw: RawRun = field(repr=False)

    @property
    def loss(self) -> np.ndarray:
        """Per-scenario portfolio loss (base currency)."""
        return self.raw.loss

    @property
    def irr(self) -> np.ndarray:
        return self.raw.irr

    def value(self, metric: str) -> float:
        return float(self.summary.loc[metric, "estimate"])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dictionary of every table (what ``utfall simulate --json`` prints)."""

        def frame(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _jsonable(v) for k, v in row.items()} for row in df.reset_index().to_dict("records")]

        return {
            "settings": {k: _jsonable(v) for k, v in self.settings.items()},
            "summary": {m: {"estimate": _jsonable(r.estimate), "std_error": _jsonable(r.std_error)}
                        for m, r in self.summary.iterrows()},
            "contracts": frame(self.contracts),
            "exposures": frame(self.exposures),
            "concentration": frame(self.concentration),
            "hhi": frame(self.hhi),
            "assumptions": frame(self.assumptions),
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v


def _pct(q: float) -> Callable[[np.ndarray], float]:
    def f(x: np.ndarray) -> float:
        x = x[np.isfinite(x)]
        return float(np.percentile(x, q)) if x.size else float("nan")

    return f


def _pct_rows(q: float) -> Callable[[np.ndarray], np.ndarray]:
    def f(x: np.ndarray) -> np.ndarray:
        if not np.isnan(x).any():
            return np.percentile(x, q, axis=1)
        with warnings.catch_warnings():  # a batch where the IRR is undefined throughout gives nan
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanpercentile(x, q, axis=1)

    return f


def build_result(raw: RawRun) -> SimulationResult:
    """Turn a raw run into tables."""
    portfolio, n = raw.portfolio, raw.n
    cap = raw.capital
    loss, irr = raw.loss, raw.irr
    sqrt_n = math.sqrt(n)
    tol = 1e-6 * cap
    rows: dict[str, tuple[float, float]] = {}
    rows["capital"] = (cap, 0.0)
    # Each scenario-sized temporary is dropped as soon as its figure is read: with them all alive at
    # once, building the tables would set the run's peak memory rather than the simulation.
    rep = raw.repayment
    rows["expected_repayment"] = (float(rep.mean()), float(rep.std(ddof=1) / sqrt_n))
    del rep
    rows["expected_multiple"] = ((rows["expected_repayment"][0] / cap, rows["expected_repayment"][1] / cap)
                                 if cap > 0 else (float("nan"), float("nan")))
    fin = irr[np.isfinite(irr)]
    rows["irr_mean"] = (float(fin.mean()) if fin.size else float("nan"),
                        float(fin.std(ddof=1) / math.sqrt(fin.size)) if fin.size > 1 else float("nan"))
    del fin
    for q in (5, 50, 95):
        rows[f"irr_p{q}"] = (_pct(q)(irr), batch_standard_error(irr, _pct_rows(q)))
    p = float((loss > tol).mean())
    rows["p_loss"] = (p, math.sqrt(p * (1 - p) / n))
    pos = np.maximum(loss, 0.0)
    rows["expected_loss"] = (float(pos.mean()), float(pos.std(ddof=1) / sqrt_n))
    del pos
    rows["mean_net_loss"] = (float(loss.mean()), float(loss.std(ddof=1) / sqrt_n))
    for a in (95, 99):
        v, e = var_es(loss, a / 100)
        rows[f"var{a}"] = (v, batch_standard_error(loss, lambda x, a=a: var_es_rows(x, a / 100)[0]))
        rows[f"es{a}"] = (e, batch_standard_error(loss, lambda x, a=a: var_es_rows(x, a / 100)[1]))
    pv_mean, pv_var = combine_moments(raw.pv_stats[:, 0], raw.pv_stats[:, 1], raw.pv_stats[:, 2])
    rows["npv_hurdle"] = (float(pv_mean), math.sqrt(max(float(pv_var), 0.0)) / sqrt_n)
    summary = pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "std_error"])
    summary.index.name = "metric"
    summary["label"] = [SUMMARY_LABELS[m] for m in summary.index]

    contracts = _contracts_table(raw)
    exposures = _exposures_table(raw)
    concentration, hhi_table = _concentration(raw, contracts)
    assumptions = _assumptions(raw)
    irr_nan = int(np.count_nonzero(~np.isfinite(irr)))
    settings = {
        "name": portfolio.name, "base_currency": portfolio.base_currency, "scenarios": n, "seed": raw.seed,
        "copula": portfolio.copula, "df": portfolio.df if portfolio.copula == "t" else None,
        "block_size": raw.block_size, "hurdle_rate": portfolio.hurdle_rate,
        "stress": raw.stress.name if raw.stress else None,
        "fx_rates": dict(portfolio.fx_rates), "fx_sources": {c: dict(v) for c, v in portfolio.fx_sources.items()},
        "factors": raw.factor_names, "irr_undefined_scenarios": irr_nan,
        "holdings_without_investor_flows": [label for label, h, paid in zip(
            _holding_labels(raw), portfolio.holdings, raw.paid_positions, strict=True) if h.position and not paid],
        "loss_convention": "loss = capital - repayment, undiscounted, base currency; alpha = confidence",
    }
    return SimulationResult(summary=summary, contracts=contracts, exposures=exposures,
                            concentration=concentration, hhi=hhi_table, assumptions=assumptions,
                            settings=settings, raw=raw)


def _holding_labels(raw: RawRun) -> list[str]:
    labels, seen = [], {}
    for h in raw.portfolio.holdings:
        base = h.label or h.contract.id
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return labels


def _contracts_table(raw: RawRun) -> pd.DataFrame:
    n = raw.n
    sums = raw.block_stats.sum(axis=0)  # (N, 5), blocks summed in order: deterministic
    mean_l = sums[:, 0] / n
    mean_pos = sums[:, 2] / n
    var_pos = np.maximum(sums[:, 3] / n - mean_pos**2, 0.0) * n / (n - 1)
    var_l = np.maximum(sums[:, 1] / n - mean_l**2, 0.0) * n / (n - 1)
    es95 = es_contributions(raw.tail_rows, n, 0.95)
    es99 = es_contributions(raw.tail_rows, n, 0.99)
    recs = []
    for i, h in enumerate(raw.portfolio.holdings):
        c = h.contract
        capb = raw.units_capital[i]
        recs.append({
            "name": c.name, "sector": c.sector, "country": c.country, "currency": c.currency,
            "weight": h.weight, "fx_rate": h.fx_rate, "capital": capb,
            "position": bool(raw.paid_positions[i]),
            "investor_position": ("none held (payer view)" if not h.position else
                                  "none in the payment terms" if not raw.paid_positions[i] else "held"),
            "expected_repayment": capb - mean_l[i],
            "expected_multiple": (capb - mean_l[i]) / capb if capb > 0 else float("nan"),
            "expected_loss": mean_pos[i], "expected_loss_se": math.sqrt(var_pos[i] / n),
            "loss_sd": math.sqrt(var_l[i]), "p_loss": sums[i, 4] / n,
            "es95_contribution": es95[i], "es99_contribution": es99[i],
            "worst_case_repayment": raw.worst_repayment[i],
            "documented_max_loss": c.documented_max_loss,
            "default_prior": bool(c.default_prior), "default_prior_metrics": ", ".join(c.default_prior),
        })
    df = pd.DataFrame(recs, index=pd.Index(_holding_labels(raw), name="holding"))
    total99 = es99.sum()
    df["es99_share"] = es99 / total99 if total99 > 0 else np.nan
    return df


def _exposures_table(raw: RawRun) -> pd.DataFrame:
    n = raw.n
    cols = ["organisation", "role", "max_contractual_exposure", "expected_payment", "expected_payment_se",
            "p99_payment", "p99_payment_se", "p_pays"]
    if not raw.org_keys:
        return pd.DataFrame(columns=cols).set_index(["organisation", "role"])
    st = raw.org_stats  # (blocks, orgs, 4): sum, squared deviations, count > 0, max
    counts = raw.pv_stats[:, 0]
    mean, var = combine_moments(counts, st[:, :, 0], st[:, :, 1])
    sd = np.sqrt(np.maximum(var, 0.0))
    p99 = quantile_from_top(raw.org_top, n, 0.99)
    nb, size = quantile_layout(n)
    batch_p99 = np.stack([quantile_from_top(raw.org_batch_top[b], size, 0.99) for b in range(nb)])
    p99_se = batch_p99.std(axis=0, ddof=1) / math.sqrt(nb)
    p_pays = st[:, :, 2].sum(axis=0) / n
    smax = st[:, :, 3].max(axis=0)
    recs = []
    for j, (org, role) in enumerate(raw.org_keys):
        recs.append({
            "organisation": org, "role": role,
            "max_contractual_exposure": max(float(raw.org_max[j]), float(smax[j])),
            "expected_payment": float(mean[j]), "expected_payment_se": float(sd[j] / math.sqrt(n)),
            "p99_payment": float(p99[j]), "p99_payment_se": float(p99_se[j]), "p_pays": float(p_pays[j]),
        })
    return pd.DataFrame(recs, columns=cols).set_index(["organisation", "role"]).sort_index()


def _concentration(raw: RawRun, contracts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    recs = []
    for i, h in enumerate(raw.portfolio.holdings):
        if not raw.paid_positions[i]:
            continue  # payer-only holdings carry no capital: they appear in the exposures table
        c = h.contract
        capb = float(raw.units_capital[i])
        es = float(contracts["es99_contribution"].iloc[i])
        recs.append(("sector", c.sector, capb, es))
        recs.append(("country", c.country, capb, es))
        payers = c.payers or (c.primary_payer,)
        for p in payers:  # a contract with several outcome payers splits its exposure equally
            recs.append(("payer", p, capb / len(payers), es / len(payers)))
    df = pd.DataFrame(recs, columns=["dimension", "group", "capital", "es99_contribution"])
    df = df.groupby(["dimension", "group"], sort=True).sum()
    df["capital_share"] = df["capital"] / df.groupby(level="dimension")["capital"].transform("sum")
    tot = df.groupby(level="dimension")["es99_contribution"].transform("sum")
    df["es99_share"] = np.where(tot > 0, df["es99_contribution"] / tot, np.nan)
    hrecs: list[dict[str, Any]] = []
    if df.empty:
        empty = pd.DataFrame(columns=["hhi_capital", "effective_number", "hhi_es99", "groups"])
        return df, empty.rename_axis("dimension")
    for dim, g in df.groupby(level="dimension"):
        h_cap = hhi(g["capital"].to_numpy())
        risk = np.maximum(g["es99_contribution"].to_numpy(), 0.0)
        h_risk = hhi(risk) if risk.sum() > 0 else float("nan")
        hrecs.append({"dimension": dim, "hhi_capital": h_cap, "effective_number": 1.0 / h_cap,
                      "hhi_es99": h_risk, "groups": len(g)})
    return df, pd.DataFrame(hrecs).set_index("dimension")


def _assumptions(raw: RawRun) -> pd.DataFrame:
    recs = []
    seen = set()
    for h in raw.portfolio.holdings:
        c = h.contract
        if c.id in seen:
            continue
        seen.add(c.id)
        for name, m in c.outcomes.items():
            d = m.describe()
            recs.append({"contract": c.id, "metric": name, "model": _describe(d), "label": d.get("label", ""),
                         "default_prior": name in c.default_prior, "params": _params(d)})
        if c.delay is not None:
            d = c.delay.describe()
            recs.append({"contract": c.id, "metric": "(delay, months)", "model": _describe(d["months"])
                         + f"; effect={d['effect']}" + (f", window={d['window_months']}" if d["window_months"]
                                                        else ""),
                         "label": d.get("label", ""), "default_prior": False,
                         "params": {"dist": "delay", "months": _params(d["months"]), "effect": d["effect"],
                                    "window_months": d["window_months"]}})
        lo = c.loadings.as_dict()
        recs.append({"contract": c.id, "metric": "(factor loadings)",
                     "model": ", ".join(f"{k}={v:g}" for k, v in lo.items()), "label": "", "default_prior": False,
                     "params": {"dist": "loadings", **lo}})
    return pd.DataFrame(recs, columns=["contract", "metric", "model", "label", "default_prior", "params"])


def _params(d: Any) -> Any:
    """A model's description without its labels (they are shown apart): what a reader's words are made from."""
    if not isinstance(d, dict):
        return d
    return {k: _params(v) for k, v in d.items() if k != "label"}


def _describe(d: Any) -> str:
    if not isinstance(d, dict):
        return str(d)
    dist = d.get("dist", "")
    if dist == "mixture":
        pm = d["point_mass"]
        return f"mixture(p={pm['p']:g} at {pm['value']:g}; else {_describe(d['base'])})"
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}"
                       for k, v in d.items() if k not in ("dist", "label"))
    return f"{dist}({params})"
