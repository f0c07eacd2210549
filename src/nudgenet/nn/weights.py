"""Row weights for training, from Keras's ``class_weight`` and ``sample_weight``.

``class_weight`` is a dict ``{class: weight}`` (a class it leaves out weighs 1, as in scikit-learn;
a class no training row has is warned about) or ``"balanced"``: n_samples / (n_classes ·
count(class)) over the classes present, as scikit-learn's ``compute_class_weight`` computes it, so
every class weighs the same in total. ``sample_weight`` is one weight per row. With both, a row's
weight is their product. A row's class is read from its target by
:func:`~nudgenet.nn.losses.target_classes`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import AbsentClassWeightWarning, caller_stacklevel
from ..functional.losses import check_weights
from .losses import target_classes


def balanced_class_weight(classes: np.ndarray) -> dict[int, float]:
    """``{class: n_samples / (n_classes · count(class))}`` for each class among ``classes``."""
    present, counts = np.unique(classes, return_counts=True)
    return {int(c): len(classes) / (len(present) * n) for c, n in zip(present, counts)}


def _class_weight_of_rows(op: str, class_weight, classes: np.ndarray) -> np.ndarray:
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"{op}: class_weight must be a dict {{class: weight}} or 'balanced', got "
                f"{class_weight!r}"
            )
        class_weight = balanced_class_weight(classes)
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"{op}: class_weight must be a dict {{class: weight}} or 'balanced', got "
            f"{type(class_weight).__name__}"
        )
    if any(not isinstance(k, (int, np.integer)) or k < 0 for k in class_weight):
        raise ValueError(
            f"{op}: class_weight keys must be classes 0, 1, ...; got {list(class_weight)}"
        )
    present = np.unique(classes).tolist()
    absent = sorted(set(map(int, class_weight)) - set(present))
    if absent:  # a typo, labels encoded otherwise, or a rare class all in the validation rows
        named = f"class {absent[0]}" if len(absent) == 1 else f"classes {absent}"
        message = (f"{op}: class_weight names {named}, which no training row has (their "
                   f"classes: {present}); a weight of no row changes nothing")  # fmt: skip
        warnings.warn(AbsentClassWeightWarning(message, absent), stacklevel=caller_stacklevel())
    size = max([classes.max() + 1 if classes.size else 0, *(k + 1 for k in class_weight)])
    table = np.ones(int(size))  # a class left out weighs 1
    table[list(class_weight)] = list(class_weight.values())
    return check_weights(op, "class_weight", table, len(table), np.float64, "class")[classes]


def row_weights(op: str, loss_fn, y: np.ndarray, class_weight=None, sample_weight=None):
    """One weight per row of targets ``y`` (float64), or None when neither is given; a
    ``class_weight`` needs a classifier's loss."""
    if class_weight is None and sample_weight is None:
        return None
    weights = check_weights(op, "sample_weight", sample_weight, len(y), np.float64)
    if class_weight is not None:
        if getattr(loss_fn, "task", None) != "classification":
            raise ValueError(
                f"{op}: class_weight needs a classifier's loss (CrossEntropyLoss, "
                f"BCEWithLogitsLoss, ...), got {loss_fn!r}; use sample_weight"
            )
        by_class = _class_weight_of_rows(op, class_weight, target_classes(y))
        weights = by_class if weights is None else weights * by_class
    if not weights.sum() > 0:
        raise ValueError(f"{op}: the row weights add up to {weights.sum():g}; no row would count")
    return weights


def in_units(weights: np.ndarray | None) -> tuple[np.ndarray | None, float]:
    """Row ``weights`` (float64) divided by their unit ``2^e``, e the binary exponent of the
    largest, so that it lies in [0.5, 1): weights beyond the training dtype's range (1e39 in
    float32, finite in float64) would become infinities in the loss, which takes them in the
    network's dtype.  A power of two changes no bit of a weighted mean (the loss divides by
    the weight total): each weight, product and sum is the same number times 2^-e, so a fit
    is the same bit for bit (unless some weight lies below 2^-126 of the largest, float32's
    normal range).  Returns the weights and the unit (1 for None)."""
    if weights is None:
        return None, 1.0
    unit = math.ldexp(1.0, math.frexp(float(weights.max()))[1])
    return weights / unit, unit
