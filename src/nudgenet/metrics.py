"""Metrics on model outputs: accuracy for classifiers, MSE / RMSE / MAE for regressors.

Each metric is ``metric(outputs, targets, loss_fn) -> float``; ``loss_fn`` tells how to read
outputs as classes (argmax of scores; a single column of logits is split at 0, of probabilities
at 0.5).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .nn.losses import BCEWithLogitsLoss

Metric = Callable[[np.ndarray, np.ndarray, object], float]


def predicted_classes(outputs: np.ndarray, loss_fn=None) -> np.ndarray:
    """Class labels from model outputs: argmax over columns, or a threshold for one column."""
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        return outputs.argmax(axis=1)
    threshold = 0.0 if isinstance(loss_fn, BCEWithLogitsLoss) else 0.5
    return (outputs.reshape(len(outputs), -1)[:, 0] > threshold).astype(np.int64)


def accuracy(outputs: np.ndarray, targets: np.ndarray, loss_fn=None) -> float:
    """Fraction of rows whose predicted class equals the label (one-hot targets allowed)."""
    targets = np.asarray(targets)
    if targets.ndim == 2 and targets.shape[1] > 1:
        targets = targets.argmax(axis=1)
    return float(np.mean(predicted_classes(outputs, loss_fn) == targets.reshape(-1)))


def _errors(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return outputs.reshape(len(outputs), -1) - np.asarray(targets).reshape(len(outputs), -1)


def mse(outputs, targets, loss_fn=None) -> float:
    """Mean squared error over every output."""
    return float(np.mean(_errors(outputs, targets) ** 2))


def rmse(outputs, targets, loss_fn=None) -> float:
    """Root mean squared error (in the targets' units)."""
    return float(np.sqrt(mse(outputs, targets)))


def mae(outputs, targets, loss_fn=None) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(_errors(outputs, targets))))


METRICS: dict[str, Metric] = {"accuracy": accuracy, "mse": mse, "rmse": rmse, "mae": mae}


def resolve(names) -> dict[str, Metric]:
    """Metric functions by name (``"accuracy"``, ``"mse"``, ``"rmse"``, ``"mae"``)."""
    resolved = {}
    for name in names or ():
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; expected one of {sorted(METRICS)}")
        resolved[name] = METRICS[name]
    return resolved
