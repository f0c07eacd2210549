"""Cost functions, each a fused primitive with its gradient written out.

Targets are constants (no gradient flows into them).  ``reduction="mean"`` averages over the
batch (for :func:`mse_loss`, over every element, as PyTorch does); ``"sum"`` adds.  A target
whose shape does not match is an error, never silently broadcast.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..tensor import Function, Tensor, as_tensor
from .layers import reduce_rows, sigmoid_array

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


def _scale(reduction: str, count: int):
    return 1.0 / count if reduction == "mean" and count else 1.0


class CrossEntropy(Function):
    """C = −(1/N) Σₙ Σₖ yₙₖ ln softmax(z)ₙₖ;  dz = (softmax(z) − y) / N

    Written with the row-shifted scores s = z − max z, e = exp s and S = Σₖ e (per row), so
    ln softmax(z) = s − ln S and softmax(z) = e / S: the forward's one ``exp`` serves the
    backward too.  ``y`` is probability (one-hot) rows ``(N, C)``, or integer labels ``(N,)``
    standing for their one-hot rows without building them: C = (Σₙ ln Sₙ − Σₙ s[n, yₙ]) / N picks
    s at each label, and the backward subtracts 1 there, both through the flat positions
    n·C + yₙ (:meth:`label_index`).  ``parts``, ``value`` and ``delta`` are the array rules,
    shared with the compiled training step (:mod:`nudgenet.fast`); the ``out``-style arguments
    are buffers it reuses.
    """

    @staticmethod
    def parts(z, shifted=None, e=None, total=None):
        """``(s, e, S)``: s = z − max z per row (into ``shifted``), e = exp s (into ``e``),
        S = Σₖ e of shape (N, 1) (into ``total``)."""
        s = np.subtract(z, reduce_rows(np.maximum, z, out=total), out=shifted)
        e = np.exp(s, out=e)
        return s, e, reduce_rows(np.add, e, out=total)

    @staticmethod
    def label_index(y, classes, offsets=None, out=None):
        """Flat positions n·C + yₙ of integer labels in an (N, C) array (``offsets`` = n·C)."""
        if offsets is None:
            offsets = np.arange(0, len(y) * classes, classes)
        return np.add(offsets, y, out=out, casting="unsafe", dtype=np.intp)

    @staticmethod
    def value(s, total, y, scale, index=None):
        log_total = np.log(total)
        if y.ndim == 1:  # Σ ln S and −Σ s[n, yₙ] are both ≥ 0: no cancellation
            picked = s.take(index)
            return (np.add.reduce(log_total, axis=None) - np.add.reduce(picked)) * scale
        return -(y * (s - log_total)).sum() * scale

    @staticmethod
    def delta(e, total, y, g_scale, index=None, out=None):
        p = np.divide(e, total, out=out)
        if y.ndim == 1:
            p.reshape(-1)[index] -= 1
        else:
            p -= y
        p *= g_scale
        return p

    def forward(self, z, y, scale):
        s, self.e, self.total = self.parts(z)
        self.index = self.label_index(y, z.shape[-1]) if y.ndim == 1 else None
        self.y, self.scale = y, scale
        return np.asarray(self.value(s, self.total, y, scale, self.index), dtype=z.dtype)

    def backward(self, g):
        return (self.delta(self.e, self.total, self.y, g * self.scale, self.index),)


class CategoricalCrossEntropy(Function):
    """C = −(1/N) Σ y ln p̂ with p̂ = clip(p, ε, 1);
    dp = −y / p̂ / N where p is not clipped, else 0"""

    def forward(self, p, y, scale, eps):
        clipped = np.clip(p, eps, 1.0)
        self.inside = (p >= eps) & (p <= 1.0)
        self.y, self.scale, self.clipped = y, scale, clipped
        return np.asarray(-(y * np.log(clipped)).sum() * scale, dtype=p.dtype)

    def backward(self, g):
        return (-(self.y / self.clipped) * self.inside * (g * self.scale),)


class BinaryCrossEntropy(Function):
    """C = −(1/N) Σ [y ln p̂ + (1 − y) ln(1 − p̂)], p̂ = clip(p, ε, 1 − ε);
    dp = (p̂ − y) / (p̂ (1 − p̂)) / N where p is not clipped, else 0"""

    def forward(self, p, y, scale, eps):
        clipped = np.clip(p, eps, 1.0 - eps)
        self.inside = (p >= eps) & (p <= 1.0 - eps)
        self.y, self.scale, self.clipped = y, scale, clipped
        loss = -(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)).sum() * scale
        return np.asarray(loss, dtype=p.dtype)

    def backward(self, g):
        p, y = self.clipped, self.y
        return ((p - y) / (p * (1 - p)) * self.inside * (g * self.scale),)


class BinaryCrossEntropyWithLogits(Function):
    """C = (1/N) Σ [max(z, 0) − z y + ln(1 + e⁻|ᶻ|)]  (= BCE of σ(z), without overflow);
    dz = (σ(z) − y) / N"""

    def forward(self, z, y, scale):
        self.z, self.y, self.scale = z, y, scale
        loss = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).sum() * scale
        return np.asarray(loss, dtype=z.dtype)

    def backward(self, g):
        return ((sigmoid_array(self.z) - self.y) * (g * self.scale),)


class SquaredError(Function):
    """C = (1/n) Σ (p − y)²;  dp = 2 (p − y) / n   (rules shared with :mod:`nudgenet.fast`)"""

    @staticmethod
    def value(diff, scale):
        return (diff * diff).sum() * scale

    @staticmethod
    def delta(diff, g_scale, out=None):
        return np.multiply(diff, 2 * g_scale, out=out)

    def forward(self, p, y, scale):
        self.diff, self.scale = p - y, scale
        return np.asarray(self.value(self.diff, scale), dtype=p.dtype)

    def backward(self, g):
        return (self.delta(self.diff, g * self.scale),)


# --- public functions ------------------------------------------------------------------------


def cross_entropy(logits, target, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from raw scores ``(N, C)``; ``target`` is integer labels ``(N,)``
    or probability / one-hot rows ``(N, C)``.  Fused: the backward is ``(softmax − y) / N``."""
    check_reduction("cross_entropy", reduction)
    logits = as_tensor(logits)
    y = class_targets("cross_entropy", target, logits.shape, logits.dtype, dense=False)
    return CrossEntropy.apply(logits, y=y, scale=_scale(reduction, logits.shape[0]))


def categorical_cross_entropy(probs, target, reduction: str = "mean", eps: float = 1e-7) -> Tensor:
    """Cross-entropy of probabilities (e.g. a Softmax layer's output), clipped to ``[eps, 1]``
    so a probability of exactly 0 gives a finite loss and finite gradients."""
    check_reduction("categorical_cross_entropy", reduction)
    probs = as_tensor(probs)
    y = class_targets("categorical_cross_entropy", target, probs.shape, probs.dtype)
    scale = _scale(reduction, probs.shape[0])
    return CategoricalCrossEntropy.apply(probs, y=y, scale=scale, eps=eps)


def binary_cross_entropy(probs, target, reduction: str = "mean", eps: float = 1e-7) -> Tensor:
    """Binary cross-entropy of probabilities in [0, 1] (clipped to ``[eps, 1 − eps]``), averaged
    over every element; ``target`` has the same shape, values 0/1 (or soft labels)."""
    check_reduction("binary_cross_entropy", reduction)
    probs = as_tensor(probs)
    y = _same_shape_target("binary_cross_entropy", probs, target)
    scale = _scale(reduction, probs.size)
    return BinaryCrossEntropy.apply(probs, y=y, scale=scale, eps=eps)


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of σ(logits), computed stably from the logits."""
    check_reduction("binary_cross_entropy_with_logits", reduction)
    logits = as_tensor(logits)
    y = _same_shape_target("binary_cross_entropy_with_logits", logits, target)
    scale = _scale(reduction, logits.size)
    return BinaryCrossEntropyWithLogits.apply(logits, y=y, scale=scale)


def mse_loss(prediction, target, reduction: str = "mean") -> Tensor:
    """Mean (or sum) of squared errors over every element; shapes must match exactly."""
    check_reduction("mse_loss", reduction)
    prediction = as_tensor(prediction)
    y = _same_shape_target("mse_loss", prediction, target)
    return SquaredError.apply(prediction, y=y, scale=_scale(reduction, prediction.size))
