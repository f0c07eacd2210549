"""Differential training's loss: values and their derivatives by the inputs (Huge & Savine 2020,
"Differential machine learning", arXiv 2005.02347; Sobolev training, Czarnecki et al. 2017).

For a model f with one output, inputs x (N, n), value labels y and derivative labels D (N, n)::

    C = α · mean (c (f(x) − y))²  +  β · mean_(rows, j) (λⱼ (∂f/∂xⱼ − Dⱼ))²

``c`` (``value_scale``) and ``λⱼ`` (``derivative_scale``) put the two terms in comparable units;
:meth:`DifferentialLoss.from_labels` takes the paper's choices: c = 1/std(y),
λⱼ = 1/√mean(Dⱼ²) (the paper's λⱼ on standardised data: the loss is the same whatever units
x and y are in), α = 1/(1 + λn), β = 1 − α with λ = 1.  ∂f/∂x is taken by
:func:`nudgenet.grad` with ``create_graph=True``, so the loss backpropagates to the parameters
through the model's input gradient (the rows must not depend on each other: no batch statistics
in training mode).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import grad
from ..errors import ShapeError
from ..functional.layers import NormalizationFunction
from ..grad_mode import enable_grad, no_grad
from ..graph import graph_order
from ..tensor import Tensor
from .module import Module


def _scale(name: str, value, length: int) -> np.ndarray:
    scale = np.broadcast_to(np.asarray(value, dtype=np.float64), (length,))
    if not np.all(np.isfinite(scale) & (scale > 0)):
        raise ValueError(f"DifferentialLoss: {name} must be finite and > 0, got {value!r}")
    return scale


class DifferentialLoss:
    """C = α · value MSE + β · derivative MSE (module doc).  ``target`` rows are the value label
    then the n derivative labels, ``(N, 1 + n)``; the loss is called with the ``inputs`` tensor
    the prediction was computed from (``fit`` passes it: ``wants_inputs``).

    ``alpha`` (default 0.5) and ``beta`` (default 1 − α) weigh the terms; ``value_scale`` (a
    number) and ``derivative_scale`` (a number or one per input) scale the errors before
    squaring.  The compiled training step does not cover it: ``fit`` runs the engine.
    """

    task = "regression"
    wants_inputs = True  # fit's engine step passes inputs= (a tensor requiring gradients)

    def __init__(self, alpha: float = 0.5, beta: float | None = None, value_scale=1.0,
                 derivative_scale=1.0):  # fmt: skip
        beta = 1.0 - alpha if beta is None else beta
        if not (alpha >= 0 and beta >= 0 and alpha + beta > 0):
            raise ValueError(
                f"DifferentialLoss: alpha and beta must be >= 0, not both 0; got {alpha}, {beta}"
            )
        self.alpha, self.beta = float(alpha), float(beta)
        self.value_scale = float(_scale("value_scale", value_scale, 1)[0])
        self.derivative_scale = np.atleast_1d(np.asarray(derivative_scale, dtype=np.float64))
        _scale("derivative_scale", self.derivative_scale, self.derivative_scale.size)

    @classmethod
    def from_labels(cls, y, dydx, lam: float = 1.0) -> DifferentialLoss:
        """The paper's weights for value labels ``y`` (N, 1) and derivative labels ``dydx``
        (N, n): c = 1/std(y), λⱼ = 1/√mean(Dⱼ²) (1 for a column of zeros),
        α = 1/(1 + λn), β = 1 − α."""
        y, dydx = np.asarray(y, np.float64), np.asarray(dydx, np.float64)
        if dydx.ndim != 2 or len(dydx) != len(y):
            raise ShapeError(
                f"DifferentialLoss.from_labels: expected derivative labels (N, inputs) for "
                f"{len(y)} values, got shape {dydx.shape}"
            )
        spread = float(y.std()) or 1.0
        size = np.sqrt((dydx**2).mean(axis=0))
        alpha = 1.0 / (1.0 + lam * dydx.shape[1])
        return cls(alpha, 1.0 - alpha, 1.0 / spread, 1.0 / np.where(size > 0, size, 1.0))

    def __repr__(self) -> str:
        return (
            f"DifferentialLoss(alpha={self.alpha!r}, beta={self.beta!r}, "
            f"value_scale={self.value_scale!r}, derivative_scale={self.derivative_scale.tolist()})"
        )

    def split(self, target, inputs: int) -> tuple[np.ndarray, np.ndarray]:
        """``(values (N, 1), derivatives (N, inputs))`` of ``target`` rows, checked."""
        y = np.asarray(target.data if isinstance(target, Tensor) else target)
        if y.ndim != 2 or y.shape[1] != 1 + inputs:
            raise ShapeError(
                f"DifferentialLoss: expected targets (N, {1 + inputs}): the value, then its "
                f"derivative by each of the {inputs} inputs; got shape {y.shape}"
            )
        if self.derivative_scale.size not in (1, inputs):
            raise ShapeError(
                f"DifferentialLoss: derivative_scale has {self.derivative_scale.size} entries "
                f"for {inputs} inputs"
            )
        return y[:, :1], y[:, 1:]

    def __call__(self, prediction: Tensor, target, inputs: Tensor | None = None) -> Tensor:
        if not isinstance(inputs, Tensor) or not inputs.requires_grad:
            raise TypeError(
                "DifferentialLoss needs inputs=, the tensor (requires_grad=True) the prediction "
                "was computed from, to take the prediction's derivatives by it"
            )
        if prediction.ndim != 2 or prediction.shape[1] != 1 or inputs.ndim != 2:
            raise ShapeError(
                f"DifferentialLoss: expected one output per row (N, 1) from inputs (N, n); got "
                f"outputs {prediction.shape} from inputs {inputs.shape}"
            )
        if _normalized_over_rows(prediction):
            raise ValueError(
                "DifferentialLoss: the prediction is normalised by its batch's statistics "
                "(BatchNorm1d in training mode, or without running statistics), so a row's "
                "derivatives by its inputs would take in the other rows'; use LayerNorm, or "
                "BatchNorm1d in eval mode"
            )
        values, derivatives = self.split(target, inputs.shape[1])
        dtype = prediction.dtype
        (slopes,) = grad(prediction.sum(), inputs, create_graph=True)  # rows: ∂f(xₙ)/∂xₙ
        c = np.asarray(self.value_scale, dtype)
        lam = self.derivative_scale.astype(dtype)
        loss = self.alpha * F.mse_loss(prediction * c, (values * c).astype(dtype))
        return loss + self.beta * F.mse_loss(slopes * lam, (derivatives * lam).astype(dtype))

    def evaluate(self, model: Module, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
        """The loss over all rows of ``(x, y)`` (the mean of the batches' losses, weighted by
        their rows), in eval mode (then the model's mode is restored); each batch's graph is
        dropped after it."""
        total, was_training = 0.0, model.training
        model.eval()
        try:
            with enable_grad():
                for start in range(0, len(x), batch_size):
                    xb, keywords = loss_inputs(self, x[start : start + batch_size])
                    loss = self(model(xb), y[start : start + batch_size], **keywords)
                    total += float(loss.data) * len(xb)
        finally:
            model.train(was_training)
        return total / len(x)


def wants_inputs(loss_fn) -> bool:
    """Whether ``loss_fn`` is called with ``inputs=``, the tensor its prediction was computed
    from (a loss says so by ``wants_inputs = True``: :class:`DifferentialLoss`)."""
    return bool(getattr(loss_fn, "wants_inputs", False))


def loss_inputs(loss_fn, x) -> tuple[Tensor | np.ndarray, dict]:
    """``(rows, keywords)``: the rows to compute the prediction from and the keywords to call
    ``loss_fn`` with, ``loss_fn(model(rows), target, **keywords)``.  A loss that
    :func:`wants_inputs` gets the rows as a tensor requiring gradients, passed as ``inputs=``
    (call it with gradients recorded); any other loss the rows as they are and no keywords."""
    if not wants_inputs(loss_fn):
        return x, {}
    rows = Tensor(x.data if isinstance(x, Tensor) else x, requires_grad=True)
    return rows, {"inputs": rows}


def model_loss(model, loss_fn, x, target) -> Tensor:
    """``loss_fn(model(x), target)``, given ``inputs=`` where the loss wants them, as ``fit``'s
    step gives them (:func:`loss_inputs`)."""
    rows, keywords = loss_inputs(loss_fn, x)
    return loss_fn(model(rows), target, **keywords)


def loss_value(model, loss_fn, x, target) -> float:
    """The value of :func:`model_loss`, recording no graph but what a loss of the inputs'
    derivatives needs to compute its value (:func:`wants_inputs`)."""
    with enable_grad() if wants_inputs(loss_fn) else no_grad():
        return float(model_loss(model, loss_fn, x, target).data)


def _normalized_over_rows(prediction: Tensor) -> bool:
    """Whether ``prediction``'s graph normalises by statistics over the rows (axis 0)."""
    return any(
        isinstance(t._creator, NormalizationFunction) and t._creator.axis == 0
        for t in graph_order([prediction])
    )
