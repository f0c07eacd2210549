"""Regression metrics: MSE, RMSE, MAE (means over every output) and R² (scikit-learn's
``r2_score``, the mean over output columns), of the values the loss predicts from the outputs
(``loss_fn.predict_values``: the exponential of a ``PoissonLoss`` network's log-means; a plain
function or none: the outputs as they are)."""

from __future__ import annotations

import math

import numpy as np

from .metric import Metric, mean_metric


def _values(outputs: np.ndarray, loss_fn) -> np.ndarray:
    """The values ``loss_fn`` predicts from ``outputs`` (the outputs, where it says none)."""
    predict_values = getattr(loss_fn, "predict_values", None)
    return outputs if predict_values is None else predict_values(outputs)


def _columns(outputs: np.ndarray, targets, loss_fn) -> tuple[np.ndarray, np.ndarray]:
    """Predicted values and targets as float64 columns ``(N, k)``."""
    outputs = _values(outputs, loss_fn)
    n = len(outputs)
    y = np.asarray(targets, dtype=np.float64).reshape(n, -1)
    return np.asarray(outputs, dtype=np.float64).reshape(n, -1), y


def _errors(outputs: np.ndarray, targets, loss_fn) -> np.ndarray:
    outputs = _values(outputs, loss_fn)
    return outputs.reshape(len(outputs), -1) - np.asarray(targets).reshape(len(outputs), -1)


def _squared(outputs: np.ndarray, targets, loss_fn) -> tuple[float, int]:
    e = _errors(outputs, targets, loss_fn)
    return float(np.vdot(e, e)), e.size


def _absolute(outputs: np.ndarray, targets, loss_fn) -> tuple[float, int]:
    e = _errors(outputs, targets, loss_fn)
    return float(np.abs(e).sum()), e.size


mse = mean_metric(_squared, higher_is_better=False)  # mean squared error over every output
rmse = mean_metric(_squared, math.sqrt, higher_is_better=False)  # in the targets' units
mae = mean_metric(_absolute, higher_is_better=False)  # mean absolute error


def _r2_part(outputs: np.ndarray, targets, loss_fn):
    """A batch's rows n, and per column the targets' mean, Σ (y − ȳ)² and Σ (y − p)²."""
    p, y = _columns(outputs, targets, loss_fn)
    mean = y.mean(axis=0)
    return len(y), mean, ((y - mean) ** 2).sum(axis=0), ((y - p) ** 2).sum(axis=0)


def _r2_finish(parts: list) -> float:
    """R² = 1 − Σ (y − p)² / Σ (y − ȳ)² per column, averaged over columns; Σ (y − ȳ)² of all the
    rows from each batch's (Chan's rule: Σ M2_b + Σ n_b (ȳ_b − ȳ)², no cancellation).  A
    column of constant targets scores 1 when predicted exactly, else 0; fewer than two rows
    give NaN (scikit-learn's rules)."""
    counts = np.array([n for n, *_ in parts], dtype=np.float64)
    n = counts.sum()
    if n < 2:
        return math.nan
    means = np.array([mean for _, mean, _, _ in parts])
    mean = counts @ means / n
    total = sum(m2 for _, _, m2, _ in parts) + counts @ (means - mean) ** 2
    residual = sum(res for *_, res in parts)
    constant = total == 0
    scores = np.where(constant, (residual == 0) * 1.0, 0.0)
    np.subtract(1.0, residual / np.where(constant, 1.0, total), out=scores, where=~constant)
    return float(scores.mean())


r2 = Metric(_r2_part, _r2_finish, True)  # coefficient of determination (1: perfect; 0: mean)
