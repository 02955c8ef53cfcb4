"""The shared contract schema: one document per outcomes contract, Swedish or international.

A contract document is what a seed file (``seed_contracts/*.yaml``) holds, what the INDIGO importer
produces and what the web editor writes. It is validated with pydantic at every boundary and stored
whole (``model_dump(mode="json")``) beside a few queryable columns (see ``registry.models``).

Provenance: every fact group carries ``sources`` (ids into the document's ``sources`` list), a
``confidence`` and a ``note``. A stated figure needs at least one source unless its confidence is
``unverified``; where sources disagree the fact carries ``alternatives`` and is ``disputed``.

Money is exact: amounts are :class:`decimal.Decimal` with their ISO 4217 currency.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from babel import Locale
from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

SCHEMA_VERSION = "utfall-contract/1"

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
IDENT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
PARTIAL_DATE_RE = re.compile(r"^\d{4}(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?)?$")


def _check_partial_date(value: str) -> str:
    if not PARTIAL_DATE_RE.match(value):
        raise ValueError(f"{value!r} is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD")
    if len(value) == 10:
        date.fromisoformat(value)  # rejects 2021-02-30
    return value


# CLDR region codes that are not countries: European Union, eurozone, outlying Oceania, United Nations,
# pseudo-locales and "unknown region".
_NOT_COUNTRIES = frozenset({"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"})


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes as Babel's CLDR data knows them (Kosovo's XK included)."""
    return frozenset(code for code in Locale("en").territories
                     if re.fullmatch(r"[A-Z]{2}", code) and code not in _NOT_COUNTRIES)


@cache
def currency_codes() -> frozenset[str]:
    """ISO 4217 currency codes, current and historical, from Babel's CLDR data."""
    return frozenset(list_currencies())


def _check_currency(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (three capital letters)")
    if value not in currency_codes():
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _check_country(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", value) or value not in country_codes():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


def _check_http_url(value: str) -> str:
    # Only http(s) links: a javascript:, data: or file: URL in a source would run or open something in the
    # reader's browser when clicked. Whitespace and control characters are refused too, since browsers
    # strip them ("java\tscript:" is javascript:).
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{value[:80]!r} is not a URL: it contains spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value[:80]!r} is not an http or https URL (e.g. https://example.org/report.pdf)")
    return value


def is_http_url(value: object) -> bool:
    """Whether ``value`` is a URL the schema accepts (http or https), i.e. one that may become a link."""
    if not isinstance(value, str):
        return False
    try:
        _check_http_url(value)
    except ValueError:
        return False
    return True


PartialDate = Annotated[str, AfterValidator(_check_partial_date)]
"""An ISO date that may be partial: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``."""
CurrencyCode = Annotated[str, AfterValidator(_check_currency)]
CountryCode = Annotated[str, AfterValidator(_check_country)]
HttpUrl = Annotated[str, Field(max_length=2000), AfterValidator(_check_http_url)]
"""A web address: http or https only."""
Slug = Annotated[str, Field(pattern=SLUG_PATTERN, min_length=2, max_length=80)]
Identifier = Annotated[str, Field(pattern=IDENT_PATTERN, max_length=64)]


def partial_date_start(value: str) -> date:
    """The first day a partial date can mean (``2016-07`` → 2016-07-01)."""
    parts = value.split("-")
    return date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1)


def partial_date_end(value: str) -> date:
    """The last day a partial date can mean (``2019-03`` → 2019-03-31, ``2019`` → 2019-12-31)."""
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 1:
        return date(parts[0], 12, 31)
    if len(parts) == 2:
        return date(parts[0], parts[1], calendar.monthrange(parts[0], parts[1])[1])
    return date(parts[0], parts[1], parts[2])


MAX_TEXT_LENGTH = 20_000
"""The longest any text field may be (notes, descriptions, summaries); names and titles are shorter.
INDIGO's longest text is ~2,600 characters. Bounded so that one contract cannot swamp a page, a fact sheet
or the database (a 1 MB field was once accepted)."""
MAX_NAME_LENGTH = 500
MAX_YAML_BYTES = 2 * 1024 * 1024
"""The largest contract file (or YAML text in the editor) read at all; checked before parsing."""
MAX_TITLE_LENGTH = 2_000  # INDIGO source titles carry their citation and reach ~1,400 characters

Name = Annotated[str, Field(max_length=MAX_NAME_LENGTH)]

MAX_ABS_NUMBER = Decimal("1e15")
"""The largest magnitude any stated number may have: above every amount in any currency INDIGO records, and
small enough that it stays finite and exact as a float in the simulation (``1e400`` once became infinity)."""


def _check_magnitude(value: Decimal) -> Decimal:
    if abs(value) > MAX_ABS_NUMBER:
        raise ValueError(f"{value} is larger in magnitude than {MAX_ABS_NUMBER:,f}, more than any real figure")
    return value


ExactNumber = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(_check_magnitude)]
"""An exact decimal figure (an amount, a rate, a count) stated in a document."""
NonNegativeNumber = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), AfterValidator(_check_magnitude)]


class Strict(BaseModel):
    """Base for every document part: unknown keys are errors, so a typo never passes silently; no text
    longer than :data:`MAX_TEXT_LENGTH` (fields may set a lower cap)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=True,
                              str_max_length=MAX_TEXT_LENGTH)


class Confidence(StrEnum):
    VERIFIED = "verified"
    SECONDARY = "secondary"
    UNVERIFIED = "unverified"
    DISPUTED = "disputed"


class Stage(StrEnum):
    DESIGN = "design"
    CONTRACTED = "contracted"
    IMPLEMENTATION = "implementation"
    SERVICE_DELIVERY_COMPLETE = "service_delivery_complete"
    COMPLETE = "complete"
    TERMINATED = "terminated"


class Role(StrEnum):
    OUTCOME_PAYER = "outcome_payer"  # utfallsansvarig
    INVESTOR = "investor"  # finansiär
    PROVIDER = "provider"  # utförare
    INTERMEDIARY = "intermediary"  # intermediär
    EVALUATOR = "evaluator"
    GUARANTOR = "guarantor"
    TECHNICAL_ADVISER = "technical_adviser"
    OTHER = "other"


class TrancheType(StrEnum):
    SENIOR = "senior"
    SUBORDINATED = "subordinated"
    FIRST_LOSS = "first_loss"
    GRANT = "grant"
    GUARANTEE = "guarantee"
    EQUITY = "equity"
    OTHER = "other"


class PolicySector(StrEnum):
    """INDIGO's policy-sector codelist, as slugs."""

    EMPLOYMENT_AND_TRAINING = "employment_and_training"
    HEALTH = "health"
    EDUCATION = "education"
    CHILD_AND_FAMILY_WELFARE = "child_and_family_welfare"
    HOMELESSNESS = "homelessness"
    CRIMINAL_JUSTICE = "criminal_justice"
    AGRICULTURE_AND_ENVIRONMENT = "agriculture_and_environment"
    POVERTY_REDUCTION = "poverty_reduction"
    OTHER = "other"


class MetricKind(StrEnum):
    BINARY = "binary"
    CONTINUOUS = "continuous"
    COUNT = "count"
    RATE = "rate"


class MeasurementMethod(StrEnum):
    RCT = "rct"
    MATCHED_COMPARISON = "matched_comparison"
    HISTORICAL_BASELINE = "historical_baseline"
    PRE_POST = "pre_post"
    VALIDATED_ADMINISTRATIVE = "validated_administrative"
    DESCRIPTIVE = "descriptive"
    OTHER = "other"
    UNKNOWN = "unknown"


class PaymentComponent(StrEnum):
    GUARANTEE = "guarantee"
    OUTCOME = "outcome"
    PREMIUM = "premium"
    FEE = "fee"
    INTEREST = "interest"
    PRINCIPAL = "principal"


class OrganisationType(StrEnum):
    LOCAL_GOVERNMENT = "local_government"
    REGIONAL_GOVERNMENT = "regional_government"
    CENTRAL_GOVERNMENT = "central_government"
    PUBLIC_BODY = "public_body"
    PRIVATE_COMPANY = "private_company"
    FINANCIAL_INSTITUTION = "financial_institution"
    NON_PROFIT = "non_profit"
    FOUNDATION = "foundation"
    ACADEMIC = "academic"
    INDIVIDUAL = "individual"
    OTHER = "other"
    UNKNOWN = "unknown"


class Source(Strict):
    """A document a fact rests on."""

    id: Annotated[str, Field(min_length=1, max_length=80)]
    title: Annotated[str, Field(max_length=MAX_TITLE_LENGTH)]
    publisher: Annotated[str, Field(max_length=MAX_TITLE_LENGTH)] | None = None
    date: PartialDate | None = None
    url: HttpUrl | None = None
    accessed: PartialDate | None = None
    attribution: str | None = Field(
        default=None, description="Attribution that must accompany facts from this source (e.g. GO Lab)."
    )


class Alternative(Strict):
    """A competing reading of a fact, kept with its own sources."""

    value: Any
    sources: list[str] = Field(default_factory=list)
    note: str | None = None


class Provenanced(Strict):
    """A fact group: what it says, where it comes from, how sure we are."""

    sources: list[str] = Field(default_factory=list)
    confidence: Confidence = Confidence.UNVERIFIED
    note: str | None = None
    alternatives: list[Alternative] = Field(default_factory=list)

    @model_validator(mode="after")
    def _needs_source_unless_unverified(self) -> Provenanced:
        if self.confidence in (Confidence.VERIFIED, Confidence.SECONDARY) and not self.sources:
            raise ValueError(
                f"confidence {self.confidence!s} needs at least one source id; "
                "a fact without a source must be marked unverified"
            )
        if self.alternatives and self.confidence != Confidence.DISPUTED:
            raise ValueError("a fact with alternatives must have confidence 'disputed'")
        return self


class LocalizedText(Strict):
    sv: str | None = None
    en: str | None = None

    @model_validator(mode="after")
    def _one_language(self) -> LocalizedText:
        if not (self.sv or self.en):
            raise ValueError("give the text in Swedish (sv), English (en) or both")
        return self

    def get(self, lang: str) -> str:
        """The text in ``lang``, falling back to the other language."""
        primary, fallback = (self.sv, self.en) if lang == "sv" else (self.en, self.sv)
        return primary or fallback or ""


class Money(Strict):
    """An exact amount in a currency. ``currency`` defaults to the contract's currency."""

    amount: ExactNumber
    currency: CurrencyCode | None = None


class MoneyFact(Provenanced):
    amount: ExactNumber
    currency: CurrencyCode | None = None
    amount_usd: ExactNumber | None = None
    bound: Literal["exact", "min", "max"] = "exact"


class NumberFact(Provenanced):
    value: ExactNumber
    unit: str | None = None


class Identity(Strict):
    names: LocalizedText
    alternative_names: list[Name] = Field(default_factory=list)


class Classification(Provenanced):
    country: CountryCode
    region: str | None = Field(default=None, description="Region or municipality (kommun/region).")
    policy_sector: PolicySector
    social_challenge: str | None = None
    intervention: str | None = None


class Dates(Provenanced):
    signed: PartialDate | None = None
    service_start: PartialDate | None = None
    service_end: PartialDate | None = None
    evaluation_end: PartialDate | None = None
    anticipated_completion: PartialDate | None = None
    actual_completion: PartialDate | None = None


class Finance(Strict):
    """The contract's money in one place; each figure carries its own provenance."""

    currency: CurrencyCode
    capital_committed: MoneyFact | None = None
    capital_drawn: MoneyFact | None = None
    max_outcome_payment: MoneyFact | None = None
    total_outcome_payments_made: MoneyFact | None = None
    target_irr: NumberFact | None = None
    realised_irr: NumberFact | None = None
    max_potential_loss: str | None = Field(default=None, description="As stated, e.g. '100%' or text.")
    investor_repayment: str | None = Field(
        default=None, description="What investors got back, as stated (e.g. 'in full', 'partly', 'nothing')."
    )
    investor_repayment_provenance: Provenanced | None = Field(
        default=None, description="Where the statement of investor repayment comes from (its source ids).")


class Organisation(Strict):
    id: Slug
    name: Name
    type: OrganisationType = OrganisationType.UNKNOWN
    country: CountryCode | None = None
    indigo_id: str | None = None
    website: HttpUrl | None = None


class Party(Provenanced):
    """An organisation and the roles it plays in this contract, with the period it played them."""

    organisation: Slug
    roles: list[Role] = Field(min_length=1)
    description: str | None = None
    start: PartialDate | None = None
    end: PartialDate | None = None


class Drawdown(Strict):
    date: PartialDate
    amount: ExactNumber


class Investment(Provenanced):
    """A tranche of capital (or a guarantee) provided by an investor."""

    id: Identifier
    investor: Slug
    tranche: TrancheType
    committed: Money | None = None
    drawn: Money | None = None
    amount_bound: Literal["exact", "min", "max"] = "exact"
    drawdowns: list[Drawdown] = Field(default_factory=list)
    target_return: ExactNumber | None = Field(default=None, description="Annual rate, e.g. 0.05 for 5 %.")
    description: str | None = None


class TargetPopulation(Provenanced):
    description: LocalizedText | None = None
    age_range: tuple[int, int] | None = None
    targeted_participants: int | None = Field(default=None, ge=0)
    actual_participants: int | None = Field(default=None, ge=0)
    unit: str | None = Field(default=None, description="Unit of participants (persons, families, ...).")


class Threshold(Strict):
    value: ExactNumber
    description: str | None = None


class OutcomeMetric(Provenanced):
    id: Identifier
    name: LocalizedText
    unit: str | None = None
    kind: MetricKind
    definition: str | None = None
    measurement: MeasurementMethod = MeasurementMethod.UNKNOWN
    comparison: str | None = Field(default=None, description="What the outcome is compared against.")
    baseline: Threshold | None = None
    targets: list[Threshold] = Field(default_factory=list)
    payment_relevant: bool = True


class Parameter(Provenanced):
    """A named constant the payment terms refer to: a number, an amount or a rate card."""

    value: ExactNumber | None = None
    rate_card: dict[str, ExactNumber] | None = Field(
        default=None, description="Price per unit of each outcome metric, for rate_card(name)."
    )
    unit: str | None = None
    description: str | None = None
    derived: bool = Field(
        default=False,
        description="The value is worked back from a recorded result because no source gives it: a back-test "
                    "that reproduces that result with it is circular, so it cannot say yes.",
    )

    @model_validator(mode="after")
    def _value_or_card(self) -> Parameter:
        if (self.value is None) == (self.rate_card is None):
            raise ValueError("a parameter has either a value or a rate_card")
        return self


class Timing(Strict):
    """When a payment falls due: a (partial) date, or months after service start."""

    date: PartialDate | None = None
    months_after_start: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Timing:
        if (self.date is None) == (self.months_after_start is None):
            raise ValueError("give exactly one of date or months_after_start")
        return self


PERIOD_LABEL_PATTERN = r"^[A-Za-z0-9_](?:[A-Za-z0-9_. -]{0,30}[A-Za-z0-9_.-])?$"
PeriodLabel = Annotated[str, Field(pattern=PERIOD_LABEL_PATTERN)]


class Period(Strict):
    """One period or cohort of a schedule: a label (how measurements name it) and the day it pays."""

    label: PeriodLabel
    date: PartialDate = Field(description="Payment day of the period; a partial date means its last day.")
    description: str | None = None


class Schedule(Strict):
    """Named periods or cohorts: rules with ``per`` pay once in each; ``metrics`` are measured in each.

    An outcome of a scheduled metric is given per period as ``metric[label]`` (see docs/payment-terms.md).
    """

    periods: list[Period] = Field(min_length=1)
    metrics: list[Identifier] = Field(
        default_factory=list, description="Outcome metrics with one value per period (cohort) of this schedule."
    )
    description: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Schedule:
        labels = [p.label for p in self.periods]
        for i, label in enumerate(labels):
            if label in labels[:i]:
                raise ValueError(f"periods[{i}].label: duplicate period label {label!r}")
        ends = [partial_date_end(p.date) for p in self.periods]
        for i in range(1, len(ends)):
            if ends[i] < ends[i - 1]:
                raise ValueError(f"periods[{i}].date: periods must be in date order")
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError("metrics: a metric is listed twice")
        return self


class PaymentRule(Strict):
    """One payment stream: who pays whom how much (a formula) and when.

    With ``per``, the rule pays once in every period of that schedule, on the period's date.
    """

    id: Identifier
    component: PaymentComponent
    payer: Slug
    payee: Slug
    amount: str = Field(description="A formula in the payment-terms language (registry.terms).")
    tags: list[str] = Field(default_factory=list)
    timing: Timing | None = None
    per: Identifier | None = Field(default=None, description="A schedule: the rule pays once per period of it.")
    description: str | None = None


class WaterfallStep(Strict):
    """One step of the ordered distribution of what the payers pay.

    ``pay``: the investment ``to`` receives ``min(available, claim)``; with a list of investments they share
    it pro rata to their capital.
    ``guarantee``: guarantor ``by`` pays the unpaid part of ``to``'s claim, up to ``limit``.
    ``fee``: organisation ``payee`` (a manager, the intermediary) receives ``min(available, claim)``.
    ``residual``: whatever is left goes to ``to`` (pro rata over a list).
    """

    step: Literal["pay", "guarantee", "residual", "fee"]
    to: Identifier | list[Identifier] | None = Field(
        default=None, description="Investment id receiving the money (a list: shared pro rata to capital)."
    )
    payee: Slug | None = Field(default=None, description="Organisation receiving a fee step.")
    by: Slug | None = Field(default=None, description="Guarantor organisation (guarantee steps).")
    claim: str | None = Field(default=None, description="Formula: what this step is owed (in total).")
    limit: str | None = Field(default=None, description="Formula: most this step pays.")
    component: PaymentComponent = PaymentComponent.PRINCIPAL
    description: str | None = None

    @model_validator(mode="after")
    def _target(self) -> WaterfallStep:
        if self.step == "fee":
            if self.payee is None or self.to is not None:
                raise ValueError("a fee step pays an organisation: give payee, not to")
        else:
            if self.to is None or self.payee is not None:
                raise ValueError(f"a {self.step} step pays an investment: give to, not payee")
            if isinstance(self.to, list) and (self.step == "guarantee" or not self.to):
                raise ValueError("only pay and residual steps share among a (non-empty) list of investments")
        return self

    @property
    def investments(self) -> list[str]:
        """The investment ids this step pays (empty for a fee)."""
        if self.to is None:
            return []
        return list(self.to) if isinstance(self.to, list) else [self.to]


class Waterfall(Strict):
    """Distributes the payments tagged as inflows over the investments, in order.

    With ``per``, the waterfall runs once per period of that schedule on that period's inflows; claims are
    totals over the whole contract, so each period pays what earlier periods left unpaid.
    """

    inflow: list[Identifier] = Field(
        min_length=1, description="Ids of the payment rules whose amounts enter the waterfall."
    )
    payer: Slug = Field(description="The vehicle or organisation that distributes (e.g. the SPV, MDRC).")
    steps: list[WaterfallStep] = Field(min_length=1)
    timing: Timing | None = None
    per: Identifier | None = Field(default=None, description="A schedule: distribute once per period.")


class AlternativeTerms(Strict):
    """Another reading of the terms that some source gives, kept for the record and evaluable.

    ``payments``, when given, replace the primary rules as a whole (a complete reading); ``parameters``
    replace the values of named primary parameters (e.g. the drawn instead of the committed capital).
    """

    description: str
    sources: list[str] = Field(default_factory=list)
    payments: list[PaymentRule] = Field(default_factory=list)
    parameters: dict[Identifier, ExactNumber] = Field(default_factory=dict)


class PaymentTerms(Provenanced):
    """Executable payment terms. ``status`` says whether a curator wrote them or the importer derived them."""

    status: Literal["curated", "derived"] = "curated"
    derived_from: list[str] = Field(
        default_factory=list, description="For derived terms: the data fields they were computed from."
    )
    summary: LocalizedText | None = None
    amount_unit: str | None = Field(
        default=None,
        description="Set when the formulas yield something other than the contract currency "
        "(e.g. shares of a provider's full fee whose amount is unknown); such terms never enter money totals.",
    )
    parameters: dict[Identifier, Parameter] = Field(default_factory=dict)
    schedules: dict[Identifier, Schedule] = Field(
        default_factory=dict, description="Named periods or cohorts that rules pay per (see PaymentRule.per)."
    )
    payments: list[PaymentRule] = Field(default_factory=list)
    waterfall: Waterfall | None = None
    investor_capital: str | None = Field(
        default=None, description="Formula for the investor capital at risk (defaults to drawn, else committed)."
    )
    unknowns: list[str] = Field(default_factory=list, description="What the sources leave open.")
    alternative_readings: list[AlternativeTerms] = Field(default_factory=list)


class Governance(Provenanced):
    description: LocalizedText
    body: str | None = Field(default=None, description="e.g. 'insatsråd'")
    frequency: str | None = Field(default=None, description="e.g. 'quarterly'")


class Amendment(Provenanced):
    date: PartialDate
    description: LocalizedText
    field: str | None = None
    old_value: Any = None
    new_value: Any = None


class Measurement(Provenanced):
    metric: Identifier | None = None
    date: PartialDate
    value: ExactNumber | None = None
    n: int | None = None
    description: str | None = None


class OutcomeValue(Provenanced):
    """A measured value of an outcome metric, for one cohort or period or for the whole contract.

    These are the values the payment terms are evaluated on by the back-test (``registry.backtest``):
    a binary metric is 1 (achieved) or 0. ``bound`` says when the source gives only a bound ("more than
    7,000 days" is ``value: 7000, bound: min``).
    """

    metric: Identifier
    cohort: str | None = Field(default=None, max_length=80, description="Cohort or period label, e.g. 'cohort 1'.")
    period_start: PartialDate | None = None
    period_end: PartialDate | None = None
    date: PartialDate | None = Field(default=None, description="When the value was measured or published.")
    value: ExactNumber
    bound: Literal["exact", "min", "max"] = "exact"
    n: int | None = Field(default=None, ge=0, description="Number of people (or units) measured.")
    description: str | None = None


class PaymentMade(Provenanced):
    """A payment that was actually made, in exact money."""

    date: PartialDate | None = None
    payer: Slug | None = None
    payee: Slug | None = None
    amount: ExactNumber
    currency: CurrencyCode
    component: PaymentComponent | None = None
    cohort: str | None = Field(default=None, max_length=80, description="Cohort or period the payment is for.")
    description: str | None = None


class InvestorResult(Provenanced):
    """What an investor put in and got back, as published."""

    investor: Slug
    investment: Identifier | None = Field(default=None, description="The investment (tranche) this result is for.")
    date: PartialDate | None = Field(default=None, description="When the result was settled or published.")
    capital_drawn: Money | None = None
    repaid: Money | None = Field(default=None, description="Everything the investor got back, principal included.")
    irr: ExactNumber | None = Field(default=None, description="Annual internal rate of return, e.g. 0.15 for 15 %.")
    irr_bound: Literal["exact", "min", "max", "about"] = "exact"
    multiple: NonNegativeNumber | None = Field(default=None, description="Repaid / capital drawn.")
    description: str | None = None

    @model_validator(mode="after")
    def _states_something(self) -> InvestorResult:
        if self.capital_drawn is None and self.repaid is None and self.irr is None and self.multiple is None:
            raise ValueError("an investor result states at least one of capital_drawn, repaid, irr or multiple")
        return self


class HistoryUnknown(Strict):
    """A figure of the realised history that no source read settles, and why."""

    about: Literal["outcome", "payment", "investor_result"]
    what: str = Field(min_length=1, description="The figure that is unknown, e.g. 'amount paid to LSV'.")
    reason: str = Field(min_length=1, description="Why it is unknown: what was looked at and what it lacks.")
    metric: Identifier | None = None
    cohort: str | None = Field(default=None, max_length=80)
    investor: Slug | None = None
    sources: list[str] = Field(default_factory=list, description="Sources consulted that leave it open.")


class History(Strict):
    """What actually happened: measured outcomes, payments made, investors' results, and what is unknown.

    ``reading`` names the alternative reading of the payment terms (counted from 1) that describes the
    contract as it was carried out (e.g. the capital actually drawn); without it the primary terms apply.
    """

    reading: int | None = Field(default=None, ge=1)
    outcomes: list[OutcomeValue] = Field(default_factory=list)
    payments: list[PaymentMade] = Field(default_factory=list)
    investor_results: list[InvestorResult] = Field(default_factory=list)
    unknowns: list[HistoryUnknown] = Field(default_factory=list)


class Result(Provenanced):
    summary: LocalizedText
    date: PartialDate | None = None
    metric: Identifier | None = None


class Summary(Provenanced):
    """The contract summarised for readers of one language: what the intervention is, how it is paid and what
    came of it. It states only what the document's sourced facts say, and cites their sources."""

    intervention: str = Field(min_length=1, max_length=1500)
    terms: str | None = Field(default=None, max_length=1500)
    results: str | None = Field(default=None, max_length=1500)


class Milestone(Strict):
    """Something due on a date: a measurement, an insatsråd, an evaluation or a payment."""

    date: PartialDate
    kind: Literal["measurement", "governance", "evaluation", "payment", "other"]
    description: str


class ContractDocument(Strict):
    """One outcomes contract in the shared schema."""

    schema_: Literal["utfall-contract/1"] = Field(default=SCHEMA_VERSION, alias="schema")
    id: Slug
    indigo_id: str | None = Field(default=None, pattern=r"^INDIGO-POJ-\d{4}$")
    origin: Literal["curated", "indigo"] = "curated"
    programme: str | None = Field(default=None, description="Joint programme several contracts belong to.")
    identity: Identity
    classification: Classification
    stage: Stage
    stage_provenance: Provenanced | None = None
    dates: Dates = Field(default_factory=Dates)
    finance: Finance
    organisations: list[Organisation] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list)
    investments: list[Investment] = Field(default_factory=list)
    target_population: TargetPopulation | None = None
    outcome_metrics: list[OutcomeMetric] = Field(default_factory=list)
    payment_terms: PaymentTerms | None = None
    governance: list[Governance] = Field(default_factory=list)
    amendments: list[Amendment] = Field(default_factory=list)
    measurements: list[Measurement] = Field(default_factory=list)
    history: History | None = Field(default=None, description="What actually happened (realised history).")
    results: list[Result] = Field(default_factory=list)
    evaluation_summary: LocalizedText | None = None
    summaries: dict[Literal["sv", "en"], Summary] = Field(
        default_factory=dict, description="Per language: intervention, terms and results in that language.")
    milestones: list[Milestone] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> ContractDocument:
        errors: list[str] = []
        source_ids = [s.id for s in self.sources]
        _dupes("sources", source_ids, errors)
        org_ids = [o.id for o in self.organisations]
        _dupes("organisations", org_ids, errors)
        _dupes("investments", [i.id for i in self.investments], errors)
        _dupes("outcome_metrics", [m.id for m in self.outcome_metrics], errors)
        known_sources, known_orgs = set(source_ids), set(org_ids)
        for path, fact in self.iter_facts():
            cited = list(fact.sources) + [s for alt in fact.alternatives for s in alt.sources]
            for sid in cited:
                if sid not in known_sources:
                    errors.append(f"{path}.sources: unknown source id {sid!r}")
        for i, party in enumerate(self.parties):
            if party.organisation not in known_orgs:
                errors.append(f"parties[{i}].organisation: unknown organisation {party.organisation!r}")
        for i, inv in enumerate(self.investments):
            if inv.investor not in known_orgs:
                errors.append(f"investments[{i}].investor: unknown organisation {inv.investor!r}")
        metric_ids = {m.id for m in self.outcome_metrics}
        for i, m in enumerate(self.measurements):
            if m.metric and m.metric not in metric_ids:
                errors.append(f"measurements[{i}].metric: unknown outcome metric {m.metric!r}")
        self._history_references_resolve(errors, known_sources, known_orgs, metric_ids)
        if self.payment_terms:
            terms = self.payment_terms
            for i, p in enumerate(terms.payments):
                for side in ("payer", "payee"):
                    if getattr(p, side) not in known_orgs:
                        errors.append(
                            f"payment_terms.payments[{i}].{side}: unknown organisation {getattr(p, side)!r}"
                        )
            for i, alt in enumerate(terms.alternative_readings):
                for sid in alt.sources:
                    if sid not in known_sources:
                        errors.append(f"payment_terms.alternative_readings[{i}].sources: unknown source {sid!r}")
            if terms.waterfall:
                inv_ids = {inv.id for inv in self.investments}
                pay_ids = {p.id for p in terms.payments}
                for sid in terms.waterfall.inflow:
                    if sid not in pay_ids:
                        errors.append(f"payment_terms.waterfall.inflow: unknown payment {sid!r}")
                if terms.waterfall.payer not in known_orgs:
                    errors.append(f"payment_terms.waterfall.payer: unknown organisation {terms.waterfall.payer!r}")
                for i, step in enumerate(terms.waterfall.steps):
                    for inv_id in step.investments:
                        if inv_id not in inv_ids:
                            errors.append(f"payment_terms.waterfall.steps[{i}].to: unknown investment {inv_id!r}")
                    if step.payee is not None and step.payee not in known_orgs:
                        errors.append(f"payment_terms.waterfall.steps[{i}].payee: unknown organisation {step.payee!r}")
                    if step.step == "guarantee" and (not step.by or step.by not in known_orgs):
                        errors.append(f"payment_terms.waterfall.steps[{i}].by: a known guarantor organisation")
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def _history_references_resolve(
        self, errors: list[str], known_sources: set[str], known_orgs: set[str], metric_ids: set[str]
    ) -> None:
        history = self.history
        if history is None:
            return
        for i, o in enumerate(history.outcomes):
            if o.metric not in metric_ids:
                errors.append(f"history.outcomes[{i}].metric: unknown outcome metric {o.metric!r}")
        for i, p in enumerate(history.payments):
            for side in ("payer", "payee"):
                org = getattr(p, side)
                if org is not None and org not in known_orgs:
                    errors.append(f"history.payments[{i}].{side}: unknown organisation {org!r}")
        inv_ids = {inv.id for inv in self.investments}
        for i, r in enumerate(history.investor_results):
            if r.investor not in known_orgs:
                errors.append(f"history.investor_results[{i}].investor: unknown organisation {r.investor!r}")
            if r.investment is not None and r.investment not in inv_ids:
                errors.append(f"history.investor_results[{i}].investment: unknown investment {r.investment!r}")
        for i, u in enumerate(history.unknowns):
            if u.metric is not None and u.metric not in metric_ids:
                errors.append(f"history.unknowns[{i}].metric: unknown outcome metric {u.metric!r}")
            if u.investor is not None and u.investor not in known_orgs:
                errors.append(f"history.unknowns[{i}].investor: unknown organisation {u.investor!r}")
            for sid in u.sources:
                if sid not in known_sources:
                    errors.append(f"history.unknowns[{i}].sources: unknown source id {sid!r}")
        if history.reading is not None:
            readings = len(self.payment_terms.alternative_readings) if self.payment_terms else 0
            if history.reading > readings:
                errors.append(f"history.reading: no alternative reading {history.reading} (the terms have {readings})")

    def iter_facts(self) -> list[tuple[str, Provenanced]]:
        """Every provenanced fact group with its path in the document."""
        found: list[tuple[str, Provenanced]] = []

        def walk(value: Any, path: str) -> None:
            if isinstance(value, Provenanced):
                found.append((path, value))
            if isinstance(value, BaseModel):
                for name in type(value).model_fields:
                    walk(getattr(value, name), f"{path}.{name}" if path else name)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    walk(item, f"{path}[{i}]")
            elif isinstance(value, dict):
                for key, item in value.items():
                    walk(item, f"{path}.{key}")

        walk(self, "")
        return found

    def organisation(self, org_id: str) -> Organisation | None:
        return next((o for o in self.organisations if o.id == org_id), None)

    def parties_with_role(self, role: Role | str) -> list[Organisation]:
        """Organisations playing ``role``, in document order."""
        role = Role(role)
        orgs = []
        for party in self.parties:
            if role in party.roles:
                org = self.organisation(party.organisation)
                if org is not None:
                    orgs.append(org)
        return orgs

    def name(self, lang: str = "en") -> str:
        return self.identity.names.get(lang)


def _dupes(what: str, ids: list[str], errors: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            errors.append(f"{what}: duplicate id {item!r}")
        seen.add(item)


def document_json(doc: ContractDocument) -> dict[str, Any]:
    """The canonical JSON form of a document, as stored."""
    return doc.model_dump(mode="json", by_alias=True, exclude_none=True)
