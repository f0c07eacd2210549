"""Loggers (CSVLogger, TensorBoard) only record a run: a checkpoint resumes with them added,
dropped or writing elsewhere, and each log goes on from where it should."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import nudgenet as ng
from nudgenet.checkpoint import _digest

REPO = Path(__file__).resolve().parents[1]


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 5)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)


def run(folder, epochs, loggers=(), checkpoint=True):
    """A short run with EarlyStopping and ReduceLROnPlateau, ``loggers`` between them."""
    x, y = data()
    model = ng.Sequential(ng.Linear(5, 8, seed=0), ng.ReLU(), ng.Linear(8, 3, seed=1))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    callbacks = [ng.EarlyStopping(patience=3), *loggers, ng.ReduceLROnPlateau(patience=1)]
    return ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=epochs, batch_size=16,
                  seed=0, verbose=0, validation_split=0.25, callbacks=callbacks,
                  checkpoint=ng.Checkpoint(folder / "ck") if checkpoint else None)  # fmt: skip


def series(history):
    return repr({k: v for k, v in history.to_dict().items() if k != "seconds"})


def csv_epochs(path):
    return [int(row.split(",")[0]) for row in path.read_text().splitlines()[1:]]


def test_a_logger_added_or_dropped_when_resuming_is_the_same_run(tmp_path):
    """A logger added was refused: "callbacks[1] absent there, {"class": "CSVLogger"} here"."""
    expected = series(run(tmp_path / "whole", 6, checkpoint=False))
    run(tmp_path, 2)
    loggers = [ng.CSVLogger(tmp_path / "log.csv"), ng.TensorBoard(tmp_path / "tb")]
    resumed = run(tmp_path, 4, loggers)
    assert csv_epochs(tmp_path / "log.csv") == [2, 3]  # from the epoch it resumed at
    board = EventAccumulator(str(tmp_path / "tb" / "train"))
    board.Reload()
    assert [e.step for e in board.Scalars("loss")] == [2, 3]
    assert resumed.epoch == [0, 1, 2, 3]
    assert series(run(tmp_path, 6)) == expected  # dropped again


def test_a_log_moved_when_resuming_goes_on_in_its_new_file(tmp_path):
    run(tmp_path, 2, [ng.CSVLogger(tmp_path / "first.csv")])
    run(tmp_path, 4, [ng.CSVLogger(tmp_path / "then.csv")])
    assert csv_epochs(tmp_path / "then.csv") == [0, 1, 2, 3]


def test_a_checkpoint_written_with_its_loggers_among_the_callbacks_still_resumes(tmp_path):
    """Checkpoints written before loggers were listed apart hold them among the callbacks, in
    place: each state goes back to its callback, the logger's too."""
    expected = series(run(tmp_path / "whole", 5, checkpoint=False))
    run(tmp_path, 2, [ng.CSVLogger(tmp_path / "log.csv")])
    path = ng.Checkpoint(tmp_path / "ck").files()[-1]
    with safe_open(str(path), "numpy") as f:
        metadata, arrays = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    fingerprint = json.loads(metadata["fingerprint"])
    others = fingerprint["callbacks"]
    assert fingerprint.pop("loggers") == [[1, "CSVLogger"]]
    fingerprint["callbacks"] = [others[0], {"class": "CSVLogger"}, *others[1:]]
    metadata["fingerprint"] = json.dumps(fingerprint)
    metadata["sha256"] = _digest(metadata, arrays)  # as the older version wrote it
    save_file(arrays, str(path), metadata)
    run(tmp_path, 3, [ng.CSVLogger(tmp_path / "log.csv")])
    assert csv_epochs(tmp_path / "log.csv") == [0, 1, 2]
    assert series(run(tmp_path, 5)) == expected


def test_a_callback_that_changes_training_added_when_resuming_is_still_another_run(tmp_path):
    run(tmp_path, 2)
    with pytest.raises(ng.CheckpointError, match=r"another run: callbacks\[1\] \{\"class\""):
        run(tmp_path, 4, [ng.LearningRateScheduler(lambda epoch: 0.05)])


@pytest.mark.parametrize("option", [["--log-csv", "log.csv"], ["--tensorboard", "tb"]])
def test_the_train_command_resumes_with_a_log_option_added(tmp_path, option):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}

    def train(epochs, *more):
        command = [sys.executable, "-m", "nudgenet", "train", "--epochs", epochs, "-q",
                   "--checkpoint", "ck", "-o", "m.safetensors", *more]  # fmt: skip
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)

    assert train("2").returncode == 0
    done = train("3", "--overwrite", *option)
    assert done.returncode == 0, done.stderr
    if option[0] == "--log-csv":
        assert csv_epochs(tmp_path / "log.csv") == [2]
