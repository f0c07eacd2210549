"""fit(..., diagnostics=True): per-layer gradient norms and dead ReLU units in each epoch's logs,
and so in the History."""

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.diagnostics import GradientDiagnostics


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _model():
    return ng.Sequential(
        ng.Linear(5, 6, seed=0),
        ng.ReLU(),
        ng.Linear(6, 4, seed=1),
        ng.ReLU(),
        ng.Linear(4, 2, seed=2),
    )


def test_history_gets_per_layer_gradient_norms_equal_to_the_batch_gradients():
    x, y = _data()
    model, loss_fn = _model(), ng.CrossEntropyLoss()
    seen = []

    class Spy(ng.Callback):  # independent: the norm of layer 0's batch gradient, batch by batch
        def on_train_batch_end(self, batch, logs=None):
            w, b = self.model[0].weight.grad, self.model[0].bias.grad
            seen.append(np.sqrt((w.astype(np.float64) ** 2).sum() + (b**2).sum()))

    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    history = ng.fit(
        model,
        loss_fn,
        optimizer,
        x,
        y,
        epochs=2,
        batch_size=40,
        seed=0,
        verbose=0,
        diagnostics=True,
        callbacks=[Spy()],
    )
    for key in ("grad_norm/0", "grad_norm/2", "grad_norm/4", "dead_units/1", "dead_units/3"):
        assert len(history[key]) == 2, key
    assert history["grad_norm/0"][0] == pytest.approx(np.mean(seen[:3]), rel=1e-5)
    assert history["grad_norm/0"][1] == pytest.approx(np.mean(seen[3:]), rel=1e-5)
    assert all(0.0 <= v <= 1.0 for v in history["dead_units/1"] + history["dead_units/3"])
    assert "forward" not in model[1].__dict__  # nothing hooks the forward pass


def _fit_with_diagnostics(model, x, y, path, lr=1e-6, epochs=1, batch_size=30):
    """fit on its compiled step (compile=True) or the general engine (compile=False)."""
    optimizer = ng.optim.SGD(model.parameters(), lr=lr)
    loss_fn = ng.CrossEntropyLoss()
    return ng.fit(model, loss_fn, optimizer, x, y, epochs=epochs, batch_size=batch_size,
                  seed=0, verbose=0, diagnostics=True, compile=path == "compiled")  # fmt: skip


def _never_fired(x, linear):
    """Independently: the fraction of a ReLU(x W + b)'s units positive for no row of x."""
    z = x.astype(np.float64) @ linear.weight.data + linear.bias.data
    return 1 - (z > 0).any(axis=0).mean()


@pytest.mark.parametrize("path", ["compiled", "engine"])
def test_dead_units_counts_relus_that_never_fire(path):
    x, y = _data()
    model = _model()
    with ng.no_grad():
        model[0].bias.data[:3] = -1e3  # units 0-2 of the first ReLU can never fire
    history = _fit_with_diagnostics(model, x, y, path)
    assert history["dead_units/1"][0] == pytest.approx(_never_fired(x, model[0]))
    assert history["dead_units/1"][0] >= 0.5


@pytest.mark.parametrize("path", ["compiled", "engine"])
def test_a_unit_that_fires_is_not_dead_though_nothing_downstream_passes_it_gradient(path):
    x, y = _data()
    model = _model()
    with ng.no_grad():
        model[0].bias.data[:2] = -1e3  # units 0-1 of the first ReLU never fire ...
        model[2].bias.data[:] = -1e3  # ... and the whole second ReLU is dead: no gradient
    # reaches the first layer, so all its bias gradients are 0, yet units 2-5 do fire
    history = _fit_with_diagnostics(model, x, y, path)
    assert history["dead_units/3"] == [1.0]
    assert history["dead_units/1"][0] == pytest.approx(_never_fired(x, model[0])) == 2 / 6


def test_compiled_step_and_engine_count_the_same_dead_units_while_training():
    x, y = _data(n=130)  # batches of 30: a partial last batch of 10 rows
    runs = {}
    for path in ("compiled", "engine"):
        model = _model()
        with ng.no_grad():
            model[0].bias.data[:4] -= 2.5  # units near death: the fractions move as it learns
        history = _fit_with_diagnostics(model, x, y, path, lr=2.0, epochs=4)
        runs[path] = {k: v for k, v in history.history.items() if "/" in k}
    assert runs["compiled"] == runs["engine"]
    fractions = runs["compiled"]["dead_units/1"] + runs["compiled"]["dead_units/3"]
    assert any(0 < v < 1 for v in fractions) and len(set(fractions)) > 1


def test_diagnostics_is_opt_in():
    x, y = _data()
    model = _model()
    history = ng.fit(
        model,
        ng.CrossEntropyLoss(),
        ng.optim.SGD(model.parameters(), lr=0.1),
        x,
        y,
        epochs=1,
        verbose=0,
    )
    assert not any(k.startswith(("grad_norm/", "dead_units/")) for k in history.history)
    assert isinstance(GradientDiagnostics(), ng.Callback)


@pytest.mark.parametrize("path", ["compiled", "engine"])
def test_diagnostics_only_observe_training_is_unchanged(path):
    x, y = _data()
    runs = []
    for diagnostics in (False, True):  # the engine runs the layers one by one when watched
        model = _model()
        optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        history = ng.fit(
            model,
            ng.CrossEntropyLoss(),
            optimizer,
            x,
            y,
            epochs=2,
            batch_size=32,
            seed=0,
            verbose=0,
            diagnostics=diagnostics,
            compile=path == "compiled",
        )
        runs.append((history["loss"], model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for name, value in runs[0][1].items():
        np.testing.assert_array_equal(value, runs[1][1][name])


def _shared_relu_model(second_width):
    """One ReLU instance used after both hidden layers (as ``act = ReLU()`` reused)."""
    act = ng.ReLU()
    return ng.Sequential(
        ng.Linear(5, 8, seed=0),
        act,
        ng.Linear(8, second_width, seed=1),
        act,
        ng.Linear(second_width, 3, seed=2),
    )


@pytest.mark.parametrize("path", ["compiled", "engine"])
@pytest.mark.parametrize("second_width", [8, 4])
def test_a_relu_instance_used_twice_is_counted_at_each_place(path, second_width):
    x, y = _data()
    y = y + (x[:, 2] > 1)  # three classes
    model = _shared_relu_model(second_width)
    with ng.no_grad():
        model[0].bias.data[:4] = -1e3  # the first use: units 0-3 never fire
        model[2].bias.data[:] = 1e3  # the second use: every unit fires
    history = _fit_with_diagnostics(model, x, y, path)
    hidden = np.maximum(x.astype(np.float64) @ model[0].weight.data + model[0].bias.data, 0)
    assert history["dead_units/1"] == [pytest.approx(_never_fired(x, model[0]))] == [0.5]
    assert history["dead_units/3"] == [pytest.approx(_never_fired(hidden, model[2]))] == [0.0]


def test_diagnostics_go_into_the_logs_first_and_the_history_keeps_its_order(capsys):
    x, y = _data()
    model = _model()
    seen = []
    watcher = ng.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
    history = ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1),
                     x, y, epochs=2, batch_size=40, seed=0, verbose=2, metrics=["accuracy"],
                     diagnostics=True, callbacks=[watcher])  # fmt: skip
    per_layer = ["grad_norm/0", "grad_norm/2", "grad_norm/4", "dead_units/1", "dead_units/3"]
    assert list(history.history) == ["loss", "accuracy", "lr", "seconds", *per_layer]
    assert seen == [{key: values[e] for key, values in history.history.items()} for e in (0, 1)]
    # the progress line shows the metrics only, as without diagnostics
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "grad_norm" not in lines[1] and "dead_units" not in lines[1]
    assert lines[1].endswith(f"s - loss: {history['loss'][1]:.4g} - accuracy: "
                             f"{history['accuracy'][1]:.4g}")  # fmt: skip


def test_early_stopping_can_watch_a_diagnostic():
    x, y = _data()
    model = _model()
    with ng.no_grad():
        model[2].bias.data[:] = -1e3  # the second ReLU is dead and stays dead: no improvement
    stopper = ng.EarlyStopping(monitor="dead_units/3", mode="min", patience=1)
    history = ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1),
                     x, y, epochs=10, seed=0, verbose=0, diagnostics=True,
                     callbacks=[stopper])  # fmt: skip
    assert history["dead_units/3"] == [1.0, 1.0]
    assert history.stop_reason == "early_stopping" and history.stopped_epoch == 1


@pytest.mark.parametrize("compile", [True, False])
def test_gradient_norms_are_backprop_s_before_fit_clips_them(compile):
    x, y = _data()
    runs = {}
    for clip in (None, 1e-3):
        model = _model().double()
        history = ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=1e-9),
                         x, y, epochs=1, batch_size=len(x), seed=0, verbose=0, diagnostics=True,
                         clip_grad_norm=clip, compile=compile)  # fmt: skip
        runs[clip] = {k: v for k, v in history.history.items() if k.startswith("grad_norm")}
        total = np.sqrt(sum(g[0] ** 2 for g in runs[clip].values()))  # one batch: its norms
        assert total > 1e-2  # the gradient, far above the clipping norm
    assert runs[1e-3] == runs[None]
