"""Weight initialisers.  Each returns a callable ``init(shape, rng, dtype) -> ndarray``.

Weights are ``(fan_in, fan_out)``.  Random, not constant, initial weights break the symmetry
between the hidden units of a layer: with equal weights every unit of a layer computes the same
thing and receives the same gradient, forever.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import numpy as np

Initializer = Callable[[tuple, np.random.Generator, np.dtype], np.ndarray]


class _Init:
    """A named initialiser: ``sample(shape, fan_in, fan_out, rng)`` gives float64 values."""

    def __init__(self, name: str, sample, **params):
        self.name, self._sample, self.params = name, sample, params

    def __call__(self, shape, rng: np.random.Generator, dtype) -> np.ndarray:
        shape = tuple(shape)
        fan_in, fan_out = (shape[0], shape[-1]) if shape else (1, 1)
        return np.asarray(self._sample(shape, fan_in, fan_out, rng), dtype=dtype)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


def uniform(low: float = -0.05, high: float = 0.05) -> _Init:
    """U(low, high); ``uniform(-eps, eps)`` is the classic symmetry-breaking init."""
    if not low < high:
        raise ValueError(f"uniform: expected low < high, got low={low}, high={high}")
    return _Init("uniform", lambda s, i, o, rng: rng.uniform(low, high, s), low=low, high=high)


def normal(mean: float = 0.0, std: float = 0.05) -> _Init:
    """N(mean, std²)."""
    return _Init("normal", lambda s, i, o, rng: rng.normal(mean, std, s), mean=mean, std=std)


def constant(value: float) -> _Init:
    """Every entry equal to ``value`` (zeros for biases; for weights it keeps units symmetric)."""
    return _Init("constant", lambda s, i, o, rng: np.full(s, value), value=value)


def zeros() -> _Init:
    return constant(0.0)


def glorot_uniform(gain: float = 1.0) -> _Init:
    """U(−a, a), a = gain·√(6 / (fan_in + fan_out))  (Glorot & Bengio 2010; a.k.a. Xavier)."""

    def sample(s, fan_in, fan_out, rng):
        limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, s)

    return _Init("glorot_uniform", sample, gain=gain)


def glorot_normal(gain: float = 1.0) -> _Init:
    """N(0, σ²), σ = gain·√(2 / (fan_in + fan_out))."""
    return _Init(
        "glorot_normal",
        lambda s, i, o, rng: rng.normal(0.0, gain * math.sqrt(2.0 / (i + o)), s),
        gain=gain,
    )


def he_uniform() -> _Init:
    """U(−a, a), a = √(6 / fan_in)  (He et al. 2015, for ReLU; a.k.a. Kaiming)."""
    return _Init(
        "he_uniform", lambda s, i, o, rng: rng.uniform(-((6 / i) ** 0.5), (6 / i) ** 0.5, s)
    )


def he_normal() -> _Init:
    """N(0, σ²), σ = √(2 / fan_in)."""
    return _Init("he_normal", lambda s, i, o, rng: rng.normal(0.0, (2 / i) ** 0.5, s))


xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal

_BY_NAME = {
    "glorot_uniform": glorot_uniform,
    "xavier_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_normal": glorot_normal,
    "he_uniform": he_uniform,
    "kaiming_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_normal": he_normal,
    "zeros": zeros,
}


_FACTORIES = {uniform, normal, constant, zeros, glorot_uniform, glorot_normal, he_uniform,
              he_normal}  # fmt: skip


def get(init) -> Initializer:
    """An initialiser from a callable or a name such as ``"he_uniform"`` or ``"glorot_normal"``;
    one of this module's functions given uncalled (``init=ng.init.he_normal``, as PyTorch
    passes ``nn.init.kaiming_normal_``) is a TypeError saying to call it: they return the
    initialiser (``ng.init.he_normal()``)."""
    if init in _FACTORIES:
        required = [name for name, p in inspect.signature(init).parameters.items()
                    if p.default is p.empty]  # fmt: skip
        raise TypeError(
            f"got ng.init.{init.__name__}, a function that makes an initialiser; call "
            f"it: ng.init.{init.__name__}({', '.join(required)})"
        )
    if callable(init):
        return init
    if isinstance(init, str) and init in _BY_NAME:
        return _BY_NAME[init]()
    raise ValueError(
        f"unknown initialiser {init!r}; expected a callable or one of {sorted(_BY_NAME)}"
    )
