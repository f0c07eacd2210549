"""The layer primitives: the fused affine map, activations, softmax, dropout, and batch and
layer normalisation.

Each ``<Name>Function`` saves what its backward needs and calls the array rules of
:mod:`.kernels` (where each equation is written, shared with the compiled training step);
the functions at the bottom (``linear``, ``relu``, ...) apply them to tensors.
"""

from __future__ import annotations

import numpy as np

from ..backend import SeedLike, generator, get_default_dtype
from ..errors import ShapeError
from ..tensor import Function, Tensor, as_tensor
from . import kernels as K


class LinearFunction(Function):
    """y = x W + b;  dx = g Wᵀ,  dW = xᵀ g,  db = 1ᵀ g   (x is (..., in), W is (in, out))"""

    def forward(self, x, w, b=None):
        if x.ndim == 0 or x.shape[-1] != w.shape[0]:
            raise ShapeError(
                f"linear: input has {x.shape[-1] if x.ndim else 0} features (shape {x.shape}) but "
                f"the weight expects {w.shape[0]} (weight shape {w.shape})"
            )
        self.x, self.w = x, w
        return K.linear(x, w, b)

    def backward(self, g):
        x2 = self.x.reshape(-1, self.x.shape[-1])  # leading axes as rows
        g2 = g.reshape(-1, g.shape[-1])
        gx = K.linear_grad_input(g, self.w.T) if self.needs_grad[0] else None
        gw = K.linear_grad_weight(x2.T, g2) if self.needs_grad[1] else None
        if len(self.needs_grad) == 2:
            return gx, gw
        return gx, gw, K.linear_grad_bias(g2) if self.needs_grad[2] else None


class ActivationFunction(Function):
    """An element-wise ``a = f(z)`` whose backward is written with the output ``a``: the kernels
    ``activate(z, out)`` and ``delta(g, a, out)`` (δ = g ⊙ f′ from ``a``), which the compiled
    training step runs too."""

    activate = delta = None  # set by each subclass to its kernels

    def forward(self, z):
        self.out = self.activate(z)
        return self.out

    def backward(self, g):
        return (self.delta(g, self.out),)


class ReLUFunction(ActivationFunction):
    """a = max(z, 0);  dz = g ⊙ [a > 0]"""

    activate, delta = staticmethod(K.relu), staticmethod(K.relu_delta)


class SigmoidFunction(ActivationFunction):
    """a = σ(z);  dz = g ⊙ a (1 − a)"""

    activate, delta = staticmethod(K.sigmoid), staticmethod(K.sigmoid_delta)


class TanhFunction(ActivationFunction):
    """a = tanh z;  dz = g ⊙ (1 − a²)"""

    activate, delta = staticmethod(K.tanh), staticmethod(K.tanh_delta)


class LeakyReLUFunction(Function):
    """a = z if z > 0 else s·z;  dz = g ⊙ (1 if z > 0 else s)"""

    def forward(self, z, slope=0.01):
        self.positive, self.slope = z > 0, slope
        return K.leaky_relu(z, self.positive, slope)

    def backward(self, g):
        return (K.leaky_relu_delta(g, self.positive, self.slope),)


class SoftplusFunction(Function):
    """a = ln(1 + eᶻ);  dz = g ⊙ σ(z)"""

    def forward(self, z):
        self.z = z
        return K.softplus(z)

    def backward(self, g):
        return (K.softplus_delta(g, self.z),)


class SoftmaxFunction(Function):
    """p = softmax(z);  dz = p ⊙ (g − Σ g ⊙ p)"""

    def forward(self, z, axis=-1):
        self.out, self.axis = K.softmax(z, axis), axis
        return self.out

    def backward(self, g):
        return (K.softmax_delta(g, self.out, self.axis),)


class LogSoftmaxFunction(Function):
    """out = ln softmax(z);  dz = g − softmax(z) ⊙ Σ g"""

    def forward(self, z, axis=-1):
        self.out, self.axis = K.log_softmax(z, axis), axis
        return self.out

    def backward(self, g):
        return (K.log_softmax_delta(g, self.out, self.axis),)


class DropoutFunction(Function):
    """out = x ⊙ m with m = [u ≥ p] / (1 − p) (inverted dropout);  dx = g ⊙ m"""

    def forward(self, x, mask):
        self.mask = mask
        return x * mask

    def backward(self, g):
        return (g * self.mask,)


class NormalizationFunction(Function):
    """y = x̂ ⊙ γ + β, x̂ = (x − μ) s, s = 1/√(σ² + ε), given μ and σ² (``mean``, ``var``) taken
    from x over ``axis`` (None: fixed statistics);  with ĝ = g ⊙ γ,
    dx = s (ĝ − mean ĝ − x̂ ⊙ mean(ĝ ⊙ x̂)) (means over ``axis``; s ĝ for fixed statistics),
    dγ = Σ g ⊙ x̂,  dβ = Σ g  (sums over the rows).  γ and β come together or not at all."""

    def forward(self, x, weight=None, bias=None, *, mean, var, eps, axis):
        self.x_hat, self.inv_std = K.normalize(x, mean, var, eps)
        self.weight, self.axis, self.mean, self.eps = weight, axis, mean, eps
        return K.scale_shift(self.x_hat, weight, bias)

    def backward(self, g):
        g_hat, grad_weight, grad_bias = K.scale_shift_grads(g, self.x_hat, self.weight)
        gx = K.normalize_delta(g_hat, self.x_hat, self.inv_std, self.axis)
        if len(self.needs_grad) == 1:
            return (gx,)
        return gx, grad_weight, grad_bias


# --- public functions ------------------------------------------------------------------------


def linear(x, weight, bias=None) -> Tensor:
    """``x @ weight + bias`` as one fused primitive; ``weight`` is ``(in, out)``."""
    x, weight = as_tensor(x), as_tensor(weight)
    if bias is None:
        return LinearFunction.apply(x, weight)
    return LinearFunction.apply(x, weight, as_tensor(bias, weight))


def relu(z) -> Tensor:
    return ReLUFunction.apply(as_tensor(z))


def leaky_relu(z, negative_slope: float = 0.01) -> Tensor:
    return LeakyReLUFunction.apply(as_tensor(z), slope=negative_slope)


def sigmoid(z) -> Tensor:
    return SigmoidFunction.apply(as_tensor(z))


def tanh(z) -> Tensor:
    return TanhFunction.apply(as_tensor(z))


def softplus(z) -> Tensor:
    return SoftplusFunction.apply(as_tensor(z))


def softmax(z, axis: int = -1) -> Tensor:
    return SoftmaxFunction.apply(as_tensor(z), axis=axis)


def log_softmax(z, axis: int = -1) -> Tensor:
    return LogSoftmaxFunction.apply(as_tensor(z), axis=axis)


def dropout(x, p: float = 0.5, training: bool = True, seed: SeedLike = None) -> Tensor:
    """Zero each element with probability ``p`` and scale survivors by 1/(1 − p) while training;
    the identity otherwise.  ``seed`` is an int, a Generator, or None (the global generator)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    x = as_tensor(x)
    if x.dtype.kind != "f":  # integer data: scaling by 1/(1 − p) needs floats
        x = Tensor(x.data.astype(get_default_dtype()))
    if not training or p == 0.0:
        return x
    keep = generator(seed).random(x.shape, dtype=x.dtype) >= p
    mask = keep.astype(x.dtype) / x.dtype.type(1.0 - p)
    return DropoutFunction.apply(x, mask=mask)


def _affine(weight, bias, like: Tensor) -> tuple[Tensor, ...]:
    """``(γ, β)`` as tensors of ``like``'s dtype (a missing one as the constant 1 or 0), or ``()``
    when both are None."""
    if weight is None and bias is None:
        return ()
    features = like.shape[-1:]
    return (
        Tensor(np.ones(features, like.dtype)) if weight is None else as_tensor(weight),
        Tensor(np.zeros(features, like.dtype)) if bias is None else as_tensor(bias),
    )


def _floating(x) -> Tensor:
    x = as_tensor(x)
    return x if x.dtype.kind == "f" else Tensor(x.data.astype(get_default_dtype()))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalise each row over its last axis, of ``normalized_shape`` features (an int or a
    one-element tuple): x̂ = (x − μ)/√(σ² + ε), μ and σ² the row's mean and biased variance; then
    x̂ ⊙ ``weight`` + ``bias`` (each optional, of that shape).  PyTorch's signature."""
    x = _floating(x)
    features = tuple(np.atleast_1d(normalized_shape).tolist())
    if x.ndim == 0 or x.shape[-1:] != features or len(features) != 1:
        raise ShapeError(
            f"layer_norm: expected input whose last axis has normalized_shape={normalized_shape} "
            f"features (only the last axis is normalised), got shape {x.shape}"
        )
    mean, var = K.moments(x.data, axis=-1)
    return NormalizationFunction.apply(
        x, *_affine(weight, bias, x), mean=mean, var=var, eps=eps, axis=-1
    )


def batch_norm(
    x,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each feature (column) of a batch (N, C): in training, by the batch's mean and
    biased variance, moving ``running_mean`` and ``running_var`` (arrays, or None) toward the
    batch's mean and unbiased variance in place (r ← (1 − momentum) r + momentum b); otherwise
    by the running statistics.  Then x̂ ⊙ ``weight`` + ``bias`` (each optional, (C,)).
    PyTorch's signature and rules."""
    x = _floating(x)
    if x.ndim != 2:
        raise ShapeError(f"batch_norm: expected a batch of rows (N, features), got shape {x.shape}")
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: outside training it needs running_mean and running_var")
        mean, var, axis = running_mean, running_var, None
    else:
        if len(x) < 2:
            raise ValueError(
                f"batch_norm: training needs more than one row per batch (got shape {x.shape}): "
                "the variance of one value is 0; use drop_last=True or another batch size"
            )
        mean, var = K.moments(x.data, axis=0)
        axis = 0
        if running_mean is not None:
            K.update_running(running_mean, mean[0], momentum)
        if running_var is not None:
            K.update_running(running_var, K.unbiased(var[0], len(x)), momentum)
    return NormalizationFunction.apply(
        x, *_affine(weight, bias, x), mean=mean, var=var, eps=eps, axis=axis
    )
