"""Every primitive's backward rule written a second time, with tensor operations: the
``backward_graph`` that ``create_graph=True`` runs (recording on), so gradients can be
differentiated again.

Each rule is the same equation as the primitive's array ``backward`` (stated in its docstring),
applied to the input *tensors* (``fn.inputs``); values that are constant almost everywhere (a
ReLU's mask, a max's winners, a dropout mask, targets) enter as constants, and values the array
rule reads from the forward's output (σ, tanh, softmax) are recomputed from the input so that
they carry the graph.  :data:`RULES` maps each primitive to its rule and :func:`install` binds
them; ``tests/test_double_backward.py`` checks that every ``Function`` subclass has one, that it
agrees with the array rule, and its second derivatives against finite differences.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Function, Tensor
from . import arithmetic as A
from . import layers as L
from . import losses as S
from .target_gradients import unclipped


def _const(value, like: Tensor) -> Tensor:
    """``value`` as a constant tensor of ``like``'s dtype."""
    return Tensor(np.asarray(value, dtype=like.dtype))


def _each(fn, *grads):
    """The gradients for the inputs that need one (None for the others)."""
    return tuple(g() if need else None for g, need in zip(grads, fn.needs_grad))


class ScatterAdd(Function):
    """out = zeros(shape) with g added at ``index`` (GetItem's backward);  dg = gₒᵤₜ[index]"""

    def forward(self, g, shape, index):
        self.index = index
        return A.scatter(g, shape, g.dtype, index)

    def backward(self, g):
        return (g[self.index],)


class Masked(Function):
    """out = g ⊙ m, for a factor m of the input x that is constant almost everywhere (a ReLU's
    mask, the sign of |x|, a dropout mask);  dg = gₒᵤₜ ⊙ m,  dx = 0.  x is an input, so the
    gradient of a gradient through a ReLU with respect to x is zero, not "unused" (PyTorch's
    ``threshold_backward`` takes x too)."""

    def forward(self, g, x, mask):
        self.mask, self.x_like = mask, (x.shape, x.dtype)
        return g * mask

    def backward(self, g):
        return (
            g * self.mask if self.needs_grad[0] else None,
            np.zeros(*self.x_like) if self.needs_grad[1] else None,
        )


def _masked(fn, g):
    return _each(
        fn,
        lambda: Masked.apply(g, fn.inputs[1], mask=fn.mask),
        lambda: _const(np.zeros(*fn.x_like), g),
    )


def _expand(g: Tensor, shape, axis, keepdims) -> Tensor:
    """A reduction's gradient broadcast back over the reduced axes (to ``shape``)."""
    if not keepdims:
        kept = (1,) * len(shape) if axis is None else np.expand_dims(g.data, axis).shape
        g = A.reshape(g, kept)
    return g + Tensor(np.zeros(shape, g.dtype))


def _swap(t: Tensor) -> Tensor:
    axes = list(range(t.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return A.transpose(t, tuple(axes))


def _unbatch(grad: Tensor, shape) -> Tensor:
    """:func:`arithmetic.unbatch` on tensors."""
    if len(shape) == 1:
        return A.reshape(A.sum(A.reshape(grad, (-1, grad.shape[-2] * grad.shape[-1])), 0), shape)
    if grad.ndim > len(shape):
        grad = A.sum(grad, tuple(range(grad.ndim - len(shape))))
    return grad


def _matmul(fn, g):
    a, b = fn.inputs
    a2 = A.reshape(a, (1, -1)) if a.ndim == 1 else a
    b2 = A.reshape(b, (-1, 1)) if b.ndim == 1 else b
    if b.ndim == 1:
        g = A.reshape(g, (*g.shape, 1))
    if a.ndim == 1:
        g = A.reshape(g, (*g.shape[:-1], 1, g.shape[-1]))
    return _each(
        fn,
        lambda: _unbatch(A.matmul(g, _swap(b2)), a.shape),
        lambda: _unbatch(A.matmul(_swap(a2), g), b.shape),
    )


def _pow(fn, g):
    a, b = fn.inputs
    first, second = (_const(mask, g) for mask in A.pow_zeros(a.data, b.data))
    return _each(fn, lambda: g * b * a ** (b - 1 + first), lambda: g * a**b * A.log(a + second))


def _max(fn, g):
    ties = fn.winners.sum(axis=fn.axis, keepdims=True)
    share = _const(fn.winners / ties, g)
    return (_expand(g, share.shape, fn.axis, fn.keepdims) * share,)


def _linear(fn, g):
    x, w = fn.inputs[:2]
    rows = (-1, x.shape[-1])
    g2 = A.reshape(g, (-1, g.shape[-1]))
    return _each(
        fn,
        lambda: A.matmul(g, A.transpose(w)),
        lambda: A.matmul(A.transpose(A.reshape(x, rows)), g2),
        lambda: A.sum(g2, 0),
    )


def _normalization(fn, g):
    """y = x̂ γ + β; x̂ recomputed from x (its batch or row statistics), so dx carries x."""
    x, axis = fn.inputs[0], fn.axis
    if axis is None:  # fixed statistics: x̂ = (x − μ) s with μ, s constants
        s = _const(fn.inv_std, g)
        x_hat = (x - _const(fn.mean, g)) * s
    else:
        centred = x - A.mean(x, axis, keepdims=True)
        s = (A.mean(centred * centred, axis, keepdims=True) + fn.eps) ** -0.5
        x_hat = centred * s
    g_hat = g if len(fn.inputs) == 1 else g * fn.inputs[1]
    if axis is None:
        gx = g_hat * s
    else:
        mean_g = A.mean(g_hat, axis, keepdims=True)
        gx = s * (g_hat - mean_g - x_hat * A.mean(g_hat * x_hat, axis, keepdims=True))
    if len(fn.inputs) == 1:
        return (gx,)
    features = (-1, g.shape[-1])
    return (
        gx,
        A.sum(A.reshape(g * x_hat, features), 0),
        A.sum(A.reshape(g, features), 0),
    )


def _dense_labels(y: np.ndarray, classes: int, dtype) -> np.ndarray:
    if y.ndim == 2:
        return y
    dense = np.zeros((len(y), classes), dtype=dtype)
    dense[np.arange(len(y)), y] = 1
    return dense


def _cross_entropy(fn, g):
    (z,) = fn.inputs
    y = _dense_labels(fn.y, z.shape[-1], z.dtype)
    delta = L.softmax(z) * _const(y.sum(axis=-1, keepdims=True), g) - _const(y, g)
    return (delta * (g * _const(fn.scale, g)),)


def _categorical_cross_entropy(fn, g):
    p_hat = unclipped(fn.inputs[0], fn.clipped, fn.inside)
    return (-(_const(fn.y, g) / p_hat) * _const(fn.inside * fn.scale, g) * g,)


def _binary_cross_entropy(fn, g):
    p_hat = unclipped(fn.inputs[0], fn.clipped, fn.inside)
    delta = (p_hat - _const(fn.y, g)) / (p_hat * (1 - p_hat))
    return (delta * _const(fn.inside * fn.scale, g) * g,)


def _bce_with_logits(fn, g):
    s, y, q = L.sigmoid(fn.inputs[0]), fn.y, fn.pos_weight
    delta = s - _const(y, g) if q is None else s * _const(q * y + 1 - y, g) - _const(q * y, g)
    return (delta * (g * _const(fn.scale, g)),)


def _squared_error(fn, g):
    return ((fn.inputs[0] - _const(fn.y, g)) * (2 * g * _const(fn.scale, g)),)


def _by_mask(mask_of):
    """The rule dz = g ⊙ m for a factor m constant almost everywhere (:class:`Masked`: its
    derivative in the input is 0)."""
    return lambda fn, g: (
        Masked.apply(g, fn.inputs[0], mask=np.asarray(mask_of(fn), dtype=g.dtype)),
    )


def _softmax(fn, g):
    p = L.softmax(fn.inputs[0], fn.axis)
    return (p * (g - A.sum(g * p, fn.axis, keepdims=True)),)


def _log_softmax(fn, g):
    p = L.softmax(fn.inputs[0], fn.axis)
    return (g - p * A.sum(g, fn.axis, keepdims=True),)


RULES = {
    A.Add: lambda fn, g: (g, g),
    A.Sub: lambda fn, g: (g, -g),
    A.Mul: lambda fn, g: _each(fn, lambda: g * fn.inputs[1], lambda: g * fn.inputs[0]),
    A.Div: lambda fn, g: _each(
        fn,
        lambda: g / fn.inputs[1],
        lambda: -g * fn.inputs[0] / (fn.inputs[1] * fn.inputs[1]),
    ),
    A.Neg: lambda fn, g: (-g,),
    A.Pow: _pow,
    A.Exp: lambda fn, g: (g * A.exp(fn.inputs[0]),),
    A.Log: lambda fn, g: (g / fn.inputs[0],),
    A.Abs: _by_mask(lambda fn: np.sign(fn.a)),
    A.MatMul: _matmul,
    A.Sum: lambda fn, g: (_expand(g, fn.shape, fn.axis, fn.keepdims),),
    A.Mean: lambda fn, g: (_expand(g / fn.count, fn.shape, fn.axis, fn.keepdims),),
    A.Max: _max,
    A.Reshape: lambda fn, g: (A.reshape(g, fn.shape),),
    A.Transpose: lambda fn, g: (
        A.transpose(g) if fn.axes is None else A.transpose(g, np.argsort(fn.axes).tolist()),
    ),
    A.Clone: lambda fn, g: (g,),
    A.GetItem: lambda fn, g: (ScatterAdd.apply(g, shape=fn.shape, index=fn.index),),
    ScatterAdd: lambda fn, g: (A.GetItem.apply(g, index=fn.index),),
    Masked: _masked,
    L.LinearFunction: _linear,
    L.ReLUFunction: _by_mask(lambda fn: fn.out > 0),
    L.SigmoidFunction: lambda fn, g: (
        (lambda s: g * s * (1 - s))(L.sigmoid(fn.inputs[0])),
    ),
    L.TanhFunction: lambda fn, g: ((lambda t: g * (1 - t * t))(L.tanh(fn.inputs[0])),),
    L.LeakyReLUFunction: _by_mask(lambda fn: np.where(fn.positive, 1.0, fn.slope)),
    L.SoftplusFunction: lambda fn, g: (g * L.sigmoid(fn.inputs[0]),),
    L.SoftmaxFunction: _softmax,
    L.LogSoftmaxFunction: _log_softmax,
    L.DropoutFunction: _by_mask(lambda fn: fn.mask),
    L.NormalizationFunction: _normalization,
    S.CrossEntropyFunction: _cross_entropy,
    S.CategoricalCrossEntropyFunction: _categorical_cross_entropy,
    S.BinaryCrossEntropyFunction: _binary_cross_entropy,
    S.BinaryCrossEntropyWithLogitsFunction: _bce_with_logits,
    S.SquaredErrorFunction: _squared_error,
}


def install() -> None:
    """Bind each rule as its primitive's ``backward_graph``."""
    for cls, rule in RULES.items():
        cls.backward_graph = rule
