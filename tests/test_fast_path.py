"""The compiled training step (nudgenet.fast) computes what the general engine computes.

Each case trains one model twice from the same seeds with ``fit``: once as ``fit`` chooses (the
compiled step) and once with the compiled step switched off (the engine builds and walks the
graph).  Parameters and per-epoch losses must be *bitwise* equal (``np.array_equal``): the
compiled step runs the engine's own activation and loss rules and the same BLAS calls, only into
reused buffers, so there is no rounding difference to tolerate.  (``array_equal`` treats −0.0 and
+0.0 as equal; the engine adds a gradient to a zeroed buffer, the compiled step writes it.)
"""

import numpy as np
import pytest

import nudgenet as ng
from nudgenet import train as train_module
from nudgenet.fast import CompiledMLP


def _data(n, features, outputs, classes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(dtype)
    if classes:
        return x, rng.integers(0, classes, n)
    return x, rng.standard_normal((n, outputs)).astype(dtype)


CASES = {
    "relu-ce-sgd-momentum": dict(
        layers=lambda: [ng.Linear(20, 16, seed=0), ng.ReLU(), ng.Linear(16, 16, seed=1),
                        ng.ReLU(), ng.Linear(16, 4, seed=2)],
        loss=ng.CrossEntropyLoss(), classes=4,
        opt=lambda p: ng.optim.SGD(p, lr=0.1, momentum=0.9), dtype=np.float32,
    ),
    "sigmoid-tanh-mse-adam-float64": dict(
        layers=lambda: [ng.Linear(20, 12, seed=3), ng.Sigmoid(), ng.Linear(12, 8, seed=4),
                        ng.Tanh(), ng.Linear(8, 3, seed=5)],
        loss=ng.MSELoss(), classes=0,
        opt=lambda p: ng.optim.Adam(p, lr=0.01), dtype=np.float64,
    ),
    "no-bias-sum-reduction-output-activation": dict(
        layers=lambda: [ng.Linear(20, 10, bias=False, seed=6), ng.Tanh(), ng.Identity(),
                        ng.Linear(10, 5, seed=7), ng.ReLU()],
        loss=ng.CrossEntropyLoss(reduction="sum"), classes=5,
        opt=lambda p: ng.optim.SGD(p, lr=0.001, weight_decay=1e-3), dtype=np.float32,
    ),
}  # fmt: skip


def _train(case, compiled: bool, monkeypatch, batch_size=32, metrics=True, callbacks=()):
    model = ng.Sequential(*case["layers"]())
    model.to(case["dtype"])
    optimizer = case["opt"](model.parameters())
    outputs = model[len(model) - 1].out_features if case["classes"] == 0 else None
    x, y = _data(250, 20, outputs, case["classes"], case["dtype"])  # 250 rows: a partial batch
    assert (CompiledMLP.compile(model, case["loss"], optimizer, y) is not None) is True
    with monkeypatch.context() as m:
        if not compiled:
            m.setattr(train_module.CompiledMLP, "compile", classmethod(lambda *a: None))
        history = ng.fit(
            model,
            case["loss"],
            optimizer,
            x,
            y,
            epochs=3,
            batch_size=batch_size,
            seed=0,
            verbose=0,
            metrics=(["accuracy"] if case["classes"] else ["mse"]) if metrics else None,
            callbacks=list(callbacks),
        )
    return model, history


@pytest.mark.parametrize("metrics", [True, False], ids=["metrics", "loss-only-loop"])
@pytest.mark.parametrize("name", CASES)
def test_compiled_step_trains_bit_for_bit_like_the_engine(name, metrics, monkeypatch):
    fast_model, fast_history = _train(CASES[name], True, monkeypatch, metrics=metrics)
    slow_model, slow_history = _train(CASES[name], False, monkeypatch, metrics=metrics)
    fast, slow = fast_model.state_dict(), slow_model.state_dict()
    assert fast.keys() == slow.keys()
    for key in fast:
        assert fast[key].dtype == slow[key].dtype == CASES[name]["dtype"]
        assert np.array_equal(fast[key], slow[key]), key
    for key in ("loss", "accuracy", "mse"):
        if key in slow_history.history:
            assert fast_history.history[key] == slow_history.history[key]
    # and training moved the parameters at all (otherwise the comparison proves nothing)
    fresh = ng.Sequential(*CASES[name]["layers"]()).to(CASES[name]["dtype"]).state_dict()
    assert not np.array_equal(fast["0.weight"], fresh["0.weight"])


class _Rebind(ng.callbacks.Callback):
    """Mid-epoch, rebinds parameters the way user code might: to a new array (halved weights)
    and to another view object of the same flat buffer (so a cached view would be stale)."""

    def __init__(self, at: int = 3):
        self.at, self.seen = at, 0

    def on_batch_end(self, step, loss):
        self.seen += 1
        if self.seen == self.at:
            first, second = self.model[0], self.model[2]
            first.weight.data = first.weight.data * 0.5
            second.weight.data = second.weight.data[...]
            second.bias.grad = second.bias.grad[...]


def test_compiled_step_follows_parameters_rebound_mid_training(monkeypatch):
    case = CASES["relu-ce-sgd-momentum"]
    fast_model, fast_history = _train(case, True, monkeypatch, callbacks=[_Rebind()])
    slow_model, slow_history = _train(case, False, monkeypatch, callbacks=[_Rebind()])
    fast, slow = fast_model.state_dict(), slow_model.state_dict()
    for key in fast:
        assert np.array_equal(fast[key], slow[key]), key
    assert fast_history.history["loss"] == slow_history.history["loss"]
    # the halving took effect (a step bound to the old arrays would have trained past it)
    untouched_model, _ = _train(case, True, monkeypatch)
    assert not np.array_equal(fast["0.weight"], untouched_model.state_dict()["0.weight"])


def test_compiled_step_gradients_match_backward_after_one_step():
    case = CASES["relu-ce-sgd-momentum"]
    model = ng.Sequential(*case["layers"]())
    optimizer = case["opt"](model.parameters())
    x, y = _data(40, 20, None, 4, np.float32)
    rows = np.arange(40)[::-1].copy()
    out, targets, loss = CompiledMLP.compile(model, case["loss"], optimizer, y).train_step(
        x, y, rows
    )
    fast_grads = [p.grad.copy() for p in model.parameters()]
    optimizer.zero_grad()
    engine_loss = case["loss"](model(x[rows]), y[rows])
    engine_loss.backward()
    assert loss == float(engine_loss.data)
    assert np.array_equal(targets, y[rows])
    assert np.array_equal(out, model(x[rows]).data)
    for fast_grad, p in zip(fast_grads, model.parameters()):
        assert np.array_equal(fast_grad, p.grad)


def _compiles(model, loss_fn, y, optimizer=None):
    optimizer = optimizer or ng.optim.SGD(model.parameters(), lr=0.1)
    return CompiledMLP.compile(model, loss_fn, optimizer, y) is not None


def test_unsupported_models_fall_back_to_the_engine():
    labels = np.array([0, 1, 2])
    mlp = ng.Sequential(ng.Linear(4, 3, seed=0), ng.ReLU(), ng.Linear(3, 3, seed=1))
    assert _compiles(mlp, ng.CrossEntropyLoss(), labels)
    dropout = ng.Sequential(ng.Linear(4, 3, seed=0), ng.Dropout(0.5), ng.Linear(3, 3, seed=1))
    assert not _compiles(dropout, ng.CrossEntropyLoss(), labels)
    two_activations = ng.Sequential(ng.Linear(4, 3, seed=0), ng.ReLU(), ng.Tanh())
    assert not _compiles(two_activations, ng.CrossEntropyLoss(), labels)
    assert not _compiles(mlp, ng.CrossEntropyLoss(), np.eye(3))  # probability targets
    assert not _compiles(mlp, ng.CrossEntropyLoss(), np.array([0, 1, 3]))  # label out of range
    assert not _compiles(mlp, ng.BCEWithLogitsLoss(), np.eye(3))
    assert not _compiles(mlp, ng.MSELoss(), np.zeros(3))  # (N,) targets for 3 outputs: an error
    frozen = ng.optim.SGD(mlp[0].parameters(), lr=0.1)  # optimiser owns only some parameters
    assert not _compiles(mlp, ng.CrossEntropyLoss(), labels, frozen)
    hooked = ng.Sequential(ng.Linear(4, 3, seed=0), ng.ReLU())
    object.__setattr__(hooked[1], "forward", lambda x: x)  # a hooked layer (e.g. a user's wrapper)
    assert not _compiles(hooked, ng.CrossEntropyLoss(), labels)


def test_fallback_keeps_the_engines_errors_and_diagnostics_still_work():
    model = ng.Sequential(ng.Linear(4, 3, seed=0), ng.ReLU(), ng.Linear(3, 3, seed=1))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    x = np.ones((6, 4), np.float32)
    with pytest.raises(ValueError, match="labels must be in"):
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, np.array([0, 1, 2, 3, 0, 1]),
               verbose=0)  # fmt: skip
    history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, np.array([0, 1, 2, 0, 1, 2]),
                     epochs=2, batch_size=3, verbose=0, diagnostics=True)  # fmt: skip
    assert any(key.startswith("grad_norm/") for key in history.history)
