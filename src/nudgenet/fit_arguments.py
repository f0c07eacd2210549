"""``fit``'s arguments checked for their kind before anything runs (a loss object, an optimiser,
whole numbers of epochs and rows, a list of callbacks, a pair of validation arrays), so a
mistake is one line naming the argument, not an error from deep inside the loop."""

from __future__ import annotations

import numpy as np

from .callbacks import Callback
from .optim import LRScheduler, Optimizer


def check_kinds(loss_fn, optimizer, epochs, batch_size, callbacks, validation_data) -> None:
    """TypeError for the first argument of the wrong kind (the rule: module docstring)."""
    if isinstance(loss_fn, type):
        raise TypeError(f"fit: loss_fn is the class {loss_fn.__name__}; pass an instance, "
                        f"{loss_fn.__name__}()")  # fmt: skip
    if not isinstance(optimizer, Optimizer):
        got = f"the class {optimizer.__name__}" if isinstance(optimizer, type) else repr(optimizer)
        raise TypeError(f"fit: expected an optimizer built on the model's parameters, such as "
                        f"ng.optim.SGD(model.parameters(), lr=0.05); got {got}")  # fmt: skip
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"fit: {name} must be a whole number (an int), got {value!r}")
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"fit: callbacks must be a list, got {type(callbacks).__name__} "
                        "(write callbacks=[...])")  # fmt: skip
    for callback in callbacks or ():
        if not isinstance(callback, Callback):
            hint = (" (a learning-rate schedule: pass ng.LearningRateScheduler(it))"
                    if isinstance(callback, LRScheduler) else "")  # fmt: skip
            raise TypeError(f"fit: callbacks must be Callback objects, got "
                            f"{type(callback).__name__}{hint}")  # fmt: skip
    pair = isinstance(validation_data, (tuple, list)) and len(validation_data) == 2
    if validation_data is not None and not pair:
        raise TypeError(f"fit: validation_data must be a pair (x_val, y_val), got "
                        f"{type(validation_data).__name__}")  # fmt: skip
