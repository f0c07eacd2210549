"""Gradient clipping: ng.nn.utils.clip_grad_norm_ (PyTorch's rule) and fit(clip_grad_norm=...)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.nn.utils import clip_grad_norm_


def _with_grads(seed=0):
    rng = np.random.default_rng(seed)
    params = [ng.nn.Parameter(rng.normal(size=shape)) for shape in [(3, 4), (4,), (2,)]]
    for p in params:
        p.grad = rng.normal(0.0, 5.0, p.shape)
    return params


def test_clipping_scales_every_gradient_by_max_norm_over_the_total_norm():
    params = _with_grads()
    before = [p.grad.copy() for p in params]
    total = np.sqrt(sum((g * g).sum() for g in before))
    assert total > 2.0
    returned = clip_grad_norm_(params, max_norm=2.0)
    assert returned == pytest.approx(total, rel=1e-12)
    for p, g in zip(params, before):
        np.testing.assert_allclose(p.grad, g * (2.0 / (total + 1e-6)), rtol=1e-12)
    after = np.sqrt(sum((p.grad**2).sum() for p in params))
    assert after == pytest.approx(2.0, rel=1e-6)


def test_gradients_within_max_norm_are_left_alone():
    params = _with_grads()
    before = [p.grad.copy() for p in params]
    total = clip_grad_norm_(params, max_norm=1e6)
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad, g)
    assert total == pytest.approx(np.sqrt(sum((g * g).sum() for g in before)))


def test_other_norms_a_single_tensor_and_parameters_without_gradients():
    params = _with_grads()
    largest = max(np.abs(p.grad).max() for p in params)
    assert clip_grad_norm_(params, 1.0, norm_type=float("inf")) == pytest.approx(largest)
    assert max(np.abs(p.grad).max() for p in params) == pytest.approx(1.0, rel=1e-5)
    params = _with_grads()
    l1 = sum(np.abs(p.grad).sum() for p in params)
    assert clip_grad_norm_(params, 1.0, norm_type=1) == pytest.approx(l1)
    single = _with_grads()[0]
    assert clip_grad_norm_(single, 1.0) == pytest.approx(np.linalg.norm(_with_grads()[0].grad))
    bare = ng.nn.Parameter(np.ones(3))
    assert clip_grad_norm_([bare], 1.0) == 0.0 and bare.grad is None
    assert clip_grad_norm_([], 1.0) == 0.0


def test_an_optimizers_parameters_are_clipped_as_one_flat_buffer():
    model = ng.Sequential(ng.Linear(4, 8, seed=0), ng.Tanh(), ng.Linear(8, 3, seed=1))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    optimizer.zero_grad()
    (model(x) * 100).sum().backward()
    flat = optimizer.flat_grads
    expected = float(np.linalg.norm(flat))
    scaled = flat * np.float32(0.5 / (expected + 1e-6))
    assert clip_grad_norm_(optimizer.params, 0.5) == expected  # one norm over flat_grads
    assert optimizer.flat_grads is flat  # scaled in place: the parameters' .grad are still views
    np.testing.assert_array_equal(flat, scaled)
    assert model[0].weight.grad.base is flat


def test_bad_arguments_and_non_finite_norms():
    with pytest.raises(ValueError, match="expected max_norm >= 0 and norm_type > 0, got -1.0"):
        clip_grad_norm_(_with_grads(), -1)
    params = _with_grads()
    params[0].grad[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is nan"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    clip_grad_norm_(params, 1.0)  # PyTorch's default: the gradients become NaN
    assert np.isnan(params[1].grad).all()


def _regression():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 4)).astype(np.float32)
    y = (x @ np.array([[3.0], [-2.0], [1.0], [0.5]]) * 10).astype(np.float32)  # variance ~1300
    return x, y


def _fit(clip, compile=False, epochs=20, callbacks=None):
    x, y = _regression()
    model = ng.Sequential(ng.Linear(4, 16, seed=0), ng.ReLU(), ng.Linear(16, 1, seed=1))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        history = ng.fit(model, ng.MSELoss(), optimizer, x, y, epochs=epochs, batch_size=32,
                         seed=0, verbose=0, clip_grad_norm=clip, compile=compile,
                         callbacks=callbacks)  # fmt: skip
    return model, history


def test_clipping_makes_an_exploding_run_train():
    _, exploding = _fit(None)
    assert not np.isfinite(exploding.history["loss"][-1])  # 3e10 after one epoch, then NaN
    _, clipped = _fit(5.0)
    losses = clipped.history["loss"]
    assert clipped.stop_reason == "completed" and losses[-1] < 0.01 * losses[0]


def test_fit_clips_before_every_step_on_both_backends_bit_for_bit():
    norms = []
    seen = ng.LambdaCallback(
        on_train_batch_end=lambda batch, logs: norms.append(
            np.linalg.norm(seen.optimizer.flat_grads)
        )
    )
    engine, engine_history = _fit(5.0, compile=False, epochs=3, callbacks=[seen])
    compiled, compiled_history = _fit(5.0, compile=True, epochs=3)
    assert max(norms) <= 5.0 * (1 + 1e-5) and len(norms) == 3 * 8
    assert engine_history.history["loss"] == compiled_history.history["loss"]
    for key, value in engine.state_dict().items():
        np.testing.assert_array_equal(compiled.state_dict()[key], value)
    unclipped, _ = _fit(None, epochs=1)
    assert not np.array_equal(unclipped[0].weight.data, _fit(5.0, epochs=1)[0][0].weight.data)


def test_fit_steps_on_the_clipped_gradient_as_a_hand_written_loop_does():
    x, y = _regression()
    model, _ = _fit(5.0, epochs=1)
    by_hand = ng.Sequential(ng.Linear(4, 16, seed=0), ng.ReLU(), ng.Linear(16, 1, seed=1))
    optimizer = ng.optim.SGD(by_hand.parameters(), lr=0.05)
    for rows in np.array_split(ng.backend.generator(0).permutation(len(x)), 8):
        optimizer.zero_grad()
        ng.MSELoss()(by_hand(x[rows]), y[rows]).backward()
        clip_grad_norm_(optimizer.params, 5.0)
        optimizer.step()
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(by_hand.state_dict()[key], value)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "1", True])
def test_fit_refuses_a_clip_that_is_not_a_positive_number(bad):
    with pytest.raises(ValueError, match="clip_grad_norm must be a number > 0 or None"):
        _fit(bad, epochs=1)
