"""Cost functions, each a fused primitive: a ``<Name>Function`` calling the value and delta
kernels of :mod:`.kernels` (shared with the compiled training step).

A target that requires gradients gets them, as in PyTorch: the loss is then the same equation
written with differentiable primitives (:mod:`.target_gradients`); any other target is a constant
and takes the fused primitive.  ``reduction="mean"`` averages over the batch (for
:func:`mse_loss`, over every element, as PyTorch does); ``"sum"`` adds.  A target whose shape
does not match is an error, never silently broadcast.

Weights.  Every loss takes ``sample_weight``, one weight wₙ ≥ 0 per row (Keras's name): the loss
is then the weighted mean Σ wₙℓₙ / Σ wₙ (for the element-wise losses, over the row's elements
too: Σ wₙ Σᵢ ℓₙᵢ / (m Σ wₙ) for m elements per row), or with ``"sum"`` Σ wₙℓₙ.  Keras divides by
N instead ("sum_over_batch_size", keras-team/keras#19740); the weighted mean is PyTorch's rule
for a class ``weight``, keeps the loss in the units of an unweighted one whatever the weights'
scale (so a learning rate tuned without weights still fits) and equals it when all weights are
equal.  :func:`cross_entropy` also takes PyTorch's ``weight`` (one per class) and
:func:`binary_cross_entropy_with_logits` PyTorch's ``pos_weight`` (one per column).
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..tensor import Function, Tensor, as_tensor
from . import arithmetic as A
from . import kernels as K
from . import target_gradients as T

_REDUCTIONS = ("mean", "sum")


def check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean' or 'sum', got {reduction!r}")


def _target_array(target) -> np.ndarray:
    return target.data if isinstance(target, Tensor) else np.asarray(target)


def check_weights(
    op: str, name: str, weights, length: int, dtype, per: str = "row"
) -> np.ndarray | None:
    """``weights`` (None: none) as an array of ``length`` non-negative finite numbers in
    ``dtype``, one per ``per``, or a one-line error naming what came; weights are constants, so
    a tensor that requires gradients is refused (PyTorch's binary losses refuse it too)."""
    if weights is None:
        return None
    if T.requires_grad(weights):
        raise ValueError(
            f"{op}: {name} requires gradients, but loss weights are constants: pass it detached"
        )
    w = _target_array(weights)
    if w.shape != (length,) or w.dtype.kind not in "iubf":
        raise ShapeError(
            f"{op}: {name} must be {length} numbers, one per {per}; got {w.dtype} array of shape "
            f"{w.shape}"
        )
    bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0)))
    if len(bad):
        raise ValueError(f"{op}: {name} must be finite and >= 0; got {w[bad[0]]} at {per} {bad[0]}")
    return w.astype(dtype, copy=False)


def _scale(reduction: str, shape: tuple[int, ...], rows: np.ndarray | None, per_element: bool):
    """The loss's factor: a number without row weights, else one per row (see the module doc)."""
    if rows is not None:
        return K.weighted_scale(reduction, rows, shape, per_element)
    return (K.per_element_scale if per_element else K.per_row_scale)(reduction, shape)


def _sample_weights(op: str, sample_weight, prediction: Tensor) -> np.ndarray | None:
    if sample_weight is not None and prediction.ndim == 0:
        raise ShapeError(f"{op}: sample_weight needs rows; the prediction is a scalar")
    rows = len(prediction.data) if prediction.ndim else 0
    return check_weights(op, "sample_weight", sample_weight, rows, prediction.dtype)


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
    """C = −scale Σₙ Σₖ yₙₖ ln softmax(z)ₙₖ;  dz = (softmax(z) Σₖ yₖ − y) · scale (which is
    softmax(z) − y for rows summing to 1)

    ``y`` is probability (one-hot) rows ``(N, C)``, or integer labels ``(N,)`` standing for their
    one-hot rows without building them (the kernels pick and decrement at the labels' flat
    positions n·C + yₙ).  ``scale`` is a number, or one factor per row ``(N, 1)``.
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
    dz = (σ(z) − y) · scale; with ``pos_weight`` q, the positive term y softplus(−z) weighted
    by q: dz = (σ(z) (q y + 1 − y) − q y) · scale"""

    def forward(self, z, y, scale, pos_weight=None):
        self.z, self.y, self.scale, self.pos_weight = z, y, scale, pos_weight
        value = K.binary_cross_entropy_with_logits_value(z, y, scale, pos_weight)
        return np.asarray(value, z.dtype)

    def backward(self, g):
        delta = K.binary_cross_entropy_with_logits_delta(
            self.z, self.y, g * self.scale, self.pos_weight
        )
        return (delta,)


class SquaredErrorFunction(Function):
    """C = scale Σ (p − y)²;  dp = 2 (p − y) · scale"""

    def forward(self, p, y, scale):
        self.diff, self.y, self.scale = p - y, y, scale
        return np.asarray(K.squared_error_value(self.diff, scale), p.dtype)

    def backward(self, g):
        return (K.squared_error_delta(self.diff, g * self.scale),)


# --- public functions ------------------------------------------------------------------------


def cross_entropy(
    logits, target, reduction: str = "mean", weight=None, sample_weight=None
) -> Tensor:
    """Softmax cross-entropy from raw scores ``(N, C)``; ``target`` is integer labels ``(N,)``
    or probability / one-hot rows ``(N, C)``.  Fused: the backward is ``(softmax − y) / N``.

    ``weight`` (PyTorch's): one weight per class.  For integer labels row n counts
    w[yₙ] times and ``"mean"`` is the weighted mean Σ w[yₙ] ℓₙ / Σ w[yₙ]; for probability rows
    each class's term is multiplied by its weight, −Σₖ wₖ yₙₖ ln pₙₖ, and ``"mean"`` divides by
    N (PyTorch's two rules).  ``sample_weight`` (one per row, see the module doc) multiplies in.
    """
    check_reduction("cross_entropy", reduction)
    logits = as_tensor(logits)
    y = class_targets("cross_entropy", target, logits.shape, logits.dtype, dense=False)
    rows = _sample_weights("cross_entropy", sample_weight, logits)
    weight = check_weights(
        "cross_entropy", "weight", weight, logits.shape[1], logits.dtype, "class"
    )
    if weight is not None and y.ndim == 1:  # each row weighted by its class's weight
        rows = weight[y] if rows is None else rows * weight[y]
    elif weight is not None:  # each class's term weighted
        y = y * weight
    scale = _scale(reduction, logits.shape, rows, per_element=False)
    if T.requires_grad(target):
        return T.cross_entropy(logits, T.checked("cross_entropy", target, logits), scale, weight)
    return CrossEntropyFunction.apply(logits, y=y, scale=scale)


def _probabilities(op: str, probs, from_logits: str) -> Tensor:
    """``probs`` as a tensor; a ValueError where a value lies outside [0, 1] (logits given to a
    loss of probabilities: clipped, they gave a loss near 0 and no gradient, silently)."""
    probs = as_tensor(probs)
    low, high = (float(probs.data.min()), float(probs.data.max())) if probs.data.size else (0, 0)
    if low < 0 or high > 1:
        raise ValueError(
            f"{op}: expected probabilities in [0, 1] (a Sigmoid or Softmax layer's output), got "
            f"values from {low:g} to {high:g}; for logits use {from_logits}"
        )
    return probs


def categorical_cross_entropy(
    probs, target, reduction: str = "mean", eps: float = 1e-7, sample_weight=None
) -> Tensor:
    """Cross-entropy of probabilities (e.g. a Softmax layer's output), clipped to ``[eps, 1]``
    so a probability of exactly 0 gives a finite loss and finite gradients."""
    check_reduction("categorical_cross_entropy", reduction)
    probs = _probabilities("categorical_cross_entropy", probs, "CrossEntropyLoss")
    y = class_targets("categorical_cross_entropy", target, probs.shape, probs.dtype)
    rows = _sample_weights("categorical_cross_entropy", sample_weight, probs)
    scale = _scale(reduction, probs.shape, rows, per_element=False)
    if T.requires_grad(target):
        target = T.checked("categorical_cross_entropy", target, probs)
        return T.categorical_cross_entropy(probs, target, scale, eps)
    return CategoricalCrossEntropyFunction.apply(probs, y=y, scale=scale, eps=eps)


def binary_cross_entropy(
    probs, target, reduction: str = "mean", eps: float = 1e-7, sample_weight=None
) -> Tensor:
    """Binary cross-entropy of probabilities in [0, 1] (clipped to ``[eps, 1 − eps]``), averaged
    over every element; ``target`` has the same shape, values 0/1 (or soft labels)."""
    check_reduction("binary_cross_entropy", reduction)
    probs = _probabilities("binary_cross_entropy", probs, "BCEWithLogitsLoss")
    y = _same_shape_target("binary_cross_entropy", probs, target)
    rows = _sample_weights("binary_cross_entropy", sample_weight, probs)
    scale = _scale(reduction, probs.shape, rows, per_element=True)
    if T.requires_grad(target):
        target = T.checked("binary_cross_entropy", target, probs)
        return T.binary_cross_entropy(probs, target, scale, eps)
    return BinaryCrossEntropyFunction.apply(probs, y=y, scale=scale, eps=eps)


def binary_cross_entropy_with_logits(
    logits, target, reduction: str = "mean", pos_weight=None, sample_weight=None
) -> Tensor:
    """Binary cross-entropy of σ(logits), computed stably from the logits.  ``pos_weight``
    (PyTorch's): a number, or one per column of ``(N, C)`` logits, multiplying the loss of the
    positive labels, −q y ln σ(z) (q > 1 trades precision for recall)."""
    op = "binary_cross_entropy_with_logits"
    check_reduction(op, reduction)
    logits = as_tensor(logits)
    y = _same_shape_target(op, logits, target)
    rows = _sample_weights(op, sample_weight, logits)
    if pos_weight is not None:
        columns = logits.shape[-1] if logits.ndim > 1 else 1
        q = np.broadcast_to(pos_weight, columns) if np.size(pos_weight) == 1 else pos_weight
        pos_weight = check_weights(op, "pos_weight", q, columns, logits.dtype, "column")
    scale = _scale(reduction, logits.shape, rows, per_element=True)
    if T.requires_grad(target):
        target = T.checked(op, target, logits)
        return T.binary_cross_entropy_with_logits(logits, target, scale, pos_weight)
    return BinaryCrossEntropyWithLogitsFunction.apply(
        logits, y=y, scale=scale, pos_weight=pos_weight
    )


def counts(op: str, y: np.ndarray) -> np.ndarray:
    """``y`` unchanged, after checking its values are counts or rates: >= 0 (and not NaN)."""
    if y.size and not y.min() >= 0:
        raise ValueError(
            f"{op}: expected targets >= 0 (counts or rates), got a minimum of {y.min():g}"
        )
    return y


def poisson_loss(prediction, target, reduction: str = "mean", sample_weight=None) -> Tensor:
    """Half the Poisson deviance of log-means z against counts or rates y ≥ 0: the mean (or sum)
    over every element of ``e^z − y z + y ln y − y`` (0 where z = ln y; ``y ln y`` is 0 at
    y = 0); shapes must match exactly.  Gradient ``e^z − y``: built from ``exp``, products and
    a sum, whose rules give its gradients of every order.  A target that requires gradients gets
    ``ln y − z`` (PyTorch's ``poisson_nll_loss``, without the terms in y alone: −z), so it must
    be > 0."""
    check_reduction("poisson_loss", reduction)
    z = as_tensor(prediction)
    y = counts("poisson_loss", _same_shape_target("poisson_loss", z, target))
    rows = _sample_weights("poisson_loss", sample_weight, z)
    scale = _scale(reduction, z.shape, rows, per_element=True)
    if T.requires_grad(target):
        y = T.checked("poisson_loss", target, z)
        y_terms = T.counts_log_counts("poisson_loss", y) - y
    else:
        y_terms = y * np.log(np.where(y > 0, y, 1)) - y
    return A.sum((A.exp(z) - z * y + y_terms) * scale)


def mse_loss(prediction, target, reduction: str = "mean", sample_weight=None) -> Tensor:
    """Mean (or sum) of squared errors over every element; shapes must match exactly."""
    check_reduction("mse_loss", reduction)
    prediction = as_tensor(prediction)
    y = _same_shape_target("mse_loss", prediction, target)
    rows = _sample_weights("mse_loss", sample_weight, prediction)
    scale = _scale(reduction, prediction.shape, rows, per_element=True)
    if T.requires_grad(target):
        return T.squared_error(prediction, T.checked("mse_loss", target, prediction), scale)
    return SquaredErrorFunction.apply(prediction, y=y, scale=scale)
