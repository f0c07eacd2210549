"""The compiled training step (nudgenet.compiled) computes what the general engine computes.

Each case trains one model twice from the same seeds with ``fit``: once with ``compile=True``
(the compiled step) and once with ``compile=False`` (the engine builds and walks the graph).
Parameters and per-epoch losses must be *bitwise* equal (``np.array_equal``): both run the same
kernels (``nudgenet.functional.kernels``), the compiled step only into reused buffers, so there
is no rounding difference to tolerate.  (``array_equal`` treats −0.0 and +0.0 as equal; the
engine adds a gradient to a zeroed buffer, the compiled step writes it.)
"""

import re
from contextlib import nullcontext

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.compiled import CompiledMLP
from nudgenet.errors import CompileError, NudgenetError


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
    "tanh-bce-multilabel-adam": dict(
        layers=lambda: [ng.Linear(20, 12, seed=8), ng.Tanh(), ng.Linear(12, 3, seed=9)],
        loss=ng.BCEWithLogitsLoss(), classes=0, binary=True,
        opt=lambda p: ng.optim.Adam(p, lr=0.01), dtype=np.float32,
    ),
    "no-bias-sum-reduction-output-activation": dict(
        layers=lambda: [ng.Linear(20, 10, bias=False, seed=6), ng.Tanh(), ng.Identity(),
                        ng.Linear(10, 5, seed=7), ng.ReLU()],
        loss=ng.CrossEntropyLoss(reduction="sum"), classes=5,
        opt=lambda p: ng.optim.SGD(p, lr=0.001, weight_decay=1e-3), dtype=np.float32,
    ),
}  # fmt: skip


_METRIC = {"classification": "accuracy", "regression": "mse"}  # a metric of each task


def _train(case, compiled: bool, monkeypatch, batch_size=32, metrics=True, callbacks=()):
    model = ng.Sequential(*case["layers"]())
    model.to(case["dtype"])
    optimizer = case["opt"](model.parameters())
    outputs = model[len(model) - 1].out_features if case["classes"] == 0 else None
    x, y = _data(250, 20, outputs, case["classes"], case["dtype"])  # 250 rows: a partial batch
    if case.get("binary"):
        y = (y > 0).astype(case["dtype"])  # 0/1 labels, one column per label
    with monkeypatch.context() as m:
        if not compiled:  # compile=False must not even try
            m.setattr(CompiledMLP, "compile", None)
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
            metrics=([_METRIC[case["loss"].task]] if metrics else None),
            callbacks=list(callbacks),
            compile=compiled,
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

    def on_train_batch_end(self, batch, logs=None):
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
    step = CompiledMLP.compile(model, case["loss"], optimizer, x, y)
    out, targets, loss = step.train_step(x, y, rows)
    fast_grads = [p.grad.copy() for p in model.parameters()]
    optimizer.zero_grad()
    engine_loss = case["loss"](model(x[rows]), y[rows])
    engine_loss.backward()
    assert loss == float(engine_loss.data)
    assert np.array_equal(targets, y[rows])
    assert np.array_equal(out, model(x[rows]).data)
    for fast_grad, p in zip(fast_grads, model.parameters()):
        assert np.array_equal(fast_grad, p.grad)


# --- what the compiled step covers, and why not -------------------------------------------------

LABELS = np.array([0, 1, 2, 1, 0, 2])
X = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)


def _mlp(*middle, last=3):
    return ng.Sequential(ng.Linear(4, 3, seed=0), *middle, ng.Linear(3, last, seed=1))


def _hooked():
    model = _mlp(ng.ReLU())
    model[1].register_forward_hook(lambda module, inputs, output: None)
    return model


def _forward_replaced():
    model = _mlp(ng.ReLU())
    object.__setattr__(model[1], "forward", lambda x: x)  # e.g. a user's wrapper
    return model


def _tied():
    shared = ng.Linear(4, 4, seed=0)
    return ng.Sequential(shared, ng.Tanh(), shared, ng.Tanh(), ng.Linear(4, 3, seed=1))


def _first_layer_frozen():
    model = _mlp(ng.ReLU())
    model[0].weight.requires_grad = False
    return model


class _OwnForward(ng.Sequential):
    def forward(self, x):
        return super().forward(x) * 2


# (what to train, why the compiled step refuses it): model, loss, targets, optimiser's parameters
REFUSED = {
    "softplus": (lambda: _mlp(ng.Softplus()), None, None, None,
                 "layer '1' (Softplus) has no compiled rule"),
    "dropout": (lambda: _mlp(ng.Dropout(0.5, seed=0)), None, None, None,
                "layer '1' (Dropout) has no compiled rule"),
    "two-activations": (lambda: _mlp(ng.ReLU(), ng.Tanh()), None, None, None,
                        "layer '2' (Tanh) does not follow a Linear"),
    "activation-first": (lambda: ng.Sequential(ng.ReLU(), ng.Linear(4, 3, seed=0)), None, None,
                         None, "layer '0' (ReLU) does not follow a Linear"),
    "no-linear": (lambda: ng.Sequential(ng.Identity()), None, None,
                  lambda m: ng.Linear(4, 3).parameters(), "the model has no Linear layer"),
    "own-forward": (lambda: _OwnForward(ng.Linear(4, 3, seed=0)), None, None, None,
                    "the model (_OwnForward) has no compiled rule"),
    "forward-hooks": (_hooked, None, None, None, "forward hooks on layer '1' (ReLU)"),
    "forward-replaced": (_forward_replaced, None, None, None,
                         "layer '1' (ReLU) has its forward replaced on the instance"),
    "tied-weights": (_tied, None, None, None, "tied weights"),
    "probabilities": (_mlp, None, np.eye(3)[LABELS], None,
                      "targets are probability rows of shape (6, 3); the compiled step takes "
                      "integer labels"),
    "bce-pos-weight": (_mlp, ng.BCEWithLogitsLoss(pos_weight=2.0), np.eye(3)[LABELS], None,
                       "the loss has a pos_weight"),
    "frozen": (_mlp, None, None, lambda m: m[0].parameters(),
               "parameters not all owned by the optimizer (it updates 2 of the model's 4)"),
    "requires-grad-false": (_first_layer_frozen, None, None, None,
                            "a parameter of Linear(4 -> 3) is frozen (requires_grad=False)"),
    "extra": (_mlp, None, None, lambda m: m.parameters() + [ng.Parameter(np.zeros(2, np.float32))],
              "the optimizer also updates parameters outside the model"),
}  # fmt: skip


@pytest.mark.parametrize("name", REFUSED)
def test_compile_true_names_why_a_model_cannot_be_compiled(name):
    make, loss_fn, y, params, why = REFUSED[name]
    model = make()
    optimizer = ng.optim.SGD(model.parameters() if params is None else params(model), lr=0.1)
    frozen = pytest.warns(UserWarning, match="stay fixed") if name == "frozen" else nullcontext()
    with frozen, pytest.raises(CompileError, match=re.escape(why)) as raised:
        ng.fit(model, loss_fn or ng.CrossEntropyLoss(), optimizer, X, LABELS if y is None else y,
               epochs=1, verbose=0, compile=True)  # fmt: skip
    assert isinstance(raised.value, NudgenetError) and isinstance(raised.value, ValueError)
    assert str(raised.value).startswith("fit(compile=True): ") and "\n" not in str(raised.value)


BAD_TARGETS = {  # targets the loss refuses: every choice of backend gives the loss's own error
    "label-out-of-range": (None, LABELS + 1, "labels must be in [0, 2] for 3 classes, got values "
                           "from 1 to 3"),
    "mse-vector-targets": (ng.MSELoss(), LABELS.astype(np.float32), "shape (6,)"),
}  # fmt: skip


@pytest.mark.parametrize("compile", ["auto", True, False])
@pytest.mark.parametrize("name", BAD_TARGETS)
def test_targets_the_loss_refuses_give_its_error_on_every_backend(name, compile):
    loss_fn, y, message = BAD_TARGETS[name]
    model = _mlp(ng.ReLU())
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        ng.fit(model, loss_fn or ng.CrossEntropyLoss(), optimizer, X, y, epochs=1, verbose=0,
               compile=compile)  # fmt: skip
    assert not isinstance(raised.value, CompileError)


class _HookAtSecondBatch(ng.Callback):
    """Registers a forward hook on the model's ReLU in the middle of the first epoch."""

    def __init__(self):
        self.calls, self.batches = 0, 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == 2:
            self.model[1].register_forward_hook(self._count)

    def _count(self, module, inputs, output):
        self.calls += 1


def test_a_forward_hook_registered_during_training_is_called_and_changes_no_number():
    histories, models, hooks = [], [], []
    for compile in ("auto", False):
        hook = _HookAtSecondBatch()
        model = _mlp(ng.ReLU())
        optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        histories.append(ng.fit(model, ng.CrossEntropyLoss(), optimizer, X, LABELS, epochs=3,
                                batch_size=2, verbose=0, seed=0, callbacks=[hook],
                                compile=compile))  # fmt: skip
        models.append(model.state_dict())
        hooks.append(hook.calls)
    assert hooks == [7, 7]  # 3 batches a epoch, hooked from the third of 9 on
    assert histories[0]["loss"] == histories[1]["loss"]
    for key in models[0]:
        assert np.array_equal(models[0][key], models[1][key]), key


def test_compile_true_refuses_a_forward_hook_registered_during_training():
    model = _mlp(ng.ReLU())
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(CompileError, match="a forward hook was registered during training"):
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, X, LABELS, epochs=1, batch_size=2,
               verbose=0, callbacks=[_HookAtSecondBatch()], compile=True)  # fmt: skip


WEIGHTED = {
    "sample_weight": ({"sample_weight": np.ones(6)}, "rows are weighted (class_weight or "),
    "class_weight": ({"class_weight": "balanced"}, "rows are weighted (class_weight or "),
    "loss-weight": ({}, "the loss has class weights (CrossEntropyLoss(reduction='mean', weight="),
}


@pytest.mark.parametrize("name", WEIGHTED)
def test_compile_true_refuses_weights(name):
    options, why = WEIGHTED[name]
    loss_fn = ng.CrossEntropyLoss(**({"weight": [1.0, 2.0, 1.0]} if name == "loss-weight" else {}))
    model = _mlp(ng.ReLU())
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(CompileError, match=re.escape(f"fit(compile=True): {why}")):
        ng.fit(model, loss_fn, optimizer, X, LABELS, verbose=0, compile=True, **options)


def test_compile_true_names_inputs_the_first_linear_does_not_take():
    model = _mlp(ng.ReLU())
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(CompileError, match=r"inputs are float32 of shape \(6, 5\)"):
        CompiledMLP.compile(model, ng.CrossEntropyLoss(), optimizer, np.ones((6, 5), "f4"), LABELS)
    with pytest.raises(CompileError, match="takes 5 features but the layer before gives 3"):
        wrong = ng.Sequential(ng.Linear(4, 3, seed=0), ng.Linear(5, 3, seed=0))
        CompiledMLP.compile(wrong, ng.CrossEntropyLoss(), optimizer, X, LABELS)


def test_compile_accepts_only_auto_true_or_false():
    model = _mlp(ng.ReLU())
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match="compile must be 'auto', True or False, got"):
            ng.fit(model, ng.CrossEntropyLoss(), optimizer, X, LABELS, verbose=0, compile=bad)


def _fit_state(make, compile, epochs=2):
    model = make()
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    y = np.arange(40) % 3
    x = np.random.default_rng(2).standard_normal((40, 4)).astype(np.float32)
    ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=epochs, batch_size=8, seed=0,
           verbose=0, compile=compile)  # fmt: skip
    return model.state_dict()


def test_auto_falls_back_to_the_engine_for_tied_weights():
    # the compiled step once accepted a Linear used twice and wrote its gradient twice instead
    # of adding the two: the tied weights trained differently from the engine
    auto, engine = _fit_state(_tied, "auto"), _fit_state(_tied, False)
    for key in engine:
        assert np.array_equal(auto[key], engine[key]), key


def test_fallback_keeps_the_engines_errors_and_diagnostics_still_work():
    model = _mlp(ng.ReLU())
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    x = np.ones((6, 4), np.float32)
    with pytest.raises(ValueError, match="labels must be in"):
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, np.array([0, 1, 2, 3, 0, 1]),
               verbose=0)  # fmt: skip
    history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, np.array([0, 1, 2, 0, 1, 2]),
                     epochs=2, batch_size=3, verbose=0, diagnostics=True)  # fmt: skip
    assert any(key.startswith("grad_norm/") for key in history.history)


class _Outputs(ng.callbacks.Callback):
    """Copies of the batch's layer outputs fit hands to callbacks that want them."""

    wants_outputs = True

    def __init__(self):
        self.seen = []

    def on_batch_end(self, *args, **kwargs):
        self.seen.append({name: out.copy() for name, out in self.outputs.items()})


@pytest.mark.parametrize(
    "layers",
    [
        lambda: [ng.Identity(), ng.Linear(4, 5, seed=0), ng.Identity(), ng.Sigmoid(),
                 ng.Linear(5, 3, seed=1)],
        lambda: [ng.Linear(4, 5, seed=0), ng.ReLU(), ng.Identity(), ng.Linear(5, 3, seed=1),
                 ng.Tanh(), ng.Identity()],
    ],
    ids=["identity-first-linear-last", "activation-last"],
)  # fmt: skip
def test_compiled_step_hands_callbacks_the_same_layer_outputs_as_the_engine(layers):
    seen = {}
    for compile in (True, False):
        model = ng.Sequential(*layers())
        spy = _Outputs()
        optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
        y = np.arange(10) % 3
        x = np.random.default_rng(3).standard_normal((10, 4)).astype(np.float32)
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=1, batch_size=4, seed=0,
               verbose=0, callbacks=[spy], compile=compile)  # fmt: skip
        seen[compile] = spy.seen
    assert len(seen[True]) == len(seen[False]) == 3  # batches of 4, 4 and 2 rows
    for fast, slow in zip(seen[True], seen[False]):
        assert list(fast) == list(slow) == [str(i) for i in range(len(layers()))]
        for name in slow:
            assert np.array_equal(fast[name], slow[name]), name


def blas_threads() -> list[int]:
    """The thread counts of numpy's BLAS pools (the one that runs nudgenet's products)."""
    from threadpoolctl import threadpool_info

    return [
        pool["num_threads"]
        for pool in threadpool_info()
        if pool["user_api"] == "blas" and "numpy" in pool["filepath"]
    ]


def test_blas_threads_for_small_products_is_one_thread_then_restores():
    """Small products run on one BLAS thread, the pools' settings restored after, at every call
    (the handle on the thread pools is made once and reused); large ones keep every thread.
    numpy's BLAS is the one that counts (a library loaded after the handle was made, such as
    scipy's own BLAS, runs none of nudgenet's products)."""
    from threadpoolctl import threadpool_limits

    from nudgenet.blas_threads import blas_threads_for

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        for _ in range(2):
            with blas_threads_for(ng.nn.Sequential(ng.nn.Linear(4, 3)), 8):
                assert set(blas_threads()) == {1}
            assert blas_threads() == before
        with blas_threads_for(ng.nn.Sequential(ng.nn.Linear(64, 1024)), 4096):
            assert blas_threads() == before


def test_fits_in_threads_share_the_one_thread_limit_and_leave_the_pools_as_they_found_them():
    """threadpoolctl's limit is the process's: two fits (in two threads: here their limits,
    entered and left in one thread, in the order that broke it), the first to start ending
    first, leave the pools as they found them (each restoring what it found left the process
    on one thread for good: the second had found the first's "1")."""
    from threadpoolctl import threadpool_limits

    from nudgenet.blas_threads import blas_threads_for

    small = ng.nn.Sequential(ng.nn.Linear(4, 3))
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        first, second = blas_threads_for(small, 8), blas_threads_for(small, 8)
        first.__enter__()
        second.__enter__()
        try:
            first.__exit__(None, None, None)  # the first fit ends while the second runs
        finally:
            second.__exit__(None, None, None)
        assert blas_threads() == before


def test_a_layer_frozen_during_training_trains_the_others_as_the_engine_does():
    """The compiled step wrote a frozen layer's gradient: the optimiser skipped it, but
    clip_grad_norm counted it (and the diagnostics showed it), so "auto" trained otherwise."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)

    class Freeze(ng.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            for p in self.model[0].parameters():
                p.requires_grad = epoch not in (1, 2)

    def run(compile):
        model = ng.Sequential(ng.Linear(5, 16, seed=0), ng.ReLU(), ng.Linear(16, 2, seed=1))
        optimizer = ng.optim.SGD(model.parameters(), 0.1, momentum=0.9)
        history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=4, batch_size=32,
                         seed=1, verbose=0, callbacks=[Freeze()], compile=compile,
                         clip_grad_norm=0.1, diagnostics=True)  # fmt: skip
        return history.history, model.state_dict()

    (compiled, params), (engine, expected) = run(True), run(False)
    assert compiled["loss"] == engine["loss"] and compiled["grad_norm/0"][1:3] == [0.0, 0.0]
    assert all(np.array_equal(params[k], expected[k]) for k in expected)


def test_a_model_frozen_whole_trains_nothing_on_either_backend_with_a_warning():
    """Review 79: a callback freezing every parameter for an epoch: the compiled step went on
    without updates, the engine's backward raised (no input required gradients); a model frozen
    whole before fit is warned of (Keras warns of a model without trainable weights)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)

    class FreezeAll(ng.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            for p in self.model.parameters():
                p.requires_grad = epoch != 1

    def run(compile):
        model = ng.Sequential(ng.Linear(5, 8, seed=0), ng.ReLU(), ng.Linear(8, 2, seed=1))
        optimizer = ng.optim.SGD(model.parameters(), 0.1, momentum=0.9)
        history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=3, batch_size=16,
                         seed=1, verbose=0, callbacks=[FreezeAll()], compile=compile)  # fmt: skip
        return history.history["loss"], model.state_dict()

    (compiled, params), (engine, expected) = run(True), run(False)
    assert compiled == engine and all(np.array_equal(params[k], expected[k]) for k in expected)
    model = ng.Sequential(ng.Linear(5, 2, seed=0)).requires_grad_(False)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match="every one of the model's 2 parameters is frozen"):
        ng.fit(model, ng.CrossEntropyLoss(), ng.optim.Adam(model.parameters()), x, y, epochs=1,
               verbose=0, seed=0)  # fmt: skip
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
