"""The validation rows ``fit`` holds back: ``validation_data``, or a fraction of the training rows
(``validation_split``) picked as ``validation_split_mode`` says (see :mod:`nudgenet.data.split`).
"""

from __future__ import annotations

import warnings

import numpy as np

from .data._convert import whole
from .data.sparse_rows import rows_of
from .data.split import unshared_classes, validation_split_rows
from .divergence import warn_non_finite_rows
from .errors import ValidationRowsWarning, caller_stacklevel

# what validation rows that are not finite spoil (warn_non_finite_rows), at the start of fit
VALIDATION_SPOILT = ("val_loss will be nan, and callbacks watching it (EarlyStopping, "
                     "ReduceLROnPlateau) act on nan")  # fmt: skip


def split_validation(
    x, y, sample_weight, validation_data, validation_split: float, mode: str, rng, task
):
    """The training rows (and their ``sample_weight``) and the validation data:
    ``validation_data``, or the rows ``validation_split`` holds back as ``mode`` picks them, with
    one warning when the class labels of one part are missing from the other (see
    :mod:`nudgenet.data.split`) and one naming those whose inputs are NaN or infinite
    (:func:`~nudgenet.divergence.warn_non_finite_rows`; by their numbers in ``x``)."""
    if validation_data is not None and validation_split:
        raise ValueError("fit: pass validation_data or validation_split, not both")
    if validation_data is not None:
        return x, y, sample_weight, validation_data
    if not validation_split:
        return x, y, sample_weight, None
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
    if mode == "stratify" and not _class_labels(y):
        raise ValueError(
            'fit: validation_split_mode="stratify" keeps each class\'s share, so it needs class '
            f"labels (whole numbers), got targets such as {np.ravel(y)[0]!r}; use \"shuffle\""
        )
    held = validation_rows(len(x), validation_split)
    fit_rows, val_rows = validation_split_rows(len(x), held, mode, y, rng)
    unshared = task != "regression" and unshared_classes(y[fit_rows], y[val_rows])
    if unshared:  # class-sorted rows split by "last", or too few rows of a class
        rows = f"the last {held} rows as given" if mode == "last" else f'mode "{mode}"'
        fix = {
            "last": 'are the rows sorted by class? Pass validation_split_mode="stratify" (or '
            '"shuffle"), or validation_data',
            "shuffle": 'pass validation_split_mode="stratify"',
        }.get(mode, "a class has too few rows for both parts")
        problem = f"fit: the validation rows ({rows}) {unshared}: val_* scores will mislead"
        warnings.warn(ValidationRowsWarning(problem, fix), stacklevel=caller_stacklevel())
    weights = None if sample_weight is None else sample_weight[fit_rows]
    held_x = rows_of(x, val_rows)
    numbers = range(len(x))[val_rows] if isinstance(val_rows, slice) else val_rows
    warn_non_finite_rows(held_x, "fit", "validation row", "x", VALIDATION_SPOILT, numbers)
    return rows_of(x, fit_rows), y[fit_rows], weights, (held_x, y[val_rows])


def _class_labels(y: np.ndarray) -> bool:
    """Whether targets ``y`` can be class labels: integers, booleans or whole floats (one-hot
    rows too), not a regression's values or probabilities."""
    return y.dtype.kind in "iub" or (y.dtype.kind == "f" and bool(whole(y).all()))


def validation_rows(n: int, split: float, option: str = "fit: validation_split") -> int:
    """How many of ``n`` training rows a validation split of ``split`` (in (0, 1)) holds back:
    Keras's rule, the rows after the first ``int(n · (1 − split))`` (``fit``'s
    ``validation_split``; its mode picks which).  ValueError, naming
    ``option`` and whether the training or the validation set is left empty, when that is not at
    least one row and less than ``n``."""
    held = n - int(n * (1.0 - split))
    if not 0 < held < n:
        raise ValueError(
            f"{option} {split} of {n} training rows leaves no "
            f"{'validation' if held == 0 else 'training'} rows; use 0 (none) or another fraction"
        )
    return held
