"""Checkpoints resumed in the process that wrote them (a notebook: Ctrl-C, then the same cell
again), with the very objects the interrupted ``fit`` left."""

from __future__ import annotations

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.optim import ExponentialLR


class Interrupt(ng.Callback):
    """Raise KeyboardInterrupt once, at batch ``batch`` of epoch ``epoch``: the user's Ctrl-C."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch, self.done = epoch, batch, False

    def on_epoch_begin(self, epoch, logs=None):
        self.now = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.now, batch) == (self.epoch, self.batch) and not self.done:
            self.done = True
            raise KeyboardInterrupt


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 5)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)


def objects(rate_callback):
    model = ng.Sequential(ng.Linear(5, 8, seed=0), ng.ReLU(), ng.Linear(8, 3, seed=1))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, optimizer, [rate_callback(optimizer)]


def cell(model, optimizer, callbacks, folder, epochs=6):
    x, y = data()
    return ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=epochs, batch_size=16,
                  seed=0, verbose=0, validation_split=0.25, callbacks=callbacks,
                  checkpoint=ng.Checkpoint(folder, every_epochs=2))  # fmt: skip


RATE_CALLBACKS = {
    "plateau": lambda o: ng.ReduceLROnPlateau(patience=0, factor=0.5, min_delta=1.0),
    "function": lambda o: ng.LearningRateScheduler(lambda epoch: 0.1 * 0.7**epoch),
    "schedule": lambda o: ng.LearningRateScheduler(ExponentialLR(o, gamma=0.7)),
}


@pytest.mark.parametrize("rate", RATE_CALLBACKS)
def test_the_interrupted_cell_run_again_resumes_although_its_callback_changed_the_rate(
    rate, tmp_path
):
    """The fingerprint read the optimiser's rate as the interrupted fit left it: re-running the
    cell was refused as another run ("optimizer[1].lr 0.1 there, 0.025 here")."""
    model, optimizer, callbacks = objects(RATE_CALLBACKS[rate])
    expected, expected_lr = cell(model, optimizer, callbacks, tmp_path / "whole"), optimizer.lr
    model, optimizer, callbacks = objects(RATE_CALLBACKS[rate])
    callbacks.append(Interrupt(epoch=3, batch=2))
    with pytest.raises(KeyboardInterrupt):
        cell(model, optimizer, callbacks, tmp_path / "cell")
    assert optimizer.lr != 0.1  # the callback changed it
    history = cell(model, optimizer, callbacks, tmp_path / "cell")
    assert repr(history.history["loss"]) == repr(expected.history["loss"])
    assert optimizer.lr == expected_lr
    more = cell(model, optimizer, callbacks, tmp_path / "cell", epochs=8)  # Keras: fit again
    assert more.epoch == list(range(8))


def test_a_rate_set_by_hand_between_the_cells_is_still_another_run(tmp_path):
    model, optimizer, callbacks = objects(RATE_CALLBACKS["plateau"])
    callbacks.append(Interrupt(epoch=3, batch=2))
    with pytest.raises(KeyboardInterrupt):
        cell(model, optimizer, callbacks, tmp_path)
    optimizer.lr = 0.3
    with pytest.raises(ng.CheckpointError, match=r"optimizer\[1\]\.lr 0\.1 there, 0\.3 here"):
        cell(model, optimizer, callbacks, tmp_path)
    model, optimizer, callbacks = objects(RATE_CALLBACKS["plateau"])  # a new one, built alike
    optimizer.lr = 0.025
    with pytest.raises(ng.CheckpointError, match=r"optimizer\[1\]\.lr 0\.1 there, 0\.025 here"):
        cell(model, optimizer, callbacks, tmp_path)
