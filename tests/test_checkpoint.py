"""Checkpoints: a run killed anywhere and resumed ends bit for bit as one never interrupted."""

from __future__ import annotations

import enum
import fcntl
import functools
import json
import math
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.checkpoint import read
from nudgenet.optim import StepLR


class Killed(Exception):
    """What the kill callback raises: the process dying at that moment, as far as fit knows."""


class Kill(ng.Callback):
    """Raise :class:`Killed` after the optimiser's ``at``-th step (counted over the whole run, so
    a resumed run is killed at the same moment of training), or never (None)."""

    def __init__(self, at=None):
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if self.optimizer.step_count == self.at:
            raise Killed(self.at)


SRC = Path(__file__).resolve().parents[1] / "src"
ROWS, FEATURES, CLASSES, BATCH = 120, 6, 3, 16  # 8 steps an epoch, the last one short


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)
    return x, y


def setup(case):
    """A fresh run of ``case``: (model, optimizer, callbacks, fit's keywords)."""
    ng.manual_seed(3)
    hidden = [ng.Linear(FEATURES, 12, seed=0), ng.ReLU()]
    if case == "dropout":
        hidden += [ng.Dropout(0.3), ng.Linear(12, 12, seed=2), ng.Tanh(), ng.Dropout(0.2, seed=9)]
    if case == "batchnorm":
        hidden += [ng.BatchNorm1d(12)]
    model = ng.Sequential(*hidden, ng.Linear(12, CLASSES, seed=1))
    keywords = {"epochs": 6, "batch_size": BATCH, "seed": 11, "verbose": 0}
    callbacks = []
    if case in ("sgd-schedule", "dropout", "batchnorm"):
        optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        callbacks.append(ng.LearningRateScheduler(StepLR(optimizer, 2, 0.5)))
    else:
        optimizer = ng.optim.Adam(model.parameters(), lr=0.05)
    if case == "early-stopping":
        keywords.update(epochs=30, validation_split=0.25, metrics=["accuracy"], diagnostics=True)
        callbacks += [
            ng.ReduceLROnPlateau(patience=1, factor=0.5),
            ng.EarlyStopping(patience=2, min_delta=0.01),
            ng.TerminateOnDivergence(),
        ]
    return model, optimizer, callbacks, keywords


def train(case, compile, kill=None, checkpoint=None):
    model, optimizer, callbacks, keywords = setup(case)
    x, y = data()
    history = ng.fit(
        model,
        ng.CrossEntropyLoss(),
        optimizer,
        x,
        y,
        callbacks=[*callbacks, Kill(kill)],
        compile=compile,
        checkpoint=checkpoint,
        **keywords,
    )
    return model, optimizer, history


def outcome(model, optimizer, history):
    """Everything the run ends with that must match, as bytes and plain values."""
    state = optimizer.state_dict()
    series = {k: v for k, v in history.to_dict().items() if k != "seconds"}
    return (
        {k: (v.dtype, v.tobytes()) for k, v in model.state_dict().items()},
        {k: v.tobytes() for k, v in state.pop("state").items()},
        state,
        repr(series),  # repr: NaN equals NaN, and 0.1 differs from 0.1000001
        (history.stop_reason, history.stopped_epoch),
    )


CASES = [
    ("sgd-schedule", True),
    ("adam", True),
    ("sgd-schedule", False),
    ("dropout", False),
    ("batchnorm", False),
    ("early-stopping", "auto"),
]


@pytest.mark.parametrize(("case", "compile"), CASES)
@pytest.mark.parametrize("every_steps", [None, 3], ids=["epochs", "steps"])
def test_a_run_killed_and_resumed_ends_as_one_never_killed(tmp_path, case, compile, every_steps):
    model, optimizer, history = train(case, compile)
    expected, steps = outcome(model, optimizer, history), optimizer.step_count
    if case == "early-stopping":
        assert history.stop_reason == "early_stopping" and history.stopped_epoch < 29
    # mid-epoch, at an epoch's last step, twice in a row, just before the end
    kills = sorted({5, 8, 13, 14, steps // 2, steps - 1})
    checkpoint = ng.Checkpoint(tmp_path, every_steps=every_steps)
    for kill in kills:
        with pytest.raises(Killed):
            train(case, compile, kill, checkpoint)
    assert outcome(*train(case, compile, checkpoint=checkpoint)) == expected
    assert len(checkpoint.files()) <= checkpoint.keep


def test_a_finished_run_run_again_trains_no_more(tmp_path, capsys):
    checkpoint = ng.Checkpoint(tmp_path, every_epochs=4)
    expected = outcome(*train("adam", True, checkpoint=checkpoint))
    assert [p.name for p in checkpoint.files()][-1] == "checkpoint-000006-0000000.safetensors"
    model, optimizer, history = train("adam", True, kill=1, checkpoint=checkpoint)  # no step runs
    assert outcome(model, optimizer, history) == expected


def test_a_finished_run_of_more_epochs_than_asked_is_kept_with_a_warning(tmp_path):
    """With verbose=0 nothing said that fit(epochs=2) returned a 6-epoch run's model."""
    checkpoint = ng.Checkpoint(tmp_path)
    expected = outcome(*train("adam", True, checkpoint=checkpoint))  # 6 epochs
    model, optimizer, callbacks, keywords = setup("adam")
    keywords["epochs"] = 2
    said = (r"^fit\(epochs=2\): .*checkpoint-000006-0000000\.safetensors is of a run trained "
            r"for 6 epochs; its model is kept \(restart=True trains 2 anew\)$")  # fmt: skip
    with pytest.warns(UserWarning, match=said):
        history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, *data(), checkpoint=checkpoint,
                         callbacks=[*callbacks, Kill()], **keywords)  # fmt: skip
    assert outcome(model, optimizer, history) == expected
    with warnings.catch_warnings():  # as many epochs as the run had, or more: no warning
        warnings.simplefilter("error")
        train("adam", True, checkpoint=checkpoint)


def test_a_folder_given_as_the_checkpoint_is_a_one_line_type_error(tmp_path):
    """As Keras's ModelCheckpoint takes a path: fit says what it takes, not an AttributeError
    from deep inside (under MPI: tests/mpi/faults.py's checkpoint-path-on-rank-0)."""
    model, optimizer, _, _ = setup("adam")
    with pytest.raises(TypeError, match=r"^fit: checkpoint must be a Checkpoint \(ng\.Check"):
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, *data(), seed=0, checkpoint=str(tmp_path))


def test_the_resumed_run_says_where_it_resumes_in_one_line(tmp_path, capsys):
    checkpoint = ng.Checkpoint(tmp_path, every_epochs=None, every_steps=5)
    with pytest.raises(Killed):
        train("adam", True, kill=12, checkpoint=checkpoint)
    model, optimizer, _, keywords = setup("adam")
    keywords["verbose"] = 2
    capsys.readouterr()
    ng.fit(
        model,
        ng.CrossEntropyLoss(),
        optimizer,
        *data(),
        callbacks=[Kill()],
        checkpoint=checkpoint,
        **keywords,
    )
    err = capsys.readouterr().err
    assert err.count("fit: resuming from ") == 1
    assert "checkpoint-000001-0000002.safetensors: epoch 2, step 2 of 8" in err  # step 10 of 48


def test_a_checkpoint_of_another_run_is_refused_naming_the_difference(tmp_path):
    checkpoint = ng.Checkpoint(tmp_path)
    train("adam", True, checkpoint=checkpoint)
    model, optimizer, _, keywords = setup("adam")
    keywords["batch_size"] = 20
    with pytest.raises(ng.CheckpointError, match="batch_size 16 there, 20 here"):
        ng.fit(
            model,
            ng.CrossEntropyLoss(),
            optimizer,
            *data(),
            callbacks=[Kill()],
            checkpoint=checkpoint,
            **keywords,
        )
    with pytest.raises(ng.CheckpointError, match="optimizer"):
        train("sgd-schedule", True, checkpoint=checkpoint)
    with pytest.raises(ng.CheckpointError, match="architecture"):
        train("dropout", False, checkpoint=checkpoint)
    restarted = ng.Checkpoint(tmp_path, restart=True)
    assert outcome(*train("dropout", False, checkpoint=restarted)) == outcome(
        *train("dropout", False)
    )


def test_a_run_with_a_plain_function_as_its_loss_resumes_in_another_process(tmp_path):
    """The checkpoint compared the loss's repr, whose address (``<function f at 0x...>``)
    differs from process to process: such a run could never resume."""
    script = (
        "import sys, numpy as np, nudgenet as ng\n"
        "x, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2\n"
        "m = ng.Sequential(ng.Linear(3, 2, seed=0))\n"
        "h = ng.fit(m, ng.functional.cross_entropy, ng.optim.SGD(m.parameters(), lr=0.1), x, y,\n"
        "           epochs=int(sys.argv[1]), seed=0, verbose=0,\n"
        "           checkpoint=ng.Checkpoint(sys.argv[2]))\n"
        "print(len(h))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(ng.__file__).parents[1])}
    for epochs in ("2", "3"):
        done = subprocess.run([sys.executable, "-c", script, epochs, str(tmp_path / "run")],
                              capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["3"], "the History of the 2 epochs resumed, and a third"


def test_a_corrupt_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    expected = outcome(*train("adam", True))
    checkpoint = ng.Checkpoint(tmp_path, every_steps=4, keep=3)
    with pytest.raises(Killed):
        train("adam", True, kill=22, checkpoint=checkpoint)
    newest = checkpoint.files()[-1]
    data_ = bytearray(newest.read_bytes())
    data_[-3] ^= 0x10  # a flipped bit in the arrays
    newest.write_bytes(bytes(data_))
    (tmp_path / ".checkpoint-000009-0000001.safetensors.ab12.tmp").write_bytes(b"half")
    with pytest.warns(UserWarning, match="unreadable .*checksum.*set aside as .*trying the one"):
        assert outcome(*train("adam", True, checkpoint=checkpoint)) == expected
    assert not list(tmp_path.glob(".*.tmp"))
    assert [p.name for p in tmp_path.glob("*.corrupt")] == [newest.with_suffix(".corrupt").name]


def test_with_keep_1_a_corrupt_checkpoint_is_set_aside_so_new_ones_are_kept(tmp_path):
    checkpoint = ng.Checkpoint(tmp_path, every_steps=4, keep=1)
    with pytest.raises(Killed):
        train("adam", True, kill=22, checkpoint=checkpoint)
    only = checkpoint.files()[-1]
    only.write_bytes(only.read_bytes()[:50])
    with pytest.warns(UserWarning, match="set aside"), pytest.raises(Killed):
        train("adam", True, kill=10, checkpoint=checkpoint)
    kept = checkpoint.files()
    assert len(kept) == 1 and kept[0] != only  # a new, readable one: the corrupt one no longer wins
    read(kept[0])


HOLDER = """
import sys
import numpy as np, nudgenet as ng


class Wait(ng.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        print("training", flush=True)
        sys.stdin.readline()  # until killed


model = ng.Sequential(ng.Linear(2, 2, seed=0))
ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), np.ones((8, 2)),
       np.arange(8) % 2, epochs=1, seed=0, verbose=0, callbacks=[Wait()],
       checkpoint=ng.Checkpoint(sys.argv[1]))
"""


def test_a_folder_another_run_trains_in_is_refused_until_that_run_is_gone(tmp_path):
    """Two runs at once in one folder would delete each other's files and resume from each
    other's checkpoints: the second is refused in one line, touching nothing; once the first
    is gone (here killed: its lock dies with it) a run starts as usual."""
    folder = tmp_path / "ck"
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    with open(tmp_path / "holder.err", "w") as err:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder)], env={**os.environ, "PYTHONPATH": path},
            text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
        )  # fmt: skip
    try:
        assert holder.stdout.readline() == "training\n", (tmp_path / "holder.err").read_text()
        writing = folder / ".checkpoint-000001-0000000.safetensors.ab12cd34.tmp"  # its write
        writing.write_bytes(b"half")
        with pytest.raises(ng.CheckpointError) as refused:
            train("adam", True, checkpoint=ng.Checkpoint(folder))
        assert str(refused.value).startswith(f"checkpoint folder {folder} is in use by another run")
        assert writing.exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert outcome(*train("adam", True, checkpoint=ng.Checkpoint(folder))) == outcome(
        *train("adam", True)
    )
    assert not writing.exists()  # a killed write's leftover, once no run holds the folder


def _free(folder) -> bool:
    """Whether another run could lock ``folder`` now (as ``Checkpoint`` does)."""
    held = os.open(folder / ".checkpoint.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(held)


def test_the_folder_is_held_during_fit_only(tmp_path):
    folder, held = tmp_path / "ck", []
    model, optimizer, _, keywords = setup("adam")
    watch = ng.LambdaCallback(on_epoch_begin=lambda epoch, logs: held.append(not _free(folder)))
    ng.fit(model, ng.CrossEntropyLoss(), optimizer, *data(), callbacks=[watch],
           checkpoint=ng.Checkpoint(folder), **keywords)  # fmt: skip
    assert held == [True] * keywords["epochs"] and _free(folder)
    with pytest.raises(Killed):
        train("adam", True, kill=3, checkpoint=ng.Checkpoint(tmp_path / "k2", every_steps=1))
    assert _free(tmp_path / "k2")  # let go when fit failed


def test_a_folder_this_process_cannot_write_still_resumes(tmp_path, monkeypatch):
    folder = tmp_path / "ck"
    finished = train("adam", True, checkpoint=ng.Checkpoint(folder))
    (folder / ".checkpoint.lock").unlink()
    real_open = os.open

    def no_lock_file(path, flags, *args):  # as a read-only folder (root may write anywhere)
        if str(path).endswith(".checkpoint.lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_lock_file)
    assert outcome(*train("adam", True, checkpoint=ng.Checkpoint(folder))) == outcome(*finished)
    assert not (folder / ".checkpoint.lock").exists()


def test_a_read_only_folder_with_training_left_is_refused_before_any_training(tmp_path,
                                                                             monkeypatch):
    """fit resumed from a read-only folder, trained an epoch, then crashed with a raw
    PermissionError naming a temporary file at its first checkpoint."""
    folder = tmp_path / "ck"
    with pytest.raises(Killed):
        train("adam", True, kill=3, checkpoint=ng.Checkpoint(folder, every_steps=1))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == folder
                        and mode == os.W_OK else real_access(path, mode, **kw))  # fmt: skip
    saved = ng.Checkpoint(folder).files()
    model, optimizer, callbacks, keywords = setup("adam")
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ng.CheckpointError, match=r"ck is read-only: training would fail at its "
                       r"first checkpoint; make it writable, or pass another folder"):
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, *data(), callbacks=[*callbacks, Kill(3)],
               checkpoint=ng.Checkpoint(folder, every_steps=1), **keywords)  # fmt: skip
    assert ng.Checkpoint(folder).files() == saved  # refused before any step (Kill not reached)
    for key, value in model.state_dict().items():  # and before the checkpoint was restored
        np.testing.assert_array_equal(value, before[key])
    with pytest.raises(ng.CheckpointError, match="read-only: training would fail"):
        train("adam", True, kill=3, checkpoint=ng.Checkpoint(folder, every_steps=1, restart=True))
    assert ng.Checkpoint(folder).files() == saved  # nothing deleted


@pytest.mark.parametrize("cut", [0, 7, 100, -1])
def test_a_truncated_checkpoint_is_unreadable_not_a_crash(tmp_path, cut):
    checkpoint = ng.Checkpoint(tmp_path)
    train("adam", True, checkpoint=checkpoint)
    path = checkpoint.files()[-1]
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ng.CheckpointError, match="unreadable"):
        read(path)


def test_a_non_finite_loss_stops_before_its_update_naming_epoch_step_and_layer(tmp_path):
    model, optimizer, _, _ = setup("adam")
    x, y = data()
    x[2 * BATCH + 5, 3] = np.nan  # in the third batch (no shuffling)
    checkpoint = ng.Checkpoint(tmp_path, every_steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning, match="epoch 1, step 3; 1 of the batch's rows hold NaN"):
            ng.fit(
                model,
                ng.CrossEntropyLoss(),
                optimizer,
                x,
                y,
                batch_size=BATCH,
                shuffle=False,
                verbose=0,
                checkpoint=checkpoint,
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model, optimizer, _, _ = setup("adam")
        history = ng.fit(
            model,
            ng.CrossEntropyLoss(),
            optimizer,
            x,
            y,
            batch_size=BATCH,
            shuffle=False,
            verbose=0,
            checkpoint=ng.Checkpoint(tmp_path, every_steps=1, restart=True),
        )
    assert history.stop_reason == "diverged" and history.stopped_epoch == 0
    assert "epoch 1, step 3" in history.stop_message
    assert optimizer.step_count == 2  # the non-finite batch made no update
    assert all(np.isfinite(p.data).all() for p in model.parameters())
    names = [p.name for p in ng.Checkpoint(tmp_path).files()]
    assert names == [
        "checkpoint-000000-0000001.safetensors",
        "checkpoint-000000-0000002.safetensors",
    ]
    fingerprint, state = read(ng.Checkpoint(tmp_path).files()[-1])
    assert all(np.isfinite(a).all() for a in state["model"].values())
    assert math.isfinite(state["epoch"]["loss_sum"])


def test_a_forward_overflow_is_named_by_its_first_layer_not_the_output_layer():
    from nudgenet.divergence import non_finite

    model = ng.nn.Sequential(ng.nn.Linear(2, 3, seed=0), ng.nn.ReLU(), ng.nn.Linear(3, 2, seed=1))
    model[0].weight.data[...] = 3e38  # finite, but x W overflows float32 in layer '0'
    x = np.ones((4, 2), dtype=np.float32)
    said = non_finite(model, 0, 4, float("nan"), x)
    assert said.endswith("the forward pass first overflowed in layer '0'"), said
    assert model.training  # put back in training mode


@pytest.mark.parametrize(
    "change, named",
    [
        ({"metrics": ["accuracy", "f1_macro"]}, "metrics"),
        ({"clip_grad_norm": 0.01}, "clip_grad_norm"),
        ({"class_weight": {0: 5.0}}, "the data differ: x, y there, x, y, sample_weight here"),
    ],
    ids=["metrics", "clipping", "row-weights"],
)
def test_a_run_with_other_settings_is_refused_naming_them(tmp_path, change, named):
    x, y = data()
    options = dict(epochs=2, batch_size=BATCH, verbose=0, seed=0, metrics=["accuracy"])
    model, optimizer, _, _ = setup("adam")
    ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, checkpoint=ng.Checkpoint(tmp_path),
           **options)  # fmt: skip
    model, optimizer, _, _ = setup("adam")
    with pytest.raises(ng.CheckpointError, match=rf"is of another run: {named}[ \[]"):
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, checkpoint=ng.Checkpoint(tmp_path),
               **{**options, **change})  # fmt: skip


def test_a_run_on_other_data_is_refused_naming_the_data_first(tmp_path):
    """A run on another data set was refused by the first setting fitted to it: "architecture
    .layers[0].mean[0] -0.0928 there, 199.3 here" (a Standardize layer's mean), or a layer's
    JSON cut short; the data come first, by fit's names."""
    x, y = data()
    options = dict(epochs=1, batch_size=BATCH, verbose=0, seed=0)

    def fit(x, y, **more):
        model, optimizer, _, _ = setup("adam")
        model = ng.Sequential(ng.Standardize(x.mean(axis=0), x.std(axis=0)), *model)
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, checkpoint=ng.Checkpoint(tmp_path),
               **{**options, **more})  # fmt: skip

    fit(x, y)
    for other, said in (
        ((x[:-8], y[:-8]), f"x of shape ({ROWS}, {FEATURES}) there, ({ROWS - 8}, {FEATURES}) here"),
        ((x + 1, y), "x holds other values"),
        ((x, (y + 1) % CLASSES), "y holds other values"),
        ((x, y, {"validation_split": 0.25}), "x, y there, x, y, validation x, validation y here"),
    ):
        with pytest.raises(ng.CheckpointError) as refused:
            fit(*other[:2], **(other[2] if len(other) > 2 else {}))
        message = str(refused.value)
        assert f"is of another run: the data differ: {said}" in message.split(";")[0]
        assert message.endswith("; use another directory, or restart=True to start over")


def test_a_resumed_schedule_rounds_to_0_as_the_run_it_resumes(tmp_path):
    """The rounding taken as a rate of 0 scales with the largest rate yet, which a resumed run
    did not know: a float32 decay's -7.45e-9 was 0 in one run and an error after a resume."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    tenth = np.float32(0.1)

    def rate(epoch):  # 0.001, 0.1, then 0 in float32 arithmetic (below it by rounding)
        return [0.001, tenth][epoch] if epoch < 2 else tenth - 3 * (tenth / np.float32(3))

    def run(epochs, checkpoint=None):
        model = ng.Sequential(ng.Linear(3, 1, seed=0))
        optimizer = ng.optim.SGD(model.parameters(), lr=0.001)
        schedule = [ng.LearningRateScheduler(rate)]
        return ng.fit(model, ng.MSELoss(), optimizer, x, y, epochs=epochs, verbose=0, seed=0,
                      callbacks=schedule, checkpoint=checkpoint)  # fmt: skip

    straight = run(4).history["lr"]
    assert straight[-2:] == [0.0, 0.0]
    run(2, ng.Checkpoint(tmp_path))  # stopped after the largest rate
    assert run(4, ng.Checkpoint(tmp_path)).history["lr"] == straight


def test_a_checkpoint_of_a_schedule_written_before_its_largest_rate_was_kept_resumes():
    """Such a checkpoint holds no state of a function schedule ({}): the rate it left (the
    optimiser's, restored first) is the scale of the rounding taken as 0, as it was then."""
    model = ng.Sequential(ng.Linear(2, 1, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)  # the rate the old checkpoint left
    tenth = np.float32(0.1)
    schedule = ng.LearningRateScheduler(lambda epoch: tenth - 3 * (tenth / np.float32(3)))
    schedule.optimizer = optimizer
    schedule.on_train_begin()
    schedule.load_state_dict({})
    schedule.on_epoch_begin(2)
    assert optimizer.lr == 0.0  # -7.45e-9 of rounding, not an error


def _decay(epoch, base):
    return base * 0.5**epoch


def _stepwise(milestones, gamma=0.5):
    return lambda epoch: 0.1 * gamma ** sum(epoch >= m for m in milestones)


def _table(epoch, rates):
    return rates[min(epoch, len(rates) - 1)]


class _Clipped(ng.Callback):
    """A callback of one's own whose training setting is a function."""

    writes_parameters = False
    _training_settings = ("rule",)

    def __init__(self, rule):
        self.rule = rule


_RATES_SO_FAR: list[float] = []  # a schedule's state: it grows as the run goes


def _logged(epoch):
    _RATES_SO_FAR.append(0.1)
    return _RATES_SO_FAR[-1]


class _Mode(enum.Enum):
    HALVE = 0.5
    TENTH = 0.1


def test_a_schedule_s_state_resumes_and_a_setting_s_member_is_compared(tmp_path):
    """The numbers a schedule's module globals held (the rates so far, the rank) were compared
    as settings, so the very run was refused; an Enum's member compares by its name, a 0-d
    array by its number (they were a type name, and a TypeError)."""
    _run_with(lambda o: ng.LearningRateScheduler(_logged), 2, tmp_path / "state")
    assert len(_run_with(lambda o: ng.LearningRateScheduler(_logged), 4, tmp_path / "state")) == 4
    _run_with(lambda o: _Clipped(_Mode.HALVE), 2, tmp_path / "enum")
    with pytest.raises(ng.CheckpointError, match=r"callbacks\[0\]\.rule \"_Mode\.HALVE\" there, "
                                                 r"\"_Mode\.TENTH\" here"):  # fmt: skip
        _run_with(lambda o: _Clipped(_Mode.TENTH), 4, tmp_path / "enum")
    _run_with(lambda o: _Clipped(np.array(0.5)), 2, tmp_path / "scalar")
    with pytest.raises(ng.CheckpointError, match=r"callbacks\[0\]\.rule 0\.5 there, 0\.1 here"):
        _run_with(lambda o: _Clipped(np.array(0.1)), 4, tmp_path / "scalar")


@pytest.mark.parametrize("rule", ["np.clip", "{'0.weight', '0.bias', 'b', 'c'}",
                                  "{np.clip: 0.5, frozenset({'a', 'b', 'c'}): 1}"])
def test_a_callback_s_setting_that_is_a_function_or_a_set_resumes(rule, tmp_path):
    """A function's repr holds an address, a set's str follows the hash order, another in every
    process: the checkpoint was refused as of another run by the very code that wrote it."""
    run = [sys.executable, "-c", f"""
import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_checkpoint import _run_with, _Clipped
import numpy as np
print(len(_run_with(lambda o: _Clipped({rule}), int(sys.argv[1]), {str(tmp_path)!r})))
"""]  # fmt: skip
    for epochs, hash_seed in (("2", "1"), ("4", "2")):  # two processes
        env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([*run, epochs], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0 and done.stdout.strip() == epochs, done.stderr[-2000:]


def _run_with(callback_of, epochs, folder):
    """A short run with the callback ``callback_of(optimizer)``, checkpointed in ``folder``."""
    x, y = data()
    model = ng.Sequential(ng.Linear(FEATURES, CLASSES, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    return ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=epochs, batch_size=BATCH,
                  seed=0, verbose=0, validation_split=0.25, callbacks=[callback_of(optimizer)],
                  checkpoint=ng.Checkpoint(folder))  # fmt: skip


@pytest.mark.parametrize(("first", "then", "named"), [
    (lambda o: ng.EarlyStopping(patience=1), lambda o: ng.EarlyStopping(patience=50),
     "callbacks[0].patience 1 there, 50 here"),
    (lambda o: ng.ReduceLROnPlateau(factor=0.5), lambda o: ng.ReduceLROnPlateau(factor=0.01),
     "callbacks[0].factor 0.5 there, 0.01 here"),
    (lambda o: ng.LearningRateScheduler(StepLR(o, step_size=1, gamma=0.5)),
     lambda o: ng.LearningRateScheduler(StepLR(o, step_size=100, gamma=0.5)),
     "callbacks[0].step_size 1 there, 100 here"),
    (lambda o: ng.LearningRateScheduler(lambda epoch: 0.1),
     lambda o: ng.LearningRateScheduler(lambda epoch: 0.001),
     "callbacks[0].numbers[0] 0.1 there, 0.001 here"),
    (lambda o: ng.LearningRateScheduler(lambda e: [0.1, 0.05, 0.01][min(e, 2)]),
     lambda o: ng.LearningRateScheduler(lambda e: [5.0, 5.0, 5.0][min(e, 2)]),
     "callbacks[0].numbers[0] 0.1 there, 5.0 here"),  # a list of rates: one constant
    (lambda o: ng.LearningRateScheduler(lambda e: 0.1 if e < 2 else 0.001),
     lambda o: ng.LearningRateScheduler(lambda e: 0.001 if e < 2 else 0.1),
     "callbacks[0].numbers[1] 0.1 there, 0.001 here"),  # the same numbers, swapped
    (lambda o: ng.LearningRateScheduler(functools.partial(_decay, base=0.1)),
     lambda o: ng.LearningRateScheduler(functools.partial(_decay, base=5.0)),
     "callbacks[0].numbers[0] 0.1 there, 5.0 here"),
    (lambda o: ng.LearningRateScheduler(_stepwise((10, 20))),
     lambda o: ng.LearningRateScheduler(_stepwise((1, 2))),
     "callbacks[0].numbers[1] 10.0 there, 1.0 here"),  # milestones in its closure: a tuple
    (lambda o: ng.LearningRateScheduler(_stepwise(range(10, 30, 10))),
     lambda o: ng.LearningRateScheduler(_stepwise(range(1, 3))),
     "callbacks[0].numbers[1] 10.0 there, 1.0 here"),  # milestones as a range
    (lambda o: ng.LearningRateScheduler(functools.partial(_table, rates=(0.1, 0.01))),
     lambda o: ng.LearningRateScheduler(functools.partial(_table, rates=(5.0, 5.0))),
     "callbacks[0].numbers[0] 0.1 there, 5.0 here"),  # a partial's tuple of rates
])  # fmt: skip
def test_a_run_whose_callbacks_have_other_settings_is_refused_naming_them(
    first, then, named, tmp_path
):
    """Only the callbacks' classes were compared: a run resumed with EarlyStopping's patience
    50 got the patience-1 run's model back, and a StepLR of another step size set rates neither
    run would."""
    _run_with(first, 3, tmp_path)
    with pytest.raises(ng.CheckpointError, match=re.escape(f"is of another run: {named};")):
        _run_with(then, 8, tmp_path)
    assert len(_run_with(first, 4, tmp_path)) == 4  # the same settings resume


def test_a_checkpoint_that_names_its_callbacks_only_still_resumes(tmp_path):
    """Checkpoints written before the callbacks' settings were kept compare their classes."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from nudgenet.checkpoint import _digest

    def stop(optimizer):
        return ng.EarlyStopping(patience=1)

    _run_with(stop, 2, tmp_path)
    path = ng.Checkpoint(tmp_path).files()[-1]
    with safe_open(str(path), "numpy") as f:
        metadata, arrays = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    fingerprint = json.loads(metadata["fingerprint"])
    fingerprint["callbacks"] = [c["class"] for c in fingerprint["callbacks"]]
    metadata["fingerprint"] = json.dumps(fingerprint)
    metadata["sha256"] = _digest(metadata, arrays)  # as the older version wrote it
    save_file(arrays, str(path), metadata)
    with pytest.raises(ng.CheckpointError, match=r"callbacks\[0\] \"EarlyStopping\" there, "
                                                 r"\"ReduceLROnPlateau\" here"):  # fmt: skip
        _run_with(lambda o: ng.ReduceLROnPlateau(), 4, tmp_path)
    assert len(_run_with(stop, 3, tmp_path)) == 3


class _Budget(ng.Callback):
    """Stops training with its own flag after ``at`` batches (its count kept in ``_state``)."""

    _state = ("batches",)

    def __init__(self, at):
        self.at = at

    def on_train_begin(self, logs=None):
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == self.at:
            self.stop_training = True


def test_a_callback_s_own_stop_flag_set_mid_epoch_survives_a_kill(tmp_path):
    """Only EarlyStopping and TerminateOnDivergence saved their ``stop_training`` (in their
    ``_state``): any other callback's flag, set mid-epoch and killed before the epoch ended, was
    lost, and the resumed run trained on to the last epoch."""
    x, y = data()

    def run(kill=None, checkpoint=None):
        model, optimizer, _, keywords = setup("adam")
        return ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y,
                      callbacks=[_Budget(at=11), Kill(kill)], checkpoint=checkpoint,
                      **keywords)  # fmt: skip

    expected = run()
    assert (expected.epoch, expected.stop_reason) == ([0, 1], "stopped")
    checkpoint = ng.Checkpoint(tmp_path, every_steps=3)  # saves at step 12, after the flag
    with pytest.raises(Killed):
        run(kill=14, checkpoint=checkpoint)
    history = run(checkpoint=checkpoint)
    assert (history.epoch, history.stop_reason) == ([0, 1], "stopped")
    assert repr(history.history["loss"]) == repr(expected.history["loss"])


class _FreezeFirstLayer(ng.Callback):
    """Freezes the first layer as epoch 1 begins (once: a resumed run does not pass there)."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            for p in self.model[0].parameters():
                p.requires_grad = False


def test_a_layer_frozen_during_the_run_stays_frozen_after_a_kill(tmp_path):
    """The checkpoint kept no frozen flags: a layer a callback froze trained again after the
    resume; and a run resumed with another layer frozen from the start was not refused."""
    x, y = data()

    def run(kill=None, checkpoint=None, freeze_output=False):
        model, optimizer, _, keywords = setup("adam")
        for p in model[2].parameters() if freeze_output else ():
            p.requires_grad = False
        result = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, checkpoint=checkpoint,
                        callbacks=[_FreezeFirstLayer(), Kill(kill)], **keywords)  # fmt: skip
        return result, model

    expected, model = run()
    checkpoint = ng.Checkpoint(tmp_path, every_steps=3)
    with pytest.raises(Killed):
        run(kill=20, checkpoint=checkpoint)  # epoch 2, after the freeze and a checkpoint
    history, resumed = run(checkpoint=checkpoint)
    assert repr(history.history["loss"]) == repr(expected.history["loss"])
    for (name, p), q in zip(model.named_parameters(), resumed.parameters()):
        assert np.array_equal(p.data, q.data) and p.requires_grad == q.requires_grad, name
    with pytest.raises(ng.CheckpointError, match=r"of another run: frozen parameters"):
        run(checkpoint=ng.Checkpoint(tmp_path), freeze_output=True)


def test_a_checkpoint_written_before_frozen_parameters_were_kept_resumes_with_a_frozen_layer(
    tmp_path,
):
    """Its fingerprint names no frozen parameters: a run frozen from the start (fine-tuning)
    was refused as 'frozen parameters absent there' after an upgrade."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from nudgenet.checkpoint import _digest

    x, y = data()

    def run(kill=None):
        model, optimizer, _, keywords = setup("adam")
        for p in model[0].parameters():
            p.requires_grad = False
        return ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, callbacks=[Kill(kill)],
                      checkpoint=ng.Checkpoint(tmp_path, every_steps=5), **keywords)  # fmt: skip

    with pytest.raises(Killed):
        run(kill=12)
    path = ng.Checkpoint(tmp_path).files()[-1]
    with safe_open(str(path), "numpy") as f:
        metadata, arrays = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    fingerprint = json.loads(metadata["fingerprint"])
    del fingerprint["frozen parameters"]
    metadata["fingerprint"] = json.dumps(fingerprint)
    metadata["sha256"] = _digest(metadata, arrays)  # as the older version wrote it
    save_file(arrays, str(path), metadata)
    assert run().stop_reason == "completed"


def test_the_learning_rate_hint_comes_only_where_the_rate_is_the_difference():
    from nudgenet.checkpoint_match import check_same_run

    def print_of(**run):
        return {"data shapes": [[[8, 2], "<f4"]], "data checksum": [1],
                "optimizer": ["SGD", {"lr": 0.05}], **run}  # fmt: skip

    hint = "give the learning rate it started at, 0.05"
    slower = ["SGD", {"lr": 0.005}]
    with pytest.raises(ng.CheckpointError, match=hint):
        check_same_run(Path("c"), print_of(optimizer=slower), print_of(), "--restart")
    with pytest.raises(ng.CheckpointError) as refused:  # other data too: the rate would not do
        check_same_run(Path("c"), print_of(optimizer=slower, **{"data checksum": [2]}),
                       print_of(), "--restart")  # fmt: skip
    assert "the data differ" in str(refused.value) and hint not in str(refused.value)
