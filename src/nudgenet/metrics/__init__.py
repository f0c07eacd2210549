"""Metrics on model outputs: for classifiers accuracy, precision, recall, F1 and ROC AUC; for
regressors MSE, RMSE, MAE and R².

Each is a :class:`Metric`: statistics per batch (``part``) and the value from all of them
(``finish``), so ``fit(metrics=[...])`` reports an epoch's metric over all its rows, exactly,
not as an average of batch values; calling a metric scores whole arrays:
``ng.metrics.f1_macro(outputs, targets, loss_fn)``.  ``loss_fn`` says how to read outputs as
classes (:mod:`nudgenet.nn.losses`); the names are scikit-learn's scoring names (``"f1"``: class
1 of two; ``"f1_macro"``, ``"f1_micro"``, ``"f1_weighted"``: its ``average=``).
:func:`confusion_matrix` is an array, not a metric.
"""

from __future__ import annotations

from ..nn.losses import BCEWithLogitsLoss, CrossEntropyLoss
from .classification import CONFUSION_METRICS, accuracy, confusion_matrix, roc_auc
from .metric import Metric, mean_metric
from .regression import mae, mse, r2, rmse

METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    **CONFUSION_METRICS,
    "roc_auc": roc_auc,
    "mse": mse,
    "rmse": rmse,
    "mae": mae,
    "r2": r2,
}
globals().update(CONFUSION_METRICS)  # ng.metrics.precision, ng.metrics.f1_macro, ...

__all__ = [
    "METRICS",
    "Metric",
    "confusion_matrix",
    "higher_is_better",
    "mean_metric",
    "resolve",
    *METRICS,
]


_FOR_VALUES = ("mse", "rmse", "mae", "r2")  # they score a regression's values, not classes


def resolve(names, loss_fn=None) -> dict[str, Metric]:
    """Metrics by name (the keys of :data:`METRICS`).  ``names`` is a list (a lone string, as
    Keras refuses it, is a TypeError); a regression metric for a loss of logits
    (CrossEntropyLoss, BCEWithLogitsLoss: logits against class labels, no meaning) is a
    ValueError.  Allowed: a regression metric for a loss of probabilities (``mse`` with
    BCELoss is the Brier score), and a classification metric for a regression loss (a network
    trained on one-hot or 0/1 targets with the squared error: :meth:`MSELoss.predict_classes`)."""
    if isinstance(names, str):
        raise TypeError(f"metrics: expected a list of names, got the string {names!r} (write "
                        f"metrics=[{names!r}])")  # fmt: skip
    resolved = {}
    logits = isinstance(loss_fn, (CrossEntropyLoss, BCEWithLogitsLoss))
    for name in names or ():
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; expected one of {sorted(METRICS)}")
        if logits and name in _FOR_VALUES:
            raise ValueError(
                f"metric {name!r} scores a regression's values; {type(loss_fn).__name__}'s "
                f"outputs are logits (its metrics: accuracy, f1, precision, recall, roc_auc, ...)"
            )
        resolved[name] = METRICS[name]
    return resolved


def higher_is_better(key: str) -> bool:
    """Whether a larger value of the logged quantity ``key`` is better (the callbacks'
    ``mode="auto"``): a metric's own direction (:attr:`Metric.higher_is_better`) where ``key``
    names one of :data:`METRICS`, with or without the validation prefix (``accuracy``,
    ``val_r2``); else by the name: a loss is lower-better, a name containing "acc", "auc" or
    "score" higher-better (Keras's rule for "acc"; scikit-learn's ``score``, as the estimators'
    ``val_score``), anything else lower-better."""
    name = key.removeprefix("val_")
    if name in METRICS:
        return METRICS[name].higher_is_better
    return "loss" not in name and any(word in name for word in ("acc", "auc", "score"))
