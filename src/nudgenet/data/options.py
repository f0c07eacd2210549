"""European call options priced by the Black-Scholes closed form, with delta and vega: a
regression data set whose targets and sensitivities are known exactly.

All quantities are per unit strike, so a sample is four numbers: moneyness ``m = S/K``, maturity
``T`` (years), risk-free rate ``r`` (continuous) and volatility ``σ``::

    d1 = (ln m + (r + σ²/2) T) / (σ √T)        d2 = d1 − σ √T
    price = C/K = m N(d1) − e^(−rT) N(d2)
    delta = ∂C/∂S = ∂price/∂m = N(d1)
    vega  = ∂price/∂σ = m φ(d1) √T
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..backend import SeedLike, as_float_dtype, generator

Range = tuple[float, float]

_erfc = np.frompyfunc(math.erfc, 1, 1)


class OptionSamples(NamedTuple):
    """Samples of :func:`black_scholes`; row ``i`` of every field belongs to the same option."""

    x: np.ndarray  # (n, 4): the inputs, in the order of ``columns``
    price: np.ndarray  # (n, 1): call price per unit strike
    delta: np.ndarray  # (n, 1): ∂price/∂m = N(d1)
    vega: np.ndarray  # (n, 1): ∂price/∂σ = m φ(d1) √T

    columns = ("moneyness", "maturity", "rate", "volatility")


def black_scholes(
    n: int,
    seed: SeedLike = None,
    *,
    moneyness: Range = (0.8, 1.2),
    maturity: Range = (0.05, 2.0),
    rate: Range = (0.0, 0.08),
    volatility: Range = (0.1, 0.5),
    dtype: DTypeLike = np.float32,
) -> OptionSamples:
    """``n`` European calls with inputs drawn uniformly from the given ``(low, high)`` ranges.

    Defaults: moneyness S/K ∈ [0.8, 1.2], maturity T ∈ [0.05, 2] years, rate r ∈ [0, 0.08],
    volatility σ ∈ [0.1, 0.5]. Columns are drawn in that order from one generator, so a seed
    fixes every value. Targets are computed in float64 (:func:`black_scholes_call`), then cast
    to ``dtype`` (float32 or float64).

    Raises:
        ValueError: ``n < 0``, a range with ``low > high``, or a non-positive moneyness,
            maturity or volatility bound.

    >>> data = black_scholes(1000, seed=0)
    >>> data.x.shape, data.price.shape, data.x.dtype
    ((1000, 4), (1000, 1), dtype('float32'))
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    ranges = {"moneyness": moneyness, "maturity": maturity, "rate": rate, "volatility": volatility}
    for name, (low, high) in ranges.items():
        if low > high:
            raise ValueError(
                f"{name} range must be (low, high) with low <= high, got {(low, high)}"
            )
        if name != "rate" and low <= 0:
            raise ValueError(f"{name} must be positive, got the range {(low, high)}")
    out = as_float_dtype(dtype)
    rng = generator(seed)
    x = np.stack([rng.uniform(low, high, size=n) for low, high in ranges.values()], axis=1)
    price, delta, vega = black_scholes_call(*x.T)
    return OptionSamples(
        x.astype(out),
        price[:, None].astype(out),
        delta[:, None].astype(out),
        vega[:, None].astype(out),
    )


def black_scholes_call(
    moneyness: ArrayLike, maturity: ArrayLike, rate: ArrayLike, volatility: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form European call ``(price, delta, vega)`` per unit strike, in float64.

    The formulas are in the module doc; arguments broadcast against each other. The normal CDF
    is ``erfc(−z/√2)/2`` with the standard library's ``math.erfc``, accurate to about one ulp
    even deep in the lower tail (no ``1 − x`` cancellation).

    Raises:
        ValueError: a moneyness, maturity or volatility that is not positive.

    >>> price, delta, vega = black_scholes_call(1.0, 1.0, 0.05, 0.2)  # S = K = 100: C = 10.45
    >>> round(float(price), 6), round(float(delta), 6), round(float(vega), 6)
    (0.104506, 0.636831, 0.37524)
    """
    m, t, r, sigma = (
        np.asarray(a, dtype=np.float64) for a in (moneyness, maturity, rate, volatility)
    )
    for name, value in (("moneyness", m), ("maturity", t), ("volatility", sigma)):
        if not np.all(value > 0):
            raise ValueError(f"{name} must be positive, got minimum {value.min()}")
    sigma_sqrt_t = sigma * np.sqrt(t)
    d1 = (np.log(m) + (r + 0.5 * sigma**2) * t) / sigma_sqrt_t
    d2 = d1 - sigma_sqrt_t
    n_d1 = _norm_cdf(d1)
    price = m * n_d1 - np.exp(-r * t) * _norm_cdf(d2)
    vega = m * np.exp(-0.5 * d1**2) / math.sqrt(2 * math.pi) * np.sqrt(t)
    return price, n_d1, vega


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF ``N(z) = erfc(−z/√2) / 2``."""
    return 0.5 * np.asarray(_erfc(-z / math.sqrt(2)), dtype=np.float64)
