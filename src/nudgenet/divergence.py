"""Divergence: training whose loss runs away or stops being a number, or that learnt nothing.

:class:`TerminateOnDivergence` stops a run whose finite loss runs away; :func:`non_finite`
names why a batch's loss stopped being finite (``fit`` stops on it at once, before the update,
so the parameters stay the last finite ones); :func:`warn_non_finite_rows` names the rows whose
inputs are not finite where a loss would be NaN before any training (fit's validation rows, the
rows ``evaluate`` scores), by the same rule (:func:`non_finite_rows`); :func:`nothing_learnt`
says whether a trained model's loss beats that of predicting the targets' distribution alone.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .callbacks import Callback
from .errors import DivergenceWarning, caller_stacklevel
from .grad_mode import no_grad
from .nn.layers import trace

_BLOCK_ROWS = 4096  # rows whose values warn_non_finite_rows looks at a time


class TerminateOnDivergence(Callback):
    """Stop training that runs away, also while its loss stays finite (Keras's TerminateOnNaN
    catches only NaN and infinities, which ``fit`` itself stops on).  Three rules, on each epoch's
    training loss L, the mean of its batch losses weighted by their rows (the epoch's ``loss``
    for ``reduction="mean"``):

    * **runaway**: L > ``factor`` × L₀, the loss at the start of training: the mean loss of the
      first batches up to ``START_ROWS`` rows (at the default batch size, the untrained model's
      loss on its first batch);
    * **climb**: L rose in each of the last ``patience`` epochs and is now above the first
      epoch's, which undoes all that training had learnt;
    * **stuck**: all of at least ``2 × patience`` epochs ended above L₀: nothing was learnt (the
      digits at ``--lr 10`` hover at 2-3 × L₀, accuracy 0.1).  A run stuck at chance level
      *below* L₀ (the digits at ``--lr 1``: 0.87 × L₀) is not caught: the loss alone cannot
      tell it; :func:`nothing_learnt`, which ``nudgenet train`` asks before it saves a model,
      can.

    Healthy training breaks none: its loss falls below L₀ within the first epoch and its noise
    does not climb for ``patience`` epochs in a row back above the first epoch's
    (``tests/test_divergence.py`` checks the bundled digits and black-scholes runs).  The default
    ``factor`` is 100: a run with too large a step can swing to tens of times its start and still
    settle (a small regression at SGD's default rate rose to 35 × L₀ and ended at 0.015 × L₀),
    while a runaway grows by orders of magnitude (``--lr 100`` on the digits: 3.5 million × L₀
    in its first epoch).  Fine-tuning a model that starts near a loss of 0 may want a larger
    ``factor``.

    ``stop_reason`` is ``"diverged"``.  When training diverges (or its loss becomes NaN or
    infinite, which ``fit`` stops on and warns about), ``diverged_epoch`` is the epoch (from 0)
    where the divergence began (the runaway epoch, the first of the climb, or 0 for a run stuck
    above its start), ``message`` says
    what happened in one line, and a finite runaway warns
    (:class:`~nudgenet.DivergenceWarning`) as ``fit`` does."""

    writes_parameters = False  # reads them only (may_write_parameters)

    stop_reason = "diverged"
    START_ROWS = 32
    _state = ("losses", "diverged_epoch", "message", "_start", "_epoch")

    def __init__(self, factor: float = 100.0, patience: int = 5):
        if not (isinstance(factor, (int, float)) and 1 < factor < math.inf):
            raise ValueError(f"TerminateOnDivergence: factor must be a number > 1, got {factor!r}")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(
                f"TerminateOnDivergence: patience must be a whole number >= 1, got {patience!r}"
            )
        self.factor, self.patience = float(factor), patience

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.stop_training = False
        self.losses: list[float] = []  # L per epoch
        self.diverged_epoch, self.message = None, None
        self._start = [0.0, 0]  # loss × rows and rows, over the first START_ROWS rows

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = [0.0, 0]

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss, rows = logs["loss"], logs["size"]
        self._epoch[0] += loss * rows
        self._epoch[1] += rows
        if self._start[1] < self.START_ROWS:
            self._start[0] += loss * rows
            self._start[1] += rows

    @property
    def start(self) -> float | None:
        """L₀, the loss at the start of training (None before the first batch)."""
        return self._start[0] / self._start[1] if self._start[1] else None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = self._epoch[0] / self._epoch[1]
        self.losses.append(loss)
        start, recent = self.start, self.losses[-self.patience - 1 :]
        if not math.isfinite(loss):  # fit stops and warns
            self._stop(epoch, f"the training loss became {loss} in epoch {epoch + 1}", warn=False)
        elif 0 < start < math.inf and loss > self.factor * start:
            self._stop(
                epoch,
                f"the training loss rose to {loss:.4g} in epoch {epoch + 1}, more than "
                f"{self.factor:g} times its start ({start:.4g})",
            )
        elif (
            len(recent) > self.patience
            and all(after > before for before, after in zip(recent, recent[1:]))
            and loss > self.losses[0]
        ):
            self._stop(
                epoch - self.patience + 1,
                f"the training loss rose in each of the last {self.patience} epochs, to "
                f"{loss:.4g} in epoch {epoch + 1}, above the first epoch's {self.losses[0]:.4g}",
            )
        elif len(self.losses) >= 2 * self.patience and min(self.losses) > start:
            self._stop(
                0,
                f"the training loss has stayed above its start ({start:.4g}) for all "
                f"{len(self.losses)} epochs, {loss:.4g} in epoch {epoch + 1}: nothing was learnt",
            )

    def _stop(self, began: int, message: str, warn: bool = True) -> None:
        self.stop_training, self.diverged_epoch, self.message = True, began, message
        if warn:
            warnings.warn(
                f"TerminateOnDivergence: {message}; stopping. Lower the learning rate.",
                DivergenceWarning,
                stacklevel=caller_stacklevel(),
            )

    def healthy(self, epoch: int) -> bool:
        """Whether ``epoch``'s weights come from before any divergence."""
        return self.diverged_epoch is None or epoch < self.diverged_epoch


def same_for_every_row(outputs: np.ndarray) -> bool:
    """Whether a model's ``outputs`` (two rows or more) are the same for every row, to a
    millionth of their size: :func:`nothing_learnt`'s rule."""
    return len(outputs) > 1 and np.ptp(outputs, axis=0).max() <= 1e-6 * (1 + np.abs(outputs).max())


def nothing_learnt(outputs: np.ndarray, loss: float, baseline: float) -> str | None:
    """One line saying that a trained model learnt nothing: its ``outputs`` on its training
    rows are the same for every row (a network whose units all died: the digits at ``--lr 1``),
    so its ``loss`` is at best ``baseline``, the loss of predicting the targets' distribution
    alone (for cross-entropy the entropy of the class frequencies, for the squared error the
    targets' variance); None otherwise.  A model whose outputs vary from row to row is never
    judged by its loss alone: a weak but real signal is barely below the baseline."""
    if not same_for_every_row(outputs):
        return None
    return (
        f"the trained model predicts the same for every training row (its training loss "
        f"{loss:.4g}, against {baseline:.4g} for predicting the targets' distribution alone): "
        "nothing was learnt"
    )


def non_finite(model, epoch: int, step: int, loss: float, inputs: np.ndarray) -> str:
    """One line saying where a batch stopped being finite: its epoch and step (from 1), its loss
    and the cause, found after the fact at no cost to the steps before: parameters already not
    finite (an earlier update, from a gradient that was not finite while the loss was), inputs
    that are not, or else the first layer whose output overflowed on the batch (a forward pass
    in eval mode, so no running statistics move), or the loss itself."""
    where = f"the training loss became {loss} in epoch {epoch + 1}, step {step + 1}"
    for name, p in model.named_parameters():
        if not np.isfinite(p.data).all():
            return f"{where}; the parameters of {name} were already not finite"
    bad_rows = non_finite_rows(inputs)
    if bad_rows.size:
        return f"{where}; {bad_rows.size} of the batch's rows hold NaN or infinite inputs"
    was_training = model.training
    model.eval()
    try:
        with no_grad(), np.errstate(all="ignore"):
            _, outputs = trace(model, inputs)
    finally:
        model.train(was_training)
    for layer, output in outputs.items():
        if not np.isfinite(output.data).all():
            return f"{where}; the forward pass first overflowed in layer {layer!r}"
    return f"{where}; every layer's output is finite: the loss itself overflowed"


def non_finite_rows(inputs: np.ndarray) -> np.ndarray:
    """The numbers of the rows of ``inputs`` that hold a NaN or infinite value."""
    return np.flatnonzero(~np.isfinite(inputs.reshape(len(inputs), -1)).all(axis=1))


def warn_non_finite_rows(inputs, who: str, noun: str, source: str, effect: str, numbers=None):
    """A DivergenceWarning from ``who`` when rows of ``inputs`` (an array or SparseRows, read
    :data:`_BLOCK_ROWS` at a time) hold NaN or infinite values (:func:`non_finite_rows`): how
    many ``noun`` rows, the first of their numbers in ``source`` (``numbers[i]`` for row i
    where given: the rows ``source`` holds them at) and ``effect``, what they spoil."""
    block = getattr(inputs, "block_rows", lambda rows: rows)(_BLOCK_ROWS)
    found = np.concatenate([start + non_finite_rows(inputs[start : start + block])
                            for start in range(0, len(inputs), block)])  # fmt: skip
    if not found.size:
        return
    first = found[:5]
    named = first if numbers is None else [numbers[i] for i in first]
    shown = ", ".join(str(int(r)) for r in named) + (", ..." if found.size > 5 else "")
    many = found.size > 1
    warnings.warn(
        f"{who}: {found.size} {noun}{'s hold' if many else ' holds'} NaN or infinite inputs "
        f"(row{'s' * many} {shown} of {source}): {effect}; drop or fix {'them' if many else 'it'}",
        DivergenceWarning,
        stacklevel=caller_stacklevel(),
    )
