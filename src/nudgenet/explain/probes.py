"""Two probes of the first-order picture: the nudge test (does a small step against the gradient
change the cost as predicted?) and the gradient with respect to the inputs."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..nn.module import Module
from ..tensor import Tensor, enable_grad, no_grad
from ..train import prepare_data
from .state import flat_grads, preserved_state


@dataclass
class NudgeTest:
    """The step ``θ ← θ − ε g/‖g‖`` (every parameter, ``g = ∂C/∂θ``): first-order prediction of
    the cost change ``−ε‖g‖`` against the actual change ``C(θ_new) − C(θ)``."""

    eps: float
    grad_norm: float
    cost_before: float
    cost_after: float
    dtype: str

    @property
    def predicted_change(self) -> float:
        return -self.eps * self.grad_norm

    @property
    def actual_change(self) -> float:
        return self.cost_after - self.cost_before

    @property
    def relative_error(self) -> float:
        """``|actual − predicted| / |predicted|`` (O(ε) for a smooth cost)."""
        predicted = self.predicted_change
        return abs(self.actual_change - predicted) / max(abs(predicted), 1e-300)

    def to_dict(self) -> dict:
        return {
            "eps": self.eps,
            "grad_norm": self.grad_norm,
            "cost_before": self.cost_before,
            "cost_after": self.cost_after,
            "predicted_change": self.predicted_change,
            "actual_change": self.actual_change,
            "relative_error": self.relative_error,
            "dtype": self.dtype,
        }

    def __str__(self) -> str:
        return (
            f"nudge test, step eps={self.eps:g} against the gradient (|g| = {self.grad_norm:.6g}, "
            f"{self.dtype}): cost {self.cost_before:.10g} -> {self.cost_after:.10g}; predicted "
            f"change -eps|g| = {self.predicted_change:+.6e}, actual {self.actual_change:+.6e} "
            f"(relative error {self.relative_error:.2e})"
        )


def nudge_test(model: Module, loss_fn, x, y, eps: float = 1e-4, float64: bool = True) -> NudgeTest:
    """Take the step ``θ ← θ − ε·g/‖g‖`` and compare the cost change with ``−ε‖g‖``.

    Works on a copy (in float64 unless ``float64=False``, in eval mode), so the model is never
    modified.  For small ε the two agree to O(ε): with ε = 1e-4 in float64, typically within
    0.01%.

    >>> import numpy as np, nudgenet as ng
    >>> model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    >>> x, y = np.random.default_rng(0).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    >>> ng.nudge_test(model, ng.CrossEntropyLoss(), x, y, eps=1e-4).relative_error < 0.01
    True
    """
    if not eps > 0:
        raise ValueError(f"nudge_test: eps must be > 0, got {eps}")
    work = copy.deepcopy(model)
    if float64:
        work.double()
    work.eval()
    x, y = prepare_data(work, x, y)
    params = work.parameters()
    for p in params:
        p.grad = None
    with enable_grad():
        loss = loss_fn(work(x), y)
    loss.backward()
    norm = float(np.linalg.norm(flat_grads(params).astype(np.float64)))
    if norm == 0:
        raise ValueError("nudge_test: the gradient is zero here; there is no downhill step")
    for p in params:
        if p.grad is not None:
            p.data -= (eps / norm) * p.grad
    with no_grad():
        after = float(loss_fn(work(x), y).data)
    return NudgeTest(float(eps), norm, float(loss.data), after, str(work.dtype))


def input_gradient(model: Module, x, output: int | None = None) -> np.ndarray:
    """∂output/∂input for every row of ``x``, by backprop to the inputs (eval mode).

    Rows are independent in a feed-forward net, so one backward pass gives every row's gradient.
    Returns ``(N, features)`` for output column ``output`` (default: the only output of a
    one-output model), or, with ``output=None`` on a model with K > 1 outputs, the Jacobian
    ``(N, K, features)``.  Preprocessing inside the model (``Standardize``) is differentiated
    through, so the gradient is with respect to the raw inputs: for a pricing net taking
    (S/K, T, r, σ) and giving C/K, column 0 is delta and column 3 vega.

    >>> import numpy as np, nudgenet as ng
    >>> model = ng.Sequential(ng.Linear(2, 1, seed=0)).double()
    >>> bool(np.allclose(ng.input_gradient(model, np.ones((3, 2)))[0], model[0].weight.data[:, 0]))
    True
    """
    x = prepare_data(model, x)
    with preserved_state(model), enable_grad():
        xt = Tensor(np.array(x, copy=True), requires_grad=True)
        out = model(xt)
        if out.ndim != 2:
            raise ValueError(f"input_gradient: expected outputs (N, K), got shape {out.shape}")
        k_outputs = out.shape[1]
        if output is None and k_outputs == 1:
            output = 0
        columns = [output] if output is not None else list(range(k_outputs))
        for k in columns:
            if not -k_outputs <= k < k_outputs:
                raise IndexError(f"input_gradient: output {k} of a model with {k_outputs} outputs")
        grads = []
        for i, k in enumerate(columns):
            seed = np.zeros_like(out.data)
            seed[:, k] = 1
            xt.grad = None
            out.backward(seed, retain_graph=i + 1 < len(columns))
            grads.append(xt.grad.copy())
    return grads[0] if output is not None else np.stack(grads, axis=1)
