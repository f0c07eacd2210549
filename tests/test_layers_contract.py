"""The layer contract, run over every class in the layer registry (nudgenet.nn.config.LAYERS).

A layer that model files can hold must: describe itself as JSON (get_config) and be rebuilt from
that description (from_config) into the same layer; declare the tensors a file holds for it
(parameter_shapes: its state_dict, buffers included); save and load through a model file with
bitwise the same predictions (in eval mode) and state, in float32 and float64; pass a float64
gradient check for its input and for each of its parameters, in training mode and in eval mode;
keep its input's float dtype; and show its configuration in its repr.  A class added to the
registry fails here until EXAMPLES holds an example of it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.nn.config import LAYERS, build, describe


def _moved(layer, batches: int = 3):
    """``layer`` with its parameters and running statistics away from their starting values
    (random γ, β; a few training batches), so that a description or a model file that lost any
    of them gives other outputs.  The same every call."""
    rng = np.random.default_rng(1)
    for p in layer.parameters():
        p.data[...] = rng.uniform(0.5, 1.5, p.shape) * rng.choice([-1.0, 1.0], p.shape)
    for _ in range(batches if layer.buffers() else 0):
        layer(rng.normal(1.0, 2.0, (6, 3)).astype(np.float32))
    return layer


# Every registry class with examples of it: (a function building one, its input features).  Give
# each constructor argument a value other than its default, so that a description that dropped
# it would be rebuilt into a layer that computes something else.
EXAMPLES = {
    "Linear": [(lambda: ng.Linear(3, 4, seed=0), 3), (lambda: ng.Linear(3, 2, False, seed=1), 3)],
    "ReLU": [(ng.ReLU, 3)],
    "LeakyReLU": [(lambda: ng.LeakyReLU(0.2), 3)],
    "Sigmoid": [(ng.Sigmoid, 3)],
    "Tanh": [(ng.Tanh, 3)],
    "Softplus": [(ng.Softplus, 3)],
    "Identity": [(ng.Identity, 3)],
    "Softmax": [(lambda: ng.Softmax(axis=0), 3)],
    "Dropout": [(lambda: ng.Dropout(0.3, seed=0), 3)],
    "Standardize": [(lambda: ng.Standardize([0.5, -1.0, 2.0], [2.0, 0.5, 1.5]), 3)],
    "Unstandardize": [(lambda: ng.Unstandardize([0.5, -1.0, 2.0], [2.0, 0.5, 1.5]), 3)],
    "LayerNorm": [
        (lambda: _moved(ng.LayerNorm(3, eps=1e-3)), 3),
        (lambda: ng.LayerNorm((3,), elementwise_affine=False), 3),
    ],
    "BatchNorm1d": [
        (lambda: _moved(ng.BatchNorm1d(3, eps=1e-3, momentum=0.3)), 3),
        (lambda: ng.BatchNorm1d(3, affine=False, track_running_stats=False), 3),
    ],
    "Sequential": [
        (
            lambda: ng.Sequential(
                ng.Standardize([1.0, 0.0, -1.0], [0.5, 2.0, 1.0]),
                ng.Linear(3, 4, seed=2),
                ng.Tanh(),
                ng.Sequential(ng.Linear(4, 2, seed=3), ng.Sigmoid()),
            ),
            3,
        )
    ],
}

NAMES = sorted(LAYERS)


def _examples(name: str):
    if name not in EXAMPLES:
        pytest.fail(f"the layer registry holds {name}, but EXAMPLES has no example of it: add one")
    return EXAMPLES[name]


def _inputs(features: int, dtype=np.float64, rows: int = 5) -> np.ndarray:
    """Values of size 0.25 to 1.5 with either sign: away from the kinks of ReLU and LeakyReLU
    at 0, so central differences across them stay exact."""
    rng = np.random.default_rng(features)
    size = rng.uniform(0.25, 1.5, (rows, features))
    return (size * rng.choice([-1.0, 1.0], (rows, features))).astype(dtype)


def _outputs(layer, x) -> np.ndarray:
    with ng.no_grad():
        return layer(x).data


def test_every_example_is_of_a_registry_class():
    assert set(EXAMPLES) <= set(LAYERS), f"EXAMPLES names layers the registry lacks: {EXAMPLES}"
    assert {"Linear", "Sequential", "Standardize", "Unstandardize"} <= set(LAYERS)
    assert "Rescale" not in LAYERS and "_Statistics" not in LAYERS


@pytest.mark.parametrize("name", NAMES)
def test_description_is_json_and_builds_the_same_layer(name):
    for make, features in _examples(name):
        layer = make().eval()
        spec = describe(layer)
        assert spec == {"type": name, **layer.get_config()}
        assert json.loads(json.dumps(spec)) == spec  # plain JSON, nothing lost
        rebuilt = build(json.loads(json.dumps(spec))).eval()
        assert type(rebuilt) is type(layer)
        assert describe(rebuilt) == spec
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
        rebuilt.load_state_dict(layer.state_dict())
        x = _inputs(features, np.float32)
        np.testing.assert_array_equal(_outputs(rebuilt, x), _outputs(layer, x))


@pytest.mark.parametrize("name", NAMES)
def test_parameter_shapes_declare_the_state_dict(name):
    for make, _ in _examples(name):
        layer = make()
        declared = ng.nn.config.parameter_shapes(describe(layer))
        assert declared == {key: value.shape for key, value in layer.state_dict().items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_model_file_round_trip_predicts_the_same(name, dtype, tmp_path):
    for k, (make, features) in enumerate(_examples(name)):
        layer = make().to(dtype)
        path = ng.save(layer, tmp_path / f"{name}-{k}.safetensors")
        loaded = ng.load(path)
        assert type(loaded) is type(layer) and not loaded.training
        assert describe(loaded) == describe(layer)
        assert repr(loaded) == repr(layer)
        x = _inputs(features, dtype)
        predicted = ng.predict(loaded, x)
        assert predicted.dtype == dtype
        np.testing.assert_array_equal(predicted, ng.predict(layer, x))
        state, kept = layer.state_dict(), loaded.state_dict()
        assert list(kept) == list(state)  # buffers (running statistics) included
        for key, value in state.items():
            assert kept[key].dtype == dtype
            np.testing.assert_array_equal(kept[key], value)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_finite_differences_in_float64(name):
    for make, features in _examples(name):
        x = ng.tensor(_inputs(features), requires_grad=True)
        # A fresh layer per evaluation in training mode: the same weights and (for Dropout) the
        # same mask every time, so the differences see the function backprop differentiated.
        assert ng.gradcheck(lambda t, make=make: make().double()(t), x)
        for training in (True, False):  # batch norm: batch statistics, then running ones
            layer = make().double().train(training)
            params = layer.parameters()
            if training and not np.array_equal(_outputs(layer, x), _outputs(layer, x)):
                continue  # a new random draw each call (Dropout): checked fresh above
            assert ng.gradcheck(lambda t, *p, layer=layer: layer(t), x, *params)
        (layer(x) * layer(x)).sum().backward()  # the eval check compared something non-zero
        assert all(np.any(p.grad) for p in params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_outputs_keep_the_float_dtype(name, dtype):
    for make, features in _examples(name):
        layer = make().to(dtype)
        x = _inputs(features, dtype)
        for mode in (True, False):
            assert layer.train(mode)(x).dtype == dtype
        assert build(describe(layer), dtype=dtype)(x).dtype == dtype
        built = build(describe(layer), dtype=dtype)
        assert all(p.dtype == dtype for p in built.parameters() + built.buffers())
        assert all(b.dtype == dtype for b in layer.buffers())


def _changed(config: dict, key: str) -> dict:
    """``config`` with ``key`` given another valid value (per-feature statistics: one feature
    more, in every per-feature entry alike; a container: its last layer dropped)."""
    value = config[key]
    if isinstance(value, bool):
        return {**config, key: not value}
    if isinstance(value, (int, float)):
        return {**config, key: value / 2 if isinstance(value, float) else value + 1}
    if all(isinstance(v, dict) for v in value):
        return {**config, key: value[:-1]}
    return {k: v + v[-1:] if isinstance(v, list) else v for k, v in config.items()}


@pytest.mark.parametrize("name", NAMES)
def test_repr_names_the_layer_and_shows_its_configuration(name):
    """Every configuration entry shows: changing it changes the repr."""
    for make, _ in _examples(name):
        layer = make()
        text = repr(layer)
        assert text.startswith(f"{name}(")
        config = layer.get_config()
        for key in config:
            other = repr(type(layer).from_config(_changed(config, key)))
            assert other != text, f"{name}'s repr {text!r} does not show {key}"
