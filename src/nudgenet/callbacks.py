"""Callbacks for :func:`nudgenet.fit`: early stopping, learning-rate schedules, your own hooks.

A callback subclasses :class:`Callback` and overrides any of ``on_train_begin()``,
``on_epoch_begin(epoch)``, ``on_batch_end(step, loss)`` (after each update, while the batch's
gradients are still in ``.grad``), ``on_epoch_end(epoch, logs)`` (``logs`` holds the epoch's
metrics: ``loss``, ``val_loss``, ``accuracy``, ``lr``, ...) and ``on_train_end()``.  ``fit`` sets
``self.model``, ``self.optimizer`` and ``self.history`` (the History being filled) first;
setting ``self.stop_training = True`` ends training after the current epoch.

A callback that sets ``wants_outputs = True`` finds in ``self.outputs``, during
``on_batch_end``, the batch's output of the model's layers, ``{name: array}`` keyed by the
layer's name in the model (as :func:`nudgenet.nn.layers.leaf_layers` names it: ``"1"`` for
``model[1]``; by place, so an activation instance used twice has both outputs), the arrays the
step computed, reused by the next batch: read them, do not keep or change them.  It holds the
output of each activation that follows a ``Linear`` in a Sequential model (and of a ``Linear``
with none after it); the general engine also holds every other layer's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .optim import LRScheduler


class Callback:
    """Base class: every hook does nothing."""

    model = None
    optimizer = None
    history = None
    stop_training = False
    wants_outputs = False  # True: fit fills self.outputs with the batch's layer outputs
    outputs = None

    def on_train_begin(self) -> None:
        pass

    def on_epoch_begin(self, epoch: int) -> None:
        pass

    def on_batch_end(self, step: int, loss: float) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        pass

    def on_train_end(self) -> None:
        pass


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(
        self,
        on_epoch_end: Callable[[int, dict], None] | None = None,
        on_train_begin: Callable[[], None] | None = None,
        on_train_end: Callable[[], None] | None = None,
    ):
        self._epoch_end, self._begin, self._end = on_epoch_end, on_train_begin, on_train_end

    def on_train_begin(self) -> None:
        if self._begin:
            self._begin()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self._epoch_end:
            self._epoch_end(epoch, logs)

    def on_train_end(self) -> None:
        if self._end:
            self._end()


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs
    (as Keras does: with the best epoch ``b``, training stops after epoch ``b + patience``;
    ``patience=0`` stops, like 1, after the first epoch without improvement).  With
    ``restore_best=True`` the model ends with the weights of its best epoch.  ``mode`` is
    ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like names)."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ):
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(min_delta)
        self.maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
        self.restore_best = restore_best

    def on_train_begin(self) -> None:
        self.best = -math.inf if self.maximize else math.inf
        self.best_epoch, self.wait, self.best_state = None, 0, None
        self.stop_training = False
        self.stopped_epoch = None

    def _improved(self, value: float) -> bool:
        if self.maximize:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.monitor not in logs:
            raise KeyError(
                f"EarlyStopping monitors {self.monitor!r}, but the epoch's metrics are "
                f"{sorted(logs)}; pass validation data to fit or monitor another metric"
            )
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stop_training, self.stopped_epoch = True, epoch

    def on_train_end(self) -> None:
        if self.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)


class LearningRateScheduler(Callback):
    """Set the learning rate each epoch from a schedule: an :class:`~nudgenet.optim.LRScheduler`
    (stepped after every epoch) or a function ``epoch -> lr`` (called before every epoch)."""

    def __init__(self, schedule: LRScheduler | Callable[[int], float]):
        self.schedule = schedule

    def on_epoch_begin(self, epoch: int) -> None:
        if not isinstance(self.schedule, LRScheduler):
            self.optimizer.lr = float(self.schedule(epoch))

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if isinstance(self.schedule, LRScheduler):
            self.schedule.step()
