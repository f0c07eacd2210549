"""Metrics on model outputs: accuracy for classifiers, MSE / RMSE / MAE for regressors.

Each metric is a mean over rows or elements, kept as a :class:`Metric`: ``totals(outputs,
targets, loss_fn)`` gives the batch's ``(sum, count)``, and ``finish(sum / count)`` the value
(``√`` for RMSE).  So an epoch's metric adds sums and counts over its batches and is exact, not
an average of batch averages.  ``loss_fn`` tells how to read outputs as classes: its
``predict_classes`` (see :mod:`nudgenet.nn.losses`); a plain function as the loss, or none:
the argmax of several columns, one column split at 0.5.  The functions
:func:`accuracy`, :func:`mse`, :func:`rmse` and :func:`mae` score whole arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .nn.losses import scores_to_classes


def _correct(outputs: np.ndarray, targets, loss_fn) -> tuple[float, int]:
    targets = np.asarray(targets)
    if targets.ndim == 2 and targets.shape[1] > 1:  # one-hot rows
        targets = targets.argmax(axis=1)
    predict_classes = getattr(loss_fn, "predict_classes", scores_to_classes)
    hits = predict_classes(outputs) == targets.reshape(-1)
    return float(np.count_nonzero(hits)), hits.size


def _errors(outputs: np.ndarray, targets) -> np.ndarray:
    return outputs.reshape(len(outputs), -1) - np.asarray(targets).reshape(len(outputs), -1)


def _squared(outputs: np.ndarray, targets, loss_fn) -> tuple[float, int]:
    e = _errors(outputs, targets)
    return float(np.vdot(e, e)), e.size


def _absolute(outputs: np.ndarray, targets, loss_fn) -> tuple[float, int]:
    e = _errors(outputs, targets)
    return float(np.abs(e).sum()), e.size


class Metric(NamedTuple):
    """A mean-based metric: batch ``(sum, count)``, and the value from ``sum / count``."""

    totals: Callable[[np.ndarray, np.ndarray, object], tuple[float, int]]
    finish: Callable[[float], float] = float

    def __call__(self, outputs: np.ndarray, targets, loss_fn=None) -> float:
        total, count = self.totals(outputs, targets, loss_fn)
        return self.finish(total / count)


accuracy = Metric(_correct)  # fraction of rows whose predicted class equals the label
mse = Metric(_squared)  # mean squared error over every output
rmse = Metric(_squared, math.sqrt)  # root mean squared error, in the targets' units
mae = Metric(_absolute)  # mean absolute error

METRICS: dict[str, Metric] = {"accuracy": accuracy, "mse": mse, "rmse": rmse, "mae": mae}


def resolve(names) -> dict[str, Metric]:
    """Metrics by name (``"accuracy"``, ``"mse"``, ``"rmse"``, ``"mae"``)."""
    resolved = {}
    for name in names or ():
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; expected one of {sorted(METRICS)}")
        resolved[name] = METRICS[name]
    return resolved
