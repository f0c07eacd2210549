"""Learning really happens: small problems trained by a hand-written loop with fixed seeds."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits  # tiny GEMMs: one BLAS thread, as fit runs them

import nudgenet as ng


def _train(model, loss_fn, opt, x, y, epochs):
    losses = []
    with threadpool_limits(limits=1):
        for _ in range(epochs):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


def test_xor_with_a_2_4_1_network_reaches_full_accuracy():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    model = ng.Sequential(ng.Linear(2, 4, seed=0), ng.Tanh(), ng.Linear(4, 1, seed=1))
    opt = ng.optim.Adam(model.parameters(), lr=0.05)
    losses = _train(model, ng.BCEWithLogitsLoss(), opt, x, y, epochs=300)
    with ng.no_grad():
        predicted = (model(x).data > 0).astype(np.float32)
    np.testing.assert_array_equal(predicted, y)
    assert losses[-1] < 0.1 < losses[0]


def test_three_class_spirals_reach_95_percent_training_accuracy():
    x, y = ng.datasets.spirals(300, classes=3, noise=0.2, seed=0)
    assert x.shape == (300, 2) and np.bincount(y).tolist() == [100, 100, 100]
    model = ng.Sequential(
        ng.Linear(2, 64, init="he_uniform", seed=0),
        ng.ReLU(),
        ng.Linear(64, 64, init="he_uniform", seed=1),
        ng.ReLU(),
        ng.Linear(64, 3, seed=2),
    )
    opt = ng.optim.Adam(model.parameters(), lr=0.01)
    with ng.no_grad():
        before = np.mean(model(x).data.argmax(axis=1) == y)
    losses = _train(model, ng.CrossEntropyLoss(), opt, x, y, epochs=600)
    with ng.no_grad():
        accuracy = np.mean(model(x).data.argmax(axis=1) == y)
    assert before < 0.6  # not linearly separable: the start is near chance
    assert accuracy >= 0.95
    assert losses[-1] < 0.25 * losses[0]
