"""fit / evaluate / predict, History, callbacks and metrics."""

import copy
import pickle
import re
import sys
import warnings

import numpy as np
import pytest

import nudgenet as ng


def _blobs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]])
    x = (centres[y] + rng.normal(size=(n, 2))).astype(np.float32)
    return x, y


def _model(seed=0, features=2, classes=3):
    return ng.Sequential(
        ng.Linear(features, 16, seed=seed), ng.ReLU(), ng.Linear(16, classes, seed=seed + 1)
    )


def _train(seed=0, **kwargs):
    x, y = _blobs()
    model = _model()
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    options = dict(epochs=5, batch_size=32, seed=seed, metrics=["accuracy"], verbose=0)
    options.update(kwargs)
    history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, **options)
    return model, history


def test_fit_learns_and_records_every_metric():
    model, history = _train(validation_split=0.25)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert len(history) == 5 and history.epoch == [0, 1, 2, 3, 4]
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.95
    assert history["lr"] == [0.1] * 5


def test_same_seed_same_history_bit_for_bit():
    (m1, h1), (m2, h2) = _train(seed=3), _train(seed=3)
    assert h1["loss"] == h2["loss"] and h1["accuracy"] == h2["accuracy"]
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.data, q.data)
    _, h3 = _train(seed=4)
    assert h3["loss"] != h1["loss"]


def test_steps_per_epoch_keep_or_drop_the_last_partial_batch():
    x, y = _blobs(n=100)
    for drop_last, expected in ((False, 4), (True, 3)):
        model = _model()
        optimizer = ng.optim.SGD(model.parameters(), lr=0.01)
        ng.fit(
            model,
            ng.CrossEntropyLoss(),
            optimizer,
            x,
            y,
            epochs=2,
            batch_size=30,
            drop_last=drop_last,
            verbose=0,
            seed=0,
        )
        assert optimizer.step_count == 2 * expected


def test_step_gradient_is_the_batch_mean():
    x, y = _blobs(n=8)
    model = _model()
    expected = {n: p.data.copy() for n, p in model.named_parameters()}
    reference = _model()
    loss = ng.CrossEntropyLoss()(reference(x), y)
    loss.backward()
    for name, p in reference.named_parameters():
        expected[name] -= 0.5 * p.grad
    ng.fit(
        model,
        ng.CrossEntropyLoss(),
        ng.optim.SGD(model.parameters(), lr=0.5),
        x,
        y,
        epochs=1,
        batch_size=8,
        shuffle=False,
        verbose=0,
    )
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.data, expected[name], rtol=1e-5, atol=1e-7)


def test_early_stopping_stops_and_restores_the_best_weights():
    x, y = _blobs()
    model = _model()
    stopper = ng.EarlyStopping(monitor="val_loss", patience=1, restore_best=True)
    snapshots = []
    recorder = ng.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(model.state_dict()))
    history = ng.fit(
        model,
        ng.CrossEntropyLoss(),
        ng.optim.SGD(model.parameters(), lr=3.0),
        x,
        y,
        epochs=50,
        batch_size=16,
        validation_split=0.3,
        seed=0,
        verbose=0,
        callbacks=[stopper, recorder],
    )
    assert len(history) < 50 and stopper.stopped_epoch == len(history) - 1
    assert history.stop_reason == "early_stopping"
    assert history.stopped_epoch == stopper.stopped_epoch
    best = int(np.argmin(history["val_loss"]))
    assert stopper.best_epoch == best
    for name, value in model.state_dict().items():
        assert np.array_equal(value, snapshots[best][name])


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_early_stopping_stops_patience_epochs_after_the_best(patience):
    stopper = ng.EarlyStopping(patience=patience, restore_best=False)
    stopper.on_train_begin()
    val_losses = [3.0, 1.0, 2.0, 2.0, 1.5, 1.2, 1.1, 1.05]  # best at epoch 1, then no better
    for epoch, value in enumerate(val_losses):
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if stopper.stop_training:
            break
    assert stopper.best_epoch == 1
    # as Keras: patience=2 stops after epoch 3; patience=0, like 1, after the first bad epoch
    assert stopper.stopped_epoch == stopper.best_epoch + max(patience, 1)


@pytest.mark.parametrize("cls", [ng.EarlyStopping, ng.ReduceLROnPlateau])
def test_mode_auto_maximizes_what_is_better_higher(cls):
    """accuracy, R², F1, a score (the estimators' val_score) up; losses and errors down."""
    for monitor in ("val_accuracy", "val_r2", "f1_macro", "val_score", "score"):
        assert cls(monitor=monitor).maximize, monitor
    for monitor in ("val_loss", "loss", "val_rmse", "sklearn_loss"):
        assert not cls(monitor=monitor).maximize, monitor
    assert not cls(monitor="val_score", mode="min").maximize  # a mode given wins


def test_early_stopping_takes_keras_s_restore_best_weights_and_verbose(capsys):
    """Keras's keywords were a TypeError ("unexpected keyword")."""
    x, y = _blobs()
    for restore in (False, True):
        model = _model()
        optimizer = ng.optim.SGD(model.parameters(), lr=5.0)  # too large: it soon gets worse
        stop = ng.EarlyStopping(patience=1, restore_best_weights=restore, verbose=1)
        history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=30, verbose=0,
                         validation_split=0.25, callbacks=[stop])  # fmt: skip
        assert stop.restore_best is restore and history.stop_reason == "early_stopping"
        lines = [f"Epoch {stop.stopped_epoch + 1}: early stopping"]
        if restore:
            lines.append(f"Restoring model weights from the end of the best epoch: "
                         f"{stop.best_epoch + 1}.")  # fmt: skip
        assert capsys.readouterr().out.splitlines() == lines


def test_early_stopping_without_validation_data_names_the_problem():
    with pytest.raises(KeyError, match="val_loss"):
        _train(callbacks=[ng.EarlyStopping()])


def test_learning_rate_schedule_hook():
    x, y = _blobs()
    model = _model()
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)

    def rates(callback, epochs):
        history = ng.fit(
            model,
            ng.CrossEntropyLoss(),
            optimizer,
            x,
            y,
            epochs=epochs,
            verbose=0,
            callbacks=[callback],
            seed=0,
        )
        return history["lr"]

    step = ng.LearningRateScheduler(ng.optim.StepLR(optimizer, step_size=2, gamma=0.5))
    assert rates(step, 5) == [0.1, 0.1, 0.05, 0.05, 0.025]  # the rate each epoch used
    by_function = ng.LearningRateScheduler(lambda epoch: 0.2 / (epoch + 1))
    assert rates(by_function, 3) == [0.2, 0.1, 0.2 / 3]


def test_custom_callback_sees_each_epochs_metrics_and_can_stop():
    class StopAtAccuracy(ng.Callback):
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, epoch, logs):
            self.seen.append((epoch, logs["accuracy"]))
            self.stop_training = logs["accuracy"] > 0.9

    callback = StopAtAccuracy()
    _, history = _train(epochs=30, callbacks=[callback])
    assert callback.seen[-1][1] > 0.9 and len(history) == len(callback.seen) < 30
    assert history.stop_reason == "stopped" and history.stopped_epoch == len(history) - 1


@pytest.mark.parametrize("diagnostics", [False, True])
def test_fit_leaves_the_outputs_attribute_of_a_callback_that_does_not_ask_for_them(diagnostics):
    class CollectOutputs(ng.Callback):  # its own "outputs": the predictions at each epoch's end
        def __init__(self):
            self.outputs = []

        def on_epoch_end(self, epoch, logs):
            self.outputs.append(ng.predict(self.model, np.zeros((1, 2), dtype=np.float32)))

    callback = CollectOutputs()
    _train(epochs=3, callbacks=[callback], diagnostics=diagnostics)
    assert isinstance(callback.outputs, list) and len(callback.outputs) == 3


def test_each_epoch_reshuffles_the_rows_from_the_seed():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20, dtype=np.float32).reshape(20, 1)  # each row's target is its number

    def batch_orders(seed, epochs=3, batches=4):
        seen = []

        def loss(outputs, targets):  # records which rows each batch holds
            seen.extend(np.asarray(targets).astype(int).ravel().tolist())
            return ng.MSELoss()(outputs, targets)

        model = ng.Sequential(ng.Linear(2, 1, seed=0))
        optimizer = ng.optim.SGD(model.parameters(), lr=1e-6)
        ng.fit(model, loss, optimizer, x, y, epochs=epochs, batch_size=5, seed=seed, verbose=0)
        assert len(seen) == 20 * epochs
        return [seen[i : i + 20] for i in range(0, len(seen), 20)]

    orders = batch_orders(seed=7)
    assert all(sorted(order) == list(range(20)) for order in orders)  # every row once an epoch
    assert orders[0] != orders[1] and orders[1] != orders[2] and orders[0] != orders[2]
    assert batch_orders(seed=7) == orders and batch_orders(seed=8) != orders


def test_default_verbosity_is_one_line_per_epoch_when_not_a_terminal(capsys):
    assert not sys.stderr.isatty()  # captured: as in a log file or a pipe
    _train(epochs=3, verbose=1)
    out, err = capsys.readouterr()
    starts = [line.split(" - ")[0] for line in out.strip().splitlines()]
    assert starts == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert err == ""  # no progress bar


def test_line_per_epoch_when_not_a_terminal(capsys):
    _train(epochs=2, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2") and "loss:" in lines[1]


def test_regression_metrics_and_evaluate():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)).astype(np.float32)
    model = ng.Sequential(ng.Linear(3, 1, seed=0))
    ng.fit(
        model,
        ng.MSELoss(),
        ng.optim.SGD(model.parameters(), lr=0.1),
        x,
        y,
        epochs=30,
        verbose=0,
        seed=0,
    )
    scores = ng.evaluate(model, ng.MSELoss(), x, y, metrics=["mse", "rmse", "mae"])
    out = ng.predict(model, x)
    assert scores["mse"] == pytest.approx(np.mean((out - y) ** 2), rel=1e-5)
    assert scores["rmse"] == pytest.approx(np.sqrt(scores["mse"]))
    assert scores["mae"] == pytest.approx(np.mean(np.abs(out - y)), rel=1e-5)
    assert scores["rmse"] < 1e-2


def test_predict_batches_match_one_pass_and_do_not_record_a_graph():
    x, _ = _blobs()
    model = _model()
    # BLAS may round a 7-row product differently from a 400-row one: equal to float32 precision
    np.testing.assert_allclose(
        ng.predict(model, x, batch_size=7), ng.predict(model, x), rtol=1e-6, atol=1e-6
    )
    assert ng.predict(model, x).dtype == np.float32
    assert model.training  # predict restores the mode


def test_float64_inputs_are_cast_to_the_model_dtype():
    x, y = _blobs()
    model, _ = _train()
    assert ng.predict(model, x.astype(np.float64)).dtype == np.float32


def test_mismatched_rows_and_bad_settings_raise_clearly():
    x, y = _blobs()
    model = _model()
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ng.ShapeError, match="400 rows but targets have 399"):
        ng.fit(model, ng.CrossEntropyLoss(), opt, x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        ng.fit(model, ng.CrossEntropyLoss(), opt, x, y, validation_split=1.5, verbose=0)
    # Keras's rule trains on int(n · (1 - split)) rows: 1 - 1e-17 rounds to 1; int(0.4) is 0
    for split, empty in ((1e-17, "validation"), (0.999, "training")):
        with pytest.raises(ValueError, match=f"validation_split {split} of 400 .* no {empty} rows"):
            ng.fit(model, ng.CrossEntropyLoss(), opt, x, y, validation_split=split, verbose=0)
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        ng.fit(model, ng.CrossEntropyLoss(), opt, x, y, metrics=["f2"], verbose=0)


@pytest.mark.parametrize("compile", ["auto", False])
def test_fit_under_no_grad_trains_as_outside_it(compile):
    """Under no_grad(), the compiled step trained and the engine's (compile=False, or a model
    with Dropout) raised from backward(); both now train, bit for bit as outside it."""
    x, y = _blobs()

    def trained(dropout: bool):
        dropped = [ng.Dropout(0.2, seed=0)] if dropout else []
        hidden = [ng.Linear(2, 16, seed=0), ng.ReLU(), *dropped]
        model = ng.Sequential(*hidden, ng.Linear(16, 3, seed=1))
        optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=2, seed=0, verbose=0,
               compile=compile)  # fmt: skip
        return [p.data.copy() for p in model.parameters()]

    for dropout in (False, True):
        outside = trained(dropout)
        with ng.no_grad():
            inside = trained(dropout)
            assert not ng.is_grad_enabled()
        assert all(np.array_equal(a, b) for a, b in zip(inside, outside))


def test_targets_that_are_not_finite_are_named_before_training():
    """A NaN regression target trained until the loss was NaN, and the stop blamed an overflow
    and the learning rate."""
    x, _ = _blobs()
    values = x[:, :1] * 2.0
    values[7] = np.nan
    model = ng.Sequential(ng.Linear(2, 1, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"^MSELoss: targets must be finite numbers; got nan at "
                                         r"row 7 \(missing data\?\)$"):  # fmt: skip
        ng.fit(model, ng.MSELoss(), optimizer, x, values, verbose=0)
    labels = np.zeros((len(x), 2))
    labels[3, 1] = np.inf
    model = ng.Sequential(ng.Linear(2, 2, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="BCEWithLogitsLoss: .* got inf at row 3, column 1"):
        ng.fit(model, ng.BCEWithLogitsLoss(), optimizer, x, labels, verbose=0)


def test_arguments_of_the_wrong_kind_are_one_line_type_errors():
    """Each gave an error from deep inside fit (slice indices, 'multiple values for argument
    what', 'is not iterable', a missing argument of check_targets, 'built for another model?')."""
    x, y = _blobs()
    model = _model()
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    loss = ng.CrossEntropyLoss()
    mistakes = [
        ((model, loss, opt), {"batch_size": 32.0}, r"^fit: batch_size must be a whole number \(an "
                                                   r"int\), got 32.0$"),
        ((model, loss, opt), {"epochs": 2.5}, "epochs must be a whole number"),
        ((model, loss, opt), {"validation_data": x}, r"validation_data must be a pair \(x_val, "
                                                     r"y_val\), got ndarray$"),
        ((model, loss, opt), {"validation_data": (x, y, np.ones(len(y)))},
         r"got a tuple of 3 items \(weighted validation rows are not taken: score them with "
         r"ng.evaluate\(model, loss_fn, x_val, y_val, sample_weight=...\)\)$"),
        ((model, loss, opt), {"validation_data": [x]}, r"pair \(x_val, y_val\), got a list of 1 "
                                                       r"item$"),
        ((model, loss, opt), {"callbacks": ng.EarlyStopping()}, r"^fit: callbacks must be a list, "
                                                               r"got EarlyStopping \(write"),
        ((model, loss, opt), {"callbacks": [ng.optim.StepLR(opt, 1)]},
         r"got StepLR \(a learning-rate schedule: pass ng.LearningRateScheduler\(it\)\)$"),
        ((model, ng.CrossEntropyLoss, opt), {}, r"loss_fn is the class CrossEntropyLoss; pass an "
                                                r"instance, CrossEntropyLoss\(\)$"),
        ((model, loss, ng.optim.SGD), {}, r"expected an optimizer built on the model's "
                                          r"parameters, .*; got the class SGD$"),
        ((model, loss, "adam"), {}, r"; got 'adam'$"),
        ((model, loss, opt), {"callbacks": [ng.Checkpoint("folder")]},
         r"got Checkpoint \(pass it as checkpoint=...\)$"),
    ]  # fmt: skip
    for args, options, message in mistakes:
        with pytest.raises(TypeError, match=message):
            ng.fit(*args, x, y, verbose=0, **options)
    history = ng.fit(model, loss, opt, x, y, verbose=0, epochs=np.int64(1), batch_size=np.int32(50),
                     callbacks=(c for c in [ng.LambdaCallback()]))  # fmt: skip
    assert len(history) == 1  # NumPy's integers are whole numbers; any iterable of callbacks

    class OwnSGD:  # an optimiser of one's own, duck-typed: it trains as before
        def __init__(self, params, lr):
            self.params, self.lr = list(params), lr

        def zero_grad(self):
            for p in self.params:
                p.grad = None

        def step(self):
            for p in self.params:
                p.data -= self.lr * p.grad

    history = ng.fit(model, loss, OwnSGD(model.parameters(), 0.1), x, y, verbose=0, epochs=2)
    assert history.history["loss"][1] < history.history["loss"][0]  # on the engine
    lacking = OwnSGD(model.parameters(), 0.1)
    del lacking.lr
    own = r"^fit: an optimizer of one's own needs params, lr, zero_grad\(\) and step\(\), "
    with pytest.raises(TypeError, match=own + ".*; OwnSGD lacks lr$"):
        ng.fit(model, loss, lacking, x, y, verbose=0)
    refused = r"^fit: a checkpoint needs an ng.optim.Optimizer \(its flat buffers and state\), got"
    with pytest.raises(TypeError, match=refused + " OwnSGD; subclass"):
        ng.fit(model, loss, OwnSGD(model.parameters(), 0.1), x, y, verbose=0,
               checkpoint=ng.Checkpoint("never-made"))  # fmt: skip


def test_a_schedule_of_another_optimizer_or_a_rate_below_0_is_refused_and_keras_s_form_works():
    """A schedule built on another optimiser changed nothing, silently; a schedule's negative
    rate trained by gradient ascent; Keras's schedule(epoch, lr) failed inside the function."""
    x, y = _blobs()
    model = _model()
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    other = ng.optim.SGD(_model().parameters(), lr=0.1)
    loss = ng.CrossEntropyLoss()
    with pytest.raises(ValueError, match="schedule steps another optimizer than fit's"):
        ng.fit(model, loss, opt, x, y, verbose=0, callbacks=[
            ng.LearningRateScheduler(ng.optim.StepLR(other, step_size=1))])  # fmt: skip
    for rate, shown in ((-0.1, "-0.1"), (float("inf"), "inf"), (float("nan"), "nan")):
        with pytest.raises(ValueError, match=f"gave lr={shown} for epoch 0; expected a finite"):
            ng.fit(model, loss, opt, x, y, verbose=0,
                   callbacks=[ng.LearningRateScheduler(_constant(rate))])  # fmt: skip
    for halving in (lambda epoch, lr: lr * 0.5, lambda epoch, lr=1.0: lr * 0.5):  # Keras's
        opt.lr = 0.1
        history = ng.fit(model, loss, opt, x, y, verbose=0, epochs=3,
                         callbacks=[ng.LearningRateScheduler(halving)])  # fmt: skip
        assert history.history["lr"] == [0.05, 0.025, 0.0125]

    def logged(schedule):  # a decorator without functools.wraps: a signature of *args
        return lambda *args: schedule(*args)

    def warm(epoch, base=0.2):  # nudgenet's one-argument form, a setting defaulted
        return base * (epoch + 1) / 3

    one_argument = [lambda epoch, r=0.03: r, logged(lambda epoch: 0.03), warm]
    for schedule, rates in zip(one_argument, ([0.03] * 3, [0.03] * 3, [0.2 / 3, 0.4 / 3, 0.2])):
        history = ng.fit(model, loss, opt, x, y, verbose=0, epochs=3,
                         callbacks=[ng.LearningRateScheduler(schedule)])  # fmt: skip
        assert history.history["lr"] == pytest.approx(rates, rel=1e-12)
    for wrong, shown in ((lambda epoch: None, "None"), (lambda epoch: [0.1, 0.2], r"\[0.1, 0.2\]"),
                         (lambda epoch: "0.1", "'0.1'"), (lambda epoch: 10**400, "1" + "0" * 400)):
        with pytest.raises(ValueError, match=f"gave {shown} for epoch 0; expected a number$"):
            ng.fit(model, loss, opt, x, y, verbose=0,
                   callbacks=[ng.LearningRateScheduler(wrong)])  # fmt: skip
    opt.lr = 1000.0  # the optimiser's own rate is not one the schedule set: no scale of rounding
    with pytest.raises(ValueError, match="gave lr=-0.0005 for epoch 1"):
        ng.fit(model, loss, opt, x, y, verbose=0, epochs=2,
               callbacks=[ng.LearningRateScheduler([0.01, -5e-4].__getitem__)])  # fmt: skip
    opt.lr = 0.1
    table = ng.LearningRateScheduler({0: 0.05}.get)  # positional-only: get(epoch, lr), as Keras
    history = ng.fit(model, loss, opt, x, y, verbose=0, epochs=2, callbacks=[table])
    assert history.history["lr"] == [0.05, 0.05]
    # a decay to 0 that rounding takes just below it (-1.4e-17), also after a rate of 0, trains on
    decay = ng.LearningRateScheduler(lambda epoch: 0.1 - min(epoch, 11) * (0.1 / 11))
    history = ng.fit(model, loss, opt, x, y, verbose=0, epochs=13, callbacks=[decay])
    assert len(history) == 13 and history.history["lr"][-2:] == [0.0, 0.0]
    tenth = np.float32(0.1)  # in float32 the rounding is larger (-7.45e-9)
    decay = ng.LearningRateScheduler(lambda epoch: tenth - min(epoch, 3) * (tenth / np.float32(3)))
    history = ng.fit(model, loss, opt, x, y, verbose=0, epochs=4, callbacks=[decay])
    assert history.history["lr"][-1] == 0.0


def _constant(rate: float):
    return lambda epoch: rate


def test_inputs_of_the_wrong_width_name_their_whole_shape():
    x, y = _blobs()
    model = _model(features=3)
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    expected = r"expected input with 3 features, shape \(N, 3\), got shape \(400, 2\)"
    with pytest.raises(ng.ShapeError, match=expected):  # fit reads the outputs of one row
        ng.fit(model, ng.CrossEntropyLoss(), opt, x, y, verbose=0)
    with pytest.raises(ng.ShapeError, match=expected):
        ng.evaluate(model, ng.CrossEntropyLoss(), x, y)
    for batch_size in (1024, 64):  # predict runs batches: the shape is still x's own
        with pytest.raises(ng.ShapeError, match=expected):
            ng.predict(model, x, batch_size=batch_size)
    # a hidden layer refusing its inputs: the shape all the rows would give it, found without
    # running the layers before it on all the rows
    model = ng.Sequential(ng.Linear(2, 20, seed=0), ng.ReLU(), ng.Linear(7, 3, seed=1))
    seen = []
    model[0].register_forward_hook(lambda module, inputs, output: seen.append(len(output.data)))
    hidden = r"Linear\(7 -> 3\): expected input with 7 features, .* got shape \(400, 20\)$"
    with pytest.raises(ng.ShapeError, match=hidden):
        ng.predict(model, x, batch_size=64)
    assert seen == [64]
    with pytest.raises(ng.ShapeError, match=hidden):  # fit reads one row first
        ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
               verbose=0)  # fmt: skip
    assert seen == [64, 1]
    for batch_size in (0, -3):  # x[:-3] would quietly drop rows
        with pytest.raises(ValueError, match=f"^expected batch_size >= 1, got {batch_size}$"):
            ng.predict(model, x, batch_size=batch_size)
    for batch_size in ("64", 64.0):  # failed mid-way, a TypeError of range() or of "<"
        with pytest.raises(ValueError, match=r"^expected batch_size >= 1 \(an int\), got "):
            ng.predict(model, x, batch_size=batch_size)
    model = _model()
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ng.ShapeError, match=r"got shape \(80, 3\)"):
        ng.fit(model, ng.CrossEntropyLoss(), opt, x, y, verbose=0,
               validation_data=(np.zeros((80, 3), np.float32), y[:80]))  # fmt: skip


def test_diverging_training_warns_and_stops():
    x, y = _blobs()
    x = x * 1e30
    model = _model()
    # its own category, a RuntimeWarning: filters for either catch it
    assert issubclass(ng.DivergenceWarning, RuntimeWarning)
    with np.errstate(all="ignore"), pytest.warns(ng.DivergenceWarning, match="^fit: .*loss became"):
        history = ng.fit(
            model,
            ng.MSELoss(),
            ng.optim.SGD(model.parameters(), lr=1e10),
            x,
            np.zeros((len(x), 3), np.float32),
            epochs=5,
            verbose=0,
        )
    assert len(history) < 5
    assert history.stop_reason == "diverged" and history.stopped_epoch == len(history) - 1
    assert not np.isfinite(history["loss"][-1])


def test_a_callback_that_reports_divergence_itself_stops_fit_warning():
    class Reporter(ng.Callback):
        reports_divergence = True  # its owner raises instead (the scikit-learn estimators)

    x, y = _blobs()
    model = _model()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error", ng.DivergenceWarning)
        history = ng.fit(model, ng.MSELoss(), ng.optim.SGD(model.parameters(), lr=1e10),
                         x * 1e30, np.zeros((len(x), 3), np.float32), epochs=5, verbose=0,
                         callbacks=[Reporter()])  # fmt: skip
    assert history.stop_reason == "diverged" and "loss became" in history.stop_message


def test_binary_accuracy_thresholds_follow_the_loss():
    outputs = np.array([[-0.2], [0.2], [0.7]], dtype=np.float32)
    labels = np.array([0, 1, 1])
    assert ng.metrics.accuracy(outputs, labels, ng.BCEWithLogitsLoss()) == 1.0
    assert ng.metrics.accuracy(outputs, labels, ng.BCELoss()) == pytest.approx(2 / 3)


def test_progress_bar_on_a_terminal(capsys, monkeypatch):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    _train(epochs=2, verbose=1)
    captured = capsys.readouterr()
    assert "Epoch 1/2" in captured.err and "Epoch 2/2" in captured.err
    assert "13/13" in captured.err and "loss" in captured.err  # 400 rows / 32 per batch
    assert captured.out == ""


def _frozen_regression():
    """A regressor whose weights do not move (lr ~ 0), so History must equal evaluate."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 3)).astype(np.float32)
    y = rng.normal(size=(90, 2)).astype(np.float32) * 3
    model = ng.Sequential(ng.Linear(3, 2, seed=0))
    return model, x, y


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_epoch_loss_and_rmse_equal_evaluate_on_frozen_weights(reduction):
    model, x, y = _frozen_regression()
    loss_fn = ng.MSELoss(reduction=reduction)
    optimizer = ng.optim.SGD(model.parameters(), lr=1e-30)
    history = ng.fit(
        model,
        loss_fn,
        optimizer,
        x,
        y,
        epochs=1,
        batch_size=16,
        verbose=0,
        metrics=["rmse", "mae"],
        validation_data=(x, y),
        seed=0,
    )
    assert history["loss"][0] == pytest.approx(history["val_loss"][0], rel=1e-5)
    assert history["rmse"][0] == pytest.approx(history["val_rmse"][0], rel=1e-5)
    assert history["mae"][0] == pytest.approx(history["val_mae"][0], rel=1e-5)


def test_fit_restores_the_mode_when_it_raises():
    x, y = _blobs()
    model = _model().eval()
    with pytest.raises(ValueError, match="labels must be in"):
        ng.fit(
            model,
            ng.CrossEntropyLoss(),
            ng.optim.SGD(model.parameters(), lr=0.1),
            x,
            y + 5,
            verbose=0,
        )
    assert not model.training


class _Recorder(ng.Callback):
    """Every hook's call, with a copy of its logs as the hook saw them."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", None, dict(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", None, dict(logs)))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch, dict(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch, dict(logs)))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, dict(logs)))


def test_every_hook_gets_keras_logs_in_keras_order():
    x, y = _blobs(n=100)
    recorder = _Recorder()
    model = _model()
    history = ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1),
                     x, y, epochs=2, batch_size=32, metrics=["accuracy"], seed=0, verbose=0,
                     callbacks=[recorder])  # fmt: skip
    calls = recorder.calls
    assert [(hook, at) for hook, at, _ in calls] == [
        ("train_begin", None),
        *[
            call
            for epoch in (0, 1)
            for call in (
                ("epoch_begin", epoch),
                *[(hook, b) for b in range(4) for hook in ("batch_begin", "batch_end")],
                ("epoch_end", epoch),
            )
        ],
        ("train_end", None),
    ]
    assert calls[0][2] == {} and calls[1][2] == {}  # train and epoch begin: empty
    sizes = [32, 32, 32, 4]  # 100 rows in batches of 32
    begins = [logs for hook, _, logs in calls if hook == "batch_begin"]
    ends = [logs for hook, _, logs in calls if hook == "batch_end"]
    assert begins == [{"size": size} for size in sizes * 2]
    assert [(logs["size"], set(logs)) for logs in ends] == [
        (s, {"size", "loss"}) for s in sizes * 2
    ]
    epoch_ends = [logs for hook, _, logs in calls if hook == "epoch_end"]
    for epoch, logs in enumerate(epoch_ends):
        assert logs == {key: values[epoch] for key, values in history.history.items()}
        batches = ends[4 * epoch : 4 * epoch + 4]  # the epoch loss: the batches' mean by rows
        weighted = sum(b["loss"] * b["size"] for b in batches) / 100
        assert logs["loss"] == pytest.approx(weighted, rel=1e-12)
    assert calls[-1][2] == epoch_ends[-1]  # train end: the last epoch's logs


def test_the_older_batch_hook_names_are_called_as_aliases():
    seen = []

    class Old(ng.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch, dict(logs)))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, set(logs)))

    _train(epochs=1, callbacks=[Old()])  # 400 rows, batches of 32: 13 batches
    assert [s[:2] for s in seen] == [(h, b) for b in range(13) for h in ("begin", "end")]
    assert seen[0][2] == {"size": 32} and seen[-2][2] == {"size": 400 - 12 * 32}
    assert seen[1][2] == {"size", "loss"}


def test_lambda_callback_takes_every_hook():
    counts = {}

    def count(name):
        return lambda *args: counts.__setitem__(name, counts.get(name, 0) + len(args))

    hooks = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end")
    batch_hooks = ("on_batch_begin", "on_batch_end")
    old = ng.LambdaCallback(**{name: count(name) for name in hooks + batch_hooks})
    new = ng.LambdaCallback(**{name: count(name) for name in ng.callbacks.HOOKS[4:6]})
    _train(epochs=2, callbacks=[old, new])
    # calls × arguments: (logs) once, (epoch, logs) twice, (batch, logs) 2 × 13 times
    assert counts == {
        "on_train_begin": 1, "on_train_end": 1, "on_epoch_begin": 4, "on_epoch_end": 4,
        "on_batch_begin": 52, "on_batch_end": 52,
        "on_train_batch_begin": 52, "on_train_batch_end": 52,
    }  # fmt: skip
    with pytest.raises(TypeError, match="expected hooks among .* got 'on_epoch_ends'"):
        ng.LambdaCallback(on_epoch_ends=print)


def test_what_a_callback_adds_to_the_logs_reaches_the_next_callbacks_history_and_line(capsys):
    class Gap(ng.Callback):  # adds a metric of its own
        def on_epoch_end(self, epoch, logs=None):
            logs["gap"] = logs["val_loss"] - logs["loss"]
            self.recorded_before = len(self.history)  # History records after every callback

    gap = Gap()
    seen = []
    watcher = ng.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs["gap"]))
    stopper = ng.EarlyStopping(monitor="gap", patience=0, min_delta=1e9, restore_best=False)
    _, history = _train(epochs=5, validation_split=0.25, callbacks=[gap, watcher, stopper],
                        verbose=2)  # fmt: skip
    assert list(history.history)[-1] == "gap" and history["gap"] == seen
    assert history["gap"][0] == history["val_loss"][0] - history["loss"][0]
    assert gap.recorded_before == len(history) - 1
    assert len(history) == 2 and history.stop_reason == "early_stopping"  # stopped on "gap"
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith(f" - gap: {history['gap'][0]:.4g}")


@pytest.mark.parametrize("order", ["mine first", "early stopping first"])
def test_the_first_callback_to_stop_names_the_reason(order):
    class StopAtSecond(ng.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.stop_training = epoch == 1

    # patience 0 and an impossible min_delta: it too stops after the second epoch
    stopper = ng.EarlyStopping(monitor="loss", patience=0, min_delta=1e9, restore_best=False)
    callbacks = [StopAtSecond(), stopper]
    if order != "mine first":
        callbacks.reverse()
    _, history = _train(epochs=5, callbacks=callbacks)
    assert len(history) == 2 and history.stopped_epoch == 1
    assert history.stop_reason == ("stopped" if order == "mine first" else "early_stopping")


def test_a_run_of_every_epoch_is_completed_and_history_says_so():
    _, history = _train(epochs=3)
    assert history.stop_reason == "completed" and history.stopped_epoch is None
    record = history.to_dict()
    assert record["epoch"] == [0, 1, 2] and record["loss"] == history["loss"]
    assert list(record) == ["epoch", *history.history]  # series only: each can be plotted
    assert "stop_reason='completed', stopped_epoch=None" in repr(history)
    ends = []
    _, empty = _train(epochs=0, callbacks=[ng.LambdaCallback(on_train_end=ends.append)])
    assert len(empty) == 0 and empty.stop_reason == "completed" and ends == [{}]


def test_a_callback_stops_training_the_keras_way_through_its_model():
    class StopAtThird(ng.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                self.model.stop_training = True  # Keras's idiom

    model, history = _train(epochs=6, callbacks=[StopAtThird()])
    assert len(history) == 3 and history.stop_reason == "stopped" and history.stopped_epoch == 2
    assert model.stop_training  # the flag stays set until the next fit resets it
    x, y = _blobs()
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    again = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=2, verbose=0)
    assert again.stop_reason == "completed" and len(again) == 2


class _OldEpochBegin(ng.Callback):
    def on_epoch_begin(self, epoch):  # nudgenet 0.1's signature, without logs
        pass


class _OldBatchEnd(ng.Callback):
    def __init__(self):
        self.received = []

    def on_batch_end(self, step, loss):  # nudgenet 0.1's signature: loss is now the logs dict
        self.received.append(loss)


@pytest.mark.parametrize(
    "callback, hook",
    [
        (_OldEpochBegin(), "on_epoch_begin(epoch, logs)"),
        (ng.LambdaCallback(on_train_begin=lambda: None), "on_train_begin(logs)"),
    ],
    ids=["subclass", "lambda"],
)
def test_a_callback_with_an_old_signature_is_refused_before_training(callback, hook):
    with pytest.raises(TypeError, match=re.escape(f"fit calls {hook}, Keras's signature")):
        _train(epochs=1, callbacks=[callback])


def test_a_batch_hook_taking_loss_is_warned_that_it_gets_logs():
    callback = _OldBatchEnd()
    with pytest.warns(UserWarning, match=re.escape('read the loss as logs["loss"]')):
        _train(epochs=1, callbacks=[callback])
    assert callback.received and all("loss" in logs for logs in callback.received)
    with pytest.warns(UserWarning, match=re.escape('read the loss as logs["loss"]')):
        _train(epochs=1, callbacks=[_OldBatchEnd()])  # every fit, not the first only


def test_a_hook_that_fits_one_hook_is_checked_again_as_another():
    """The signatures found to fit are remembered (a partial_fit loop checked them on every
    call), by function and hook: the same function is refused where it does not fit."""

    def hook(epoch, logs):
        pass

    _train(epochs=1, callbacks=[ng.LambdaCallback(on_epoch_end=hook)])
    _train(epochs=1, callbacks=[ng.LambdaCallback(on_epoch_end=hook)])
    with pytest.raises(TypeError, match=re.escape("fit calls on_train_begin(logs), Keras's")):
        _train(epochs=1, callbacks=[ng.LambdaCallback(on_train_begin=hook)])


def test_a_function_that_fits_as_an_attribute_is_checked_again_as_a_method():
    """Bound as a method, a function loses its first parameter to self: it fits one way and
    not the other, and was then passed unchecked."""

    def hook(epoch, logs=None):
        pass

    plain = ng.Callback()
    plain.on_epoch_end = hook
    _train(epochs=1, callbacks=[plain])

    class AsMethod(ng.Callback):
        on_epoch_end = hook

    with pytest.raises(TypeError, match=re.escape("fit calls on_epoch_end(epoch, logs)")):
        _train(epochs=1, callbacks=[AsMethod()])


def test_callbacks_share_one_logs_dict_per_hook_call():
    class Writer(ng.Callback):
        def on_train_begin(self, logs=None):
            logs["note"] = "train"

        def on_epoch_begin(self, epoch, logs=None):
            logs["note"] = epoch

    seen = []
    reader = ng.LambdaCallback(
        on_train_begin=lambda logs: seen.append(logs.get("note")),
        on_epoch_begin=lambda epoch, logs: seen.append(logs.get("note")),
    )
    _train(epochs=2, callbacks=[Writer(), reader])
    assert seen == ["train", 0, 1]


@pytest.mark.parametrize("mode", ["last", "shuffle", "stratify"])
def test_sample_weights_follow_their_rows_into_a_validation_split(mode):
    """fit(validation_split, sample_weight) trains exactly as fit on the training rows it picks,
    with their own weights (a weight left with another row would train differently)."""
    from nudgenet.data.split import validation_split_rows

    x, y = _blobs(200)
    weights = np.random.default_rng(1).uniform(0.1, 3.0, len(y))
    rng = np.random.default_rng(0)
    train_rows, val_rows = validation_split_rows(len(y), 50, mode, y, rng)
    runs = []
    for given in ("split", "rows"):
        model = _model()
        optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
        options = dict(epochs=2, batch_size=16, verbose=0)
        if given == "split":
            history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, seed=0,
                             validation_split=0.25, validation_split_mode=mode,
                             sample_weight=weights, **options)  # fmt: skip
        else:  # the same rows by hand, the generator where the split left it
            history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x[train_rows],
                             y[train_rows], seed=rng, sample_weight=weights[train_rows],
                             validation_data=(x[val_rows], y[val_rows]), **options)  # fmt: skip
        runs.append(history)
    assert runs[0]["loss"] == runs[1]["loss"] and runs[0]["val_loss"] == runs[1]["val_loss"]


def test_only_a_callbacks_own_class_can_say_it_does_not_write_parameters(tmp_path):
    """may_write_parameters: built-ins that read say so; anything else, a subclass of one of
    them included, may write (a data-parallel run then keeps a copy per rank)."""
    from nudgenet.callbacks import may_write_parameters

    class Logs(ng.CSVLogger):  # may add hooks that write: must say otherwise itself
        pass

    class Reads(ng.Callback):
        writes_parameters = False

    readers = [ng.EarlyStopping(), ng.ReduceLROnPlateau(), ng.CSVLogger(tmp_path / "a.csv"),
               ng.TensorBoard(tmp_path / "tb"), ng.TerminateOnDivergence(),
               ng.LearningRateScheduler(lambda epoch: 0.1), Reads()]  # fmt: skip
    assert not any(may_write_parameters(cb) for cb in readers)
    writers = [ng.Callback(), ng.LambdaCallback(), Logs(tmp_path / "b.csv")]
    assert all(may_write_parameters(cb) for cb in writers)


@pytest.mark.parametrize("call", ["fit", "validation_data", "predict", "evaluate", "targets"])
def test_float64_values_beyond_a_float32_models_range_are_one_line_errors(call):
    x, y = _blobs()
    x = x.astype(np.float64)
    targets = np.zeros((len(x), 3))  # float64 regression targets
    if call == "targets":
        targets[7, 2] = 1e39
    else:
        x[7, 1] = -1e39  # finite in float64, -inf in float32: training on it would be NaN
    model = _model()
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    actions = {
        "fit": lambda: ng.fit(model, ng.CrossEntropyLoss(), opt, x, y, verbose=0),
        "validation_data": lambda: ng.fit(model, ng.CrossEntropyLoss(), opt, x[:8] * 0, y[:8],
                                          validation_data=(x, y), verbose=0),
        "predict": lambda: ng.predict(model, x),
        "evaluate": lambda: ng.evaluate(model, ng.CrossEntropyLoss(), x, y),
        "targets": lambda: ng.fit(model, ng.MSELoss(), opt, x, targets, verbose=0),
    }  # fmt: skip
    what = {"validation_data": "validation_data", "targets": "y"}.get(call, "x")
    name, value, column = ("targets", "1e+39", 2) if call == "targets" else ("inputs", "-1e+39", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warning, no diverged fit
        with pytest.raises(ng.DataError, match=(
            rf"^{what}: expected {name} within float32's range \(±3.403e\+38\), got 1 value beyond "
            rf"it, the first {re.escape(value)} in sample 7, column {column} \(0-based\); scale "
            r"them, or use the model in float64 \(model.double\(\)\)$")):  # fmt: skip
            actions[call]()
    model.double()  # float64 takes them
    assert np.isfinite(ng.predict(model, x[:7])).all()
    assert ng.predict(model, x).dtype == np.float64


def test_callbacks_training_settings_are_what_they_were_built_with_that_changes_training():
    opt = ng.optim.SGD(ng.Linear(2, 1).parameters(), lr=0.1)
    assert ng.EarlyStopping(monitor="val_acc", patience=3).training_settings() == {
        "monitor": "val_acc", "maximize": True, "min_delta": 0.0, "patience": 3,
        "restore_best": True,
    }  # fmt: skip
    plateau = ng.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, mode="min")
    assert plateau.training_settings() == {
        "monitor": "loss", "maximize": False, "min_delta": 1e-4, "factor": 0.5, "patience": 2,
        "cooldown": 0, "min_lr": 0.0,
    }  # fmt: skip
    step = ng.LearningRateScheduler(ng.optim.StepLR(opt, step_size=4, gamma=0.5))
    assert step.training_settings() == {"schedule": "StepLR", "step_size": 4, "gamma": 0.5,
                               "base_lr": 0.1}  # fmt: skip

    def halve(epoch):
        return 0.1 / 2**epoch

    assert ng.LearningRateScheduler(halve).training_settings() == {
        "schedule": halve.__qualname__, "numbers": [0.1, 2.0]
    }  # the numbers written in it: another rate is another schedule

    def rate(epoch, start=0.3, *, floor=1e-3):
        inner = lambda e: (0.5, 2) * e  # noqa: E731  (a function in it: its numbers too)
        return max(start * scale - inner(epoch)[0], floor)

    scale = 7  # (its closure's)
    assert ng.LearningRateScheduler(rate).training_settings()["numbers"] == [
        0.3, 1e-3, 7.0, 0.0, 0.5, 2.0
    ]  # fmt: skip  (defaults, closure, its constants (the index 0), then inner's
    rows, rates = np.arange(5000.0), [0.1]  # state, not settings: its arrays, lists, globals
    assert ng.LearningRateScheduler(lambda e: rows[e] * sum(rates) * np.pi).training_settings()[
        "numbers"] == []  # fmt: skip
    assert ng.LearningRateScheduler({0: 0.1}.get).training_settings() == {
        "schedule": "dict.get", "numbers": []  # a builtin's are not read
    }  # fmt: skip
    assert ng.LambdaCallback().training_settings() == {} and ng.Callback().training_settings() == {}


def _rate(epoch):
    return 0.05


def _nothing(epoch, logs):
    pass


def test_every_built_in_callback_copies_and_pickles_before_during_and_after_fit(tmp_path):
    """scikit-learn's ``clone`` deep-copies an estimator's callbacks, joblib pickles them: no
    callback may hold what cannot be copied (a module, an open writer, a lock).  The functions
    given are module-level ones, which pickle takes by name (a lambda it cannot take)."""
    x, y = _blobs(64)
    model = _model()
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    callbacks = [
        ng.EarlyStopping(monitor="loss", patience=2),
        ng.ReduceLROnPlateau(monitor="loss", patience=1),
        ng.LearningRateScheduler(_rate),
        ng.LearningRateScheduler(ng.optim.StepLR(optimizer, 2)),
        ng.LambdaCallback(on_epoch_end=_nothing),
        ng.TerminateOnDivergence(),
        ng.GradientDiagnostics(),
        ng.CSVLogger(tmp_path / "log.csv"),
        ng.TensorBoard(tmp_path / "logs"),  # its event writers are open during fit
    ]
    copied = []

    def copy_all(epoch, logs):
        for callback in callbacks:
            copied.append(type(copy.deepcopy(callback)))
            copied.append(type(pickle.loads(pickle.dumps(callback))))

    copy_all(None, None)
    ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=2, verbose=0,
           callbacks=[*callbacks, ng.LambdaCallback(on_epoch_end=copy_all)])  # fmt: skip
    copy_all(None, None)
    assert copied == [type(c) for c in callbacks for _ in range(2)] * 4


def test_validation_and_evaluated_rows_that_are_not_finite_are_named_once_before_training():
    """A NaN or inf in a validation row made val_loss nan and EarlyStopping stop after one epoch
    without a word (a training row's stops fit with a DivergenceWarning): the rows are named
    once, as fit starts, by their numbers in x (validation_split, any mode) or in
    validation_data; evaluate names those its loss cannot score, sparse rows too."""
    import scipy.sparse

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 3)), (np.arange(100) % 2)
    x[95, 1] = np.nan
    spoilt = "val_loss will be nan, and callbacks watching it (EarlyStopping, ReduceLROnPlateau)"

    def run(**options):
        model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.ReLU(), ng.Linear(4, 2, seed=1))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1),
                   *options.pop("rows", (x, y)), epochs=3, seed=0, verbose=0,
                   callbacks=[ng.EarlyStopping(patience=1)], **options)  # fmt: skip
        ours = [w for w in caught if w.category is ng.DivergenceWarning]
        assert all(w.filename == __file__ for w in ours)
        return model, [str(w.message) for w in ours]

    _, said = run(validation_split=0.2)
    assert said == [f"fit: 1 validation row holds NaN or infinite inputs (row 95 of x): {spoilt} "
                    "act on nan; drop or fix it"]  # fmt: skip
    bad = x.copy()
    bad[::2, 0] = np.inf  # every other row: some are drawn for validation, by their numbers in x
    _, said = run(rows=(bad, y), validation_split=0.5, validation_split_mode="stratify")
    named = re.search(r"validation rows hold NaN or infinite inputs \(rows ([\d, ]+), ", said[0])
    assert named and all(int(row) % 2 == 0 for row in named[1].split(", ")), said
    held = x[80:].copy()
    held[[3, 7], 0] = np.inf
    model, said = run(rows=(x[:80], y[:80]), validation_data=(held, y[80:]))
    assert said == [f"fit: 3 validation rows hold NaN or infinite inputs (rows 3, 7, 15 of "
                    f"validation_data): {spoilt} act on nan; drop or fix them"]  # fmt: skip
    _, said = run(rows=(x[:80], y[:80]), validation_data=(x[:20], y[:20]))
    assert said == [], "finite rows: no warning"
    for rows in (held, scipy.sparse.csr_matrix(held)):
        with pytest.warns(ng.DivergenceWarning) as caught:
            scores = ng.evaluate(model, ng.CrossEntropyLoss(), rows, y[80:], metrics=["accuracy"])
        ours = [str(w.message) for w in caught if w.category is ng.DivergenceWarning]
        assert np.isnan(scores["loss"]) and ours == [
            "evaluate: 3 rows hold NaN or infinite inputs (rows 3, 7, 15 of x): the loss is nan; "
            "drop or fix them"
        ]
