"""Tensor's operators and math methods, bound to the primitives that implement them.

Kept here (not in ``tensor.py``) so the engine module never imports the primitives above it.
"""

from __future__ import annotations

import numpy as np

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
    NumPy would drop its graph without a word (``t.detach()`` or ``t.numpy()`` say so)."""
    if self.requires_grad:
        raise RuntimeError(
            "can't convert a tensor that requires grad to a NumPy array: use "
            "tensor.detach() (or tensor.numpy(), its array) instead"
        )
    return np.array(self.data, dtype=dtype, copy=copy)


def _install() -> None:
    methods = {
        "__float__": _as_float,
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
        "sum": A.sum,
        "mean": A.mean,
        "max": A.max,
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
