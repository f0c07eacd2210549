"""ng.CSVLogger: Keras's format (a header ``epoch,<keys sorted>``, one row per epoch), values that
read back as the History's exactly, ``append`` continuing a file, and nothing written on a
process that does not write the run's files."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import nudgenet as ng
from nudgenet import cli
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
    written = (tmp_path / "log.csv").read_text()
    fit()  # the finished run again: it resumes, trains nothing, and keeps the log (emptied before)
    assert (tmp_path / "log.csv").read_text() == written


def test_a_run_refused_by_its_checkpoint_folder_leaves_the_log_as_it_was(tmp_path):
    """The folder's checks (another run's checkpoint, a folder in use) came after the callbacks
    had started, and the CSV log had been started afresh, emptied, before the refusal."""
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    y = x[:, :1] - x[:, 1:]

    def fit(width, **checkpoint):
        model = ng.Sequential(ng.Linear(2, width, seed=0), ng.Linear(width, 1, seed=1))
        return ng.fit(model, ng.MSELoss(), ng.optim.SGD(model.parameters(), lr=0.05), x, y,
                      epochs=2, seed=0, verbose=0, callbacks=[ng.CSVLogger(tmp_path / "log.csv")],
                      checkpoint=ng.Checkpoint(tmp_path / "ck", **checkpoint))  # fmt: skip

    fit(3)
    written = (tmp_path / "log.csv").read_text()
    with pytest.raises(ng.CheckpointError, match="is of another run"):
        fit(4)  # another architecture
    assert (tmp_path / "log.csv").read_text() == written
    held = ng.Checkpoint(tmp_path / "ck")
    held.start({})  # another run holds the folder meanwhile
    try:
        with pytest.raises(ng.CheckpointError, match="held by another run|in use"):
            fit(3)
    finally:
        held.release()
    assert (tmp_path / "log.csv").read_text() == written


def test_a_finished_run_resumed_keeps_rows_appended_since(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    y = x[:, :1] - x[:, 1:]

    def fit(checkpoint=None):
        model = ng.Sequential(ng.Linear(2, 1, seed=0))
        ng.fit(model, ng.MSELoss(), ng.optim.SGD(model.parameters(), lr=0.05), x, y, epochs=2,
               seed=0, verbose=0, callbacks=[ng.CSVLogger(tmp_path / "log.csv", append=True)],
               checkpoint=checkpoint)  # fmt: skip

    fit(ng.Checkpoint(tmp_path / "ck"))
    fit()  # another fit appends its rows
    written = (tmp_path / "log.csv").read_text()
    fit(ng.Checkpoint(tmp_path / "ck"))  # the finished run again: nothing to train or write
    assert (tmp_path / "log.csv").read_text() == written


def test_appending_a_run_with_other_keys_keeps_every_value_under_its_own_column(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,lr,seconds,old_metric\n0,0.5,0.05,0.1,7\n")  # no validation
    history = run(path, epochs=2, append=True)  # validation: val_loss, val_rmse, ...

    def late(epoch, logs):  # a key that only a later epoch logs
        if epoch == 1:
            logs["late"] = 3.0

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(None not in row for row in rows)  # no cell without a column
    assert rows[0]["loss"] == "0.5" and rows[0]["val_loss"] == "NA"
    assert [float(r["val_loss"]) for r in rows[1:]] == history["val_loss"]
    assert [float(r["loss"]) for r in rows[1:]] == history["loss"]
    assert [r["old_metric"] for r in rows] == ["7", "NA", "NA"]
    run(tmp_path / "late.csv", epochs=2, extra_callbacks=[ng.LambdaCallback(on_epoch_end=late)])
    with open(tmp_path / "late.csv", newline="") as f:
        assert [r["late"] for r in csv.DictReader(f)] == ["NA", "3.0"]


def test_the_train_command_refuses_a_log_that_would_replace_its_data_or_model(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    data = "a,b,label\n" + "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(40))
    (tmp_path / "data.csv").write_text(data)
    base = ["train", "--dataset", "data.csv", "--epochs", "1", "-q"]
    for extra, said in (
        (["--log-csv", "data.csv"], "--dataset and --log-csv name the same path, data.csv; "
                                     "--log-csv would replace the data it reads"),
        (["--log-csv", "./sub/../data.csv", "-o", "m.safetensors"],
         "--dataset and --log-csv name the same path"),
        (["--log-csv", "m.safetensors", "-o", "m.safetensors"],
         "--output and --log-csv name the same path, m.safetensors"),
    ):  # fmt: skip
        assert cli.main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1
    assert (tmp_path / "data.csv").read_text() == data  # the data set is intact
    assert not (tmp_path / "m.safetensors").exists()
    argv = ["train", "--dataset", "digits", "--epochs", "1", "-q", "--log-csv", "digits"]
    assert cli.main(argv) == 0  # a file named like a bundled data set is no data file
    assert (tmp_path / "digits").read_text().startswith("epoch,")
    assert cli.main(argv) == 0  # a CSV log of an earlier run is replaced


def test_the_train_command_refuses_a_log_over_its_default_model_file_or_any_other_file(
    tmp_path, monkeypatch, capsys
):
    """Without -o the check missed the default model file: the log replaced the model, and
    train then said it had kept that (now CSV) file.  Other files that are no CSV log (another
    model, a script) were replaced too."""
    monkeypatch.chdir(tmp_path)
    base = ["train", "--dataset", "digits", "--epochs", "1", "-q"]
    assert cli.main(base) == 0
    model = (tmp_path / "nudgenet-digits.safetensors").read_bytes()
    assert cli.main([*base, "--log-csv", "nudgenet-digits.safetensors"]) == 2
    err = capsys.readouterr().err
    assert "the model (the default --output) and --log-csv name the same path" in err
    (tmp_path / "notes.txt").write_text("keep me\n")
    (tmp_path / "epochs.txt").write_text("epochalypse notes\n")  # no "epoch," header
    for other in ("nudgenet-digits.safetensors", "notes.txt", "epochs.txt"):
        assert cli.main([*base, "-o", "new.safetensors", "--log-csv", other]) == 2
        err = capsys.readouterr().err
        assert f"--log-csv {other} exists and is not a CSV log" in err and err.count("\n") == 1
    assert "name another file, such as epochs-log.csv (see" in err
    (tmp_path / "epochs-log.csv").write_text("taken\n")  # the suggestion: a name no file has
    assert cli.main([*base, "-o", "new.safetensors", "--log-csv", "epochs.txt"]) == 2
    assert "name another file, such as epochs-log-2.csv (see" in capsys.readouterr().err
    assert (tmp_path / "nudgenet-digits.safetensors").read_bytes() == model
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"
    assert not (tmp_path / "new.safetensors").exists()
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfepoch,loss\r\n0,1.0\r\n")  # re-saved
    assert cli.main([*base, "-o", "new.safetensors", "--log-csv", "bom.csv"]) == 0
    assert (tmp_path / "bom.csv").read_text().startswith("epoch,")


def test_a_logger_reused_after_a_run_that_raised_writes_only_the_new_run(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    y = x[:, :1] - x[:, 1:]
    logger = ng.CSVLogger(tmp_path / "log.csv")

    def broken(epoch, logs):  # a callback after the logger fails when epoch 1 ends
        if epoch == 1:
            raise RuntimeError("a bug in a callback")

    def fit(callbacks):
        model = ng.Sequential(ng.Linear(2, 1, seed=0))
        return ng.fit(model, ng.MSELoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
                      epochs=3, seed=0, verbose=0, callbacks=[logger, *callbacks])  # fmt: skip

    with pytest.raises(RuntimeError, match="a bug in a callback"):
        fit([ng.LambdaCallback(on_epoch_end=broken)])
    history = fit([])  # the same logger, as a notebook cell run again would use it
    assert [int(row[0]) for row in read(tmp_path / "log.csv")[1:]] == history.epoch == [0, 1, 2]
