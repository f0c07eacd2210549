"""The seeds' worked derivations, each recomputed here by hand in plain NumPy and compared with
what backprop gives."""

from __future__ import annotations

import numpy as np
import pytest

import nudgenet as ng
import nudgenet.functional as F


def sigma(z):
    return 1.0 / (1.0 + np.exp(-z))


def _linear(n_in, n_out, init):
    return ng.Linear(n_in, n_out, bias=False, init=init, dtype=np.float64)


# --- 1-1-1: the chain rule written out as five factors ----------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "theta1", "theta2"), [(1.5, 0.2, 0.8, -1.3), (-0.7, 0.9, 2.0, 0.5)]
)
def test_one_one_one_network_gradient_is_the_product_of_five_factors(x, y, theta1, theta2):
    layer1 = _linear(1, 1, ng.init.constant(theta1))
    layer2 = _linear(1, 1, ng.init.constant(theta2))
    a3_t = layer2(layer1(np.array([[x]])).sigmoid()).sigmoid()
    J = ((y - a3_t) ** 2 * 0.5).sum()
    J.backward()

    z2 = theta1 * x
    a2 = sigma(z2)
    z3 = theta2 * a2
    a3 = sigma(z3)
    dJ_da3 = -(y - a3)
    da3_dz3 = a3 * (1 - a3)
    dz3_da2 = theta2
    da2_dz2 = a2 * (1 - a2)
    dz2_dtheta1 = x
    assert J.item() == pytest.approx(0.5 * (y - a3) ** 2, rel=1e-14)
    expected1 = dJ_da3 * da3_dz3 * dz3_da2 * da2_dz2 * dz2_dtheta1
    assert layer1.weight.grad.item() == pytest.approx(expected1, rel=1e-12)
    expected2 = dJ_da3 * da3_dz3 * a2  # ∂z3/∂θ2 = a2
    assert layer2.weight.grad.item() == pytest.approx(expected2, rel=1e-12)


# --- 2-2-2: the δ-rule ------------------------------------------------------------------------


def test_two_two_two_network_matches_the_delta_rule():
    rng = np.random.default_rng(0)
    m = 4
    x = rng.standard_normal((m, 2))
    y = rng.uniform(0, 1, (m, 2))
    theta1 = rng.standard_normal((2, 2))  # nudgenet's Linear weight is (in, out): z = x Θ
    theta2 = rng.standard_normal((2, 2))
    layer1 = ng.Linear(2, 2, bias=False, dtype=np.float64)
    layer2 = ng.Linear(2, 2, bias=False, dtype=np.float64)
    layer1.load_state_dict({"weight": theta1})
    layer2.load_state_dict({"weight": theta2})

    z2_t = layer1(x).retain_grad()
    z3_t = layer2(z2_t.sigmoid()).retain_grad()
    a3_t = z3_t.sigmoid()
    J = ((y - a3_t) ** 2).sum() / (2 * m)
    J.backward()

    # forward, by hand
    z2 = x @ theta1
    a2 = sigma(z2)
    z3 = a2 @ theta2
    a3 = sigma(z3)
    # backward, the δ-rule
    delta3 = (a3 - y) * a3 * (1 - a3)
    grad_theta2 = a2.T @ delta3 / m
    delta2 = (delta3 @ theta2.T) * a2 * (1 - a2)
    grad_theta1 = x.T @ delta2 / m

    assert J.item() == pytest.approx(((y - a3) ** 2).sum() / (2 * m), rel=1e-14)
    np.testing.assert_allclose(layer2.weight.grad, grad_theta2, rtol=1e-12)
    np.testing.assert_allclose(layer1.weight.grad, grad_theta1, rtol=1e-12)
    # the layers' δ terms are ∂J/∂z up to the 1/m of the cost
    np.testing.assert_allclose(z3_t.grad * m, delta3, rtol=1e-12)
    np.testing.assert_allclose(z2_t.grad * m, delta2, rtol=1e-12)


# --- symmetry ---------------------------------------------------------------------------------


def _train_2_3_1(init, steps=20):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 2))
    y = (x[:, :1] * x[:, 1:] > 0).astype(np.float64)
    model = ng.Sequential(
        ng.Linear(2, 3, init=init, dtype=np.float64, seed=0),
        ng.Sigmoid(),
        ng.Linear(3, 1, init=init, dtype=np.float64, seed=1),
        ng.Sigmoid(),
    )
    start = [p.data.copy() for p in model.parameters()]
    opt = ng.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    moved = max(np.abs(p.data - s).max() for p, s in zip(model.parameters(), start))
    return model, moved


def test_constant_initial_weights_keep_hidden_units_identical():
    model, moved = _train_2_3_1(ng.init.constant(0.3))
    assert moved > 1e-3  # training really changed the weights
    w1, b1, w2 = model[0].weight.data, model[0].bias.data, model[2].weight.data
    for j in (1, 2):
        np.testing.assert_allclose(w1[:, j], w1[:, 0], rtol=1e-12, atol=1e-15)
        assert b1[j] == pytest.approx(b1[0], rel=1e-12, abs=1e-15)
        assert w2[j, 0] == pytest.approx(w2[0, 0], rel=1e-12)


def test_small_random_initial_weights_break_symmetry():
    model, moved = _train_2_3_1(ng.init.uniform(-0.1, 0.1))
    assert moved > 1e-3
    w1 = model[0].weight.data
    gaps = [np.abs(w1[:, i] - w1[:, j]).max() for i, j in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 1e-3


# --- softmax and cross-entropy ----------------------------------------------------------------


def _three_class_net():
    small = ng.init.uniform(-0.01, 0.01)
    return ng.Sequential(
        ng.Linear(4, 8, init=small, seed=0), ng.Tanh(), ng.Linear(8, 3, init=small, seed=1)
    )


def test_untrained_three_class_network_is_nearly_uniform():
    x = np.random.default_rng(2).standard_normal((20, 4)).astype(np.float32)
    probs = F.softmax(_three_class_net()(x)).data
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert np.abs(probs - 1 / 3).max() < 0.05


def test_cross_entropy_gradient_wrt_logits_is_p_minus_y_over_n():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4))
    labels = np.array([0, 1, 2, 2, 1, 0])
    model = _three_class_net().double()
    logits = model(x).retain_grad()
    F.cross_entropy(logits, labels).backward()
    z = logits.data
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.eye(3)[labels]
    np.testing.assert_allclose(logits.grad, (p - y) / len(x), rtol=1e-10, atol=1e-15)


def test_probability_of_exactly_zero_gives_finite_loss_and_gradients():
    probs = ng.tensor(np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]), requires_grad=True)
    loss = F.categorical_cross_entropy(probs, np.array([0, 1]))  # both targets have p = 0
    assert np.isfinite(loss.item()) and loss.item() > 10  # large: −ln(ε) per example
    loss.backward()
    assert np.all(np.isfinite(probs.grad))


def test_extreme_logits_give_finite_cross_entropy():
    logits = ng.tensor(
        np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]]), requires_grad=True
    )
    right = F.cross_entropy(logits, np.array([0, 1]))
    assert right.item() == pytest.approx(0.0, abs=1e-12)
    wrong = F.cross_entropy(logits, np.array([1, 2]))
    assert wrong.item() == pytest.approx((2000.0 + 1000.0) / 2)
    wrong.backward()
    assert np.all(np.isfinite(logits.grad))
    np.testing.assert_allclose(logits.grad, [[0.5, -0.5, 0.0], [0.0, 0.5, -0.5]], atol=1e-12)
