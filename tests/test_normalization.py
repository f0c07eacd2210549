"""LayerNorm and BatchNorm1d: their equations, gradients (float64), running statistics, train/eval
behaviour, model files, the compiled step's refusal, and that networks holding them train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng
import nudgenet.functional as F


def _x(rows=6, features=4, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).normal(1.5, 2.0, (rows, features)).astype(dtype)


def _affine(features=4, seed=1):
    rng = np.random.default_rng(seed)
    weight = ng.tensor(rng.uniform(0.5, 1.5, features), requires_grad=True)
    bias = ng.tensor(rng.normal(size=features), requires_grad=True)
    return weight, bias


# --- the forward equations -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 4)])
def test_layer_norm_normalises_each_row_over_its_last_axis(shape):
    x = np.random.default_rng(0).normal(1.0, 3.0, shape)
    weight, bias = _affine()
    y = F.layer_norm(ng.tensor(x), 4, weight, bias, eps=1e-3).data
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # biased
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3) * weight.data + bias.data)
    plain = ng.LayerNorm(4, elementwise_affine=False).double()(x).data
    np.testing.assert_allclose(plain.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(plain.var(axis=-1), var[..., 0] / (var[..., 0] + 1e-5))


def test_batch_norm_in_training_uses_the_batch_statistics_and_in_eval_the_running_ones():
    x = _x()
    layer = ng.BatchNorm1d(4, eps=1e-3).double()
    layer.weight.data[...], layer.bias.data[...] = _affine()[0].data, _affine()[1].data
    mean, var = x.mean(axis=0), x.var(axis=0)  # biased
    trained = layer(x).data
    expected = (x - mean) / np.sqrt(var + 1e-3) * layer.weight.data + layer.bias.data
    np.testing.assert_allclose(trained, expected)
    layer.eval()
    running = (x - layer.running_mean) / np.sqrt(layer.running_var + 1e-3)
    np.testing.assert_allclose(layer(x).data, running * layer.weight.data + layer.bias.data)


def test_a_two_row_batch_normalises_to_plus_and_minus_one():
    """The worked case: two values a < b have μ = (a + b)/2 and σ² = ((b − a)/2)², so with ε → 0
    they normalise to −1 and +1, whatever a and b."""
    x = np.array([[1.0, -5.0], [3.0, 7.0]])
    y = ng.BatchNorm1d(2, eps=1e-12).double()(x).data
    np.testing.assert_allclose(y, [[-1.0, -1.0], [1.0, 1.0]], rtol=1e-9)


# --- running statistics --------------------------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.1, 0.35])
def test_running_statistics_follow_the_hand_computation_over_several_steps(momentum):
    layer = ng.BatchNorm1d(4, momentum=momentum).double()
    mean, var = np.zeros(4), np.ones(4)
    for step in range(5):
        x = _x(rows=3 + step, seed=step)
        layer(x)
        n = len(x)
        mean = (1 - momentum) * mean + momentum * x.mean(axis=0)
        var = (1 - momentum) * var + momentum * x.var(axis=0) * n / (n - 1)  # unbiased
        np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-12)
        np.testing.assert_allclose(layer.running_var, var, rtol=1e-12)


def test_running_statistics_move_only_in_training_mode_and_eval_rows_are_independent():
    layer = ng.BatchNorm1d(4)
    layer(_x(dtype=np.float32))
    before = layer.state_dict()
    layer.eval()
    x = _x(dtype=np.float32, seed=3)
    alone = layer(x[:1]).data  # one row is fine in eval mode
    np.testing.assert_array_equal(layer(x).data[:1], alone)  # the other rows do not matter
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    layer.train()
    assert not np.allclose(layer(x).data[:1], alone)  # batch statistics again
    assert not np.array_equal(layer.running_mean, before["running_mean"])


def test_without_running_statistics_both_modes_use_the_batch():
    layer = ng.BatchNorm1d(4, track_running_stats=False)
    x = _x(dtype=np.float32)
    assert layer.running_mean is None and list(layer.state_dict()) == ["weight", "bias"]
    np.testing.assert_array_equal(layer.eval()(x).data, layer.train()(x).data)


def test_no_grad_does_not_stop_the_running_statistics_in_training_mode():
    layer = ng.BatchNorm1d(4)
    with ng.no_grad():
        layer(_x(dtype=np.float32))
    assert np.any(layer.running_mean)


# --- gradients -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
def test_layer_norm_gradients_match_finite_differences(shape):
    x = ng.tensor(np.random.default_rng(2).normal(0.5, 2.0, shape), requires_grad=True)
    weight, bias = _affine()
    assert ng.gradcheck(lambda t, w, b: F.layer_norm(t, 4, w, b, eps=1e-3), x, weight, bias)
    assert ng.gradcheck(lambda t: F.layer_norm(t, (4,)), x)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_match_finite_differences(training):
    x = ng.tensor(_x(rows=5), requires_grad=True)
    weight, bias = _affine()
    mean, var = np.linspace(-1, 1, 4), np.linspace(0.5, 2, 4)

    def batch_norm(t, w, b):  # fresh running statistics each call: only the output matters
        return F.batch_norm(t, mean.copy(), var.copy(), w, b, training=training, eps=1e-3)

    assert ng.gradcheck(batch_norm, x, weight, bias)
    assert ng.gradcheck(lambda t: F.batch_norm(t, None, None, training=True), x)


def test_the_batch_norm_input_gradient_flows_through_the_batch_statistics():
    """In training, ∂C/∂x of C = Σ y is 0: every column of y sums to β·N whatever x is; the
    fixed-statistics rule would give γ/σ instead."""
    x = ng.tensor(_x(), requires_grad=True)
    F.batch_norm(x, None, None, training=True).sum().backward()
    np.testing.assert_allclose(x.grad, 0, atol=1e-12)


# --- the layers ----------------------------------------------------------------------------------


def test_layers_name_what_is_wrong_with_their_input_or_arguments():
    with pytest.raises(ng.ShapeError, match=r"BatchNorm1d\(4\): expected input with 4 features"):
        ng.BatchNorm1d(4)(np.ones((3, 5), np.float32))
    with pytest.raises(ng.ShapeError, match=r"expected a batch of rows \(N, 4\)"):
        ng.BatchNorm1d(4)(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="more than one row per batch.*drop_last=True"):
        ng.BatchNorm1d(4)(np.ones((1, 4), np.float32))
    with pytest.raises(ng.ShapeError, match=r"LayerNorm\(4\): expected input with 4 features"):
        ng.LayerNorm(4)(np.ones((3, 5), np.float32))
    with pytest.raises(ValueError, match="last axis only"):
        ng.LayerNorm((3, 4))
    with pytest.raises(ValueError, match="positive whole number of features, got 0"):
        ng.BatchNorm1d(0)
    with pytest.raises(ValueError, match="eps must be a number > 0"):
        ng.LayerNorm(4, eps=0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\], got 1.5"):
        ng.BatchNorm1d(4, momentum=1.5)


def test_momentum_none_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^BatchNorm1d: momentum=None \(PyTorch's cumulative "
                       r"average.*\) is not supported; give a number in \[0, 1\]") as error:
        ng.BatchNorm1d(4, momentum=None)
    assert "\n" not in str(error.value)


def test_parameters_are_gamma_ones_and_beta_zeros_and_follow_the_dtype():
    layer = ng.LayerNorm(3, dtype="float64")
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(layer.weight.data, [1.0, 1.0, 1.0])
    assert layer.weight.dtype == np.float64 and not np.any(layer.bias.data)
    assert layer(np.ones((2, 3), np.float32)).dtype == np.float64  # data follows the model
    assert ng.BatchNorm1d(3, affine=False).parameters() == []
    assert ng.LayerNorm(3).normalized_shape == 3 and ng.BatchNorm1d(5).num_features == 5


def _digits():
    x, y = ng.datasets.digits()
    return ng.datasets.train_test_split(x, y, test_size=0.25, seed=0)


def _mlp(norm):
    return ng.Sequential(ng.Linear(64, 64, seed=0), norm, ng.ReLU(), ng.Linear(64, 10, seed=1))


def test_fit_trains_them_on_the_engine_and_compile_true_names_the_layer():
    x, _, y, _ = _digits()
    for norm in (ng.BatchNorm1d(64), ng.LayerNorm(64)):
        model = _mlp(norm)
        optimizer = ng.optim.SGD(model.parameters(), lr=0.05)
        with pytest.raises(ng.CompileError, match=rf"layer '1' \({type(norm).__name__}\) has no"):
            ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=1, compile=True)
    engine, auto = _mlp(ng.BatchNorm1d(64)), _mlp(ng.BatchNorm1d(64))
    for model, compile in ((engine, False), (auto, "auto")):
        optimizer = ng.optim.SGD(model.parameters(), lr=0.05)
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=1, seed=0, verbose=0,
               compile=compile)  # fmt: skip
    for key, value in engine.state_dict().items():
        np.testing.assert_array_equal(auto.state_dict()[key], value)


@pytest.mark.parametrize(("norm", "threshold"), [("BatchNorm1d", 0.96), ("LayerNorm", 0.95)])
def test_a_digits_mlp_with_the_layer_trains_and_reloads_with_the_same_predictions(
    norm, threshold, tmp_path
):
    x_train, x_test, y_train, y_test = _digits()
    model = _mlp(getattr(ng, norm)(64))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = ng.CrossEntropyLoss()
    ng.fit(model, loss_fn, optimizer, x_train, y_train, epochs=3, seed=0, verbose=0)
    scores = ng.evaluate(model, loss_fn, x_test, y_test, metrics=["accuracy"])
    assert scores["accuracy"] >= threshold  # 0.976 and 0.964 (3 epochs; without: 0.951)
    loaded = ng.load(ng.save(model, tmp_path / "norm.safetensors"))
    np.testing.assert_array_equal(ng.predict(loaded, x_test), ng.predict(model, x_test))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)
    if norm == "BatchNorm1d":  # the running statistics learned the hidden units' scale
        assert np.all(loaded[1].running_var != 1.0) and np.any(loaded[1].running_mean)


def test_readme_normalisation_example_runs_and_reaches_what_it_says(capsys):
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = text.split("### Normalisation, clipping, plateaus", 1)[1].split("```python\n", 1)[1]
    namespace: dict = {}
    exec(compile(block.split("```", 1)[0], "README.md", "exec"), namespace)
    history, model = namespace["history"].history, namespace["model"]
    assert history["lr"] == [0.1] * 9 + [0.05]
    assert history["val_accuracy"][-1] >= 0.99  # 0.993 here
    assert "Epoch 9: ReduceLROnPlateau reducing learning rate to 0.05." in capsys.readouterr().out
    assert "1.running_mean" in model.state_dict() and len(model.parameters()) == 6
