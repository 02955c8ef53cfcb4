"""A contract drafted from outcome prices: a price per outcome, a cap, a target and a cohort become a contract
document (valid as any contract file is), and a one-contract simulation gives the payer's budget and the
investor's expected multiple and IRR.

The draft pays ``price`` for each outcome achieved, up to ``cap`` in all, from the outcome payer to the investor,
once at the end of the term (``cap(price * outcomes, cap)``); the investor puts in ``capital`` at the start. The
outcomes are a count metric whose target is ``target`` (of a cohort of ``cohort`` people); the simulation draws
them from the engine's documented default prior for the category's policy sector (``portfolio.priors``), which
the results state as an assumption.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import yaml

from portfolio import Holding, Portfolio, simulate
from registry.outcome_categories import OutcomeCategory
from registry.plain_text import number_text
from registry.portfolio_file import contract_model
from registry.schema import ContractDocument, document_json
from registry.terms import compile_terms

DRAFT_SCENARIOS = 4000
DRAFT_SEED = 20241202
PAYER = "outcome-payer"
INVESTOR = "investor"
PERCENTILES = (5, 25, 50, 75, 95)
MAX_TERM_YEARS = 15


@dataclass(frozen=True)
class DraftTerms:
    """What the commissioner sets: money in ``currency``; ``target`` outcomes of a ``cohort``."""

    category: OutcomeCategory
    currency: str
    price: Decimal
    cap: Decimal
    target: int
    cohort: int
    capital: Decimal
    term_years: int
    start: date
    country: str = "SE"


@dataclass(frozen=True)
class DraftResult:
    """The one-contract simulation: the investor's expected multiple, IRR and chance of a loss; what the payer
    pays (percentiles over the scenarios, and the most it can owe)."""

    expected_multiple: float
    irr_median: float | None
    irr_p5: float | None
    irr_p95: float | None
    p_loss: float
    payer_percentiles: dict[int, float]
    payer_mean: float
    payer_max: float
    scenarios: int
    assumptions: tuple[str, ...]


PROBLEMS = {
    "positive": "must be more than zero",
    "cohort": "must be at least one person",
    "target": "must be between one and the cohort size",
    "term": f"must be between 1 and {MAX_TERM_YEARS} years",
}


def check_terms(terms: DraftTerms) -> list[tuple[str, str]]:
    """(field, problem) for each value a draft cannot use (a key of :data:`PROBLEMS`); empty when all are
    usable."""
    problems = [(name, "positive") for name in ("price", "cap", "capital") if getattr(terms, name) <= 0]
    if terms.cohort < 1:
        problems.append(("cohort", "cohort"))
    if not 1 <= terms.target <= max(terms.cohort, 1):
        problems.append(("target", "target"))
    if not 1 <= terms.term_years <= MAX_TERM_YEARS:
        problems.append(("term_years", "term"))
    return problems


def draft_document(terms: DraftTerms) -> dict[str, Any]:
    """The contract document (as stored: a dict) of a draft; raises ``ValueError`` for unusable values."""
    if problems := check_terms(terms):
        raise ValueError("; ".join(f"{field}: {PROBLEMS[code]}" for field, code in problems))
    cat = terms.category
    end = date(terms.start.year + terms.term_years, terms.start.month, 1)
    source = {"id": "draft", "title": "Draft made in utfall's outcome-price explorer",
              "date": date.today().isoformat()}
    money = {"currency": terms.currency, "sources": ["draft"], "confidence": "unverified"}
    doc = {
        "schema": "utfall-contract/1",
        "id": f"draft-{cat.id.replace('_', '-')}-{terms.start.year}",
        "identity": {"names": {"sv": f"Utkast: {cat.label('sv')}", "en": f"Draft: {cat.label('en')}"}},
        "classification": {"country": terms.country, "policy_sector": cat.policy_sector},
        "stage": "design",
        "dates": {"service_start": terms.start.isoformat(), "service_end": end.isoformat()},
        "finance": {"currency": terms.currency,
                    "capital_committed": {"amount": number_text(terms.capital), **money},
                    "max_outcome_payment": {"amount": number_text(terms.cap), **money}},
        "organisations": [{"id": PAYER, "name": "Outcome payer (draft)", "type": "local_government"},
                          {"id": INVESTOR, "name": "Investor (draft)", "type": "unknown"}],
        "parties": [{"organisation": PAYER, "roles": ["outcome_payer"]},
                    {"organisation": INVESTOR, "roles": ["investor"]}],
        "investments": [{"id": "capital", "investor": INVESTOR, "tranche": "senior",
                         "committed": {"amount": number_text(terms.capital), "currency": terms.currency}}],
        "target_population": {"targeted_participants": terms.cohort, "unit": "persons"},
        "outcome_metrics": [{"id": "outcomes", "name": dict(cat.labels), "kind": "count", "unit": "persons",
                             "definition": cat.description("en"),
                             "targets": [{"value": str(terms.target), "description": "outcomes targeted"}]}],
        "payment_terms": {
            "parameters": {
                "price": {"value": number_text(terms.price), "unit": f"{terms.currency} per outcome",
                          "description": "price per outcome"},
                "cap": {"value": number_text(terms.cap), "unit": terms.currency,
                        "description": "maximum outcome payment"},
                "C": {"value": number_text(terms.capital), "unit": terms.currency, "description": "investor capital"},
            },
            "payments": [{"id": "outcome_payment", "component": "outcome", "payer": PAYER, "payee": INVESTOR,
                          "amount": "cap(price * outcomes, cap)",
                          "timing": {"months_after_start": 12 * terms.term_years}}],
            "investor_capital": "C",
        },
        "sources": [source],
    }
    return document_json(ContractDocument.model_validate(doc))


def draft_yaml(doc: dict[str, Any]) -> str:
    """The draft as a contract file (YAML) that ``utfall validate`` reads."""
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def simulate_draft(doc: dict[str, Any], *, scenarios: int = DRAFT_SCENARIOS, seed: int = DRAFT_SEED) -> DraftResult:
    """Simulate the draft alone with the sector's default prior for its outcomes."""
    contract = ContractDocument.model_validate(doc)
    terms = compile_terms(contract, source="draft")
    model = contract_model(contract, terms)
    portfolio = Portfolio(holdings=(Holding(model, weight=1.0),), base_currency=contract.finance.currency,
                          n_scenarios=scenarios, seed=seed, name=contract.id)
    result = simulate(portfolio, threads=1)
    # One rule pays the payer to the investor: what the payer pays in a scenario is what the investor gets back.
    paid = np.asarray(result.raw.repayment, dtype=float)
    return DraftResult(
        expected_multiple=result.value("expected_multiple"),
        irr_median=_finite(result.value("irr_p50")), irr_p5=_finite(result.value("irr_p5")),
        irr_p95=_finite(result.value("irr_p95")), p_loss=result.value("p_loss"),
        payer_percentiles={q: float(np.percentile(paid, q)) for q in PERCENTILES},
        payer_mean=float(paid.mean()), payer_max=float(doc["payment_terms"]["parameters"]["cap"]["value"]),
        scenarios=scenarios, assumptions=tuple(dict.fromkeys(str(a) for a in result.assumptions["label"] if a)),
    )
