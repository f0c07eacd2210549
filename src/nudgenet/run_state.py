"""What a checkpoint holds: the state of a training run that the rest of the run depends on,
and how it is written without pickle.

:meth:`Run.capture` gathers it as nested values (numbers, strings, lists, dicts, NumPy arrays):
the model's parameters and buffers (``state_dict``: BatchNorm's running statistics too) and
which parameters are frozen (``requires_grad=False``, a callback may freeze one), the
optimiser's ``state_dict`` (moments, step count, learning rate), every random generator's state
(``fit``'s, the global one of :func:`~nudgenet.manual_seed`, each layer's own, such as
Dropout's), each callback's ``state_dict`` (early stopping with its best weights, schedules,
the divergence guard, diagnostics' accumulators) and its ``stop_training`` flag, the model's
``stop_training`` (Keras's flag; either, set mid-epoch, stops the resumed run after that epoch
too), the History so far, and the loop's position: the next (epoch, step), and mid-epoch the
epoch's row order and running sums.
:meth:`Run.restore` puts it back into a freshly set-up run.  :func:`encode` splits nested
values into JSON and a dict of arrays (safetensors), keeping NumPy scalar and array dtypes, so a
restored run computes with the very same values, bit for bit; :func:`decode` reverses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .backend import generator
from .callbacks import Callback
from .history import History
from .nn.module import Module
from .optim import Optimizer

FIT_ARRAYS = ("x", "y", "validation x", "validation y", "sample_weight")  # by name, in order


def frozen(model: Module) -> list[str]:
    """The names of ``model``'s frozen parameters (``requires_grad=False``)."""
    return [name for name, p in model.named_parameters() if not p.requires_grad]


def fit_arrays(x, y, validation, sample_weight) -> dict[str, np.ndarray]:
    """A run's arrays by name (:data:`FIT_ARRAYS`), those it has, in that order: what a
    checkpoint's fingerprint reads and data-parallel ranks compare."""
    given = (x, y, *(validation or (None, None)), sample_weight)
    return {name: array for name, array in zip(FIT_ARRAYS, given) if array is not None}


@dataclass
class Position:
    """Where a run stands: the next ``epoch`` and ``step`` to run (step 0: the epoch has not
    begun), and mid-epoch its row ``order`` and running sums (``loss_sum``, ``seen``, the metrics'
    per-batch ``parts`` and the ``steps`` they came from: a data-parallel run combines every
    rank's in step order, whichever rank held them, so a resumed run combines them as the
    uninterrupted one does)."""

    epoch: int = 0
    step: int = 0
    order: np.ndarray | None = None
    loss_sum: float = 0.0
    seen: float = 0
    parts: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)


def generators(model: Module, rng: np.random.Generator) -> dict[str, np.random.Generator]:
    """Every random generator a run draws from, by name: ``fit``'s (shuffles, validation rows),
    the global one, and any a module keeps as an attribute (Dropout's ``rng``)."""
    found = {"fit": rng, "global": generator(None)}
    stack = [("model", model)]
    while stack:
        name, module = stack.pop()
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                found[f"{name}.{attr}"] = value
        stack.extend((f"{name}.{key}", child) for key, child in module.named_children())
    return found


@dataclass
class Run:
    """The objects of a training run whose state a checkpoint holds."""

    model: Module
    optimizer: Optimizer
    callbacks: list[Callback]
    history: History
    rngs: dict[str, np.random.Generator]

    def capture(self, at: Position) -> dict:
        """The run's state at ``at`` as nested values (see the module doc)."""
        history = self.history
        return {
            "position": {"epoch": at.epoch, "step": at.step},
            "epoch": None
            if at.step == 0
            else {"order": at.order, "loss_sum": at.loss_sum, "seen": at.seen, "parts": at.parts,
                  "steps": at.steps},  # fmt: skip
            "model": self.model.state_dict(),
            "frozen": frozen(self.model),
            "stop_training": bool(self.model.stop_training),
            "optimizer": self.optimizer.state_dict(),
            "generators": {name: g.bit_generator.state for name, g in self.rngs.items()},
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "callback stops": [bool(cb.stop_training) for cb in self.callbacks],
            "history": {
                "history": history.history,
                "epoch": history.epoch,
                "stop_reason": history.stop_reason,
                "stopped_epoch": history.stopped_epoch,
            },
        }

    def restore(self, state: dict) -> Position:
        """Put ``state`` (from :meth:`capture`) back, after the callbacks' ``on_train_begin``;
        returns its position."""
        self.model.load_state_dict(state["model"])
        if "frozen" in state:  # (older: none saved, none frozen)
            for name, p in self.model.named_parameters():
                p.requires_grad = name not in state["frozen"]
        self.model.stop_training = state["stop_training"]
        self.optimizer.load_state_dict(state["optimizer"])
        for name, g in self.rngs.items():
            g.bit_generator.state = state["generators"][name]
        for cb, cb_state in zip(self.callbacks, state["callbacks"]):
            if cb_state is not None:  # (None: a logger added, checkpoint_callbacks)
                cb.load_state_dict(cb_state)
        for cb, stop in zip(self.callbacks, state.get("callback stops", ())):  # (older: none)
            if stop is not None:
                cb.stop_training = stop
        saved, history = state["history"], self.history
        history.history.update(saved["history"])
        history.epoch[:] = saved["epoch"]
        history.stop_reason, history.stopped_epoch = saved["stop_reason"], saved["stopped_epoch"]
        at = Position(**state["position"])
        for key, value in (state["epoch"] or {}).items():
            setattr(at, key, value)
        if state["epoch"] and "steps" not in state["epoch"]:  # an older checkpoint: all before
            at.steps = [-1] * len(next(iter(at.parts.values()), []))
        return at


def encode(value, arrays: dict[str, np.ndarray], where: str = "state"):
    """``value`` as JSON-able data, its NumPy arrays moved into ``arrays`` (referred to by key)
    and NumPy scalars tagged with their dtype; TypeError naming ``where`` for anything else."""
    if isinstance(value, np.ndarray):
        key = str(len(arrays))
        arrays[key] = np.ascontiguousarray(value)
        return {"__array__": key}
    if isinstance(value, np.generic):
        return {"__scalar__": value.dtype.str, "value": value.item()}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"checkpoint: {where} has a key that is not a string")
        return {"__dict__": {k: encode(v, arrays, f"{where}.{k}") for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        items = [encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"checkpoint: cannot save {where}, a {type(value).__name__}: a state holds numbers, "
        "strings, lists, tuples, dicts and NumPy arrays"
    )


def decode(data, arrays: dict[str, np.ndarray]):
    """The value :func:`encode` turned into ``data`` and ``arrays``."""
    if isinstance(data, list):
        return [decode(v, arrays) for v in data]
    if not isinstance(data, dict):
        return data
    if "__array__" in data:
        return np.array(arrays[data["__array__"]])  # a writable copy
    if "__scalar__" in data:
        return np.dtype(data["__scalar__"]).type(data["value"])
    if "__tuple__" in data:
        return tuple(decode(v, arrays) for v in data["__tuple__"])
    return {k: decode(v, arrays) for k, v in data["__dict__"].items()}
