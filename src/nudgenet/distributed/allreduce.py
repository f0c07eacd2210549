"""The one message of a data-parallel step: every rank's gradient and loss, summed in place.

Each rank's step leaves the mean gradient of its own rows in the optimiser's flat gradient
buffer (``optimizer.flat_grads``) and its rows' mean loss.  Scaled by the rank's share of the
global batch, ``rows_r / rows`` (with row weights: ``Σ w over its rows / Σ w over the batch``;
for a ``reduction="sum"`` loss, 1), and summed over the ranks, they are the whole global batch's
mean gradient and loss, which one process would have computed::

    Σ_r (m_r / m) · (1/m_r) Σ_{i ∈ r} ∇ℓ_i  =  (1/m) Σ_i ∇ℓ_i

The loss rides in a spare element after the gradients (:class:`~nudgenet.nn.FlatParameters`
``spare``), so a step is one ``Allreduce(MPI.IN_PLACE, buffer, SUM)``: no per-parameter messages,
no copy.  Every rank then holds the same gradient and takes the same optimiser step.
"""

from __future__ import annotations

import time

import numpy as np

from ..nn.flat import FlatParameters, flatten
from ..optim import Optimizer


class GradientAllreduce:
    """Sums the ranks' scaled gradients and losses in one in-place ``Allreduce`` per step, and
    counts what that cost (``seconds``, ``calls``, ``bytes`` per call)."""

    def __init__(self, comm, optimizer: Optimizer):
        from mpi4py import MPI

        self.comm, self.optimizer = comm, optimizer
        self._in_place, self._sum = MPI.IN_PLACE, MPI.SUM
        self._home = flatten(optimizer.params)  # the buffer the parameters return to
        self.flat = FlatParameters(optimizer.params, spare=1)  # the optimiser adopts it
        self.seconds, self.calls = 0.0, 0

    @property
    def bytes(self) -> int:
        """Bytes each rank sends per step: the gradients and the loss."""
        return self.flat.grad_and_spare.nbytes

    def __call__(self, scale: float, loss: float) -> float:
        """Scale this rank's gradients by ``scale``, sum them and ``scale · loss`` over the
        ranks in place; returns the global batch's loss (the same on every rank)."""
        if not self.flat.is_current():  # a parameter was moved or converted: re-pack
            self.flat = FlatParameters(self.optimizer.params, spare=1)
            self.optimizer.flat_grads  # noqa: B018  (the optimiser adopts the new buffer)
        buffer = self.flat.grad_and_spare
        if scale != 1:
            np.multiply(self.flat.grad, scale, out=self.flat.grad)
        self.flat.spare[0] = scale * loss
        started = time.perf_counter()
        self.comm.Allreduce(self._in_place, buffer, op=self._sum)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        return float(self.flat.spare[0])

    def release(self) -> None:
        """The parameters back in the buffer they lived in before fit, with their values and
        gradients now (:meth:`~nudgenet.nn.FlatParameters.restore`), at the end of fit."""
        self._home.restore()
        self.optimizer.flat_params  # noqa: B018  (the optimiser adopts it again)
