"""Benchmark of the portfolio engine: 300 contracts x 100,000 scenarios on this machine.

    python benchmarks/bench_portfolio.py [--contracts 300] [--scenarios 100000] [--threads 2]

Prints contract-scenarios per second for two payoff implementations:

- ``terms``: the production path: the holdings of docs/examples/nordic-portfolio.yaml (every seed
  contract, payoffs ``registry.terms.CompiledTerms``, the example's outcome models and default priors)
  cloned to 300 contracts across countries and sectors;
- ``numpy``: the same portfolio shape with a small hand-written numpy payoff (guarantee, capped share,
  premium), i.e. the engine's own cost without the terms interpreter;

and, for each, the ratio of the engine's time to the bare time of drawing the same random numbers
(same generators, same blocks, same threads), plus peak memory (tracemalloc peak of Python/numpy
allocations, and the process's maximum resident set size).

Engine and floor runs are interleaved and the best of each is kept. On a shared machine the wall-clock
figures move with other processes' load, so the load average is printed beside them, together with the
same ratio in process CPU seconds (all threads), which other processes disturb much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import portfolio as P  # noqa: E402
from portfolio.engine import DEFAULT_BLOCK_SIZE, _generator, _Kernel, contract_key  # noqa: E402

COUNTRIES = ["SE", "SE", "SE", "FI", "DK", "NO", "GB", "US", "NL", "PT"]
SECTORS = ["child_and_family_welfare", "employment_and_training", "health", "education", "homelessness",
           "criminal_justice"]


class _Flow:
    __slots__ = ("id", "component", "payer", "payee", "tags", "date", "amount", "to_investor")

    def __init__(self, id, component, payer, payee, amount, when):  # noqa: A002, ANN001
        self.id, self.component, self.payer, self.payee = id, component, payer, payee
        self.tags, self.date, self.amount, self.to_investor = (), when, amount, True


class _Eval:
    __slots__ = ("flows", "investor_repayment")

    def __init__(self, flows, rep):  # noqa: ANN001
        self.flows, self.investor_repayment = flows, rep


class NumpyPayoff:
    """40 % guarantee if delivered, 60 % of savings capped at 60 % of C, premium up to 20 % of C."""

    def __init__(self, c: float, payer: str, investor: str, when: date) -> None:
        self.c, self.payer, self.investor, self.when = c, payer, investor, when

    def evaluate(self, o):  # noqa: ANN001, ANN201
        c = self.c
        g = np.where(o["delivered"], np.float32(0.4 * c), np.float32(0))
        s = o["savings"]
        share = np.minimum(np.maximum(s, 0) * np.float32(0.6), np.float32(0.6 * c))
        prem = np.minimum(np.maximum(s - np.float32(c), 0), np.float32(0.2 * c))
        return _Eval([_Flow("g", "guarantee", self.payer, self.investor, g, self.when),
                      _Flow("s", "outcome", self.payer, self.investor, share, self.when),
                      _Flow("p", "premium", self.payer, self.investor, prem, self.when)], g + share + prem)


def numpy_portfolio(n: int) -> P.Portfolio:
    hs = []
    for i in range(n):
        c = 5e6 + 1e5 * (i % 50)
        payer = f"payer-{i % 60}"
        when = date(2024 + i % 4, 1 + i % 12, 1)
        model = P.ContractModel(
            id=f"np-{i:04d}", payoff=NumpyPayoff(c, payer, "inv", when), capital=c, currency="SEK",
            country=COUNTRIES[i % len(COUNTRIES)], sector=SECTORS[i % len(SECTORS)], start=date(2020, 1 + i % 12, 1),
            default_payment_date=when, payers=(payer,), investors=("inv",),
            outcomes={"delivered": P.Bernoulli(0.9), "savings": P.Normal(c, 0.6 * c)},
        )
        hs.append(P.Holding(model))
    return P.Portfolio(tuple(hs), copula="t", df=5.0, base_currency="SEK")


def terms_portfolio(n: int) -> P.Portfolio:
    """The worked example's holdings (every seed contract), cloned to ``n`` contracts."""
    import yaml

    from registry.portfolio_file import load_portfolio
    from registry.schema import ContractDocument

    docs = {}
    for f in sorted((ROOT / "seed_contracts").glob("*.yaml")):
        d = ContractDocument.model_validate(yaml.safe_load(f.read_text(encoding="utf-8")))
        docs[d.id] = d
    base = load_portfolio(ROOT / "docs/examples/nordic-portfolio.yaml", get_contract=docs.get)
    hs = []
    for i in range(n):
        h = base.holdings[i % len(base.holdings)]
        c = replace(h.contract, id=f"{h.contract.id}-{i:04d}", country=COUNTRIES[i % len(COUNTRIES)],
                    payers=h.contract.payers or (f"payer-{i % 60}",), sector=SECTORS[i % len(SECTORS)])
        hs.append(replace(h, contract=c))
    return P.Portfolio(tuple(hs), copula="t", df=5.0, base_currency="SEK")


def rng_floor(pf: P.Portfolio, n: int, threads: int, block: int = DEFAULT_BLOCK_SIZE) -> tuple[float, float]:
    """Wall and CPU seconds to draw exactly the engine's random numbers (same generators, blocks, threads)."""
    k = _Kernel(pf, None, 0, 1000, block)
    rows = [(u.key, u.n_draws) for u in k.units] + [(key, 1) for key in k.factor_keys]

    def chunk(b: int) -> None:
        width = min(block, n - b * block)
        for key, r in rows:
            out = np.empty((r, width), dtype=np.float32)
            _generator(1, key, b).standard_normal(out=out, dtype=np.float32)
        _generator(1, contract_key("chi2"), b).chisquare(pf.df, width)

    blocks = range(-(-n // block))
    t, c = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(chunk, blocks))
    return time.perf_counter() - t, time.process_time() - c


def bench(name: str, pf: P.Portfolio, n: int, threads: int, repeats: int) -> None:
    n_c = len(pf.holdings)
    P.simulate(pf, n_scenarios=2 * DEFAULT_BLOCK_SIZE, seed=0, threads=threads)  # warm-up (tables, caches)
    load0 = os.getloadavg()[0]
    times, cpus, floors, floor_cpus = [], [], [], []
    res = None
    # Interleave engine runs and bare random-number runs, and keep the best of each: on a shared
    # machine this compares the two under the same load.
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        res = P.simulate(pf, n_scenarios=n, seed=1, threads=threads)
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        fw, fc = rng_floor(pf, n, threads)
        floors.append(fw)
        floor_cpus.append(fc)
    load1 = os.getloadavg()[0]
    tracemalloc.start()
    P.simulate(pf, n_scenarios=n, seed=1, threads=threads)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    dt, floor = min(times), min(floors)
    cpu, floor_cpu = min(cpus), min(floor_cpus)
    cs = n_c * n / dt
    print(f"[{name}] {n_c} contracts x {n:,} scenarios, {threads} threads, {pf.copula} copula")
    print(f"  load average (1 min)            {load0:8.2f} before, {load1:.2f} after")
    print(f"  engine time (best of {repeats})           {dt:8.2f} s   (all: {', '.join(f'{x:.2f}' for x in times)})")
    print(f"  contract-scenarios per second   {cs:8.3g}   (aim >= 2e7)")
    print(f"  random-number floor             {floor:8.2f} s   (same draws, same threads; all: "
          f"{', '.join(f'{x:.2f}' for x in floors)})")
    print(f"  engine / floor                  {dt / floor:8.2f} x (aim <= 3)")
    print(f"  floor throughput                {n_c * n / floor:8.3g} contract-scenarios/s")
    print(f"  CPU seconds engine / floor      {cpu:8.2f} / {floor_cpu:.2f} = {cpu / floor_cpu:.2f} x "
          f"({n_c * n / cpu:.3g} contract-scenarios per CPU second)")
    print(f"  peak traced memory              {peak / 2**20:8.1f} MiB")
    assert res is not None
    print(f"  ES99 {res.value('es99'):,.0f} +- {res.summary.loc['es99', 'std_error']:,.0f}; "
          f"E[multiple] {res.value('expected_multiple'):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contracts", type=int, default=300)
    ap.add_argument("--scenarios", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 2))
    ap.add_argument("--only", choices=["terms", "numpy"])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    if a.only != "terms":
        bench("numpy payoff", numpy_portfolio(a.contracts), a.scenarios, a.threads, a.repeats)
    if a.only != "numpy":
        bench("registry.terms payoff", terms_portfolio(a.contracts), a.scenarios, a.threads, a.repeats)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max resident set size of the process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
