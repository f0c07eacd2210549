"""Classification metrics: accuracy, the confusion matrix and what it gives (precision, recall,
F1 with scikit-learn's averages), and ROC AUC for two classes.

Outputs are read as classes by the loss (``loss_fn.predict_classes``; a plain function or none:
the argmax of several columns, one column split at 0.5), targets by
:func:`~nudgenet.nn.losses.target_classes` (labels, the argmax of probability rows, a 0/1
column).  A model with C > 1 output columns has C classes; one column scores two.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import UndefinedMetricWarning, caller_stacklevel
from ..nn.losses import scores_to_classes, target_classes
from .metric import Metric, mean_metric


def _classes(outputs: np.ndarray, targets, loss_fn) -> tuple[np.ndarray, np.ndarray, int]:
    """``(true classes, predicted classes, number of classes)`` of a batch."""
    predict_classes = getattr(loss_fn, "predict_classes", scores_to_classes)
    classes = outputs.shape[1] if outputs.ndim == 2 and outputs.shape[1] > 1 else 2
    return target_classes(targets), predict_classes(outputs), classes


def _correct(outputs: np.ndarray, targets, loss_fn) -> tuple[float, int]:
    true, predicted, _ = _classes(outputs, targets, loss_fn)
    hits = predicted == true
    return float(np.count_nonzero(hits)), hits.size


# the fraction of rows whose predicted class is the label
accuracy = mean_metric(_correct, higher_is_better=True)


def confusion_matrix(outputs: np.ndarray, targets, loss_fn=None) -> np.ndarray:
    """C × C counts, int64: row i, column j counts the rows of class i predicted as j
    (scikit-learn's ``confusion_matrix(y_true, y_pred, labels=range(C))``)."""
    true, predicted, classes = _classes(np.asarray(outputs), targets, loss_fn)
    if true.size and (true.min() < 0 or true.max() >= classes):
        raise ValueError(
            f"confusion_matrix: labels must be in [0, {classes - 1}] for {classes} classes, got "
            f"values from {true.min()} to {true.max()}"
        )
    counts = np.bincount(true * classes + predicted, minlength=classes * classes)
    return counts.reshape(classes, classes)


def _ratio(hits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """hits / counts, 0 where counts is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(hits, counts, out=np.zeros(hits.shape), where=counts > 0)


# what each score divides the true positives by: predicted, actual, or their mean (F1)
_DENOMINATORS = {
    "precision": lambda predicted, actual: predicted,
    "recall": lambda predicted, actual: actual,
    "f1": lambda predicted, actual: (predicted + actual) / 2,  # F1 = 2 tp / (2 tp + fp + fn)
}


def score_of(matrix: np.ndarray, kind: str, average: str) -> float:
    """``kind`` ("precision", "recall" or "f1") from a confusion matrix, averaged as
    scikit-learn's ``average=``: "binary" (class 1's), "macro" (the mean over the classes that
    occur among the labels or the predictions), "weighted" (weighted by each class's rows),
    "micro" (from the summed counts: for one label per row, the accuracy).  A class's score
    whose denominator is 0 (no predicted rows for precision, no rows for recall) is 0 with an
    :class:`~nudgenet.UndefinedMetricWarning`, scikit-learn's ``zero_division="warn"``."""
    tp = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    denominator = _DENOMINATORS[kind](predicted, actual)
    if average == "micro":  # (a sum over every row: 0 only without rows)
        return float(_ratio(tp.sum(), denominator.sum()))
    per_class = _ratio(tp, denominator)
    counted = {"binary": np.arange(len(tp)) == 1, "weighted": actual > 0}.get(
        average, (predicted + actual) > 0
    )
    name = kind if average == "binary" else f"{kind}_{average}"
    _warn_undefined(name, kind, counted & (denominator == 0))
    if average == "binary":
        return float(per_class[1])
    if average == "weighted":
        return float(per_class @ actual / actual.sum()) if actual.sum() else 0.0
    return float(per_class[counted].mean()) if counted.any() else 0.0


# what a class lacks where its score divides by 0
_LACKING = {"precision": "no predicted rows", "recall": "no rows", "f1": "no rows nor predictions"}


def _warn_undefined(name: str, kind: str, undefined: np.ndarray) -> None:
    """An :class:`~nudgenet.UndefinedMetricWarning` naming the classes whose ``kind`` divides
    by 0 (``undefined``, one flag per class): counted as 0, as scikit-learn's
    ``zero_division="warn"`` does."""
    if undefined.any():
        classes = np.flatnonzero(undefined).tolist()
        fields = ", ".join(f"{{{i}}}" for i in range(len(classes)))  # {0}, {1}, ...: the classes
        warnings.warn(
            UndefinedMetricWarning(
                f"{name}: class{'es' if len(classes) > 1 else ''} {fields} "
                f"{'have' if len(classes) > 1 else 'has'} {_LACKING[kind]}, so its {kind} is "
                "not defined: counted as 0",
                classes,
            ),
            stacklevel=caller_stacklevel(),
        )


def _binary_confusion(name: str):
    """The batch's confusion matrix, refusing more than two classes (class 1 is the positive)."""

    def part(outputs: np.ndarray, targets, loss_fn) -> np.ndarray:
        matrix = confusion_matrix(outputs, targets, loss_fn)
        if len(matrix) != 2:
            raise ValueError(
                f"{name}: scores class 1 of two classes (scikit-learn's average='binary'); got "
                f"{len(matrix)} classes: use {name}_macro, {name}_micro or {name}_weighted"
            )
        return matrix

    return part


def _confusion_metric(kind: str, average: str) -> Metric:
    part = _binary_confusion(kind) if average == "binary" else confusion_matrix
    return Metric(part, lambda parts: score_of(sum(parts), kind, average), True)


CONFUSION_METRICS = {
    f"{kind}{'' if average == 'binary' else '_' + average}": _confusion_metric(kind, average)
    for kind in _DENOMINATORS
    for average in ("binary", "macro", "micro", "weighted")
}


def _positive_scores(outputs: np.ndarray, targets, loss_fn) -> tuple[np.ndarray, np.ndarray]:
    """A batch's 0/1 labels and class 1's score: its probability where the loss has
    probabilities (a classifier's), else the output column (one column, or the second of
    two)."""
    if getattr(loss_fn, "task", None) == "classification":
        outputs = loss_fn.probabilities(outputs)
    outputs = outputs.reshape(len(outputs), -1)
    true = target_classes(targets)
    if outputs.shape[1] > 2 or (true.size and (true.min() < 0 or true.max() > 1)):
        raise ValueError(
            f"roc_auc: for two classes (labels 0/1, one score column or two); got "
            f"{outputs.shape[1]} columns and labels from {true.min()} to {true.max()}"
        )
    return true, outputs[:, -1].copy()


def _undefined_auc(true: np.ndarray) -> float:
    """NaN, with an :class:`~nudgenet.UndefinedMetricWarning` saying which class the labels
    lack (scikit-learn raises ValueError: "Only one class present in y_true")."""
    warnings.warn(
        UndefinedMetricWarning("roc_auc: the labels hold only class {0}; ROC AUC needs rows of "
                               "both classes {1} and {2}, so it is not defined (nan)",
                               [int(true[0]), 0, 1]),  # fmt: skip
        stacklevel=caller_stacklevel(),
    )
    return math.nan


def _auc(parts: list) -> float:
    """The area under the ROC curve: the probability that a row of class 1 scores above a row
    of class 0, ties counting ½ (Mann-Whitney: (Σ ranks of class 1 − n₁(n₁ + 1)/2) / (n₁ n₀),
    tied scores sharing their mean rank).  NaN with a warning when one class is absent
    (:func:`_undefined_auc`), so that fit's epochs go on."""
    true = np.concatenate([t for t, _ in parts])
    scores = np.concatenate([s for _, s in parts])
    positives = int(np.count_nonzero(true))
    negatives = len(true) - positives
    if not positives or not negatives:
        return _undefined_auc(true)
    order = np.argsort(scores, kind="stable")
    _, first, counts = np.unique(scores[order], return_index=True, return_counts=True)
    ranks = np.repeat(first + (counts + 1) / 2, counts)  # from 1, ties at their mean
    rank_sum = ranks[true[order] == 1].sum()
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


roc_auc = Metric(_positive_scores, _auc, True)
