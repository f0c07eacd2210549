"""The losses of a target that requires gradients (distillation between two networks, the
reconstruction of an input that requires gradients, a consistency loss): each written with
differentiable primitives, so the gradient flows into the target as into the prediction, to
every order, as PyTorch differentiates its losses in their targets.

A target that requires none takes its loss's fused ``Function`` (:mod:`.losses`), the path of
every training step, unchanged; both paths give the same loss and the same gradient for the
prediction.  ``scale`` is the loss's factor (a number, or one per row for ``sample_weight``) and
the weights are constants, as in PyTorch, which refuses loss weights that require gradients.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import arithmetic as A
from . import kernels as K
from . import layers as L


def requires_grad(target) -> bool:
    """Whether ``target`` is a tensor that requires gradients (it takes this module's losses)."""
    return isinstance(target, Tensor) and target.requires_grad


def checked(op: str, target: Tensor, like: Tensor) -> Tensor:
    """``target`` after its loss checked its shape; an error where its dtype is not the
    prediction's (a target that requires gradients is not cast, as a seed that requires them)."""
    if target.dtype != like.dtype:
        raise TypeError(
            f"{op}: a target that requires gradients must have the prediction's dtype "
            f"{like.dtype}, got {target.dtype} (it is not cast: convert one of them)"
        )
    return target


def unclipped(p: Tensor, clipped: np.ndarray, inside: np.ndarray) -> Tensor:
    """p̂ = clip(p) as a tensor: p where it was not clipped, else the clipped constant (whose
    gradient is 0, as the clipped losses' array rules say)."""
    return p * Tensor(inside.astype(p.dtype)) + Tensor(np.where(inside, 0, clipped).astype(p.dtype))


def cross_entropy(z: Tensor, y: Tensor, scale, weight) -> Tensor:
    """C = −scale Σ w y ln softmax(z), with the class weights w (None: 1)."""
    weighted = y if weight is None else y * weight
    return -A.sum(weighted * L.log_softmax(z) * scale)


def categorical_cross_entropy(p: Tensor, y: Tensor, scale, eps: float) -> Tensor:
    """C = −scale Σ y ln p̂,  p̂ = clip(p, ε, 1)"""
    p_hat = unclipped(p, *K.clip_probabilities(p.data, eps, 1.0))
    return -A.sum(y * A.log(p_hat) * scale)


def binary_cross_entropy(p: Tensor, y: Tensor, scale, eps: float) -> Tensor:
    """C = −scale Σ [y ln p̂ + (1 − y) ln(1 − p̂)],  p̂ = clip(p, ε, 1 − ε)"""
    p_hat = unclipped(p, *K.clip_probabilities(p.data, eps, 1.0 - eps))
    return -A.sum((y * A.log(p_hat) + (1 - y) * A.log(1 - p_hat)) * scale)


def binary_cross_entropy_with_logits(z: Tensor, y: Tensor, scale, pos_weight) -> Tensor:
    """C = scale Σ [softplus(z) − z y]; with ``pos_weight`` q,
    C = scale Σ [q y softplus(−z) + (1 − y) softplus(z)]"""
    if pos_weight is None:
        return A.sum((L.softplus(z) - z * y) * scale)
    return A.sum((pos_weight * y * L.softplus(-z) + (1 - y) * L.softplus(z)) * scale)


def squared_error(p: Tensor, y: Tensor, scale) -> Tensor:
    """C = scale Σ (p − y)²"""
    diff = p - y
    return A.sum(diff * diff * scale)


def counts_log_counts(op: str, y: Tensor) -> Tensor:
    """y ln y of counts that require gradients; a zero among them is an error: the slope ln y + 1
    is −∞ there (a constant target's y ln y is 0 at y = 0, with no slope to take)."""
    zeros = np.argwhere(y.data == 0)
    if len(zeros):
        raise ValueError(
            f"{op}: a target that requires gradients must be > 0 (the loss's slope in it, "
            f"ln y − z, is −∞ at y = 0); got 0 at index {tuple(zeros[0].tolist())} (detach it, or "
            "keep it positive)"
        )
    return y * A.log(y)
