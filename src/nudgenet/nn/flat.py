"""One contiguous buffer for many parameters, and one for their gradients: the whole rule.

:class:`FlatParameters` copies each parameter's values into a slice of a single array and
rebinds the parameter's ``.data`` (and ``.grad``) to a view of that slice.  Zeroing every
gradient is then one ``fill``, an optimiser step is a few vectorised operations on the whole
buffer, and an allreduce across processes is one call.

The buffer holds one dtype: unlike PyTorch's optimisers, which keep each parameter's own,
parameters of mixed dtypes are refused (``model.to(dtype)`` makes them one).

A buffer stays *current* while every parameter still holds the very views it was given and the
``requires_grad`` it had; a parameter moved, converted (``Module.to``) or rebound to any other
array makes it stale, and whoever holds it re-packs (a new ``FlatParameters`` of the same
parameters).  A frozen parameter (``requires_grad=False``) keeps its place in the buffer;
:attr:`FlatParameters.trained` says which stretches an update touches, and follows a parameter
frozen or unfrozen later (:meth:`FlatParameters.follow_freezing`) without re-packing.
Optimisers own their buffer and show it as ``optimizer.flat_params`` /
``optimizer.flat_grads``; :func:`zero_grad` serves ``Module.zero_grad``.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np

from ..tensor import Tensor

# id(parameter) -> the buffer that last packed it (weak: a buffer nobody holds is forgotten)
_packed_by: weakref.WeakValueDictionary[int, FlatParameters] = weakref.WeakValueDictionary()


class FlatParameters:
    """Parameters packed in order into ``self.data``; their gradients into ``self.grad``.

    ``spare`` elements follow the gradients in one array (``self.grad_and_spare``; the spare
    part is ``self.spare``): a data-parallel step sends its loss with its gradients in one
    message (:mod:`nudgenet.distributed`).

    ``storage``: the ``(data, grad_and_spare)`` arrays to pack into instead of new ones (a
    data-parallel node's shared memory, :mod:`nudgenet.distributed.node`), of the parameters'
    dtype and sizes; with ``write_data=False`` the parameters are bound to ``data`` without
    writing their values there (another process sharing it wrote the same ones)."""

    def __init__(
        self,
        params: Sequence[Tensor],
        spare: int = 0,
        storage: tuple[np.ndarray, np.ndarray] | None = None,
        write_data: bool = True,
    ):
        params = list(params)
        if not params:
            raise ValueError("expected at least one parameter, got an empty list")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("the same parameter appears more than once in the list")
        dtype = _one_dtype(params)
        total = sum(p.data.size for p in params)
        self.params = params
        if storage is None:
            self.data = np.empty(total, dtype=dtype)
            self.grad_and_spare = np.zeros(total + spare, dtype=dtype)
        else:
            self.data, self.grad_and_spare = storage
            shapes = [(a.dtype, a.shape) for a in storage]
            if shapes != [(dtype, (total,)), (dtype, (total + spare,))]:
                raise ValueError(
                    f"storage must be {dtype} arrays of shapes ({total},) and ({total + spare},) "
                    f"for these parameters, got {shapes}"
                )
            self.grad_and_spare.fill(0)
        self.grad, self.spare = self.grad_and_spare[:total], self.grad_and_spare[total:]
        if not spare:  # the gradients' own array: each parameter's .grad is a view of it
            self.grad = self.grad_and_spare
        offset = 0
        for p in params:
            end = offset + p.data.size
            if write_data:
                self.data[offset:end] = p.data.ravel()
            if p.grad is not None:
                self.grad[offset:end] = p.grad.ravel()
            p.data = self.data[offset:end].reshape(p.data.shape)
            p.grad = self.grad[offset:end].reshape(p.data.shape)
            _packed_by[id(p)] = self
            offset = end
        # the very view objects handed out, and requires_grad: a parameter still holding them
        # lives in this buffer as packed
        self._views = [(p, p.data, p.grad, p.requires_grad) for p in params]
        self.trained = self.stretches([p.requires_grad for p in params])  # None: all of it

    def is_current(self) -> bool:
        """True while every parameter still holds the views of this buffer that it was given
        (none was re-packed, converted or rebound, not even to another view of the buffer) and
        the ``requires_grad`` it had (none was frozen or unfrozen): identity checks only, since
        this runs before every optimiser step."""
        for p, data, grad, trained in self._views:
            if p.data is not data or p.grad is not grad or p.requires_grad is not trained:
                return False
        return True

    def follow_freezing(self) -> bool:
        """Take each parameter's ``requires_grad`` as it is now (frozen or unfrozen since it was
        packed; :attr:`trained` follows) and return True, where every parameter still holds this
        buffer's views; False, changing nothing, where one was rebound or converted.  For a
        buffer that cannot be re-packed (a data-parallel node's shared memory)."""
        if any(p.data is not data or p.grad is not grad for p, data, grad, _ in self._views):
            return False
        self._views = [(p, data, grad, p.requires_grad) for p, data, grad, _ in self._views]
        self.trained = self.stretches([p.requires_grad for p in self.params])
        return True

    def stretches(self, chosen: Sequence[bool]) -> tuple[slice, ...] | None:
        """The stretches of the buffer whose parameters are ``chosen`` (one flag per parameter,
        in order), neighbours merged, as slices; None when every one is (the common case: an
        update takes the whole buffer)."""
        if all(chosen):
            return None
        runs, offset = [], 0
        for p, take in zip(self.params, chosen):
            end = offset + p.data.size
            if take and runs and runs[-1][1] == offset:
                runs[-1][1] = end
            elif take:
                runs.append([offset, end])
            offset = end
        return tuple(slice(a, b) for a, b in runs)

    def pieces(self, stretches: tuple[slice, ...], part: slice | None, most: int) -> list[slice]:
        """The ``stretches`` (:meth:`stretches`) inside ``part`` of the buffer (None: all of
        it), as slices of that part, cut into pieces of at most ``most`` elements."""
        start, stop, _ = (part or slice(None)).indices(self.data.size)
        pieces = []
        for run in stretches:
            low, high = max(run.start, start), min(run.stop, stop)
            pieces += [slice(i - start, min(i + most, high) - start)
                       for i in range(low, high, most)]  # fmt: skip
        return pieces

    def restore(self) -> None:
        """Bind the parameters back to this buffer's views, which take the values and
        gradients the parameters hold now, where another buffer packed them meanwhile (a
        data-parallel fit's, :mod:`nudgenet.distributed`): arrays taken from the parameters
        before it hold the values after it, as they do after a fit in one process.  A parameter
        converted to another dtype or shape meanwhile is left where it is."""
        for p, data, grad, _ in self._views:
            if p.data is data or p.data.shape != data.shape or p.data.dtype != data.dtype:
                continue
            data[...] = p.data
            grad[...] = 0 if p.grad is None else p.grad
            p.data, p.grad = data, grad
            _packed_by[id(p)] = self

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero with one fill, and drop its ``.grad_tensor``
        (as :meth:`Tensor.zero_grad` does: a recorded backward's, with that step's graph)."""
        self.grad.fill(0)
        for p in self.params:
            p._grad_tensor = None


def packed(params: Sequence[Tensor]) -> FlatParameters | None:
    """The current buffer holding exactly ``params`` in order (no more, no fewer), or None."""
    params = list(params)
    owner = _packed_by.get(id(params[0])) if params else None
    if (
        owner is not None
        and len(owner.params) == len(params)
        and all(a is b for a, b in zip(owner.params, params))
        and owner.is_current()
    ):
        return owner
    return None


def _one_dtype(params: Sequence[Tensor]) -> np.dtype:
    """The parameters' one dtype: a buffer holds one, so parameters of mixed dtypes are refused
    (PyTorch's optimisers keep each its own; converting them silently would change what a layer
    computes)."""
    dtypes = sorted({p.dtype for p in params}, key=str)
    if len(dtypes) > 1:
        found = ", ".join(str(d) for d in dtypes)
        raise TypeError(
            f"parameters of mixed dtypes ({found}): one flat buffer holds one dtype; make them "
            "one first (model.to(dtype), model.float() or model.double())"
        )
    return dtypes[0]


def flatten(params: Sequence[Tensor]) -> FlatParameters:
    """The buffer holding exactly ``params`` in order, packing them into a new one if needed."""
    params = list(params)
    owner = packed(params)
    return owner if owner is not None else FlatParameters(params)


def zero_grad(params: Sequence[Tensor]) -> None:
    """Zero the gradients of ``params``: one fill when they are exactly one current buffer's,
    else each parameter's own (so a buffer shared with other parameters is left alone).

    Never None, whatever ``set_to_none`` Module's and Optimizer's ``zero_grad`` are given
    (PyTorch's default is True): a packed gradient is a view of the buffer, and None would
    unbind it, so the buffer would be re-packed at every step.  Unlike PyTorch, which skips a
    parameter whose gradient is None, a step then still applies weight decay and momentum."""
    buffer = packed(params)
    if buffer is not None:
        buffer.zero_grad()
        return
    for p in params:
        p.zero_grad()
