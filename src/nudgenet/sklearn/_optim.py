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
    batch's ``0.5 α Σ‖W‖² / rows``.

    Per step it works in place on arrays made once per flat buffer (:meth:`_bind`): the L2
    term is ``g += θ ⊙ d`` with ``d`` the factor ``α / rows`` on the weights and 0 on the
    biases (the same numbers as adding ``α W / rows`` to each weight's slice: a bias gains
    ``± 0``), the penalty ``0.5 (θ ⊙ d) · θ`` (one dot product), and the updates write their
    intermediate values into two scratch arrays."""

    def __init__(self, params, lr: float, weights, alpha: float, grad_factor: float):
        super().__init__(params, lr)
        self.slices = weight_slices(self.params, weights)
        self.alpha, self.grad_factor = float(alpha), float(grad_factor)
        self.rows = 1.0
        self.penalty = 0.0
        self._bound = None  # the flat_params the arrays below belong to

    def _bind(self, theta: np.ndarray) -> None:
        """The arrays for the flat buffer ``theta``: the weight mask (1 on the weights, 0 on
        the biases), the L2 factors ``d`` of the last scale, and two scratch arrays the size of
        the buffer."""
        self._bound = theta
        self._mask = np.zeros_like(theta)
        for part in self.slices:
            self._mask[part] = 1
        self._decay, self._decay_scale = np.empty_like(theta), None
        self._scratch = (np.empty_like(theta), np.empty_like(theta))

    def regularize(self) -> float:
        """``flat_grads`` made scikit-learn's gradient; returns the batch's L2 term."""
        flat = self._buffer()
        theta, grad = flat.data, flat.grad
        if theta is not self._bound:
            self._bind(theta)
        if self.grad_factor != 1:
            grad *= self.grad_factor
        if not self.alpha:
            self.penalty = 0.0
            return 0.0
        scale = self.alpha / self.rows if self.rows else 0.0
        if scale != self._decay_scale:  # the batch size changed (the last, smaller batch)
            np.multiply(self._mask, scale, out=self._decay)
            self._decay_scale = scale
        term = np.multiply(theta, self._decay, out=self._scratch[0])
        grad += term
        self.penalty = 0.5 * float(np.dot(term, theta))  # 0.5 (α / rows) Σ‖W‖²
        return self.penalty

    def step(self) -> None:
        self.regularize()
        super().step()

    def _work(self, size: int) -> tuple[np.ndarray, ...]:
        """The two scratch arrays for a piece of ``size`` elements of the buffer (``step``
        updates a large buffer piece by piece, one after the other)."""
        if size == self._bound.size:
            return self._scratch
        return tuple(w[:size] for w in self._scratch)


class SklearnSGD(Regularized):
    """scikit-learn's SGD with (Nesterov) momentum (module docstring)."""

    _state_names = ("velocity",)

    def __init__(self, params, lr, weights, alpha, grad_factor, momentum=0.9, nesterov=True):
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        super().__init__(params, lr, weights, alpha, grad_factor)

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, theta, grad, velocity):
        lr_grad, nesterov = self._work(theta.size)
        velocity *= self.momentum
        velocity -= np.multiply(grad, self.lr, out=lr_grad)
        if self.nesterov:
            np.multiply(velocity, self.momentum, out=nesterov)
            nesterov -= lr_grad
            theta += nesterov
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
        part, denominator = self._work(theta.size)
        m *= b1
        m += np.multiply(grad, 1 - b1, out=part)
        v *= b2
        np.multiply(grad, grad, out=part)
        part *= 1 - b2
        v += part
        size = self.lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        np.sqrt(v, out=denominator)
        denominator += self.eps
        np.multiply(m, size, out=part)
        part /= denominator
        theta -= part
