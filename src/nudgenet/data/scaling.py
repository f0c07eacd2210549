"""Feature standardisation (zero mean, unit variance per feature) that saves as plain JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..backend import get_default_dtype
from ..errors import DataError, NudgenetError, ShapeError

# A standard deviation at or below this share of max(1, |mean|) is rounding noise: the feature
# is constant and is centred but not scaled.
_CONSTANT_TOLERANCE = 1e-12
_BLOCK = 1 << 19  # values fit takes at a time (their squared deviations: 4 MiB of float64)


class Standardizer:
    """``z = (x − mean) / scale`` per feature, with ``mean`` and ``scale`` learnt by :meth:`fit`.

    ``scale`` is the feature's standard deviation (population, ``ddof=0``), except for a
    constant feature (std ≤ 1e-12 · max(1, |mean|)), whose scale is 1: it is centred, never
    divided by zero. Features are everything after the first axis, so ``(N, 8, 8)`` images get
    one mean per pixel. Statistics are computed in float64; outputs keep a floating input's
    dtype (float32 stays float32); integer input gives the default float dtype.

    A model carries it as layers of the same two words: ``nudgenet.Standardize(s.mean_,
    s.scale_)`` in front for its inputs, ``nudgenet.Unstandardize(t.mean_, t.scale_)`` at the end
    for a regressor's standardised targets.

    >>> s = Standardizer().fit(np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32))
    >>> s.transform(np.array([[2.0, 6.0]], dtype=np.float32))
    array([[0., 1.]], dtype=float32)
    >>> s.to_dict()
    {'mean': [2.0, 5.0], 'scale': [1.0, 1.0]}
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, x: ArrayLike) -> Standardizer:
        """Learn each feature's mean and scale from the rows of ``x``; returns ``self``.

        Raises:
            ShapeError: ``x`` has no rows.
            DataError: ``x`` holds NaN or infinity.
        """
        a = np.asarray(x)
        if a.ndim == 0 or a.shape[0] == 0:
            raise ShapeError(f"Standardizer.fit needs at least one row, got shape {a.shape}")
        mean = a.mean(axis=0, dtype=np.float64)
        std = np.sqrt(_squared_deviations(a, mean) / a.shape[0])
        bad = ~(np.isfinite(mean) & np.isfinite(std))
        if bad.any():
            raise DataError(
                f"Standardizer.fit: x holds NaN or infinity in {int(bad.sum())} of {bad.size} "
                f"features (first at feature index {np.argwhere(bad)[0].tolist()})"
            )
        constant = std <= _CONSTANT_TOLERANCE * np.maximum(1.0, np.abs(mean))
        self.mean_, self.scale_ = mean, np.where(constant, 1.0, std)
        return self

    def transform(self, x: ArrayLike) -> np.ndarray:
        """``(x − mean) / scale``, in ``x``'s floating dtype."""
        a, mean, scale = self._prepare(x)
        return (a - mean) / scale

    def fit_transform(self, x: ArrayLike) -> np.ndarray:
        """:meth:`fit` on ``x``, then :meth:`transform` it."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z: ArrayLike) -> np.ndarray:
        """``z · scale + mean``: undoes :meth:`transform`, in ``z``'s floating dtype."""
        a, mean, scale = self._prepare(z)
        return a * scale + mean

    def to_dict(self) -> dict[str, Any]:
        """``{"mean": ..., "scale": ...}`` as nested lists of floats, ready for ``json.dump``."""
        mean, scale = self._fitted()
        return {"mean": mean.tolist(), "scale": scale.tolist()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Standardizer:
        """A fitted Standardizer from :meth:`to_dict`'s output.

        Raises:
            DataError: a key is missing, the shapes differ, a value is not finite, or a scale is
                not positive.
        """
        missing = [k for k in ("mean", "scale") if k not in d]
        if missing:
            raise DataError(f"Standardizer.from_dict: missing {missing}; got keys {list(d)}")
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            scale = np.asarray(d["scale"], dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise DataError(f"Standardizer.from_dict: mean and scale must be numbers ({e})") from e
        if mean.shape != scale.shape:
            raise DataError(
                f"Standardizer.from_dict: mean has shape {mean.shape} but scale {scale.shape}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise DataError("Standardizer.from_dict: needs finite means and positive scales")
        s = cls()
        s.mean_, s.scale_ = mean, scale
        return s

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.scale_ is None:
            raise NudgenetError("this Standardizer is not fitted yet: call fit(x) first")
        return self.mean_, self.scale_

    def _prepare(self, x: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``x`` as floating array, with mean and scale in its dtype, after a shape check."""
        mean, scale = self._fitted()
        a = np.asarray(x)
        if a.shape[1:] != mean.shape:
            raise ShapeError(
                f"Standardizer was fitted on features of shape {mean.shape}, got x of shape "
                f"{a.shape} (features {a.shape[1:]})"
            )
        dtype = a.dtype if a.dtype.kind == "f" else get_default_dtype()
        return a.astype(dtype, copy=False), mean.astype(dtype), scale.astype(dtype)


def _squared_deviations(a: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Σ (x − mean)² per feature over the rows of ``a``, in float64, a block of rows at a time:
    ``np.std`` would hold a float64 copy of all of ``a`` (twice a float32 data set's memory)."""
    rows = max(1, _BLOCK // max(1, mean.size))
    total = np.zeros_like(mean)
    for start in range(0, a.shape[0], rows):
        deviations = a[start : start + rows] - mean
        total += np.square(deviations, out=deviations).sum(axis=0)
    return total
