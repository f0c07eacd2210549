"""Keeping the model as it was while backprop is explained, and reading its gradients."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from ..nn.module import Module


@contextlib.contextmanager
def preserved_state(model: Module) -> Iterator[list]:
    """Run a block with every parameter's ``.grad`` zeroed (in place, so flat-buffer views stay
    views) and the model in eval mode; afterwards the gradients and the mode are as before."""
    params = model.parameters()
    saved = [None if p.grad is None else p.grad.copy() for p in params]
    was_training = model.training
    for p in params:
        if p.grad is not None:
            p.grad.fill(0)
    model.eval()
    try:
        yield params
    finally:
        for p, grad in zip(params, saved):
            if grad is None:
                p.grad = None
            else:
                p.grad[...] = grad
        model.train(was_training)


def grad_copy(t) -> np.ndarray:
    """A copy of tensor ``t``'s ``.grad`` (zeros where backprop left it None)."""
    return np.zeros_like(t.data) if t.grad is None else t.grad.copy()


def flat_grads(params) -> np.ndarray:
    """Every parameter's gradient, copied into one flat vector in ``params``' order."""
    return np.concatenate([grad_copy(p).reshape(-1) for p in params])
