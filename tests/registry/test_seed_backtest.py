"""Every seed contract with recorded payments or investor results: do its terms reproduce them?

A contract passes when the back-test says yes, or cannot tell only because an outcome value the terms need is
recorded as unknown with its reason. The contracts listed in NOT_YET are known not to reproduce with their
current terms; they are strict expected failures, so each fails the suite as soon as it does reproduce (and
must then come off the list).
"""

from __future__ import annotations

import pytest

from registry.backtest import backtest
from registry.loader import SEED_DIR, read_contract_file

NOT_YET: dict[str, str] = {}


def _with_recorded_payments() -> list[str]:
    ids = []
    for path in sorted(SEED_DIR.glob("*.yaml")):
        doc = read_contract_file(path)
        if doc.history and (doc.history.payments or doc.history.investor_results):
            ids.append(doc.id)
    return ids


@pytest.mark.parametrize("contract_id", [
    pytest.param(cid, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[cid])) if cid in NOT_YET else cid
    for cid in _with_recorded_payments()
])
def test_seed_terms_reproduce_recorded_payments(contract_id: str) -> None:
    result = backtest(read_contract_file(SEED_DIR / f"{contract_id}.yaml"))
    if result.verdict == "unknown":
        # cannot tell is acceptable only where the record names the missing figure and why it is missing
        assert result.reasons and all(r.kind == "missing_outcome" and r.detail for r in result.reasons), (
            result.summary())
    else:
        assert result.verdict == "yes", result.summary()


def test_not_yet_lists_only_seeds_with_recorded_payments() -> None:
    assert set(NOT_YET) <= set(_with_recorded_payments())
