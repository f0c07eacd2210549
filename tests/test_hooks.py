"""Forward hooks (PyTorch's contract) and nudgenet.nn.trace, the one helper built on them."""

from __future__ import annotations

import numpy as np
import pytest

import nudgenet as ng
from nudgenet import step as step_module
from nudgenet.nn import trace
from nudgenet.nn.layers import leaf_layers


def _x(rows=4, features=3, seed=0):
    return np.random.default_rng(seed).normal(size=(rows, features)).astype(np.float32)


def _no_hooks_left(model) -> bool:
    return all(m._forward_hooks == {} for m in model.modules())


# --- the hook contract ------------------------------------------------------------------------


def test_a_hook_gets_the_module_the_inputs_tuple_and_the_output():
    layer = ng.Linear(3, 2, seed=0)
    assert layer._forward_hooks == {}
    calls = []
    layer.register_forward_hook(lambda *args: calls.append(args))
    x = _x()
    out = layer(x)
    [(module, inputs, output)] = calls
    assert module is layer and output is out
    assert isinstance(inputs, tuple) and len(inputs) == 1 and inputs[0] is x


def test_a_hook_returning_a_value_replaces_the_output_downstream():
    first, second = ng.Linear(3, 3, seed=0), ng.Tanh()
    model = ng.Sequential(first, second)
    x = _x()
    expected = np.tanh(2 * first(x).data)
    seen = []
    first.register_forward_hook(lambda m, i, o: o * 2)
    first.register_forward_hook(lambda m, i, o: seen.append(o.data))  # None: keeps the output
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-6)
    np.testing.assert_array_equal(seen[0], 2 * first.forward(x).data)  # runs in order


def test_remove_unregisters_and_removing_twice_is_harmless():
    layer = ng.ReLU()
    calls = []
    handle = layer.register_forward_hook(lambda *args: calls.append(1))
    other = layer.register_forward_hook(lambda *args: calls.append(2))
    layer(_x())
    handle.remove()
    handle.remove()
    layer(_x())
    assert calls == [1, 2, 2]
    assert list(layer._forward_hooks) == [other.id]
    with layer.register_forward_hook(lambda *args: calls.append(3)):  # a with block removes it
        layer(_x())
    other.remove()
    layer(_x())
    assert calls == [1, 2, 2, 2, 3] and layer._forward_hooks == {}


def test_a_hook_that_is_not_callable_is_refused():
    with pytest.raises(TypeError, match="expected a callable hook.*got int"):
        ng.ReLU().register_forward_hook(3)


def test_a_hook_returning_none_changes_no_gradient():
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 1, seed=1))
    x, y = _x(), np.ones((4, 1), np.float32)
    ng.MSELoss()(model(x), y).backward()
    expected = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    with model[1].register_forward_hook(lambda m, i, o: None):
        ng.MSELoss()(model(x), y).backward()
    for p, grad in zip(model.parameters(), expected):
        np.testing.assert_array_equal(p.grad, grad)


# --- trace ------------------------------------------------------------------------------------


def test_trace_gives_each_leaf_layers_output_by_place():
    shared = ng.Tanh()  # one object in two places: two entries
    model = ng.Sequential(
        ng.Linear(3, 4, seed=0), shared, ng.Sequential(ng.Linear(4, 4, seed=1), shared)
    )
    x = _x()
    out, outputs = trace(model, x)
    assert list(outputs) == [name for name, _ in leaf_layers(model)] == ["0", "1", "2.0", "2.1"]
    h = x
    for name, layer in leaf_layers(model):  # the hand-written loop trace replaces
        h = layer(h)
        np.testing.assert_array_equal(outputs[name].data, h.data)
    assert outputs["2.1"] is out
    assert not np.array_equal(outputs["1"].data, outputs["2.1"].data)
    assert _no_hooks_left(model)


def test_trace_of_a_single_layer_and_of_a_layer_also_used_inside_another():
    layer = ng.Linear(3, 2, seed=0)
    out, outputs = trace(layer, _x())
    assert list(outputs) == [""] and outputs[""] is out

    relu = ng.ReLU()

    class Doubled(ng.Module):  # not a Sequential: one leaf, which calls relu inside
        def __init__(self):
            super().__init__()
            self.inner = relu

        def forward(self, x):
            return self.inner(x) * 2

    model = ng.Sequential(Doubled(), relu)
    x = _x()
    out, outputs = trace(model, x)
    assert list(outputs) == ["0", "1"]
    np.testing.assert_array_equal(outputs["0"].data, 2 * np.maximum(x, 0))
    assert outputs["1"] is out


def test_trace_removes_its_hooks_when_the_forward_raises():
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.ReLU(), ng.Linear(5, 1, seed=1))
    own = model[1].register_forward_hook(lambda *args: None)
    with pytest.raises(ng.ShapeError, match="expected input with 5 features"):
        trace(model, _x())
    assert list(model[1]._forward_hooks) == [own.id]  # the user's hook stays, trace's went
    own.remove()
    assert _no_hooks_left(model)


def test_the_engine_step_keeps_every_layers_output_by_place():
    shared = ng.ReLU()
    model = ng.Sequential(ng.Linear(3, 4, seed=0), shared, ng.Linear(4, 4, seed=1), shared)
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    x, y = _x(8), np.zeros((8, 4), np.float32)
    kept = {}
    rows = np.arange(5)
    out, _, _ = step_module._engine_step(model, ng.MSELoss(), optimizer, x, y, rows, kept)
    assert list(kept) == ["0", "1", "2", "3"]
    np.testing.assert_array_equal(kept["3"], out)
    np.testing.assert_array_equal(kept["1"], np.maximum(kept["0"], 0))
    assert _no_hooks_left(model)
