"""Optimisers and schedules against their textbook formulas, over several steps, with a fixed
sequence of gradients written straight into ``p.grad``; the expected trajectories are computed
here in plain NumPy on the concatenated parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nudgenet as ng
from nudgenet import optim

_RNG = np.random.default_rng(11)
THETA0 = [_RNG.standard_normal((3, 2)), _RNG.standard_normal(4)]
STEPS = 6
GRADS = [[_RNG.standard_normal(t.shape) for t in THETA0] for _ in range(STEPS)]
FLAT0 = np.concatenate([t.ravel() for t in THETA0])
FLAT_GRADS = [np.concatenate([g.ravel() for g in gs]) for gs in GRADS]


def _fresh_params(values=THETA0):
    return [ng.Tensor(v.copy(), requires_grad=True) for v in values]


def _flat(params):
    return np.concatenate([p.data.ravel() for p in params])


def trajectory(make_opt, params=None, grads=GRADS, rebind=False):
    """θ after each step of ``make_opt(params)`` fed the fixed gradient sequence."""
    params = _fresh_params() if params is None else params
    opt = make_opt(params)
    out = []
    for gs in grads:
        for p, g in zip(params, gs):
            if rebind:
                p.grad = g.copy()  # a new array, not a write into the optimiser's buffer
            else:
                p.grad[...] = g
        opt.step()
        out.append(_flat(params))
    return np.array(out)


# --- textbook references ----------------------------------------------------------------------


def ref_sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0, theta0=FLAT0, grads=FLAT_GRADS):
    theta, v, out = theta0.copy(), np.zeros_like(theta0), []
    for g in grads:
        g = g + weight_decay * theta
        if momentum:
            v = momentum * v + g
            step = g + momentum * v if nesterov else v
        else:
            step = g
        theta = theta - lr * step
        out.append(theta)
    return np.array(out)


def ref_adam(lr, b1=0.9, b2=0.999, eps=1e-8, l2=0.0, decoupled=0.0, theta0=FLAT0, grads=FLAT_GRADS):
    theta, m, v, out = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0), []
    for t, g in enumerate(grads, start=1):
        g = g + l2 * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        theta = theta - lr * (m_hat / (np.sqrt(v_hat) + eps) + decoupled * theta)
        out.append(theta)
    return np.array(out)


def ref_rmsprop(lr, alpha=0.99, eps=1e-8, momentum=0.0, theta0=FLAT0, grads=FLAT_GRADS):
    theta, s, b, out = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0), []
    for g in grads:
        s = alpha * s + (1 - alpha) * g**2
        u = g / (np.sqrt(s) + eps)
        if momentum:
            b = momentum * b + u
            u = b
        theta = theta - lr * u
        out.append(theta)
    return np.array(out)


@pytest.mark.parametrize(
    ("make_opt", "expected"),
    [
        (lambda p: optim.SGD(p, lr=0.1), ref_sgd(0.1)),
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9), ref_sgd(0.1, momentum=0.9)),
        (
            lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
            ref_sgd(0.1, momentum=0.9, nesterov=True),
        ),
        (lambda p: optim.SGD(p, lr=0.1, weight_decay=0.05), ref_sgd(0.1, weight_decay=0.05)),
        (
            lambda p: optim.SGD(p, lr=0.05, momentum=0.5, weight_decay=0.1),
            ref_sgd(0.05, momentum=0.5, weight_decay=0.1),
        ),
        (lambda p: optim.Adam(p, lr=0.01), ref_adam(0.01)),
        (
            lambda p: optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6),
            ref_adam(0.02, b1=0.8, b2=0.99, eps=1e-6),
        ),
        (lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1), ref_adam(0.01, l2=0.1)),
        (lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1), ref_adam(0.01, decoupled=0.1)),
        (lambda p: optim.RMSprop(p, lr=0.01), ref_rmsprop(0.01)),
        (
            lambda p: optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.8),
            ref_rmsprop(0.01, alpha=0.9, momentum=0.8),
        ),
    ],
    ids=[
        "sgd",
        "sgd-momentum",
        "sgd-nesterov",
        "sgd-weight_decay",
        "sgd-momentum-weight_decay",
        "adam",
        "adam-betas-eps",
        "adam-l2",
        "adamw",
        "rmsprop",
        "rmsprop-momentum",
    ],
)
def test_update_follows_textbook_formula(make_opt, expected):
    np.testing.assert_allclose(trajectory(make_opt), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("make_opt", "reference"),
    [
        (lambda p: optim.SGD(p, lr=0.1), lambda t, g: ref_sgd(0.1, theta0=t, grads=g)),
        (
            lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01),
            lambda t, g: ref_sgd(0.05, momentum=0.9, weight_decay=0.01, theta0=t, grads=g),
        ),
        (
            lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
            lambda t, g: ref_sgd(
                0.05, momentum=0.9, nesterov=True, weight_decay=0.01, theta0=t, grads=g
            ),
        ),
        (
            lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1),
            lambda t, g: ref_adam(0.01, l2=0.1, theta0=t, grads=g),
        ),
        (
            lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
            lambda t, g: ref_adam(0.01, decoupled=0.1, theta0=t, grads=g),
        ),
        (
            lambda p: optim.RMSprop(p, lr=0.01, momentum=0.8),
            lambda t, g: ref_rmsprop(0.01, momentum=0.8, theta0=t, grads=g),
        ),
    ],
    ids=[
        "sgd",
        "sgd-momentum-weight_decay",
        "sgd-nesterov-weight_decay",
        "adam-l2",
        "adamw",
        "rmsprop-momentum",
    ],
)
def test_update_of_a_buffer_larger_than_one_chunk_follows_textbook_formula(make_opt, reference):
    # Linear(400, 200): 80,200 parameters, so SGD updates the buffer in two whole chunks of
    # optim._CHUNK elements and a partial third; every element must get the textbook update.
    params = ng.Linear(400, 200, dtype=np.float64, seed=0).parameters()
    theta0 = _flat(params)
    assert theta0.size > 2 * optim._CHUNK and theta0.size % optim._CHUNK
    rng = np.random.default_rng(12)
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(4)]
    flat_grads = [np.concatenate([g.ravel() for g in gs]) for gs in grads]
    np.testing.assert_allclose(
        trajectory(make_opt, params, grads), reference(theta0, flat_grads), rtol=1e-12, atol=1e-14
    )


CHUNKED = {
    "sgd-momentum-nesterov-weight_decay": lambda p: optim.SGD(
        p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01
    ),
    "adam-l2": lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1),
    "adamw": lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
    "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, weight_decay=0.1),
    "rmsprop-momentum": lambda p: optim.RMSprop(p, lr=0.01, momentum=0.8),
}


@pytest.mark.parametrize("make_opt", CHUNKED.values(), ids=CHUNKED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunked_step_is_bit_identical_to_one_whole_buffer_update(make_opt, dtype):
    # step() updates a buffer of several chunks piece by piece; the same update applied to the
    # whole buffer at once (one _update call, model-sized temporaries) must give the same bits
    chunked, whole = (make_opt(ng.Linear(400, 200, dtype=dtype, seed=0)) for _ in range(2))
    start = chunked.flat_params.copy()
    assert start.size > 2 * optim._CHUNK and start.size % optim._CHUNK  # a partial last chunk
    rng = np.random.default_rng(13)
    for _ in range(4):
        grad = rng.standard_normal(chunked.flat_grads.size).astype(dtype)
        chunked.flat_grads[...] = grad
        chunked.step()
        whole.flat_grads[...] = grad
        whole.step_count += 1
        whole._t = whole.step_count  # (Adam's count for the parameters it updates)
        whole._update(whole.flat_params, whole.flat_grads, *whole.state.values())
    assert np.array_equal(chunked.flat_params, whole.flat_params)
    for name in chunked.state:
        assert np.array_equal(chunked.state[name], whole.state[name]), name
    assert (chunked.flat_params != start).all()  # every element, the last chunk's included


def test_adam_l2_and_adamw_decoupled_decay_differ():
    l2 = trajectory(lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1))
    decoupled = trajectory(lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1))
    plain = trajectory(lambda p: optim.Adam(p, lr=0.01))
    assert np.abs(l2 - decoupled).max() > 1e-4
    assert np.abs(l2 - plain).max() > 1e-5 and np.abs(decoupled - plain).max() > 1e-5


def test_adam_first_step_moves_each_weight_by_about_lr():
    """Bias correction makes the first step ≈ lr·sign(g), whatever the gradient's scale."""
    first = trajectory(lambda p: optim.Adam(p, lr=0.01), grads=GRADS[:1])[0]
    np.testing.assert_allclose(first - FLAT0, -0.01 * np.sign(FLAT_GRADS[0]), rtol=1e-6)


def test_optimizer_accepts_a_rebound_grad_array():
    expected = ref_sgd(0.1, momentum=0.9)
    got = trajectory(lambda p: optim.SGD(p, lr=0.1, momentum=0.9), rebind=True)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_zero_grad_and_float32_state():
    params = [ng.Tensor(v.astype(np.float32), requires_grad=True) for v in THETA0]
    opt = optim.Adam(params, lr=0.01)
    for p, g in zip(params, GRADS[0]):
        p.grad[...] = g
    opt.step()
    assert all(p.data.dtype == np.float32 for p in params)
    assert all(s.dtype == np.float32 for s in opt.state.values())
    opt.zero_grad()
    assert all(not p.grad.any() for p in params)


def test_optimizer_takes_a_module():
    model = ng.Sequential(ng.Linear(2, 3), ng.Tanh(), ng.Linear(3, 1))
    opt = optim.SGD(model, lr=0.1)
    assert opt.params == model.parameters()


# --- state_dict round trip --------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p, lr=0.01: optim.Adam(p, lr=lr, weight_decay=0.01),
        lambda p, lr=0.1: optim.SGD(p, lr=lr, momentum=0.9, nesterov=True),
        lambda p, lr=0.01: optim.RMSprop(p, lr=lr, momentum=0.5),
        lambda p, lr=0.01: optim.AdamW(p, lr=lr),
    ],
    ids=["adam", "sgd-nesterov", "rmsprop-momentum", "adamw"],
)
def test_state_dict_round_trip_continues_identically(make_opt):
    params = _fresh_params()
    opt = make_opt(params)
    trajectory(lambda p: opt, params=params, grads=GRADS[:3])
    saved_state, saved_values = opt.state_dict(), [p.data.copy() for p in params]
    assert saved_state["step_count"] == 3
    continued = trajectory(lambda p: opt, params=params, grads=GRADS[3:])

    restored_params = _fresh_params(saved_values)
    restored = make_opt(restored_params, lr=123.0)  # lr comes back from the state
    restored.load_state_dict(saved_state)
    assert restored.lr == opt.lr and restored.step_count == 3
    resumed = trajectory(lambda p: restored, params=restored_params, grads=GRADS[3:])
    np.testing.assert_array_equal(resumed, continued)


def test_state_dict_is_a_copy_and_load_checks_type_and_shapes():
    params = _fresh_params()
    opt = optim.Adam(params, lr=0.01)
    trajectory(lambda p: opt, params=params, grads=GRADS[:1])
    state = opt.state_dict()
    m = state["state"]["m"].copy()
    trajectory(lambda p: opt, params=params, grads=GRADS[1:2])
    np.testing.assert_array_equal(state["state"]["m"], m)
    with pytest.raises(ValueError, match="expected state of a SGD, got 'Adam'"):
        optim.SGD(_fresh_params(), lr=0.1).load_state_dict(state)
    small = optim.Adam([ng.Tensor(np.zeros(3), requires_grad=True)], lr=0.01)
    with pytest.raises(ValueError, match=r"state 'm' expected shape \(3,\), got \(10,\)"):
        small.load_state_dict(state)


# --- schedules --------------------------------------------------------------------------------

EPOCHS = range(1, 13)


@pytest.mark.parametrize(
    ("make_schedule", "formula"),
    [
        (lambda o: optim.StepLR(o, step_size=3, gamma=0.5), lambda t: 0.1 * 0.5 ** (t // 3)),
        (lambda o: optim.ExponentialLR(o, gamma=0.9), lambda t: 0.1 * 0.9**t),
        (
            lambda o: optim.CosineAnnealingLR(o, T_max=8, eta_min=0.01),
            lambda t: 0.01 + 0.09 * (1 + math.cos(math.pi * min(t, 8) / 8)) / 2,
        ),
        (lambda o: optim.InverseTimeLR(o, decay=0.5), lambda t: 0.1 / (1 + 0.5 * t)),
    ],
    ids=["StepLR", "ExponentialLR", "CosineAnnealingLR", "InverseTimeLR"],
)
def test_schedules_follow_their_formula(make_schedule, formula):
    opt = optim.SGD(_fresh_params(), lr=0.1)
    schedule = make_schedule(opt)
    assert opt.lr == 0.1
    for t in EPOCHS:
        returned = schedule.step()
        assert returned == pytest.approx(formula(t), rel=1e-12)
        assert opt.lr == returned
    # the schedule's state restores the learning rate of the epoch it was at
    fresh = optim.SGD(_fresh_params(), lr=0.1)
    make_schedule(fresh).load_state_dict(schedule.state_dict())
    assert fresh.lr == pytest.approx(formula(EPOCHS[-1]), rel=1e-12)


def test_cosine_schedule_ends_at_eta_min_and_stays():
    opt = optim.SGD(_fresh_params(), lr=1.0)
    schedule = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    lrs = [schedule.step() for _ in range(6)]
    assert lrs[1] == pytest.approx(0.55)  # halfway: (η0 + η_min) / 2
    assert lrs[3:] == pytest.approx([0.1, 0.1, 0.1])


def test_schedules_are_closed_form_from_base_lr_not_chained():
    """As nudgenet.schedules documents: a rate set by hand is overridden at the next step,
    base_lr changes the schedule, and of two schedules the last one stepped sets the rate."""
    opt = optim.SGD(_fresh_params(), lr=0.1)
    step_lr = optim.StepLR(opt, step_size=2, gamma=0.5)
    opt.lr = 0.01
    assert step_lr.step() == pytest.approx(0.1)
    step_lr.base_lr = 0.01
    assert step_lr.step() == pytest.approx(0.005)
    exponential = optim.ExponentialLR(opt, gamma=0.9)  # its base_lr: 0.005
    assert exponential.step() == pytest.approx(0.0045)
    assert step_lr.step() == pytest.approx(0.005)


def test_optimizer_step_uses_the_scheduled_lr():
    params = _fresh_params()
    opt = optim.SGD(params, lr=0.1)
    optim.StepLR(opt, step_size=1, gamma=0.1).step()
    got = trajectory(lambda p: opt, params=params, grads=GRADS[:1])[0]
    np.testing.assert_allclose(got, FLAT0 - 0.01 * FLAT_GRADS[0], rtol=1e-12)


# --- bad hyperparameters ----------------------------------------------------------------------

OPTIMIZERS = [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop]


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("lr", [-0.01, float("nan"), float("inf")])
def test_negative_or_non_finite_lr_raises(cls, lr):
    with pytest.raises(ValueError, match=r"lr must be a finite number >= 0, got"):
        cls(_fresh_params(), lr=lr)


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
def test_lr_zero_is_accepted_as_pytorch_s_and_steps_leave_the_parameters(cls):
    params = _fresh_params()
    before = [p.data.copy() for p in params]
    opt = cls(params, lr=0)  # torch.optim accepts lr=0; CosineAnnealingLR(eta_min=0) reaches it
    for p in params:
        p.grad[...] = 1.0
    opt.step()
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), r"momentum must be in \[0, 1\)"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=1.0), r"SGD: momentum must be in \[0, 1\)"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=5), r"momentum must be in .*, got 5.0"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=float("nan")), r"momentum must be in"),
        (lambda p: optim.RMSprop(p, momentum=1.0), r"RMSprop: momentum must be in \[0, 1\)"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "weight_decay must be"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"betas must be in \[0, 1\)"),
        (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), r"AdamW: betas must be in \[0, 1\)"),
        (lambda p: optim.Adam(p, eps=0.0), "eps must be a finite number > 0"),
        (lambda p: optim.RMSprop(p, alpha=1.5), r"alpha must be in \[0, 1\), got 1.5"),
        (lambda p: optim.StepLR(optim.SGD(p, lr=0.1), step_size=0), "step_size must be >= 1"),
        (lambda p: optim.ExponentialLR(optim.SGD(p, lr=0.1), gamma=0), "gamma must be"),
        (lambda p: optim.CosineAnnealingLR(optim.SGD(p, lr=0.1), T_max=0), "T_max must be >= 1"),
        (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    ],
    ids=[
        "momentum",
        "momentum_1",
        "momentum_5",
        "momentum_nan",
        "rmsprop_momentum",
        "nesterov",
        "weight_decay",
        "betas",
        "adamw_beta2",
        "eps",
        "alpha",
        "step_size",
        "gamma",
        "T_max",
        "empty",
    ],
)
def test_bad_hyperparameters_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build(_fresh_params())


@pytest.mark.parametrize(
    "bad, got", [(np.ones(2), "got ndarray"), (ng.tensor([1, 2]), "got dtype int64")]
)
def test_parameters_must_be_floating_tensors(bad, got):
    with pytest.raises(TypeError, match=f"parameter 1 must be a floating tensor, {got}$"):
        optim.SGD([ng.Tensor(np.ones(2), requires_grad=True), bad], lr=0.1)


def test_parameters_of_mixed_dtypes_are_refused_not_converted():
    model = ng.Sequential(ng.Linear(2, 2, seed=0), ng.Linear(2, 2, seed=1).double())
    with pytest.raises(TypeError, match=r"mixed dtypes \(float32, float64\).*model\.to\(dtype\)"):
        optim.SGD(model.parameters(), lr=0.1)
    assert [p.dtype for p in model.parameters()] == [np.float32] * 2 + [np.float64] * 2
    optim.SGD(model.double(), lr=0.1)  # made one: accepted


def test_a_model_converted_in_part_after_the_optimiser_was_built_is_refused_at_its_step():
    model = ng.Sequential(ng.Linear(2, 2, seed=0), ng.Linear(2, 2, seed=1))
    opt = optim.SGD(model, lr=0.1)
    model[1].double()
    with pytest.raises(TypeError, match=r"mixed dtypes \(float32, float64\)"):
        opt.step()
    assert model[0].weight.dtype == np.float32


FREEZING = {  # each moves a parameter whose gradient is zero: momentum, moments, weight decay
    "sgd-momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
    "sgd-weight-decay": lambda p: optim.SGD(p, lr=0.1, weight_decay=0.1),
    "adam": lambda p: optim.Adam(p, lr=0.1),
    "adamw": lambda p: optim.AdamW(p, lr=0.1),
    "rmsprop": lambda p: optim.RMSprop(p, lr=0.1, momentum=0.5, weight_decay=0.1),
}


@pytest.mark.parametrize("name", FREEZING)
def test_a_parameter_frozen_after_the_optimiser_was_built_keeps_its_values_and_state(name):
    params = _fresh_params()
    opt = FREEZING[name](params)
    alone = _fresh_params()[1:]  # the same optimiser over the parameter that keeps training
    reference = FREEZING[name](alone)
    for step, grads in enumerate(GRADS):
        if step == 2:
            params[0].requires_grad = False
            frozen = params[0].data.copy()
            state = {k: v[: frozen.size].copy() for k, v in opt.state.items()}
        for p, g in zip(params, grads):
            p.grad[...] = g
        alone[0].grad[...] = grads[1]
        opt.step()
        reference.step()
    np.testing.assert_array_equal(params[0].data, frozen)
    for k, v in opt.state.items():
        np.testing.assert_array_equal(v[: frozen.size], state[k])
    np.testing.assert_array_equal(params[1].data, alone[0].data)
    params[0].requires_grad = True  # unfrozen: it trains again
    opt.step()
    assert not np.array_equal(params[0].data, frozen)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_counts_each_parameter_s_own_steps_as_pytorch(name):
    """Frozen for two steps, then trained again: the parameter's bias correction counts its own
    steps (PyTorch's state[p]["step"]), so it moves, bit for bit, as under an Adam of its own
    that never took those two steps, while the other goes on as under one that never held it."""
    params = _fresh_params()
    opt = FREEZING[name](params)
    kept = FREEZING[name](_fresh_params()[1:])  # the parameter trained throughout
    late = None  # the frozen parameter's own Adam, from its unfreezing on
    for step, grads in enumerate(GRADS):
        params[0].requires_grad = step not in (1, 2)
        if step == 3:
            late = FREEZING[name]([ng.Tensor(params[0].data.copy(), requires_grad=True)])
            late.state = {k: v[: params[0].data.size].copy() for k, v in opt.state.items()}
            late.step_count = 1  # its one step so far: step 0
        for p, g in zip(params, grads):
            p.grad[...] = g
        kept.params[0].grad[...] = grads[1]
        opt.step()
        kept.step()
        if late is not None:
            late.params[0].grad[...] = grads[0]
            late.step()
    np.testing.assert_array_equal(params[1].data, kept.params[0].data)
    np.testing.assert_array_equal(params[0].data, late.params[0].data)


def test_adam_s_steps_sat_out_frozen_survive_state_dict_and_part_of_the_buffer():
    params = _fresh_params()
    opt = optim.Adam(params, lr=0.1)
    params[0].requires_grad = False
    trajectory(lambda p: opt, params=params, grads=GRADS[:2])
    params[0].requires_grad = True
    state, values = opt.state_dict(), [p.data.copy() for p in params]
    assert state["frozen_steps"] == [2, 0]
    continued = trajectory(lambda p: opt, params=params, grads=GRADS[2:])
    restored_params = _fresh_params(values)
    restored = optim.Adam(restored_params, lr=0.1)
    restored.load_state_dict(state)
    resumed = trajectory(lambda p: restored, params=restored_params, grads=GRADS[2:])
    np.testing.assert_array_equal(resumed, continued)
    halves = _fresh_params(values)  # one step, in two parts (two ranks' shares of a buffer)
    split = optim.Adam(halves, lr=0.1)
    split.load_state_dict(state)
    for p, g in zip(halves, GRADS[2]):
        p.grad[...] = g
    split.step(part=slice(0, 5))
    split.step_count -= 1  # (the other rank's part of the same step)
    split.step(part=slice(5, None))
    np.testing.assert_array_equal(split.flat_params, continued[0])


def test_adam_refuses_frozen_steps_for_another_number_of_parameters():
    state = optim.Adam(_fresh_params(), lr=0.1).state_dict()
    state["frozen_steps"] = [0, 0, 0]
    with pytest.raises(ValueError, match="expected frozen_steps for 2 parameters, got 3"):
        optim.Adam(_fresh_params(), lr=0.1).load_state_dict(state)


def test_freezing_or_unfreezing_keeps_the_buffer_where_it_is():
    """Only requires_grad changed: the buffer is not re-packed (a data-parallel node's shared
    copy cannot be), so arrays taken from it stay the parameters' own."""
    params = _fresh_params()
    opt = optim.Adam(params, lr=0.1)
    values, grads = opt.flat_params, opt.flat_grads
    params[0].requires_grad = False
    opt.zero_grad()
    assert opt.flat_params is values and opt.flat_grads is grads
    params[0].requires_grad = True
    for p, g in zip(params, GRADS[0]):
        p.grad[...] = g
    opt.step()
    assert opt.flat_params is values and params[0].data.base is values


def test_an_optimiser_takes_frozen_parameters_and_leaves_them_alone():
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    model[2].bias.requires_grad = False
    opt = optim.Adam(model.parameters(), lr=0.1, weight_decay=0.1)
    bias = model[2].bias.data.copy()
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    for _ in range(3):
        opt.zero_grad()
        ng.CrossEntropyLoss()(model(x), np.arange(5) % 2).backward()
        opt.step()
    np.testing.assert_array_equal(model[2].bias.data, bias)
    assert not np.array_equal(model[2].weight.data, ng.Linear(4, 2, seed=1).weight.data)


def test_a_step_over_pieces_and_part_of_the_buffer_skips_the_frozen_parameter():
    sizes = (50_000, 30_000, 50_000)  # a buffer updated in pieces of _CHUNK elements
    params = [ng.Tensor(np.ones(n), requires_grad=True) for n in sizes]
    opt = optim.SGD(params, lr=0.5)
    params[1].requires_grad = False
    for p in params:
        p.grad[...] = 1.0
    opt.step(part=slice(20_000, 120_000))
    moved = opt.flat_params != 1.0
    expected = np.zeros(sum(sizes), bool)
    expected[20_000:50_000] = expected[80_000:120_000] = True
    np.testing.assert_array_equal(moved, expected)


# --- the flat buffers -------------------------------------------------------------------------


def test_flat_params_and_flat_grads_are_the_arrays_the_parameters_view():
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    opt = optim.SGD(model, lr=0.1)
    params, grads = opt.flat_params, opt.flat_grads
    assert params.ndim == grads.ndim == 1 and params.flags.c_contiguous and grads.flags.c_contiguous
    assert params.size == grads.size == model.num_parameters()
    assert opt.flat_params is params and opt.flat_grads is grads  # the same arrays each time
    np.testing.assert_array_equal(params, np.concatenate([p.data.ravel() for p in opt.params]))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    ng.MSELoss()(model(x), np.zeros((5, 2), np.float32)).backward()  # accumulates into grads
    np.testing.assert_array_equal(grads, np.concatenate([p.grad.ravel() for p in opt.params]))
    assert grads.any()
    params[...] = 0.5  # writing the buffer writes every parameter
    assert all((p.data == 0.5).all() for p in model.parameters())
    grads *= 2  # e.g. an allreduce's average written back
    opt.step()
    np.testing.assert_array_equal(params, 0.5 - np.float32(0.1) * grads)


def test_flat_params_follow_a_converted_model_and_the_state_its_dtype():
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    opt = optim.Adam(model, lr=0.01)
    before = opt.flat_params
    model.double()  # the parameters leave the buffer: the next read re-packs them
    after, grads = opt.flat_params, opt.flat_grads
    assert after is not before and after.dtype == grads.dtype == np.float64
    assert all(np.shares_memory(p.data, after) for p in model.parameters())
    assert all(np.shares_memory(p.grad, grads) for p in model.parameters())
    np.testing.assert_array_equal(after, before.astype(np.float64))
    assert all(s.dtype == np.float64 for s in opt.state.values())


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: optim.Adam(p, lr=0.01, weight_decay=0.01),
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5),
        lambda p: optim.AdamW(p, lr=0.01),
    ],
    ids=["adam", "sgd-nesterov", "rmsprop-momentum", "adamw"],
)
@pytest.mark.parametrize("size", [1000, 3 * optim._CHUNK + 17])  # one piece; several pieces
def test_steps_of_the_parts_of_a_buffer_make_the_whole_step(make_opt, size):
    """step(part) updates only that slice, as step() would: parts stepped by optimisers in the
    same state (ranks of a node, each its part) together make the whole step, bit for bit."""
    rng = np.random.default_rng(0)
    start, grads = rng.standard_normal(size), rng.standard_normal((3, size))
    cut = size // 3 + 5
    runs = []
    for part in (None, slice(0, cut), slice(cut, size)):
        param = ng.Tensor(start.copy(), requires_grad=True)
        opt = make_opt([param])
        for g in grads:
            opt.flat_grads[...] = g
            opt.step() if part is None else opt.step(part)
        runs.append(opt.flat_params.copy())
        assert opt.step_count == 3
    whole, first, second = runs
    np.testing.assert_array_equal(first[:cut], whole[:cut])
    np.testing.assert_array_equal(second[cut:], whole[cut:])
    np.testing.assert_array_equal(first[cut:], start[cut:])  # the rest left alone
    np.testing.assert_array_equal(second[:cut], start[:cut])


def test_flat_parameters_pack_into_given_storage():
    a = ng.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = ng.Tensor(np.array([7.0, 8.0]), requires_grad=True)
    data, grads = np.full(8, -1.0), np.full(9, -1.0)
    flat = ng.nn.FlatParameters([a, b], spare=1, storage=(data, grads))
    assert flat.data is data and flat.grad_and_spare is grads
    np.testing.assert_array_equal(data, [0, 1, 2, 3, 4, 5, 7, 8])  # the values written there
    np.testing.assert_array_equal(grads, 0)  # the gradients start at zero
    assert np.shares_memory(a.data, data) and np.shares_memory(b.grad, grads)
    data[...] = 5.0
    other = ng.Tensor(np.zeros((2, 3)), requires_grad=True)  # another process's copy
    bound = ng.nn.FlatParameters([other, ng.Tensor(np.zeros(2), requires_grad=True)], spare=1,
                                 storage=(data, np.zeros(9)), write_data=False)  # fmt: skip
    np.testing.assert_array_equal(other.data, 5.0)  # bound to the values there, not written
    assert bound.is_current()
    wrong = r"storage must be float64 arrays of shapes \(8,\) and \(9,\)"
    with pytest.raises(ValueError, match=wrong):
        ng.nn.FlatParameters([a, b], spare=1, storage=(np.zeros(8, np.float32), np.zeros(9)))


@pytest.mark.parametrize("lr", ["0.1", None, True])
def test_a_learning_rate_that_is_no_number_is_a_one_line_error(lr):
    """Review 84: lr="0.1" was taken (float reads text), lr=None was Python's own message."""
    with pytest.raises(TypeError, match=rf"^lr must be a number, got {type(lr).__name__} "):
        optim.SGD(_fresh_params(), lr=lr)
