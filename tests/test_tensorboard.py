"""ng.TensorBoard and ``nudgenet train --tensorboard``: the event files, read back with
TensorBoard's own reader, hold every History key per epoch (its value rounded to float32, as
TensorBoard stores scalars), each parameter's weights and gradients, the first layer's weights as
images and the layer table."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.plugin_event_accumulator import (
    EventAccumulator as ServedEvents,
)
from tensorboard.util import tensor_util

import nudgenet as ng
from nudgenet import cli
from nudgenet.files import set_may_write
from nudgenet.logs.tensorboard import scalar_place

REPO = Path(__file__).resolve().parents[1]
ALL = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}  # keep every event


def events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance=ALL)
    accumulator.Reload()
    return accumulator


def digits_run(log_dir, epochs=3, extra_callbacks=(), **options):
    """A small digits classifier trained with a TensorBoard callback; returns (model, History)."""
    x, y = ng.datasets.digits()
    model = ng.Sequential(ng.Linear(64, 12, seed=0), ng.ReLU(), ng.Linear(12, 10, seed=1))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    board = ng.TensorBoard(log_dir, **options)
    history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x[:800], y[:800], epochs=epochs,
                     batch_size=64, validation_split=0.25, metrics=["accuracy"], seed=0,
                     diagnostics=True, verbose=0, callbacks=[board, *extra_callbacks])  # fmt: skip
    return model, history


def test_every_history_key_reads_back_per_epoch_rounded_to_float32(tmp_path):
    def late(epoch, logs):  # a callback after TensorBoard adds to the epoch's logs
        logs["late_metric"] = 1.0 / (epoch + 3)

    _, history = digits_run(tmp_path, extra_callbacks=[ng.LambdaCallback(on_epoch_end=late)])
    runs = {run: events(tmp_path / run) for run in ("train", "validation")}
    expected_tags: dict[str, set] = {"train": set(), "validation": set()}
    assert {"loss", "val_loss", "accuracy", "lr", "grad_norm/0", "dead_units/1", "late_metric"} <= (
        set(history.history)
    )
    for key, values in history.history.items():
        run, tag = scalar_place(key)
        expected_tags[run].add(tag)
        read = runs[run].Scalars(tag)
        assert [e.step for e in read] == history.epoch, key
        assert [e.value for e in read] == [float(np.float32(v)) for v in values], key
    for run, accumulator in runs.items():  # nothing but the History's keys
        assert set(accumulator.Tags()["scalars"]) == expected_tags[run]


def test_histograms_hold_each_parameter_and_its_last_batch_gradient(tmp_path):
    model, _ = digits_run(tmp_path, epochs=3)
    train = events(tmp_path / "train")
    for name, p in model.named_parameters():
        weights = train.Histograms(f"weights/{name}")
        gradients = train.Histograms(f"gradients/{name}")
        assert [e.step for e in weights] == [e.step for e in gradients] == [0, 1, 2]
        last_w, last_g = weights[-1].histogram_value, gradients[-1].histogram_value
        assert last_w.num == last_g.num == p.size
        # the last epoch's: the final weights, and the gradient of the last batch
        assert (last_w.min, last_w.max) == (float(p.data.min()), float(p.data.max()))
        assert (last_g.min, last_g.max) == (float(p.grad.min()), float(p.grad.max()))
    digits_run(tmp_path / "every_2", epochs=4, histogram_freq=2)
    steps = [e.step for e in events(tmp_path / "every_2" / "train").Histograms("weights/2.bias")]
    assert steps == [0, 2]


def test_no_histograms_with_histogram_freq_0_and_the_layer_table_as_text(tmp_path):
    digits_run(tmp_path, epochs=2, histogram_freq=0)
    train = events(tmp_path / "train")
    assert train.Tags()["histograms"] == [] and train.Tags()["images"] == []
    (text,) = train.Tensors("model/text_summary")
    table = tensor_util.make_ndarray(text.tensor_proto).item().decode()
    assert "| 0 | Linear(64 -> 12) | 780 |" in table and "**910**" in table


def test_first_layer_weights_as_images(tmp_path):
    model, _ = digits_run(tmp_path, epochs=2, write_images=True, image_shape=(8, 8))
    images = events(tmp_path / "train").Images("first_layer_weights")
    assert [image.step for image in images] == [0, 1]
    assert images[-1].encoded_image_string.startswith(b"\x89PNG")
    assert images[-1].width > 8 and images[-1].height > 8  # a grid of 12 tiles of 8x8


def test_images_of_the_wrong_shape_are_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"takes 64 inputs, not images of shape \(7, 9\)"):
        digits_run(tmp_path, write_images=True, image_shape=(7, 9))
    assert not (tmp_path / "train").exists()
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match=r"log_dir .*notes.txt is a file; expected a folder"):
        digits_run(tmp_path / "notes.txt")  # before training, not after its first epoch
    with pytest.raises(ValueError, match="histogram_freq must be a whole number >= 0, got -1"):
        ng.TensorBoard(tmp_path, histogram_freq=-1)


def test_nothing_is_written_where_this_process_does_not_write(tmp_path):
    previous = set_may_write(False)
    try:
        digits_run(tmp_path / "logs", epochs=2, write_images=True, image_shape=(8, 8))
    finally:
        set_may_write(previous)
    assert not (tmp_path / "logs").exists()


def test_without_tensorboardx_the_error_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r'^TensorBoard logging needs tensorboardX, an optional '
                       r'extra: pip install "nudgenet\[tensorboard\]"$'):  # fmt: skip
        ng.TensorBoard(tmp_path)
    argv = ["train", "--dataset", "xor", "--tensorboard", "tb", "-q", "-o", "m.safetensors"]
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 1  # before training: no model, no logs
    assert "pip install \"nudgenet[tensorboard]\"" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_without_pillow_images_are_refused_before_training_naming_the_extra(tmp_path, monkeypatch,
                                                                         capsys):
    """tensorboardX draws images with Pillow, which the extra lacked: an image data set's
    ``--tensorboard`` failed after the first epoch with "No module named 'PIL'"."""
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(ImportError, match=r'^TensorBoard\(write_images=True\) needs Pillow, an '
                       r'optional extra: pip install "nudgenet\[tensorboard\]"$'):  # fmt: skip
        ng.TensorBoard(tmp_path, write_images=True)
    ng.TensorBoard(tmp_path)  # scalars and histograms need no Pillow
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--dataset", "digits", "--tensorboard", "tb", "-q", "-o", "m.safetensors"]
    assert cli.main(argv) == 1  # before training: no model, no logs
    assert "pip install \"nudgenet[tensorboard]\"" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    extra = next(line for line in (REPO / "pyproject.toml").read_text().splitlines()
                 if line.startswith("tensorboard = "))  # fmt: skip
    assert '"pillow>=' in extra, extra


def test_the_train_command_writes_tensorboard_logs_and_a_csv_log(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "nudgenet", "train", "--epochs", "3", "--json", "-q",
               "--tensorboard", "tb", "--log-csv", "log.csv", "-o", "m.safetensors"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["epochs"] == 3
    rows = (tmp_path / "log.csv").read_text().splitlines()
    header = rows[0].split(",")
    runs = {run: events(tmp_path / "tb" / run) for run in ("train", "validation")}
    for column, key in enumerate(header[1:], start=1):
        run, tag = scalar_place(key)
        read = [e.value for e in runs[run].Scalars(tag)]
        assert read == [float(np.float32(float(row.split(",")[column]))) for row in rows[1:]]
    assert [i.step for i in runs["train"].Images("first_layer_weights")] == [0, 1, 2]  # digits


def _killed_once(tmp_path, killed_at: int, rows: int, **checkpoint):
    """A fit of 4 epochs logging to TensorBoard whose first call is killed as epoch
    ``killed_at`` begins (after TensorBoard wrote the epochs before), as the interpreter's exit
    leaves it; called again, it resumes from its checkpoint folder."""
    x, y = ng.datasets.digits()
    boards = []

    def kill_once(epoch, logs):
        if epoch == killed_at and len(boards) == 1:
            boards[0].close()  # what the interpreter's exit does (atexit)
            raise KeyboardInterrupt

    def run():
        model = ng.Sequential(ng.Linear(64, 10, seed=0))
        optimizer = ng.optim.SGD(model.parameters(), lr=0.05)
        boards.append(ng.TensorBoard(tmp_path / "tb"))
        callbacks = [boards[-1], ng.LambdaCallback(on_epoch_begin=kill_once)]
        return ng.fit(model, ng.CrossEntropyLoss(), optimizer, x[:rows], y[:rows], epochs=4,
                      seed=0, verbose=0, callbacks=callbacks,
                      checkpoint=ng.Checkpoint(tmp_path / "ck", **checkpoint))  # fmt: skip

    return run


def test_a_run_resumed_from_a_checkpoint_replaces_the_steps_a_killed_run_logged(tmp_path):
    run = _killed_once(tmp_path, 3, 300, every_epochs=2)  # killed before epoch 2's checkpoint
    with pytest.raises(KeyboardInterrupt):
        run()
    assert [e.step for e in events(tmp_path / "tb" / "train").Scalars("loss")] == [0, 1, 2]
    history = run()  # resumes at epoch 2: TensorBoard drops the killed run's step 2
    read = events(tmp_path / "tb" / "train").Scalars("loss")
    assert [e.step for e in read] == [0, 1, 2, 3]
    assert [e.value for e in read] == [float(np.float32(v)) for v in history["loss"]]


@pytest.mark.parametrize(("every_steps", "killed_at"), [(None, 2), (3, 1)],
                         ids=["no-checkpoint-yet", "mid-epoch-0"])
def test_a_run_resumed_from_the_start_replaces_the_steps_a_killed_run_logged(tmp_path,
                                                                            every_steps, killed_at):
    """A run that resumed at epoch 0 (no checkpoint yet, or one in epoch 0) purged nothing: the
    killed run's epochs were logged twice, the curves zig-zagging back to step 0."""
    run = _killed_once(tmp_path, killed_at, 256, every_epochs=5, every_steps=every_steps)
    with pytest.raises(KeyboardInterrupt):  # 8 steps an epoch: every_steps=3 saves at 3 and 6
        run()
    logged = [e.step for e in events(tmp_path / "tb" / "train").Scalars("loss")]
    assert logged == list(range(killed_at))
    history = run()
    train = events(tmp_path / "tb" / "train")
    assert [e.step for e in train.Scalars("loss")] == [0, 1, 2, 3]
    expected = [float(np.float32(v)) for v in history["loss"]]
    assert [e.value for e in train.Scalars("loss")] == expected
    assert [e.step for e in train.Histograms("weights/0.weight")] == [0, 1, 2, 3]
    # the layer table: written again, the killed run's purged (by the reader TensorBoard's server
    # runs; EventAccumulator purges no text)
    served = ServedEvents(str(tmp_path / "tb" / "train"))
    served.Reload()
    assert [e.step for e in served.Tensors("model/text_summary")] == [0]


def test_the_interrupted_fit_run_again_with_the_same_tensorboard_logs_each_epoch_once(tmp_path):
    """In a notebook (Ctrl-C, then the same cell again) the writers the interrupted fit left
    open were written on, with no purge: the epoch after the checkpoint was logged twice."""
    x, y = ng.datasets.digits()
    model = ng.Sequential(ng.Linear(64, 10, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.05)
    interrupted = []

    def interrupt(batch, logs):  # Ctrl-C in the middle of epoch 3, after epoch 2's events
        if len(interrupted) == 0 and board.history.epoch[-1:] == [2] and batch == 2:
            interrupted.append(batch)
            raise KeyboardInterrupt

    board = ng.TensorBoard(tmp_path / "tb", histogram_freq=0)
    callbacks = [board, ng.LambdaCallback(on_train_batch_end=interrupt)]

    def cell():
        return ng.fit(model, ng.CrossEntropyLoss(), optimizer, x[:80], y[:80], epochs=5,
                      seed=0, verbose=0, callbacks=callbacks,
                      checkpoint=ng.Checkpoint(tmp_path / "ck", every_epochs=2))  # fmt: skip

    with pytest.raises(KeyboardInterrupt):
        cell()
    history = cell()  # resumes at epoch 2 (the checkpoint after epoch 1)
    read = events(tmp_path / "tb" / "train").Scalars("loss")
    assert [e.step for e in read] == [0, 1, 2, 3, 4]
    assert [e.value for e in read] == [float(np.float32(v)) for v in history["loss"]]


def test_non_finite_values_are_left_out_of_the_histograms(tmp_path, capsys, caplog):
    model = ng.Sequential(ng.Linear(2, 2, seed=0))
    model[0].weight.grad = np.array([[1.0, np.nan], [np.inf, 2.0]], np.float32)
    board = ng.TensorBoard(tmp_path)
    board.model = model
    board.on_train_begin({})
    board.on_epoch_end(0, {"loss": float("nan")})
    board.on_train_end({})
    train = events(tmp_path / "train")
    (gradient,) = train.Histograms("gradients/0.weight")
    assert (gradient.histogram_value.num, gradient.histogram_value.max) == (2, 2.0)
    assert "gradients/0.bias" not in train.Tags()["histograms"]  # no gradient yet
    assert np.isnan(train.Scalars("loss")[0].value) and capsys.readouterr().out == ""
    # a diverged run's NaN scalars are values to record, not a warning on stderr per value
    assert [r.getMessage() for r in caplog.records if r.name.startswith("tensorboardX")] == []


def test_the_epochs_a_checkpoint_records_are_in_the_log_before_it_is_saved(tmp_path):
    """A checkpoint writes the epoch it records as done (the resumed run then writes the rest,
    each epoch once)."""
    x, y = ng.datasets.digits()
    killed = []

    def kill_once(epoch, logs):  # after the checkpoint of epoch 1, before epoch 2's events
        if epoch == 2 and not killed:
            killed.append(epoch)
            raise KeyboardInterrupt

    def run():
        model = ng.Sequential(ng.Linear(64, 10, seed=0))
        optimizer = ng.optim.SGD(model.parameters(), lr=0.05)
        board = ng.TensorBoard(tmp_path / "tb", histogram_freq=0)
        callbacks = [ng.LambdaCallback(on_epoch_begin=kill_once), board]
        try:
            return ng.fit(model, ng.CrossEntropyLoss(), optimizer, x[:300], y[:300], epochs=4,
                          seed=0, verbose=0, callbacks=callbacks,
                          checkpoint=ng.Checkpoint(tmp_path / "ck", every_epochs=2))  # fmt: skip
        finally:
            board.close()  # what the interpreter's exit does (atexit)

    with pytest.raises(KeyboardInterrupt):
        run()
    assert [e.step for e in events(tmp_path / "tb" / "train").Scalars("loss")] == [0, 1]
    history = run()  # resumes at epoch 2
    read = events(tmp_path / "tb" / "train").Scalars("loss")
    assert [e.step for e in read] == [0, 1, 2, 3]
    assert [e.value for e in read] == [float(np.float32(v)) for v in history["loss"]]


KILLED_RUN = """
import os, sys
import nudgenet as ng
x, y = ng.datasets.digits()
model = ng.Sequential(ng.Linear(64, 10, seed=0))
def kill(epoch, logs):  # as kill -9 ends it: no atexit, no flush of tensorboardX's queue
    if epoch == int(sys.argv[2]):
        os._exit(9)
ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.05), x[:300], y[:300],
       epochs=5, seed=0, verbose=0, validation_split=0.2,
       callbacks=[ng.TensorBoard(sys.argv[1] + "/tb"), ng.LambdaCallback(on_epoch_begin=kill)],
       checkpoint=ng.Checkpoint(sys.argv[1] + "/ck"))
"""


def test_a_run_killed_hard_and_resumed_logs_every_epoch_once(tmp_path):
    """Events still in tensorboardX's queue at a kill -9 were lost, and the resumed run never
    wrote them: whole stretches of the curves were missing.  A resume also purged the
    histograms of the checkpoint's last epoch, which it does not write again."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for kill_at in ("3", "-1"):  # killed as epoch 3 begins, then resumed to the end
        done = subprocess.run([sys.executable, "-c", KILLED_RUN, str(tmp_path), kill_at],
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == (9 if kill_at == "3" else 0), done.stderr[-2000:]
    train, validation = events(tmp_path / "tb" / "train"), events(tmp_path / "tb" / "validation")
    assert [e.step for e in train.Scalars("loss")] == [0, 1, 2, 3, 4]
    assert [e.step for e in validation.Scalars("loss")] == [0, 1, 2, 3, 4]
    assert [e.step for e in train.Histograms("weights/0.weight")] == [0, 1, 2, 3, 4]
    assert [e.step for e in train.Tensors("model/text_summary")] == [0]  # written once


def test_event_files_are_named_in_the_order_they_were_opened_across_processes(tmp_path,
                                                                             monkeypatch):
    """TensorBoard reads a run's files in the order of their names: a resumed run's file opened
    in the same second by a process of a lower pid was read first, and the killed run's file
    after it purged the resumed epochs."""
    for step, pid in ((0, 900), (1, 100)):  # the killed process, then the resumed one
        monkeypatch.setattr(os, "getpid", lambda pid=pid: pid)
        board = ng.TensorBoard(tmp_path)
        board.write_epoch(step, {"loss": float(step)})
        board.close()
    files = sorted(p.name for p in (tmp_path / "train").iterdir())
    assert [name.split(".")[-2] for name in files] == ["900", "100"]
    assert [e.step for e in events(tmp_path / "train").Scalars("loss")] == [0, 1]


def test_a_copy_or_a_pickle_holds_the_settings_and_opens_its_own_writers(tmp_path):
    """scikit-learn's ``clone`` deep-copies a callback and joblib pickles it: neither may hold
    tensorboardX's module or the event writers (threads) open during training."""
    board = ng.TensorBoard(tmp_path / "a", histogram_freq=2, write_graph=False)
    copies = []
    keep = ng.LambdaCallback(
        on_epoch_end=lambda epoch, logs: copies.append(pickle.loads(pickle.dumps(board)))
    )
    x, y = ng.datasets.digits()
    model = ng.Sequential(ng.Linear(64, 10, seed=0))
    ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.05), x[:200],
           y[:200], epochs=2, verbose=0, callbacks=[board, keep])  # fmt: skip
    assert board._writers == {} and all(c._writers == {} for c in copies)  # closed, not copied
    again = copy.deepcopy(board)
    assert (again.histogram_freq, again.write_graph, again.log_dir) == (2, False, tmp_path / "a")
    again.log_dir = tmp_path / "b"
    ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.05), x[:200],
           y[:200], epochs=2, verbose=0, callbacks=[again])  # fmt: skip
    assert events(tmp_path / "b" / "train").Scalars("loss")[-1].step == 1  # its own files


def test_a_run_without_checkpoints_adds_to_the_folder_as_keras_does(tmp_path):
    """Every writer purged from its first step, epoch 0 included: a second fit with the same
    callback (training on), or a short run into a folder of a long one, hid the earlier events."""
    x, y = ng.datasets.digits()
    model = ng.Sequential(ng.Linear(64, 10, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.05)
    board = ng.TensorBoard(tmp_path / "tb")
    for epochs in (3, 2):
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x[:200], y[:200], epochs=epochs, seed=0,
               verbose=0, callbacks=[board])  # fmt: skip
    board.close()
    steps = [e.step for e in events(tmp_path / "tb" / "train").Scalars("loss")]
    assert sorted(steps) == [0, 0, 1, 1, 2]
