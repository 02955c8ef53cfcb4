"""Portfolio files (YAML): parse, validate, and turn into a :class:`portfolio.Portfolio`.

The file format is documented in docs/portfolio.md (worked example: docs/examples/nordic-portfolio.yaml).
Holdings refer to registry contracts by id (looked up with ``registry.services.contracts.get_contract``) or to
inline contracts written in the seed-file schema (for what-if analysis; an inline contract with the same
id as a registry contract replaces it in this portfolio). Outcome models are assumptions kept in the
portfolio file; metrics without one get the sector's documented default prior
(:mod:`portfolio.priors`) and are flagged ``default_prior`` in the results.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from portfolio import (
    Bernoulli,
    Beta,
    ContractModel,
    DelayModel,
    Empirical,
    FactorLoadings,
    Holding,
    LogNormal,
    Normal,
    PointMassMixture,
    Portfolio,
)
from portfolio.engine import evaluate_outcomes, extreme_outcomes, position_repayment
from portfolio.priors import (
    DEFAULT_LOADINGS,
    DEFAULT_MAX_LOSS,
    DEFAULT_TARGET_RETURN,
    DefaultPayoff,
    default_model,
    sector_prior,
)
from registry.reference_rates import NoRate, RateTable, shipped_rate_table
from registry.schema import ContractDocument, PartialDate, Role, TrancheType, partial_date_start
from registry.terms import TermsError, compile_terms, partial_date_end
from registry.yaml_input import YamlInputError, read_yaml_file

if TYPE_CHECKING:
    from registry.calibration import CalibratedPriors

__all__ = [
    "PortfolioFile",
    "PortfolioFileError",
    "load_portfolio_file",
    "parse_portfolio",
    "build_portfolio",
    "contract_model",
    "DEFAULT_TERM_MONTHS",
]

SCHEMA = "utfall-portfolio/1"
DEFAULT_TERM_MONTHS = 60
"""Maturity assumed when neither the payment terms nor the contract's dates give a payment date."""


class PortfolioFileError(ValueError):
    """A portfolio file that cannot be used; ``errors`` lists ``(location, reason)`` pairs."""

    def __init__(self, source: str, errors: list[tuple[str, str]]) -> None:
        self.source = source
        self.errors = errors
        super().__init__("\n".join(f"{source}: {loc}: {reason}" if loc else f"{source}: {reason}"
                                   for loc, reason in errors))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _ModelBase(_Strict):
    label: str = Field(default="", description="What the assumption rests on (a source, a judgement).")


class NormalSpec(_ModelBase):
    dist: Literal["normal"]
    mean: float
    sd: float = Field(gt=0)


class LogNormalSpec(_ModelBase):
    dist: Literal["lognormal"]
    median: float | None = Field(default=None, gt=0)
    sigma: float | None = Field(default=None, gt=0)
    mean: float | None = None
    sd: float | None = Field(default=None, gt=0)
    loc: float = 0.0

    @model_validator(mode="after")
    def _one_parametrisation(self) -> LogNormalSpec:
        if (self.median is None) != (self.sigma is None) or (self.mean is None) != (self.sd is None):
            raise ValueError("give median and sigma, or mean and sd")
        if (self.median is None) == (self.mean is None):
            raise ValueError("give exactly one of (median, sigma) or (mean, sd)")
        return self


class BetaSpec(_ModelBase):
    dist: Literal["beta"]
    a: float | None = Field(default=None, gt=0)
    b: float | None = Field(default=None, gt=0)
    mean: float | None = None
    sd: float | None = Field(default=None, gt=0)
    low: float = 0.0
    high: float = 1.0

    @model_validator(mode="after")
    def _one_parametrisation(self) -> BetaSpec:
        if not ((self.a is not None and self.b is not None and self.mean is None and self.sd is None)
                or (self.a is None and self.b is None and self.mean is not None and self.sd is not None)):
            raise ValueError("give a and b, or mean and sd")
        if self.high <= self.low:
            raise ValueError("high must be above low")
        return self


class BernoulliSpec(_ModelBase):
    dist: Literal["bernoulli"]
    p: float = Field(ge=0, le=1)


class EmpiricalSpec(_ModelBase):
    dist: Literal["empirical"]
    probs: list[float]
    values: list[float]


BaseSpec = Annotated[NormalSpec | LogNormalSpec | BetaSpec | EmpiricalSpec, Field(discriminator="dist")]


class PointMass(_Strict):
    p: float = Field(ge=0, lt=1)
    value: float = 0.0


class MixtureSpec(_ModelBase):
    dist: Literal["mixture"]
    point_mass: PointMass
    base: BaseSpec


ModelSpec = Annotated[
    NormalSpec | LogNormalSpec | BetaSpec | BernoulliSpec | EmpiricalSpec | MixtureSpec, Field(discriminator="dist")
]


class DelaySpec(_Strict):
    months: ModelSpec
    effect: Literal["window", "shift"] = "shift"
    window_months: float | None = Field(default=None, gt=0)
    metrics: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=lambda: ["outcome", "premium"])
    label: str = ""


class LoadingsSpec(_Strict):
    global_: float = Field(default=DEFAULT_LOADINGS.global_, alias="global", ge=-1, le=1)
    country: float = Field(default=DEFAULT_LOADINGS.country, ge=-1, le=1)
    payer: float = Field(default=DEFAULT_LOADINGS.payer, ge=-1, le=1)
    sector: float = Field(default=DEFAULT_LOADINGS.sector, ge=-1, le=1)

    @model_validator(mode="after")
    def _r2(self) -> LoadingsSpec:
        r2 = self.global_**2 + self.country**2 + self.payer**2 + self.sector**2
        if r2 >= 1:
            raise ValueError(f"the squared loadings must sum to less than 1 (got {r2:.3f})")
        return self


class CopulaSpec(_Strict):
    family: Literal["gaussian", "t"] = "gaussian"
    df: float = Field(default=5.0, gt=2, le=1000)


class HoldingSpec(_Strict):
    contract: str = Field(min_length=1)
    role: Literal["investor", "payer"] = Field(
        default="investor", description="payer: include the contract for its payers' exposure only (no position).")
    amount: float | None = Field(default=None, gt=0, description="In the contract's currency.")
    share: float | None = Field(default=None, gt=0, le=1, description="Share of the investor position.")
    investor: str | None = Field(default=None, description="Hold only this investor's position (org id).")
    label: str = ""
    outcome_models: dict[str, ModelSpec] = Field(default_factory=dict)
    delay: DelaySpec | None = None
    loadings: LoadingsSpec | None = None
    metric_correlation: float | None = Field(default=None, ge=0, le=1)
    payment_date: PartialDate | None = Field(default=None, description="Date of payments the terms leave undated.")

    @model_validator(mode="after")
    def _amount_or_share(self) -> HoldingSpec:
        if self.role == "payer":
            if self.amount is not None or self.share is not None or self.investor is not None:
                raise ValueError("a payer-only holding takes no amount, share or investor")
        elif (self.amount is None) == (self.share is None):
            raise ValueError("give exactly one of amount or share")
        return self


class PortfolioFile(_Strict):
    """A portfolio file. See docs/portfolio.md."""

    schema_: Literal["utfall-portfolio/1"] = Field(default=SCHEMA, alias="schema")
    name: str = ""
    base_currency: str = Field(pattern=r"^[A-Z]{3}$")
    fx: dict[str, float] = Field(default_factory=dict, description="Base-currency units per unit of currency.")
    fx_year: int | None = Field(default=None, ge=1900, le=2200, description=(
        "Year of the reference rates used for currencies without a stated fx rate (default: the latest)."))
    scenarios: int = Field(default=100_000, ge=100, le=50_000_000)
    seed: int = Field(default=0, ge=0)
    copula: CopulaSpec = Field(default_factory=CopulaSpec)
    loadings: LoadingsSpec = Field(default_factory=LoadingsSpec)
    metric_correlation: float = Field(default=0.6, ge=0, le=1)
    hurdle_rate: float = Field(default=0.0, gt=-1, le=1)
    outcome_models: dict[str, dict[str, ModelSpec]] = Field(
        default_factory=dict, description="Contract id -> metric -> model: the assumptions beside each contract."
    )
    delays: dict[str, DelaySpec] = Field(default_factory=dict, description="Contract id -> savings delay model.")
    contracts: list[dict[str, Any]] = Field(default_factory=list, description="Inline contracts (seed-file schema).")
    holdings: list[HoldingSpec] = Field(min_length=1)

    @field_validator("fx")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        for cur, rate in v.items():
            if len(cur) != 3 or not cur.isupper():
                raise ValueError(f"{cur!r} is not an ISO 4217 currency code")
            if not (rate > 0 and math.isfinite(rate)):
                raise ValueError(f"rate for {cur} must be a positive number")
        return v


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def parse_portfolio(data: Any, source: str = "<portfolio>") -> PortfolioFile:
    """Validate parsed YAML; raise :class:`PortfolioFileError` naming the file, the field and the reason."""
    if not isinstance(data, dict):
        raise PortfolioFileError(source, [("", "a portfolio file is a mapping (name, base_currency, holdings, ...)")])
    try:
        return PortfolioFile.model_validate(data)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p in _TAGS))
            errors.append((_loc(loc), e["msg"]))
        raise PortfolioFileError(source, errors) from None


_TAGS = {"normal", "lognormal", "beta", "bernoulli", "empirical", "mixture"}


def load_portfolio_file(path: str | Path) -> PortfolioFile:
    """Read and validate a portfolio YAML file."""
    path = Path(path)
    try:
        data = read_yaml_file(path)
    except OSError as exc:
        raise PortfolioFileError(str(path), [("", f"cannot read the file: {exc.strerror}")]) from None
    except YamlInputError as exc:
        raise PortfolioFileError(str(path), [("", str(exc))]) from None
    return parse_portfolio(data, str(path))


# -- outcome models -------------------------------------------------------------------------------------

def _model(spec: Any) -> Normal | LogNormal | Beta | Bernoulli | Empirical | PointMassMixture:
    if isinstance(spec, NormalSpec):
        return Normal(spec.mean, spec.sd, label=spec.label)
    if isinstance(spec, LogNormalSpec):
        if spec.median is not None:
            return LogNormal(spec.median, spec.sigma, spec.loc, label=spec.label)  # type: ignore[arg-type]
        return LogNormal.from_mean_sd(spec.mean, spec.sd, spec.loc, label=spec.label)  # type: ignore[arg-type]
    if isinstance(spec, BetaSpec):
        if spec.a is not None:
            return Beta(spec.a, spec.b, spec.low, spec.high, label=spec.label)  # type: ignore[arg-type]
        return Beta.from_mean_sd(spec.mean, spec.sd, spec.low, spec.high, label=spec.label)  # type: ignore[arg-type]
    if isinstance(spec, BernoulliSpec):
        return Bernoulli(spec.p, label=spec.label)
    if isinstance(spec, EmpiricalSpec):
        return Empirical(tuple(spec.probs), tuple(spec.values), label=spec.label)
    if isinstance(spec, MixtureSpec):
        base = _model(spec.base)
        return PointMassMixture(spec.point_mass.p, spec.point_mass.value, base, label=spec.label)  # type: ignore[arg-type]
    raise TypeError(spec)


# -- contracts ------------------------------------------------------------------------------------------

def _position(doc: ContractDocument, terms: Any, investor: str | None) -> tuple[tuple[str, ...], float,
                                                                               tuple[tuple[date, float], ...]]:
    """Investor organisations, capital and drawdowns of the position (all investors, or one)."""
    start = _start(doc)
    if investor is None:
        investors = tuple(sorted(terms.investors))
        draws = tuple((d or start, float(a)) for d, a in terms.capital_outflows)
        return investors, float(terms.investor_capital), draws
    invs = [i for i in doc.investments if i.investor == investor
            and i.tranche not in (TrancheType.GRANT, TrancheType.GUARANTEE)]
    if not invs:
        raise ValueError(f"{doc.id}: {investor!r} holds no investment in this contract "
                         f"(investors: {', '.join(sorted(terms.investors)) or 'none'})")
    draws_l: list[tuple[date, float]] = []
    capital = 0.0
    for inv in invs:
        money = inv.drawn or inv.committed
        if inv.drawdowns:
            for d in inv.drawdowns:
                draws_l.append((partial_date_start(d.date), float(d.amount)))
            capital += float(sum(d.amount for d in inv.drawdowns))
        elif money is not None:
            draws_l.append((start, float(money.amount)))
            capital += float(money.amount)
    if capital <= 0:
        raise ValueError(f"{doc.id}: investor {investor!r} has no stated capital")
    return (investor,), capital, tuple(draws_l)


def _start(doc: ContractDocument) -> date:
    for value in (doc.dates.service_start, doc.dates.signed):
        if value:
            return partial_date_start(value)
    raise ValueError(f"{doc.id}: no service_start or signed date to place the capital drawdown")


def _payment_date(doc: ContractDocument, terms: Any, start: date, override: str | None) -> tuple[date, str | None]:
    if override:
        return partial_date_start(override), None
    probe = terms.evaluate({n: (False if str(k) == "binary" else 0.0) for n, k in terms.outcome_kinds.items()})
    dated = [f.date for f in probe.flows if f.date is not None]
    if dated:
        return max(dated), None
    for value in (doc.dates.evaluation_end, doc.dates.actual_completion, doc.dates.anticipated_completion,
                  doc.dates.service_end):
        if value:
            return partial_date_end(value), None
    y, m = divmod(start.month - 1 + DEFAULT_TERM_MONTHS, 12)
    return date(start.year + y, m + 1, 1), (
        f"no payment date in the terms or the contract's dates: assumed {DEFAULT_TERM_MONTHS} months after start")


def _first_target(doc: ContractDocument, metric: str) -> float | None:
    m = next((x for x in doc.outcome_metrics if x.id == metric), None)
    if m is None or not m.targets:
        return None
    return float(min(t.value for t in m.targets))


def _max_loss(text: str | None) -> float | None:
    """The leading percentage of ``finance.max_potential_loss`` ("60 % of ..." -> 0.6), if any."""
    if not text:
        return None
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*%", text)
    return float(m.group(1)) / 100 if m else None


def contract_model(
    doc: ContractDocument,
    terms: Any,
    *,
    models: Mapping[str, Any] | None = None,
    delay: DelaySpec | None = None,
    loadings: LoadingsSpec | None = None,
    metric_correlation: float = 0.6,
    investor: str | None = None,
    payment_date: str | None = None,
    holding_amount: float | None = None,
    priors: CalibratedPriors | None = None,
    as_of: date | None = None,
    exclude: str | None = None,
) -> ContractModel:
    """A :class:`portfolio.ContractModel` from a contract document and its compiled terms.

    ``models`` maps metric ids to model specs (or to ready outcome models); metrics the terms read
    without a model get the sector's default prior (flagged). A contract whose payment terms are not
    known (no payment rules) gets the sector's repayment prior (:class:`portfolio.priors.DefaultPayoff`),
    flagged ``payment_terms`` in ``default_prior``. With ``priors``, those defaults are calibrated on the
    recorded results of comparable contracts (:mod:`registry.calibration`), using only evidence dated before
    ``as_of`` when it is given and never the results of contract ``exclude``.
    """
    models = dict(models or {})
    if not terms.payment_ids:
        return _default_payoff_model(doc, terms, models=models, loadings=loadings, investor=investor,
                                     payment_date=payment_date, holding_amount=holding_amount, priors=priors,
                                     as_of=as_of, exclude=exclude)
    unused = sorted(set(models) - set(terms.outcome_names))
    if unused:
        raise ValueError(f"{doc.id}: outcome model(s) for {', '.join(unused)}, which the payment terms do not read "
                         f"(they read: {', '.join(terms.outcome_names) or 'nothing'})")
    sector = str(doc.classification.policy_sector)
    investors, capital, draws = _position(doc, terms, investor)
    outcomes: dict[str, Any] = {}
    defaults: list[str] = []
    for name in terms.outcome_names:
        kind = str(terms.outcome_kinds[name])
        spec = models.get(name)
        if spec is None:
            metric = next((m for m in doc.outcome_metrics if m.id == name), None)
            money = metric is not None and metric.unit == doc.finance.currency and kind == "continuous"
            calibrated = priors.metric(sector, kind, doc.classification.country, before=as_of,
                                       exclude=exclude) if priors else None
            try:
                outcomes[name] = default_model(
                    sector, kind, target=_first_target(doc, name), scale=capital if money and capital > 0 else None,
                    p_success=calibrated.p if calibrated else None,
                    label=calibrated.label(f"{name} reaches its target") if calibrated else None)
            except ValueError:
                raise ValueError(
                    f"{doc.id}: metric {name!r} ({kind}) has no target to set a default prior from; give its "
                    f"model in outcome_models.{doc.id}.{name}") from None
            defaults.append(name)
        else:
            model = spec if not isinstance(spec, BaseModel) else _model(spec)
            if (kind == "binary") != isinstance(model, Bernoulli):
                raise ValueError(f"{doc.id}: metric {name!r} is {kind}: "
                                 + ("give a bernoulli model" if kind == "binary" else "a bernoulli model fits only "
                                    "binary metrics"))
            outcomes[name] = model
    start = _start(doc)
    pay_date, note = _payment_date(doc, terms, start, payment_date)
    vehicle = doc.payment_terms.waterfall.payer if doc.payment_terms and doc.payment_terms.waterfall else None
    payers = [o.id for o in doc.parties_with_role(Role.OUTCOME_PAYER) if o.id != vehicle]
    if doc.payment_terms:
        for rule in doc.payment_terms.payments:
            if rule.payer not in payers and rule.payer != vehicle and rule.payer not in terms.investors:
                payers.append(rule.payer)
    guarantors = [o.id for o in doc.parties_with_role(Role.GUARANTOR)]
    if doc.payment_terms and doc.payment_terms.waterfall:
        guarantors += [s.by for s in doc.payment_terms.waterfall.steps if s.by and s.by not in guarantors]
    delay_model = None
    if delay is not None:
        months = _model(delay.months)
        if isinstance(months, Bernoulli):
            raise ValueError(f"{doc.id}: a delay distribution cannot be bernoulli")
        bad = sorted(set(delay.metrics) - set(terms.outcome_names))
        if bad:
            raise ValueError(f"{doc.id}: delay metrics {', '.join(bad)} are not read by the payment terms")
        delay_model = DelayModel(months, delay.effect, delay.window_months, tuple(delay.metrics),
                                    tuple(delay.components), delay.label)
    lo = loadings or LoadingsSpec()
    return ContractModel(
        id=doc.id, payoff=terms, outcomes=outcomes, capital=capital, currency=doc.finance.currency,
        country=doc.classification.country, sector=sector, start=start, default_payment_date=pay_date,
        payers=tuple(payers), guarantors=tuple(guarantors), investors=investors, drawdowns=draws,
        name=doc.name("en"), loadings=FactorLoadings(lo.global_, lo.country, lo.payer, lo.sector),
        delay=delay_model, metric_correlation=metric_correlation, default_prior=tuple(defaults),
        documented_max_loss=_max_loss(doc.finance.max_potential_loss), notes=(note,) if note else (),
    )


def _default_payoff_model(
    doc: ContractDocument,
    terms: Any,
    *,
    models: Mapping[str, Any],
    loadings: LoadingsSpec | None,
    investor: str | None,
    payment_date: str | None,
    holding_amount: float | None,
    priors: CalibratedPriors | None = None,
    as_of: date | None = None,
    exclude: str | None = None,
) -> ContractModel:
    unused = sorted(set(models) - {"success"})
    if unused:
        raise ValueError(f"{doc.id}: the contract has no executable payment terms, so only a 'success' model "
                         f"(bernoulli) applies; got models for {', '.join(unused)}")
    sector = str(doc.classification.policy_sector)
    notes = [f"payment terms unknown: sector repayment prior ({sector})"]
    start = _start(doc)
    if terms.investor_capital > 0 or investor is not None:
        investors, capital, draws = _position(doc, terms, investor)
    else:
        cap = doc.finance.capital_drawn or doc.finance.capital_committed
        if cap is not None and (cap.currency in (None, doc.finance.currency)):
            capital = float(cap.amount)
            notes.append("capital from finance (no investment amounts)")
        elif holding_amount is not None:
            capital = holding_amount
            notes.append("capital from the holding amount (the contract states none)")
        else:
            raise ValueError(f"{doc.id}: the contract states no investor capital; hold it with an amount")
        investors, draws = (), ((start, capital),)
    payee = investors[0] if investors else "investor"
    pay_date, note = _payment_date(doc, terms, start, payment_date)
    if note:
        notes.append(note)
    payers = [o.id for o in doc.parties_with_role(Role.OUTCOME_PAYER)] or [f"{doc.id}-payer"]
    target = float(doc.finance.target_irr.value) if doc.finance.target_irr else DEFAULT_TARGET_RETURN
    max_loss = _max_loss(doc.finance.max_potential_loss)
    years = (pay_date - start).days / 365.25
    payoff = DefaultPayoff(capital, years, payers[0], payee, pay_date, target_return=target,
                           max_loss=max_loss if max_loss is not None else DEFAULT_MAX_LOSS)
    spec = models.get("success")
    defaults = ["payment_terms"]
    if spec is None:
        calibrated = priors.repayment(sector, doc.classification.country, before=as_of,
                                      exclude=exclude) if priors else None
        if calibrated is not None:
            model: Any = Bernoulli(calibrated.p, label=calibrated.label("investors repaid in full"))
        else:
            model = Bernoulli(sector_prior(sector).p_success, label=f"default prior for sector {sector}")
        defaults.append("success")
    else:
        model = spec if not isinstance(spec, BaseModel) else _model(spec)
        if not isinstance(model, Bernoulli):
            raise ValueError(f"{doc.id}: 'success' is binary: give a bernoulli model")
    lo = loadings or LoadingsSpec()
    return ContractModel(
        id=doc.id, payoff=payoff, outcomes={"success": model}, capital=capital, currency=doc.finance.currency,
        country=doc.classification.country, sector=sector, start=start, default_payment_date=pay_date,
        payers=tuple(payers), investors=(payee,), drawdowns=draws, name=doc.name("en"),
        loadings=FactorLoadings(lo.global_, lo.country, lo.payer, lo.sector), default_prior=tuple(defaults),
        documented_max_loss=max_loss, notes=tuple(notes),
    )


def _check_reaches_investors(model: ContractModel) -> None:
    """An investor holding whose contract never pays its investors is a data gap, not a 100 % loss."""
    combos = extreme_outcomes(model)
    n = len(next(iter(combos.values())))
    if float(np.max(position_repayment(model, evaluate_outcomes(model, combos), n))) <= 0:
        raise ValueError(
            f"{model.id}: no payment in the terms reaches the investors ({', '.join(model.investors) or 'none'}) "
            "in any outcome (no waterfall to them?); hold it as role: payer or fix the contract's terms")


def build_portfolio(
    spec: PortfolioFile,
    *,
    source: str = "<portfolio>",
    get_contract: Callable[[str], ContractDocument | None] | None = None,
    priors: CalibratedPriors | None = None,
    rates: RateTable | None = None,
) -> Portfolio:
    """Resolve holdings (inline contracts first, then ``get_contract``) and build the portfolio.

    ``get_contract`` is usually ``lambda cid: registry.services.contracts.get_contract(session=s, contract_id=cid)``;
    ``priors`` (usually ``CalibratedPriors.from_session(s)``) calibrates default outcome models on the
    recorded results of comparable contracts (never a contract's own).
    ``rates`` (usually ``load_rate_table(session=s)``; default: the shipped tables) gives the reference exchange
    rate of a currency the file states no ``fx`` rate for; a stated rate always wins. The portfolio records each
    rate used and its origin in ``fx_rates`` and ``fx_sources``.
    Every problem is collected and raised at once as a :class:`PortfolioFileError`.
    """
    errors: list[tuple[str, str]] = []
    inline: dict[str, tuple[ContractDocument, Any]] = {}
    for i, raw in enumerate(spec.contracts):
        loc = f"contracts[{i}]"
        try:
            doc = ContractDocument.model_validate(raw)
        except ValidationError as exc:
            for e in exc.errors():
                errors.append((loc + "." + _loc(tuple(e["loc"])) if e["loc"] else loc, e["msg"]))
            continue
        try:
            inline[doc.id] = (doc, compile_terms(doc, source=f"{source}: {loc}"))
        except TermsError as exc:
            errors.extend((f"{loc}.{issue.path}", issue.reason) for issue in exc.errors)
    cache: dict[str, tuple[ContractDocument, Any] | None] = dict(inline)
    holdings: list[Holding] = []
    fx_used: dict[str, dict[str, Any]] = {c: {"rate": r, "origin": "stated"} for c, r in spec.fx.items()}
    for i, h in enumerate(spec.holdings):
        loc = f"holdings[{i}]"
        if h.contract not in cache:
            doc = get_contract(h.contract) if get_contract else None
            if doc is None:
                cache[h.contract] = None
            else:
                try:
                    cache[h.contract] = (doc, compile_terms(doc, source=f"registry: {doc.id}"))
                except TermsError as exc:
                    errors.append((loc + ".contract", f"{h.contract}: payment terms do not compile: {exc}"))
                    continue
        found = cache.get(h.contract)
        if found is None:
            where = "the registry" if get_contract else "this file (no registry connection)"
            errors.append((loc + ".contract", f"no contract {h.contract!r} in {where} or in the inline contracts"))
            continue
        doc, terms = found
        if getattr(terms, "amount_unit", None):
            errors.append((loc + ".contract", f"{h.contract}: its payment terms count in {terms.amount_unit}, not "
                                              f"in {doc.finance.currency}, so they cannot enter money totals"))
            continue
        models = {**spec.outcome_models.get(h.contract, {}), **h.outcome_models}
        cur = doc.finance.currency
        rate = _rate_for(cur, spec, rates, fx_used)
        if rate is None:
            errors.append(("fx", f"no exchange rate for {cur} (holding {h.contract}); state fx.{cur} in "
                                 f"{spec.base_currency} per {cur}"))
            rate = 1.0  # a stand-in, so that the holding's own problems are reported too, all at once
        try:
            model = contract_model(
                doc, terms, models=models, delay=h.delay or spec.delays.get(h.contract),
                loadings=h.loadings or spec.loadings,
                metric_correlation=h.metric_correlation if h.metric_correlation is not None
                else spec.metric_correlation,
                investor=h.investor, payment_date=h.payment_date, holding_amount=h.amount,
                priors=priors, exclude=doc.id,
            )
            if h.role == "payer":
                holdings.append(Holding(model, fx_rate=rate, label=h.label, position=False))
                continue
            if not model.capital > 0:
                raise ValueError(f"{h.contract}: the contract states no investor capital: hold it as role: payer "
                                 "(exposure of its payers only)")
            _check_reaches_investors(model)
            weight = h.share if h.share is not None else h.amount / model.capital  # type: ignore[operator]
            holdings.append(Holding(model, weight=weight, fx_rate=rate, label=h.label))
        except ValueError as exc:
            errors.append((loc, str(exc)))
    for cid in spec.outcome_models:
        if cid not in {h.contract for h in spec.holdings}:
            errors.append((f"outcome_models.{cid}", "no holding refers to this contract"))
    if errors:
        raise PortfolioFileError(source, errors)
    return Portfolio(
        holdings=tuple(holdings), base_currency=spec.base_currency, copula=spec.copula.family, df=spec.copula.df,
        n_scenarios=spec.scenarios, seed=spec.seed, name=spec.name, hurdle_rate=spec.hurdle_rate,
        fx_rates={c: used["rate"] for c, used in fx_used.items()}, fx_sources=fx_used,
    )


def _rate_for(cur: str, spec: PortfolioFile, rates: RateTable | None,
              used: dict[str, dict[str, Any]]) -> float | None:
    """``spec.base_currency`` per ``cur``: 1, the stated ``fx`` rate, or the reference rate (recorded in
    ``used`` with its year and source); None when there is none."""
    if cur == spec.base_currency:
        return 1.0
    if cur in used:
        return float(used[cur]["rate"])
    try:
        quote = (rates or shipped_rate_table()).fx(cur, spec.base_currency, spec.fx_year)
    except NoRate:
        return None
    used[cur] = {
        "rate": float(quote.rate), "origin": "reference", "year": quote.year, "requested_year": spec.fx_year,
        "source": quote.source, "source_urls": sorted({p.source_url for p in quote.legs}),
        "days": {p.currency: int(p.detail["days"]) for p in quote.legs if p.detail.get("days")},
        # A year still running in the source is a mean to date: the earliest last day of the legs says which.
        "to_date": min((p.detail["last_date"] for p in quote.legs if p.detail.get("last_date")), default=None),
        "overridden": quote.overridden,
    }
    return float(quote.rate)


def load_portfolio(
    path: str | Path, *, get_contract: Callable[[str], ContractDocument | None] | None = None,
    priors: CalibratedPriors | None = None,
) -> Portfolio:
    """Read, validate and build a portfolio file in one call."""
    spec = load_portfolio_file(path)
    return build_portfolio(spec, source=str(path), get_contract=get_contract, priors=priors)
