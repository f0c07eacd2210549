"""In-place operators (``+= -= *= /= **=``) follow PyTorch's rules: an update in place where
no graph is recorded, an error on a parameter while one is, the recorded result otherwise."""

from __future__ import annotations

import numpy as np
import pytest

import nudgenet as ng


def _batch():
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    return x, (x.sum(axis=1, keepdims=True) > 0).astype(np.float32)


def test_a_hand_written_sgd_loop_under_no_grad_updates_the_parameters_as_sgd_does():
    x, y = _batch()
    by_hand = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 1, seed=1))
    by_optimizer = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 1, seed=1))
    optimizer = ng.optim.SGD(by_optimizer.parameters(), lr=0.1)
    parameters = list(by_hand.parameters())
    for _ in range(3):
        by_hand.zero_grad()
        ng.MSELoss()(by_hand(x), y).backward()
        with ng.no_grad():
            for p in by_hand.parameters():
                p -= 0.1 * p.grad
        optimizer.zero_grad()
        ng.MSELoss()(by_optimizer(x), y).backward()
        optimizer.step()
    assert all(p is q for p, q in zip(parameters, by_hand.parameters()))
    for p, q in zip(by_hand.parameters(), by_optimizer.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6)


def test_an_in_place_update_keeps_a_parameter_a_view_of_the_optimiser_s_buffer():
    model = ng.Linear(2, 1, seed=0)
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    with ng.no_grad():
        model.weight *= 2.0
        model.bias += 1.0
    assert all(np.shares_memory(p.data, optimizer.flat_params) for p in model.parameters())
    np.testing.assert_array_equal(np.concatenate([p.data.ravel() for p in model.parameters()]),
                                  optimizer.flat_params)  # fmt: skip


@pytest.mark.parametrize("update", ["+=", "-=", "*=", "/=", "**="])
def test_an_in_place_update_of_a_parameter_while_recording_raises(update):
    w = ng.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"leaf tensor that requires gradients.*ng\.no_grad"):
        exec(f"w {update} 2.0", {}, {"w": w})
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def test_plain_tensors_update_in_place_and_stay_themselves():
    t = ng.tensor([1.0, 2.0])
    alias = t
    t += ng.tensor([1.0, 1.0])
    t -= 0.5
    t *= 4
    t /= 3
    t **= 2
    assert t is alias and t.dtype == np.float32
    np.testing.assert_allclose(t.data, [4.0, 100 / 9], rtol=1e-6)


def test_a_tensor_in_a_graph_gets_the_recorded_result_with_its_gradient():
    a = ng.tensor([1.0, 2.0], requires_grad=True)
    h = a * a
    before = h
    h *= 3.0
    h.sum().backward()
    assert h is not before
    np.testing.assert_array_equal(before.data, [1.0, 4.0])
    np.testing.assert_allclose(a.grad, 6 * a.data)


def test_a_plain_tensor_combined_with_one_that_requires_gradients_is_recorded():
    w = ng.tensor([1.0, 2.0], requires_grad=True)
    total = ng.tensor([0.0, 0.0])
    total += w * 2
    total.sum().backward()
    assert total.requires_grad
    np.testing.assert_array_equal(w.grad, [2.0, 2.0])


def test_a_result_of_another_dtype_is_a_one_line_error():
    t = ng.tensor([1, 2])
    with pytest.raises(TypeError, match=r"^\+= on a tensor of dtype int64: the result is float64"):
        t += 0.5
    np.testing.assert_array_equal(t.data, [1, 2])


@pytest.mark.parametrize("other", [np.ones((2, 2)), np.ones(3)])
def test_a_result_of_another_shape_is_a_one_line_error(other):
    t = ng.tensor([1.0, 2.0])
    with pytest.raises(ng.ShapeError, match=r"of shape \(2,\) needs an operand that broadcasts"):
        t += other


def test_a_change_in_place_after_the_forward_refuses_the_backward_as_pytorch_does():
    """The graph saves arrays: x += 10 after the forward made w's gradient 11 (true: 1), and a
    parameter changed under no_grad gave its partner the new values; PyTorch's version check
    raises.  So does a backward after an optimiser's step through a retained graph."""
    w = ng.tensor(np.array([2.0, 3.0]), requires_grad=True)
    x = ng.tensor(np.array([1.0, 1.0]))
    y = (w * x).sum()
    x += 10
    with pytest.raises(RuntimeError, match=r"^an array Mul used \(input 1, shape \(2,\)\) was "
                                           r"changed in place after the forward"):  # fmt: skip
        y.backward()
    x2 = ng.tensor(np.array([1.0, 1.0]), requires_grad=True)
    y = (w * x2).sum()
    with ng.no_grad():
        w -= 1
    with pytest.raises(RuntimeError, match="changed in place after the forward"):
        y.backward()
    model = ng.Sequential(ng.Linear(3, 1, seed=0)).double()
    optimizer = ng.optim.SGD(model.parameters(), lr=0.5)
    loss = (model(np.ones((2, 3))) ** 2).mean()
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(RuntimeError, match="by an optimiser's step"):
        loss.backward()
    fresh = (model(np.ones((2, 3))) ** 2).mean()  # a forward after the change: fine
    fresh.backward()


def test_in_a_graph_a_result_keeps_the_tensor_s_shape_and_dtype_or_is_refused():
    w = ng.tensor(np.ones(3, np.float32), requires_grad=True)
    h = w * 2
    h += np.ones(3, np.float64)  # taken as float32, as NumPy's in-place cast does
    assert h.dtype == np.float32 and h.requires_grad
    with pytest.raises(ng.ShapeError, match=r"of shape \(3,\) needs an operand that broadcasts"):
        h += np.ones((5, 3))
    labels = ng.tensor(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match=r"^\*= on a tensor of dtype int64: the result is float"):
        labels *= w


def test_true_division_of_an_integer_tensor_is_a_one_line_error():
    t = ng.tensor(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match=r"^/= on a tensor of dtype int64: the result is float64"):
        t /= 2


def _sigmoid_output_changed():
    w = ng.tensor([0.5, 1.0, 2.0], requires_grad=True)
    y = w.sigmoid()
    with ng.no_grad():
        y += 1
    return y.sum()


def _changed_through_a_detached_tensor():
    x, w = ng.tensor([1.0, 2.0, 3.0]), ng.tensor([1.0, 1.0, 1.0], requires_grad=True)
    y = (w * x).sum()
    detached = x.detach()
    detached += 5
    return y


def _changed_through_a_view():
    x, w = ng.tensor([1.0, 2.0, 3.0]), ng.tensor([1.0, 1.0, 1.0], requires_grad=True)
    y = (w * x).sum()
    view = x[:2]
    view += 10
    return y


def _changed_by_load_state_dict():
    layer = ng.Linear(2, 1, seed=0)
    y = layer(ng.tensor([[1.0, 2.0]], requires_grad=True)).sum()
    layer.load_state_dict({k: np.full_like(v, 7) for k, v in layer.state_dict().items()})
    return y


@pytest.mark.parametrize("made", [_sigmoid_output_changed, _changed_through_a_detached_tensor,
                                  _changed_through_a_view, _changed_by_load_state_dict],
                         ids=["saved-output", "detached", "view", "load_state_dict"])  # fmt: skip
def test_a_change_to_the_memory_a_node_saved_is_caught_however_made(made):
    """The check compared the versions of a node's input tensors only: an output a node saved
    (sigmoid's), memory shared with a detached tensor or a view, and load_state_dict's writes
    went unseen, with wrong gradients (PyTorch raises for each)."""
    loss = made()
    with pytest.raises(RuntimeError, match="was changed in place after the forward"):
        loss.backward()
