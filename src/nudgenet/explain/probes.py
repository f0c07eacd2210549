"""Two probes of the first-order picture: the nudge test (does a small step against the gradient
change the cost as predicted?) and the gradient with respect to the inputs."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from ..grad_mode import enable_grad, no_grad
from ..nn.copies import float64_copy
from ..nn.differential import loss_value, model_loss
from ..nn.layers import LeakyReLU, ReLU
from ..nn.module import Module
from ..rows import as_array, example_rows, prepare_data, targets_for
from ..tensor import Tensor
from .state import flat_grads, preserved_state

KINKED = (ReLU, LeakyReLU)  # activations whose derivative jumps where their input is 0
DEFAULT_TOLERANCE = 1e-2  # relative error: O(eps) for a smooth cost, 1e-4 at eps = 1e-4
ROUNDING = 100  # the cost's rounding error, in machine epsilons of |C|, a nudge must exceed


@dataclass
class NudgeTest:
    """The step ``θ ← θ − ε g/‖g‖`` (every parameter, ``g = ∂C/∂θ``): first-order prediction of
    the cost change ``−ε‖g‖`` against the actual change ``C(θ_new) − C(θ)``.

    It ``passed`` when the relative error is at most ``tolerance``; else ``reason`` says why
    not: the step moved ``kinks_crossed`` ReLU inputs across 0 (the cost is not smooth there),
    the predicted change is lost in the cost's rounding, or the step is too large for the
    cost's curvature (each with the eps to try instead)."""

    eps: float
    grad_norm: float
    cost_before: float
    cost_after: float
    dtype: str
    tolerance: float = DEFAULT_TOLERANCE
    kinks_crossed: int = 0

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

    @property
    def passed(self) -> bool:
        return self.relative_error <= self.tolerance

    @property
    def reason(self) -> str | None:
        """Why the test failed, and the eps to try instead; None when it passed."""
        if self.passed:
            return None
        if self.kinks_crossed:
            return (
                f"the step moved {self.kinks_crossed} ReLU input(s) across 0, a kink where the "
                f"cost has no derivative: try a smaller eps (e.g. {self._smaller_eps():g}); an "
                "input sitting exactly on a kink fails at any eps"
            )
        if self.actual_change == 0 and self.cost_before == 0:  # no eps can show a change
            return (
                f"the cost is 0 in {self.dtype}: the example is fitted to the last digit, so no "
                "small step shows a change and the test cannot check it; pick an example with a "
                "cost (a misclassified one)"
            )
        rounding = ROUNDING * np.finfo(self.dtype).eps * abs(self.cost_before)
        if self.actual_change == 0 or abs(self.predicted_change) * self.tolerance < rounding:
            return (
                f"the predicted change {self.predicted_change:+.2e} is lost in the {self.dtype} "
                f"rounding of the cost {self.cost_before:.3g}: try a larger eps"
            )
        return (
            "the step is too large for the cost's curvature (second-order terms): try a smaller "
            f"eps (e.g. {self._smaller_eps():g})"
        )

    def _smaller_eps(self) -> float:
        """A power of 10 at which an O(eps) error should be well inside the tolerance."""
        target = self.eps * self.tolerance / max(self.relative_error, self.tolerance) / 10
        return 10.0 ** math.floor(math.log10(target))

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
            "tolerance": self.tolerance,
            "passed": self.passed,
            "kinks_crossed": self.kinks_crossed,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        return (
            f"nudge test, step eps={self.eps:g} against the gradient (|g| = {self.grad_norm:.6g}, "
            f"{self.dtype}): cost {self.cost_before:.10g} -> {self.cost_after:.10g}; predicted "
            f"change -eps|g| = {self.predicted_change:+.6e}, actual {self.actual_change:+.6e} "
            f"(relative error {self.relative_error:.2e})\n  "
            + (
                f"ok: within the tolerance {self.tolerance:.0e}"
                if self.passed
                else f"FAILED: above the tolerance {self.tolerance:.0e}; {self.reason}"
            )
        )


def nudge_test(
    model: Module,
    loss_fn,
    x,
    y,
    eps: float = 1e-4,
    float64: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
) -> NudgeTest:
    """Take the step ``θ ← θ − ε·g/‖g‖`` and compare the cost change with ``−ε‖g‖``.

    Works on a copy (in float64 unless ``float64=False``, in eval mode), so the model is never
    modified.  For small ε the two agree to O(ε): with ε = 1e-4 in float64, typically within
    0.01%.  The result's ``passed`` says whether the relative error is within ``tolerance``,
    its ``reason`` why not (see :class:`NudgeTest`).

    >>> import numpy as np, nudgenet as ng
    >>> model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    >>> x, y = np.random.default_rng(0).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    >>> check = ng.nudge_test(model, ng.CrossEntropyLoss(), x, y, eps=1e-4)
    >>> check.passed, check.relative_error < 0.01, check.tolerance
    (True, True, 0.01)
    """
    if not eps > 0:
        raise ValueError(f"nudge_test: eps must be > 0, got {eps}")
    if not tolerance > 0:
        raise ValueError(f"nudge_test: tolerance must be > 0, got {tolerance}")
    work = float64_copy(model, "nudge_test") if float64 else copy.deepcopy(model)
    work.eval()
    x, y = prepare_data(work, *example_rows(x, y))
    y = targets_for(work, loss_fn, x, y)  # as fit takes them: (N,) for one output, too
    params = work.parameters()
    for p in params:
        p.grad = None
    with enable_grad():
        loss = model_loss(work, loss_fn, x, y)
    loss.backward()
    norm = float(np.linalg.norm(flat_grads(params).astype(np.float64)))
    if norm == 0:
        raise ValueError("nudge_test: the gradient is zero here; there is no downhill step")
    signs = _kink_signs(work, x)
    for p in params:
        if p.grad is not None:
            p.data -= (eps / norm) * p.grad
    after = loss_value(work, loss_fn, x, y)
    crossed = int(np.count_nonzero(_kink_signs(work, x) != signs))
    return NudgeTest(
        float(eps), norm, float(loss.data), after, str(work.dtype), float(tolerance), crossed
    )


def _kink_signs(model: Module, x) -> np.ndarray:
    """The sign of every input of the model's ReLU-like layers (:data:`KINKED`) for rows ``x``,
    from one forward pass, flattened."""
    signs: list[np.ndarray] = []

    def keep(layer, inputs, output) -> None:
        signs.append(np.sign(inputs[0].data).ravel())

    handles = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, KINKED)]
    try:
        with no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return np.concatenate(signs) if signs else np.zeros(0)


def input_gradient(model: Module, x, output: int | None = None) -> np.ndarray:
    """∂output/∂input for every row of ``x``, by backprop to the inputs (eval mode).

    Rows are independent in a feed-forward net, so one backward pass gives every row's gradient.
    Returns ``(N, features)`` for output column ``output`` (default: the only output of a
    one-output model), or, with ``output=None`` on a model with K > 1 outputs, the Jacobian
    ``(N, K, features)``; for one row given as a 1-D array (as :func:`~nudgenet.predict` takes
    it), the same without the leading N.  Preprocessing inside the model (``Standardize``) is
    differentiated through, so the gradient is with respect to the raw inputs: for a pricing
    net taking (S/K, T, r, σ) and giving C/K, column 0 is delta and column 3 vega.

    >>> import numpy as np, nudgenet as ng
    >>> model = ng.Sequential(ng.Linear(2, 1, seed=0)).double()
    >>> bool(np.allclose(ng.input_gradient(model, np.ones((3, 2)))[0], model[0].weight.data[:, 0]))
    True
    """
    x = prepare_data(model, as_array(x))
    if x.ndim == 1:  # one row
        try:
            return input_gradient(model, x[np.newaxis], output)[0]
        except ShapeError as error:  # named as the row came, as predict names it
            error.args = (str(error).replace(f"shape {(1, *x.shape)}", f"shape {x.shape}"),)
            raise
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
