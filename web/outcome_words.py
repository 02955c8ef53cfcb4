"""Outcome models in words, in the reader's language: "achieved with probability 60 %" instead of
``bernoulli(p=0.6)``.

One function, :func:`model_in_words`, takes a model as the engine describes it (``describe()`` of
:mod:`portfolio.outcomes` without its label: ``{"dist": "bernoulli", "p": 0.6}``), as the results store it in
their ``assumptions`` table (``params``), and returns a sentence. Pages, the portfolio report and exports all
call it, so a model reads the same wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _

from web.formatting import figure, percent_pattern


def _share(p: float) -> str:
    return percent_pattern(p, "#,##0.#")


def _beta_mean_sd(a: float, b: float, low: float, high: float) -> tuple[float, float]:
    width = high - low
    mean = a / (a + b)
    var = a * b / ((a + b) ** 2 * (a + b + 1))
    return low + width * mean, width * var**0.5


def _continuous(dist: str, d: Mapping[str, Any]) -> str | None:
    if dist == "normal":
        return _("normally distributed around %(mean)s (standard deviation %(sd)s)",
                 mean=figure(d["mean"]), sd=figure(d["sd"]))
    if dist == "lognormal":
        loc = float(d.get("loc") or 0.0)
        median = figure(float(d["median"]) + loc)
        text = _("skewed to the right (lognormal), median %(median)s, spread %(sigma)s on the log scale",
                 median=median, sigma=figure(d["sigma"]))
        return text + (" " + _("(shifted by %(loc)s)", loc=figure(loc)) if loc else "")
    if dist == "beta":
        mean, sd = _beta_mean_sd(float(d["a"]), float(d["b"]), float(d["low"]), float(d["high"]))
        return _("between %(low)s and %(high)s, on average %(mean)s (standard deviation %(sd)s)",
                 low=figure(d["low"]), high=figure(d["high"]), mean=figure(mean), sd=figure(sd))
    return None


def model_in_words(params: Mapping[str, Any] | None, fallback: str = "") -> str:
    """A sentence describing an outcome model, a delay or factor loadings; ``fallback`` (the engine's
    notation) for a model this function does not know or a result stored before models were kept as
    parameters."""
    if not isinstance(params, Mapping) or "dist" not in params:
        return fallback
    dist = str(params["dist"])
    try:
        text = _continuous(dist, params)
        if text is not None:
            return text
        if dist == "bernoulli":
            return _("achieved with probability %(p)s", p=_share(float(params["p"])))
        if dist == "mixture":
            point = params["point_mass"]
            return _("with probability %(p)s exactly %(value)s; otherwise %(rest)s", p=_share(float(point["p"])),
                     value=figure(point["value"]), rest=model_in_words(params["base"], "?"))
        if dist == "empirical":
            pairs = [_("%(value)s (probability %(p)s)", value=figure(v), p=_share(float(p)))
                     for v, p in zip(params["values"], params["probs"], strict=True)]
            return _("one of: %(values)s", values=", ".join(pairs))
        if dist == "delay":
            months = model_in_words(params["months"], "?")
            if params.get("effect") == "window" and params.get("window_months"):
                window = figure(params["window_months"])
                return _("savings may start late, the delay in months %(months)s; a late start shortens "
                         "the %(window)s-month measurement window", months=months, window=window)
            return _("payments may come late, the delay in months %(months)s", months=months)
        if dist == "loadings":
            return _("shares of the outcome driven by common factors: world %(g)s, country %(c)s, payer %(p)s, "
                     "sector %(s)s", g=figure(params["global"]), c=figure(params["country"]),
                     p=figure(params["payer"]), s=figure(params["sector"]))
    except (KeyError, TypeError, ValueError):  # a description of another shape: show the engine's notation
        return fallback
    return fallback
