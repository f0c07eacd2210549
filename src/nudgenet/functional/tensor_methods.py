"""Tensor's operators and math methods, bound to the primitives that implement them, and
PyTorch's conversions and small methods (``bool``, ``int``, ``np.asarray``, ``tolist``,
``dim``, ``requires_grad_``; reductions that NumPy's ``np.sum(t)`` may call).

Kept here (not in ``tensor.py``) so the engine module never imports the primitives above it.
"""

from __future__ import annotations

import numpy as np

from ..backend import check_can_require_grad
from ..errors import ShapeError
from ..tensor import Tensor
from . import arithmetic as A
from . import inplace
from . import layers as L


def _reflected(op):
    return lambda self, other: op(other, self)


def _as_float(self) -> float:
    """``float(t)`` of a one-element tensor, as PyTorch's: its :meth:`~Tensor.item` (a
    ShapeError for more elements)."""
    return float(self.item())


def _as_int(self) -> int:
    """``int(t)`` of a one-element tensor, as PyTorch's (a ShapeError for more elements)."""
    return int(self.item())


def _reduction(op):
    """The method ``t.sum`` / ``t.mean`` / ``t.max`` of the primitive ``op``, taking too the
    ``dtype=None, out=None`` that NumPy passes when it reduces a tensor (``np.sum(t)`` calls
    ``t.sum(axis=None, dtype=None, out=None)``), as PyTorch's methods do: the result is a tensor
    (differentiable); another dtype or an output array is refused in one line."""

    def method(self, axis=None, keepdims: bool = False, dtype=None, out=None) -> Tensor:
        if dtype is not None or out is not None:
            raise TypeError(
                f"Tensor.{op.__name__}: a tensor reduces in its own dtype, into a new tensor "
                f"(got dtype={dtype!r}, out={type(out).__name__}); for NumPy's, reduce "
                "np.asarray(t.detach())"
            )
        return op(self, axis=axis, keepdims=keepdims)

    method.__name__, method.__doc__ = op.__name__, op.__doc__
    return method


def _truth(self) -> bool:
    """``bool(t)`` (``if t:``), as PyTorch's: the truth of a one-element tensor's value; with
    more or no elements it is ambiguous, a ShapeError (a ValueError, as NumPy's and ``item()``'s;
    PyTorch's is a RuntimeError).  ``==`` stays identity: tensors are dict keys and set members."""
    if self.data.size != 1:
        amount = "no values" if self.data.size == 0 else "more than one value"
        raise ShapeError(f"Boolean value of Tensor with {amount} is ambiguous (shape {self.shape})")
    return bool(self.data.item())


def _as_array(self, dtype=None, copy=None) -> np.ndarray:
    """``np.asarray(t)``: the tensor's array (shared, as PyTorch's is for a CPU tensor), in
    ``dtype`` where given; a tensor that requires gradients is refused, as PyTorch's is, since
    NumPy would drop its graph without a word (``t.detach()`` first says so)."""
    if self.requires_grad:
        raise RuntimeError(
            "can't convert a tensor that requires grad to a NumPy array: use "
            "tensor.detach() (or tensor.numpy(), its array) instead"
        )
    return np.array(self.data, dtype=dtype, copy=copy)


def _tolist(self) -> list | float | int | bool:
    """The values as nested Python lists (a Python number for a 0-d tensor), as PyTorch's."""
    return self.data.tolist()


def _dim(self) -> int:
    """The number of dimensions, ``ndim`` (PyTorch's name)."""
    return self.data.ndim


def _requires_grad_(self, requires_grad: bool = True) -> Tensor:
    """Set ``requires_grad`` in place and return the tensor, as PyTorch's: a floating tensor
    only, and a computed tensor cannot be taken out of its graph this way (``detach()`` it)."""
    if requires_grad:
        check_can_require_grad(self.dtype)
    elif not self.is_leaf:
        raise RuntimeError(
            "requires_grad_(False) on a computed tensor: only a leaf's flag can change; use "
            "tensor.detach() for the same values out of the graph"
        )
    self.requires_grad = bool(requires_grad)
    return self


def _install() -> None:
    methods = {
        "__float__": _as_float,
        "__int__": _as_int,
        "__bool__": _truth,
        "__array__": _as_array,
        "__add__": A.add,
        "__radd__": _reflected(A.add),
        "__sub__": A.sub,
        "__rsub__": _reflected(A.sub),
        "__mul__": A.mul,
        "__rmul__": _reflected(A.mul),
        "__truediv__": A.div,
        "__rtruediv__": _reflected(A.div),
        "__pow__": A.pow,
        "__rpow__": _reflected(A.pow),
        "__matmul__": A.matmul,
        "__rmatmul__": _reflected(A.matmul),
        "__neg__": A.neg,
        "__abs__": A.abs,
        "__getitem__": A.getitem,
        "requires_grad_": _requires_grad_,
        "tolist": _tolist,
        "dim": _dim,
        "clone": A.clone,
        "sum": _reduction(A.sum),
        "mean": _reduction(A.mean),
        "max": _reduction(A.max),
        "exp": A.exp,
        "log": A.log,
        "abs": A.abs,
        "reshape": A.reshape,
        "transpose": A.transpose,
        "relu": L.relu,
        "sigmoid": L.sigmoid,
        "tanh": L.tanh,
        "softmax": L.softmax,
        "log_softmax": L.log_softmax,
    }
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
    inplace.install()
    Tensor.T = property(lambda self: A.transpose(self), doc="The tensor with its axes reversed.")


_install()
