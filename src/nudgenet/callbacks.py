"""Callbacks for :func:`nudgenet.fit`: early stopping, a divergence guard, learning-rate
schedules, your own hooks.

A callback subclasses :class:`Callback` and overrides any of Keras's hooks; every hook gets
``logs``, a dict, passed on from one callback to the next (what one adds, the next sees):

* ``on_train_begin(logs)`` and ``on_epoch_begin(epoch, logs)``: ``logs`` is empty;
* ``on_train_batch_begin(batch, logs)``: ``size``, the batch's rows;
* ``on_train_batch_end(batch, logs)``: ``size`` and ``loss``, the batch's loss (after the
  update, while the batch's gradients are still in ``.grad``);
* ``on_epoch_end(epoch, logs)``: the epoch's metrics (``loss``, ``accuracy``, ``val_loss``,
  ``lr``, ``seconds``, ..., and with ``fit(diagnostics=True)`` the per-layer
  ``grad_norm/<layer>`` and ``dead_units/<layer>``); entries a callback adds are recorded in the
  History and shown on the progress line with the others;
* ``on_train_end(logs)``: the last epoch's logs (empty when no epoch ran).

Built in: :class:`EarlyStopping` and :class:`LambdaCallback` (Keras's names and rules), the
learning-rate callbacks :class:`~nudgenet.lr_callbacks.LearningRateScheduler` and
:class:`~nudgenet.lr_callbacks.ReduceLROnPlateau`, and
:class:`~nudgenet.divergence.TerminateOnDivergence`.

``on_batch_begin(batch, logs)`` / ``on_batch_end(batch, logs)`` are Keras's older names: the
default ``on_train_batch_begin`` / ``on_train_batch_end`` call them, so override either name.
``batch`` and ``epoch`` count from 0.  ``fit`` sets ``self.model``, ``self.optimizer`` and
``self.history`` first; the History records an epoch's logs after every callback's
``on_epoch_end`` ran (as Keras's does).  Setting ``self.stop_training = True`` ends training
after the current epoch, and the History's ``stop_reason`` becomes the callback's
``stop_reason`` (``"stopped"``; ``"early_stopping"`` for :class:`EarlyStopping`,
``"diverged"`` for :class:`TerminateOnDivergence`); Keras's ``self.model.stop_training = True``
does the same, with ``"stopped"``.  A callback whose class sets ``reports_divergence = True``
belongs to code that reports a training loss that is not finite itself: ``fit`` then stops
without its :class:`~nudgenet.DivergenceWarning` (the scikit-learn estimators raise ValueError).

A callback that sets ``wants_outputs = True`` finds in ``self.outputs``, during
``on_train_batch_end``, the batch's output of the model's layers, ``{name: array}`` keyed by the
layer's name in the model (as :func:`nudgenet.nn.layers.leaf_layers` names it: ``"1"`` for
``model[1]``; by place, so an activation instance used twice has both outputs), the arrays the
step computed, reused by the next batch: read them, do not keep or change them.  It holds every
leaf layer's output, the same names and values whether ``fit`` runs the compiled step or the
engine.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings
import weakref
from collections.abc import Callable

import numpy as np

from .errors import caller_stacklevel
from .files import may_write
from .metrics import higher_is_better

HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_batch_begin",
    "on_batch_end",
)


class Callback:
    """Base class: every hook does nothing (the train-batch hooks call their older aliases)."""

    model = None
    optimizer = None
    history = None
    checkpointed = False  # fit sets it: whether this run saves checkpoints (may be resumed)
    stop_training = False
    stop_reason = "stopped"  # the History's stop_reason when this callback stops training
    wants_outputs = False  # True: fit fills self.outputs with the batch's layer outputs
    outputs = None
    # whether a hook may change the parameters or the optimiser's state (not its learning rate)
    # in place: see may_write_parameters, which believes a False only from the callback's own class
    writes_parameters = True
    # True: whoever runs this callback reports a training loss that is not finite itself (the
    # scikit-learn estimators raise ValueError), so fit does not warn about it as well
    reports_divergence = False
    # True: the callback only records the run (a log), so a checkpoint's run is the same with it
    # or without it (added or dropped when resuming: nudgenet.checkpoint_callbacks)
    records_only = False
    _state: tuple[str, ...] = ()  # the attributes state_dict saves
    _training_settings: tuple[str, ...] = ()  # the attributes training_settings() gives

    def training_settings(self) -> dict:
        """What this callback was built with that changes the training it watches (the
        attributes named in ``_training_settings``): the ranks of a distributed fit must agree
        on it, and compare it before training (a rank reducing its learning rate by another
        factor would update its part of the parameters at another rate).  Called on the class
        (``type(cb).training_settings(cb)``), so an attribute of that name on an instance does
        not hide it."""
        return {name: getattr(self, name) for name in self._training_settings}

    def state_dict(self) -> dict:
        """What a checkpoint saves of this callback (:class:`~nudgenet.Checkpoint`): the
        attributes named in ``_state`` that are set (numbers, strings, lists, dicts, arrays).
        A callback keeping other state across epochs or batches names it there, or overrides
        this and :meth:`load_state_dict`; its ``stop_training`` the checkpoint saves itself."""
        return {name: getattr(self, name) for name in self._state if hasattr(self, name)}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (after ``on_train_begin``)."""
        for name, value in state.items():
            setattr(self, name, value)

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_train_end(self, logs: dict | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Keras's older name of ``on_train_batch_begin``."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Keras's older name of ``on_train_batch_end``."""


def check_signatures(callback: Callback) -> None:
    """Refuse, before training starts, a callback whose hooks cannot take Keras's arguments
    (``on_epoch_begin(self, epoch)``, ``on_train_begin(self)``: nudgenet 0.1's signatures), with
    one TypeError naming the signature ``fit`` calls; warn when a batch hook's second parameter
    is named ``loss``, since it now receives the ``logs`` dict (the loss is ``logs["loss"]``)."""
    for name in HOOKS:
        hook = getattr(callback, name)
        function, use = getattr(hook, "__func__", hook), (name, inspect.ismethod(hook))
        if function is getattr(Callback, name) or use in _FITTING.get(function, ()):
            continue  # not overridden, or seen to fit before (a partial_fit loop's every call)
        takes_index = not (name.startswith("on_train_") and "batch" not in name)
        try:
            signature = inspect.signature(hook)
        except (TypeError, ValueError):  # no signature to read (a builtin): nothing to check
            continue
        try:
            signature.bind(*([0] if takes_index else []), {})
        except TypeError:
            expected = f"{'batch' if 'batch' in name else 'epoch'}, logs" if takes_index else "logs"
            raise TypeError(
                f"{type(callback).__name__}.{name}{signature}: fit calls {name}({expected}), "
                "Keras's signature (logs is a dict); add the missing parameter, e.g. logs=None"
            ) from None
        parameters = list(signature.parameters)
        if "batch" in name and parameters[1:2] == ["loss"]:
            warnings.warn(
                f"{type(callback).__name__}.{name}(..., loss): its second argument is Keras's logs "
                'dict, not the batch loss; read the loss as logs["loss"]',
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
            continue
        with contextlib.suppress(TypeError):  # a hook that takes no weak reference: checked again
            _FITTING.setdefault(function, set()).add(use)


# each hook function check_signatures found to take Keras's arguments, without a warning, as
# which uses: (hook name, whether bound as a method, which drops its first parameter)
_FITTING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def described(callbacks) -> list[dict]:
    """Each callback's class and :meth:`~Callback.training_settings`, as JSON-able values the
    same in every process (:func:`_stable`): what two runs that must train alike compare (the
    ranks of a distributed fit, a checkpoint and the run resuming it)."""
    return [{"class": type(cb).__name__,
             **{name: _stable(value) for name, value in type(cb).training_settings(cb).items()}}
            for cb in callbacks]  # fmt: skip


def _stable(value, depth: int = 0):
    """A setting as JSON holds it, the same in every process that made it alike: numbers,
    strings, booleans and None as they are; lists, tuples, NumPy arrays and dicts item by item,
    sets sorted (a few levels deep); a function or class by its qualified name; anything else
    by its ``str`` (an Enum's member, a path), unless that is Python's default
    ``<... at 0x...>``, which holds a memory address, another in every process: then by its
    type's name."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()  # (a 0-d array: its number)
        if not isinstance(value, list):
            return _stable(value, depth)
    if isinstance(value, (list, tuple, dict, set, frozenset)) and depth >= _NESTED:
        return type(value).__name__
    if isinstance(value, (list, tuple)):
        return [_stable(item, depth + 1) for item in value]
    if isinstance(value, (set, frozenset)):  # (in a hash order, another in every process)
        return sorted((_stable(item, depth + 1) for item in value), key=repr)
    if isinstance(value, dict):  # keys described as values are (1 and "1" apart)
        return {repr(_stable(key, depth + 1)): _stable(item, depth + 1)
                for key, item in value.items()}  # fmt: skip
    if inspect.isroutine(value) or inspect.isclass(value):
        return getattr(value, "__qualname__", None) or type(value).__qualname__
    text = str(value)
    return type(value).__qualname__ if " at 0x" in text else text


_NESTED = 8  # how deep a setting's lists and dicts are described


def check_whole(owner: str, **counts) -> None:
    """A one-line ValueError naming ``owner`` and the first of ``counts`` (a callback's
    ``patience``, ``cooldown``) that is no whole number >= 0: 2.5 is not truncated to 2; 2.0
    is 2, as Keras takes it."""
    for name, value in counts.items():
        number = isinstance(value, (int, float, np.integer, np.floating))
        whole = number and not isinstance(value, bool) and float(value).is_integer()
        if not whole or value < 0:
            raise ValueError(f"{owner}: {name} must be a whole number >= 0, got {value!r}")


def may_write_parameters(callback: Callback) -> bool:
    """Whether ``callback`` may change the parameters or the optimiser's state in place during
    training: unless its own class says ``writes_parameters = False`` (a subclass of a callback
    that only reads may add hooks that write, so each class answers for itself).  A
    data-parallel run shares one copy of them among a machine's ranks only when no callback may
    write it (:mod:`nudgenet.distributed.node`): each rank runs every hook, so a write in place
    would happen once per rank.  Such a run's parameter arrays are views of memory freed when
    fit ends: a callback that says it only reads copies what it keeps."""
    return vars(type(callback)).get("writes_parameters", True) is not False


class LambdaCallback(Callback):
    """A callback from functions, one per hook, with the hook's arguments:
    ``LambdaCallback(on_epoch_end=lambda epoch, logs: ..., on_train_begin=lambda logs: ...)``;
    any of the names in :data:`HOOKS`."""

    def __init__(self, **hooks: Callable | None):
        unknown = sorted(set(hooks) - set(HOOKS))
        if unknown:
            raise TypeError(
                f"LambdaCallback: expected hooks among {', '.join(HOOKS)}, got {unknown[0]!r}"
            )
        # instance attributes shadow the methods, as Keras's LambdaCallback does
        self.__dict__.update({name: fn for name, fn in hooks.items() if fn is not None})


class _MonitorCallback(Callback):
    """A callback watching one metric of the epoch's logs, ``monitor``: whether larger is better
    (``mode``: ``"min"``, ``"max"`` or ``"auto"``: max where higher is better,
    :func:`nudgenet.metrics.higher_is_better`: accuracy, F1, ROC AUC, R², a score) and the
    margin ``min_delta`` by which a value must beat the best one to count as an improvement."""

    _training_settings = ("monitor", "maximize", "min_delta")

    def __init__(self, monitor: str, mode: str, min_delta: float):
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}"
            )
        self.monitor, self.min_delta = monitor, abs(min_delta)
        self.maximize = mode == "max" or (mode == "auto" and higher_is_better(monitor))
        self._reset_best()

    def _reset_best(self) -> None:
        self.best = -math.inf if self.maximize else math.inf

    def _improved(self, value: float) -> bool:
        if self.maximize:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def _current(self, logs: dict | None) -> float:
        """The monitored value in an epoch's logs, or KeyError saying which metrics are there."""
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(
                f"{type(self).__name__} monitors {self.monitor!r}, but the epoch's metrics are "
                f"{sorted(logs)}; pass validation data to fit or monitor another metric"
            )
        return logs[self.monitor]


class EarlyStopping(_MonitorCallback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs
    (as Keras does: with the best epoch ``b``, training stops after epoch ``b + patience``;
    ``patience=0`` stops, like 1, after the first epoch without improvement).  With
    ``restore_best=True`` the model ends with the weights of its best epoch: the default, where
    Keras's ``restore_best_weights`` (also taken here) is False, since the epochs after the best
    are the ones early stopping judged worse.  ``mode`` is ``"min"``, ``"max"`` or ``"auto"``
    (max where higher is better: accuracy, R², a score, ...;
    :func:`nudgenet.metrics.higher_is_better`).  ``verbose=1``: Keras's lines when it stops and
    when it restores the best weights."""

    # restore_best writes the parameters in on_train_end only, the same values on every rank, and
    # fit waits there until every rank has taken its last step (may_write_parameters)
    writes_parameters = False

    stop_reason = "early_stopping"
    _state = ("best", "best_epoch", "wait", "best_state", "stopped_epoch")
    _training_settings = (*_MonitorCallback._training_settings, "patience", "restore_best")

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
        *,
        restore_best_weights: bool | None = None,
        verbose: int = 0,
    ):
        check_whole("EarlyStopping", patience=patience)
        super().__init__(monitor, mode, min_delta)
        if restore_best_weights is not None:  # Keras's name
            restore_best = restore_best_weights
        self.patience, self.restore_best = int(patience), bool(restore_best)
        self.verbose = int(verbose)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset_best()
        self.best_epoch, self.wait, self.best_state = None, 0, None
        self.stop_training = False
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self._current(logs)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stop_training, self.stopped_epoch = True, epoch

    def on_train_end(self, logs: dict | None = None) -> None:
        say = self.verbose > 0 and may_write()  # (rank 0 alone, in a distributed fit)
        if say and self.stopped_epoch is not None:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best and self.best_state is not None:
            if say:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")  # fmt: skip
            self.model.load_state_dict(self.best_state)
