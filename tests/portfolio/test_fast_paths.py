"""The engine's fast paths change nothing: same run with or without the terms breakdown, any chunking."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

import portfolio as P
from portfolio.engine import _fast_evaluate_kw, run
from registry.portfolio_file import load_portfolio
from registry.schema import ContractDocument

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs/examples/nordic-portfolio.yaml"
RAW_FIELDS = ("loss", "repayment", "irr", "pv_stats", "org_stats", "org_top", "org_batch_top", "block_stats",
              "tail_rows", "tail_loss",
              "tail_index", "worst_repayment", "org_max")


class _PlainPayoff:
    """The same terms behind the bare ``evaluate(outcomes)`` protocol (no ``breakdown`` keyword)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def evaluate(self, outcomes):  # noqa: ANN001, ANN201
        return self.inner.evaluate(outcomes)


@pytest.fixture(scope="module")
def example() -> P.Portfolio:
    docs = {}
    for f in sorted((ROOT / "seed_contracts").glob("*.yaml")):
        d = ContractDocument.model_validate(yaml.safe_load(f.read_text(encoding="utf-8")))
        docs[d.id] = d
    return load_portfolio(EXAMPLE, get_contract=docs.get)


def test_terms_payoffs_take_the_fast_path(example: P.Portfolio) -> None:
    kinds = {type(h.contract.payoff).__name__: _fast_evaluate_kw(h.contract.payoff) for h in example.holdings}
    assert kinds["CompiledTerms"] == {"breakdown": False}
    assert _fast_evaluate_kw(_PlainPayoff(None)) == {}


@pytest.mark.parametrize("copula", ["t", "gaussian"])
def test_fast_path_gives_the_same_run_as_the_plain_protocol(example: P.Portfolio, copula: str) -> None:
    plain = replace(example, holdings=tuple(
        replace(h, contract=replace(h.contract, payoff=_PlainPayoff(h.contract.payoff))) for h in example.holdings))
    stress = P.Stress("late", factor_shift={"global": -1.0}, extra_delay_months=6)
    for extra in ({}, {"stress": stress}):
        fast = run(replace(example, copula=copula), n_scenarios=3000, seed=11, block_size=1024, threads=2, **extra)
        slow = run(replace(plain, copula=copula), n_scenarios=3000, seed=11, block_size=1024, threads=1, **extra)
        for name in RAW_FIELDS:
            assert np.array_equal(getattr(fast, name), getattr(slow, name), equal_nan=True), name
        assert fast.org_keys == slow.org_keys


@pytest.mark.parametrize("copula", ["t", "gaussian"])
def test_irr_does_not_depend_on_chunk_size_with_small_blocks(example: P.Portfolio, copula: str) -> None:
    # Blocks smaller than the IRR solver's 2048-scenario slices: a slice must still hold the same
    # scenarios whatever the chunk (the bisection fallback stops when its whole slice has converged).
    portfolio = replace(example, copula=copula)
    ref = run(portfolio, n_scenarios=8000, seed=4, threads=1, block_size=1024, chunk_size=1024)
    for chunk in (2048, 3072):
        other = run(portfolio, n_scenarios=8000, seed=4, threads=2, block_size=1024, chunk_size=chunk)
        assert np.array_equal(ref.irr, other.irr, equal_nan=True)
        assert np.array_equal(ref.pv_stats, other.pv_stats)
