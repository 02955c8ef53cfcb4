"""Benchmark of the portfolio engine: 10, 300 and 1000 contracts at 1e5 and 1e6 scenarios.

    python benchmarks/bench_portfolio.py [--contracts 10 300 1000] [--scenarios 100000 1000000]
                                         [--threads 2] [--payoff terms|numpy] [--repeats 3]

Each configuration runs in a process of its own, so its peak resident set size is its own. Printed per
configuration: the engine's time, the random-number floor measured in the same process (drawing exactly
the engine's random numbers: same generators, blocks and threads), their ratio against the aim, the
same ratio in CPU seconds (less disturbed by other processes), contract-scenarios per second, peak RSS
and the load average before/after. Times are medians of ``--repeats`` interleaved runs (one run for
the largest configuration). Two payoff implementations:

- ``terms``: the production path: the holdings of docs/examples/nordic-portfolio.yaml (every seed
  contract, payoffs ``registry.terms.CompiledTerms``, the example's outcome models and default priors)
  cloned to the requested number of contracts across countries and sectors;
- ``numpy``: the same portfolio shape with a small hand-written numpy payoff (guarantee, capped share,
  premium), i.e. the engine's own cost without the terms interpreter;

On a shared machine the wall-clock figures move with other processes' load: read the CPU ratio and
the load average beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
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


def rng_floor(portfolio: P.Portfolio, n: int, threads: int, block: int = DEFAULT_BLOCK_SIZE) -> tuple[float, float]:
    """Wall and CPU seconds to draw exactly the engine's random numbers (same generators, blocks, threads)."""
    k = _Kernel(portfolio, None, 0, 1000, block)
    rows = [(u.key, u.n_draws) for u in k.units] + [(key, 1) for key in k.factor_keys]

    def chunk(b: int) -> None:
        width = min(block, n - b * block)
        for key, r in rows:
            out = np.empty((r, width), dtype=np.float32)
            _generator(1, key, b).standard_normal(out=out, dtype=np.float32)
        _generator(1, contract_key("chi2"), b).chisquare(portfolio.df, width)

    blocks = range(-(-n // block))
    t, c = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(chunk, blocks))
    return time.perf_counter() - t, time.process_time() - c


def _measure(name: str, portfolio: P.Portfolio, n: int, threads: int, repeats: int) -> dict[str, float]:
    """Engine and floor times (median of ``repeats``, interleaved) and this process's peak RSS."""
    P.simulate(portfolio, n_scenarios=2 * DEFAULT_BLOCK_SIZE, seed=0, threads=threads)  # warm-up (tables, caches)
    load0 = os.getloadavg()[0]
    times, cpus, floors, floor_cpus = [], [], [], []
    res = None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        res = P.simulate(portfolio, n_scenarios=n, seed=1, threads=threads)
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        fw, fc = rng_floor(portfolio, n, threads)
        floors.append(fw)
        floor_cpus.append(fc)
    assert res is not None
    return {
        "contracts": len(portfolio.holdings), "scenarios": n, "threads": threads, "repeats": repeats,
        "engine_s": statistics.median(times), "floor_s": statistics.median(floors),
        "engine_cpu_s": statistics.median(cpus), "floor_cpu_s": statistics.median(floor_cpus),
        "load_before": load0, "load_after": os.getloadavg()[0],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "es99": res.value("es99"), "multiple": res.value("expected_multiple"),
    }


def _one(payoff: str, contracts: int, n: int, threads: int, repeats: int) -> None:
    """One configuration in this process (the parent runs each in its own process for its peak RSS)."""
    portfolio = terms_portfolio(contracts) if payoff == "terms" else numpy_portfolio(contracts)
    print(json.dumps(_measure(payoff, portfolio, n, threads, repeats)))


AIMS = {(10, 100_000): 10.0, (10, 1_000_000): 10.0, (300, 100_000): 3.0, (300, 1_000_000): 4.0,
        (1000, 100_000): 4.0, (1000, 1_000_000): 4.0}
RSS_AIMS = {(300, 1_000_000): 250.0, (1000, 1_000_000): 400.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contracts", type=int, nargs="+", default=[10, 300, 1000])
    ap.add_argument("--scenarios", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 2))
    ap.add_argument("--payoff", choices=["terms", "numpy"], default="terms")
    ap.add_argument("--repeats", type=int, default=3, help="median of this many runs (1 for the largest)")
    ap.add_argument("--one", nargs=3, type=int, metavar=("CONTRACTS", "SCENARIOS", "REPEATS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        _one(a.payoff, a.one[0], a.one[1], a.threads, a.one[2])
        return
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, {a.threads} threads, {a.payoff} payoffs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'contracts':>9} {'scenarios':>10} {'engine s':>9} {'floor s':>8} {'ratio':>6} {'aim':>5} "
          f"{'CPU ratio':>9} {'c-s/s':>9} {'peak RSS':>9} {'aim':>5} {'load':>10}  runs")
    for n in a.scenarios:
        for k in a.contracts:
            repeats = 1 if k * n >= 1000 * 1_000_000 else a.repeats
            out = subprocess.run([sys.executable, __file__, "--payoff", a.payoff, "--threads", str(a.threads),
                                  "--one", str(k), str(n), str(repeats)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            ratio = r["engine_s"] / r["floor_s"]
            cpu_ratio = r["engine_cpu_s"] / r["floor_cpu_s"]
            rss_aim = RSS_AIMS.get((k, n))
            print(f"{k:>9} {n:>10,} {r['engine_s']:>9.2f} {r['floor_s']:>8.2f} {ratio:>5.2f}x "
                  f"{AIMS.get((k, n), float('nan')):>4.0f}x {cpu_ratio:>8.2f}x {k * n / r['engine_s']:>9.3g} "
                  f"{r['peak_rss_mib']:>6.0f} MiB {rss_aim or float('nan'):>5.0f} "
                  f"{r['load_before']:>4.1f}/{r['load_after']:<4.1f}  {repeats}", flush=True)


if __name__ == "__main__":
    main()
