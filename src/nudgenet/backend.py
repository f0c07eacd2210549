"""Default dtype and random generators: the bottom layer of nudgenet.

Everything random in nudgenet takes a ``seed`` (int), a ``numpy.random.Generator``, or ``None``;
``None`` draws from the global generator that :func:`manual_seed` resets.  Same seed, same result,
bit for bit.
"""

from __future__ import annotations

import numpy as np

SeedLike = int | np.integer | np.random.Generator | None

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_default_dtype = np.dtype(np.float32)
_global_generator = np.random.default_rng()


def get_default_dtype() -> np.dtype:
    """The floating dtype new tensors and parameters get (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype: ``float32`` (fast) or ``float64`` (gradient checks)."""
    global _default_dtype
    _default_dtype = as_float_dtype(dtype)


def as_float_dtype(dtype) -> np.dtype:
    """Normalise ``dtype`` to float32 or float64, or raise naming what came."""
    d = np.dtype(dtype)
    if d not in _FLOAT_DTYPES:
        raise TypeError(f"expected a floating dtype float32 or float64, got {d}")
    return d


def check_can_require_grad(dtype: np.dtype) -> None:
    """Only floating tensors can require gradients (PyTorch's rule): TypeError otherwise."""
    if dtype.kind != "f":
        raise TypeError(f"only floating tensors can require gradients, got dtype {dtype}")


def tensor_array(data, dtype=None) -> np.ndarray:
    """``data`` as a tensor holds it: floats in the default dtype unless they already are
    float32/float64 arrays (an array is not copied), ``dtype`` where given."""
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        if data.dtype.kind == "f" and data.dtype.itemsize < 4:
            return data.astype(get_default_dtype())
        return data
    array = np.asarray(data)
    if array.dtype.kind == "f" or array.dtype == object:
        return array.astype(get_default_dtype())
    return array


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the global generator used wherever no seed or generator is passed."""
    global _global_generator
    _global_generator = np.random.default_rng(seed)
    return _global_generator


def generator(seed: SeedLike = None) -> np.random.Generator:
    """A Generator from a seed: an int seeds a new one, a Generator is used as is,
    ``None`` gives the global generator (see :func:`manual_seed`)."""
    if seed is None:
        return _global_generator
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(
        f"expected an int seed, a numpy.random.Generator or None, got {type(seed).__name__}"
    )
