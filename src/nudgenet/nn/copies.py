"""A float64 copy of a model, for the work that must not change it (a float64 ONNX graph, the
nudge test, the gradient check): one place for the copy and for saying why it failed."""

from __future__ import annotations

import copy

from .module import Module


def float64_copy(model: Module, purpose: str, error: type[Exception] = TypeError) -> Module:
    """A deep copy of ``model`` in float64; ``error`` (one line naming ``purpose``, what the copy
    is for) where the model holds something that cannot be copied (a lock, an open file)."""
    try:
        return copy.deepcopy(model).double()
    except Exception as failure:
        said = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
        raise error(
            f"{purpose} works on a float64 copy of the model, and this model cannot be copied "
            f"({said}): an attribute of one of its modules cannot be (a lock, an open file?)"
        ) from None
