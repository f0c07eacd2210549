"""Which rows of a global batch each rank trains on.

A global batch of ``m`` rows (the same rows on every rank: all draw one permutation from the
shared seed) is cut into ``size`` contiguous shares as even as can be: rank ``r`` takes rows
``⌈m·r/size⌉`` to ``⌈m·(r+1)/size⌉``.  Shares differ by at most one row, the larger ones first; a
short last batch, or one with fewer rows than ranks, leaves the last ranks none (they still join
the step's reduction), never rank 0, whose diagnostics the History keeps.

For a loss that is a mean, a rank's loss and gradients count in the global batch's by what its
rows weigh in that mean (:func:`weight_of`): their number, their sample weights, and for a
cross-entropy with class weights on integer labels their classes' weights too.
"""

from __future__ import annotations

import functools

import numpy as np

from ..functional.losses import cross_entropy
from ..nn.losses import CrossEntropyLoss


def bounds(m: int, rank: int, size: int) -> tuple[int, int]:
    """``(start, stop)`` of rank ``rank``'s share of ``m`` rows among ``size`` ranks."""
    return -(-m * rank // size), -(-m * (rank + 1) // size)


def share(rows: np.ndarray, rank: int, size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous share of ``rows`` (a view)."""
    start, stop = bounds(len(rows), rank, size)
    return rows[start:stop]


def weight_of(classes, y: np.ndarray, rows: np.ndarray, weights: np.ndarray | None = None):
    """What the rows ``rows`` (row numbers) of targets ``y`` weigh in a loss's mean over them
    (its denominator): their number, or the sum of their sample ``weights`` (of all rows);
    with the loss's class weights ``classes`` (:func:`class_weights`) on integer labels, each
    row times ``classes[yₙ]`` (its mean is Σ w[yₙ] ℓₙ / Σ w[yₙ], PyTorch's rule; probability
    rows are a mean over rows).  The targets are read only then."""
    if classes is None or y.ndim != 1:
        return len(rows) if weights is None else weights[rows].sum()
    per_row = np.asarray(classes, dtype=np.float64)[y[rows].astype(np.intp)]
    return (per_row if weights is None else weights[rows] * per_row).sum()


def class_weights(loss_fn):
    """The class weights of a ``CrossEntropyLoss`` or of ``F.cross_entropy`` given through
    ``functools.partial``; None for any other loss."""
    if isinstance(loss_fn, CrossEntropyLoss):
        return loss_fn.weight
    if isinstance(loss_fn, functools.partial):
        if loss_fn.func is cross_entropy:
            return loss_fn.keywords.get("weight")
        return class_weights(loss_fn.func)
    return None
