"""The builder's outcome models in words, with the one number a reader edits instead of a distribution's code:
the probability that a metric reaches its target (for a contract without executable terms, that its investors
are repaid in full).

Each metric the engine draws is shown as a sentence ("Share in work reaches its target (0.3) with probability
82 %"), the model in words (:func:`web.outcome_words.model_in_words`) and what it rests on: the registry's
default (calibrated on comparable contracts' recorded results, :mod:`registry.calibration`, or the sector's
documented prior) or the reader's own assumption. A changed probability becomes a model of the same shape as
the default (:func:`portfolio.priors.default_model`) kept in the portfolio's ``outcome_models``; an emptied
field returns to the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask_babel import gettext as _

from portfolio import Bernoulli, ContractModel
from portfolio.priors import default_model, sector_prior
from registry.calibration import CalibratedPriors
from registry.schema import ContractDocument
from web.formatting import figure, percent_pattern
from web.outcome_words import model_in_words

BUILDER_LABEL = "assumption entered in the portfolio builder"
REPAID = "success"  # the one outcome of a contract without executable terms: investors repaid in full
_GRID = (np.arange(4000) + 0.5) / 4000  # quantiles at which a model's chance of reaching a target is counted


@dataclass(frozen=True)
class MetricView:
    """One metric's model as the builder shows it; ``p_text`` is the editable probability in percent (``None``:
    the metric has no target, so only the words are shown)."""

    metric: str
    headline: str
    detail: str
    evidence: str
    p_text: str | None
    custom: bool


def _target(doc: ContractDocument, metric: str) -> float | None:
    found = next((m for m in doc.outcome_metrics if m.id == metric), None)
    return float(min(t.value for t in found.targets)) if found is not None and found.targets else None


def _kind(doc: ContractDocument, metric: str) -> str:
    found = next((m for m in doc.outcome_metrics if m.id == metric), None)
    return str(found.kind) if found is not None else "binary"


def reach_probability(model: Any, target: float | None) -> float | None:
    """P(the outcome reaches ``target``): ``p`` of a Bernoulli model, else counted over the model's quantiles."""
    if isinstance(model, Bernoulli):
        return float(model.p)
    if target is None:
        return None
    return float(np.mean(model.ppf(_GRID) >= target))


def _evidence(doc: ContractDocument, metric: str, custom: Mapping[str, Any], priors: CalibratedPriors) -> str:
    if metric in custom:
        label = str(custom[metric].get("label") or "")
        return _("your assumption") if label in ("", BUILDER_LABEL) else _("given in the portfolio: %(label)s",
                                                                             label=label)
    sector, country = str(doc.classification.policy_sector), doc.classification.country
    calibrated = (priors.repayment(sector, country, exclude=doc.id) if metric == REPAID and not doc.payment_terms
                  else priors.metric(sector, _kind(doc, metric), country, exclude=doc.id))
    if calibrated is not None:
        return _("default, an assumption: %(k)s of %(n)s recorded results of comparable contracts reached it, "
                 "weighed with the sector's documented prior of %(prior)s", k=calibrated.successes, n=calibrated.n,
                 prior=percent_pattern(calibrated.prior, "#,##0"))
    return _("default, an assumption: the sector's documented prior (%(prior)s), with no recorded results of "
             "comparable contracts", prior=percent_pattern(sector_prior(sector).p_success, "#,##0"))


def model_views(doc: ContractDocument, model: ContractModel, custom: Mapping[str, Any], *,
                priors: CalibratedPriors, lang: str) -> list[MetricView]:
    """The models of ``model`` (built with the portfolio's ``custom`` models of this contract) in words."""
    views = []
    for metric, outcome in model.outcomes.items():
        found = next((m for m in doc.outcome_metrics if m.id == metric), None)
        name = found.name.get(lang) if found is not None else metric
        target = _target(doc, metric)
        p = reach_probability(outcome, target)
        shown = percent_pattern(p, "#,##0.#") if p is not None else ""
        if metric == REPAID and found is None:
            headline = _("Investors repaid in full with probability %(p)s", p=shown)
        elif isinstance(outcome, Bernoulli):
            headline = _("%(metric)s: achieved with probability %(p)s", metric=name, p=shown)
        elif p is not None:
            headline = _("%(metric)s reaches its target (%(target)s) with probability %(p)s", metric=name,
                         target=figure(target or 0), p=shown)
        else:
            headline = name
        params = {k: v for k, v in outcome.describe().items() if k != "label"}
        views.append(MetricView(
            metric=metric, headline=headline, custom=metric in custom,
            detail="" if isinstance(outcome, Bernoulli) else model_in_words(params),  # the headline says it all
            evidence=_evidence(doc, metric, custom, priors),
            p_text=None if p is None else figure(round(p * 100, 1))))
    return views


def builder_model(doc: ContractDocument, metric: str, p: float) -> dict[str, Any]:
    """The portfolio-file model for ``metric`` that reaches its target with probability ``p`` (in (0, 1)): the
    default's shape (:func:`portfolio.priors.default_model`) with the reader's probability."""
    if metric == REPAID and not any(m.id == metric for m in doc.outcome_metrics):
        return {"dist": "bernoulli", "p": p, "label": BUILDER_LABEL}
    sector = str(doc.classification.policy_sector)
    kind = _kind(doc, metric)
    # The default keeps a chance that the service is not delivered at all (a point mass below the target): the
    # normal part must reach the target more often for the whole to reach it with probability p.
    p_success = p if kind == "binary" else min(p / (1.0 - sector_prior(sector).p_not_delivered), 0.999)
    model = default_model(sector, kind, target=_target(doc, metric), p_success=p_success, label=BUILDER_LABEL)
    return model.describe()
