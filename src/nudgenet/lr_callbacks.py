"""The learning-rate callbacks of :func:`nudgenet.fit` (Keras's names and rules):
:class:`LearningRateScheduler` sets the rate each epoch from a schedule, and
:class:`ReduceLROnPlateau` cuts it when a monitored quantity stops improving."""

from __future__ import annotations

import decimal
import functools
import inspect
import math
import numbers
from collections.abc import Callable

from .callbacks import Callback, _MonitorCallback, check_whole
from .files import may_write
from .optim import LRScheduler


class LearningRateScheduler(Callback):
    """Set the learning rate each epoch from a schedule: an :class:`~nudgenet.optim.LRScheduler`
    of fit's optimiser (stepped after every epoch; one of another optimiser is a ValueError), or
    a function called before every epoch: ``schedule(epoch)``, or Keras's ``schedule(epoch,
    lr)`` with the current rate where its second parameter is required, positional-only (a
    dict's ``get``) or named ``lr`` / ``learning_rate`` (:func:`_schedule_arguments`).  A rate
    below 0 is 0 where rounding explains it (a millionth of the largest rate it set yet, at
    least 1e-12), else, as a rate that is not finite or not a number, a ValueError."""

    writes_parameters = False  # the learning rate only (may_write_parameters)

    def __init__(self, schedule: LRScheduler | Callable[[int], float]):
        self.schedule = schedule
        self._largest = 0.0  # the largest rate set yet: the scale of a decay's rounding below 0

    def training_settings(self) -> dict:
        """The schedule: a function's qualified name and the numbers written in it, in order
        (:func:`_numbers_in`: ``lambda epoch: 0.1`` and ``lambda epoch: 0.001`` differ), or an
        LRScheduler's class and its numbers (``base_lr``, ``gamma``, ``step_size``, ...; not its
        ``epoch``, which is state)."""
        schedule = self.schedule
        if not isinstance(schedule, LRScheduler):
            return {"schedule": getattr(schedule, "__qualname__", type(schedule).__name__),
                    "numbers": _numbers_in(schedule)}  # fmt: skip
        numbers = {k: v for k, v in vars(schedule).items()
                   if isinstance(v, (int, float)) and k != "epoch"}  # fmt: skip
        return {"schedule": type(schedule).__name__, **numbers}

    def state_dict(self) -> dict:
        """The schedule's state, for a :class:`~nudgenet.optim.LRScheduler`; for a function,
        the largest rate yet (the scale of the rounding taken as 0), so a resumed run sets the
        same rates as the run it resumes."""
        if isinstance(self.schedule, LRScheduler):
            return self.schedule.state_dict()
        return {"largest": self._largest}

    def load_state_dict(self, state: dict) -> None:
        if isinstance(self.schedule, LRScheduler):
            if state:
                self.schedule.load_state_dict(state)
        elif "largest" in state:
            self._largest = float(state["largest"])
        else:  # a checkpoint written before the largest rate was kept: the rate it left
            self._largest = max(self._largest, self.optimizer.lr)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._largest = 0.0  # a new run: no rate set yet
        schedule = self.schedule
        if isinstance(schedule, LRScheduler) and schedule.optimizer is not self.optimizer:
            raise ValueError("LearningRateScheduler: the schedule steps another optimizer than "
                             "fit's; build it on the one fit trains with")  # fmt: skip

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if not isinstance(self.schedule, LRScheduler):
            value = self.schedule(*_schedule_arguments(self.schedule, epoch, self.optimizer))
            try:
                if isinstance(value, (str, bytes, bool)):  # float() takes them; a rate is not
                    raise TypeError
                lr = float(value)
            except (TypeError, ValueError, OverflowError):
                raise ValueError(f"LearningRateScheduler: the schedule gave {value!r} for epoch "
                                 f"{epoch}; expected a number") from None  # fmt: skip
            if -max(_ROUNDING, 1e-6 * self._largest) <= lr <= 0:  # 0.1 - 11 * 0.1/11, or -0.0
                lr = 0.0
            if not lr >= 0 or math.isinf(lr):
                raise ValueError(f"LearningRateScheduler: the schedule gave lr={lr!r} for epoch "
                                 f"{epoch}; expected a finite number >= 0")  # fmt: skip
            self.optimizer.lr, self._largest = lr, max(self._largest, lr)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if isinstance(self.schedule, LRScheduler):
            self.schedule.step()


_ROUNDING = 1e-12  # a rate at most this far below 0 is 0, rounded (no rate that trains is so small)
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _schedule_arguments(schedule, epoch: int, optimizer) -> tuple:
    """Keras's ``(epoch, lr)`` for a function whose second parameter is required,
    positional-only (a builtin's: ``{0: 0.1}.get``) or named ``lr`` / ``learning_rate`` (``lr``
    the current rate), else ``(epoch,)``: a second parameter with another name and a default
    keeps its default (``lambda epoch, r=rate: r``, Python's way to capture a value), and a
    function of ``*args`` or of no signature is called as before."""
    try:
        parameters = list(inspect.signature(schedule).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin, np.vectorize)
        return (epoch,)
    second = parameters[1] if len(parameters) > 1 and parameters[0].kind in _POSITIONAL else None
    if second is None or second.kind not in _POSITIONAL:
        return (epoch,)
    keras = (second.default is second.empty or second.kind is second.POSITIONAL_ONLY
             or second.name in ("lr", "learning_rate"))  # fmt: skip
    return (epoch, optimizer.lr) if keras else (epoch,)


class ReduceLROnPlateau(_MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs (Keras's callback and rules).

    After each epoch: during a cooldown (``cooldown`` epochs after a reduction) the count of
    epochs without improvement stays 0; an improvement on the best value resets it; otherwise it
    grows, and on reaching ``patience`` the rate becomes max(lr · factor, ``min_lr``) (unless it
    is already at ``min_lr`` or below), the cooldown starts and the count restarts.  ``mode``:
    ``"min"``, ``"max"``, or ``"auto"`` (max where higher is better: accuracy, R², a score,
    ...; :func:`nudgenet.metrics.higher_is_better`).  The epoch's
    ``lr`` in the History is the rate that epoch trained with; ``verbose=1`` prints a line for
    each reduction (where :func:`~nudgenet.files.may_write`: rank 0 of a distributed fit).  A
    ``monitor`` missing from the epoch's metrics is an error (Keras warns).
    """

    writes_parameters = False  # the learning rate only (may_write_parameters)

    _state = ("best", "wait", "cooldown_counter")
    _training_settings = (
        *_MonitorCallback._training_settings, "factor", "patience", "cooldown", "min_lr"
    )

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ):
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        check_whole("ReduceLROnPlateau", patience=patience, cooldown=cooldown)
        if min_lr < 0:
            raise ValueError(f"ReduceLROnPlateau: min_lr must be >= 0, got {min_lr}")
        super().__init__(monitor, mode, min_delta)
        self.factor, self.patience, self.cooldown = float(factor), int(patience), int(cooldown)
        self.verbose, self.min_lr = verbose, float(min_lr)
        self.on_train_begin()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset_best()
        self.wait = self.cooldown_counter = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self._current(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and self.optimizer.lr > self.min_lr:
                self.optimizer.lr = max(self.optimizer.lr * self.factor, self.min_lr)
                if self.verbose > 0 and may_write():  # rank 0 alone, in a distributed fit
                    print(
                        f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                        f"{self.optimizer.lr:.4g}.",
                        flush=True,
                    )
                self.cooldown_counter, self.wait = self.cooldown, 0


def _numbers_in(schedule) -> list[float]:
    """The numbers a schedule is written or built with, in the order they appear: a Python
    function's constants (and those of the functions defined in it) and the numbers among its
    defaults and its closure's values; a ``functools.partial``'s numbers among its arguments and
    keywords, then its function's; an object's ``__call__``'s (a method's function's, for a
    bound method); numbers inside tuples too (:func:`_numbers`).  Only numbers given as such
    count: a list, an array, a module global or an object's attributes may change as the run
    goes (a counter, the rates so far, the rank), so they are state, not settings (a schedule
    object with its rate in an attribute is compared by its class); and the code is not compared:
    Python versions compile it differently, and a run resumed under another one is the same run.
    A builtin (``dict.get``) gives none."""
    found: list[float] = []
    while isinstance(schedule, functools.partial):
        found += _numbers([*schedule.args, *schedule.keywords.values()])
        schedule = schedule.func
    if callable(schedule) and not inspect.isroutine(schedule):  # an object with __call__
        schedule = type(schedule).__call__
    function = getattr(schedule, "__func__", schedule)  # a bound method's function
    if not hasattr(function, "__code__"):
        return found
    found += _numbers([*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values(),
                       *(c.cell_contents for c in function.__closure__ or () if _filled(c))])
    codes = [function.__code__]
    while codes:
        code = codes.pop(0)
        found += _numbers(code.co_consts)
        codes += [c for c in code.co_consts if inspect.iscode(c)]
    return found


def _numbers(values) -> list[float]:
    """The finite numbers among ``values`` (Fractions and Decimals too), and inside their tuples,
    frozensets and ranges (which cannot change: milestones, a table of rates); not inside lists,
    arrays or other objects, which may (state)."""
    found = []
    for value in values:
        if isinstance(value, (numbers.Real, decimal.Decimal)) and not isinstance(value, bool):
            found += [float(value)] if math.isfinite(value) else []
        elif isinstance(value, range):  # (its bounds: a range may be long)
            found += [float(value.start), float(value.stop), float(value.step)]
        elif isinstance(value, (tuple, frozenset)):
            found += _numbers(sorted(value, key=repr) if isinstance(value, frozenset) else value)
    return found


def _filled(cell) -> bool:
    """Whether a closure's cell holds a value (one defined later in its scope may not yet)."""
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True
