"""The Monte Carlo kernel: correlated outcomes -> payments -> investor and payer cash flows.

Design (docs/portfolio.md, "Reproducibility and performance", explains why):

- Scenarios are processed in *chunks* (default 8192), vectorised inside a chunk and spread over a
  thread pool (numpy ufuncs and the random generators release the GIL). BLAS is pinned to one thread
  with ``threadpoolctl`` so the two levels of parallelism do not fight.
- Random numbers come from independent streams ``SeedSequence(seed, spawn_key=(key, block))``, where
  ``key`` is a CRC-32 of the contract id (or of the factor name) and ``block`` indexes fixed blocks of
  ``block_size`` scenarios. A scenario's draws therefore depend only on the seed, the block size and the
  contract or factor it belongs to: not on the thread count, not on the chunk size (a multiple of the
  block size), and not on which other contracts are in the portfolio (common random numbers for
  what-if analysis).
- Arrays over scenarios are float32; sums, means and the portfolio loss are float64.
- Nothing of size scenarios x contracts or scenarios x organisations is held: per chunk the kernel
  keeps contracts x chunk losses, payment days x chunk cash flows and organisations x chunk payments;
  an :class:`Accumulator` keeps the per-scenario portfolio loss and IRR, per-block moments, the tail
  store of the top 5 % of scenarios and the largest payments per organisation. A scenario's numbers
  are computed elementwise (no BLAS products), so they do not depend on the chunk it was in.
"""

from __future__ import annotations

import ctypes
import inspect
import itertools
import math
import os
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from portfolio.contract import ContractModel, Holding, Portfolio, add_months, payment_day
from portfolio.outcomes import Bernoulli, LatentTransform
from portfolio.risk import irr as irr_fn
from portfolio.risk import tail_rank

__all__ = ["Stress", "RawRun", "run", "contract_key", "DEFAULT_BLOCK_SIZE", "extreme_outcomes",
           "evaluate_outcomes"]

DEFAULT_BLOCK_SIZE = 8192
_SYSTEMIC_CHI2_KEY = 2**32 + 1  # outside the CRC-32 range, so it never collides with a factor or contract
_MAX_DELAY_MONTHS = 240
_F32 = np.float32


@dataclass(frozen=True)
class Stress:
    """A named deterministic change to the base model, run with the same random numbers.

    Attributes
    ----------
    factor_shift
        Factor name (``"global"``, ``"country:SE"``, ``"payer:<org>"``, ``"sector:<sector>"``) -> shift
        of that factor in standard deviations (negative = bad times).
    extra_delay_months
        Months added to every contract's savings delay; contracts without a delay model get their
        outcome and premium payments shifted by this much.
    forced
        Contract id -> metric -> value the metric takes in every scenario.
    """

    name: str
    description: str = ""
    factor_shift: Mapping[str, float] = field(default_factory=dict)
    extra_delay_months: float = 0.0
    forced: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def contract_key(contract_id: str) -> int:
    """Stable 32-bit stream key of a contract or factor name (never Python's salted ``hash``)."""
    return zlib.crc32(contract_id.encode("utf-8"))


def _generator(seed: int, key: int, block: int) -> np.random.Generator:
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(key, block))))


def extreme_outcomes(contract: ContractModel, limit: int = 4096) -> dict[str, np.ndarray]:
    """Combinations of each metric's extreme values (both tails, point masses, True/False).

    Used to bound contractual exposures and to find each contract's worst case. All combinations are
    taken up to ``limit``; beyond that a fixed pseudo-random subset (seeded by the contract id).
    """
    names = list(contract.outcomes)
    options: list[list[Any]] = []
    for name in names:
        m = contract.outcomes[name]
        if m.kind == "binary":
            options.append([False, True])
        else:
            vals = sorted({*m.extremes(), float(m.termination_value())})
            options.append(vals)
    total = math.prod(len(o) for o in options)
    if total <= limit:
        combos = list(itertools.product(*options))
    else:
        rng = np.random.default_rng(contract_key(contract.id))
        combos = [tuple(o[rng.integers(len(o))] for o in options) for _ in range(limit)]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        col = [c[j] for c in combos]
        if contract.outcomes[name].kind == "binary":
            out[name] = np.array(col, dtype=bool)
        else:
            out[name] = np.array(col, dtype=_F32)
    return out


def evaluate_outcomes(contract: ContractModel, outcomes: Mapping[str, Any]) -> Any:
    """Evaluate a contract's payoff, broadcasting scalar outcomes to arrays of one common length."""
    n = max((np.size(v) for v in outcomes.values()), default=1)
    arrays = {}
    for name, v in outcomes.items():
        kind = contract.outcomes[name].kind if name in contract.outcomes else "continuous"
        arr = np.broadcast_to(np.asarray(v, dtype=bool if kind == "binary" else _F32), (n,))
        arrays[name] = np.ascontiguousarray(arr)
    return contract.payoff.evaluate(arrays)


def reaches_position(contract: ContractModel, flow: Any) -> bool:
    """Whether a flow is a receipt of the investor position held.

    A flow counts when its payee is one of ``contract.investors`` and the payoff does not mark it as
    not reaching investors (``registry.terms`` flags waterfall inflows ``to_investor=False``).
    """
    return flow.payee in contract.investors and bool(getattr(flow, "to_investor", True))


def position_repayment(contract: ContractModel, ev: Any, n: int) -> np.ndarray:
    """What the investor position receives in each of ``n`` scenarios (contract currency, float64).

    Without named investors, the payoff's own ``investor_repayment``.
    """
    if not contract.investors:
        return np.broadcast_to(np.asarray(ev.investor_repayment, dtype=np.float64), (n,))
    total = np.zeros(n)
    for f in ev.flows:
        if reaches_position(contract, f):
            total += np.broadcast_to(np.asarray(f.amount, dtype=np.float64), (n,))
    return total


@dataclass
class _Unit:
    """One holding prepared for the kernel."""

    holding: Holding
    index: int
    key: int
    transforms: list[tuple[str, LatentTransform]]
    delay_transform: LatentTransform | None
    scale: float  # weight x fx: contract currency -> held base-currency amount
    fx: float
    capital_base: float
    idio_sd: float
    n_draws: int
    payer_owner: bool  # the first holding of a contract reports the payer flows (no double counting)
    forced: dict[str, Any]
    extra_delay: float
    flow_meta: dict[tuple[str, str, str], tuple[int, np.ndarray | None, int]] = field(default_factory=dict)
    default_col: int = 0
    window_metrics: tuple[str, ...] = ()
    position: bool = True  # holds an investor position that the payment terms pay
    eval_kw: dict[str, Any] = field(default_factory=dict)


@dataclass
class RawRun:
    """Everything a run keeps, before it becomes tables (see :mod:`portfolio.results`).

    Only the portfolio loss and IRR are kept per scenario; everything else is per block of scenarios
    or a bounded set of the largest values, so memory grows with the scenario count by 16 bytes a
    scenario, not by the number of contracts or organisations.
    """

    portfolio: Portfolio
    stress: Stress | None
    n: int
    seed: int
    block_size: int
    loss: np.ndarray  # (S,) float64 portfolio loss = capital - repayment
    irr: np.ndarray  # (S,) float64
    pv_stats: np.ndarray  # (n_blocks, 3) count, sum, squared deviations of the NPV at the hurdle rate
    org_stats: np.ndarray  # (n_blocks, n_orgs, 4) sum, squared deviations, count > 0, max of payments
    org_top: np.ndarray  # (n_orgs, m) largest payments per organisation, ascending (m: top_count(S, 0.99))
    org_batch_top: np.ndarray  # (n_batches, n_orgs, m_b) the same per standard-error batch
    org_keys: list[tuple[str, str]]  # (organisation, role)
    org_max: np.ndarray  # (n_orgs,) maximum contractual exposure (over extreme outcome combinations)
    block_stats: np.ndarray  # (n_blocks, N, 5) float64 sums: L, L^2, L+, L+^2, 1[L>0]
    tail_rows: np.ndarray  # (K, N) float32 contract losses of the top-K scenarios, ascending
    tail_loss: np.ndarray  # (K,) float64
    tail_index: np.ndarray  # (K,) int64
    worst_repayment: np.ndarray  # (N,) base-currency repayment in the contract's worst outcome combination
    factor_names: list[str]
    units_capital: np.ndarray  # (N,) float64
    paid_positions: np.ndarray  # (N,) bool: an investor position that the payment terms pay something
    capital: float
    threads: int
    chunk_size: int

    @property
    def repayment(self) -> np.ndarray:
        """(S,) float64 portfolio repayment (capital - loss)."""
        return self.capital - self.loss


def _factor_names(
    holdings: tuple[Holding, ...]
) -> tuple[list[str], np.ndarray, list[tuple[tuple[int, np.float32], ...]]]:
    """Factor names, the dense loading matrix and, per holding, its non-zero (factor, loading) terms.

    The kernel adds the terms one by one in the listed order (global, country, payer, sector) rather
    than through a matrix product: BLAS blocks a product by the width of its operands and may use
    FMA kernels on some column panels, so ``load @ factors`` gives a scenario different bits depending
    on the chunk it was computed in.
    """
    names = ["global"]
    index = {"global": 0}
    rows = []
    for h in holdings:
        c = h.contract
        keys = [("global", c.loadings.global_), (f"country:{c.country}", c.loadings.country),
                (f"payer:{c.primary_payer}", c.loadings.payer), (f"sector:{c.sector}", c.loadings.sector)]
        row = {}
        for name, beta in keys:
            if name not in index:
                index[name] = len(names)
                names.append(name)
            row[index[name]] = row.get(index[name], 0.0) + beta
        rows.append(row)
    load = np.zeros((len(holdings), len(names)), dtype=_F32)
    terms = []
    for i, row in enumerate(rows):
        for k, beta in row.items():
            load[i, k] = beta
        terms.append(tuple((k, np.float32(beta)) for k, beta in row.items() if beta != 0.0))
    return names, load, terms


def _prepare_units(portfolio: Portfolio, stress: Stress | None, df: float | None) -> list[_Unit]:
    units = []
    seen: set[str] = set()
    for i, h in enumerate(portfolio.holdings):
        c = h.contract
        unknown = set(stress.forced.get(c.id, {})) - set(c.outcomes) if stress else set()
        if unknown:
            raise ValueError(f"stress {stress.name!r}: {c.id} has no metric {sorted(unknown)}")
        transforms = [(name, LatentTransform(m, df)) for name, m in c.outcomes.items()]
        delay_t = LatentTransform(c.delay.months, df) if c.delay else None
        m = len(transforms)
        n_draws = 1 + (m if m > 1 else 0) + (1 if delay_t else 0)
        r2 = float(np.sum(np.square(_factor_row(c))))
        window = ()
        if c.delay and c.delay.effect == "window":
            window = c.delay.metrics or tuple(n for n, mm in c.outcomes.items() if mm.kind != "binary")
        units.append(_Unit(
            holding=h, index=i, key=contract_key(c.id), transforms=transforms, delay_transform=delay_t,
            scale=h.weight * h.fx_rate, fx=h.fx_rate, capital_base=h.capital_base, position=h.position,
            idio_sd=math.sqrt(max(1.0 - r2, 0.0)), n_draws=n_draws, payer_owner=c.id not in seen,
            forced=dict(stress.forced.get(c.id, {})) if stress else {},
            extra_delay=float(stress.extra_delay_months) if stress else 0.0, window_metrics=window,
            eval_kw=_fast_evaluate_kw(c.payoff),
        ))
        seen.add(c.id)
    return units


def _fast_evaluate_kw(payoff: Any) -> dict[str, Any]:
    """``{"breakdown": False}`` when the payoff's ``evaluate`` takes it (``registry.terms``).

    The kernel reads only the flows and the investor repayment, so per-organisation and per-component
    totals would be computed for nothing; payoffs without the keyword are called as the protocol says.
    """
    try:
        params = inspect.signature(payoff.evaluate).parameters
    except (TypeError, ValueError):
        return {}
    p = params.get("breakdown")
    return {"breakdown": False} if p is not None and p.kind is inspect.Parameter.KEYWORD_ONLY else {}


def _factor_row(c: ContractModel) -> np.ndarray:
    lo = c.loadings
    return np.array([lo.global_, lo.country, lo.payer, lo.sector])


def _max_delay(u: _Unit) -> int:
    c = u.holding.contract
    extra = u.extra_delay
    if c.delay is None:
        return int(math.ceil(extra))
    if c.delay.effect != "shift":
        return 0
    top = max(float(v) for v in c.delay.months.extremes())
    return int(min(math.ceil(max(top, 0.0) + extra) + 1, _MAX_DELAY_MONTHS))


class _Kernel:
    def __init__(self, portfolio: Portfolio, stress: Stress | None, seed: int, n: int, block_size: int) -> None:
        self.portfolio, self.stress, self.seed, self.n, self.block_size = portfolio, stress, seed, n, block_size
        self.df = portfolio.df if portfolio.copula == "t" else None
        self.units = _prepare_units(portfolio, stress, self.df)
        self.factor_names, self.load, self.terms = _factor_names(portfolio.holdings)
        self.factor_keys = [contract_key("factor:" + f) for f in self.factor_names]
        shift = np.zeros(len(self.factor_names), dtype=_F32)
        for name, value in (stress.factor_shift.items() if stress else ()):
            if name in self.factor_names:
                shift[self.factor_names.index(name)] = value
        self.shift = shift if np.any(shift) else None
        self.tail_k = n - tail_rank(n, 0.95) + 1
        self.tail_floor = -np.inf  # the tail store's threshold loss, raised as the run goes on
        self._probe()
        self.capital = float(sum(u.capital_base for u in self.units))
        self.cap_vec = np.array([u.capital_base for u in self.units], dtype=np.float64)
        self.loss_tol = 1e-6 * self.cap_vec

    # -- preparation: probe every payoff once on extreme outcomes -------------------------------------
    def _probe(self) -> None:
        # Cash flows are booked on their exact day: the columns of a chunk's cash-flow table are every
        # day a payment can fall on (drawdowns, default dates, each probed flow's date and, for flows a
        # delay shifts, that date moved by each whole number of months the delay can take).
        days: set[date] = set()
        org_index: dict[tuple[str, str], int] = {}
        org_max: dict[int, float] = {}
        self.worst: list[dict[str, Any]] = []
        worst_rep = []
        probes = []
        for u in self.units:
            c = u.holding.contract
            for d, _ in c.drawdown_schedule():
                days.add(d)
            days.add(c.default_payment_date)
            combos = extreme_outcomes(c)
            ev = evaluate_outcomes(c, combos)
            probes.append((u, combos, ev))
            if u.position and c.investors and not any(reaches_position(c, f) for f in ev.flows):
                # The terms pay the named investors nothing in any outcome: their money goes elsewhere
                # (an intermediary without a pass-through). Reported as no position, not a total loss.
                u.position, u.capital_base = False, 0.0
            top = _max_delay(u)
            for f in ev.flows:
                d = payment_day(f.date, c.default_payment_date)
                days.add(d)
                if self._shifted(u, f):
                    days.update(add_months(d, m) for m in range(1, top + 1))
        self.col_days = np.array(sorted(d.toordinal() for d in days), dtype=np.int64)
        self.day0 = int(self.col_days[0])
        self.n_cols = len(self.col_days)
        # Drawdowns: deterministic, the same in every scenario.
        draws = np.zeros(self.n_cols)
        for u in self.units:
            if not u.position:
                continue
            for d, amount in u.holding.contract.drawdown_schedule():
                draws[self._col(d)] -= float(amount) * u.scale
        self.draws = draws
        self.draw_rows = np.flatnonzero(draws)
        for u, combos, ev in probes:
            c = u.holding.contract
            u.default_col = self._col(c.default_payment_date)
            n_combo = len(next(iter(combos.values())))
            rep = position_repayment(c, ev, n_combo)
            j = int(np.argmin(rep))
            self.worst.append({k: (bool(v[j]) if v.dtype == bool else float(v[j])) for k, v in combos.items()})
            worst_rep.append(float(rep[j]) * u.scale if u.position else 0.0)
            per_org: dict[int, np.ndarray] = {}
            for f in ev.flows:
                meta = self._flow_meta(u, f, org_index)
                if meta[2] >= 0:
                    amt = np.broadcast_to(np.asarray(f.amount, dtype=np.float64), (n_combo,))
                    per_org[meta[2]] = per_org.get(meta[2], 0.0) + amt
            if u.payer_owner:
                for k, amt in per_org.items():
                    org_max[k] = org_max.get(k, 0.0) + float(np.max(amt)) * u.fx
        self.org_index = org_index
        self.org_keys = sorted(org_index, key=org_index.get)  # type: ignore[arg-type]
        self.org_max = np.array([org_max.get(i, 0.0) for i in range(len(self.org_keys))])
        self.worst_repayment = np.array(worst_rep)

    def _flow_meta(
        self, u: _Unit, f: Any, org_index: dict[tuple[str, str], int] | None
    ) -> tuple[int, np.ndarray | None, int]:
        """(day column, columns by whole months of delay or None, organisation row or -1) of a flow.

        Cached per unit.

        ``org_index`` is None inside the kernel: a flow first seen there (not produced by the probe)
        can only report to an organisation row that already exists.
        """
        key = (str(f.id), str(f.payer), str(f.payee))
        meta = u.flow_meta.get(key)
        if meta is not None:
            return meta
        c = u.holding.contract
        day = payment_day(f.date, c.default_payment_date)
        col = self._col(day)
        org = -1
        if u.payer_owner and (f.payer in c.payers or f.payer in c.guarantors):
            is_guar = f.payer in c.guarantors and (str(f.component) == "guarantee" or f.payer not in c.payers)
            ok = (f.payer, "guarantor" if is_guar else "outcome_payer")
            if org_index is None:
                org = self.org_index.get(ok, -1)
            else:
                org = org_index.setdefault(ok, len(org_index))
        shift = None
        if self._shifted(u, f):
            # Column of the payment moved by 0, 1, ... whole months (delays beyond take the last).
            moved = [add_months(day, m).toordinal() for m in range(_max_delay(u) + 1)]
            shift = np.minimum(np.searchsorted(self.col_days, moved), self.n_cols - 1).astype(np.intp)
        meta = (col, shift, org)
        u.flow_meta[key] = meta
        return meta

    def _col(self, day: date) -> int:
        """The cash-flow column of a day; a day no probe produced takes the nearest later column."""
        return min(int(np.searchsorted(self.col_days, day.toordinal())), self.n_cols - 1)

    @staticmethod
    def _shifted(u: _Unit, f: Any) -> bool:
        """Whether a delay moves this flow (the delay model's components, or a stress's extra delay)."""
        c = u.holding.contract
        if c.delay is not None:
            return c.delay.effect == "shift" and str(f.component) in c.delay.components
        return bool(u.extra_delay) and str(f.component) in ("outcome", "premium")

    # -- accumulation ---------------------------------------------------------------------------------
    def accumulator(self, start: int, stop: int) -> Accumulator:
        return Accumulator(self.n, self.block_size, len(self.units), len(self.org_keys), self.tail_k,
                           start=start, stop=stop)

    def raw_run(self, acc: Accumulator, threads: int, chunk: int) -> RawRun:
        tail_rows, tail_loss, tail_index = acc.tail.finish()
        org_top = acc.org_top.finish()
        n_orgs = len(self.org_keys)
        batch = (np.stack([np.sort(acc.org_batch[b], axis=1) for b in range(acc.nb)]) if n_orgs
                 else np.empty((acc.nb, 0, 0)))
        return RawRun(
            portfolio=self.portfolio, stress=self.stress, n=self.n, seed=self.seed, block_size=self.block_size,
            loss=acc.loss, irr=acc.irr, pv_stats=acc.pv, org_stats=acc.org, org_top=org_top,
            org_batch_top=batch, org_keys=self.org_keys, org_max=self.org_max, block_stats=acc.stats,
            tail_rows=tail_rows, tail_loss=tail_loss, tail_index=tail_index,
            worst_repayment=self.worst_repayment, factor_names=self.factor_names, units_capital=self.cap_vec,
            paid_positions=np.array([u.position for u in self.units], dtype=bool),
            capital=self.capital, threads=threads, chunk_size=chunk,
        )

    # -- the chunk kernel ----------------------------------------------------------------------------
    def _blocks(self, start: int, stop: int) -> list[tuple[int, slice]]:
        bs = self.block_size
        out = []
        for b in range(start // bs, (stop - 1) // bs + 1):
            lo, hi = max(b * bs, start), min((b + 1) * bs, stop)
            out.append((b, slice(lo - start, hi - start)))
        return out

    def _draw(self, key: int, rows: int, blocks: list[tuple[int, slice]], width: int) -> np.ndarray:
        if len(blocks) == 1:
            b, _ = blocks[0]
            out = np.empty((rows, width), dtype=_F32)
            _generator(self.seed, key, b).standard_normal(out=out, dtype=_F32)
            return out
        out = np.empty((rows, width), dtype=_F32)
        for b, sl in blocks:
            # Each block draws its own (rows, block length) array, so the values do not depend on chunking.
            out[:, sl] = _generator(self.seed, key, b).standard_normal((rows, sl.stop - sl.start), dtype=_F32)
        return out

    def _book(self, u: _Unit, c: ContractModel, ev: Any, delay: np.ndarray | None, width: int,
              losses: np.ndarray, cf: _CashFlows, org_pay: np.ndarray) -> None:
        """Post one contract's flows: position repayment, loss row, investor cash flows, payer totals.

        Amounts are never written to: a total of one flow is that flow's array itself, a total of
        several is a float64 copy of the first with the others added in place (a left fold, the same
        bits as adding them to zeros).
        """
        position = u.position
        named = bool(c.investors) or not position
        count_mine = position and bool(c.investors)
        mine: list[tuple[np.ndarray, int, np.ndarray | None]] = []
        by_org: dict[int, list[np.ndarray]] = {}
        for f in ev.flows:
            col, shifted, org = self._flow_meta(u, f, None)
            is_mine = count_mine and reaches_position(c, f)
            if org < 0 and not is_mine:
                continue
            amt = f.amount
            if type(amt) is not np.ndarray or amt.shape != (width,):
                amt = np.broadcast_to(np.asarray(amt), (width,))
            if org >= 0:
                by_org.setdefault(org, []).append(amt)
            if is_mine:
                mine.append((amt, col, shifted))
        if named:
            rep = _total64([a for a, _, _ in mine], width)
        else:
            rep = np.asarray(ev.investor_repayment, dtype=np.float64)
            if rep.shape != (width,):
                rep = np.broadcast_to(rep, (width,))
        scale = u.scale
        held = rep if scale == 1.0 else rep * scale  # x * 1.0 == x: skip the pass
        out = losses[u.index]
        np.subtract(np.float64(u.capital_base), held, out=out, casting="same_kind")
        # Investor cash flows: one addition per distinct payment day (usually one per contract).
        months = None
        if delay is not None and (c.delay is None or c.delay.effect == "shift"):
            months = np.rint(delay).astype(np.intp)
        if not named:
            cf.add(u.default_col, held)
        elif mine:
            moved = [sh is not None and months is not None for _, _, sh in mine]
            plain = {col for (_, col, _), mv in zip(mine, moved, strict=True) if not mv}
            if len(plain) == 1 and not any(moved):
                col = plain.pop()
                cf.add(col, held)
            else:
                for (amt, col, sh), mv in zip(mine, moved, strict=True):
                    if mv:
                        assert sh is not None and months is not None
                        rows = sh[np.minimum(months, len(sh) - 1)]
                        cf.add_by_scenario(rows, amt * scale)
                    else:
                        cf.add(col, amt * scale)
        mine_ids = [id(a) for a, _, _ in mine]
        for org, amts in by_org.items():
            if [id(a) for a in amts] == mine_ids:
                total = rep  # the payer pays exactly the position's receipts: reuse the sum
            elif len(amts) == 1:
                total = amts[0] if amts[0].dtype == np.float64 else amts[0].astype(np.float64)
            else:
                total = np.sum(amts, axis=0, dtype=np.float64)
            if u.fx == 1.0:
                org_pay[org] += total
            else:
                org_pay[org] += total * u.fx

    def chunk(self, start: int, stop: int) -> dict[str, Any]:
        """Simulate scenarios ``start:stop``: what the accumulator needs of them (see :class:`Accumulator`)."""
        width = stop - start
        blocks = self._blocks(start, stop)
        n_units = len(self.units)
        factors, t_scale = self._systemic(blocks, width)
        losses = np.empty((n_units, width), dtype=_F32)
        cf = _CashFlows(width)
        for r in self.draw_rows:
            cf.row(int(r))[:] = self.draws[r]
        org_pay = np.zeros((len(self.org_keys), width))
        tmp = np.empty(width, dtype=_F32)
        for u in self.units:
            c = u.holding.contract
            outcomes, delay = self._outcomes(u, blocks, width, factors, t_scale, tmp)
            ev = c.payoff.evaluate(outcomes, **u.eval_kw)
            self._book(u, c, ev, delay, width, losses, cf, org_pay)
        loss = losses.sum(axis=0, dtype=np.float64)
        irr, pv = self._irr_and_pv(cf, blocks, width)
        org_stats, org_top, org_batch = self._organisation_payments(org_pay, blocks, start, stop)
        # Candidate tail scenarios: every scenario whose loss reaches the chunk's K-th largest value
        # (ties included, so the exact (loss, index) ordering can be applied when merging).
        # Below the tail store's current threshold (it only rises, so a stale value is safe) a scenario
        # can never enter the final tail: it is not copied out.
        idx = np.arange(start, stop)
        cut = self.tail_floor
        if width > self.tail_k:
            cut = max(cut, float(np.partition(loss, width - self.tail_k)[width - self.tail_k]))
        sel = np.flatnonzero(loss >= cut) if cut > -np.inf else np.arange(width)
        # Early in a run every scenario is a candidate: the chunk's losses go out as a transposed view
        # (shape ``(width, n_units)``), not as a second copy of them.
        return {
            "start": start, "stop": stop, "loss": loss, "irr": irr, "pv": self._pv_moments(pv, blocks),
            "org": org_stats, "org_top": org_top, "org_batch": org_batch, "stats": self._loss_moments(losses, blocks),
            "tail_rows": losses.T if sel.size == width else _rows_of(losses, sel),
            "tail_loss": loss[sel], "tail_index": idx[sel],
        }

    def _systemic(self, blocks: list[tuple[int, slice]], width: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The factors, shape ``(n_factors, width)`` (stress shift applied), and the t copula's common scale.

        The scale, shape ``(width,)``, is ``sqrt(df / chi2_df)`` drawn once per scenario; ``None`` for the
        Gaussian copula.
        """
        factors = np.empty((len(self.factor_names), width), dtype=_F32)
        for k, key in enumerate(self.factor_keys):
            factors[k] = self._draw(key, 1, blocks, width)[0]
        if self.shift is not None:
            factors += self.shift[:, None]
        if self.df is None:
            return factors, None
        w = np.empty(width, dtype=np.float64)
        for b, sl in blocks:
            w[sl] = _generator(self.seed, _SYSTEMIC_CHI2_KEY, b).chisquare(self.df, sl.stop - sl.start)
        return factors, np.sqrt(self.df / w).astype(_F32)

    def _outcomes(self, u: _Unit, blocks: list[tuple[int, slice]], width: int, factors: np.ndarray,
                  t_scale: np.ndarray | None, tmp: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """One contract's outcomes, each of shape ``(width,)``, and its delay in months (``None``: no delay).

        ``tmp`` is scratch space of shape ``(width,)``, reused from contract to contract.
        """
        c = u.holding.contract
        eps = self._draw(u.key, u.n_draws, blocks, width)
        # Systemic part of the contract's latent score: its factor terms added one by one.
        sysv = np.multiply(factors[self.terms[u.index][0][0]], self.terms[u.index][0][1]) \
            if self.terms[u.index] else np.zeros(width, dtype=_F32)
        for k, beta in self.terms[u.index][1:]:
            np.multiply(factors[k], beta, out=tmp)
            sysv += tmp
        multi = len(u.transforms) > 1
        blended = multi or u.delay_transform is not None
        # Each metric (and the delay) shares the systemic part in full and blends the contract's own
        # shock eps0 with its own noise: contract-specific part c*eps0 + sqrt(1 - c^2)*eps_j with
        # c = metric_correlation. Correlations with other contracts therefore do not depend on how
        # many metrics a contract has; within the contract two metrics correlate R2 + (1 - R2) c^2.
        base = None
        if blended:
            base = eps[0] * np.float32(u.idio_sd * c.metric_correlation)
            base += sysv
        if not multi:
            x = eps[0]
            x *= np.float32(u.idio_sd)
            x += sysv  # one metric: its score is the contract's score
        noise = np.float32(u.idio_sd * math.sqrt(max(1.0 - c.metric_correlation ** 2, 0.0)))
        outcomes: dict[str, np.ndarray] = {}
        for j, (name, tr) in enumerate(u.transforms):
            if name in u.forced:
                v = u.forced[name]
                outcomes[name] = np.full(width, v, dtype=bool if tr.kind == "binary" else _F32)
                continue
            if multi:
                xm = eps[1 + j]  # own noise row, blended with the contract's shock
                xm *= noise
                xm += base
            else:
                xm = x
            if t_scale is not None:
                xm *= t_scale
            outcomes[name] = tr(xm)
        delay = None
        if u.delay_transform is not None:
            # Bad programme years are late ones: the delay loads negatively on the contract score.
            xd = eps[-1]
            xd *= noise
            xd += base
            if t_scale is not None:
                xd *= t_scale
            np.negative(xd, out=xd)
            delay = np.maximum(u.delay_transform(xd), 0, dtype=_F32)
        if u.extra_delay:
            delay = (delay if delay is not None else np.zeros(width, dtype=_F32)) + np.float32(u.extra_delay)
        if delay is not None and c.delay is not None and c.delay.effect == "window":
            keep = np.clip(1.0 - delay / np.float32(c.delay.window_months), 0.0, 1.0).astype(_F32)
            for name in u.window_metrics:
                y = outcomes[name]
                outcomes[name] = np.where(y > 0, y * keep, y)
        return outcomes, delay

    def _loss_moments(self, losses: np.ndarray, blocks: list[tuple[int, slice]]) -> np.ndarray:
        """Per block and contract: sum and sum of squares of the loss and of its positive part, and loss count.

        ``losses`` has shape ``(n_units, width)``; the result ``(n_blocks, n_units, 5)``.
        """
        n_units = losses.shape[0]
        stats = np.empty((len(blocks), n_units, 5))
        for j, (_, sl) in enumerate(blocks):
            for r0 in range(0, n_units, 8):  # 8 contracts at a time: float64 temporaries stay small
                rs = slice(r0, r0 + 8)
                lb = losses[rs, sl].astype(np.float64)
                pos = np.maximum(lb, 0.0)
                stats[j, rs, 0] = lb.sum(axis=1)
                stats[j, rs, 1] = np.square(lb).sum(axis=1)
                stats[j, rs, 2] = pos.sum(axis=1)
                stats[j, rs, 3] = np.square(pos).sum(axis=1)
                # A loss below a millionth of capital is rounding in the payment terms, not a loss.
                stats[j, rs, 4] = (lb > self.loss_tol[rs, None]).sum(axis=1)
        return stats

    def _irr_and_pv(self, cf: _CashFlows, blocks: list[tuple[int, slice]],
                    width: int) -> tuple[np.ndarray, np.ndarray]:
        """Each scenario's IRR and NPV at the hurdle rate, shape ``(width,)``, from the cash flows ``cf``.

        ``cf`` holds a row of shape ``(width,)`` for each payment day written in the chunk.
        """
        # Days with a non-zero cash flow, in day order.
        used = np.array([r for r in sorted(cf.rows) if cf.rows[r].any()], dtype=np.intp)
        used_rows = [cf.rows[r] for r in used]
        # Actual days / 365 from the first payment day, the XIRR convention of ``utfall payout``.
        times = (self.col_days[used] - self.day0) / 365.0
        # The IRR solver keeps a few (months x scenarios) temporaries: solve in slices to bound memory.
        # Slices start at block starts, never at chunk starts: the bisection fallback stops when its
        # whole slice has converged, so a slice must hold the same scenarios whatever the chunk size.
        irr = np.empty(width)
        pv = np.empty(width)
        disc_h = ((1.0 + self.portfolio.hurdle_rate) ** -times)[:, None]
        for _, sl in blocks:
            for lo in range(sl.start, sl.stop, 2048):
                hi = min(lo + 2048, sl.stop)
                part = np.stack([row[lo:hi] for row in used_rows]) if used_rows else np.zeros((0, hi - lo))
                irr[lo:hi] = irr_fn(part, times)
                pv[lo:hi] = (part * disc_h).sum(axis=0)
        return irr, pv

    @staticmethod
    def _pv_moments(pv: np.ndarray, blocks: list[tuple[int, slice]]) -> np.ndarray:
        """Per block: scenario count and the first two moments of the NPV, shape ``(n_blocks, 3)``."""
        pv_stats = np.empty((len(blocks), 3))
        for j, (_, sl) in enumerate(blocks):
            pv_stats[j, 0] = sl.stop - sl.start
            pv_stats[j, 1], pv_stats[j, 2] = _block_moments(pv[sl])
        return pv_stats

    def _organisation_payments(self, org_pay: np.ndarray, blocks: list[tuple[int, slice]], start: int,
                               stop: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]:
        """What the accumulator keeps of each organisation's payments, shape ``(n_orgs, width)``.

        Per block moments, share paying and maximum ``(n_blocks, n_orgs, 4)``; the largest payments of the
        chunk; and the largest per standard-error batch.
        """
        width = stop - start
        n_orgs = len(self.org_keys)
        org_stats = np.empty((len(blocks), n_orgs, 4))
        if n_orgs:
            for j, (_, sl) in enumerate(blocks):
                ob = org_pay[:, sl]
                org_stats[j, :, 0], org_stats[j, :, 1] = _block_moments(ob)
                org_stats[j, :, 2] = (ob > 0).sum(axis=1)
                org_stats[j, :, 3] = ob.max(axis=1)
        org32 = org_pay.astype(_F32)
        # Organisation payments: the largest of the chunk overall and per standard-error batch, enough
        # for the 99th percentile and its batch standard error (see Accumulator).
        m = top_count(self.n, 0.99)
        org_top = org32 if width <= m else np.partition(org32, width - m, axis=1)[:, width - m:]
        nb, size = quantile_layout(self.n)
        bm = top_count(size, 0.99)
        org_batch = []
        for b in range(start // size, min((stop - 1) // size, nb - 1) + 1):
            lo, hi = max(b * size, start) - start, min((b + 1) * size, stop) - start
            piece = org32[:, lo:hi]
            if hi - lo > bm:
                piece = np.partition(piece, hi - lo - bm, axis=1)[:, hi - lo - bm:]
            org_batch.append((b, np.ascontiguousarray(piece)))
        return org_stats, org_top, org_batch


def _rows_of(losses: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """``losses[:, sel].T`` as a C-contiguous ``(len(sel), n_units)`` array, copied 1024 columns at a time.

    Early in a run every scenario of a chunk is a tail candidate; gathering them in one go would hold a
    second copy of the chunk's contract losses.
    """
    out = np.empty((sel.size, losses.shape[0]), dtype=losses.dtype)
    for j in range(0, sel.size, 1024):
        out[j:j + 1024] = losses[:, sel[j:j + 1024]].T
    return out


class _CashFlows:
    """A chunk's investor cash flows by payment day: a float64 row of shape ``(width,)`` per day written.

    Only the days some flow of the chunk falls on get a row (typically a few dozen of the hundreds of
    possible days). A dense ``(days, width)`` array of zeros would cost nothing for the rows never
    written, were it not that numpy asks the kernel for transparent huge pages on arrays of 4 MiB and
    more: each 2 MiB page touched then becomes resident whole, and the sparse table costs its full size
    in every thread.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows: dict[int, np.ndarray] = {}

    def row(self, col: int) -> np.ndarray:
        """The row of day column ``col``, created as zeros when first written."""
        r = self.rows.get(col)
        if r is None:
            r = self.rows[col] = np.zeros(self.width)
        return r

    def add(self, col: int, values: np.ndarray) -> None:
        """Add ``values``, shape ``(width,)``, to the day column ``col``."""
        r = self.row(col)
        r += values

    def add_by_scenario(self, cols: np.ndarray, values: np.ndarray) -> None:
        """Add ``values[s]`` to day column ``cols[s]`` of scenario ``s`` (both of shape ``(width,)``)."""
        order = np.argsort(cols, kind="stable")
        sorted_cols = cols[order]
        bounds = np.flatnonzero(np.diff(sorted_cols)) + 1
        for part in np.split(order, bounds):
            r = self.row(int(cols[part[0]]))
            r[part] += values[part]


def _total64(amounts: list[np.ndarray], width: int) -> np.ndarray:
    """Float64 left-fold sum of flow amounts; the array itself when there is one float64 flow."""
    if not amounts:
        return np.zeros(width)
    first = amounts[0]
    if len(amounts) == 1 and first.dtype == np.float64:
        return first
    total = first.astype(np.float64)
    for a in amounts[1:]:
        total += a
    return total



def quantile_layout(n: int) -> tuple[int, int]:
    """``(batches, batch size)`` of the batch-means standard errors over ``n`` scenarios."""
    nb = min(20, max(n // 50, 2))
    return nb, n // nb


def top_count(n: int, q: float) -> int:
    """How many of the largest of ``n`` values numpy's linear ``quantile(q)`` reads."""
    return n - int(math.floor((n - 1) * q))


def quantile_from_top(top: np.ndarray, n: int, q: float) -> np.ndarray:
    """numpy's linear-method quantile of each row from the row's largest values, sorted ascending.

    ``top`` is ``(rows, m)`` with ``m >= top_count(n, q)``: the ``m`` largest of ``n`` values per row.
    """
    vi = (n - 1) * q
    lo = int(math.floor(vi))
    g = vi - lo
    m = top.shape[1]
    a = top[:, lo - (n - m)].astype(np.float64)
    b = top[:, min(lo + 1, n - 1) - (n - m)].astype(np.float64)
    d = b - a
    return a + d * g if g < 0.5 else b - d * (1.0 - g)


class _TailStore:
    """The ``k`` scenarios with the largest (portfolio loss, scenario index), with their contract losses.

    Candidates at or below the running threshold (the k-th largest kept) are dropped on arrival; the
    buffer holds ``k`` rows plus some slack and is compacted in place (only the rows that fall out are
    overwritten), so memory is ``(k + slack) x contracts`` whatever the scenario count.
    """

    def __init__(self, k: int, n_units: int, slack: int) -> None:
        self.k, self.n_units = k, n_units
        self.cap = k + max(slack, 1)
        # Allocated once at full size: pages are only resident once written, and growing by copies
        # would hold old and new buffers at once.
        self.rows = np.empty((self.cap, n_units), dtype=_F32)
        self.loss = np.empty(self.cap)
        self.index = np.empty(self.cap, dtype=np.int64)
        self.count = 0
        self.thr: tuple[float, int] | None = None

    def floor(self) -> float:
        """The loss below which no scenario can enter the tail any more (-inf until the store is full)."""
        return self.thr[0] if self.thr is not None else -np.inf

    def add(self, rows: np.ndarray, loss: np.ndarray, index: np.ndarray) -> None:
        if self.thr is not None:
            tl, ti = self.thr
            keep = (loss > tl) | ((loss == tl) & (index > ti))
            if not keep.all():
                rows, loss, index = rows[keep], loss[keep], index[keep]
        pos = 0
        while pos < loss.size:
            if self.count == self.cap:
                self._compact()
            take = min(self.cap - self.count, loss.size - pos)
            sl = slice(self.count, self.count + take)
            self.rows[sl] = rows[pos:pos + take]
            self.loss[sl] = loss[pos:pos + take]
            self.index[sl] = index[pos:pos + take]
            self.count += take
            pos += take

    def _compact(self) -> None:
        c, k = self.count, self.k
        if c <= k:
            return
        order = np.lexsort((self.index[:c], self.loss[:c]))
        n_drop = c - k
        first = order[n_drop]
        self.thr = (float(self.loss[first]), int(self.index[first]))
        drop = np.sort(order[:n_drop])
        holes = drop[drop < k]
        keep_mask = np.ones(c - k, dtype=bool)
        keep_mask[drop[drop >= k] - k] = False
        movers = k + np.flatnonzero(keep_mask)
        self.rows[holes] = self.rows[movers]
        self.loss[holes] = self.loss[movers]
        self.index[holes] = self.index[movers]
        self.count = k

    def merge(self, other: _TailStore) -> None:
        self.add(other.rows[:other.count], other.loss[:other.count], other.index[:other.count])

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The kept rows sorted ascending by (loss, index), sorted in place."""
        self._compact()
        c = self.count
        rows, loss, index = self.rows[:c], self.loss[:c], self.index[:c]
        perm = np.lexsort((index, loss))
        loss[:], index[:] = loss[perm], index[perm]
        _permute_rows(rows, perm)
        return rows, loss, index


def _permute_rows(rows: np.ndarray, perm: np.ndarray, max_bytes: int = 4 * 2**20) -> None:
    """``rows[:] = rows[perm]`` a few columns at a time, so no copy beyond ``max_bytes`` is held.

    ``rows`` is ``(K, N)``; a whole copy of the tail (60 MB at 300 contracts and 1e6 scenarios) would
    otherwise set the run's peak memory at its very end.
    """
    step = max(1, max_bytes // max(rows.shape[0] * rows.itemsize, 1))
    for j in range(0, rows.shape[1], step):
        rows[:, j:j + step] = rows[perm, j:j + step]


class _TopValues:
    """Per row, the ``m`` largest values seen (values only: ties need no order), kept with a threshold."""

    def __init__(self, n_rows: int, m: int) -> None:
        self.m = m
        self.kept = [np.empty(0, dtype=_F32) for _ in range(n_rows)]
        self.pending: list[list[np.ndarray]] = [[] for _ in range(n_rows)]
        self.pending_n = [0] * n_rows
        self.thr = np.full(n_rows, -np.inf, dtype=_F32)

    def add(self, values: np.ndarray) -> None:
        for r in range(values.shape[0]):
            self._add_row(r, values[r])

    def _add_row(self, r: int, v: np.ndarray) -> None:
        if self.thr[r] > -np.inf:
            v = v[v > self.thr[r]]
        if v.size:
            self.pending[r].append(np.array(v, dtype=_F32))
            self.pending_n[r] += v.size
            if self.pending_n[r] >= self.m:
                self._compact(r)

    def _compact(self, r: int) -> None:
        allv = np.concatenate([self.kept[r], *self.pending[r]])
        if allv.size > self.m:
            allv = np.partition(allv, allv.size - self.m)[allv.size - self.m:]
            self.thr[r] = allv.min()
        self.kept[r], self.pending[r], self.pending_n[r] = allv, [], 0

    def merge(self, other: _TopValues) -> None:
        for r in range(len(other.kept)):
            other._compact(r)
            self._add_row(r, other.kept[r])

    def finish(self) -> np.ndarray:
        for r in range(len(self.kept)):
            self._compact(r)
        m = min((v.size for v in self.kept), default=0)
        return np.stack([np.sort(v)[-m:] if m else v[:0] for v in self.kept]) if self.kept else np.empty((0, 0))


def _block_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum and sum of squared deviations from the mean along the last axis (float64)."""
    s = x.sum(axis=-1, dtype=np.float64)
    d = x - (s / x.shape[-1])[..., None]
    return s, np.square(d).sum(axis=-1)


def combine_moments(counts: np.ndarray, sums: np.ndarray, m2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample variance from per-block counts, sums and squared deviations (blocks on axis 0).

    Chan et al.'s pairwise formula applied to all blocks at once: the same bits however the blocks were
    grouped into chunks or tasks.
    """
    n = counts.sum()
    shape = (-1,) + (1,) * (sums.ndim - 1)
    mean = sums.sum(axis=0) / n
    between = (counts.reshape(shape) * np.square(sums / counts.reshape(shape) - mean)).sum(axis=0)
    var = (m2.sum(axis=0) + between) / max(n - 1, 1)
    return mean, var


class Accumulator:
    """What a run keeps of the scenarios ``[start, stop)``, fed chunk results in any grouping.

    Per-scenario portfolio loss and IRR; per-block moments of contract losses, of the NPV at the hurdle
    rate and of organisation payments; the tail store; per organisation the largest payments overall and
    per standard-error batch. Everything is either placed by scenario or block, or a set (top values),
    so the result does not depend on how scenarios were grouped into chunks, threads or cluster tasks.
    """

    def __init__(self, n: int, block_size: int, n_units: int, n_orgs: int, tail_k: int, start: int = 0,
                 stop: int | None = None, tail_slack: int = 2048) -> None:
        stop = n if stop is None else stop
        self.n, self.block_size, self.start, self.stop = n, block_size, start, stop
        self.b0 = start // block_size
        nbk = -(-stop // block_size) - self.b0
        self.loss = np.empty(stop - start)
        self.irr = np.empty(stop - start)
        self.stats = np.empty((nbk, n_units, 5))
        self.pv = np.empty((nbk, 3))  # count, sum, squared deviations
        self.org = np.empty((nbk, n_orgs, 4))  # sum, squared deviations, count > 0, max
        self.tail = _TailStore(tail_k, n_units, tail_slack)
        self.org_top = _TopValues(n_orgs, top_count(n, 0.99))
        self.nb, self.size = quantile_layout(n)
        self.batch_m = top_count(self.size, 0.99)
        self.org_batch: dict[int, np.ndarray] = {}

    def add(self, res: dict[str, Any]) -> None:
        lo, hi = res["start"] - self.start, res["stop"] - self.start
        self.loss[lo:hi], self.irr[lo:hi] = res["loss"], res["irr"]
        b = res["start"] // self.block_size - self.b0
        nbk = res["stats"].shape[0]
        self.stats[b:b + nbk] = res["stats"]
        self.pv[b:b + nbk] = res["pv"]
        self.org[b:b + nbk] = res["org"]
        self.tail.add(res["tail_rows"], res["tail_loss"], res["tail_index"])
        self.org_top.add(res["org_top"])
        for batch, top in res["org_batch"]:
            self._add_batch(batch, top)

    def _add_batch(self, batch: int, top: np.ndarray) -> None:
        have = self.org_batch.get(batch)
        if have is not None:
            top = np.concatenate([have, top], axis=1)
        if top.shape[1] > self.batch_m:
            top = np.partition(top, top.shape[1] - self.batch_m, axis=1)[:, top.shape[1] - self.batch_m:]
        self.org_batch[batch] = top

    def merge(self, other: Accumulator) -> None:
        """Take in the results of another accumulator over a disjoint range of blocks."""
        lo, hi = other.start - self.start, other.stop - self.start
        self.loss[lo:hi], self.irr[lo:hi] = other.loss, other.irr
        b = other.b0 - self.b0
        nbk = other.stats.shape[0]
        self.stats[b:b + nbk] = other.stats
        self.pv[b:b + nbk] = other.pv
        self.org[b:b + nbk] = other.org
        self.tail.merge(other.tail)
        self.org_top.merge(other.org_top)
        for batch, top in sorted(other.org_batch.items()):
            self._add_batch(batch, top)


def run(
    portfolio: Portfolio,
    *,
    n_scenarios: int | None = None,
    seed: int | None = None,
    stress: Stress | None = None,
    threads: int | None = None,
    chunk_size: int | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: Callable[[int], None] | None = None,
    cluster: Any = None,
) -> RawRun:
    """Simulate a portfolio and keep the raw per-scenario results (see :func:`portfolio.simulate`).

    ``cluster``: a Dask scheduler address or ``distributed.Client`` to run the chunks on (same results).
    """
    n = int(n_scenarios if n_scenarios is not None else portfolio.n_scenarios)
    seed = int(seed if seed is not None else portfolio.seed)
    if n < 100:
        raise ValueError("n_scenarios must be at least 100")
    if block_size < 64:
        raise ValueError("block_size must be at least 64")
    chunk = int(chunk_size or block_size)
    if chunk % block_size:
        raise ValueError(f"chunk_size ({chunk}) must be a multiple of block_size ({block_size})")
    if cluster is not None:
        # optional: Dask (utfall[distributed]) loads only for a cluster run; portfolio.cluster builds on this module
        from portfolio.cluster import run_on_cluster

        return run_on_cluster(portfolio, cluster, n=n, seed=seed, stress=stress, block_size=block_size, chunk=chunk,
                              progress=progress)
    threads = int(threads or min(os.cpu_count() or 1, 8))
    _fixed_mmap_threshold()
    kernel = _Kernel(portfolio, stress, seed, n, block_size)
    acc = kernel.accumulator(0, n)
    spans = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]

    def consume(res: dict[str, Any]) -> None:
        acc.add(res)
        kernel.tail_floor = acc.tail.floor()
        if progress is not None:
            progress(res["stop"] - res["start"])

    with _blas_single_thread():
        if threads == 1 or len(spans) == 1:
            for s, e in spans:
                consume(kernel.chunk(s, e))
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                # A bounded window of chunks in flight keeps memory flat; results are consumed in order.
                pending: deque = deque()
                for s, e in spans:
                    pending.append(pool.submit(kernel.chunk, s, e))
                    if len(pending) > threads:
                        consume(pending.popleft().result())
                while pending:
                    consume(pending.popleft().result())
    return kernel.raw_run(acc, threads, chunk)


def _fixed_mmap_threshold() -> None:
    """Pin glibc's mmap threshold at its initial 128 KiB, once per process.

    glibc raises the threshold to the size of the largest block it has unmapped (up to 32 MiB), after
    which the kernel's chunk-sized arrays come from per-thread arenas that do not shrink: the resident
    memory of a long run then grows by tens of MB of freed pages. A fixed threshold keeps large arrays
    mapped and returned to the system when freed. No effect on other C libraries.
    """
    global _MMAP_PINNED
    if _MMAP_PINNED:
        return
    _MMAP_PINNED = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to pin
        pass


_MMAP_PINNED = False


class _blas_single_thread:
    """``threadpoolctl.threadpool_limits(1)`` when threadpoolctl is installed, else a no-op."""

    def __enter__(self) -> None:
        try:
            from threadpoolctl import threadpool_limits  # optional: see the except below
        except ImportError:  # optional: without it BLAS may oversubscribe, results are unchanged
            self._ctx = None
            return
        self._ctx = threadpool_limits(1)
        self._ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)


def worst_case_outcomes(portfolio: Portfolio) -> dict[str, dict[str, Any]]:
    """Per contract, the extreme outcome combination with the lowest investor repayment."""
    out: dict[str, dict[str, Any]] = {}
    for h in portfolio.holdings:
        c = h.contract
        if c.id in out:
            continue
        combos = extreme_outcomes(c)
        ev = evaluate_outcomes(c, combos)
        n = len(next(iter(combos.values())))
        rep = position_repayment(c, ev, n)
        j = int(np.argmin(rep))
        out[c.id] = {k: (bool(v[j]) if v.dtype == bool else float(v[j])) for k, v in combos.items()}
    return out


def termination_outcomes(contract: ContractModel) -> dict[str, Any]:
    """Outcome values if the contract is terminated: each model's termination value."""
    out: dict[str, Any] = {}
    for name, m in contract.outcomes.items():
        out[name] = bool(m.termination_value()) if isinstance(m, Bernoulli) or m.kind == "binary" else float(
            m.termination_value())
    return out
