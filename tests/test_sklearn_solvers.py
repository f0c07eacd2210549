"""scikit-learn's solvers on nudgenet's flat buffer (``nudgenet.sklearn._optim``), which work in
place on scratch arrays (the L2 term as one product with a weight mask), against scikit-learn's
own optimisers stepping its per-layer arrays in float64: the same parameters, moments and L2
term to rounding, through batches of changing size (the L2 factor changes with the rows), with
an output factor, and on a buffer large enough to be updated piece by piece."""

import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from nudgenet.nn import Linear
from nudgenet.optim import _CHUNK
from nudgenet.sklearn._optim import SklearnAdam, SklearnSGD

ALPHA, LR = 0.3, 0.01
ROWS = [200, 200, 26, 200, 7]  # a batch size per step


def _layers(units, rng):
    layers = [Linear(a, b, dtype=np.float64) for a, b in zip(units[:-1], units[1:])]
    for layer in layers:
        layer.weight.data = rng.standard_normal(layer.weight.data.shape)
        layer.bias.data = rng.standard_normal(layer.bias.data.shape)
    return layers


def _solver(kind, layers, grad_factor):
    params = [p for layer in layers for p in (layer.weight, layer.bias)]
    weights = [layer.weight for layer in layers]
    if kind == "adam":
        return SklearnAdam(params, LR, weights, ALPHA, grad_factor, (0.8, 0.99), 1e-6)
    return SklearnSGD(params, LR, weights, ALPHA, grad_factor, 0.7, kind == "nesterov")


def _reference(kind, params):
    if kind == "adam":
        return AdamOptimizer(params, LR, 0.8, 0.99, 1e-6)
    return SGDOptimizer(params, LR, momentum=0.7, nesterov=kind == "nesterov")


@pytest.mark.parametrize("kind", ["adam", "nesterov", "momentum"])
@pytest.mark.parametrize("units", [(3, 4, 2), (300, 120, 1)], ids=["small", "in-pieces"])
@pytest.mark.parametrize("grad_factor", [1.0, 2.0])
def test_solver_steps_equal_scikit_learns(kind, units, grad_factor):
    rng = np.random.default_rng(0)
    layers = _layers(units, rng)
    solver = _solver(kind, layers, grad_factor)
    ours = [p for layer in layers for p in (layer.weight, layer.bias)]
    assert (solver.flat_params.size > _CHUNK) == (units[0] == 300)
    coefs = [layer.weight.data.copy() for layer in layers]
    intercepts = [layer.bias.data.copy() for layer in layers]
    theirs = coefs + intercepts  # scikit-learn's order: the weights, then the biases
    reference = _reference(kind, theirs)
    for rows in ROWS:
        grads = [rng.standard_normal(p.data.shape) for p in ours]
        solver.flat_grads[...] = np.concatenate([g.ravel() for g in grads])
        solver.rows = rows
        solver.step()
        penalty = 0.5 * ALPHA * sum(np.dot(w.ravel(), w.ravel()) for w in coefs) / rows
        coef_grads = [grad_factor * g + ALPHA * w / rows for g, w in zip(grads[::2], coefs)]
        reference.update_params(theirs, coef_grads + [grad_factor * g for g in grads[1::2]])
        assert solver.penalty == pytest.approx(penalty, rel=1e-12)
        for layer, coef, intercept in zip(layers, coefs, intercepts):
            np.testing.assert_allclose(layer.weight.data, coef, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(layer.bias.data, intercept, rtol=1e-12, atol=1e-15)


def test_without_alpha_the_gradient_is_only_scaled():
    rng = np.random.default_rng(1)
    layers = _layers((3, 2), rng)
    params = [layers[0].weight, layers[0].bias]
    solver = SklearnSGD(params, LR, [layers[0].weight], 0.0, 3.0, 0.0, False)
    grads = rng.standard_normal(solver.flat_grads.size)
    before = solver.flat_params.copy()
    solver.flat_grads[...] = grads
    solver.step()
    assert solver.penalty == 0.0
    np.testing.assert_allclose(solver.flat_params, before - LR * 3.0 * grads, rtol=1e-14)
