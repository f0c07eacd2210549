"""Loss objects: ``loss_fn(prediction, target)`` returns a scalar tensor."""

from __future__ import annotations

from .. import functional as F
from ..functional.losses import check_reduction
from ..tensor import Tensor


class _Loss:
    _fn = None

    def __init__(self, reduction: str = "mean"):
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def __call__(self, prediction, target) -> Tensor:
        return type(self)._fn(prediction, target, reduction=self.reduction)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


class MSELoss(_Loss):
    """Mean squared error over every element (regression)."""

    _fn = staticmethod(F.mse_loss)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy from logits; targets are integer labels or probability rows."""

    _fn = staticmethod(F.cross_entropy)


class CategoricalCrossEntropyLoss(_Loss):
    """Cross-entropy of probabilities (after a Softmax layer), clipped so p = 0 stays finite."""

    _fn = staticmethod(F.categorical_cross_entropy)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (after a Sigmoid layer)."""

    _fn = staticmethod(F.binary_cross_entropy)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy from logits, numerically stable."""

    _fn = staticmethod(F.binary_cross_entropy_with_logits)
