"""The engine: gradient accumulation, graph release, deep graphs, no_grad, detach, retain_grad,
dtypes of new tensors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import nudgenet as ng
import nudgenet.functional as F


def _cubic_graph(x: ng.Tensor) -> ng.Tensor:
    """f(x) = Σ x³ + 2x; ∂f/∂x = 3x² + 2."""
    return (x**3 + 2 * x).sum()


@pytest.fixture
def x():
    return ng.tensor(np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]), requires_grad=True)


def test_gradients_accumulate_across_two_fresh_graphs(x):
    expected = 3 * x.data**2 + 2
    _cubic_graph(x).backward()
    np.testing.assert_allclose(x.grad, expected)
    _cubic_graph(x).backward()
    np.testing.assert_allclose(x.grad, 2 * expected)
    x.zero_grad()
    np.testing.assert_array_equal(x.grad, np.zeros_like(x.data))


def test_second_backward_through_a_released_graph_raises(x):
    y = _cubic_graph(x)
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_lets_backward_run_again_and_gradients_double(x):
    y = _cubic_graph(x)
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)
    np.testing.assert_allclose(first, 3 * x.data**2 + 2)


def test_backward_with_explicit_seed_gives_vector_jacobian_product(x):
    seed = np.arange(6.0).reshape(2, 3)
    (x * x).backward(seed)
    np.testing.assert_allclose(x.grad, 2 * x.data * seed)


def test_backward_takes_its_seed_as_pytorch_s_gradient_keyword_or_the_older_grad(x):
    seed = np.arange(6.0).reshape(2, 3)
    (x * x).backward(gradient=seed)
    np.testing.assert_allclose(x.grad, 2 * x.data * seed)
    (x * x).backward(grad=seed)
    np.testing.assert_allclose(x.grad, 4 * x.data * seed)
    with pytest.raises(TypeError, match="both gradient and grad"):
        (x * x).backward(gradient=seed, grad=seed)


def test_shared_subexpression_sums_both_paths(x):
    h = x.exp()  # used by two branches
    (h * h + h).sum().backward()
    e = np.exp(x.data)
    np.testing.assert_allclose(x.grad, 2 * e * e + e)


def test_an_input_reached_again_through_a_later_input_gets_its_whole_gradient(x):
    # b feeds the sum directly (first input) and through exp (second input): b's gradient must
    # hold both paths before it is passed on to x
    b = x * 2
    (b + b.exp()).sum().backward()
    np.testing.assert_allclose(x.grad, 2 + 2 * np.exp(2 * x.data))


def test_ten_thousand_chained_operations_backprop_without_recursion_error():
    x = ng.tensor(np.array([0.3, -0.2]), requires_grad=True)
    c = 1.0001
    y = x
    for _ in range(5_000):  # 10,000 recorded operations
        y = y * c + 0.001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(2, c**5_000), rtol=1e-10)
    del y  # dropping the long chain must not overflow the stack either


def test_no_grad_records_nothing(x):
    with ng.no_grad():
        assert not ng.is_grad_enabled()
        y = (x * 2).sum()
        with ng.enable_grad():
            z = (x * 2).sum()
    assert ng.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and not z.is_leaf
    with pytest.raises(RuntimeError, match="does not require gradients"):
        y.backward()
    assert x.grad is None


def test_no_grad_as_decorator(x):
    @ng.no_grad()
    def infer(t):
        return t * 3

    out = infer(x)
    assert not out.requires_grad and out.is_leaf
    assert ng.is_grad_enabled()


def test_no_grad_and_enable_grad_decorate_without_parentheses(x):
    @ng.no_grad
    def infer(t):
        return t * 3

    @ng.enable_grad
    def record(t):
        return t * 3

    assert not infer(x).requires_grad and infer.__name__ == "infer"
    with ng.no_grad():
        assert record(x).requires_grad and not ng.is_grad_enabled()
    assert ng.is_grad_enabled()
    with pytest.raises(TypeError, match=r"^no_grad takes no arguments .*, got True$"):
        ng.no_grad(True)


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError), ng.no_grad():
        1 / 0  # noqa: B018
    assert ng.is_grad_enabled()


def test_no_grad_in_one_thread_leaves_the_others_recording(x):
    inside, leave = threading.Event(), threading.Event()

    def infer():
        with ng.no_grad():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=infer)
    thread.start()
    assert inside.wait(10)
    try:
        assert ng.is_grad_enabled()  # this thread's mode: another's no_grad does not reach it
        assert (x * 2).sum().requires_grad
    finally:
        leave.set()
        thread.join()
    assert ng.is_grad_enabled()


def test_no_grad_blocks_that_overlap_across_threads_restore_each_thread_s_mode():
    """Thread A enters, B enters, A exits, B exits (as concurrent predicts do): a mode shared by
    the threads would end disabled for good."""
    steps = [threading.Event() for _ in range(3)]
    modes = []

    def a():
        with ng.no_grad():
            steps[0].set()
            steps[1].wait(10)
        steps[2].set()

    def b():
        steps[0].wait(10)
        with ng.no_grad():
            steps[1].set()
            steps[2].wait(10)
        modes.append(ng.is_grad_enabled())

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert modes == [True] and ng.is_grad_enabled()


def test_one_no_grad_decorator_entered_again_before_it_exits(x):
    @ng.no_grad()
    def infer(t, depth):
        return infer(t, depth - 1) if depth else t * 3

    assert not infer(x, 3).requires_grad
    assert ng.is_grad_enabled() and (x * 2).requires_grad


def test_detach_shares_data_and_blocks_gradient(x):
    d = x.detach()
    assert d.data is x.data and not d.requires_grad and d.is_leaf
    (x * d).sum().backward()  # d is a constant: ∂/∂x (x ⊙ c) = c
    np.testing.assert_allclose(x.grad, x.data)


def test_retain_grad_keeps_an_intermediate_gradient():
    rng = np.random.default_rng(0)
    x = ng.tensor(rng.standard_normal((4, 3)))
    w = ng.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    z = (x @ w).retain_grad()
    other = x @ w  # same value, not retained
    loss = (z.tanh() + other.tanh()).sum()
    loss.backward()
    np.testing.assert_allclose(z.grad, 1 - np.tanh(x.data @ w.data) ** 2)
    assert other.grad is None
    np.testing.assert_allclose(w.grad, x.data.T @ (2 * z.grad))


def test_leaf_and_creator_flags(x):
    y = x * 2
    assert x.is_leaf and not y.is_leaf
    data = ng.tensor(np.ones(3))
    assert (data * 2).is_leaf  # nothing required a gradient: no graph


def test_backward_of_a_leaf_itself():
    x = ng.tensor(np.array(3.0), requires_grad=True)
    x.backward()
    assert x.grad == 1.0


def test_item_returns_a_python_number():
    value = ng.tensor(np.array([[2.5]])).item()
    assert value == 2.5 and isinstance(value, float)
    assert ng.tensor(np.array([1, 2])).sum().item() == 3
    with pytest.raises(ng.ShapeError, match=r"one-element.*\(2,\)"):
        ng.tensor(np.array([1.0, 2.0])).item()


def test_numpy_returns_the_tensors_array_itself():
    values = np.array([[1.5, -2.0], [0.25, 4.0]], dtype=np.float32)
    t = ng.tensor(values, requires_grad=True)
    a = t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    np.testing.assert_array_equal(a, values)
    a[0, 0] = 7.0  # shared, not copied: writing through it changes the tensor
    assert t.data[0, 0] == 7.0
    assert (t * 2).numpy()[0, 0] == 14.0


def test_numpy_functions_read_a_tensor_as_its_array_as_pytorch_s_do():
    t = ng.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 2)
    assert np.shares_memory(a, t.data)  # torch: np.asarray(t) shares a CPU tensor's memory
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert not np.shares_memory(np.array(t, copy=True), t.data)
    np.testing.assert_allclose(t, [[1, 2], [3, 4]])
    assert np.concatenate([t, t]).dtype == np.float32
    np.testing.assert_allclose(np.exp(ng.tensor([0.0, 1.0])), [1.0, np.e], rtol=1e-6)


def test_numpy_refuses_a_tensor_that_requires_grad_as_pytorch_does():
    t = ng.tensor([1.0, 2.0], requires_grad=True)
    for convert in (np.asarray, np.array, lambda t: np.array(t, dtype=np.float64)):
        with pytest.raises(RuntimeError, match=r"requires grad.*detach\(\)"):
            convert(t)
    np.testing.assert_array_equal(np.asarray(t.detach()), [1.0, 2.0])


@pytest.mark.parametrize(
    "values, truth", [([0.0], False), (0.0, False), ([[3.0]], True), (-0.5, True), ([1], True)]
)
def test_the_truth_of_a_one_element_tensor_is_its_value_s_as_in_pytorch(values, truth):
    assert bool(ng.tensor(values)) is truth
    assert bool(ng.tensor(np.asarray(values, np.float64), requires_grad=True)) is truth


@pytest.mark.parametrize("shape, amount", [((2, 2), "more than one value"), ((0, 3), "no values")])
def test_the_truth_of_more_or_no_elements_is_ambiguous_as_in_pytorch(shape, amount):
    with pytest.raises(ValueError, match=f"Boolean value of Tensor with {amount} is ambiguous"):
        bool(ng.tensor(np.zeros(shape)))


def test_a_layer_s_repr_tests_its_bias_by_presence_not_truth():
    for out in (1, 3):  # a one-element bias of zeros is present, though false
        assert ng.Linear(2, out).extra_repr() == f"2 -> {out}"
        assert ng.Linear(2, out, bias=False).extra_repr() == f"2 -> {out}, bias=False"


def test_tolist_and_dim_as_pytorch_s():
    t = ng.tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    assert t.tolist() == [[1.0, 2.0]] and t.dim() == 2
    assert ng.tensor(2.5).tolist() == 2.5 and ng.tensor(2.5).dim() == 0
    assert ng.tensor([1, 2]).tolist() == [1, 2]


def test_clone_is_a_copy_that_gradients_flow_through_as_pytorch_s():
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert not c.is_leaf and c.requires_grad and not np.shares_memory(c.data, x.data)
    (c * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])  # torch: tensor([3., 3.])
    with ng.no_grad():
        assert not x.clone().requires_grad
    assert ng.tensor([1.0]).clone().is_leaf


def test_requires_grad_sets_the_flag_in_place_and_returns_the_tensor_as_pytorch_s():
    t = ng.tensor([1.0, 2.0])
    assert t.requires_grad_() is t and t.requires_grad
    assert t.requires_grad_(False) is t and not t.requires_grad
    with pytest.raises(TypeError, match="only floating tensors can require gradients, got dtype"):
        ng.tensor([1, 2]).requires_grad_()
    assert not ng.tensor([1, 2]).requires_grad_(False).requires_grad
    y = t.requires_grad_() * 2
    assert y.requires_grad_() is y  # a computed tensor already requires gradients
    with pytest.raises(RuntimeError, match=r"only a leaf's flag can change.*detach\(\)"):
        y.requires_grad_(False)


@pytest.mark.parametrize("dtype", [None, np.float64])
def test_tensor_copies_its_data_and_Tensor_wraps_it(dtype):
    init = np.zeros((2, 3), np.float32)
    a, b = ng.tensor(init, dtype=dtype), ng.tensor(init[:, 1:], dtype=dtype)
    c = ng.tensor(a)
    init += 1.0
    assert not (a.data.any() or b.data.any() or c.data.any())
    c.data -= 1.0
    assert not a.data.any()
    wrapped = ng.Tensor(init)  # as torch.as_tensor: the caller's array itself
    init[0, 0] = 5.0
    assert wrapped.data[0, 0] == 5.0


def test_new_tensor_dtypes():
    assert ng.tensor(1.5).dtype == np.float32
    assert ng.tensor([1.0, 2.0]).dtype == np.float32
    assert ng.tensor(np.ones(2)).dtype == np.float64
    assert ng.tensor(np.ones(2, np.float32)).dtype == np.float32
    assert ng.tensor(np.ones(2, np.float16)).dtype == np.float32
    assert ng.tensor(np.array([1, 2])).dtype.kind == "i"  # labels stay integer
    assert ng.tensor(np.ones(2), dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("data", [np.array([1, 2, 3]), [1, 2], np.array([True])])
def test_integer_and_bool_tensors_cannot_require_grad(data):
    with pytest.raises(TypeError, match="floating"):
        ng.tensor(data, requires_grad=True)


def test_float32_scalar_operands_do_not_upcast():
    x = ng.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    loss = (2.0 * x + 1 - x / 3.0) ** 2
    loss = F.mean(loss * 0.5 + np.float64(0.25))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32


def test_repr_names_dtype_and_grad_flag():
    text = repr(ng.tensor(np.array([1.0, 2.0]), requires_grad=True))
    assert text.startswith("tensor([1., 2.]") and "float64" in text and "requires_grad" in text


def test_a_decorated_generator_runs_its_body_in_the_mode_at_every_resumption():
    """The mode was set only while the generator was made: its body recorded the graph."""
    w = ng.tensor([1.0], requires_grad=True)
    seen = []

    @ng.no_grad
    def values():
        try:
            while True:
                received = yield (w * 2).requires_grad
                seen.append((received, ng.is_grad_enabled()))
        finally:
            seen.append(("closed", ng.is_grad_enabled()))

    stream = values()
    assert next(stream) is False and ng.is_grad_enabled()
    assert stream.send("x") is False and seen == [("x", False)]
    stream.close()
    assert seen[-1] == ("closed", False) and ng.is_grad_enabled()

    @ng.enable_grad()
    def counted():
        yield ng.is_grad_enabled()
        return "done"

    with ng.no_grad():
        assert list(counted()) == [True] and not ng.is_grad_enabled()


def test_a_tensor_or_parameter_made_of_a_tensor_that_requires_grad_takes_its_array():
    """Review 79: Tensor(t) and Parameter(t) read t through np.asarray, which refuses a tensor
    that requires grad (Tensor.__array__, as PyTorch's); they take its array, as
    torch.nn.Parameter(t) shares t's storage: a new leaf, t's dtype kept."""
    layer = ng.Linear(3, 2, seed=0, dtype=np.float64)
    w = layer.weight
    for made in (ng.Parameter(w), ng.Tensor(w), ng.Parameter(w * 2)):
        assert made.dtype == np.float64 and made.is_leaf and made.data.shape == (3, 2)
    assert ng.Parameter(layer.weight).data is layer.weight.data
    assert ng.Tensor(layer.weight, dtype=np.float32).dtype == np.float32


def test_numpy_s_reductions_and_int_of_a_tensor_work_as_pytorch_s():
    """Review 84: np.sum(t), np.mean(t), np.max(t) call t.sum(axis, dtype=None, out=None),
    which the methods refused (a TypeError), and int(t) was one; as PyTorch's, they give a
    tensor (differentiable) and a Python int."""
    t = ng.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert float(np.sum(t)) == 10 and np.mean(t, axis=0).tolist() == [2, 3]
    assert float(np.max(t)) == 4 and int(ng.tensor([3.7])) == 3
    w = ng.tensor([1.0, 2.0], requires_grad=True)
    np.sum(w * w).backward()
    assert w.grad.tolist() == [2, 4]
    with pytest.raises(TypeError, match=r"^Tensor.sum: a tensor reduces in its own dtype"):
        np.sum(t, dtype=np.float64)
