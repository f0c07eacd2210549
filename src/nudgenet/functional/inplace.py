"""Tensor's in-place operators ``+= -= *= /= **=``, with PyTorch's rules.

- No graph to record (under ``no_grad``, or neither operand requires gradients): ``.data`` is
  updated in place and the tensor itself is the result, so ``p -= lr * p.grad`` under
  ``no_grad`` updates the parameter (its ``.data`` stays a view into an optimiser's flat buffer).
  A graph recorded before that used the tensor then refuses to backpropagate through it (its
  saved arrays changed: :func:`~nudgenet.tensor.changed`), as PyTorch's version check does.
- A leaf that requires gradients, while recording: a RuntimeError, as PyTorch's (a parameter
  changed in place would have no gradient to give).
- A tensor in a graph while recording (a non-leaf, or a tensor combined in place with one that
  requires gradients): the out-of-place result, which Python binds to the name, so gradients
  are right, keeping the tensor's shape and dtype (else a one-line error); other names for the
  old tensor keep its value, where PyTorch records the change on the tensor itself.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..grad_mode import MODE
from ..graph import changed
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
                return _recorded(self, other, operation, symbol)
        value = other.data if isinstance(other, Tensor) else other
        try:
            ufunc(self.data, value, out=self.data)
        except (TypeError, ValueError) as error:
            raise _refused(self.data, value, symbol, error, ufunc) from None
        changed((self,))  # a graph that saved it refuses to backpropagate through it
        return self

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"``t {symbol} other``: in place where no graph is recorded; a RuntimeError on a leaf "
        "that requires gradients while recording; on a tensor in a graph the out-of-place "
        "(recorded) result, which is gradient-correct (:mod:`nudgenet.functional.inplace`)."
    )
    return method


def _recorded(self: Tensor, other, operation, symbol: str) -> Tensor:
    """The recorded result of ``self <op> other``, which must keep ``self``'s shape and dtype as
    an in-place result does (a plain float operand taken in ``self``'s dtype, as NumPy's
    in-place cast does); a one-line error otherwise."""
    if not isinstance(other, Tensor) and self.dtype.kind == "f":
        value = np.asarray(other)
        other = value.astype(self.dtype) if value.dtype.kind in "fiub" else other
    result = operation(self, other)
    if result.shape != self.shape:
        given = other.shape if isinstance(other, Tensor) else np.shape(other)
        raise _shape_refused(self.shape, given, symbol)
    if result.dtype != self.dtype:
        raise _dtype_refused(self.dtype, result.dtype, symbol)
    return result


def _shape_refused(shape: tuple, other: tuple, symbol: str) -> ShapeError:
    return ShapeError(
        f"{symbol} on a tensor of shape {shape} needs an operand that broadcasts to that shape, "
        f"got shape {other}"
    )


def _dtype_refused(dtype, result, symbol: str) -> TypeError:
    return TypeError(
        f"{symbol} on a tensor of dtype {dtype}: the result is {result}, which cannot be stored "
        f"in place; write t = t {symbol[:-1]} other for a new tensor"
    )


def _refused(data: np.ndarray, value, symbol: str, error: Exception, ufunc) -> Exception:
    """Why NumPy would not update ``data`` in place with ``ufunc``, said in one line."""
    value = value if isinstance(value, (int, float, complex)) else np.asarray(value)
    try:
        fits = np.broadcast_shapes(data.shape, np.shape(value)) == data.shape
    except ValueError:
        fits = False
    if not fits:
        return _shape_refused(data.shape, np.shape(value), symbol)
    empty = value if isinstance(value, (int, float, complex)) else value.ravel()[:0]
    result = ufunc(data.ravel()[:0], empty).dtype  # the ufunc's own result type (/ of ints)
    if not np.can_cast(result, data.dtype, "same_kind"):
        return _dtype_refused(data.dtype, result, symbol)
    if not data.flags.writeable:
        return ValueError(
            f"{symbol}: the tensor's data is read-only; write t = t {symbol[:-1]} other"
        )
    kind = TypeError if isinstance(error, TypeError) else ValueError  # (NumPy's own classes
    return kind(f"{symbol}: {error}")  # need more than a message)


def install() -> None:
    for name, (ufunc, operation, symbol) in OPERATORS.items():
        setattr(Tensor, name, _in_place(name, ufunc, operation, symbol))
