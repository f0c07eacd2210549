"""The conversions every loader in ``nudgenet.data`` applies: features to a float32 matrix,
labels to int64 or float32, and the checks that both are finite; and the one rule for values
beyond the range of the float type they are cast to (:func:`within_range`), which the
scikit-learn estimators apply too."""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError

_BLOCK = 1 << 22  # values require_finite checks at a time


def as_features(x: np.ndarray, source: object) -> np.ndarray:
    """``(N, ...)`` → float32 ``(N, features)``, one row per sample.

    uint8 data (image pixels) is scaled from 0..255 to [0, 1]; any other numeric dtype is cast
    to float32 unchanged (a value beyond float32's range is a DataError naming ``source``:
    :func:`within_range`).
    """
    rows = x.reshape(x.shape[0], math.prod(x.shape[1:]))
    if rows.dtype == np.uint8:
        return np.divide(rows, 255, dtype=np.float32)
    if rows.dtype.kind not in "biuf":
        raise DataError(f"features must be numeric, got dtype {rows.dtype}")
    return within_range(source, "x", rows, np.float32, "scale the data")


def as_labels(y: np.ndarray, source: object) -> np.ndarray:
    """Labels as int64 when every value is a whole number (integer or bool dtype, or floats such
    as ``3.0``: see :func:`whole`), else as float32 (regression targets, within its range:
    :func:`within_range`)."""
    if y.dtype.kind in "biu":
        return y.astype(np.int64)
    if y.dtype.kind != "f":
        raise DataError(f"labels must be numeric, got dtype {y.dtype}")
    if whole(y).all():
        return y.astype(np.int64)
    return within_range(source, "y", y, np.float32, "scale the targets")


def within_range(source: object, name: str, values: np.ndarray, dtype, remedy: str) -> np.ndarray:
    """``values`` cast to the float ``dtype``, after checking that no finite value lies beyond its
    range (the cast would make it infinite, and training on it diverges).  Checked only where
    ``values`` are floats of a wider range (float64 to float32): one pass over the cast array;
    NaN and infinities pass (:func:`require_finite` refuses them where wanted).

    Raises:
        DataError: one line naming ``source``, ``name``, the range, how many values lie beyond
            it, the first (its sample and column, 0-based) and ``remedy``.
    """
    dtype = np.dtype(dtype)
    with np.errstate(over="ignore"):
        cast = values.astype(dtype, copy=False)
    if not _narrowed(values.dtype, dtype) or np.isfinite(cast).all():
        return cast
    beyond = np.isinf(cast) & np.isfinite(values)
    if beyond.any():
        row, column = np.argwhere(beyond.reshape(len(values), -1))[0]
        value = values.reshape(len(values), -1)[row, column]
        raise _beyond(source, name, dtype, int(beyond.sum()), value, row, column, remedy)
    return cast


def sparse_within_range(source: object, name: str, values, dtype, remedy: str):
    """:func:`within_range` of a SciPy sparse matrix: cast while sparse, its stored values
    checked (the first beyond the range named by row, then column, as for dense rows).  A
    matrix whose entries repeat (a sum) or are out of order is put in order first, in its own
    dtype, as making it dense would sum them."""
    dtype = np.dtype(dtype)
    if not _narrowed(values.dtype, dtype):
        return values.astype(dtype)
    values = values.tocsr(copy=True)
    values.sum_duplicates()  # and sorts each row's columns: the cast's entries line up
    with np.errstate(over="ignore"):
        cast = values.astype(dtype)
    if np.isfinite(cast.data).all():
        return cast
    stored, narrowed = values.tocoo(), cast.tocoo()
    beyond = np.isinf(narrowed.data) & np.isfinite(stored.data)
    if beyond.any():
        first = np.lexsort((stored.col[beyond], stored.row[beyond]))[0]
        row, column = stored.row[beyond][first], stored.col[beyond][first]
        value = stored.data[beyond][first]
        raise _beyond(source, name, dtype, int(beyond.sum()), value, row, column, remedy)
    return cast


def _narrowed(wide: np.dtype, dtype: np.dtype) -> bool:
    """Whether casting floats of ``wide`` to ``dtype`` can overflow (float64 to float32)."""
    return wide.kind == "f" and np.finfo(wide).max > np.finfo(dtype).max


def _beyond(source, name, dtype, count, value, row, column, remedy) -> DataError:
    return DataError(
        f"{source}: expected {name} within {dtype}'s range (±{np.finfo(dtype).max:.4g}), got "
        f"{count} value{'s' if count > 1 else ''} beyond it, the first {value:g} in sample "
        f"{row}, column {column} (0-based); {remedy}"
    )


def whole(y: np.ndarray) -> np.ndarray:
    """Which values of the float array ``y`` are whole numbers that int64 holds (not NaN, not
    infinite, below 2**63 in magnitude): those that can be class labels."""
    with np.errstate(invalid="ignore"):  # NaN and inf give NaN here: not whole
        return (np.mod(y, 1) == 0) & (np.abs(y) < np.float64(2.0**63))  # (no float16 2**63)


def require_finite(source: object, name: str, values: np.ndarray) -> np.ndarray:
    """``values`` unchanged, after checking it holds no NaN or infinity.

    Raises:
        DataError: naming ``source`` (a file), ``name`` ("x" or "y"), how many values are not
            finite, and the first sample holding one.
    """
    rows = max(1, _BLOCK // max(1, values[:1].size))  # the check's mask a block of rows at a time
    if all(np.isfinite(values[i : i + rows]).all() for i in range(0, len(values), rows)):
        return values
    bad = ~np.isfinite(values)
    raise DataError(
        f"{source}: {name} holds {int(bad.sum())} NaN or infinite values (missing data?), "
        f"the first in sample {np.argwhere(bad)[0][0]} (0-based)"
    )
