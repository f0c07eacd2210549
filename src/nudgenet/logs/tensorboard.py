"""``TensorBoard``: a run's curves, weight and gradient histograms, first-layer weight images and
layer table, written as TensorBoard event files with ``tensorboardX`` (``pip install
"nudgenet[tensorboard]"``); view them with ``tensorboard --logdir DIR``."""

from __future__ import annotations

import atexit
import itertools
import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from ..extras import require
from ..files import may_write
from ..nn.layers import Linear, leaf_layers
from .epochs import EpochLogWriter

FLUSH_SECONDS = 10  # tensorboardX's writer thread puts queued events in the file this often
_OPENED = itertools.count()  # event files opened by this process
_NAN_WARNINGS = logging.getLogger("tensorboardX.x2num")  # warns of every NaN or inf it is given


def scalar_place(key: str) -> tuple[str, str]:
    """Where the History key ``key`` is written, ``(run, tag)``: a ``val_`` key in the
    ``validation`` run under the name without the prefix, so that ``loss`` and ``val_loss`` are
    two curves of one chart (Keras's layout); every other key in the ``train`` run, as it is."""
    if key.startswith("val_"):
        return "validation", key[len("val_") :]
    return "train", key


class TensorBoard(EpochLogWriter):
    """Write a run's logs for TensorBoard under ``log_dir`` (Keras's name and arguments):

    * **scalars**, per epoch: every key of the epoch's logs (the History's: ``loss``, the
      metrics, ``lr``, ``seconds``, with ``fit(diagnostics=True)`` ``grad_norm/<layer>`` and
      ``dead_units/<layer>``, and what other callbacks add), at step = the epoch (from 0);
      ``val_`` keys go to ``log_dir/validation`` under the same tag, the others to
      ``log_dir/train`` (:func:`scalar_place`).  TensorBoard stores a scalar as a float32, so
      each value reads back as the History's rounded to float32.
    * **histograms**, every ``histogram_freq`` epochs (0: none): each parameter's values
      (``weights/<name>``) and its gradient (``gradients/<name>``) as the last batch of the
      epoch left it (after clipping: what the optimiser stepped with), written when the
      epoch ends; NaN and infinite values are left out (a diverging run's last gradient).
    * **images**, with ``write_images`` and at the histograms' epochs: the first Linear layer's
      weights, one tile per unit, each of ``image_shape`` (height, width) pixels, mid-grey 0,
      white and black the unit's largest positive and negative weight
      (``first_layer_weights``).  ``image_shape`` defaults to a square when the first layer
      has a square number of inputs.
    * **text**, with ``write_graph``: the model's layer table (``model``), once.

    Writing starts when the first epoch ends; tensorboardX's writer thread puts the events in
    the files within ``FLUSH_SECONDS`` (10 s), all of them before a checkpoint is saved (the
    files are closed then, and the next events go into new ones), and the rest when training
    ends or, if an exception (Ctrl-C) ended it, when the next ``fit`` with this callback begins
    or the interpreter exits.  A run resumed at epoch ``e`` has TensorBoard purge the events of
    steps ``>= e`` that earlier files hold (a killed run's), and the files then hold every epoch
    once, as the History does; a run that saves checkpoints purges from epoch 0 too (it may
    resume a run killed before its first checkpoint), one without them adds its events to what
    the folder holds, as Keras's does.
    Nothing is written where :func:`~nudgenet.files.may_write` is False (ranks other than 0).

    A copy (``copy.deepcopy``, scikit-learn's ``clone``) or a pickle (joblib's processes) holds
    the settings and the run's state, not the open event writers: it opens its own.
    """

    writes_parameters = False  # writes logs only (may_write_parameters)

    # what a checkpoint saves (see Callback.state_dict): a resumed run's layer table is written
    _state = ("_pending", "_graph_due")

    def __init__(
        self,
        log_dir="logs",
        histogram_freq: int = 1,
        write_graph: bool = True,
        write_images: bool = False,
        image_shape: tuple[int, int] | None = None,
    ):
        _tensorboardx()  # a missing extra fails here, before training
        if write_images:  # tensorboardX encodes images with Pillow
            require("PIL", "tensorboard", "TensorBoard(write_images=True)")
        whole = isinstance(histogram_freq, int) and not isinstance(histogram_freq, bool)
        if not whole or histogram_freq < 0:
            raise ValueError(
                f"TensorBoard: histogram_freq must be a whole number >= 0, got {histogram_freq!r}"
            )
        if image_shape is not None:
            image_shape = tuple(int(n) for n in image_shape)
            if len(image_shape) != 2 or min(image_shape) < 1:
                raise ValueError(
                    f"TensorBoard: image_shape must be (height, width), got {image_shape!r}"
                )
        self.log_dir = Path(os.fspath(log_dir))
        self.histogram_freq, self.write_graph = histogram_freq, write_graph
        self.write_images, self.image_shape = write_images, image_shape
        self._writers: dict = {}

    def _writer(self, run: str, first_step: int):
        """The event writer of ``run`` (``train`` or ``validation``), opened at its first use,
        at step ``first_step``: TensorBoard purges the steps from it on that earlier files hold
        (a killed run's), from epoch 0 too where this run saves checkpoints (it may be a resume
        of a run killed before its first; a run without them adds to the folder, as Keras's)."""
        if run not in self._writers:
            if not self._writers:  # a run ended by an exception (Ctrl-C) still gets its events out
                atexit.register(self.close)
            # tensorboardX names a file by the second it opened it, and TensorBoard reads a
            # run's files in the order of their names: the time in ns keeps them in the order
            # they were opened (a killed run's last file read after a resumed run's, opened in
            # the same second by a process of a lower pid, purged the resumed epochs); the pid
            # and a count keep two files apart
            suffix = f".{time.time_ns()}.{os.getpid()}.{next(_OPENED)}"
            self._writers[run] = _tensorboardx().SummaryWriter(
                str(self.log_dir / run), flush_secs=FLUSH_SECONDS, filename_suffix=suffix,
                purge_step=first_step if first_step or self.checkpointed else None,
            )
        return self._writers[run]

    def __getstate__(self) -> dict:
        """What a copy or a pickle holds: everything but the open event writers."""
        return {**vars(self), "_writers": {}}

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Check, before training, that ``log_dir`` can be a folder and that the first layer's
        weights can be drawn as images."""
        super().on_train_begin(logs)
        if may_write() and self.log_dir.is_file():
            raise ValueError(
                f"TensorBoard: log_dir {self.log_dir} is a file; expected a folder for the logs"
            )
        self._graph_due = self.write_graph
        self._image_layer = first_layer_images(self.model, self.image_shape) if (
            self.write_images) else None  # fmt: skip

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if not may_write():
            return
        train = self._writer("train", epoch)
        if self._graph_due:
            train.add_text("model", layer_table(self.model), epoch)
            self._graph_due = False
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for name, p in self.model.named_parameters():
                for kind, values in (("weights", p.data), ("gradients", p.grad)):
                    finite = None if values is None else values[np.isfinite(values)]
                    if finite is not None and finite.size:  # NaN and inf left out
                        train.add_histogram(f"{kind}/{name}", finite, epoch)
            if self._image_layer is not None:
                train.add_images("first_layer_weights", weight_tiles(*self._image_layer), epoch)

    def write_epoch(self, epoch: int, logs: dict) -> None:
        """The epoch's numbers as scalars; a NaN or infinite one (a diverged run's) is recorded
        as it is, without the warning tensorboardX logs for each."""
        was_disabled, _NAN_WARNINGS.disabled = _NAN_WARNINGS.disabled, True
        try:
            for key, value in logs.items():
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                    run, tag = scalar_place(key)
                    self._writer(run, epoch).add_scalar(tag, float(value), epoch)
        finally:
            _NAN_WARNINGS.disabled = was_disabled

    def flush(self) -> None:
        """Put every queued event in the files now (a checkpoint is being saved): the writers
        are closed, which waits for tensorboardX's writer thread (its ``flush`` writes only what
        the thread has taken from its queue), and the next event opens new files."""
        self.close()

    def close(self) -> None:
        """Write every pending event and close the files (at the end of training, or when the
        interpreter exits after an exception ended training)."""
        atexit.unregister(self.close)
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _tensorboardx():
    """The tensorboardX module, or an ImportError naming the extra that installs it."""
    return require("tensorboardX", "tensorboard", "TensorBoard logging")


def first_layer_images(model, image_shape) -> tuple[Linear, tuple[int, int]]:
    """The model's first Linear layer and the shape of the image its inputs are (``image_shape``,
    else a square), or a ValueError saying why its weights cannot be drawn."""
    first = next((layer for _, layer in leaf_layers(model) if isinstance(layer, Linear)), None)
    if first is None:
        raise ValueError("TensorBoard(write_images=True): the model has no Linear layer")
    shape = image_shape or _square(first.in_features)
    if shape is None or shape[0] * shape[1] != first.in_features:
        raise ValueError(
            f"TensorBoard(write_images=True): the first Linear layer takes {first.in_features} "
            f"inputs, not images of shape {shape or '(a square)'}; pass image_shape=(height, "
            "width)"
        )
    return first, shape


def weight_tiles(layer: Linear, shape: tuple[int, int]) -> np.ndarray:
    """``layer``'s weights as images ``(units, 1, height, width)`` in [0, 1]: 0.5 for a weight
    of 0, 1 and 0 for each unit's largest positive and negative weight (in absolute value)."""
    w = layer.weight.data.T.astype(np.float64)  # (units, inputs)
    peak = np.abs(w).max(axis=1, keepdims=True)
    tiles = 0.5 + 0.5 * w / np.where(peak > 0, peak, 1.0)
    return tiles.reshape(len(w), 1, *shape)


def _square(n: int) -> tuple[int, int] | None:
    side = math.isqrt(n)
    return (side, side) if side * side == n else None


def layer_table(model) -> str:
    """The model's layers as a Markdown table (TensorBoard's text tab renders it): each leaf
    layer's name, what it is, and its parameters; then the total."""
    rows = ["| layer | type | parameters |", "|---|---|---:|"]
    for name, layer in leaf_layers(model):
        kind = f"{type(layer).__name__}({layer.extra_repr()})"
        rows.append(f"| {name or '(model)'} | {kind} | {layer.num_parameters():,} |")
    rows.append(f"| | **total** | **{model.num_parameters():,}** |")
    return "\n".join(rows)
