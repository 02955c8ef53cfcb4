"""The chunked engine on a Dask distributed cluster (optional extra ``utfall[distributed]``).

The scenarios are cut into spans of whole chunks; each cluster task rebuilds the kernel from the
portfolio (the probe is deterministic, so every task sees the same columns and organisations), runs its
chunks into an :class:`~portfolio.engine.Accumulator` and returns it. The client merges the
accumulators in span order. Everything an accumulator keeps is placed by scenario or by block, or is a
set of largest values, so a cluster run gives the same bits as the in-process run for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portfolio.contract import Portfolio
from portfolio.engine import Accumulator, RawRun, Stress, _blas_single_thread, _Kernel

__all__ = ["run_on_cluster", "cluster_available"]


def cluster_available() -> bool:
    """Whether the optional ``distributed`` package is installed."""
    try:
        import distributed  # noqa: F401  # optional: the extra utfall[distributed]
    except ImportError:
        return False
    return True


def _span(portfolio: Portfolio, stress: Stress | None, seed: int, n: int, block_size: int, chunk: int, start: int,
          stop: int) -> Accumulator:
    kernel = _Kernel(portfolio, stress, seed, n, block_size)
    acc = kernel.accumulator(start, stop)
    with _blas_single_thread():
        for s in range(start, stop, chunk):
            acc.add(kernel.chunk(s, min(s + chunk, stop)))
            kernel.tail_floor = acc.tail.floor()
    return acc


def run_on_cluster(
    portfolio: Portfolio,
    cluster: Any,
    *,
    n: int,
    seed: int,
    stress: Stress | None,
    block_size: int,
    chunk: int,
    progress: Callable[[int], None] | None = None,
    tasks: int | None = None,
) -> RawRun:
    """Run :func:`portfolio.engine.run` on a Dask cluster: ``cluster`` is a scheduler address or a Client.

    ``tasks`` spans (default: four per worker thread, at least one chunk each) are submitted at once
    and merged in order as they finish in order.
    """
    try:
        from distributed import Client  # optional: the extra utfall[distributed]
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise RuntimeError("running on a cluster needs the optional extra: pip install 'utfall[distributed]'") from exc
    own = not isinstance(cluster, Client)
    client = Client(cluster) if own else cluster
    try:
        kernel = _Kernel(portfolio, stress, seed, n, block_size)
        n_chunks = -(-n // chunk)
        if tasks is None:
            threads = sum(client.nthreads().values()) or 1
            tasks = 4 * threads
        per = -(-n_chunks // max(1, min(tasks, n_chunks)))
        spans = [(c * chunk, min((c + per) * chunk, n)) for c in range(0, n_chunks, per)]
        futures = [client.submit(_span, portfolio, stress, seed, n, block_size, chunk, s, e, pure=False)
                   for s, e in spans]
        acc = kernel.accumulator(0, n)
        for fut in futures:  # in span order: merging needs no particular order, progress reads better
            part = fut.result()
            acc.merge(part)
            if progress is not None:
                progress(part.stop - part.start)
            fut.release()
        return kernel.raw_run(acc, sum(client.nthreads().values()), chunk)
    finally:
        if own:
            client.close()
