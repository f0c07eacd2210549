"""ng.explain, ng.nudge_test and ng.input_gradient against independent NumPy computations."""

import json

import numpy as np
import pytest

import nudgenet as ng


def _tanh_net():
    return ng.Sequential(ng.Linear(4, 5, seed=0), ng.Tanh(), ng.Linear(5, 3, seed=1)).double()


def _manual_backprop(model, x, label):
    """Cross-entropy of one example, backprop written out by hand (the δ-rule)."""
    w1, b1 = model[0].weight.data, model[0].bias.data
    w2, b2 = model[2].weight.data, model[2].bias.data
    a1 = np.tanh(x @ w1 + b1)
    z2 = a1 @ w2 + b2
    p = np.exp(z2 - z2.max()) / np.exp(z2 - z2.max()).sum()
    delta2 = p - np.eye(3)[label]  # ∂C/∂z2 for softmax + cross-entropy
    delta1 = (delta2 @ w2.T) * (1 - a1**2)
    grads = {
        "0.weight": np.outer(x, delta1),
        "0.bias": delta1,
        "2.weight": np.outer(a1, delta2),
        "2.bias": delta2,
    }
    return delta1, delta2, grads, a1


def test_nudges_deltas_and_top_parameter_match_hand_backprop():
    model = _tanh_net()
    x = np.array([0.3, -1.2, 0.8, 2.0])
    e = ng.explain(model, ng.CrossEntropyLoss(), x, np.array(2), top=5)
    delta1, delta2, grads, a1 = _manual_backprop(model, x, 2)
    np.testing.assert_allclose(e.nudges[0], -delta2, rtol=1e-12)  # nudge = −∂C/∂a (logits)
    np.testing.assert_allclose(e.layers[0].delta[0], delta1, rtol=1e-12)
    np.testing.assert_allclose(e.layers[1].delta[0], delta2, rtol=1e-12)
    np.testing.assert_allclose(e.layers[0].weight_grad, grads["0.weight"], rtol=1e-12)
    expected_norm = np.sqrt((grads["2.weight"] ** 2).sum() + (grads["2.bias"] ** 2).sum())
    assert e.layers[1].grad_norm == pytest.approx(expected_norm, rel=1e-12)
    assert [t.activation for t in e.layers] == ["Tanh", "Identity"]
    # the top-ranked parameter is the arg-max of |gradient| over all parameters
    names = list(grads)
    flat = np.concatenate([grads[n].ravel() for n in names])
    k = int(np.argmax(np.abs(flat)))
    sizes = np.cumsum([0] + [grads[n].size for n in names])
    owner = int(np.searchsorted(sizes, k, side="right") - 1)
    index = np.unravel_index(k - sizes[owner], grads[names[owner]].shape)
    best = e.top[0]
    assert (best.parameter, best.index) == (names[owner], tuple(int(i) for i in index))
    assert best.gradient == pytest.approx(flat[k], rel=1e-12)
    assert [abs(p.gradient) for p in e.top] == sorted(
        (abs(p.gradient) for p in e.top), reverse=True
    )
    # "brightest neurons": for one example ∂C/∂Wᵢⱼ = activationᵢ · δⱼ
    for p in e.top:
        if p.kind == "weight":
            assert p.gradient == pytest.approx(p.activation * p.delta, rel=1e-10)
            assert p.value == model[int(p.layer)].weight.data[p.index]


def test_digit_network_with_sigmoid_outputs_and_mse():
    x, y = ng.datasets.digits()
    model = ng.Sequential(
        ng.Linear(64, 16, seed=0), ng.Sigmoid(), ng.Linear(16, 10, seed=1), ng.Sigmoid()
    ).double()
    target = np.eye(10)[y[:1]]
    e = ng.explain(model, ng.MSELoss(), x[0], target[0])
    a = e.outputs[0]
    np.testing.assert_allclose(e.nudges[0], -2 * (a - target[0]) / 10, rtol=1e-12)
    ranked = e.ranked_outputs()
    assert ranked[0][0] == y[0]  # the true digit is the one output that should go up
    assert ranked[0][1] > 0 and all(v < 0 for _, v in ranked[1:])
    assert "nudge = -dC/da" in str(e) and f"output {y[0]:>3}" in str(e)


def test_batch_cosines_against_independent_per_example_gradients():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    model = _tanh_net()
    e = ng.explain(model, ng.CrossEntropyLoss(), x, y, top=3)
    per_example = []
    for n in range(6):
        grads = _manual_backprop(model, x[n], y[n])[2]
        per_example.append(np.concatenate([g.ravel() for g in grads.values()]))
    g = np.array(per_example)
    mean = g.mean(axis=0)
    cos = g @ mean / (np.linalg.norm(g, axis=1) * np.linalg.norm(mean))
    np.testing.assert_allclose([ex.cosine_with_mean for ex in e.examples], cos, rtol=1e-10)
    # the batch step is the mean of what the examples want
    batch_grad = np.concatenate(
        [t.weight_grad.ravel().tolist() + t.bias_grad.tolist() for t in e.layers]
    )
    np.testing.assert_allclose(batch_grad, mean, rtol=1e-10)  # same order: W, b per layer
    assert e.mean_grad_norm == pytest.approx(np.linalg.norm(mean))
    payload = json.loads(e.to_json())
    assert payload["batch_size"] == 6 and len(payload["examples"]) == 6
    assert "cos" in str(e)
    # a batch's mean activation times its mean delta is not the gradient beside them: no "x"
    assert ", delta " in str(e) and " x delta " not in str(e)
    assert " x delta " in str(ng.explain(model, ng.CrossEntropyLoss(), x[0], y[:1], top=3))
    # a classifier's example wants its own class up (its nudge 1 − p is the one positive)
    assert [(ex.wants, ex.direction) for ex in e.examples] == [(int(c), "up") for c in y]


@pytest.mark.parametrize("loss_fn", [ng.BCEWithLogitsLoss(), ng.MSELoss()])
def test_a_one_output_example_that_wants_its_output_down_says_down(loss_fn):
    """With one output every example was said to want "output 0 up", whatever its nudge's
    sign."""
    x = np.random.default_rng(0).normal(size=(6, 3))
    y = np.array([[0.0], [1.0], [0.0], [1.0], [0.0], [0.0]])
    if isinstance(loss_fn, ng.MSELoss):
        y = np.where(y > 0, -5.0, 5.0)
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 1, seed=1)).double()
    e = ng.explain(model, loss_fn, x, y)
    directions = [ex.direction for ex in e.examples]
    assert directions == ["up" if nudge > 0 else "down" for nudge in e.nudges.ravel()]
    assert {"up", "down"} <= set(directions)
    for ex in e.examples:
        assert f"wants output 0 {ex.direction}" in str(e).splitlines()[-7 + ex.index]


def test_each_example_names_the_output_with_the_largest_nudge_and_its_sign():
    """The largest positive nudge was named before any negative one: a row that barely wants
    output 0 up and strongly wants output 1 down was said to want output 0 up, and a row that
    wants nothing (loss 0) to want output 0 down."""
    model = ng.Sequential(ng.Linear(2, 2, seed=0)).double()
    model[0].weight.data[:] = 0
    model[0].bias.data[:] = 0
    y = np.array([[0.001, -100.0], [0.0, 0.0], [-0.5, 0.2]])
    e = ng.explain(model, ng.MSELoss(), np.zeros((3, 2)), y)
    assert [(ex.wants, ex.direction) for ex in e.examples] == [(1, "down"), (None, "none"),
                                                               (0, "down")]  # fmt: skip
    lines = str(e).splitlines()[-4:-1]
    assert "wants output 1 down" in lines[0] and "wants no change" in lines[1]
    assert json.loads(e.to_json())["examples"][1]["wants"] is None
    # a tie goes to the output wanted up; nudges that are not finite (an infinite input times
    # a zero weight; NaN targets are refused, as fit refuses them) say so
    tie = ng.explain(model, ng.MSELoss(), np.zeros((2, 2)), np.array([[-1.0, 1.0], [0.5, 0]]))
    assert (tie.examples[0].wants, tie.examples[0].direction) == (1, "up")
    with np.errstate(invalid="ignore"):
        nan = ng.explain(model, ng.MSELoss(), np.array([[np.inf, 0], [0, 0]]),
                         np.array([[0.0, 1.0], [0.5, 0]]))  # fmt: skip
    assert (nan.examples[0].wants, nan.examples[0].direction) == (None, "not finite")
    lines = str(nan).splitlines()
    assert "wants ? (its nudges are not finite)" in lines[-3]
    assert lines[-1] == "  the cosines are not finite (a gradient is NaN or infinite)"


def test_explain_and_nudge_test_leave_the_model_as_it_was():
    x, y = ng.datasets.digits()
    model = ng.Sequential(
        ng.Linear(64, 8, seed=0), ng.ReLU(), ng.Dropout(0.5, seed=0), ng.Linear(8, 10, seed=1)
    )
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)  # grads are views into a flat buffer
    loss_fn = ng.CrossEntropyLoss()
    optimizer.zero_grad()
    loss_fn(model(x[:10]), y[:10]).backward()
    before = model.state_dict()
    grads = [p.grad.copy() for p in model.parameters()]
    ng.explain(model, loss_fn, x[:4], y[:4])
    ng.nudge_test(model, loss_fn, x[:20], y[:20], eps=0.1)
    ng.input_gradient(model, x[:3])
    assert model.training
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_array_equal(p.grad, g)
        assert p.grad.base is optimizer._flat.grad  # still a view into the flat buffer


@pytest.mark.parametrize("eps", [1e-3, 1e-4, 1e-5])
def test_nudge_test_first_order_prediction_within_one_percent(eps):
    x, y = ng.datasets.digits()
    model = ng.Sequential(ng.Linear(64, 16, seed=0), ng.Tanh(), ng.Linear(16, 10, seed=1))
    result = ng.nudge_test(model, ng.CrossEntropyLoss(), x[:100], y[:100], eps=eps)
    assert result.dtype == "float64"
    assert result.actual_change < 0
    assert result.predicted_change == pytest.approx(-eps * result.grad_norm)
    assert result.relative_error < 0.01, str(result)
    # independent: the gradient norm from check_gradients' float64 copy via a fresh backward
    copy = ng.Sequential(ng.Linear(64, 16, seed=0), ng.Tanh(), ng.Linear(16, 10, seed=1)).double()
    ng.CrossEntropyLoss()(copy(x[:100]), y[:100]).backward()
    norm = np.sqrt(sum((p.grad**2).sum() for p in copy.parameters()))
    assert result.grad_norm == pytest.approx(norm, rel=1e-10)


def test_nudge_test_error_shrinks_with_eps():
    x, y = ng.datasets.digits()
    model = ng.Sequential(ng.Linear(64, 16, seed=0), ng.Tanh(), ng.Linear(16, 10, seed=1))
    errors = [
        ng.nudge_test(model, ng.CrossEntropyLoss(), x[:50], y[:50], eps=e).relative_error
        for e in (1e-1, 1e-2, 1e-3)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_input_gradient_matches_finite_differences_through_standardize():
    rng = np.random.default_rng(0)
    raw = rng.normal(3.0, 2.0, size=(7, 4))
    model = ng.Sequential(
        ng.Standardize(raw.mean(axis=0), raw.std(axis=0)),
        ng.Linear(4, 6, seed=0),
        ng.Softplus(),
        ng.Linear(6, 2, seed=1),
    ).double()
    jac = ng.input_gradient(model, raw)
    assert jac.shape == (7, 2, 4)
    h = 1e-6
    for i in range(4):
        step = np.zeros(4)
        step[i] = h
        with ng.no_grad():
            numeric = (model(raw + step).data - model(raw - step).data) / (2 * h)
        np.testing.assert_allclose(jac[:, :, i], numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ng.input_gradient(model, raw, output=1), jac[:, 1])
    with pytest.raises(IndexError):
        ng.input_gradient(model, raw, output=2)
    # one row as a 1-D array, as predict takes it (one option's Greeks): "expected outputs (N, K)"
    np.testing.assert_allclose(ng.input_gradient(model, raw[3]), jac[3], rtol=1e-12)
    np.testing.assert_allclose(ng.input_gradient(model, raw[3], output=0), jac[3, 0], rtol=1e-12)
    with pytest.raises(ng.ShapeError, match=r"got shape \(3,\)$"):  # the row's, as predict says
        ng.input_gradient(model, raw[3, :3])


def test_a_layer_used_in_two_places_is_explained_at_each_place_and_no_hook_is_left():
    """explain reads the layers' outputs through nudgenet.nn.trace: a Tanh object used twice is
    two places, exactly as a model with two separate Tanh layers."""
    shared = ng.Tanh()
    model = ng.Sequential(
        ng.Linear(4, 5, seed=0), shared, ng.Linear(5, 5, seed=1), shared, ng.Linear(5, 3, seed=2)
    ).double()
    separate = ng.Sequential(*[ng.Tanh() if layer is shared else layer for layer in model])
    x, y = np.random.default_rng(3).normal(size=(3, 4)), np.array([0, 2, 1])
    e, expected = (ng.explain(m, ng.CrossEntropyLoss(), x, y, top=4) for m in (model, separate))
    assert e.to_dict() == expected.to_dict()
    for got, want in zip(e.layers, expected.layers):
        for field in ("inputs", "z", "a", "delta"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
    np.testing.assert_array_equal(e.layers[1].inputs, np.tanh(e.layers[0].z))
    assert all(m._forward_hooks == {} for m in model.modules())


def test_a_model_that_cannot_be_copied_is_said_so_by_the_probes_that_copy_it():
    """nudge_test and check_gradients work on a float64 copy: a model holding a lock raised
    "cannot pickle '_thread.lock' object"."""
    import threading

    model = ng.Sequential(ng.Linear(2, 2, seed=0))
    model.lock = threading.Lock()
    x, y = np.ones((3, 2), np.float32), np.array([0, 1, 0])
    for probe, name in [(lambda: ng.nudge_test(model, ng.CrossEntropyLoss(), x, y), "nudge_test"),
                        (lambda: ng.check_gradients(model, ng.CrossEntropyLoss(), x, y),
                         "check_gradients")]:  # fmt: skip
        with pytest.raises(TypeError, match=rf"^{name} works on a float64 copy of the model, and "
                           r"this model cannot be copied \(TypeError: "):  # fmt: skip
            probe()


def test_a_layer_s_activation_is_found_past_normalisation_and_dropout():
    x, y = ng.datasets.digits()
    model = ng.Sequential(ng.Linear(64, 8, seed=0), ng.BatchNorm1d(8), ng.ReLU(),
                          ng.Linear(8, 6, seed=1), ng.Dropout(0.5), ng.Tanh(),
                          ng.Linear(6, 10, seed=2)).double()  # fmt: skip
    model(x[:50])  # running statistics that are not the initial ones
    e = ng.explain(model, ng.CrossEntropyLoss(), x[3], y[3])
    assert [t.activation for t in e.layers] == ["BatchNorm1d+ReLU", "Tanh", "Identity"]
    model.eval()
    normalised = model[1](model[0](x[3:4].astype(np.float64))).data
    np.testing.assert_array_equal(e.layers[0].a, np.maximum(normalised, 0))  # ReLU's, not z
    np.testing.assert_array_equal(e.layers[1].a, np.tanh(e.layers[1].z))
    assert "-> BatchNorm1d+ReLU" in str(e)


@pytest.mark.parametrize("norm", [ng.BatchNorm1d(4, affine=False),
                                  ng.LayerNorm(4, elementwise_affine=False)])  # fmt: skip
def test_a_normalisation_layer_without_parameters_is_not_taken_for_the_activation(norm):
    x = np.random.default_rng(0).standard_normal((6, 3))
    model = ng.Sequential(ng.Linear(3, 4, seed=0), norm, ng.ReLU(), ng.Linear(4, 2, seed=1))
    e = ng.explain(model.double(), ng.CrossEntropyLoss(), x, np.array([0, 1, 0, 1, 1, 0]))
    assert [t.activation for t in e.layers] == [f"{type(norm).__name__}+ReLU", "Identity"]
    assert (e.layers[0].a >= 0).all()  # after the ReLU


def test_a_frozen_layer_is_said_to_be_frozen_and_still_shows_its_delta():
    x, y = np.random.default_rng(0).standard_normal((6, 3)), np.array([0, 1, 0, 1, 1, 0])
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.ReLU(), ng.Linear(4, 2, seed=1)).double()
    trained = ng.explain(model, ng.CrossEntropyLoss(), x, y)
    for p in model[0].parameters():
        p.requires_grad = False
    model[2].bias.requires_grad = False
    e = ng.explain(model, ng.CrossEntropyLoss(), x, y)
    first, second = e.layers
    assert (first.frozen, second.frozen) == (("weight", "bias"), ("bias",))
    np.testing.assert_allclose(first.delta, trained.layers[0].delta)  # computed, not zeros
    assert first.grad_norm is None
    assert second.grad_norm == pytest.approx(np.linalg.norm(trained.layers[1].weight_grad))
    text = str(e)
    assert "-> ReLU      frozen (requires_grad=False)   mean |delta|" in text
    assert f"|grad| {second.grad_norm:.4e} (bias frozen)" in text
    assert {p.parameter.split(".")[0] for p in e.top} == {"2"}  # only gradients computed
    assert all(p.kind == "weight" for p in e.top)
    layer = json.loads(e.to_json())["layers"][0]
    assert layer["frozen"] == ["weight", "bias"]
    assert layer["weight_grad"] is layer["bias_grad"] is layer["grad_norm"] is None
    for p in model.parameters():
        p.requires_grad = False
    with pytest.raises(ValueError, match="^explain: expected a parameter with requires_grad"):
        ng.explain(model, ng.CrossEntropyLoss(), x, y)


@pytest.mark.parametrize("loss_fn, target", [(ng.MSELoss(), 0.5), (ng.BCEWithLogitsLoss(), 1)])
def test_one_output_takes_a_scalar_target_for_one_row_and_shape_n_for_a_batch(loss_fn, target):
    model = ng.Sequential(ng.Linear(3, 8, seed=0), ng.Tanh(), ng.Linear(8, 1, seed=1))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    one = ng.explain(model, loss_fn, x[0], target)  # a (1,) target for (1, 1) outputs, as fit
    assert one.loss == pytest.approx(ng.evaluate(model, loss_fn, x[:1], [target])["loss"])
    y = np.array([0.0, 1, 1, 0, 1])
    batch = ng.explain(model, loss_fn, x, y)
    assert batch.loss == pytest.approx(ng.evaluate(model, loss_fn, x, y)["loss"])


def test_a_model_with_its_own_forward_says_why_no_layer_is_shown():
    class Own(ng.Module):
        def __init__(self):
            super().__init__()
            self.first = ng.Linear(4, 3, seed=0)

        def forward(self, x):
            return self.first(x).relu()

    e = ng.explain(Own(), ng.CrossEntropyLoss(), np.ones(4, np.float32), np.array(1))
    assert e.layers == [] and "none: explain sees the Linear layers a Sequential" in str(e)


def test_to_dict_holds_what_each_layer_computed_and_the_input():
    model = _tanh_net()
    x = np.array([0.3, -1.2, 0.8, 2.0])
    e = ng.explain(model, ng.CrossEntropyLoss(), x, np.array(2))
    payload = json.loads(e.to_json())
    assert payload["x"] == [x.tolist()]
    for layer, trace in zip(payload["layers"], e.layers):
        for key in ("inputs", "z", "a", "delta", "weight", "weight_grad", "bias_grad"):
            np.testing.assert_array_equal(layer[key], getattr(trace, key))


def test_each_example_is_compared_with_the_step_a_class_weighted_loss_takes():
    x, y = ng.datasets.digits()
    model = ng.Sequential(ng.Linear(64, 16, seed=0), ng.ReLU(), ng.Linear(16, 10, seed=1)).double()
    loss_fn = ng.CrossEntropyLoss(weight=[10.0] + [1.0] * 9)
    e = ng.explain(model, loss_fn, x[:20], y[:20])
    step = np.concatenate([np.r_[t.weight_grad.ravel(), t.bias_grad] for t in e.layers])
    assert e.mean_grad_norm == pytest.approx(np.linalg.norm(step), rel=1e-12)
    for n in (0, 5):
        alone = ng.explain(model, loss_fn, x[n], y[n])
        g = np.concatenate([np.r_[t.weight_grad.ravel(), t.bias_grad] for t in alone.layers])
        cosine = g @ step / (np.linalg.norm(g) * np.linalg.norm(step))
        assert e.examples[n].cosine_with_mean == pytest.approx(cosine, rel=1e-10)


def test_explain_refuses_a_loss_of_the_inputs_derivatives_saying_what_to_use():
    d = ng.datasets.black_scholes_mc(32, seed=1)
    model = ng.Sequential(ng.Linear(1, 4, seed=0), ng.Softplus(), ng.Linear(4, 1, seed=1)).double()
    loss_fn = ng.DifferentialLoss.from_labels(d.payoff, d.differentials)
    expected = r"^explain: DifferentialLoss weighs the outputs' derivatives .* with MSELoss"
    with pytest.raises(TypeError, match=expected):
        ng.explain(model, loss_fn, d.x[:4], np.hstack([d.payoff, d.differentials])[:4])
