"""Small, dependency-free financial helpers for the registry (XIRR on dated flows)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

DAYS_PER_YEAR = 365.0  # the XIRR (spreadsheet) convention: actual days / 365

# The search runs over x = ln(1 + r), so every x maps to a rate above -100 %. x in [-12, 12] covers
# r from -99.9994 % to about 16 million % a year, which is wider than any outcomes contract needs.
_X_LOW, _X_HIGH, _X_STEP = -12.0, 12.0, 0.05


def _scaled_npv(x: float, times: Sequence[float], amounts: Sequence[float]) -> float:
    """NPV at rate e^x - 1, divided by a positive factor so it never overflows (only its sign and
    zeros matter to the root search)."""
    exponents = [-x * t for t in times]
    top = max(exponents)
    return math.fsum(a * math.exp(e - top) for a, e in zip(amounts, exponents, strict=True))


def xirr(dates: Sequence[date], amounts: Sequence[float | Decimal | int]) -> float | None:
    """The annual internal rate of return of dated cash flows, or ``None`` if it does not exist.

    Solves ``sum(a_i / (1 + r) ** ((d_i - d_0).days / 365)) = 0`` for ``r > -1``, where ``d_0`` is the
    earliest date. Flows on the same date simply add up; order does not matter.

    Robust by construction rather than by a good first guess: the net present value is evaluated on a
    grid of ``ln(1 + r)`` (scaled so that it cannot overflow), every sign change is bracketed and
    bisected to machine precision, and the root closest to ``r = 0`` is returned. Flows that change
    sign several times can have several rates; the one nearest zero is the conventional choice.

    Returns ``None`` when there is no sign change among the amounts (all gains or all losses, e.g. a
    total loss with nothing repaid), when all flows fall on one date, or when no rate in about
    (-99.999 %, +1.6e7 %) solves the equation.
    """
    if len(dates) != len(amounts):
        raise ValueError(f"xirr: {len(dates)} dates but {len(amounts)} amounts")
    flows = [(d, float(a)) for d, a in zip(dates, amounts, strict=True) if float(a) != 0.0]
    if not flows:
        return None
    for _, a in flows:
        if not math.isfinite(a):
            raise ValueError(f"xirr: amount {a!r} is not finite")
    if not (any(a > 0 for _, a in flows) and any(a < 0 for _, a in flows)):
        return None
    start = min(d for d, _ in flows)
    times = [(d - start).days / DAYS_PER_YEAR for d, _ in flows]
    values = [a for _, a in flows]
    if max(times) == 0.0:
        return None

    def f(x: float) -> float:
        return _scaled_npv(x, times, values)

    roots: list[float] = []
    steps = round((_X_HIGH - _X_LOW) / _X_STEP)
    prev_x = _X_LOW
    prev_f = f(prev_x)
    if prev_f == 0.0:
        roots.append(prev_x)
    for k in range(1, steps + 1):
        x = _X_LOW + k * _X_STEP
        fx = f(x)
        if fx == 0.0:
            roots.append(x)
        elif prev_f != 0.0 and (fx > 0.0) != (prev_f > 0.0):
            roots.append(_bisect(f, prev_x, x, prev_f))
        prev_x, prev_f = x, fx
    if not roots:
        return None
    best = min(roots, key=abs)
    return math.expm1(best)


def _bisect(f, lo: float, hi: float, f_lo: float) -> float:  # type: ignore[no-untyped-def]
    """Bisect a bracketed sign change down to adjacent floats (at most ~60 halvings)."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        f_mid = f(mid)
        if f_mid == 0.0:
            return mid
        if (f_mid > 0.0) == (f_lo > 0.0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
