"""Tensor and the reverse-mode graph.

A :class:`Tensor` wraps an ndarray.  Applying a :class:`Function` to tensors that need gradients
records the function (with whatever it saved for its backward rule) as the output's creator.
``loss.backward()`` sorts the recorded graph once, iteratively, and walks it in reverse
topological order, handing each creator the gradient of its output and routing what it returns to
its inputs.  Gradients are reduced back to each input's shape in one place
(:func:`unbroadcast`), so no primitive handles broadcasting itself.

Leaf tensors accumulate into ``.grad`` (in place, so gradients that are views into a flat buffer
stay views).  After a backward pass the graph's saved arrays are released; a second
``backward()`` through the same graph raises, unless the first passed ``retain_graph=True``, in
which case it adds the same gradients again (gradients accumulate, as in PyTorch).

The arithmetic operators and methods such as ``.exp()`` are installed by
:mod:`nudgenet.functional`, next to the primitives that implement them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np

from .backend import get_default_dtype
from .errors import ShapeError

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether operations currently record the graph."""
    return _grad_enabled


@contextlib.contextmanager
def _grad_mode(enabled: bool) -> Iterator[None]:
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, enabled
    try:
        yield
    finally:
        _grad_enabled = previous


class no_grad(contextlib.ContextDecorator):
    """Context manager (or decorator) inside which no graph is recorded: inference, updates."""

    def __enter__(self) -> None:
        self._mode = _grad_mode(False)
        self._mode.__enter__()

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)


def enable_grad() -> contextlib.AbstractContextManager:
    """Context manager that turns graph recording back on inside a ``no_grad`` block."""
    return _grad_mode(True)


def _as_array(data, dtype=None) -> np.ndarray:
    """Floats become the default dtype unless they already are float32/float64 arrays."""
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        if data.dtype.kind == "f" and data.dtype.itemsize < 4:
            return data.astype(get_default_dtype())
        return data
    array = np.asarray(data)
    if array.dtype.kind == "f" or array.dtype == object:
        return array.astype(get_default_dtype())
    return array


class Tensor:
    """An ndarray plus what backprop needs: ``requires_grad``, ``.grad`` and its creator."""

    __slots__ = (
        "data",
        "grad",
        "requires_grad",
        "_creator",
        "_retains_grad",
        "name",
        "__weakref__",
    )
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operator

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        self.data: np.ndarray = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating tensors can require gradients, got dtype {self.data.dtype}"
            )
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._creator: Function | None = None
        self._retains_grad = False
        self.name = name

    # --- array facts -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded operation (inputs, parameters)."""
        return self._creator is None

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(f"item() needs a one-element tensor, got shape {self.shape}")
        return self.data.item()

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph."""
        return Tensor(self.data)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor after backward (e.g. a layer's δ = ∂C/∂z)."""
        self._retains_grad = True
        return self

    def zero_grad(self) -> None:
        """Reset ``.grad`` to zeros in place (keeping any view into a flat buffer)."""
        if self.grad is not None:
            self.grad.fill(0)

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{extra})"

    # --- backprop -----------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate ∂self/∂leaf into every leaf's ``.grad`` that requires gradients.

        ``grad`` is the seed ∂C/∂self; it may be omitted only for a one-element tensor (seed 1).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require gradients: "
                "none of its inputs had requires_grad=True (or it was computed under no_grad)"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() on a tensor of shape {self.shape} needs a gradient argument of "
                    "that shape; only a one-element tensor can be its own seed"
                )
            seed = np.ones(self.shape, dtype=self.dtype)
        else:
            seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if seed.shape != self.shape:
                raise ShapeError(
                    f"backward(): gradient shape {seed.shape} does not match tensor shape "
                    f"{self.shape}"
                )
        _backpropagate(self, seed, retain_graph)

    # Operators and math methods are installed by nudgenet.functional.


def _graph_order(root: Tensor) -> list[Tensor]:
    """Tensors of the recorded graph below ``root``, each after everything it depends on.

    An iterative depth-first post-order: a tensor is appended only once all its inputs have been,
    and marked done when it is expanded (not when first seen), so a tensor reached again through
    a later input still precedes every tensor that uses it.
    """
    order: list[Tensor] = []
    done: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in done:
            continue
        done.add(id(tensor))
        stack.append((tensor, True))
        creator = tensor._creator
        if creator is None:
            continue
        for parent in creator.inputs:
            if parent.requires_grad and id(parent) not in done:
                stack.append((parent, False))
    return order


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reduce a gradient of a broadcast result back to the operand's ``shape`` by summing."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _accumulate_leaf(tensor: Tensor, grad: np.ndarray) -> None:
    if tensor.grad is None:
        tensor.grad = np.array(grad, dtype=tensor.dtype, copy=True)
    else:
        tensor.grad += grad


def _backpropagate(root: Tensor, seed: np.ndarray, retain_graph: bool) -> None:
    order = _graph_order(root)
    grads: dict[int, np.ndarray] = {id(root): seed}
    for tensor in reversed(order):
        grad = grads.pop(id(tensor), None)
        if grad is None:
            continue
        creator = tensor._creator
        if creator is None:
            _accumulate_leaf(tensor, grad)
            continue
        if tensor._retains_grad:
            _accumulate_leaf(tensor, grad)
        if creator.released:
            raise RuntimeError(
                f"backward() through the graph a second time: {type(creator).__name__}'s saved "
                "values were released after the first pass; pass retain_graph=True to the first "
                "backward() to walk the graph again"
            )
        input_grads = creator.backward(grad)
        if not retain_graph:
            creator.release()
        for parent, g in zip(creator.inputs, input_grads):
            if g is None or not parent.requires_grad:
                continue
            g = unbroadcast(g, parent.shape)
            key = id(parent)
            if key in grads:
                grads[key] = grads[key] + g
            else:
                grads[key] = g


class Function:
    """A differentiable primitive: ``forward`` on arrays, ``backward`` from ∂C/∂out to ∂C/∂inputs.

    Subclasses implement ``forward(self, *arrays, **options) -> ndarray``, saving on ``self`` what
    the backward rule needs, and ``backward(self, grad) -> tuple`` with one gradient (or None)
    per input.  ``self.needs_grad[i]`` says whether input ``i`` wants a gradient, so work for
    inputs that need none (a batch of data) can be skipped.  A recorded node keeps the keyword
    ``options`` it was applied with (an axis, a slope, fixed statistics), so the graph can be read
    back as the operations it computes (:mod:`nudgenet.export` does).
    """

    inputs: Sequence[Tensor]
    needs_grad: tuple[bool, ...]
    options: dict
    released = False

    def forward(self, *arrays: np.ndarray, **options) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:  # pragma: no cover
        raise NotImplementedError

    def release(self) -> None:
        """Drop saved arrays once backward has run; keeps the graph's shape for error messages."""
        inputs = self.inputs
        self.__dict__.clear()
        self.inputs = inputs
        self.released = True

    @classmethod
    def apply(cls, *inputs: Tensor, **options) -> Tensor:
        """Run forward on the inputs' data and, when a gradient is needed, record the graph."""
        fn = cls()
        needs = tuple(t.requires_grad for t in inputs)
        fn.needs_grad = needs
        # np.asarray: a NumPy scalar result (a full reduction, 0-d arithmetic) keeps its dtype
        out = Tensor(np.asarray(fn.forward(*[t.data for t in inputs], **options)))
        if _grad_enabled and any(needs):
            fn.inputs, fn.options = inputs, options
            out.requires_grad = True
            out._creator = fn
        return out


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Create a tensor.  Python floats and lists become the default dtype (float32);
    float32/float64 arrays keep theirs; integer arrays stay integer (labels)."""
    if isinstance(data, Tensor):
        data = data.data
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor; plain numbers take ``like``'s dtype so no upcast sneaks in."""
    if isinstance(value, Tensor):
        return value
    if like is not None and np.ndim(value) == 0 and like.dtype.kind == "f":
        return Tensor(np.asarray(value, dtype=like.dtype))
    return Tensor(value)
