"""Training diagnostics: per-layer gradient norms and dead ReLU units, epoch by epoch.

:class:`GradientDiagnostics` is a callback (``fit(..., diagnostics=True)`` runs one before the
other callbacks; the ``nudgenet train`` command turns it on).  At every epoch's end it adds to
the epoch's ``logs``, and so to the History, to the callbacks after it and to any logger:

* ``grad_norm/<layer>`` for every ``Linear`` layer: the mean over the epoch's batches of the
  layer's batch-gradient norm ``‖(∂C/∂W, ∂C/∂b)‖₂`` — vanishing gradients shrink towards the
  input layers, exploding ones grow; as backprop computed it, before ``fit``'s
  ``clip_grad_norm`` (which would hide the growth: ``fit`` has the callback measure first);
* ``dead_units/<layer>`` for every ``ReLU`` layer that follows a ``Linear``: the fraction of its
  units that never fired (output > 0) on any training row of the epoch.  A dead unit passes no
  gradient back and stops learning.

Firing is read from the forward pass: the callback asks ``fit`` for the batch's layer outputs
(``wants_outputs``; fit's compiled step already keeps them in its buffers, the general engine
then keeps them as it goes) and ORs ``a > 0`` over each ReLU layer's rows into one boolean per
unit.  (Gradients cannot tell: a unit that fires but feeds only dead units downstream gets
``∂C/∂b = 0`` all the same, and it is not dead.)

``<layer>`` is the layer's name in the model (``"0"`` for ``model[0]``, whose weight is
``"0.weight"``).

Opt-in: per batch it reads each parameter's gradient once (``vdot``) and reduces each ReLU
layer's output over the rows once (``any``), and with a callback present ``fit`` also runs its
per-batch bookkeeping; that costs more of an epoch than a default may (docs/performance.md has
the measurement), so ``fit`` leaves it off unless asked (``nudgenet train`` asks).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .callbacks import Callback
from .nn.layers import Linear, ReLU, leaf_layers


class GradientDiagnostics(Callback):
    """Add per-epoch ``grad_norm/<layer>`` and ``dead_units/<layer>`` to the epoch's ``logs``
    (see the module doc).  After training, ``self.layers`` and ``self.relus`` name what was
    watched."""

    writes_parameters = False  # reads them only (may_write_parameters)

    wants_outputs = True  # fit fills self.outputs: the ReLU layers' outputs on each batch
    _state = ("_norms", "_steps", "_fired")  # the epoch's sums so far
    _measured = False  # this batch's gradient already measured (before clipping)

    def on_train_begin(self, logs: dict | None = None) -> None:
        layers = list(leaf_layers(self.model))
        self.layers = [(name, layer) for name, layer in layers if isinstance(layer, Linear)]
        self.relus = []  # (ReLU's name, the ReLU, the Linear feeding it), one per place
        feeding = None
        for name, layer in layers:
            if isinstance(layer, Linear):
                feeding = layer
            elif isinstance(layer, ReLU) and feeding is not None:
                self.relus.append((name, layer, feeding))
                feeding = None
        watched = [  # (the layer's index, one of its parameters)
            (k, p)
            for k, (_, layer) in enumerate(self.layers)
            for p in (layer.weight, layer.bias)
            if p is not None
        ]
        self._owner = [k for k, _ in watched]
        self._params = [p for _, p in watched]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._norms = np.zeros(len(self.layers))
        self._steps = 0
        self._fired = [np.zeros(linear.out_features, dtype=bool) for _, _, linear in self.relus]

    def measure_gradients(self) -> None:
        """Add the batch's per-layer gradient norms to the epoch's: ``fit`` calls it before it
        clips the gradient (``clip_grad_norm``), else :meth:`on_train_batch_end` does."""
        squares = [0.0 if p.grad is None else np.vdot(p.grad, p.grad) for p in self._params]
        self._norms += np.sqrt(np.bincount(self._owner, squares, minlength=len(self.layers)))
        self._measured = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self._measured:
            self.measure_gradients()
        self._measured = False
        outputs = self.outputs  # none yet on a data-parallel rank that has had no rows
        for fired, (name, _, _) in zip(self._fired, self.relus):
            if name in outputs:
                fired |= outputs[name].any(axis=0)  # a ReLU's output is > 0 or exactly 0
        self._steps += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Adds the epoch's ``grad_norm/<layer>`` and ``dead_units/<layer>`` to ``logs``."""
        steps = max(self._steps, 1)
        for k, (name, _) in enumerate(self.layers):
            logs[f"grad_norm/{name}"] = float(self._norms[k] / steps)
        for k, (name, _, _) in enumerate(self.relus):
            logs[f"dead_units/{name}"] = float(1 - self._fired[k].mean()) if self._steps else 0.0


def per_layer(series: Mapping[str, list[float]], kind: str) -> dict[str, list[float]]:
    """``{layer: values}`` of a History's ``<kind>/<layer>`` series (``kind``: ``"grad_norm"`` or
    ``"dead_units"``), in the History's order."""
    prefix = f"{kind}/"
    return {key[len(prefix) :]: values for key, values in series.items() if key.startswith(prefix)}
