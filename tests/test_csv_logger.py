"""ng.CSVLogger: Keras's format (a header ``epoch,<keys sorted>``, one row per epoch), values that
read back as the History's exactly, ``append`` continuing a file, and nothing written on a
process that does not write the run's files."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.files import set_may_write


def run(path, epochs=3, extra_callbacks=(), **options):
    """A small regression trained with a CSVLogger; returns its History."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = ng.Sequential(ng.Linear(3, 8, seed=0), ng.Tanh(), ng.Linear(8, 1, seed=1))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.05)
    logger = ng.CSVLogger(path, **options)
    return ng.fit(model, ng.MSELoss(), optimizer, x, y, epochs=epochs, batch_size=32, seed=0,
                  validation_split=0.2, metrics=["rmse"], diagnostics=True, verbose=0,
                  callbacks=[logger, *extra_callbacks])  # fmt: skip


def read(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def test_keras_format_and_values_that_read_back_exactly(tmp_path):
    def late(epoch, logs):  # a callback after the logger adds to the epoch's logs
        logs["late"] = np.float32(1.0) / np.float32(epoch + 3)

    history = run(tmp_path / "log.csv", extra_callbacks=[ng.LambdaCallback(on_epoch_end=late)])
    header, *rows = read(tmp_path / "log.csv")
    assert header == ["epoch", *sorted(history.history)]
    assert {"loss", "val_loss", "rmse", "lr", "seconds", "grad_norm/0", "late"} <= set(header)
    assert [int(row[0]) for row in rows] == history.epoch == [0, 1, 2]
    for column, key in enumerate(header[1:], start=1):
        assert [float(row[column]) for row in rows] == [float(v) for v in history[key]], key


def test_append_continues_a_file_and_a_new_run_starts_afresh(tmp_path):
    path = tmp_path / "log.csv"
    run(path, epochs=2)
    run(path, epochs=3, append=True)
    header, *rows = read(path)
    assert header[0] == "epoch" and [row[0] for row in rows] == ["0", "1", "0", "1", "2"]
    assert path.read_text().count("epoch") == 1
    run(path, epochs=1)
    assert [row[0] for row in read(path)[1:]] == ["0"]
    run(tmp_path / "new.csv", epochs=1, append=True)  # no file yet: it gets its header
    assert read(tmp_path / "new.csv")[0][0] == "epoch"


def test_a_missing_key_is_na_and_the_separator_is_kept(tmp_path):
    def only_first(epoch, logs):
        if epoch == 0:
            logs["first_only"] = 7

    run(tmp_path / "log.tsv", epochs=2, separator="\t",
        extra_callbacks=[ng.LambdaCallback(on_epoch_end=only_first)])  # fmt: skip
    header, first, second = read(tmp_path / "log.tsv", "\t")
    column = header.index("first_only")
    assert (first[column], second[column]) == ("7", "NA")
    with pytest.raises(ValueError, match="separator must be one character, got ';;'"):
        ng.CSVLogger(tmp_path / "x.csv", separator=";;")


def test_nothing_is_written_where_this_process_does_not_write(tmp_path):
    previous = set_may_write(False)
    try:
        run(tmp_path / "log.csv", epochs=2)
    finally:
        set_may_write(previous)
    assert list(tmp_path.iterdir()) == []


def test_a_run_resumed_from_a_checkpoint_rewrites_the_file_as_the_history(tmp_path):
    x = np.random.default_rng(0).normal(size=(60, 2)).astype(np.float32)
    y = x[:, :1] - x[:, 1:]
    loggers = []

    def kill_once(epoch, logs):  # after the logger wrote epoch 2's row, past the checkpoint
        if epoch == 3 and len(loggers) == 1:
            raise KeyboardInterrupt

    def fit():
        model = ng.Sequential(ng.Linear(2, 1, seed=0))
        loggers.append(ng.CSVLogger(tmp_path / "log.csv"))
        return ng.fit(model, ng.MSELoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
                      epochs=5, seed=0, verbose=0,
                      callbacks=[loggers[-1], ng.LambdaCallback(on_epoch_begin=kill_once)],
                      checkpoint=ng.Checkpoint(tmp_path / "ck", every_epochs=2))  # fmt: skip

    with pytest.raises(KeyboardInterrupt):
        fit()
    assert [row[0] for row in read(tmp_path / "log.csv")[1:]] == ["0", "1", "2"]
    history = fit()  # resumes from the checkpoint after epoch 1
    header, *rows = read(tmp_path / "log.csv")
    assert [int(row[0]) for row in rows] == history.epoch == [0, 1, 2, 3, 4]
    column = header.index("loss")
    assert [float(row[column]) for row in rows] == [float(v) for v in history["loss"]]
