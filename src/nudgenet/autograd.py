"""``grad``: the gradients of outputs with respect to chosen inputs, returned, not accumulated
(PyTorch's ``torch.autograd.grad``).

With ``create_graph=True`` the backward pass is recorded (each primitive's ``backward_graph``),
so the gradients are tensors with a graph of their own: a loss built from them (a gradient
penalty, the input-gradient term of :class:`~nudgenet.nn.differential.DifferentialLoss`, a
Hessian-vector product) backpropagates again.

>>> import nudgenet as ng
>>> x = ng.tensor([1.0, 2.0], requires_grad=True)
>>> (dx,) = ng.grad((x ** 3).sum(), x, create_graph=True)   # 3x²
>>> (ddx,) = ng.grad(dx.sum(), x)                            # 6x
>>> dx.data.tolist(), ddx.data.tolist()
([3.0, 12.0], [6.0, 12.0])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .graph import NO_GRAPH
from .tensor import Tensor, backpropagate, seed_gradient


def _tensors(value, what: str) -> tuple[Tensor, ...]:
    items = (value,) if isinstance(value, Tensor) else tuple(value)
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            raise TypeError(f"grad: {what} must be tensors, got {type(item).__name__} at {i}")
    return items


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs=None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients Σₖ ∂⟨outputsₖ, grad_outputsₖ⟩/∂inputs, one tensor per input (PyTorch's
    ``torch.autograd.grad``); no ``.grad`` is touched.

    ``grad_outputs``: one seed per output (arrays or tensors of its shape; None for a
    one-element output, seed 1).  ``create_graph``: record the backward pass, so the gradients
    have a graph and can be differentiated again.  ``retain_graph`` (default: ``create_graph``):
    keep the graph's saved values for another backward; without it a second pass through the
    same graph raises.  An input the outputs do not depend on is an error unless
    ``allow_unused`` (then its gradient is None).
    """
    outputs, inputs = _tensors(outputs, "outputs"), _tensors(inputs, "inputs")
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)):  # one seed, for one output
        grad_outputs = [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(
            f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs (give one "
            "per output, None for a one-element output)"
        )
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) does not require gradients")
    roots, seeds = [], []
    for i, (out, seed) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(
                f"grad: output {i} (shape {out.shape}) does not require gradients: {NO_GRAPH}"
            )
        roots.append(out)
        seeds.append(seed_gradient(out, seed, f"grad: output {i}", create_graph))
    retain = create_graph if retain_graph is None else retain_graph
    found = backpropagate(roots, seeds, retain, create_graph, {id(t) for t in inputs})
    result = []
    for i, t in enumerate(inputs):
        g = found.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; pass "
                "allow_unused=True to get None for it"
            )
        if g is not None and not isinstance(g, Tensor):
            g = Tensor(np.array(g, dtype=t.dtype))  # a copy: g may be a read-only broadcast view
        result.append(g)
    return tuple(result)
