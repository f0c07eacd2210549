"""The estimators' losses by name, and how each relates to scikit-learn's numbers.

Each name gives the network's output function (scikit-learn's ``out_activation_``, applied to
the last layer's scores by :func:`output_function`; the network itself outputs the scores, as
nudgenet's losses take them) and the nudgenet loss trained on those scores.  scikit-learn's
loss and gradient are that loss times a factor depending on the C output columns:

=================  ==============  =====================  ==============  ==================
name               out_activation  nudgenet loss          loss_ factor    gradient factor
=================  ==============  =====================  ==============  ==================
cross_entropy      softmax         CrossEntropyLoss       1               1
bce_with_logits    logistic        BCEWithLogitsLoss      C               C
squared_error      identity        MSELoss                1/2             C/2
poisson            exp             PoissonLoss            C               C
mse                identity        MSELoss                1               1
=================  ==============  =====================  ==============  ==================

scikit-learn's ``log_loss`` is ``cross_entropy`` for several classes and ``bce_with_logits``
for two classes (one column) or multilabel targets; its squared error is half the mean square
and its gradient ``(p − y)/N`` summed over outputs (hence C/2); ``mse`` is nudgenet's own scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..functional import kernels as K
from ..nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, PoissonLoss
from ..tensor import Tensor


class LossRule(NamedTuple):
    """A loss name's output function, nudgenet loss and scikit-learn's factors for C outputs."""

    out_activation: str
    make: Callable[[], object]
    loss_factor: Callable[[int], float]
    grad_factor: Callable[[int], float]


def _one(columns: int) -> float:
    return 1.0


def _columns(columns: int) -> float:
    return float(columns)


RULES = {
    "cross_entropy": LossRule("softmax", CrossEntropyLoss, _one, _one),
    "bce_with_logits": LossRule("logistic", BCEWithLogitsLoss, _columns, _columns),
    "squared_error": LossRule("identity", MSELoss, lambda c: 0.5, lambda c: 0.5 * c),
    "poisson": LossRule("exp", PoissonLoss, _columns, _columns),
    "mse": LossRule("identity", MSELoss, _one, _one),
}
CLASSIFIER_LOSSES = ("log_loss", "cross_entropy", "bce_with_logits")
REGRESSOR_LOSSES = ("squared_error", "poisson", "mse")


def output_function(out_activation: str, scores: np.ndarray) -> np.ndarray:
    """scikit-learn's output function on the network's scores (a new array)."""
    if out_activation == "softmax":
        return K.softmax(scores, axis=1)
    if out_activation == "logistic":
        return K.sigmoid(scores)
    if out_activation == "exp":
        return np.exp(scores)
    return scores.copy()


class WeightTotal:
    """``loss`` that also tells ``solver`` each batch's weight total (``solver.rows``): with
    ``sample_weight``, scikit-learn divides the L2 term by it instead of the row count.  The
    weights come divided by ``unit`` (:func:`~nudgenet.nn.weights.in_units`); the total is the
    weights' own."""

    def __init__(self, loss, solver, unit: float = 1.0):
        self.loss, self.solver, self.unit = loss, solver, unit

    def __call__(self, prediction, target, sample_weight=None) -> Tensor:
        if sample_weight is not None:
            self.solver.rows = float(np.sum(sample_weight)) * self.unit
        return self.loss(prediction, target, sample_weight=sample_weight)

    def __getattr__(self, name: str):
        return getattr(self.__dict__["loss"], name)

    def __repr__(self) -> str:
        return repr(self.loss)
