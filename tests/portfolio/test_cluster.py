"""The chunked engine on a Dask cluster of two workers: the same results as in-process."""

from __future__ import annotations

import pickle
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import portfolio as P
from registry.portfolio_file import load_portfolio
from registry.schema import ContractDocument

distributed = pytest.importorskip("distributed", reason="the optional extra utfall[distributed] is not installed")

# On a loaded machine Dask warns that creating its scratch directories or starting a worker is slow; the
# suite turns warnings into errors, and a slow start is not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:distributed")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def example() -> P.Portfolio:
    docs = {}
    for f in sorted((ROOT / "seed_contracts").glob("*.yaml")):
        d = ContractDocument.model_validate(yaml.safe_load(f.read_text(encoding="utf-8")))
        docs[d.id] = d
    return load_portfolio(ROOT / "docs/examples/nordic-portfolio.yaml", get_contract=docs.get)


@pytest.fixture(scope="module")
def client():
    # In-process workers (inproc transport); the scheduler's HTTP server on a free loopback port (its
    # default, 8787 on every interface, clashes with any other cluster on the machine).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address="127.0.0.1:0")
    with lc, distributed.Client(lc) as c:
        yield c


@pytest.mark.parametrize("copula", ["t", "gaussian"])
def test_cluster_run_equals_the_in_process_run(example: P.Portfolio, client, copula: str) -> None:
    portfolio = replace(example, copula=copula)
    stress = P.Stress("late", factor_shift={"global": -1.0}, extra_delay_months=6)
    local = P.simulate(portfolio, n_scenarios=9000, seed=7, block_size=1024, threads=2, stress=stress)
    remote = P.simulate(portfolio, n_scenarios=9000, seed=7, block_size=1024, cluster=client, stress=stress)
    assert np.array_equal(local.loss, remote.loss)
    assert np.array_equal(local.irr, remote.irr, equal_nan=True)
    for name in ("summary", "contracts", "exposures", "concentration"):
        pd.testing.assert_frame_equal(getattr(local, name), getattr(remote, name), check_exact=True)


def test_a_portfolio_of_terms_payoffs_survives_pickling_for_remote_workers(example: P.Portfolio) -> None:
    # Workers in other processes receive the portfolio pickled; the terms payoffs must survive it.
    from distributed.protocol.pickle import dumps, loads

    portfolio = loads(dumps(example))
    a = P.simulate(example, n_scenarios=2048, seed=3, block_size=1024)
    b = P.simulate(portfolio, n_scenarios=2048, seed=3, block_size=1024)
    assert np.array_equal(a.loss, b.loss)
    assert pickle.loads(pickle.dumps(P.Stress("s", factor_shift={"global": -1.0}))).name == "s"
