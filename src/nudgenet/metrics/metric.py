"""What a metric is: statistics per batch, one value from all of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np


class Metric(NamedTuple):
    """A metric computed exactly over many batches.

    ``part(outputs, targets, loss_fn)`` gives one batch's statistics (a sum and a count, a
    confusion matrix, the scores themselves; never a view of ``outputs`` or ``targets``, whose
    buffers the compiled step reuses), and ``finish(parts)`` the value from the list of every
    batch's.  So an epoch's metric is the metric of all its rows, not an average of batch
    values.  Calling a metric scores one set of outputs: ``accuracy(outputs, targets, loss_fn)``.
    ``higher_is_better``: which way the metric improves (accuracy up, an error down), as the
    callbacks' ``mode="auto"`` reads it (:func:`nudgenet.metrics.higher_is_better`).
    """

    part: Callable[[np.ndarray, np.ndarray, Any], Any]
    finish: Callable[[list], float]
    higher_is_better: bool

    def __call__(self, outputs: np.ndarray, targets, loss_fn=None) -> float:
        return self.finish([self.part(np.asarray(outputs), np.asarray(targets), loss_fn)])


def mean_metric(
    totals: Callable[[np.ndarray, np.ndarray, Any], tuple[float, int]],
    transform: Callable[[float], float] = float,
    *,
    higher_is_better: bool,
) -> Metric:
    """A mean over rows or elements: ``totals`` gives a batch's ``(sum, count)``; the value is
    ``transform(Σ sums / Σ counts)`` (``math.sqrt`` for RMSE)."""

    def finish(parts: list) -> float:
        return transform(sum(total for total, _ in parts) / sum(count for _, count in parts))

    return Metric(totals, finish, higher_is_better)
