"""The glossary: the registry's roles, stages, confidence levels and a few core concepts, explained.

The terms are data: each names its vocabulary entry (so its heading is the same word the pages use, from
:mod:`web.vocabulary`) and an English definition marked for the gettext catalogue, shown in the reader's
language. :func:`glossary_href` gives the link a label uses to point at its explanation
(``/glossary#role-outcome_payer``).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_babel import gettext

from registry.schema import Confidence, Role, Stage
from web.formatting import N_
from web.vocabulary import label


@dataclass(frozen=True)
class Term:
    """One glossary entry: ``kind`` and ``value`` name its vocabulary label (``kind`` ``""``: ``value`` is a msgid)."""

    kind: str
    value: str
    definition: str  # an English msgid

    @property
    def anchor(self) -> str:
        """The entry's fragment id on the glossary page (``role-outcome_payer``)."""
        return f"{self.kind or 'term'}-{self.value}".replace(" ", "-").lower()

    def name(self) -> str:
        """The term in the reader's language."""
        return label(self.kind, self.value) if self.kind else gettext(self.value)


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str  # an English msgid
    terms: tuple[Term, ...]


ROLE_DEFINITIONS: dict[Role, str] = {
    Role.OUTCOME_PAYER: N_("The public body that pays for the outcomes achieved (a municipality, a region, a "
                           "ministry or an agency). It pays only when the agreed outcomes are measured."),
    Role.INVESTOR: N_("The party that funds the service up front and is repaid, with or without a return, "
                      "from the outcome payments. If the outcomes are not reached it can lose its capital."),
    Role.PROVIDER: N_("The organisation that delivers the service to the target population (often a "
                      "non-profit, a social enterprise or a public body)."),
    Role.INTERMEDIARY: N_("The party that designs and manages the contract: it brings the others together, "
                          "raises the capital and follows up performance."),
    Role.EVALUATOR: N_("The independent party that measures the outcomes on which payments depend."),
    Role.GUARANTOR: N_("A party that promises to cover part of the investors' losses if the outcomes fall short."),
    Role.TECHNICAL_ADVISER: N_("A party that advises the outcome payer or the others on design, measurement or "
                               "pricing without taking part in the payments."),
    Role.OTHER: N_("A party whose part in the contract is none of the above, as the sources describe it."),
}

STAGE_DEFINITIONS: dict[Stage, str] = {
    Stage.DESIGN: N_("The contract is being designed; nothing has been signed."),
    Stage.CONTRACTED: N_("The contract is signed but the service has not started."),
    Stage.IMPLEMENTATION: N_("The service is being delivered and outcomes measured."),
    Stage.SERVICE_DELIVERY_COMPLETE: N_("The service has ended; final outcomes may still be measured and paid."),
    Stage.COMPLETE: N_("The contract has ended: outcomes measured and final payments made."),
    Stage.TERMINATED: N_("The contract was ended early, before its planned end."),
}

CONFIDENCE_DEFINITIONS: dict[Confidence, str] = {
    Confidence.VERIFIED: N_("The fact is stated in a primary source: the contract, the outcome payer's decision "
                            "or an official evaluation."),
    Confidence.SECONDARY: N_("The fact comes from a secondary source, such as a dataset, a report or the press."),
    Confidence.UNVERIFIED: N_("No source has been found for the fact yet; treat it as a lead, not a finding."),
    Confidence.DISPUTED: N_("Sources disagree about the fact; the other readings are shown beside it."),
}

CONCEPTS: tuple[Term, ...] = (
    Term("", N_("Social outcomes contract"),
         N_("A contract in which a public body pays for measured results instead of for activities; when "
            "investors fund the service up front it is also called a social impact bond.")),
    Term("", N_("Target population"),
         N_("The people the service is for, as the contract defines them: who is eligible and how many.")),
    Term("", N_("Outcome metric"),
         N_("What is measured to decide the payments (for example a share of participants in work), with "
            "its unit, baseline and target.")),
    Term("", N_("Payment terms"),
         N_("The rules that turn measured outcomes into payments: prices per outcome, thresholds, caps and "
            "floors.")),
    Term("", N_("Capital invested"),
         N_("The money investors commit to fund the service before any outcome is paid for.")),
)


def sections() -> tuple[Section, ...]:
    """The glossary's sections in the order the page shows them."""
    return (
        Section("roles", N_("Roles"), tuple(Term("role", r.value, d) for r, d in ROLE_DEFINITIONS.items())),
        Section("stages", N_("Stages"), tuple(Term("stage", s.value, d) for s, d in STAGE_DEFINITIONS.items())),
        Section("confidence", N_("Confidence levels"),
                tuple(Term("confidence", c.value, d) for c, d in CONFIDENCE_DEFINITIONS.items())),
        Section("concepts", N_("Concepts"), CONCEPTS),
    )


def glossary_href(value: object, kind: str) -> str:
    """The link to a role's, stage's or confidence level's entry: ``/glossary#confidence-verified``."""
    return url_for("pages.glossary", _anchor=Term(kind, str(value), "").anchor)
