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

Gradients of gradients.  Each :class:`Function` has two backward rules: ``backward`` on arrays
(the fast one every ordinary pass runs) and ``backward_graph`` on tensors, written with other
primitives, which ``create_graph=True`` runs with recording on, so the gradients it returns are
tensors with a graph of their own (:func:`nudgenet.autograd.grad`; ``backward(create_graph=True)``
also keeps each leaf's in ``.grad_tensor``, ``.grad`` staying an array).

The arithmetic operators and methods such as ``.exp()`` are installed by
:mod:`nudgenet.functional`, next to the primitives that implement them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from .backend import check_can_require_grad, tensor_array
from .errors import ShapeError
from .grad_mode import MODE, enable_grad
from .graph import CLOCK, NO_GRAPH, check_unchanged, graph_order, leading_to, unbroadcast


class Tensor:
    """An ndarray plus what backprop needs: ``requires_grad``, ``.grad`` and its creator.
    ``Tensor(array)`` wraps the array itself (:func:`tensor` copies)."""

    __slots__ = (
        "data",
        "grad",
        "requires_grad",
        "_creator",
        "_retains_grad",
        "_grad_tensor",
        "name",
        "__weakref__",
    )
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operator

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        if isinstance(data, Tensor):  # its array, shared (a new leaf: torch.nn.Parameter(t)'s)
            data = data.data
        self.data: np.ndarray = tensor_array(data, dtype)
        if requires_grad:
            check_can_require_grad(self.data.dtype)
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

    @property
    def grad_tensor(self) -> Tensor | None:
        """The gradient as a tensor with its graph, set by ``backward(create_graph=True)``
        (unset, None: the slot is filled only then, so creating a tensor costs nothing more);
        None once ``.grad`` is."""
        return getattr(self, "_grad_tensor", None) if self.grad is not None else None

    def zero_grad(self) -> None:
        """Reset ``.grad`` to zeros in place (keeping any view into a flat buffer); drop
        ``.grad_tensor``."""
        if self.grad is not None:
            self.grad.fill(0)
        self._grad_tensor = None

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{extra})"

    # --- backprop -----------------------------------------------------------------------------
    def backward(
        self, gradient=None, retain_graph=None, create_graph: bool = False, *, grad=None
    ) -> None:
        """Accumulate ∂self/∂leaf into every leaf's ``.grad`` that requires gradients.

        ``gradient`` (PyTorch's name; ``grad=``, nudgenet's older one, still works) is the seed
        ∂C/∂self; it may be omitted only for a one-element tensor (seed 1).
        ``create_graph=True`` (PyTorch's): the backward pass is itself recorded, and each leaf's
        accumulated gradient is also kept as a tensor in ``.grad_tensor``, with this pass's graph,
        so a loss built from it backpropagates again; ``.grad`` stays an array (a view of an
        optimiser's flat buffer).  ``retain_graph`` defaults to ``create_graph``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                f"backward() called on a tensor that does not require gradients: {NO_GRAPH}"
            )
        if grad is not None and gradient is not None:
            raise TypeError("backward() got both gradient and grad, two names for its seed")
        seed = seed_gradient(self, gradient if grad is None else grad, "backward()", create_graph)
        retain = create_graph if retain_graph is None else retain_graph
        if create_graph:
            backpropagate([self], [seed], retain, create_graph)
        else:  # the ordinary pass, straight to the walk
            _walk(graph_order([self]), {id(self): seed}, retain, None, _accumulate_leaf)


def seed_gradient(output: Tensor, grad, caller: str, create_graph: bool = False):
    """The seed ∂C/∂output: ``grad`` checked against the output's shape, or 1 for a one-element
    output; an array, or for a recorded backward a tensor (``grad`` itself, if one)."""
    if grad is None:
        if output.data.size != 1:
            raise RuntimeError(
                f"{caller} on a tensor of shape {output.shape} needs a gradient argument of "
                "that shape; only a one-element tensor can be its own seed"
            )
        seed = np.ones(output.shape, dtype=output.dtype)
        return Tensor(seed) if create_graph else seed
    if create_graph:  # a seed tensor requiring gradients stays itself: its graph is followed
        if isinstance(grad, Tensor) and grad.requires_grad and grad.dtype != output.dtype:
            raise TypeError(
                f"{caller}: gradient dtype {grad.dtype} does not match tensor dtype "
                f"{output.dtype} (a seed that requires gradients is not cast)"
            )
        if not (isinstance(grad, Tensor) and grad.requires_grad):
            grad = Tensor(np.asarray(grad.data if isinstance(grad, Tensor) else grad, output.dtype))
        seed = grad
    else:
        seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=output.dtype)
    if seed.shape != output.shape:
        raise ShapeError(
            f"{caller}: gradient shape {seed.shape} does not match tensor shape {output.shape}"
        )
    return seed


def _accumulate_leaf(tensor: Tensor, grad: np.ndarray) -> None:
    """An ordinary pass's gradient, added to ``.grad``; and to ``.grad_tensor`` as a constant
    where a recorded pass left one (it goes on being ``.grad`` with the recorded graphs)."""
    recorded = tensor.grad_tensor
    if tensor.grad is None:
        tensor.grad = np.array(grad, dtype=tensor.dtype, copy=True)
        tensor._grad_tensor = None  # one left from before ``.grad = None`` is not this gradient
    else:
        tensor.grad += grad
    if recorded is not None:
        tensor._grad_tensor = recorded + Tensor(np.asarray(grad, dtype=tensor.dtype))


def _accumulate_recorded(tensor: Tensor, grad: Tensor) -> None:
    """A recorded pass's gradient: the sum in ``.grad`` as always, and as a tensor in
    ``.grad_tensor``: the previous ``.grad_tensor`` with its graph (or, where there is none,
    what ``.grad`` held, as a constant) plus ``grad`` with its graph, as PyTorch sums ``.grad``
    out of place under ``create_graph``."""
    previous = tensor.grad_tensor
    if previous is None and tensor.grad is not None:
        previous = Tensor(tensor.grad.copy())
    tensor._grad_tensor = grad if previous is None else previous + grad
    if tensor.grad is None:
        tensor.grad = np.array(grad.data, dtype=tensor.dtype, copy=True)
    else:
        tensor.grad += grad.data


def backpropagate(
    roots: Sequence[Tensor],
    seeds: Sequence,
    retain_graph: bool,
    create_graph: bool = False,
    targets: set[int] | None = None,
) -> dict[int, object]:
    """Walk the graph below ``roots`` once in reverse, from their ``seeds``, for a recorded
    pass or one toward chosen inputs (an ordinary ``backward()`` goes straight to
    :func:`_walk`).  Without ``targets``, every leaf (and tensor that retains its grad)
    accumulates its gradient; with them (tensor ids), only the paths leading to a target are
    walked and the targets' gradients are returned, by id, touching no ``.grad``.
    ``create_graph``: the tensors' ``backward_graph`` runs, with recording on, instead of
    ``backward``."""
    order = graph_order(roots)
    grads: dict[int, object] = {}
    for root, seed in zip(roots, seeds):
        key = id(root)
        grads[key] = grads[key] + seed if key in grads else seed
    reach = None if targets is None else leading_to(order, targets)

    def rule(creator, grad):
        return _backward_rule(creator, grad, create_graph, reach)

    # a node none of whose inputs leads to a target (a target's own creator): neither run nor
    # released, as PyTorch leaves it
    skip = None if reach is None else lambda c: not any(id(p) in reach for p in c.inputs)

    found: dict[int, object] = {}
    if targets is None:
        accumulate = _accumulate_recorded
    else:  # a target's gradient is kept as retain_grad keeps one, into found, not .grad
        def accumulate(tensor, grad):
            if id(tensor) in targets:
                found[id(tensor)] = grad

    kept = [t for t in order if id(t) in (targets or ()) and not t._retains_grad]
    for t in kept:
        t._retains_grad = True
    try:
        with enable_grad() if create_graph else contextlib.nullcontext():
            _walk(order, grads, retain_graph, rule, accumulate, skip)
    finally:
        for t in kept:
            t._retains_grad = False
    return found


def _walk(order: list, grads: dict, retain_graph: bool, rule, accumulate, skip=None) -> None:
    """The reverse pass over ``order`` from the seeds in ``grads``: each node's ``rule`` (None:
    its array ``backward``) but those ``skip(creator)`` says to pass by, and
    ``accumulate(tensor, grad)`` for the leaves and the tensors that retain their grad."""
    for tensor in reversed(order):
        grad = grads.pop(id(tensor), None)
        if grad is None:
            continue
        creator = tensor._creator
        if creator is None:
            accumulate(tensor, grad)
            continue
        if tensor._retains_grad:
            accumulate(tensor, grad)
        if skip is not None and skip(creator):
            continue
        if creator.released:
            raise RuntimeError(
                f"backward() through the graph a second time: {type(creator).__name__}'s saved "
                "values were released after the first pass; pass retain_graph=True to the "
                "first backward() to walk the graph again"
            )
        if CLOCK.now != creator.recorded_at:
            check_unchanged(creator)
        input_grads = creator.backward(grad) if rule is None else rule(creator, grad)
        if input_grads is None:  # a rule written without its return
            raise TypeError(
                f"{type(creator).__name__}'s backward rule returned None; expected a tuple of "
                "one gradient (or None) per input"
            )
        if not retain_graph:
            creator.release()
        for parent, g in zip(creator.inputs, input_grads):
            if g is None or not parent.requires_grad:
                continue
            g = unbroadcast(g, parent.shape)
            if g.shape != parent.shape:  # a rule's slip, caught here, not in a parameter's .grad
                raise ShapeError(
                    f"{type(creator).__name__}'s backward gives a gradient of shape {g.shape} "
                    f"for an input of shape {parent.shape}"
                )
            key = id(parent)
            grads[key] = grads[key] + g if key in grads else g


def _backward_rule(creator, grad, create_graph: bool, reach: set[int] | None) -> tuple:
    """``creator``'s recorded (``create_graph``) or array backward; with ``reach``, only for
    its inputs in it (asked through ``needs_grad``, restored after; the others get None)."""
    needs = creator.needs_grad
    if reach is None:
        return creator.backward_graph(grad) if create_graph else creator.backward(grad)
    creator.needs_grad = tuple(n and id(p) in reach for n, p in zip(needs, creator.inputs))
    try:
        grads = creator.backward_graph(grad) if create_graph else creator.backward(grad)
    finally:
        creator.needs_grad = needs
    if grads is None:  # a rule without its return: said by the walk
        return None
    return tuple(g if id(p) in reach else None for g, p in zip(grads, creator.inputs))


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
    recorded_at = 0  # the CLOCK tick apply recorded it at

    def forward(self, *arrays: np.ndarray, **options) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:  # pragma: no cover
        raise NotImplementedError

    def backward_graph(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        """The backward rule on tensors, written with other primitives so that it is recorded
        (``create_graph=True``); a primitive without one cannot be differentiated twice."""
        raise NotImplementedError(
            f"{type(self).__name__} has no differentiable backward rule, so create_graph=True "
            "cannot pass through it: define its backward_graph(self, grad), the backward written "
            "with tensor operations on self.inputs"
        )

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
        if MODE.enabled and any(needs):
            fn.inputs, fn.options, fn.recorded_at = inputs, options, CLOCK.now
            out.requires_grad = True
            out._creator = fn
        return out


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """A new tensor holding a copy of ``data``, as ``torch.tensor`` (``Tensor(array)`` wraps an
    array without copying, as ``torch.as_tensor``).  Python floats and lists become the default
    dtype (float32); float32/float64 arrays keep theirs; integer arrays stay integer (labels)."""
    out = Tensor(data.data if isinstance(data, Tensor) else data, requires_grad, dtype)
    if isinstance(data, (np.ndarray, Tensor)) or not out.data.flags.owndata:  # may be shared
        out.data = out.data.copy()
    return out


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor; plain numbers take ``like``'s dtype so no upcast sneaks in."""
    if isinstance(value, Tensor):
        return value
    if like is not None and np.ndim(value) == 0 and like.dtype.kind == "f":
        return Tensor(np.asarray(value, dtype=like.dtype))
    return Tensor(value)
