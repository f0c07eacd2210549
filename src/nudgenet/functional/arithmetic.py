"""Elementwise arithmetic, matrix products, reductions and shape operations.

Each primitive states its rule in its docstring; ``g`` is the incoming gradient ∂C/∂out.
Broadcasting is undone by the engine (:func:`nudgenet.tensor.unbroadcast`), not here.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..tensor import Function, Tensor, as_tensor


class Add(Function):
    """out = a + b;  da = g,  db = g"""

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    """out = a − b;  da = g,  db = −g"""

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_grad[1] else None)


class Mul(Function):
    """out = a ⊙ b;  da = g ⊙ b,  db = g ⊙ a"""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return (
            g * self.b if self.needs_grad[0] else None,
            g * self.a if self.needs_grad[1] else None,
        )


class Div(Function):
    """out = a / b;  da = g / b,  db = −g ⊙ a / b²"""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        ga = g / self.b if self.needs_grad[0] else None
        gb = -g * self.a / (self.b * self.b) if self.needs_grad[1] else None
        return ga, gb


class Neg(Function):
    """out = −a;  da = −g"""

    def forward(self, a):
        return -a

    def backward(self, g):
        return (-g,)


class Pow(Function):
    """out = aᵇ;  da = g ⊙ b aᵇ⁻¹,  db = g ⊙ aᵇ ln a  (0 where these are 0·∞: :func:`pow_zeros`)"""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, g):
        a, b = self.a, self.b
        first, second = pow_zeros(a, b)
        ga = g * b * a ** (b - 1 + first) if self.needs_grad[0] else None
        gb = g * self.out * np.log(a + second) if self.needs_grad[1] else None
        return ga, gb


def pow_zeros(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where aᵇ's derivatives are 0·∞, which is 0 (PyTorch's value too): ``a = b = 0`` in
    b aᵇ⁻¹ (aᵇ⁻¹ read as a¹ there: adding this mask to the exponent), and ``a = 0 ≤ b`` in
    aᵇ ln a (ln a read as ln 1: adding this mask to a).  Elsewhere the masks add 0."""
    at_zero = a == 0
    return at_zero & (b == 0), at_zero & (b >= 0)


class Exp(Function):
    """out = eᵃ;  da = g ⊙ out"""

    def forward(self, a):
        self.out = np.exp(a)
        return self.out

    def backward(self, g):
        return (g * self.out,)


class Log(Function):
    """out = ln a;  da = g / a"""

    def forward(self, a):
        self.a = a
        return np.log(a)

    def backward(self, g):
        return (g / self.a,)


class Abs(Function):
    """out = |a|;  da = g ⊙ sign(a)"""

    def forward(self, a):
        self.a = a
        return np.abs(a)

    def backward(self, g):
        return (g * np.sign(self.a),)


def _check_matmul(a: np.ndarray, b: np.ndarray) -> None:
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            f"matmul: operands must have at least 1 dimension, got {a.shape} @ {b.shape}"
        )
    inner_a = a.shape[-1]
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if inner_a != inner_b:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: the first's last dimension "
            f"({inner_a}) must equal the second's {'only' if b.ndim == 1 else 'second-to-last'} "
            f"dimension ({inner_b})"
        )
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(
            f"matmul: batch dimensions of {a.shape} and {b.shape} do not broadcast: "
            f"{a.shape[:-2]} vs {b.shape[:-2]}"
        ) from None


class MatMul(Function):
    """out = a @ b;  da = g @ bᵀ,  db = aᵀ @ g  (1-D operands act as row/column vectors)"""

    def forward(self, a, b):
        _check_matmul(a, b)
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):
        a = self.a[np.newaxis, :] if self.a.ndim == 1 else self.a
        b = self.b[:, np.newaxis] if self.b.ndim == 1 else self.b
        if self.b.ndim == 1:  # first, so a vector·vector's 0-d g becomes (1, 1)
            g = np.expand_dims(g, -1)
        if self.a.ndim == 1:
            g = np.expand_dims(g, -2)
        ga = gb = None
        if self.needs_grad[0]:
            ga = g @ np.swapaxes(b, -1, -2)
            ga = unbatch(ga, self.a.shape)
        if self.needs_grad[1]:
            gb = np.swapaxes(a, -1, -2) @ g
            gb = unbatch(gb, self.b.shape)
        return ga, gb


def unbatch(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a matmul gradient over broadcast batch dimensions and drop vector axes to ``shape``."""
    if len(shape) == 1:
        return grad.reshape(-1, grad.shape[-2] * grad.shape[-1]).sum(axis=0).reshape(shape)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    return grad


class Sum(Function):
    """out = Σ a over ``axis``;  da = g broadcast back over the summed axes"""

    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return np.sum(a, axis=axis, keepdims=keepdims)

    def backward(self, g):
        if self.axis is not None and not self.keepdims:
            g = np.expand_dims(g, self.axis)
        return (np.broadcast_to(g, self.shape),)


class Mean(Function):
    """out = (1/n) Σ a over ``axis``;  da = g / n broadcast back"""

    def forward(self, a, axis=None, keepdims=False):
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        out = np.mean(a, axis=axis, keepdims=keepdims)
        self.count = a.size // np.size(out) if a.size else 1  # (builtin max is shadowed here)
        return out

    def backward(self, g):
        if self.axis is not None and not self.keepdims:
            g = np.expand_dims(g, self.axis)
        return (np.broadcast_to(g / self.count, self.shape),)


class Max(Function):
    """out = max a over ``axis``;  da = g shared equally among the positions attaining the max"""

    def forward(self, a, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims
        out = np.max(a, axis=axis, keepdims=True)
        self.winners = a == out
        return out if keepdims else np.squeeze(out, axis=axis)

    def backward(self, g):
        if not self.keepdims:
            g = (
                np.expand_dims(g, self.axis)
                if self.axis is not None
                else np.reshape(g, (1,) * self.winners.ndim)
            )
        ties = self.winners.sum(axis=self.axis, keepdims=True, dtype=g.dtype)  # no upcast
        return (self.winners * (g / ties),)


class Reshape(Function):
    """out = a viewed as ``shape``;  da = g viewed as a's shape"""

    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return np.reshape(a, shape)
        except ValueError:
            raise ShapeError(
                f"reshape: cannot reshape {a.shape} ({a.size} elements) into {shape}"
            ) from None

    def backward(self, g):
        return (np.reshape(g, self.shape),)


class Transpose(Function):
    """out = a with axes permuted;  da = g with the inverse permutation"""

    def forward(self, a, axes=None):
        out = np.transpose(a, axes)  # (NumPy's error for an axis out of range or repeated)
        # counted from 0: the inverse is the argsort of a permutation, not of axes such as (0, -1)
        self.axes = None if axes is None else tuple(int(axis) % a.ndim for axis in axes)
        return out

    def backward(self, g):
        inverse = None if self.axes is None else np.argsort(self.axes)
        return (np.transpose(g, inverse),)


class Clone(Function):
    """out = a copy of a;  da = g"""

    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return (g,)


class GetItem(Function):
    """out = a[index];  da = g scattered back into zeros (added where indices repeat)"""

    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g):
        return (scatter(g, self.shape, self.dtype, self.index),)


def scatter(g: np.ndarray, shape: tuple[int, ...], dtype, index) -> np.ndarray:
    """zeros of ``shape`` with ``g`` added at ``index`` (the adjoint of ``a[index]``)."""
    grad = np.zeros(shape, dtype=dtype)
    if _is_basic(index):
        grad[index] = g  # slices and ints select each element at most once
    else:
        np.add.at(grad, index, g)
    return grad


def _is_basic(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


def _unwrap_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


# --- public functions ------------------------------------------------------------------------


def add(a, b) -> Tensor:
    a = as_tensor(a, b if isinstance(b, Tensor) else None)
    return Add.apply(a, as_tensor(b, a))


def sub(a, b) -> Tensor:
    a = as_tensor(a, b if isinstance(b, Tensor) else None)
    return Sub.apply(a, as_tensor(b, a))


def mul(a, b) -> Tensor:
    a = as_tensor(a, b if isinstance(b, Tensor) else None)
    return Mul.apply(a, as_tensor(b, a))


def div(a, b) -> Tensor:
    a = as_tensor(a, b if isinstance(b, Tensor) else None)
    return Div.apply(a, as_tensor(b, a))


def pow(a, b) -> Tensor:  # noqa: A001 - mirrors operator.pow
    a = as_tensor(a, b if isinstance(b, Tensor) else None)
    return Pow.apply(a, as_tensor(b, a))


def neg(a) -> Tensor:
    return Neg.apply(as_tensor(a))


def exp(a) -> Tensor:
    return Exp.apply(as_tensor(a))


def log(a) -> Tensor:
    return Log.apply(as_tensor(a))


def abs(a) -> Tensor:  # noqa: A001 - mirrors builtins.abs
    return Abs.apply(as_tensor(a))


def matmul(a, b) -> Tensor:
    return MatMul.apply(as_tensor(a), as_tensor(b))


def sum(a, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Sum.apply(as_tensor(a), axis=axis, keepdims=keepdims)


def mean(a, axis=None, keepdims: bool = False) -> Tensor:
    return Mean.apply(as_tensor(a), axis=axis, keepdims=keepdims)


def max(a, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Max.apply(as_tensor(a), axis=axis, keepdims=keepdims)


def reshape(a, *shape) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(as_tensor(a), shape=shape)


def transpose(a, *axes) -> Tensor:
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Transpose.apply(as_tensor(a), axes=axes or None)


def clone(a) -> Tensor:
    """A copy of ``a`` in new memory that gradients flow through (PyTorch's ``clone``; where
    ``detach()`` shares the memory and cuts the graph)."""
    return Clone.apply(as_tensor(a))


def getitem(a, index) -> Tensor:
    return GetItem.apply(as_tensor(a), index=_unwrap_index(index))
