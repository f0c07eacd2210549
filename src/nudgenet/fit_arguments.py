"""``fit``'s arguments checked for their kind before anything runs, so a mistake is one line
naming the argument, not an error from deep inside the loop: a loss object; an optimiser
(not a name or a class; one of one's own, with ``params``, ``lr``, ``zero_grad()`` and
``step()``, trains on the engine; a checkpoint or a data-parallel fit needs an
``ng.optim.Optimizer``); whole numbers of epochs and rows; a number as ``validation_split``;
callbacks in a list or other iterable; a pair of validation arrays."""

from __future__ import annotations

import numpy as np

from .callbacks import Callback
from .optim import LRScheduler, Optimizer

_HINTS = {"Checkpoint": " (pass it as checkpoint=...)"}  # nudgenet objects given as callbacks
_OWN_OPTIMIZER = ("params", "lr", "zero_grad", "step")  # what fit reads of any optimiser


def check_kinds(loss_fn, optimizer, epochs, batch_size, callbacks, validation_data,
                checkpoint=None, distributed=False, validation_split=0.0) -> None:  # fmt: skip
    """TypeError for the first argument of the wrong kind (the rule: module docstring)."""
    if isinstance(loss_fn, type):
        raise TypeError(f"fit: loss_fn is the class {loss_fn.__name__}; pass an instance, "
                        f"{loss_fn.__name__}()")  # fmt: skip
    if isinstance(optimizer, type) or not callable(getattr(optimizer, "step", None)):
        got = f"the class {optimizer.__name__}" if isinstance(optimizer, type) else repr(optimizer)
        raise TypeError(f"fit: expected an optimizer built on the model's parameters, such as "
                        f"ng.optim.SGD(model.parameters(), lr=0.05); got {got}")  # fmt: skip
    lacks = [name for name in _OWN_OPTIMIZER if not hasattr(optimizer, name)]
    if not isinstance(optimizer, Optimizer) and lacks:
        raise TypeError(f"fit: an optimizer of one's own needs params, lr, zero_grad() and "
                        f"step(), as an ng.optim.Optimizer has; {type(optimizer).__name__} lacks "
                        f"{', '.join(lacks)}")  # fmt: skip
    if not isinstance(optimizer, Optimizer) and (checkpoint is not None or distributed):
        needs = "a checkpoint" if checkpoint is not None else "a data-parallel fit"
        raise TypeError(f"fit: {needs} needs an ng.optim.Optimizer (its flat buffers and "
                        f"state), got {type(optimizer).__name__}; subclass "
                        "ng.optim.Optimizer")  # fmt: skip
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"fit: {name} must be a whole number (an int), got {value!r}")
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float,
                                                                              np.number)):
        raise TypeError(f"fit: validation_split must be a fraction in [0, 1) (a float, 0: "
                        f"none), got {validation_split!r}")  # fmt: skip
    if isinstance(callbacks, (Callback, str)) or not (callbacks is None or _iterable(callbacks)):
        raise TypeError(f"fit: callbacks must be a list, got {type(callbacks).__name__} "
                        "(write callbacks=[...])")  # fmt: skip
    sequence = isinstance(validation_data, (tuple, list))
    if validation_data is not None and not (sequence and len(validation_data) == 2):
        got = type(validation_data).__name__
        if sequence:
            got = f"a {got} of {len(validation_data)} item{'s' * (len(validation_data) != 1)}"
        weights = sequence and len(validation_data) == 3  # Keras's (x_val, y_val, weights)
        raise TypeError(f"fit: validation_data must be a pair (x_val, y_val), got {got}" + (
            " (weighted validation rows are not taken: score them with ng.evaluate(model, "
            "loss_fn, x_val, y_val, sample_weight=...))" if weights else ""))  # fmt: skip


def check_callbacks(callbacks: list) -> None:
    """TypeError for the first of ``callbacks`` that is no Callback, naming the option it
    belongs to where it is one of nudgenet's other objects (a schedule, a Checkpoint)."""
    for callback in callbacks:
        if not isinstance(callback, Callback):
            hint = _HINTS.get(type(callback).__name__, "")
            if isinstance(callback, LRScheduler):
                hint = " (a learning-rate schedule: pass ng.LearningRateScheduler(it))"
            raise TypeError(f"fit: callbacks must be Callback objects, got "
                            f"{type(callback).__name__}{hint}")  # fmt: skip


def _iterable(value) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return True
