"""Utilities on parameters' gradients: :func:`clip_grad_norm_` (PyTorch's name and rule)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..tensor import Tensor
from . import flat


def clip_grad_norm_(
    parameters: Iterable[Tensor] | Tensor,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale the gradients of ``parameters`` in place so that their total norm is at most
    ``max_norm``; returns the total norm before clipping.

    The total norm is ‖(‖g₁‖, ‖g₂‖, ...)‖, the ``norm_type``-norm of all gradients as one
    vector (``inf``: the largest |gᵢ|; parameters without a gradient are skipped).  Every
    gradient is multiplied by c = max_norm / (total norm + 1e-6) when c < 1, and left alone
    otherwise (PyTorch's rule).  When ``parameters`` are exactly an optimiser's flat buffer
    (``optimizer.params``), the norm is one pass over ``optimizer.flat_grads`` and the scaling
    one multiplication.  A NaN or infinite norm makes the gradients NaN, or raises with
    ``error_if_nonfinite=True``.
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not (max_norm >= 0 and math.isfinite(max_norm)) or not norm_type > 0:
        raise ValueError(
            f"clip_grad_norm_: expected max_norm >= 0 and norm_type > 0, got {max_norm} and "
            f"{norm_type}"
        )
    buffer = flat.packed(params) if params else None
    grads = [buffer.grad] if buffer is not None else [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norms = [np.linalg.norm(g.reshape(-1), norm_type) for g in grads]
    total = float(norms[0] if len(norms) == 1 else np.linalg.norm(norms, norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, "
            "so they cannot be clipped (error_if_nonfinite=False scales them by it anyway)"
        )
    coefficient = max_norm / (total + 1e-6)
    if not coefficient >= 1.0:  # NaN too, as PyTorch does
        for g in grads:
            g *= coefficient
    return total
