"""fit(..., diagnostics=True): per-layer gradient norms and dead ReLU units in the History."""

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
        def on_batch_end(self, step, loss):
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


def test_dead_units_counts_relus_that_never_fire():
    x, y = _data()
    model = _model()
    with ng.no_grad():
        model[0].bias.data[:3] = -1e3  # units 0-2 of the first ReLU can never fire
    optimizer = ng.optim.SGD(model.parameters(), lr=1e-6)
    history = ng.fit(
        model,
        ng.CrossEntropyLoss(),
        optimizer,
        x,
        y,
        epochs=1,
        batch_size=30,
        seed=0,
        verbose=0,
        diagnostics=True,
    )
    # independently: which of the 6 units is positive for some row
    z = x @ model[0].weight.data + model[0].bias.data
    expected = 1 - (z > 0).any(axis=0).mean()
    assert history["dead_units/1"][0] == pytest.approx(expected)
    assert history["dead_units/1"][0] >= 0.5


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


def test_diagnostics_only_observe_training_is_unchanged():
    x, y = _data()
    runs = []
    for diagnostics in (False, True):
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
        )
        runs.append((history["loss"], model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for name, value in runs[0][1].items():
        np.testing.assert_array_equal(value, runs[1][1][name])
