"""Tensor's in-place operators ``+= -= *= /= **=``, with PyTorch's rules.

- No graph to record (under ``no_grad``, or neither operand requires gradients): ``.data`` is
  updated in place and the tensor itself is the result, so ``p -= lr * p.grad`` under
  ``no_grad`` updates the parameter (its ``.data`` stays a view into an optimiser's flat buffer).
- A leaf that requires gradients, while recording: a RuntimeError, as PyTorch's (a parameter
  changed in place would have no gradient to give).
- A tensor in a graph while recording (a non-leaf, or a tensor combined in place with one that
  requires gradients): the out-of-place result, which Python binds to the name, so gradients
  are right; other names for the old tensor keep its value, where PyTorch records the change on
  the tensor itself (a graph here saves arrays, not versions of a tensor, so it cannot).
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..grad_mode import MODE
from ..tensor import Tensor
from . import arithmetic as A

# name: (the array update, the recorded operation, the operator as written)
OPERATORS = {
    "__iadd__": (np.add, A.add, "+="),
    "__isub__": (np.subtract, A.sub, "-="),
    "__imul__": (np.multiply, A.mul, "*="),
    "__itruediv__": (np.true_divide, A.div, "/="),
    "__ipow__": (np.power, A.pow, "**="),
}


def _in_place(name: str, ufunc, operation, symbol: str):
    def method(self: Tensor, other):
        if MODE.enabled:
            if self.requires_grad and self.is_leaf:
                raise RuntimeError(
                    f"{symbol} on a leaf tensor that requires gradients (a parameter) while the "
                    "graph is recorded: update it inside `with ng.no_grad():`, or use an optimiser"
                )
            if self.requires_grad or (isinstance(other, Tensor) and other.requires_grad):
                return operation(self, other)
        value = other.data if isinstance(other, Tensor) else other
        try:
            ufunc(self.data, value, out=self.data)
        except (TypeError, ValueError) as error:
            raise _refused(self.data, value, symbol, error) from None
        return self

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"``t {symbol} other``: in place where no graph is recorded; a RuntimeError on a leaf "
        "that requires gradients while recording; on a tensor in a graph the out-of-place "
        "(recorded) result, which is gradient-correct (:mod:`nudgenet.functional.inplace`)."
    )
    return method


def _refused(data: np.ndarray, value, symbol: str, error: Exception) -> Exception:
    """Why NumPy would not update ``data`` in place, said in one line."""
    value = value if isinstance(value, (int, float, complex)) else np.asarray(value)
    try:
        fits = np.broadcast_shapes(data.shape, np.shape(value)) == data.shape
    except ValueError:
        fits = False
    if not fits:
        return ShapeError(
            f"{symbol} on a tensor of shape {data.shape} needs an operand that broadcasts to "
            f"that shape, got shape {np.shape(value)}"
        )
    result = np.result_type(data, value)
    if not np.can_cast(result, data.dtype, "same_kind"):
        return TypeError(
            f"{symbol} on a tensor of dtype {data.dtype}: the result is {result}, which cannot "
            f"be stored in place; write t = t {symbol[:-1]} other for a new tensor"
        )
    if not data.flags.writeable:
        return ValueError(
            f"{symbol}: the tensor's data is read-only; write t = t {symbol[:-1]} other"
        )
    return type(error)(f"{symbol}: {error}")


def install() -> None:
    for name, (ufunc, operation, symbol) in OPERATORS.items():
        setattr(Tensor, name, _in_place(name, ufunc, operation, symbol))
