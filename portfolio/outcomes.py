"""Outcome models: marginal distributions of contract metrics, kept as labelled assumptions.

Every model maps a uniform ``u`` (from the copula) to an outcome value through its quantile function
``ppf``. The engine never calls ``ppf`` per scenario for continuous models: it tabulates the composite
map ``latent -> outcome`` once per run on a uniform grid and interpolates (see
:class:`LatentTransform`), because ``scipy`` quantile functions (beta in particular) cost microseconds
per call while a table lookup costs nanoseconds. Binary models are exact thresholds in latent space.

Convention: a *higher* latent score means a *better* outcome. The point mass of a
:class:`PointMassMixture` (intervention not delivered, contract terminated early) therefore sits in the
*lower* tail of the latent variable, so it happens in bad times together with poor outcomes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from scipy import special

__all__ = [
    "OutcomeModel",
    "Normal",
    "LogNormal",
    "Beta",
    "Bernoulli",
    "PointMassMixture",
    "Empirical",
    "DelayModel",
    "LatentTransform",
    "latent_cdf",
    "latent_ppf",
]

Kind = Literal["binary", "continuous"]


@runtime_checkable
class OutcomeModel(Protocol):
    """What the engine needs from an outcome model."""

    kind: Kind
    label: str

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Quantile function, vectorised, float64."""
        ...

    def extremes(self) -> tuple[float, ...]:
        """Outcome values used for the worst/best-case search and maximum-exposure bounds."""
        ...

    def termination_value(self) -> float | bool:
        """The outcome if the contract is terminated or the intervention not delivered."""
        ...

    def describe(self) -> dict[str, object]:
        """A JSON-able description (distribution, parameters, label)."""
        ...


def _tail(u: float = 1e-3) -> tuple[float, float]:
    return u, 1.0 - u


@dataclass(frozen=True)
class Normal:
    """Normal outcome (e.g. measured cost savings, which can be negative: costs may first rise)."""

    mean: float
    sd: float
    label: str = ""
    kind: Kind = field(default="continuous", init=False)

    def __post_init__(self) -> None:
        if not self.sd > 0:
            raise ValueError(f"normal: sd must be > 0, got {self.sd}")

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.mean + self.sd * special.ndtri(np.asarray(u, dtype=np.float64))

    def extremes(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.ppf(np.array(_tail())))

    def termination_value(self) -> float:
        return float(self.ppf(np.array([1e-3]))[0])

    def describe(self) -> dict[str, object]:
        return {"dist": "normal", "mean": self.mean, "sd": self.sd, "label": self.label}


@dataclass(frozen=True)
class LogNormal:
    """Lognormal outcome given by its median and log-sd (``sigma``), optionally shifted by ``loc``."""

    median: float
    sigma: float
    loc: float = 0.0
    label: str = ""
    kind: Kind = field(default="continuous", init=False)

    def __post_init__(self) -> None:
        if not (self.median > 0 and self.sigma > 0):
            raise ValueError("lognormal: median and sigma must be > 0")

    @classmethod
    def from_mean_sd(cls, mean: float, sd: float, loc: float = 0.0, label: str = "") -> LogNormal:
        """The lognormal with the given mean and standard deviation (of ``value - loc``)."""
        m = mean - loc
        if not (m > 0 and sd > 0):
            raise ValueError("lognormal: mean - loc and sd must be > 0")
        sigma2 = math.log1p((sd / m) ** 2)
        return cls(median=m / math.sqrt(1 + (sd / m) ** 2), sigma=math.sqrt(sigma2), loc=loc, label=label)

    @property
    def mu(self) -> float:
        return math.log(self.median)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return self.loc + np.exp(self.mu + self.sigma * special.ndtri(np.asarray(u, dtype=np.float64)))

    def extremes(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.ppf(np.array(_tail())))

    def termination_value(self) -> float:
        return float(self.loc)

    def describe(self) -> dict[str, object]:
        return {"dist": "lognormal", "median": self.median, "sigma": self.sigma, "loc": self.loc,
                "label": self.label}


@dataclass(frozen=True)
class Beta:
    """Beta outcome for rates (share employed, restoration rate), scaled to ``[low, high]``."""

    a: float
    b: float
    low: float = 0.0
    high: float = 1.0
    label: str = ""
    kind: Kind = field(default="continuous", init=False)

    def __post_init__(self) -> None:
        if not (self.a > 0 and self.b > 0 and self.high > self.low):
            raise ValueError("beta: a, b must be > 0 and high > low")

    @classmethod
    def from_mean_sd(cls, mean: float, sd: float, low: float = 0.0, high: float = 1.0, label: str = "") -> Beta:
        """The beta distribution on ``[low, high]`` with the given mean and standard deviation."""
        width = high - low
        m, s = (mean - low) / width, sd / width
        if not (0 < m < 1) or not (0 < s * s < m * (1 - m)):
            raise ValueError(
                f"beta: mean {mean} must lie inside ({low}, {high}) and sd {sd} below "
                f"{width * math.sqrt(m * (1 - m)) if 0 < m < 1 else 0:.4g}"
            )
        k = m * (1 - m) / (s * s) - 1
        return cls(a=m * k, b=(1 - m) * k, low=low, high=high, label=label)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        # scipy.special's inverse incomplete beta, not scipy.stats: importing scipy.stats costs ~30 MB of
        # memory and a large share of start-up time, for this one function.
        return self.low + (self.high - self.low) * special.betaincinv(self.a, self.b, np.asarray(u, dtype=np.float64))

    def extremes(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.ppf(np.array(_tail())))

    def termination_value(self) -> float:
        return float(self.low)

    def describe(self) -> dict[str, object]:
        return {"dist": "beta", "a": self.a, "b": self.b, "low": self.low, "high": self.high, "label": self.label}


@dataclass(frozen=True)
class Bernoulli:
    """A binary outcome (delivered as planned, trigger met, statistically significant effect)."""

    p: float
    label: str = ""
    kind: Kind = field(default="binary", init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"bernoulli: p must be in [0, 1], got {self.p}")

    def ppf(self, u: np.ndarray) -> np.ndarray:
        # Success in the upper tail: u > 1 - p (higher latent = better).
        return np.asarray(u) > 1.0 - self.p

    def extremes(self) -> tuple[float, ...]:
        return (0.0, 1.0)

    def termination_value(self) -> bool:
        return False

    def describe(self) -> dict[str, object]:
        return {"dist": "bernoulli", "p": self.p, "label": self.label}


@dataclass(frozen=True)
class PointMassMixture:
    """With probability ``p`` the outcome is ``value`` (not delivered, terminated); else ``base``.

    The point mass occupies the lowest ``p`` of the uniform, so it coincides with bad latent draws.
    """

    p: float
    value: float
    base: Normal | LogNormal | Beta | Empirical
    label: str = ""
    kind: Kind = field(default="continuous", init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.p < 1.0:
            raise ValueError(f"mixture: point-mass probability must be in [0, 1), got {self.p}")

    def ppf(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        inner = np.clip((u - self.p) / (1.0 - self.p), 1e-15, 1 - 1e-15)
        return np.where(u < self.p, self.value, self.base.ppf(inner))

    def extremes(self) -> tuple[float, ...]:
        return (float(self.value), *self.base.extremes())

    def termination_value(self) -> float:
        return float(self.value)

    def describe(self) -> dict[str, object]:
        return {"dist": "mixture", "point_mass": {"p": self.p, "value": self.value},
                "base": self.base.describe(), "label": self.label}


@dataclass(frozen=True)
class Empirical:
    """A piecewise-linear quantile function through given ``(probability, value)`` knots."""

    probs: tuple[float, ...]
    values: tuple[float, ...]
    label: str = ""
    kind: Kind = field(default="continuous", init=False)

    def __post_init__(self) -> None:
        p, v = np.asarray(self.probs), np.asarray(self.values)
        if len(p) < 2 or len(p) != len(v) or p[0] != 0.0 or p[-1] != 1.0 or np.any(np.diff(p) <= 0):
            raise ValueError("empirical: probs must rise strictly from 0 to 1, one value per prob")
        if np.any(np.diff(v) < 0):
            raise ValueError("empirical: values must be non-decreasing")

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(u, dtype=np.float64), self.probs, self.values)

    def extremes(self) -> tuple[float, ...]:
        return (float(self.values[0]), float(self.values[-1]))

    def termination_value(self) -> float:
        return float(self.values[0])

    def describe(self) -> dict[str, object]:
        return {"dist": "empirical", "probs": list(self.probs), "values": list(self.values), "label": self.label}


@dataclass(frozen=True)
class DelayModel:
    """When savings (and the payments that depend on them) appear, in months.

    ``months`` is the delay distribution (any continuous outcome model, values clipped at 0).

    ``effect``:

    - ``"window"``: the contract measures its metrics over a fixed window of ``window_months`` from the
      start; savings that begin ``D`` months late are only counted for ``max(0, window - D)`` months, so
      the positive part of each metric in ``metrics`` is scaled by ``max(0, 1 - D / window)``
      (Norrköping: savings appeared after the two-year window).
    - ``"shift"``: payments whose component is in ``components`` are paid ``D`` months later than their
      contractual date (payments follow when savings are realised, as in Utah).

    The delay is driven by the contract's latent score with a negative sign (bad programme years are
    also late ones), built like a further metric: the contract's factor part in full, its own shock
    blended with the delay's own noise by the contract's ``metric_correlation``.
    """

    months: Normal | LogNormal | Beta | Empirical | PointMassMixture
    effect: Literal["window", "shift"] = "shift"
    window_months: float | None = None
    metrics: tuple[str, ...] = ()
    components: tuple[str, ...] = ("outcome", "premium")
    label: str = ""

    def __post_init__(self) -> None:
        if self.effect == "window" and not (self.window_months and self.window_months > 0):
            raise ValueError("delay: effect 'window' needs window_months > 0")

    def describe(self) -> dict[str, object]:
        return {"months": self.months.describe(), "effect": self.effect, "window_months": self.window_months,
                "metrics": list(self.metrics), "components": list(self.components), "label": self.label}


def latent_cdf(x: np.ndarray, df: float | None) -> np.ndarray:
    """CDF of the latent marginal: standard normal (Gaussian copula) or Student t_df (t copula)."""
    return special.ndtr(x) if df is None else special.stdtr(df, x)


def latent_ppf(u: np.ndarray | float, df: float | None) -> np.ndarray:
    """Inverse of :func:`latent_cdf`."""
    return special.ndtri(u) if df is None else special.stdtrit(df, u)


def _f32_down(c: float) -> np.float32:
    t = np.float32(c)
    return np.nextafter(t, np.float32(-np.inf)) if float(t) > c else t


def _f32_up(c: float) -> np.float32:
    t = np.float32(c)
    return np.nextafter(t, np.float32(np.inf)) if float(t) < c else t


_GRID_TAIL = 1e-7  # the table covers latent quantiles [1e-7, 1 - 1e-7]; beyond, values are clamped
_GRID_POINTS = 8193


@lru_cache(maxsize=256)
def _grid(df: float | None, lo_u: float, hi_u: float) -> tuple[float, float, np.ndarray]:
    """The latent grid and its uniforms; cached because the t CDF costs ~0.3 us a point."""
    lo, hi = float(latent_ppf(lo_u, df)), float(latent_ppf(hi_u, df))
    grid = np.linspace(lo, hi, _GRID_POINTS)
    u = np.clip(latent_cdf(grid, df), lo_u, hi_u)
    u.setflags(write=False)
    return lo, hi, u


@lru_cache(maxsize=1024)
def _cached_table(
    model: OutcomeModel, df: float | None, lo_u: float, hi_u: float
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Tables are read-only and shared: contracts with the same model (clones, defaults) build one."""
    table = LatentTransform._build_table(model, df, lo_u, hi_u)
    table[2].setflags(write=False)
    table[3].setflags(write=False)
    return table


@lru_cache(maxsize=64)
def _std_normal_table(df: float) -> tuple[float, float, np.ndarray, np.ndarray]:
    return LatentTransform._tabulate(Normal(0.0, 1.0), df, _GRID_TAIL, 1 - _GRID_TAIL)


class LatentTransform:
    """The map from a latent score to an outcome value for one (model, copula) pair.

    - Bernoulli: ``x > latent_ppf(1 - p)`` (exact, no transcendental call per scenario);
    - normal/lognormal under the Gaussian copula: affine / exp-affine (exact);
    - everything else: linear interpolation in a uniform grid of ``x`` (8193 points over the latent
      quantiles 1e-7 .. 1 - 1e-7; clamped beyond), with a point mass handled as an exact threshold.
    """

    def __init__(self, model: OutcomeModel, df: float | None) -> None:
        self.model = model
        self.kind: Kind = model.kind
        self._threshold: float | None = None
        self._affine: tuple[float, float, bool] | None = None
        self._mass: tuple[float, float] | None = None
        self._table: tuple[float, float, np.ndarray, np.ndarray] | None = None
        if isinstance(model, Bernoulli):
            c = float(latent_ppf(1.0 - model.p, df)) if 0 < model.p < 1 else (np.inf if model.p == 0 else -np.inf)
            # float32 x > c  <=>  x > (c rounded down to float32): exact without casting x to float64
            self._threshold = _f32_down(c)
            return
        if df is None and isinstance(model, Normal):
            self._affine = (model.mean, model.sd, False)
            return
        if df is None and isinstance(model, LogNormal):
            self._affine = (model.mu, model.sigma, True)
            self._loc = model.loc
            return
        if isinstance(model, Normal | LogNormal):
            # t copula: one shared table of Phi^-1(t_df(x)) per df, then the model's own affine map.
            self._table = _std_normal_table(df)
            self._affine = (model.mean, model.sd, False) if isinstance(model, Normal) else (
                model.mu, model.sigma, True)
            self._loc = getattr(model, "loc", 0.0)
            self._fine = None
            return
        lo_u = _GRID_TAIL
        self._fine: tuple[float, float, np.ndarray, np.ndarray] | None = None
        if isinstance(model, PointMassMixture) and model.p > 0:
            # float32 x < c  <=>  x < (c rounded up to float32)
            self._mass = (_f32_up(float(latent_ppf(model.p, df))), model.value)
            lo_u = model.p + (1 - model.p) * _GRID_TAIL
            # Just above the point mass the base quantile is steep (its lower tail): a fine table there.
            edge_u = model.p + (1 - model.p) * 1e-3
            self._fine = self._tabulate(model, df, lo_u, edge_u)
            lo_u = edge_u
        self._table = self._tabulate(model, df, lo_u, 1 - _GRID_TAIL)

    @staticmethod
    def _tabulate(
        model: OutcomeModel, df: float | None, lo_u: float, hi_u: float
    ) -> tuple[float, float, np.ndarray, np.ndarray]:
        try:
            return _cached_table(model, df, lo_u, hi_u)
        except TypeError:  # an unhashable user model: build it every time
            return LatentTransform._build_table(model, df, lo_u, hi_u)

    @staticmethod
    def _build_table(
        model: OutcomeModel, df: float | None, lo_u: float, hi_u: float
    ) -> tuple[float, float, np.ndarray, np.ndarray]:
        lo, hi, u = _grid(df, lo_u, hi_u)
        values = np.asarray(model.ppf(u), dtype=np.float64)
        return (lo, (_GRID_POINTS - 1) / (hi - lo), values.astype(np.float32), np.diff(values).astype(np.float32))

    @staticmethod
    def _interp(table: tuple[float, float, np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
        lo, inv_dx, values, diffs = table
        t = x - np.float32(lo)
        t *= np.float32(inv_dx)
        np.clip(t, 0, len(diffs) - 1e-3, out=t)  # keeps the index inside the table
        f = np.floor(t)
        t -= f  # exact in float32: t and its floor share the exponent range
        # int32 indices with ndarray.take: about twice as fast as an intp cast and fancy indexing
        i = f.astype(np.int32)
        y = diffs.take(i)
        y *= t
        y += values.take(i)
        return y

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Outcome values for latent scores ``x`` (float32 in, float32 or bool out)."""
        if self._threshold is not None:
            return x > self._threshold
        if self._affine is not None and self._table is None:
            a, b, log = self._affine
            y = x * np.float32(b)
            y += np.float32(a)
            if log:
                np.exp(y, out=y)
                if self._loc:
                    y += np.float32(self._loc)
            return y
        assert self._table is not None
        y = self._interp(self._table, x)
        if self._affine is not None:
            a, b, log = self._affine
            y *= np.float32(b)
            y += np.float32(a)
            if log:
                np.exp(y, out=y)
                if self._loc:
                    y += np.float32(self._loc)
            return y
        if self._mass is not None:
            c, v = self._mass
            low = x < c
            if self._fine is not None:
                # Only the thin band between the point mass and the main table needs the fine table; the
                # scores below the mass threshold (a fraction p of them) take the mass value just below.
                near = x < np.float32(self._table[0])
                near ^= low
                idx = np.flatnonzero(near)
                if idx.size:
                    y[idx] = self._interp(self._fine, x[idx])
            y[low] = v
        return y
