"""The conversions every loader in ``nudgenet.data`` applies: features to a float32 matrix,
labels to int64 or float32, and the check that both are finite."""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError


def as_features(x: np.ndarray) -> np.ndarray:
    """``(N, ...)`` → float32 ``(N, features)``, one row per sample.

    uint8 data (image pixels) is scaled from 0..255 to [0, 1]; any other numeric dtype is cast
    to float32 unchanged (values beyond float32's range become infinite: see
    :func:`require_finite`).
    """
    rows = x.reshape(x.shape[0], math.prod(x.shape[1:]))
    if rows.dtype == np.uint8:
        return np.divide(rows, 255, dtype=np.float32)
    if rows.dtype.kind not in "biuf":
        raise DataError(f"features must be numeric, got dtype {rows.dtype}")
    with np.errstate(over="ignore"):
        return rows.astype(np.float32, copy=False)


def as_labels(y: np.ndarray) -> np.ndarray:
    """Labels as int64 when every value is a whole number (integer or bool dtype, or floats such
    as ``3.0``: see :func:`whole`), else as float32 (regression targets)."""
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    if y.dtype.kind != "f":
        raise DataError(f"labels must be numeric, got dtype {y.dtype}")
    if whole(y).all():
        return y.astype(np.int64)
    with np.errstate(over="ignore"):  # beyond float32's range: infinite, see require_finite
        return y.astype(np.float32, copy=False)


def whole(y: np.ndarray) -> np.ndarray:
    """Which values of the float array ``y`` are whole numbers that int64 holds (not NaN, not
    infinite, below 2**63 in magnitude): those that can be class labels."""
    with np.errstate(invalid="ignore"):  # NaN and inf give NaN here: not whole
        return (np.mod(y, 1) == 0) & (np.abs(y) < 2.0**63)


def require_finite(source: object, name: str, values: np.ndarray) -> np.ndarray:
    """``values`` unchanged, after checking it holds no NaN or infinity.

    Raises:
        DataError: naming ``source`` (a file), ``name`` ("x" or "y"), how many values are not
            finite, and the first sample holding one.
    """
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(
            f"{source}: {name} holds {int(bad.sum())} NaN or infinite values (missing or "
            f"out-of-float32-range data), the first in sample {np.argwhere(bad)[0][0]} (0-based)"
        )
    return values
