"""Bounded-memory accumulation: the streaming stores give what the full per-scenario arrays would."""

from __future__ import annotations

import numpy as np
import pytest

from portfolio.engine import (
    _CashFlows,
    _rows_of,
    _TailStore,
    _TopValues,
    combine_moments,
    quantile_from_top,
    top_count,
)


@pytest.mark.parametrize("n", [50, 1000, 9999, 100_000])
@pytest.mark.parametrize("q", [0.99, 0.95, 0.5])
def test_quantile_from_the_largest_values_equals_numpy(n: int, q: float) -> None:
    x = np.random.default_rng(n).standard_normal((3, n)).astype(np.float32)
    x[1, : n // 2] = 0.0  # ties and a point mass
    m = top_count(n, q)
    top = np.sort(x, axis=1)[:, -m:]
    np.testing.assert_allclose(quantile_from_top(top, n, q), np.quantile(x.astype(np.float64), q, axis=1),
                               rtol=1e-12, atol=1e-12)


def _reference_tail(loss: np.ndarray, k: int) -> np.ndarray:
    return np.lexsort((np.arange(loss.size), loss))[-k:]


@pytest.mark.parametrize("pieces", [1, 7, 50])
def test_tail_store_keeps_the_top_k_by_loss_then_index(pieces: int) -> None:
    rng = np.random.default_rng(pieces)
    n, k, units = 20_000, 1001, 3
    loss = np.round(rng.standard_normal(n), 1)  # many ties: the scenario index decides
    rows = rng.standard_normal((n, units)).astype(np.float32)
    store = _TailStore(k, units, slack=300)
    for part in np.array_split(np.arange(n), pieces):
        store.add(rows[part], loss[part], part.astype(np.int64))
    got_rows, got_loss, got_index = store.finish()
    want = _reference_tail(loss, k)
    assert np.array_equal(got_index, want)
    assert np.array_equal(got_loss, loss[want])
    assert np.array_equal(got_rows, rows[want])
    assert store.rows.shape[0] == k + 300  # the buffer holds k rows plus the slack, never more


def test_tail_store_merges_partial_stores() -> None:
    rng = np.random.default_rng(3)
    n, k = 5000, 251
    loss = rng.standard_normal(n)
    rows = loss[:, None].astype(np.float32)
    idx = np.arange(n, dtype=np.int64)
    whole = _TailStore(k, 1, slack=64)
    a, b = _TailStore(k, 1, slack=64), _TailStore(k, 1, slack=64)
    whole.add(rows, loss, idx)
    a.add(rows[:3000], loss[:3000], idx[:3000])
    b.add(rows[3000:], loss[3000:], idx[3000:])
    a.merge(b)
    assert np.array_equal(a.finish()[2], whole.finish()[2])


def test_permuting_large_tails_in_place_gives_the_sorted_rows() -> None:
    from portfolio.engine import _permute_rows

    rng = np.random.default_rng(0)
    rows = rng.standard_normal((5000, 7)).astype(np.float32)
    perm = rng.permutation(5000)
    want = rows[perm]
    _permute_rows(rows, perm, max_bytes=3 * 5000 * 4)  # 3 columns at a time: the last block is short
    assert np.array_equal(rows, want)


def test_top_values_keep_the_largest_per_row() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 30_000)).astype(np.float32)
    x[2] = 0.0
    top = _TopValues(4, 400)
    for part in np.array_split(np.arange(x.shape[1]), 13):
        top.add(x[:, part])
    assert np.array_equal(top.finish(), np.sort(x, axis=1)[:, -400:])


def test_block_moments_combine_to_the_mean_and_variance() -> None:
    x = np.random.default_rng(2).normal(1e6, 3e4, 10_000)
    blocks = np.array_split(x, 7)
    counts = np.array([b.size for b in blocks], dtype=float)
    sums = np.array([b.sum() for b in blocks])
    m2 = np.array([np.square(b - b.mean()).sum() for b in blocks])
    mean, var = combine_moments(counts, sums, m2)
    assert mean == pytest.approx(x.mean(), rel=1e-14)
    assert var == pytest.approx(x.var(ddof=1), rel=1e-10)


def test_cash_flow_rows_give_the_dense_table_and_only_the_days_written() -> None:
    rng = np.random.default_rng(5)
    width, n_days = 3000, 40
    dense = np.zeros((n_days, width))
    cf = _CashFlows(width)
    for _ in range(6):
        col = int(rng.integers(n_days))
        v = rng.normal(size=width).astype(np.float32)
        dense[col] += v
        cf.add(col, v)
        moved = rng.integers(10, 14, size=width)  # a delay: each scenario's payment lands on its own day
        w = rng.normal(size=width)
        dense[moved, np.arange(width)] += w
        cf.add_by_scenario(moved, w)
    written = sorted(cf.rows)
    assert set(written) < set(range(n_days))
    assert all(not dense[d].any() for d in set(range(n_days)) - set(written))
    for d in written:
        assert np.array_equal(cf.rows[d], dense[d])


@pytest.mark.parametrize("k", [0, 5, 1024, 2500])
def test_tail_rows_are_gathered_as_the_transposed_selection(k: int) -> None:
    rng = np.random.default_rng(k)
    losses = rng.normal(size=(7, 3000)).astype(np.float32)
    sel = np.sort(rng.choice(3000, size=k, replace=False))
    rows = _rows_of(losses, sel)
    assert rows.flags.c_contiguous and rows.shape == (k, 7)
    assert np.array_equal(rows, losses[:, sel].T)
