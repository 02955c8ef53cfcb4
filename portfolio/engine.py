"""The Monte Carlo kernel: correlated outcomes -> payments -> investor and payer cash flows.

Design (docs/engine.md explains why):

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
- Nothing of size scenarios x contracts x periods is ever held: per chunk the kernel keeps
  contracts x chunk losses, periods x chunk portfolio cash flows and organisations x chunk payments; it
  returns per-scenario portfolio figures, per-block sums per contract and the contract losses of the
  candidate tail scenarios (for ES contributions).
"""

from __future__ import annotations

import inspect
import itertools
import math
import os
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from portfolio.contract import ContractModel, Holding, Portfolio, month_index
from portfolio.models import Bernoulli, LatentTransform
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
    flow_meta: dict[tuple[str, str, str], tuple[int, bool, int]] = field(default_factory=dict)
    default_col: int = 0
    window_metrics: tuple[str, ...] = ()
    eval_kw: dict[str, Any] = field(default_factory=dict)


@dataclass
class RawRun:
    """Everything a run keeps, before it becomes tables (see :mod:`portfolio.results`)."""

    portfolio: Portfolio
    stress: Stress | None
    n: int
    seed: int
    block_size: int
    loss: np.ndarray  # (S,) float64 portfolio loss = capital - repayment
    repayment: np.ndarray  # (S,) float64
    irr: np.ndarray  # (S,) float64
    pv_hurdle: np.ndarray  # (S,) float64 NPV of investor cash flows at the hurdle rate
    org_payments: np.ndarray  # (n_orgs, S) float32, base currency, full contract scale
    org_keys: list[tuple[str, str]]  # (organisation, role)
    org_max: np.ndarray  # (n_orgs,) maximum contractual exposure (over extreme outcome combinations)
    block_stats: np.ndarray  # (n_blocks, N, 5) float64 sums: L, L^2, L+, L+^2, 1[L>0]
    tail_rows: np.ndarray  # (K, N) float32 contract losses of the top-K scenarios, ascending
    tail_loss: np.ndarray  # (K,) float64
    tail_index: np.ndarray  # (K,) int64
    worst_repayment: np.ndarray  # (N,) base-currency repayment in the contract's worst outcome combination
    factor_names: list[str]
    units_capital: np.ndarray  # (N,) float64
    capital: float
    threads: int
    chunk_size: int


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


def _prepare_units(pf: Portfolio, stress: Stress | None, df: float | None) -> list[_Unit]:
    units = []
    seen: set[str] = set()
    for i, h in enumerate(pf.holdings):
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
            scale=h.weight * h.fx_rate, fx=h.fx_rate, capital_base=h.capital_base,
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
    def __init__(self, pf: Portfolio, stress: Stress | None, seed: int, n: int, block_size: int) -> None:
        self.pf, self.stress, self.seed, self.n, self.block_size = pf, stress, seed, n, block_size
        self.df = pf.df if pf.copula == "t" else None
        self.units = _prepare_units(pf, stress, self.df)
        self.factor_names, self.load, self.terms = _factor_names(pf.holdings)
        self.factor_keys = [contract_key("factor:" + f) for f in self.factor_names]
        shift = np.zeros(len(self.factor_names), dtype=_F32)
        for name, value in (stress.factor_shift.items() if stress else ()):
            if name in self.factor_names:
                shift[self.factor_names.index(name)] = value
        self.shift = shift if np.any(shift) else None
        self.capital = float(sum(u.capital_base for u in self.units))
        self.cap_vec = np.array([u.capital_base for u in self.units], dtype=np.float64)
        self.loss_tol = 1e-6 * self.cap_vec
        self.tail_k = n - tail_rank(n, 0.95) + 1
        self._probe()

    # -- preparation: probe every payoff once on extreme outcomes -------------------------------------
    def _probe(self) -> None:
        months: list[int] = []
        org_index: dict[tuple[str, str], int] = {}
        org_max: dict[int, float] = {}
        self.worst: list[dict[str, Any]] = []
        worst_rep = []
        probes = []
        for u in self.units:
            c = u.holding.contract
            for d, _ in c.drawdown_schedule():
                months.append(month_index(d))
            months.append(month_index(c.default_payment_date))
            combos = extreme_outcomes(c)
            ev = evaluate_outcomes(c, combos)
            probes.append((u, combos, ev))
            for f in ev.flows:
                months.append(month_index(f.date, c.default_payment_date))
        self.m0 = min(months)
        last = max(months) + max((_max_delay(u) for u in self.units), default=0)
        self.n_months = last - self.m0 + 1
        # Drawdowns: deterministic, the same in every scenario.
        draws = np.zeros(self.n_months)
        for u in self.units:
            if not u.holding.position:
                continue
            for d, amount in u.holding.contract.drawdown_schedule():
                draws[month_index(d) - self.m0] -= float(amount) * u.scale
        self.draws = draws
        self.draw_rows = np.flatnonzero(draws)
        for u, combos, ev in probes:
            c = u.holding.contract
            u.default_col = month_index(c.default_payment_date) - self.m0
            n_combo = len(next(iter(combos.values())))
            rep = position_repayment(c, ev, n_combo)
            j = int(np.argmin(rep))
            self.worst.append({k: (bool(v[j]) if v.dtype == bool else float(v[j])) for k, v in combos.items()})
            worst_rep.append(float(rep[j]) * u.scale if u.holding.position else 0.0)
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
    ) -> tuple[int, bool, int]:
        """(month column, shifted by the delay?, organisation row or -1) of a flow, cached per unit.

        ``org_index`` is None inside the kernel: a flow first seen there (not produced by the probe)
        can only report to an organisation row that already exists.
        """
        key = (str(f.id), str(f.payer), str(f.payee))
        meta = u.flow_meta.get(key)
        if meta is not None:
            return meta
        c = u.holding.contract
        col = min(max(month_index(f.date, c.default_payment_date) - self.m0, 0), self.n_months - 1)
        org = -1
        if u.payer_owner and (f.payer in c.payers or f.payer in c.guarantors):
            is_guar = f.payer in c.guarantors and (str(f.component) == "guarantee" or f.payer not in c.payers)
            ok = (f.payer, "guarantor" if is_guar else "outcome_payer")
            if org_index is None:
                org = self.org_index.get(ok, -1)
            else:
                org = org_index.setdefault(ok, len(org_index))
        shift = c.delay is not None and c.delay.effect == "shift" and str(f.component) in c.delay.components
        if c.delay is None and u.extra_delay and str(f.component) in ("outcome", "premium"):
            shift = True
        meta = (col, shift, org)
        u.flow_meta[key] = meta
        return meta

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
              losses: np.ndarray, cf: np.ndarray, org_pay: np.ndarray, cols: np.ndarray, touched: set[int]
              ) -> None:
        """Post one contract's flows: position repayment, loss row, investor cash flows, payer totals.

        ``touched`` collects the cash-flow rows (months) written, so the chunk never scans all months.

        Amounts are never written to: a total of one flow is that flow's array itself, a total of
        several is a float64 copy of the first with the others added in place (a left fold, the same
        bits as adding them to zeros).
        """
        position = u.holding.position
        named = bool(c.investors) or not position
        count_mine = position and bool(c.investors)
        mine: list[tuple[np.ndarray, int, bool]] = []
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
        # Investor cash flows: one addition per distinct payment month (usually one per contract).
        shift_rows = None
        if delay is not None and (c.delay is None or c.delay.effect == "shift"):
            shift_rows = np.rint(delay).astype(np.intp)
        if not named:
            cf[u.default_col] += held
            touched.add(u.default_col)
        elif mine:
            plain = {col for _, col, sh in mine if not (sh and shift_rows is not None)}
            if len(plain) == 1 and len(mine) == sum(1 for _, _, sh in mine if not (sh and shift_rows is not None)):
                col = plain.pop()
                cf[col] += held
                touched.add(col)
            else:
                for amt, col, sh in mine:
                    if sh and shift_rows is not None:
                        rows = np.minimum(col + shift_rows, self.n_months - 1)
                        cf[rows, cols] += amt * scale
                        touched.update(range(int(rows.min()), int(rows.max()) + 1))
                    else:
                        cf[col] += amt * scale
                        touched.add(col)
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
        width = stop - start
        blocks = self._blocks(start, stop)
        n_units = len(self.units)
        factors = np.empty((len(self.factor_names), width), dtype=_F32)
        for k, key in enumerate(self.factor_keys):
            factors[k] = self._draw(key, 1, blocks, width)[0]
        if self.shift is not None:
            factors += self.shift[:, None]
        t_scale = None
        if self.df is not None:
            w = np.empty(width, dtype=np.float64)
            for b, sl in blocks:
                w[sl] = _generator(self.seed, _SYSTEMIC_CHI2_KEY, b).chisquare(self.df, sl.stop - sl.start)
            t_scale = np.sqrt(self.df / w).astype(_F32)

        losses = np.empty((n_units, width), dtype=_F32)
        cf = np.zeros((self.n_months, width))
        cf[self.draw_rows] = self.draws[self.draw_rows, None]
        touched: set[int] = {int(r) for r in self.draw_rows}
        org_pay = np.zeros((len(self.org_keys), width))
        cols = np.arange(width)
        tmp = np.empty(width, dtype=_F32)
        scaled_t: dict[float, np.ndarray] = {}  # weight -> weight * t_scale, shared by contracts
        for u in self.units:
            c = u.holding.contract
            eps = self._draw(u.key, u.n_draws, blocks, width)
            # Latent score of the contract, in place in the first row of draws.
            x = eps[0]
            x *= np.float32(u.idio_sd)
            for k, beta in self.terms[u.index]:
                np.multiply(factors[k], beta, out=tmp)
                x += tmp
            multi = len(u.transforms) > 1
            a = math.sqrt(c.metric_correlation)
            b_ = math.sqrt(1.0 - c.metric_correlation)
            ax = x * np.float32(a) if (multi or u.delay_transform is not None) else None
            bt: Any = np.float32(b_)
            if t_scale is not None:
                bt = scaled_t.get(b_)
                if bt is None:
                    bt = scaled_t[b_] = t_scale * np.float32(b_)
                if ax is not None:
                    ax *= t_scale
            outcomes: dict[str, np.ndarray] = {}
            for j, (name, tr) in enumerate(u.transforms):
                if name in u.forced:
                    v = u.forced[name]
                    outcomes[name] = np.full(width, v, dtype=bool if tr.kind == "binary" else _F32)
                    continue
                if multi:
                    xm = eps[1 + j]  # own noise row, blended with the contract score
                    xm *= bt
                    xm += ax
                else:
                    xm = x
                    if t_scale is not None:
                        xm *= t_scale
                outcomes[name] = tr(xm)
            delay = None
            if u.delay_transform is not None:
                # Bad programme years are late ones: the delay loads negatively on the contract score.
                xd = eps[-1]
                xd *= bt
                xd += ax
                np.negative(xd, out=xd)
                delay = np.maximum(u.delay_transform(xd), 0, dtype=_F32)
            if u.extra_delay:
                delay = (delay if delay is not None else np.zeros(width, dtype=_F32)) + np.float32(u.extra_delay)
            if delay is not None and c.delay is not None and c.delay.effect == "window":
                keep = np.clip(1.0 - delay / np.float32(c.delay.window_months), 0.0, 1.0).astype(_F32)
                for name in u.window_metrics:
                    y = outcomes[name]
                    outcomes[name] = np.where(y > 0, y * keep, y)
            ev = c.payoff.evaluate(outcomes, **u.eval_kw)
            self._book(u, c, ev, delay, width, losses, cf, org_pay, cols, touched)
        loss = losses.sum(axis=0, dtype=np.float64)
        stats = np.empty((len(blocks), n_units, 5))
        for j, (_, sl) in enumerate(blocks):
            for r0 in range(0, n_units, 32):  # 32 contracts at a time: float64 temporaries stay small
                rs = slice(r0, r0 + 32)
                lb = losses[rs, sl].astype(np.float64)
                pos = np.maximum(lb, 0.0)
                stats[j, rs, 0] = lb.sum(axis=1)
                stats[j, rs, 1] = np.square(lb).sum(axis=1)
                stats[j, rs, 2] = pos.sum(axis=1)
                stats[j, rs, 3] = np.square(pos).sum(axis=1)
                # A loss below a millionth of capital is rounding in the payment terms, not a loss.
                stats[j, rs, 4] = (lb > self.loss_tol[rs, None]).sum(axis=1)
        # Months with a non-zero cash flow; rows never written are zero and are not scanned.
        cand = np.array(sorted(touched), dtype=np.intp)
        used = cand[np.any(cf[cand] != 0, axis=1)]
        times = (used + 0.0) / 12.0
        # The IRR solver keeps a few (months x scenarios) temporaries: solve in slices to bound memory.
        # Slices start at block starts, never at chunk starts: the bisection fallback stops when its
        # whole slice has converged, so a slice must hold the same scenarios whatever the chunk size.
        irr = np.empty(width)
        for _, sl in blocks:
            for lo in range(sl.start, sl.stop, 2048):
                hi = min(lo + 2048, sl.stop)
                irr[lo:hi] = irr_fn(cf[used, lo:hi], times)
        h = self.pf.hurdle_rate
        pv = (cf[used] * ((1.0 + h) ** -times)[:, None]).sum(axis=0)
        # Candidate tail scenarios: every scenario whose loss reaches the chunk's K-th largest value
        # (ties included, so the exact (loss, index) ordering can be applied when merging).
        idx = np.arange(start, stop)
        if width > self.tail_k:
            cut = np.partition(loss, width - self.tail_k)[width - self.tail_k]
            sel = np.flatnonzero(loss >= cut)
        else:
            sel = np.arange(width)
        return {
            "start": start, "stop": stop, "loss": loss, "irr": irr, "pv": pv,
            "org": org_pay.astype(_F32), "stats": stats,
            "tail_rows": losses[:, sel].T.copy(), "tail_loss": loss[sel], "tail_index": idx[sel],
        }


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


def _merge_tail(
    kept: tuple[np.ndarray, np.ndarray, np.ndarray] | None, res: dict[str, Any], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, loss, index = res["tail_rows"], res["tail_loss"], res["tail_index"]
    if kept is not None:
        rows = np.concatenate([kept[0], rows])
        loss = np.concatenate([kept[1], loss])
        index = np.concatenate([kept[2], index])
    order = np.lexsort((index, loss))[-k:]
    return rows[order], loss[order], index[order]


def run(
    pf: Portfolio,
    *,
    n_scenarios: int | None = None,
    seed: int | None = None,
    stress: Stress | None = None,
    threads: int | None = None,
    chunk_size: int | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> RawRun:
    """Simulate a portfolio and keep the raw per-scenario results (see :func:`portfolio.simulate`)."""
    n = int(n_scenarios if n_scenarios is not None else pf.n_scenarios)
    seed = int(seed if seed is not None else pf.seed)
    if n < 100:
        raise ValueError("n_scenarios must be at least 100")
    if block_size < 64:
        raise ValueError("block_size must be at least 64")
    chunk = int(chunk_size or block_size)
    if chunk % block_size:
        raise ValueError(f"chunk_size ({chunk}) must be a multiple of block_size ({block_size})")
    threads = int(threads or min(os.cpu_count() or 1, 8))
    kernel = _Kernel(pf, stress, seed, n, block_size)
    n_units = len(kernel.units)
    loss = np.empty(n)
    irr = np.empty(n)
    pv = np.empty(n)
    org = np.empty((len(kernel.org_keys), n), dtype=_F32)
    n_blocks = -(-n // block_size)
    stats = np.empty((n_blocks, n_units, 5))
    kept = None
    spans = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]

    def consume(res: dict[str, Any]) -> None:
        nonlocal kept
        sl = slice(res["start"], res["stop"])
        loss[sl], irr[sl], pv[sl] = res["loss"], res["irr"], res["pv"]
        org[:, sl] = res["org"]
        b0 = res["start"] // block_size
        stats[b0:b0 + res["stats"].shape[0]] = res["stats"]
        kept = _merge_tail(kept, res, kernel.tail_k)
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
    assert kept is not None
    return RawRun(
        portfolio=pf, stress=stress, n=n, seed=seed, block_size=block_size, loss=loss,
        repayment=kernel.capital - loss, irr=irr, pv_hurdle=pv, org_payments=org, org_keys=kernel.org_keys,
        org_max=kernel.org_max, block_stats=stats, tail_rows=kept[0], tail_loss=kept[1], tail_index=kept[2],
        worst_repayment=kernel.worst_repayment, factor_names=kernel.factor_names,
        units_capital=kernel.cap_vec, capital=kernel.capital, threads=threads, chunk_size=chunk,
    )


class _blas_single_thread:
    """``threadpoolctl.threadpool_limits(1)`` when threadpoolctl is installed, else a no-op."""

    def __enter__(self) -> None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # optional: without it BLAS may oversubscribe, results are unchanged
            self._ctx = None
            return
        self._ctx = threadpool_limits(1)
        self._ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)


def worst_case_outcomes(pf: Portfolio) -> dict[str, dict[str, Any]]:
    """Per contract, the extreme outcome combination with the lowest investor repayment."""
    out: dict[str, dict[str, Any]] = {}
    for h in pf.holdings:
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
