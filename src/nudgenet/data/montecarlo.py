"""Monte-Carlo option data for differential training (Huge & Savine 2020, "Differential machine
learning", arXiv 2005.02347): one simulated path per row, whose discounted payoff is a noisy
but unbiased label of the price, and whose pathwise derivatives by the inputs are unbiased
labels of the Greeks.  The closed forms come alongside, for evaluation only.

European call under Black-Scholes, one path per row, z ~ N(0, 1)::

    S_T = S exp((r − σ²/2) T + σ √T z)            payoff = e^(−rT) max(S_T − K, 0)
    ∂payoff/∂S = e^(−rT) [S_T > K] S_T / S
    ∂payoff/∂σ = e^(−rT) [S_T > K] S_T (√T z − σ T)
    ∂payoff/∂T = −r payoff + e^(−rT) [S_T > K] S_T (r − σ²/2 + σ z / (2 √T))

Basket call under Bachelier (normal) dynamics, d assets with weights w, absolute volatilities σ
and correlations ρ (Σ = diag σ ρ diag σ), B = w·S, v = √(wᵀ Σ w)::

    S_T = S + √T L z  (L Lᵀ = Σ)                  payoff = max(w·S_T − K, 0)
    ∂payoff/∂Sᵢ = [w·S_T > K] wᵢ
    price = (B − K) N(d) + v √T φ(d),  d = (B − K) / (v √T);   ∂price/∂Sᵢ = wᵢ N(d)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from ..backend import SeedLike, as_float_dtype, generator
from .options import _norm_cdf, black_scholes_call

Setting = float | tuple[float, float]  # a fixed value, or a (low, high) range drawn per row


class MonteCarloOptions(NamedTuple):
    """Samples of :func:`black_scholes_mc`; row ``i`` of every field belongs to the same path."""

    x: np.ndarray  # (n, k): the inputs, named by ``columns``
    payoff: np.ndarray  # (n, 1): the discounted payoff of one path (the noisy label)
    differentials: np.ndarray  # (n, k): its pathwise derivatives by each input
    price: np.ndarray  # (n, 1): the closed-form price (for evaluation only)
    delta: np.ndarray  # (n, 1): ∂price/∂spot
    vega: np.ndarray  # (n, 1): ∂price/∂σ
    columns: tuple[str, ...]


def call_payoff(spot, volatility, maturity, rate, strike, z) -> tuple[np.ndarray, np.ndarray]:
    """``(payoff, derivatives)`` of one Black-Scholes path per row (the module doc's formulas):
    ``derivatives`` has three columns, by spot, volatility and maturity.  Arguments broadcast."""
    s, sigma, t, r, k, z = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (spot, volatility, maturity, rate, strike, z))
    )
    root_t = np.sqrt(t)
    final = s * np.exp((r - 0.5 * sigma**2) * t + sigma * root_t * z)
    discount = np.exp(-r * t)
    paid = discount * (final > k) * final  # e^(−rT) [S_T > K] S_T
    payoff = discount * np.maximum(final - k, 0.0)
    by_spot = paid / s
    by_vol = paid * (root_t * z - sigma * t)
    by_maturity = -r * payoff + paid * (r - 0.5 * sigma**2 + sigma * z / (2 * root_t))
    return payoff, np.stack([by_spot, by_vol, by_maturity], axis=-1)


def _draw(rng: np.random.Generator, name: str, setting: Setting, n: int) -> np.ndarray | None:
    """A column of ``n`` values drawn from a ``(low, high)`` range, or None for a fixed value."""
    if np.ndim(setting) == 0:
        if setting <= 0:
            raise ValueError(f"black_scholes_mc: {name} must be positive, got {setting}")
        return None
    if np.shape(setting) != (2,) or not 0 < setting[0] <= setting[1]:
        raise ValueError(
            f"black_scholes_mc: {name} must be a positive number or a range (low, high) with "
            f"0 < low <= high, got {setting}"
        )
    return rng.uniform(*setting, size=n)


def black_scholes_mc(
    n: int,
    seed: SeedLike = None,
    *,
    spot: tuple[float, float] = (0.5, 1.5),
    volatility: Setting = 0.2,
    maturity: Setting = 1.0,
    rate: float = 0.0,
    strike: float = 1.0,
    dtype: DTypeLike = np.float64,
) -> MonteCarloOptions:
    """``n`` European calls, one simulated path each (module doc): spot drawn uniformly from
    ``spot``; ``volatility`` and ``maturity`` fixed, or drawn from a ``(low, high)`` range and
    then inputs too (columns ``spot``, ``volatility``, ``maturity``, in that order).  The inputs
    are drawn column by column, then one normal per row, from one generator: a seed fixes every
    value.  Computed in float64, returned in ``dtype``.

    >>> data = black_scholes_mc(1000, seed=0, volatility=(0.1, 0.4))
    >>> data.columns, data.x.shape, data.differentials.shape
    (('spot', 'volatility'), (1000, 2), (1000, 2))
    """
    if n < 0:
        raise ValueError(f"black_scholes_mc: n must be >= 0, got {n}")
    if strike <= 0:
        raise ValueError(f"black_scholes_mc: strike must be positive, got {strike}")
    if np.ndim(spot) == 0:  # the one input always drawn
        raise ValueError(f"black_scholes_mc: spot must be a range (low, high), got {spot!r}")
    rng = generator(seed)
    spots = _draw(rng, "spot", tuple(spot), n)
    drawn = {"volatility": _draw(rng, "volatility", volatility, n)}
    drawn["maturity"] = _draw(rng, "maturity", maturity, n)
    sigma = volatility if drawn["volatility"] is None else drawn["volatility"]
    t = maturity if drawn["maturity"] is None else drawn["maturity"]
    payoff, derivatives = call_payoff(spots, sigma, t, rate, strike, rng.standard_normal(n))
    inputs = [True, drawn["volatility"] is not None, drawn["maturity"] is not None]
    columns = tuple(c for c, kept in zip(("spot", "volatility", "maturity"), inputs) if kept)
    x = np.stack([spots] + [v for v in drawn.values() if v is not None], axis=1)
    price, delta, vega = black_scholes_call(spots / strike, t, rate, sigma)
    out = as_float_dtype(dtype)
    return MonteCarloOptions(
        x.astype(out),
        payoff[:, None].astype(out),
        derivatives[:, inputs].astype(out),
        (strike * price)[:, None].astype(out),
        delta[:, None].astype(out),
        (strike * vega)[:, None].astype(out),
        columns,
    )


class BasketSamples(NamedTuple):
    """Samples of :func:`bachelier_basket`."""

    x: np.ndarray  # (n, d): the assets' prices today
    payoff: np.ndarray  # (n, 1): the basket call's payoff on one path
    differentials: np.ndarray  # (n, d): its pathwise derivatives by each asset's price
    price: np.ndarray  # (n, 1): the closed-form price
    delta: np.ndarray  # (n, d): ∂price/∂Sᵢ


class BasketMarket(NamedTuple):
    """The fixed market of :func:`bachelier_basket`: weights, volatilities, correlations."""

    weights: np.ndarray
    volatility: np.ndarray
    correlation: np.ndarray

    @property
    def covariance(self) -> np.ndarray:
        return self.volatility[:, None] * self.correlation * self.volatility[None, :]


def basket_market(dimensions: int, seed: SeedLike = 0) -> BasketMarket:
    """A random market of ``dimensions`` assets: weights summing to 1, absolute volatilities
    in [0.1, 0.3], correlations of a random factor matrix (positive definite)."""
    if dimensions < 1:
        raise ValueError(f"bachelier_basket: dimensions must be >= 1, got {dimensions}")
    rng = generator(seed)
    weights = rng.uniform(0.5, 1.5, dimensions)
    factors = rng.standard_normal((dimensions, dimensions)) + 1.0  # positive correlations
    covariance = factors @ factors.T + 0.1 * np.eye(dimensions)
    scale = np.sqrt(np.diag(covariance))
    correlation = covariance / scale[:, None] / scale[None, :]
    return BasketMarket(weights / weights.sum(), rng.uniform(0.1, 0.3, dimensions), correlation)


def bachelier_basket_call(x: np.ndarray, market: BasketMarket, maturity: float, strike: float):
    """The closed-form ``(price (n, 1), delta (n, d))`` of a basket call (module doc)."""
    basket = np.asarray(x, np.float64) @ market.weights
    spread = math.sqrt(market.weights @ market.covariance @ market.weights * maturity)
    d = (basket - strike) / spread
    price = (basket - strike) * _norm_cdf(d) + spread * np.exp(-0.5 * d**2) / math.sqrt(2 * math.pi)
    return price[:, None], _norm_cdf(d)[:, None] * market.weights[None, :]


def bachelier_basket(
    n: int,
    seed: SeedLike = None,
    *,
    dimensions: int = 7,
    maturity: float = 1.0,
    strike: float = 1.0,
    market: BasketMarket | None = None,
    dtype: DTypeLike = np.float64,
) -> BasketSamples:
    """``n`` basket calls on ``dimensions`` assets under Bachelier dynamics, one path each
    (module doc).  Today's prices are drawn around 1 from the same dynamics over one year (so
    the basket spans the strike); ``market`` defaults to :func:`basket_market` with seed 0 (the
    same market whatever ``seed``, which draws the rows).

    >>> data = bachelier_basket(100, seed=0, dimensions=5)
    >>> data.x.shape, data.differentials.shape, data.delta.shape
    ((100, 5), (100, 5), (100, 5))
    """
    if n < 0:
        raise ValueError(f"bachelier_basket: n must be >= 0, got {n}")
    market = market if market is not None else basket_market(dimensions)
    root = np.linalg.cholesky(market.covariance)
    rng = generator(seed)
    x = 1.0 + rng.standard_normal((n, len(market.weights))) @ root.T
    final = x + math.sqrt(maturity) * rng.standard_normal(x.shape) @ root.T
    basket = final @ market.weights
    payoff = np.maximum(basket - strike, 0.0)
    differentials = (basket > strike)[:, None] * market.weights[None, :]
    price, delta = bachelier_basket_call(x, market, maturity, strike)
    out = as_float_dtype(dtype)
    return BasketSamples(
        x.astype(out),
        payoff[:, None].astype(out),
        differentials.astype(out),
        price.astype(out),
        delta.astype(out),
    )
