"""A loss target that requires gradients gets them (distillation between two networks, the
reconstruction of an input that requires gradients), through the loss functions and the loss
classes; a target that requires none keeps the fused path of every training step.  The
finite-difference checks of each loss in its target, to the second order, are in
tests/test_functional.py's table (``*-target-requires-grad``), which test_double_backward.py runs
too."""

from __future__ import annotations

import numpy as np
import pytest

import nudgenet as ng
import nudgenet.functional as F
from nudgenet.functional import losses as S

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 3))


def test_distillation_between_two_networks_reaches_the_second_network():
    m1, m2 = ng.Linear(3, 2, seed=0).double(), ng.Linear(3, 2, seed=1).double()
    p, q = m1(X), m2(X)
    F.mse_loss(p, q).backward()
    dq = -2 * (p.data - q.data) / q.size  # PyTorch's gradient of mse_loss in its target
    np.testing.assert_allclose(m2.weight.grad, X.T @ dq, rtol=1e-12)
    np.testing.assert_allclose(m2.bias.grad, dq.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m1.weight.grad, -m2.weight.grad, rtol=1e-12)


def test_a_target_alone_requiring_gradients_gets_them():
    q = ng.tensor(X[::-1].copy(), requires_grad=True)
    F.mse_loss(ng.tensor(X), q).backward()  # was: "none of its inputs had requires_grad=True"
    np.testing.assert_allclose(q.grad, -2 * (X - q.data) / X.size, rtol=1e-12)


def _pair(loss_fn):
    """A prediction and a target of the kinds ``loss_fn`` takes, both requiring gradients."""
    z, y = RNG.standard_normal((4, 3)), RNG.uniform(0.1, 0.9, (4, 3))
    if isinstance(loss_fn, (ng.BCELoss, ng.CategoricalCrossEntropyLoss)):
        z = RNG.uniform(0.1, 0.9, (4, 3))
    return ng.tensor(z, requires_grad=True), ng.tensor(y, requires_grad=True)


@pytest.mark.parametrize(
    "loss_fn",
    [
        ng.MSELoss(),
        ng.PoissonLoss(reduction="sum"),
        ng.CrossEntropyLoss(weight=[0.5, 2.0, 1.0]),
        ng.CategoricalCrossEntropyLoss(),
        ng.BCELoss(reduction="sum"),
        ng.BCEWithLogitsLoss(pos_weight=[2.0, 1.0, 0.5]),
    ],
    ids=repr,
)
def test_every_loss_class_differentiates_its_target(loss_fn):
    prediction, target = _pair(loss_fn)
    weights = np.array([1.0, 0.0, 2.0, 0.5])
    assert ng.gradcheck(lambda p, y: loss_fn(p, y, sample_weight=weights), prediction, target)
    assert ng.gradgradcheck(lambda p, y: loss_fn(p, y), prediction, target)


@pytest.mark.parametrize(
    ("loss", "fused", "target"),
    [
        (F.mse_loss, S.SquaredErrorFunction, X),
        (F.binary_cross_entropy_with_logits, S.BinaryCrossEntropyWithLogitsFunction, 1.0 * (X > 0)),
        (F.cross_entropy, S.CrossEntropyFunction, np.full((4, 3), 1 / 3)),
        (F.cross_entropy, S.CrossEntropyFunction, np.array([0, 2, 1, 2])),
    ],
    ids=["mse", "bce-with-logits", "cross-entropy-probabilities", "cross-entropy-labels"],
)
def test_a_target_requiring_no_gradients_takes_the_fused_function(loss, fused, target):
    z = ng.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    detached = ng.tensor(1.0 * target, requires_grad=True).detach()
    for y in (target, ng.tensor(target), detached if target.dtype.kind == "f" else target):
        assert type(loss(z, y)._creator) is fused


def test_a_target_requiring_gradients_in_another_dtype_is_a_one_line_error():
    p = ng.tensor(X.astype(np.float32), requires_grad=True)
    with pytest.raises(TypeError, match=r"^mse_loss: a target that requires gradients must have "
                       r"the prediction's dtype float32, got float64 \(it is not cast") as caught:
        F.mse_loss(p, ng.tensor(X, requires_grad=True))
    assert "\n" not in str(caught.value)


def test_poisson_target_requiring_gradients_refuses_a_zero_count():
    y = ng.tensor(np.array([[1.0, 0.0], [2.0, 3.0]]), requires_grad=True)
    with pytest.raises(ValueError, match=r"^poisson_loss: a target that requires gradients must "
                       r"be > 0 .* got 0 at index \(0, 1\)") as caught:
        F.poisson_loss(ng.tensor(np.zeros((2, 2))), y)
    assert "\n" not in str(caught.value)
    assert np.isfinite(F.poisson_loss(np.zeros((2, 2)), y.detach()).item())  # a constant: fine


def test_clipped_probabilities_give_the_fused_gradient_and_a_finite_target_gradient():
    p = ng.tensor(np.array([[0.0, 1.0, 0.5]]), requires_grad=True)
    y = ng.tensor(np.array([[1.0, 0.0, 0.3]]), requires_grad=True)
    F.binary_cross_entropy(p, y.detach()).backward()
    fused = p.grad
    p.grad = None
    F.binary_cross_entropy(p, y).backward()
    np.testing.assert_allclose(p.grad, fused, rtol=1e-12)
    assert np.all(np.isfinite(y.grad))  # ln(1 − p̂) − ln p̂ of the clipped p̂, over 3
    np.testing.assert_allclose(y.grad[0, 2], 0.0, atol=1e-15)


@pytest.mark.parametrize(
    ("loss", "option"),
    [
        (F.mse_loss, "sample_weight"),
        (F.cross_entropy, "weight"),
        (F.binary_cross_entropy_with_logits, "pos_weight"),
    ],
)
def test_loss_weights_that_require_gradients_are_refused_not_silently_constant(loss, option):
    z = ng.tensor(RNG.standard_normal((3, 3)), requires_grad=True)
    w = ng.tensor(np.array([1.0, 2.0, 0.5]), requires_grad=True)
    with pytest.raises(ValueError, match=f"^{loss.__name__}: {option} requires gradients, but "
                       "loss weights are constants: pass it detached$"):
        loss(z, np.full((3, 3), 0.5), **{option: w})
    assert loss(z, np.full((3, 3), 0.5), **{option: w.detach()}).requires_grad
