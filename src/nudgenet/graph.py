"""Walking a recorded graph: the order of a backward pass, the part of it leading to chosen
tensors, reducing a broadcast gradient to its operand's shape, and refusing a node whose inputs
changed in place since it was recorded (:class:`_Clock`).  Works on any objects with
``_creator``, ``requires_grad`` and ``shape`` (the :class:`~nudgenet.tensor.Tensor` API)."""

from __future__ import annotations

from collections.abc import Sequence

# why a tensor has no graph to differentiate (the errors of backward() and grad())
NO_GRAPH = (
    "none of its inputs had requires_grad=True, it was computed under no_grad, or it is made "
    "of a gradient taken without create_graph=True (pass that to the grad() or backward() that "
    "took it)"
)


def graph_order(roots: Sequence) -> list:
    """Tensors of the recorded graph below ``roots``, each after everything it depends on.

    An iterative depth-first post-order: a tensor is appended only once all its inputs have been,
    and marked done when it is expanded (not when first seen), so a tensor reached again through
    a later input still precedes every tensor that uses it.
    """
    order: list = []
    done: set[int] = set()
    stack: list[tuple[object, bool]] = list(zip(roots[::-1], [False] * len(roots)))
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


def unbroadcast(grad, shape: tuple[int, ...]):
    """Reduce a gradient (an array, or a tensor in a recorded backward) of a broadcast result
    back to the operand's ``shape`` by summing."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:  # fewer axes than the operand: no broadcast made it (the caller refuses it)
        return grad
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def leading_to(order: list, targets: set[int]) -> set[int]:
    """The ids of the tensors in ``order`` (dependencies first) from which a target is reached."""
    reach = set()
    for tensor in order:
        creator = tensor._creator
        if id(tensor) in targets or (
            creator is not None and any(id(p) in reach for p in creator.inputs)
        ):
            reach.add(id(tensor))
    return reach


class _Clock:
    """Ticks at every change of a tensor's values in place (an in-place operator, an optimiser's
    step): a recorded node notes the tick it was recorded at, and backward refuses a node one of
    whose inputs changed since (its saved arrays no longer hold what the forward used), as
    PyTorch's version counters do.  One integer comparison per node when nothing changed."""

    now = 0

    @classmethod
    def tick(cls) -> int:
        cls.now += 1
        return cls.now


CLOCK = _Clock


def changed(tensors) -> None:
    """Mark ``tensors`` as changed in place now (:class:`_Clock`)."""
    now = CLOCK.tick()
    for t in tensors:
        t._version = now


def check_unchanged(creator) -> None:
    """RuntimeError where an input of ``creator`` changed in place after it was recorded."""
    for k, t in enumerate(creator.inputs):
        if t._version > creator.recorded_at:
            raise RuntimeError(
                f"a tensor {type(creator).__name__} used (input {k}, shape {t.shape}) was changed "
                "in place after the forward (by an in-place operator such as -=, or an "
                "optimiser's step), so its gradient would be wrong: run the forward again after "
                "the change, or change a copy"
            )
