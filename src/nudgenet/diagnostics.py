"""Training diagnostics: per-layer gradient norms and dead ReLU units, epoch by epoch.

:class:`GradientDiagnostics` is a callback (``fit(..., diagnostics=True)`` adds one; the
``nudgenet train`` command turns it on).  For every epoch it writes into the History:

* ``grad_norm/<layer>`` for every ``Linear`` layer: the mean over the epoch's batches of the
  layer's batch-gradient norm ``‖(∂C/∂W, ∂C/∂b)‖₂`` — vanishing gradients shrink towards the
  input layers, exploding ones grow;
* ``dead_units/<layer>`` for every ``ReLU`` layer: the fraction of its units that never fired
  (output > 0) on any training row of the epoch.  A dead unit passes no gradient back and stops
  learning.

``<layer>`` is the layer's name in the model (``"0"`` for ``model[0]``, whose weight is
``"0.weight"``).

Cost: opt-in.  Per batch it reads each layer's gradient once (a dot product) and reduces each
ReLU output to a "fired" mask; on the 784-16-16-10 MNIST network at batch 100 that measured about
5-10% of an epoch — small, but above the ~5% a default may cost, so ``fit`` leaves it off unless
asked.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .callbacks import Callback
from .nn.layers import Linear, ReLU, Sequential
from .nn.module import Module


def leaf_layers(model: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
    """``(name, layer)`` for every layer a (possibly nested) Sequential applies, in order; the name
    is the dotted prefix of the layer's parameters (``"0"`` for ``model[0]``, whose weight is
    ``"0.weight"``).  A model that is not a Sequential is one layer, named ``""``."""
    if isinstance(model, Sequential):
        for name, child in model.named_children():
            yield from leaf_layers(child, f"{prefix}{name}.")
    else:
        yield prefix.rstrip("."), model


class GradientDiagnostics(Callback):
    """Record per-epoch ``grad_norm/<layer>`` and ``dead_units/<layer>`` in ``fit``'s History
    (see the module doc).  After training, ``self.layers`` and ``self.relus`` name what was
    watched."""

    def on_train_begin(self) -> None:
        layers = list(leaf_layers(self.model))
        self.layers = [(name, layer) for name, layer in layers if isinstance(layer, Linear)]
        self.relus = [(name, layer) for name, layer in layers if isinstance(layer, ReLU)]
        self._fired: list[np.ndarray | None] = [None] * len(self.relus)
        for k, (_, layer) in enumerate(self.relus):
            object.__setattr__(layer, "forward", self._watch(layer, k))

    def _watch(self, layer: ReLU, k: int):
        """``layer.forward``, also OR-ing which units fired while training into ``_fired[k]``."""
        forward = type(layer).forward

        def watched(x):
            out = forward(layer, x)
            if layer.training:
                data = out.data
                fired = (data.reshape(-1, data.shape[-1]) > 0).any(axis=0)
                if self._fired[k] is None or self._fired[k].shape != fired.shape:
                    self._fired[k] = fired
                else:
                    self._fired[k] |= fired
            return out

        return watched

    def on_epoch_begin(self, epoch: int) -> None:
        self._norms = np.zeros(len(self.layers))
        self._steps = 0
        self._fired = [None] * len(self.relus)

    def on_batch_end(self, step: int, loss: float) -> None:
        for k, (_, layer) in enumerate(self.layers):
            total = 0.0
            for p in (layer.weight, layer.bias):
                if p is not None and p.grad is not None:
                    g = p.grad.reshape(-1)
                    total += float(np.dot(g, g))
            self._norms[k] += total**0.5
        self._steps += 1

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        record = self._record
        for k, (name, _) in enumerate(self.layers):
            record(f"grad_norm/{name}", float(self._norms[k] / max(self._steps, 1)))
        for k, (name, _) in enumerate(self.relus):
            fired = self._fired[k]
            record(f"dead_units/{name}", float("nan") if fired is None else float(1 - fired.mean()))

    def _record(self, key: str, value: float) -> None:
        history = getattr(self, "history", None)
        if history is not None:
            history.history.setdefault(key, []).append(value)
        self.last = getattr(self, "last", {})
        self.last[key] = value

    def on_train_end(self) -> None:
        for _, layer in self.relus:
            layer.__dict__.pop("forward", None)
