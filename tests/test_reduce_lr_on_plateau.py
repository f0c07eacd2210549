"""ReduceLROnPlateau: Keras's rules, checked on scripted sequences of monitored values."""

from __future__ import annotations

import numpy as np
import pytest

import nudgenet as ng


class _Optimizer:
    """What the callback touches: a learning rate."""

    def __init__(self, lr: float):
        self.lr = lr


def _run(callback, values, lr=1.0, monitor="val_loss"):
    """The learning rate after each epoch whose monitored value is the next of ``values``."""
    callback.optimizer = _Optimizer(lr)
    callback.on_train_begin({})
    rates = []
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {"loss": 9.0, monitor: value})
        rates.append(callback.optimizer.lr)
    return rates


def test_a_scripted_sequence_with_min_delta_cooldown_and_min_lr(capsys):
    callback = ng.ReduceLROnPlateau(
        factor=0.5, patience=2, min_delta=0.01, cooldown=1, min_lr=0.2, verbose=1
    )
    values = [1.0, 0.995, 0.98, 0.98, 0.975, 0.99, 0.99, 0.90, 0.95, 0.95, 0.95, 0.95, 0.95]
    # epoch 0: best 1.0 | 1: 0.995 is not 0.01 better, wait 1 | 2: better, best 0.98 | 3: wait 1 |
    # 4: 0.975 not 0.01 better, wait 2 = patience: lr 0.5, cooldown 1 | 5: the cooldown ends this
    # epoch, which then counts (Keras's order): wait 1 | 6: wait 2: lr 0.25 | 7: better, best 0.9 |
    # 8, 9: wait 1, 2: lr max(0.125, min_lr) = 0.2 | 10, 11, 12: at min_lr, no further reduction
    expected = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]
    assert _run(callback, values) == expected
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 5: ReduceLROnPlateau reducing learning rate to 0.5.",
        "Epoch 7: ReduceLROnPlateau reducing learning rate to 0.25.",
        "Epoch 10: ReduceLROnPlateau reducing learning rate to 0.2.",
    ]


def test_a_longer_cooldown_keeps_epochs_from_counting():
    callback = ng.ReduceLROnPlateau(factor=0.1, patience=1, cooldown=3, min_delta=0)
    # a plateau from epoch 1: reduced at 1, cooldown epochs 2 and 3 do not count, epoch 4
    # (the cooldown's last) counts: reduced again at 4, then at 7
    rates = _run(callback, [1.0] * 8)
    assert rates == pytest.approx([1.0, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001])


def test_patience_counts_epochs_without_an_improvement_and_an_improvement_resets_it():
    callback = ng.ReduceLROnPlateau(factor=0.1, patience=3, min_delta=0)
    rates = _run(callback, [5.0, 6.0, 6.0, 4.0, 6.0, 6.0, 6.0, 6.0], lr=0.1)
    assert rates == pytest.approx([0.1] * 6 + [0.01, 0.01])


@pytest.mark.parametrize(
    ("monitor", "mode", "values", "reduced_at"),
    [
        ("val_accuracy", "auto", [0.5, 0.6, 0.6, 0.55], 3),  # "acc" in the name: larger is better
        ("val_loss", "auto", [0.5, 0.6, 0.6, 0.55], 2),
        ("score", "max", [0.5, 0.6, 0.6, 0.55], 3),
        ("val_accuracy", "min", [0.5, 0.6, 0.6, 0.55], 2),
    ],
)
def test_the_mode_says_which_direction_is_better(monitor, mode, values, reduced_at):
    callback = ng.ReduceLROnPlateau(monitor=monitor, mode=mode, patience=2, min_delta=0)
    rates = _run(callback, values, monitor=monitor)
    assert rates.index(pytest.approx(0.1)) == reduced_at


def test_fit_records_the_reduced_rate_from_the_next_epoch_and_starts_afresh_each_fit():
    x, y = ng.datasets.xor()
    model = ng.Sequential(ng.Linear(2, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    # every epoch after the first fails to improve by min_delta: halve every second epoch
    plateau = ng.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=1e9)
    for _ in range(2):
        optimizer.lr = 0.1
        history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=6,
                         callbacks=[plateau], verbose=0)  # fmt: skip
        assert history.history["lr"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])
    assert optimizer.lr == pytest.approx(0.025)


def test_bad_arguments_and_a_missing_metric_are_refused():
    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\), got 1.0"):
        ng.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="patience must be a whole number >= 0, got -1"):
        ng.ReduceLROnPlateau(patience=-1)
    with pytest.raises(ValueError, match="min_lr must be >= 0, got -0.1"):
        ng.ReduceLROnPlateau(min_lr=-0.1)
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max', got 'up'"):
        ng.ReduceLROnPlateau(mode="up")
    callback = ng.ReduceLROnPlateau()
    callback.optimizer = _Optimizer(0.1)
    with pytest.raises(KeyError, match="ReduceLROnPlateau monitors 'val_loss'.*'loss'"):
        callback.on_epoch_end(0, {"loss": np.float64(1.0)})
