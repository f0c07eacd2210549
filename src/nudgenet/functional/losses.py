"""Cost functions, each a fused primitive: a ``<Name>Function`` calling the value and delta
kernels of :mod:`.kernels` (shared with the compiled training step).

Targets are constants (no gradient flows into them).  ``reduction="mean"`` averages over the
batch (for :func:`mse_loss`, over every element, as PyTorch does); ``"sum"`` adds.  A target
whose shape does not match is an error, never silently broadcast.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..tensor import Function, Tensor, as_tensor
from . import kernels as K

_REDUCTIONS = ("mean", "sum")


def check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean' or 'sum', got {reduction!r}")


def _target_array(target) -> np.ndarray:
    return target.data if isinstance(target, Tensor) else np.asarray(target)


def class_targets(
    op: str, target, shape: tuple[int, ...], dtype: np.dtype, dense: bool = True
) -> np.ndarray:
    """Targets for ``shape = (N, C)`` scores as a dense ``(N, C)`` array of ``dtype``:
    integer labels in ``[0, C)`` become one-hot rows (or, with ``dense=False``, stay the checked
    labels); probability rows are taken as they are."""
    if len(shape) != 2:
        raise ShapeError(f"{op}: expected scores of shape (N, classes), got shape {shape}")
    n, classes = shape
    y = _target_array(target)
    if y.dtype.kind in "iub":
        if y.shape != (n,):
            raise ShapeError(
                f"{op}: integer labels must have shape ({n},) to match scores {shape}, "
                f"got {y.shape}"
            )
        if n and (y.min() < 0 or y.max() >= classes):
            raise ValueError(
                f"{op}: labels must be in [0, {classes - 1}] for {classes} classes, got values "
                f"from {y.min()} to {y.max()}"
            )
        if not dense:
            return y
        dense_y = np.zeros(shape, dtype=dtype)
        dense_y[np.arange(n), y] = 1
        return dense_y
    if y.shape != shape:
        raise ShapeError(
            f"{op}: targets must be integer labels of shape ({n},) or probabilities of shape "
            f"{shape}, got {y.dtype} array of shape {y.shape}"
        )
    return y.astype(dtype, copy=False)


def _same_shape_target(op: str, prediction: Tensor, target) -> np.ndarray:
    y = _target_array(target)
    if y.shape != prediction.shape:
        raise ShapeError(
            f"{op}: target shape {y.shape} does not match prediction shape {prediction.shape} "
            "(reshape one of them; nothing is broadcast silently)"
        )
    return y.astype(prediction.dtype, copy=False)


class CrossEntropyFunction(Function):
    """C = −scale Σₙ Σₖ yₙₖ ln softmax(z)ₙₖ;  dz = (softmax(z) − y) · scale

    ``y`` is probability (one-hot) rows ``(N, C)``, or integer labels ``(N,)`` standing for their
    one-hot rows without building them (the kernels pick and decrement at the labels' flat
    positions n·C + yₙ).
    """

    def forward(self, z, y, scale):
        s, self.e, self.total = K.cross_entropy_parts(z)
        self.index = K.label_index(y, z.shape[-1]) if y.ndim == 1 else None
        self.y, self.scale = y, scale
        return np.asarray(K.cross_entropy_value(s, self.total, y, scale, self.index), z.dtype)

    def backward(self, g):
        return (K.cross_entropy_delta(self.e, self.total, self.y, g * self.scale, self.index),)


class CategoricalCrossEntropyFunction(Function):
    """C = −scale Σ y ln p̂ with p̂ = clip(p, ε, 1);  dp = −(y / p̂) · scale where p is not
    clipped, else 0"""

    def forward(self, p, y, scale, eps):
        self.clipped, self.inside = K.clip_probabilities(p, eps, 1.0)
        self.y, self.scale = y, scale
        return np.asarray(K.categorical_cross_entropy_value(self.clipped, y, scale), p.dtype)

    def backward(self, g):
        delta = K.categorical_cross_entropy_delta(self.clipped, self.inside, self.y, g * self.scale)
        return (delta,)


class BinaryCrossEntropyFunction(Function):
    """C = −scale Σ [y ln p̂ + (1 − y) ln(1 − p̂)], p̂ = clip(p, ε, 1 − ε);
    dp = (p̂ − y) / (p̂ (1 − p̂)) · scale where p is not clipped, else 0"""

    def forward(self, p, y, scale, eps):
        self.clipped, self.inside = K.clip_probabilities(p, eps, 1.0 - eps)
        self.y, self.scale = y, scale
        return np.asarray(K.binary_cross_entropy_value(self.clipped, y, scale), p.dtype)

    def backward(self, g):
        delta = K.binary_cross_entropy_delta(self.clipped, self.inside, self.y, g * self.scale)
        return (delta,)


class BinaryCrossEntropyWithLogitsFunction(Function):
    """C = scale Σ [softplus(z) − z y]  (= BCE of σ(z), without overflow);
    dz = (σ(z) − y) · scale"""

    def forward(self, z, y, scale):
        self.z, self.y, self.scale = z, y, scale
        return np.asarray(K.binary_cross_entropy_with_logits_value(z, y, scale), z.dtype)

    def backward(self, g):
        return (K.binary_cross_entropy_with_logits_delta(self.z, self.y, g * self.scale),)


class SquaredErrorFunction(Function):
    """C = scale Σ (p − y)²;  dp = 2 (p − y) · scale"""

    def forward(self, p, y, scale):
        self.diff, self.scale = p - y, scale
        return np.asarray(K.squared_error_value(self.diff, scale), p.dtype)

    def backward(self, g):
        return (K.squared_error_delta(self.diff, g * self.scale),)


# --- public functions ------------------------------------------------------------------------


def cross_entropy(logits, target, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from raw scores ``(N, C)``; ``target`` is integer labels ``(N,)``
    or probability / one-hot rows ``(N, C)``.  Fused: the backward is ``(softmax − y) / N``."""
    check_reduction("cross_entropy", reduction)
    logits = as_tensor(logits)
    y = class_targets("cross_entropy", target, logits.shape, logits.dtype, dense=False)
    return CrossEntropyFunction.apply(logits, y=y, scale=K.per_row_scale(reduction, logits.shape))


def categorical_cross_entropy(probs, target, reduction: str = "mean", eps: float = 1e-7) -> Tensor:
    """Cross-entropy of probabilities (e.g. a Softmax layer's output), clipped to ``[eps, 1]``
    so a probability of exactly 0 gives a finite loss and finite gradients."""
    check_reduction("categorical_cross_entropy", reduction)
    probs = as_tensor(probs)
    y = class_targets("categorical_cross_entropy", target, probs.shape, probs.dtype)
    scale = K.per_row_scale(reduction, probs.shape)
    return CategoricalCrossEntropyFunction.apply(probs, y=y, scale=scale, eps=eps)


def binary_cross_entropy(probs, target, reduction: str = "mean", eps: float = 1e-7) -> Tensor:
    """Binary cross-entropy of probabilities in [0, 1] (clipped to ``[eps, 1 − eps]``), averaged
    over every element; ``target`` has the same shape, values 0/1 (or soft labels)."""
    check_reduction("binary_cross_entropy", reduction)
    probs = as_tensor(probs)
    y = _same_shape_target("binary_cross_entropy", probs, target)
    scale = K.per_element_scale(reduction, probs.shape)
    return BinaryCrossEntropyFunction.apply(probs, y=y, scale=scale, eps=eps)


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of σ(logits), computed stably from the logits."""
    check_reduction("binary_cross_entropy_with_logits", reduction)
    logits = as_tensor(logits)
    y = _same_shape_target("binary_cross_entropy_with_logits", logits, target)
    scale = K.per_element_scale(reduction, logits.shape)
    return BinaryCrossEntropyWithLogitsFunction.apply(logits, y=y, scale=scale)


def mse_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """Mean (or sum) of squared errors over every element; shapes must match exactly."""
    check_reduction("mse_loss", reduction)
    prediction = as_tensor(prediction)
    y = _same_shape_target("mse_loss", prediction, target)
    scale = K.per_element_scale(reduction, prediction.shape)
    return SquaredErrorFunction.apply(prediction, y=y, scale=scale)
