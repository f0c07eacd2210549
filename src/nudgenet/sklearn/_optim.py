"""scikit-learn's stochastic solvers as nudgenet optimisers on the flat buffers.

scikit-learn's gradient of a batch is ``(aᵀδ + α W) / n`` for the weights and ``1ᵀδ / n`` for
the biases, n the batch's rows (its weight total with ``sample_weight``): the L2 penalty
``0.5 α Σ‖W‖² / n`` is on the weights only.  :class:`Regularized` turns the gradient fit's step
left in ``flat_grads`` (the nudgenet loss's) into that one, in place, before the update:
``g ← factor · g``, then ``+ α W / n`` on each weight's slice; its ``penalty`` is the batch's
L2 term, for ``loss_``.  The updates are scikit-learn's, not PyTorch's (they differ where the
learning rate changes, and in where Adam's ε sits):

- :class:`SklearnSGD`:  v ← μv − ηg;  θ ← θ + (μv − ηg if nesterov else v)
- :class:`SklearnAdam`: m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
  θ ← θ − η √(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε)
"""

from __future__ import annotations

import math

import numpy as np

from ..optim import Optimizer


def weight_slices(params, weights) -> list[slice]:
    """Where each of ``weights`` (a subset of ``params``) lies in the flat buffer of ``params``."""
    wanted = {id(w) for w in weights}
    slices, offset = [], 0
    for p in params:
        if id(p) in wanted:
            slices.append(slice(offset, offset + p.data.size))
        offset += p.data.size
    return slices


class Regularized(Optimizer):
    """Base of the solvers: scikit-learn's gradient (module docstring) before each update.
    ``rows``: the batch's rows (or weight total), set before each step; ``penalty``: the last
    batch's ``0.5 α Σ‖W‖² / rows``."""

    def __init__(self, params, lr: float, weights, alpha: float, grad_factor: float):
        super().__init__(params, lr)
        self.slices = weight_slices(self.params, weights)
        self.alpha, self.grad_factor = float(alpha), float(grad_factor)
        self.rows = 1.0
        self.penalty = 0.0

    def regularize(self) -> float:
        """``flat_grads`` made scikit-learn's gradient; returns the batch's L2 term."""
        theta, grad = self.flat_params, self.flat_grads
        if self.grad_factor != 1:
            grad *= self.grad_factor
        if not self.alpha:
            self.penalty = 0.0
            return 0.0
        scale = self.alpha / self.rows if self.rows else 0.0
        squares = 0.0
        for part in self.slices:
            w = theta[part]
            squares += float(np.dot(w, w))
            grad[part] += scale * w
        self.penalty = 0.5 * scale * squares
        return self.penalty

    def step(self) -> None:
        self.regularize()
        super().step()


class SklearnSGD(Regularized):
    """scikit-learn's SGD with (Nesterov) momentum (module docstring)."""

    _state_names = ("velocity",)

    def __init__(self, params, lr, weights, alpha, grad_factor, momentum=0.9, nesterov=True):
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        super().__init__(params, lr, weights, alpha, grad_factor)

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, theta, grad, velocity):
        velocity *= self.momentum
        velocity -= self.lr * grad
        if self.nesterov:
            theta += self.momentum * velocity - self.lr * grad
        else:
            theta += velocity


class SklearnAdam(Regularized):
    """scikit-learn's Adam (module docstring): ε added to √v, the bias corrections folded into
    the step size."""

    _state_names = ("m", "v")

    def __init__(self, params, lr, weights, alpha, grad_factor, betas=(0.9, 0.999), eps=1e-8):
        self.betas, self.eps = (float(betas[0]), float(betas[1])), float(eps)
        super().__init__(params, lr, weights, alpha, grad_factor)

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps}

    def _update(self, theta, grad, m, v):
        b1, b2 = self.betas
        t = self.step_count
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        size = self.lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        theta -= size * m / (np.sqrt(v) + self.eps)
