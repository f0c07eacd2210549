"""Walking a recorded graph: the order of a backward pass, the part of it leading to chosen
tensors, reducing a broadcast gradient to its operand's shape, and refusing a node whose inputs
changed in place since it was recorded (:class:`_Clock`).  Works on any objects with
``_creator``, ``requires_grad`` and ``shape`` (the :class:`~nudgenet.tensor.Tensor` API)."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np

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
    """Ticks at every change of arrays' values in place (an in-place operator on a tensor, an
    optimiser's step, ``load_state_dict``), noting the memory changed by its root array, so that
    views, detached tensors and the outputs a node saved, which share it, count too.  A
    recorded node notes the tick it was recorded at; backward refuses a node whose inputs' or
    saved arrays' memory changed since (its saved values are no longer what the forward used),
    as PyTorch's version counters do, a little more strictly: any input counts, whether its
    backward reads it or not.  One integer comparison per node when nothing changed."""

    now = 0
    changes: dict[int, tuple] = {}  # id(root array) -> (a weak reference to it, the tick)


CLOCK = _Clock


def _root(array: np.ndarray) -> np.ndarray:
    """The array owning ``array``'s memory (itself, or the base of the view)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def changed(arrays) -> None:
    """Note that the memory of ``arrays`` (tensors or arrays) changed in place now."""
    CLOCK.now += 1
    changes = CLOCK.changes
    for array in arrays:
        root = _root(array if isinstance(array, np.ndarray) else array.data)
        key, entry = id(root), changes.get(id(root))
        if entry is None or entry[0]() is not root:  # (forgotten when the array is freed)
            entry = (weakref.ref(root, lambda _, key=key: changes.pop(key, None)), 0)
        changes[key] = (entry[0], CLOCK.now)


def check_unchanged(creator) -> None:
    """RuntimeError where the memory of an input of ``creator``, or of an array it saved for its
    backward, changed in place after it was recorded (:class:`_Clock`)."""
    saved = [(f"input {k}", t.data) for k, t in enumerate(creator.inputs)]
    saved += [(name, v) for name, v in vars(creator).items() if isinstance(v, np.ndarray)]
    for name, array in saved:
        root = _root(array)
        entry = CLOCK.changes.get(id(root))
        if entry is not None and entry[1] > creator.recorded_at and entry[0]() is root:
            raise RuntimeError(
                f"an array {type(creator).__name__} used ({name}, shape {array.shape}) was "
                "changed in place after the forward (by an in-place operator such as -=, through "
                "a view or a detached tensor, by an optimiser's step or load_state_dict), so its "
                "gradient would be wrong: run the forward again after the change, or change a "
                "copy"
            )
