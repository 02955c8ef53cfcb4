"""Small valid contract documents for tests, built as plain dicts (the way files hold them)."""

from __future__ import annotations

import copy
from typing import Any

BASE: dict[str, Any] = {
    "schema": "utfall-contract/1",
    "id": "se-testkommun-2020",
    "identity": {"names": {"sv": "Testkommunens utfallskontrakt", "en": "Test municipality outcomes contract"}},
    "classification": {
        "country": "SE",
        "region": "Testkommun",
        "policy_sector": "child_and_family_welfare",
        "sources": ["report"],
        "confidence": "verified",
    },
    "stage": "implementation",
    "dates": {"signed": "2020-06", "service_start": "2020-09-01", "service_end": "2023-08",
              "sources": ["report"], "confidence": "verified"},
    "finance": {
        "currency": "SEK",
        "capital_committed": {"amount": "5000000", "sources": ["report"], "confidence": "verified"},
    },
    "organisations": [
        {"id": "testkommun", "name": "Testkommun", "type": "local_government", "country": "SE"},
        {"id": "investor-ab", "name": "Investor AB", "type": "private_company", "country": "SE"},
    ],
    "parties": [
        {"organisation": "testkommun", "roles": ["outcome_payer", "provider"], "sources": ["report"],
         "confidence": "verified"},
        {"organisation": "investor-ab", "roles": ["investor"], "sources": ["report"], "confidence": "verified"},
    ],
    "investments": [
        {"id": "loan", "investor": "investor-ab", "tranche": "senior",
         "committed": {"amount": "5000000", "currency": "SEK"}, "sources": ["report"], "confidence": "verified"},
    ],
    "outcome_metrics": [
        {"id": "savings", "name": {"en": "Savings"}, "unit": "SEK", "kind": "continuous",
         "measurement": "historical_baseline", "sources": ["report"], "confidence": "verified"},
    ],
    "payment_terms": {
        "sources": ["report"],
        "confidence": "verified",
        "parameters": {"C": {"value": "5000000", "sources": ["report"], "confidence": "verified"}},
        "payments": [
            {"id": "repayment", "component": "outcome", "payer": "testkommun", "payee": "investor-ab",
             "amount": "cap(floor(savings, 0), C)", "timing": {"date": "2023-12-31"}},
        ],
    },
    "sources": [{"id": "report", "title": "Final report", "publisher": "Testkommun", "date": "2024-01"}],
}


def contract_dict(**overrides: Any) -> dict[str, Any]:
    """A deep copy of the base document with top-level keys replaced."""
    data = copy.deepcopy(BASE)
    data.update(overrides)
    return data
