"""``CompiledTerms.evaluate(..., breakdown=False)``: the engine's fast path gives the same flows and repayment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.schema import ContractDocument, MetricKind
from registry.terms import compile_terms

SEED_DIR = Path(__file__).resolve().parents[2] / "seed_contracts"
# Norrköping: guarantee, capped share, premium; Utah: a waterfall; Rikers: guarantor top-up in a waterfall.
CONTRACTS = ["se-norrkoping-2016", "us-utah-preschool-2013", "us-nyc-rikers-2012", "fi-koto-sib-2017"]


def _compiled(name: str):  # noqa: ANN202
    doc = ContractDocument.model_validate(yaml.safe_load((SEED_DIR / f"{name}.yaml").read_text(encoding="utf-8")))
    compiled = compile_terms(doc, source=name)
    assert compiled is not None
    return compiled


def _outcomes(compiled, rng: np.random.Generator, size: int | None) -> dict:  # noqa: ANN001
    out = {}
    for name in compiled.outcome_names:
        if compiled.outcome_kinds[name] == MetricKind.BINARY:
            v = rng.random(size) < 0.7
        else:
            # float32 like the engine's outcome arrays, spread over several orders of magnitude
            v = (rng.standard_normal(size) * 10.0 ** rng.integers(0, 8)).astype(np.float32)
        out[name] = v if size is not None else np.asarray(v).item()
    return out


@pytest.mark.parametrize("name", CONTRACTS)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.sampled_from([None, 1, 7, 300]))
def test_breakdown_false_gives_the_same_flows_and_repayment(name: str, seed: int, size: int | None) -> None:
    compiled = _compiled(name)
    outcomes = _outcomes(compiled, np.random.default_rng(seed), size)
    full = compiled.evaluate(outcomes)
    fast = compiled.evaluate(outcomes, breakdown=False)
    assert [f.id for f in fast.flows] == [f.id for f in full.flows]
    for a, b in zip(fast.flows, full.flows, strict=True):
        assert (a.payer, a.payee, a.component, a.date, a.to_investor) == (b.payer, b.payee, b.component, b.date,
                                                                         b.to_investor)
        assert a.amount.dtype == np.float64 and a.amount.shape == full.shape
        assert np.array_equal(a.amount, b.amount)
    assert np.array_equal(fast.investor_repayment, full.investor_repayment)
    assert fast.investor_repayment.shape == full.shape
    assert fast.by_payer == {} and fast.by_payee == {} and fast.by_component == {} and fast.by_investor == {}
    # The full breakdown still adds up: what investors receive equals the investor totals.
    investors = sum(full.by_investor.values(), np.zeros(full.shape))
    np.testing.assert_allclose(investors, full.investor_repayment, rtol=1e-12)


def test_flows_own_their_amounts() -> None:
    # Flows share no array with each other, with the totals or with the caller's outcomes.
    compiled = _compiled("se-norrkoping-2016")
    outcomes = _outcomes(compiled, np.random.default_rng(3), 50)
    outcomes = {k: (v.astype(np.float64) if v.dtype == np.float32 else v) for k, v in outcomes.items()}
    res = compiled.evaluate(outcomes)
    arrays = [f.amount for f in res.flows] + [res.investor_repayment, *res.by_payer.values(),
                                               *res.by_payee.values(), *res.by_component.values(),
                                               *res.by_investor.values(), *outcomes.values()]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)
