"""Modules: Linear, Sequential, activations, Dropout, init, state dicts, repr, the flat
parameter buffer, and a float32 training step that stays float32 end to end."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng
import nudgenet.functional as F
from nudgenet.nn.layers import leaf_layers
from nudgenet.tensor import Function

# --- a float32 training step ------------------------------------------------------------------


def _mlp(*sizes, seed=0, dtype=None, act=ng.ReLU):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(ng.Linear(n_in, n_out, seed=seed + i, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(act())
    return ng.Sequential(*layers)


@pytest.fixture
def mnist_like_batch():
    rng = np.random.default_rng(0)
    x = rng.random((100, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=100)
    return x, y


def test_784_16_16_10_sgd_momentum_step_stays_float32(mnist_like_batch):
    x, y = mnist_like_batch
    model = _mlp(784, 16, 16, 10)
    opt = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = [p.data.copy() for p in model.parameters()]
    for _ in range(2):  # the second step uses a non-zero velocity
        opt.zero_grad()
        out = model(x)
        loss = ng.CrossEntropyLoss()(out, y)
        loss.backward()
        opt.step()
    assert out.dtype == np.float32 and out.shape == (100, 10)
    assert loss.dtype == np.float32 and loss.shape == ()
    for p, old in zip(model.parameters(), before):
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
        assert not np.array_equal(p.data, old)  # every parameter moved
    base, grad_base = model[0].weight.data.base, model[0].weight.grad.base
    assert all(p.data.base is base and p.grad.base is grad_base for p in model.parameters())
    assert set(opt.state) == {"velocity"}
    assert all(v.dtype == np.float32 for v in opt.state.values())
    with ng.no_grad():
        assert model(x).dtype == np.float32


@pytest.fixture
def default_float64():
    """``ng.set_default_dtype("float64")`` for one test, the previous default restored after."""
    previous = ng.get_default_dtype()
    ng.set_default_dtype("float64")
    try:
        yield
    finally:
        ng.set_default_dtype(previous)


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda params: ng.optim.SGD(params, lr=0.1, momentum=0.9),
        lambda params: ng.optim.Adam(params, lr=0.01),
    ],
    ids=["sgd-momentum", "adam"],
)
def test_set_default_dtype_float64_makes_the_whole_training_step_float64(
    default_float64, mnist_like_batch, make_opt
):
    x, y = mnist_like_batch  # float32 data: the model's dtype decides
    assert ng.get_default_dtype() == np.float64 and ng.tensor([1.0]).dtype == np.float64
    model = _mlp(784, 16, 16, 10)
    opt = make_opt(model.parameters())
    before = [p.data.copy() for p in model.parameters()]
    opt.zero_grad()
    out = model(x)
    loss = ng.CrossEntropyLoss()(out, y)
    loss.backward()
    opt.step()
    assert out.dtype == np.float64 and loss.dtype == np.float64
    for p, old in zip(model.parameters(), before):
        assert p.data.dtype == np.float64 and p.grad.dtype == np.float64
        assert not np.array_equal(p.data, old)  # the step really ran
    assert opt.state and all(s.dtype == np.float64 for s in opt.state.values())


def _training_step(batch: int):
    """One SGD-momentum step of a 784-16-16-10 ReLU net on a random batch, ready to run."""
    rng = np.random.default_rng(batch)
    x, y = rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, size=batch)
    model = _mlp(784, 16, 16, 10)
    opt = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step():
        opt.zero_grad()
        ng.CrossEntropyLoss()(model(x), y).backward()
        opt.step()

    return step


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_a_training_step_applies_the_same_primitives_at_batch_1_and_100(monkeypatch):
    # one fused primitive per layer and for the loss, each run once forward and once backward,
    # whatever the batch: no per-sample loop applies a primitive row by row
    calls: Counter = Counter()

    def counted(method, kind):
        def run(self, *args, **kwargs):
            calls[type(self).__name__, kind] += 1
            return method(self, *args, **kwargs)

        return run

    for cls in set(_subclasses(Function)):
        for kind in ("forward", "backward"):
            if kind in vars(cls):
                monkeypatch.setattr(cls, kind, counted(vars(cls)[kind], kind))
    per_batch = {}
    for batch in (1, 100):
        step = _training_step(batch)
        calls.clear()
        step()
        per_batch[batch] = dict(calls)
    layers = {"LinearFunction": 3, "ReLUFunction": 2, "CrossEntropyFunction": 1}
    expected = {(name, kind): n for name, n in layers.items() for kind in ("forward", "backward")}
    assert per_batch[1] == per_batch[100] == expected


def test_a_training_step_runs_as_many_lines_of_nudgenet_at_batch_100_as_at_1000():
    # No Python loop over samples anywhere in the package, inside primitives included: the number
    # of nudgenet source lines executed must not grow with the batch.  (Batch 1 may take another
    # branch where a shape decides how to vectorise, so two many-row batches are compared.)
    package = str(Path(ng.__file__).parent)

    def lines_run(step) -> int:
        count = 0

        def count_lines(frame, event, arg):
            nonlocal count
            count += event == "line"
            return count_lines

        def enter(frame, event, arg):
            return count_lines if frame.f_code.co_filename.startswith(package) else None

        step()  # untraced first: anything filled once (caches, buffers) is not counted
        previous = sys.gettrace()
        sys.settrace(enter)
        try:
            step()
        finally:
            sys.settrace(previous)
        return count

    small, large = lines_run(_training_step(100)), lines_run(_training_step(1000))
    assert small > 100 and small == large


def test_parameters_and_gradients_are_views_into_one_buffer_each():
    model = _mlp(6, 5, 4, 3)
    params = model.parameters()
    opt = ng.optim.SGD(params, lr=0.1)
    data_base, grad_base = params[0].data.base, params[0].grad.base
    assert data_base is not None and grad_base is not None and data_base is not grad_base
    for p in params:
        assert p.data.base is data_base
        assert p.grad.base is grad_base
    assert (
        data_base.size == grad_base.size == model.num_parameters() == (30 + 5) + (20 + 4) + (12 + 3)
    )
    # the buffer is in parameter order and holds the values
    np.testing.assert_array_equal(data_base, np.concatenate([p.data.ravel() for p in params]))

    x = np.random.default_rng(1).standard_normal((8, 6)).astype(np.float32)
    F.mse_loss(model(x), np.zeros((8, 3), np.float32)).backward()
    assert all(np.any(p.grad != 0) for p in params)
    assert all(p.grad.base is grad_base for p in params)  # accumulated in place
    np.testing.assert_array_equal(grad_base, np.concatenate([p.grad.ravel() for p in params]))
    opt.zero_grad()
    assert not grad_base.any()
    assert all(not p.grad.any() and p.grad.base is grad_base for p in params)


def test_flat_buffer_notices_any_rebinding():
    model = _mlp(4, 3, 2)
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    flat = opt._flat
    assert flat.is_current()
    weight = model[0].weight
    view = weight.data
    weight.data = weight.data[...]  # another view of the same buffer: still counts as moved
    assert weight.data.base is view.base and not flat.is_current()
    weight.data = view
    assert flat.is_current()
    weight.grad = weight.grad.copy()
    assert not flat.is_current()
    opt.step()  # re-packs: every parameter a view of the new buffer again
    assert opt._flat is not flat and opt._flat.is_current()
    assert all(p.data.base is opt._flat.data for p in model.parameters())


def _sgd_step_matches(model, opt, x, target, lr):
    """One plain-SGD step; checks θ_new = θ_old − lr·∇ for every parameter."""
    opt.zero_grad()
    F.mse_loss(model(x), target).backward()
    old = [(p.data.copy(), p.grad.copy()) for p in model.parameters()]
    assert all(np.any(g != 0) for _, g in old)
    opt.step()
    for p, (theta, g) in zip(model.parameters(), old):
        np.testing.assert_allclose(p.data, theta - lr * g, rtol=1e-6, atol=1e-7)


def test_optimizer_repacks_after_model_double():
    model = _mlp(4, 3, 2)
    opt = ng.optim.SGD(model.parameters(), lr=0.5, momentum=0.0)
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    rng = np.random.default_rng(2)
    x, target = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    _sgd_step_matches(model, opt, x, target, lr=0.5)
    params = model.parameters()
    base = params[0].data.base
    assert base.dtype == np.float64 and all(p.data.base is base for p in params)
    assert all(p.grad.dtype == np.float64 for p in params)


def test_optimizer_state_follows_double():
    model = _mlp(4, 3, 2)
    opt = ng.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(3)
    x, target = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    model.double()
    opt.zero_grad()
    F.mse_loss(model(x), target).backward()
    opt.step()
    assert all(v.dtype == np.float64 for v in opt.state.values())


def test_two_optimizers_sharing_parameters_both_stay_correct():
    model = _mlp(4, 3, 2, dtype=np.float64)
    rng = np.random.default_rng(4)
    x, target = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    whole = ng.optim.SGD(model.parameters(), lr=0.1)
    first_layer = ng.optim.SGD(model[0].parameters(), lr=0.1)  # re-packs a subset
    _sgd_step_matches(model, whole, x, target, lr=0.1)
    # the subset's optimizer sees the values the whole-model step wrote
    first_layer.zero_grad()
    F.mse_loss(model(x), target).backward()
    w, g = model[0].weight.data.copy(), model[0].weight.grad.copy()
    last = model[2].weight.data.copy()
    first_layer.step()
    np.testing.assert_allclose(model[0].weight.data, w - 0.1 * g)
    np.testing.assert_array_equal(model[2].weight.data, last)  # not in the subset
    _sgd_step_matches(model, whole, x, target, lr=0.1)
    base = model[0].weight.data.base
    assert all(p.data.base is base for p in model.parameters())


def _count_calls(monkeypatch, cls, name: str) -> list:
    """Record the instance of every ``cls.name(...)`` call from now on (the method still runs)."""
    calls, original = [], getattr(cls, name)

    def counting(self, *args, **kwargs):
        calls.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, counting)
    return calls


def _with_gradients(model):
    F.mse_loss(model(np.ones((2, 3), np.float32)), np.zeros((2, 2), np.float32)).backward()
    assert all(p.grad.all() for p in model.parameters())  # every entry non-zero to begin with
    return model


def test_module_zero_grad_is_one_fill_of_the_buffer_holding_exactly_its_parameters(monkeypatch):
    model = _mlp(3, 4, 2, act=ng.Tanh)
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    _with_gradients(model)
    fills = _count_calls(monkeypatch, ng.nn.FlatParameters, "zero_grad")
    single = _count_calls(monkeypatch, ng.Tensor, "zero_grad")
    model.zero_grad()
    assert fills == [opt._flat] and single == []
    assert all(not p.grad.any() for p in model.parameters())


@pytest.mark.parametrize("packing", ["none", "stale"])
def test_module_zero_grad_without_its_own_buffer_fills_each_parameter(monkeypatch, packing):
    model = _mlp(3, 4, 2, act=ng.Tanh)
    if packing == "stale":  # packed, then converted: the buffer no longer holds the parameters
        ng.optim.SGD(model.parameters(), lr=0.1)
        model.double()
    _with_gradients(model)
    fills = _count_calls(monkeypatch, ng.nn.FlatParameters, "zero_grad")
    single = _count_calls(monkeypatch, ng.Tensor, "zero_grad")
    model.zero_grad()
    assert fills == [] and [id(p) for p in single] == [id(p) for p in model.parameters()]
    assert all(not p.grad.any() for p in model.parameters())


def test_module_zero_grad_of_part_of_a_buffer_leaves_the_other_gradients(monkeypatch):
    model = _mlp(3, 4, 2, act=ng.Tanh)
    ng.optim.SGD(model.parameters(), lr=0.1)  # one buffer for both layers
    _with_gradients(model)
    kept = [p.grad.copy() for p in model[2].parameters()]
    fills = _count_calls(monkeypatch, ng.nn.FlatParameters, "zero_grad")
    model[0].zero_grad()
    assert fills == []
    assert all(not p.grad.any() for p in model[0].parameters())
    for p, grad in zip(model[2].parameters(), kept):
        np.testing.assert_array_equal(p.grad, grad)


def test_pytorch_s_zero_grad_set_to_none_is_accepted_and_zeroes_the_buffer_s_views():
    model = _mlp(3, 4, 2, act=ng.Tanh)
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    for zero_grad in (model.zero_grad, opt.zero_grad):
        _with_gradients(model)
        zero_grad(set_to_none=True)
        assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
        assert opt._flat.is_current()  # the views stay bound: no re-packing at the next step


def test_module_requires_grad_sets_every_parameter_s_flag_and_returns_the_module():
    model = _mlp(3, 4, 2, act=ng.Tanh)
    opt = ng.optim.SGD(model.parameters(), lr=0.1)
    assert model[0].requires_grad_(False) is model[0]  # torch: freezes the layer
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    frozen = model[0].weight.data.copy()
    F.mse_loss(model(np.ones((2, 3), np.float32)), np.zeros((2, 2), np.float32)).backward()
    opt.step()
    np.testing.assert_array_equal(model[0].weight.data, frozen)
    assert all(p.requires_grad for p in model.requires_grad_().parameters())


# --- parameters, names, state -----------------------------------------------------------------


def test_named_parameters_order_and_names():
    model = ng.Sequential(ng.Linear(3, 4), ng.Tanh(), ng.Linear(4, 2, bias=False), ng.Sigmoid())
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight"]
    assert [p.shape for p in model.parameters()] == [(3, 4), (4,), (4, 2)]
    assert model.parameters()[0] is model[0].weight
    assert model.num_parameters() == 12 + 4 + 8


def test_nested_modules_register_with_dotted_names():
    class Net(ng.Module):
        def __init__(self):
            super().__init__()
            self.encoder = ng.Sequential(ng.Linear(3, 2), ng.ReLU())
            self.scale = ng.Parameter(np.ones(2))
            self.head = ng.Linear(2, 1)

        def forward(self, x):
            return self.head(self.encoder(x) * self.scale)

    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale",
        "encoder.0.weight",
        "encoder.0.bias",
        "head.weight",
        "head.bias",
    ]
    assert net(np.ones((4, 3), np.float32)).shape == (4, 1)


def test_module_without_super_init_explains():
    class Broken(ng.Module):
        def __init__(self):
            self.layer = ng.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\).*'layer'"):
        Broken()


def test_state_dict_round_trip():
    a, b = _mlp(3, 4, 2, seed=0), _mlp(3, 4, 2, seed=10)
    x = np.random.default_rng(5).standard_normal((5, 3)).astype(np.float32)
    assert not np.allclose(a(x).data, b(x).data)
    state = a.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    b.load_state_dict(state)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    state["0.weight"] += 1  # a copy, not the live parameters
    assert not np.array_equal(a[0].weight.data, state["0.weight"])


def test_load_state_dict_keeps_flat_views():
    model = _mlp(3, 4, 2)
    ng.optim.SGD(model.parameters(), lr=0.1)
    base = model[0].weight.data.base
    model.load_state_dict(_mlp(3, 4, 2, seed=7).state_dict())
    assert all(p.data.base is base for p in model.parameters())
    np.testing.assert_array_equal(model[0].weight.data, _mlp(3, 4, 2, seed=7)[0].weight.data)


def test_load_state_dict_errors_name_the_key_and_shapes():
    model = _mlp(3, 4, 2)
    state = model.state_dict()
    bad = dict(state, **{"0.weight": np.zeros((4, 3), np.float32)})
    with pytest.raises(ng.ShapeError, match=r"'0\.weight'.*\(3, 4\).*\(4, 3\)"):
        model.load_state_dict(bad)
    missing = {k: v for k, v in state.items() if k != "2.bias"}
    with pytest.raises(KeyError, match=r"missing keys \['2\.bias'\]"):
        model.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"unexpected keys \['9\.weight'\]"):
        model.load_state_dict(dict(state, **{"9.weight": np.zeros(1)}))
    model.load_state_dict(missing, strict=False)  # a partial load is allowed when not strict


def test_a_pytorch_layout_linear_weight_is_refused_with_the_transpose_hint():
    layer = ng.Linear(3, 4, seed=0)
    torch_state = {"weight": np.ones((4, 3), np.float32), "bias": np.zeros(4, np.float32)}
    with pytest.raises(ng.ShapeError, match=r"\(3, 4\), got \(4, 3\) \(transposed: .*"
                       r"Linear weight is \(in, out\), PyTorch's \(out, in\): load its \.T\)$"):
        layer.load_state_dict(torch_state)
    layer.load_state_dict(dict(torch_state, weight=torch_state["weight"].T))
    with pytest.raises(ng.ShapeError) as other:  # another shape: no hint
        layer.load_state_dict(dict(torch_state, weight=np.ones((2, 6), np.float32)))
    assert "transposed" not in str(other.value)


def test_same_seed_gives_bit_identical_weights_and_other_seed_differs():
    a, b, c = _mlp(5, 7, 3, seed=42), _mlp(5, 7, 3, seed=42), _mlp(5, 7, 3, seed=43)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert pa.data.tobytes() == pb.data.tobytes()
    assert a[0].weight.data.tobytes() != c[0].weight.data.tobytes()
    ng.manual_seed(3)
    d = ng.Linear(5, 7)
    ng.manual_seed(3)
    e = ng.Linear(5, 7)
    assert d.weight.data.tobytes() == e.weight.data.tobytes()


def test_to_float64_and_back():
    model = _mlp(2, 3, 1)
    assert model.dtype == np.float32
    assert model.double().dtype == np.float64
    assert model(np.ones((1, 2))).dtype == np.float64
    assert model.float().dtype == np.float32
    with pytest.raises(TypeError, match="int64"):
        model.to(np.int64)


# --- layers -----------------------------------------------------------------------------------


def test_linear_forward_is_x_w_plus_b_with_w_in_out():
    layer = ng.Linear(3, 2, dtype=np.float64, seed=0, bias_init=ng.init.uniform(-1, 1))
    assert layer.weight.shape == (3, 2) and layer.bias.shape == (2,)
    assert np.any(layer.bias.data != 0)
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(layer(x).data, x @ layer.weight.data + layer.bias.data)
    assert ng.Linear(3, 2, bias=False).bias is None


def test_linear_default_bias_is_zero_and_float32():
    layer = ng.Linear(3, 2)
    assert layer.weight.dtype == layer.bias.dtype == np.float32
    assert not layer.bias.data.any()


@pytest.mark.parametrize(
    ("module", "fn"),
    [
        (ng.ReLU(), lambda z: np.maximum(z, 0)),
        (ng.LeakyReLU(0.2), lambda z: np.where(z > 0, z, 0.2 * z)),
        (ng.Sigmoid(), lambda z: 1 / (1 + np.exp(-z))),
        (ng.Tanh(), np.tanh),
        (ng.Softplus(), lambda z: np.log1p(np.exp(z))),
        (ng.Softmax(), lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)),
        (ng.Identity(), lambda z: z),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, ng.Module) else "",
)
def test_activation_modules(module, fn):
    z = np.random.default_rng(1).standard_normal((4, 3))
    np.testing.assert_allclose(module(z).data, fn(z), rtol=1e-12)
    assert module.parameters() == []


@pytest.mark.parametrize(
    ("loss", "fn"),
    [
        (ng.MSELoss(), F.mse_loss),
        (ng.BCELoss(reduction="sum"), F.binary_cross_entropy),
        (ng.BCEWithLogitsLoss(), F.binary_cross_entropy_with_logits),
    ],
)
def test_loss_modules_call_their_functional(loss, fn):
    rng = np.random.default_rng(2)
    p, y = rng.uniform(0.1, 0.9, (4, 2)), (rng.random((4, 2)) > 0.5).astype(float)
    expected = fn(p, y, reduction=loss.reduction).item()
    assert loss(p, y).item() == pytest.approx(expected, rel=1e-12)
    assert repr(loss) == f"{type(loss).__name__}(reduction={loss.reduction!r})"


def test_classification_loss_modules():
    z = np.random.default_rng(3).standard_normal((4, 3))
    labels = np.array([0, 2, 1, 1])
    ce = ng.CrossEntropyLoss()(z, labels).item()
    cce = ng.CategoricalCrossEntropyLoss()(ng.Softmax()(z), labels).item()
    assert ce == pytest.approx(cce, rel=1e-9)
    with pytest.raises(ValueError, match="'mean' or 'sum'.*'avg'"):
        ng.CrossEntropyLoss(reduction="avg")


def test_train_eval_toggle_dropout():
    model = ng.Sequential(ng.Linear(10, 50, seed=0), ng.Dropout(0.5, seed=1), ng.Linear(50, 1))
    x = np.ones((8, 10), np.float32)
    hidden = ng.Sequential(*model[:2])
    assert model.training and model[1].training
    dropped = hidden(x).data
    assert np.mean(dropped == 0) > 0.3  # about half the units dropped while training
    model.eval()
    assert not model.training and not model[0].training and not model[1].training
    np.testing.assert_array_equal(hidden(x).data, model[0](x).data)
    np.testing.assert_array_equal(model(x).data, model(x).data)  # deterministic in eval
    assert model.train() is model and model[1].training


def test_dropout_module_seed_reproducible():
    x = np.ones((6, 7), np.float32)
    a, b = ng.Dropout(0.3, seed=5), ng.Dropout(0.3, seed=5)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    np.testing.assert_array_equal(a(x).data, b(x).data)  # the same stream, step by step
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\), got 1"):
        ng.Dropout(1.0)


def test_unseeded_dropout_draws_from_the_generator_manual_seed_resets():
    # built before manual_seed: the layer must not keep the generator that was global back then
    x = np.ones((20, 30), np.float32)
    d = ng.Dropout(0.5)
    ng.manual_seed(0)
    a = d(x).data
    ng.manual_seed(0)
    b = d(x).data
    np.testing.assert_array_equal(a, b)
    keep = np.random.default_rng(0).random(x.shape, dtype=np.float32) >= 0.5
    np.testing.assert_array_equal(a, np.where(keep, np.float32(2), np.float32(0)))
    ng.manual_seed(1)
    assert not np.array_equal(d(x).data, a)


def test_seeded_dropout_keeps_its_own_stream_whatever_manual_seed_does():
    x = np.ones((20, 30), np.float32)
    d = ng.Dropout(0.5, seed=3)
    ng.manual_seed(0)
    first = d(x).data
    ng.manual_seed(0)
    second = d(x).data
    stream = np.random.default_rng(3)
    for mask in (first, second):  # two consecutive draws of the layer's own generator
        keep = stream.random(x.shape, dtype=np.float32) >= 0.5
        np.testing.assert_array_equal(mask, np.where(keep, np.float32(2), np.float32(0)))


def test_sequential_indexing_slicing_len_iteration():
    layers = [ng.Linear(2, 3), ng.ReLU(), ng.Linear(3, 1)]
    model = ng.Sequential(*layers)
    assert len(model) == 3
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[1:]
    assert isinstance(head, ng.Sequential) and len(head) == 2
    assert head[0] is layers[1] and head[1] is layers[2]  # the same layers, not copies
    assert list(model) == layers
    model.append(ng.Sigmoid())
    assert len(model) == 4 and [n for n, _ in model.named_children()][-1] == "3"
    with pytest.raises(TypeError, match="item 1 must be a Module, got function"):
        ng.Sequential(ng.ReLU(), lambda x: x)


def test_leaf_layers_names_match_parameter_prefixes():
    model = ng.Sequential(ng.Linear(2, 3), ng.Sequential(ng.ReLU(), ng.Linear(3, 1)))
    assert [name for name, _ in leaf_layers(model)] == ["0", "1.0", "1.1"]
    assert [n for n, _ in model.named_parameters()][2:] == ["1.1.weight", "1.1.bias"]


def test_leaf_layers_opens_only_sequentials_that_apply_their_layers_in_order():
    class Reversed(ng.Sequential):  # applies its layers last first: calling them in order differs
        def forward(self, x):
            for layer in list(self)[::-1]:
                x = layer(x)
            return x

    inner = Reversed(ng.Linear(3, 3, seed=0), ng.ReLU())
    replaced = ng.Sequential(ng.Tanh())
    object.__setattr__(replaced, "forward", lambda x: x)  # replaced on the instance
    model = ng.Sequential(ng.Linear(2, 3, seed=1), inner, replaced)
    leaves = list(leaf_layers(model))
    assert [name for name, _ in leaves] == ["0", "1", "2"]
    assert leaves[1][1] is inner and leaves[2][1] is replaced
    x = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    h = x
    for _, layer in leaves:  # calling the leaves one after another is the model's forward
        h = layer(h)
    np.testing.assert_array_equal(h.data, model(x).data)


def test_repr_shows_architecture_and_parameter_counts():
    model = ng.Sequential(ng.Linear(784, 16), ng.ReLU(), ng.Linear(16, 10, bias=False))
    text = repr(model)
    assert "(0): Linear(784 -> 16)  # 12,560 params" in text
    assert "(1): ReLU()" in text
    assert "(2): Linear(16 -> 10, bias=False)  # 160 params" in text
    assert text.splitlines()[0] == "Sequential("
    assert text.splitlines()[-1] == "Total parameters: 12,720"
    assert repr(ng.Dropout(0.25)) == "Dropout(p=0.25)"


# --- init -------------------------------------------------------------------------------------

FAN_IN, FAN_OUT = 400, 300


def _draw(init, seed=0, dtype=np.float64):
    return init((FAN_IN, FAN_OUT), np.random.default_rng(seed), dtype)


@pytest.mark.parametrize(
    ("init", "limit"),
    [
        (ng.init.glorot_uniform(), np.sqrt(6 / (FAN_IN + FAN_OUT))),
        (ng.init.glorot_uniform(gain=2.0), 2 * np.sqrt(6 / (FAN_IN + FAN_OUT))),
        (ng.init.he_uniform(), np.sqrt(6 / FAN_IN)),
        (ng.init.uniform(-0.01, 0.01), 0.01),
    ],
    ids=["glorot_uniform", "glorot_uniform-gain2", "he_uniform", "uniform-eps"],
)
def test_uniform_inits_fill_their_symmetric_range(init, limit):
    w = _draw(init)
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    assert abs(w.mean()) < 0.01 * limit
    assert w.var() == pytest.approx(limit**2 / 3, rel=0.02)


@pytest.mark.parametrize(
    ("init", "std"),
    [
        (ng.init.glorot_normal(), np.sqrt(2 / (FAN_IN + FAN_OUT))),
        (ng.init.he_normal(), np.sqrt(2 / FAN_IN)),
        (ng.init.normal(0.0, 0.3), 0.3),
    ],
    ids=["glorot_normal", "he_normal", "normal"],
)
def test_normal_inits_have_their_standard_deviation(init, std):
    w = _draw(init)
    assert w.std() == pytest.approx(std, rel=0.02)
    assert abs(w.mean()) < 0.02 * std


def test_constant_zeros_names_and_dtype():
    np.testing.assert_array_equal(_draw(ng.init.constant(0.5)), np.full((FAN_IN, FAN_OUT), 0.5))
    assert not _draw(ng.init.zeros()).any()
    assert _draw(ng.init.he_uniform(), dtype=np.float32).dtype == np.float32
    a = _draw(ng.init.get("kaiming_uniform"), seed=3)
    np.testing.assert_array_equal(a, _draw(ng.init.he_uniform(), seed=3))
    layer = ng.Linear(FAN_IN, FAN_OUT, init="he_normal", seed=0)
    assert layer.weight.data.std() == pytest.approx(np.sqrt(2 / FAN_IN), rel=0.02)
    with pytest.raises(ValueError, match="unknown initialiser 'lecun'"):
        ng.init.get("lecun")
    with pytest.raises(ValueError, match="low < high"):
        ng.init.uniform(0.1, -0.1)


def test_an_initialiser_function_given_uncalled_says_to_call_it():
    """init=ng.init.he_normal (as PyTorch passes nn.init.kaiming_normal_) was Python's raw
    "he_normal() takes 0 positional arguments but 3 were given"."""
    for given, call in ((ng.init.he_normal, "he_normal()"), (ng.init.constant, "constant(value)"),
                        (ng.init.uniform, "uniform()")):  # fmt: skip
        with pytest.raises(TypeError) as error:
            ng.Linear(FAN_IN, FAN_OUT, init=given, seed=0)
        assert str(error.value) == (f"got ng.init.{given.__name__}, a function that makes an "
                                    f"initialiser; call it: ng.init.{call}")  # fmt: skip
    with pytest.raises(TypeError, match=r"call it: ng\.init\.zeros\(\)$"):
        ng.Linear(FAN_IN, FAN_OUT, bias_init=ng.init.zeros)


def test_tied_weights_are_listed_once_and_train():
    shared = ng.Linear(3, 3, seed=0)
    model = ng.Sequential(shared, ng.Tanh(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    x = np.ones((2, 3), np.float32)
    before = shared.weight.data.copy()
    loss = (model(x) ** 2).sum()
    loss.backward()
    expected = before - 0.1 * shared.weight.grad
    optimizer.step()
    np.testing.assert_allclose(shared.weight.data, expected, rtol=1e-6)


def test_unstandardize_maps_outputs_back_to_target_units_and_passes_gradients():
    layer = ng.Unstandardize([1.0, -5.0], [2.0, 10.0])
    x = ng.tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    out = layer(x)
    np.testing.assert_array_equal(out.data, [[3.0, 15.0]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[2.0, 10.0]])
    with pytest.raises(ng.ShapeError, match="Unstandardize: expected input with 2 features"):
        layer(np.zeros((1, 3)))


def test_pytorch_habits_work_or_say_what_is_wrong_in_one_line(tmp_path):
    """float(loss), model.to("cpu"), and mistakes that gave NumPy's or json's errors (or called
    4.0 not a whole number)."""
    model = ng.Sequential(ng.Linear(2, 1, seed=0))
    loss = ng.MSELoss()(model(np.ones((3, 2), dtype=np.float32)), np.zeros((3, 1)))
    assert float(loss) == loss.item() and isinstance(float(loss), float)
    with pytest.raises(ng.ShapeError, match=r"item\(\) needs a one-element tensor"):
        float(ng.tensor([1.0, 2.0]))
    assert model.to("cpu") is model and model.to("cpu:0") is model
    for device in ("cuda", "cuda:1", "mps"):
        with pytest.raises(ValueError, match=f"runs on the CPU \\(NumPy\\), got device '{device}'"):
            model.to(device)
    with pytest.raises(ValueError, match="must be ints, got 4.0 and 3$"):
        ng.Linear(4.0, 3)
    with pytest.raises(TypeError, match="^save: expected a model \\(a Module\\), got dict$"):
        ng.save({"w": 1}, tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="metadata must be JSON-able .*ndarray"):
        ng.save(model, tmp_path / "m.safetensors", metadata={"a": np.arange(3)})
    assert not (tmp_path / "m.safetensors").exists()
