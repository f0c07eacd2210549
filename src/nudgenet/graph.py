"""Walking a recorded graph: the order of a backward pass, the part of it leading to chosen
tensors, and reducing a broadcast gradient to its operand's shape.  Works on any objects with
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
