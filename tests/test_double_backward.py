"""Gradients of gradients: every primitive's recorded backward (``backward_graph``) against its
array backward and, differentiated again, against finite differences (``ng.gradgradcheck``),
driven by the same table as the first-order checks (tests/test_functional.py's CASES) and the
same layer examples (tests/test_layers_contract.py's EXAMPLES); Hessian-vector products and a
small MLP's full Hessian; and ``ng.grad`` / ``backward(create_graph=True)``'s semantics.
"""

from __future__ import annotations

import numpy as np
import pytest

import nudgenet as ng
import nudgenet.functional as F
from nudgenet.functional.graph_backward import RULES, Masked, ScatterAdd
from nudgenet.functional.layers import ActivationFunction
from nudgenet.tensor import Function
from test_functional import CASES, make_inputs, spec
from test_layers_contract import EXAMPLES, _inputs

SCATTER = pytest.param(
    lambda a: ScatterAdd.apply(a, shape=(3, 5), index=(np.array([0, 2, 0]), np.array([1, 4, 1]))),
    None,
    (spec((3,)),),
    id="scatter_add-repeats",
)
MASKED = pytest.param(
    lambda g, x: Masked.apply(g, x, mask=np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])),
    None,
    (spec((2, 3)), spec((2, 3))),
    id="masked-gradient",
)
TABLE = [*CASES, SCATTER, MASKED]


def _primitives() -> set[type]:
    """Every Function subclass nudgenet defines (ActivationFunction is an abstract base)."""
    found, todo = set(), [Function]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("nudgenet.") and sub is not ActivationFunction:
                found.add(sub)
    return found


def _creators(out: ng.Tensor) -> set[type]:
    seen, todo, kinds = set(), [out], set()
    while todo:
        t = todo.pop()
        if id(t) in seen or t._creator is None:
            continue
        seen.add(id(t))
        kinds.add(type(t._creator))
        todo.extend(t._creator.inputs)
    return kinds


def test_every_primitive_has_a_rule_and_is_in_the_tables():
    """A new primitive fails here until it has a backward_graph rule and a case in a table."""
    primitives = _primitives()
    missing = {p.__name__ for p in primitives if p.backward_graph is Function.backward_graph}
    assert not missing, f"primitives without a differentiable backward rule: {sorted(missing)}"
    assert set(RULES) == primitives
    used = set()
    for param in TABLE:
        fn, _, specs = param.values
        used |= _creators(fn(*make_inputs(specs, np.float64)[1]))
    for examples in EXAMPLES.values():
        for make, features in examples:
            for training in (True, False):
                x = ng.tensor(_inputs(features), requires_grad=True)
                used |= _creators(make().double().train(training)(x))
    assert not {p.__name__ for p in primitives - used}, "primitives no table case runs"


@pytest.mark.parametrize(("fn", "ref", "specs"), TABLE)
def test_recorded_backward_agrees_with_the_array_backward(fn, ref, specs):
    _, tensors = make_inputs(specs, np.float64)
    wanted = [t for t in tensors if t.requires_grad]
    out = fn(*tensors)
    v = np.random.default_rng(3).standard_normal(out.shape)
    arrays = ng.grad(out, wanted, v, retain_graph=True)
    recorded = ng.grad(out, wanted, v, create_graph=True)
    for a, r in zip(arrays, recorded):
        np.testing.assert_allclose(r.data, a.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("fn", "ref", "specs"), TABLE)
def test_second_derivatives_match_finite_differences(fn, ref, specs):
    _, tensors = make_inputs(specs, np.float64)
    assert ng.gradgradcheck(fn, *tensors)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_layer_passes_gradgradcheck(name):
    for make, features in EXAMPLES[name]:
        x = ng.tensor(_inputs(features), requires_grad=True)
        assert ng.gradgradcheck(lambda t, make=make: make().double()(t), x)  # fresh (Dropout)
        for training in (True, False):
            layer = make().double().train(training)
            if training and name == "Dropout":
                continue  # a new mask each call: checked fresh above
            assert ng.gradgradcheck(lambda t, *p, layer=layer: layer(t), x, *layer.parameters())


class Cube(Function):
    """out = a³; da = 3a² g"""

    def forward(self, a):
        self.a = a
        return a**3

    def backward(self, g):
        return (3 * self.a**2 * g,)

    def backward_graph(self, g):
        a = self.inputs[0]
        return (3 * a * a * g,)


class CubeRecordedWrong(Cube):
    """The recorded rule slips: 3a g."""

    def backward_graph(self, g):
        return (3 * self.inputs[0] * g,)


class CubeRecordedAsConstant(Cube):
    """The recorded rule has the right value but reads a as a constant: no graph through a."""

    def backward_graph(self, g):
        return (3 * ng.tensor(self.a**2) * g,)


def test_gradgradcheck_catches_a_wrong_recorded_rule():
    x = ng.tensor(np.linspace(0.5, 1.5, 4), requires_grad=True)
    assert ng.gradgradcheck(Cube.apply, x)
    for wrong, message in [
        (CubeRecordedWrong, "recorded backward .* gives another gradient"),
        (CubeRecordedAsConstant, "input 0 .*backprop gives.*finite differences give"),
    ]:
        assert ng.gradcheck(wrong.apply, x)
        with pytest.raises(ng.GradcheckError, match=message):
            ng.gradgradcheck(wrong.apply, x)
        assert ng.gradgradcheck(wrong.apply, x, raise_exception=False) is False
    with pytest.raises(TypeError, match="float64"):
        ng.gradgradcheck(F.tanh, x, grad_outputs=np.ones(4, np.float32))


def test_a_primitive_without_a_rule_is_named():
    class Twice(Function):
        def forward(self, a):
            return 2 * a

        def backward(self, g):
            return (2 * g,)

    x = ng.tensor([1.0, 2.0], requires_grad=True)
    assert ng.grad(Twice.apply(x).sum(), x)[0].data.tolist() == [2.0, 2.0]
    with pytest.raises(NotImplementedError, match="Twice has no differentiable backward.*"
                       "define its backward_graph"):  # fmt: skip
        ng.grad(Twice.apply(x).sum(), x, create_graph=True)


# --- Hessians of a small MLP's loss -------------------------------------------------------------


def _mlp_loss():
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 1, seed=1)).double()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 1))
    params = model.parameters()
    return (lambda: ng.functional.mse_loss(model(x), y)), params


def _flat_gradient(loss_fn, params) -> np.ndarray:
    return np.concatenate([g.data.ravel() for g in ng.grad(loss_fn(), params)])


def _shift(params, step: np.ndarray) -> None:
    offset = 0
    for p in params:
        p.data += step[offset : offset + p.size].reshape(p.shape)
        offset += p.size


def test_hessian_vector_product_matches_finite_differences():
    loss_fn, params = _mlp_loss()
    n = sum(p.size for p in params)
    v = np.random.default_rng(1).standard_normal(n)
    grads = ng.grad(loss_fn(), params, create_graph=True)
    pieces, offset = [], 0
    for g, p in zip(grads, params):
        pieces.append((g * v[offset : offset + p.size].reshape(p.shape)).sum())
        offset += p.size
    hv = np.concatenate([h.data.ravel() for h in ng.grad(sum(pieces[1:], pieces[0]), params)])
    eps = 1e-5
    _shift(params, eps * v)
    plus = _flat_gradient(loss_fn, params)
    _shift(params, -2 * eps * v)
    minus = _flat_gradient(loss_fn, params)
    _shift(params, eps * v)
    np.testing.assert_allclose(hv, (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_full_hessian_matches_finite_differences_and_is_symmetric():
    loss_fn, params = _mlp_loss()
    n = sum(p.size for p in params)
    grads = ng.grad(loss_fn(), params, create_graph=True)
    flat = [(g.reshape(-1), k) for g in grads for k in range(g.size)]
    hessian = np.stack(
        [
            np.concatenate(
                [h.data.ravel() for h in ng.grad(row[k], params, retain_graph=True)]
            )
            for row, k in flat
        ]
    )
    eps, numeric = 1e-5, np.empty((n, n))
    for i in range(n):
        step = np.zeros(n)
        step[i] = eps
        _shift(params, step)
        plus = _flat_gradient(loss_fn, params)
        _shift(params, -2 * step)
        minus = _flat_gradient(loss_fn, params)
        _shift(params, step)
        numeric[i] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-10, atol=1e-12)
    assert np.abs(hessian).max() > 0.1  # something non-trivial was compared


# --- semantics ----------------------------------------------------------------------------------


def _x():
    return ng.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)


def test_grad_returns_gradients_and_leaves_dot_grad_alone():
    x = _x()
    w = ng.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    (gx,) = ng.grad((x * w).sum(), x)
    np.testing.assert_array_equal(gx.data, w.data)
    assert not gx.requires_grad and x.grad is None and w.grad is None
    y = x * x  # a gradient with respect to a non-leaf tensor
    (gy,) = ng.grad((y * w).sum(), y)
    np.testing.assert_array_equal(gy.data, w.data)


def test_create_graph_gives_differentiable_gradients_in_the_input_dtype():
    x = ng.tensor(np.array([0.5, 1.0], np.float32), requires_grad=True)
    (g,) = ng.grad((x**3).sum(), x, create_graph=True)
    assert g.requires_grad and g.dtype == np.float32
    (gg,) = ng.grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, 6 * x.data)
    assert gg.dtype == np.float32


def test_retain_graph_defaults_to_create_graph():
    x = _x()
    out = (x.tanh() * x).sum()
    ng.grad(out, x)  # retain_graph=False: the saved values are released
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        ng.grad(out, x)
    out = (x.tanh() * x).sum()
    first = ng.grad(out, x, create_graph=True)[0]  # retained
    np.testing.assert_allclose(ng.grad(out, x)[0].data, first.data)
    out = (x.tanh() * x).sum()
    ng.grad(out, x, create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="second time"):
        ng.grad(out, x)


def test_allow_unused():
    x, unused = _x(), _x()
    with pytest.raises(RuntimeError, match="input 1 .* not used.*allow_unused=True"):
        ng.grad((x * x).sum(), [x, unused])
    gx, gu = ng.grad((x * x).sum(), [x, unused], allow_unused=True)
    np.testing.assert_array_equal(gx.data, 2 * x.data)
    assert gu is None


def test_grad_outputs_and_non_scalar_errors():
    x = _x()
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(3,\) needs a gradient argument"):
        ng.grad(y, x)
    with pytest.raises(ng.ShapeError, match=r"gradient shape \(2,\) does not match.*\(3,\)"):
        ng.grad(y, x, grad_outputs=np.ones(2))
    with pytest.raises(ValueError, match="2 grad_outputs for 1 outputs"):
        ng.grad(y, x, grad_outputs=[np.ones(3), np.ones(3)])
    with pytest.raises(RuntimeError, match="input 0 .* does not require gradients"):
        ng.grad(y, ng.tensor([1.0, 2.0, 3.0]))
    (g,) = ng.grad([y, x.sum()], x, grad_outputs=[np.array([1.0, 2.0, 3.0]), None])
    np.testing.assert_array_equal(g.data, [3.0, 5.0, 7.0])  # the two outputs' sum


def test_differentiating_a_gradient_taken_without_create_graph_says_what_to_pass():
    """The error blamed requires_grad and no_grad only."""
    x = _x()
    (g,) = ng.grad((x**3).sum(), x)
    advice = "a gradient taken without create_graph=True"
    with pytest.raises(RuntimeError, match=f"output 0 .*does not require gradients.*{advice}"):
        ng.grad(g.sum(), x)
    with pytest.raises(RuntimeError, match=f"backward\\(\\) called .*{advice}"):
        g.sum().backward()


def test_grad_toward_an_intermediate_leaves_the_graph_below_it_alone():
    """grad(C, h) ran h's own creator for nothing and released it, so a later backward through
    h failed ("through the graph a second time"); PyTorch runs only what leads to the inputs."""
    x = _x()
    h = x.tanh()
    (dh,) = ng.grad((h * h).sum(), h)
    np.testing.assert_allclose(dh.data, 2 * np.tanh(x.data))
    assert not h._creator.released
    h.sum().backward()
    np.testing.assert_allclose(x.grad, 1 - np.tanh(x.data) ** 2)


class ForgotItsReturn(Function):
    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        2 * self.a * g  # noqa: B018 (the slip: no return)


def test_a_backward_rule_returning_none_is_an_error_not_a_skipped_node():
    """A skip added for grad() toward an intermediate took a rule's missing return for "skip
    this node": the parameters then never trained, silently."""
    for take in (lambda out, x: out.backward(), lambda out, x: ng.grad(out, x)):
        x = _x()
        with pytest.raises(TypeError, match="ForgotItsReturn's backward rule returned None"):
            take(ForgotItsReturn.apply(x * 3).sum(), x)


def test_grad_toward_an_intermediate_whose_creator_a_pass_released_still_works():
    x = _x()
    h = x.tanh()
    h.sum().backward()  # an ordinary pass releases tanh's saved values
    (dh,) = ng.grad((h * h).sum(), h)  # needs nothing below h
    np.testing.assert_allclose(dh.data, 2 * h.data)


def test_gradgradcheck_fails_a_rule_of_another_shape_without_raising_when_asked():
    class RowDropping(Function):
        def forward(self, a):
            return a * 2

        def backward(self, g):
            return (g[0] * 2,)

        def backward_graph(self, g):
            return (g[0] * 2,)

    x = ng.tensor(np.ones((3, 2)), requires_grad=True)
    assert ng.gradgradcheck(RowDropping.apply, x, raise_exception=False) is False
    with pytest.raises(ng.GradcheckError, match="RowDropping's backward gives a gradient of shape"):
        ng.gradgradcheck(RowDropping.apply, x)


def test_grad_outputs_take_the_output_dtype_under_create_graph():
    x = ng.tensor(np.array([0.5, 1.0], np.float32), requires_grad=True)
    for seed in (np.ones(2), ng.tensor(np.ones(2))):  # float64 seeds, as without create_graph
        (g,) = ng.grad(x * 2, x, seed, create_graph=True)
        assert g.dtype == np.float32
    with pytest.raises(TypeError, match="gradient dtype float64 does not match.*float32"):
        ng.grad(x * 2, x, ng.tensor(np.ones(2), requires_grad=True), create_graph=True)


def test_grad_outputs_tensor_is_differentiated_too():
    """The double-backward trick: J v is linear in v, and differentiable with respect to it."""
    x = _x()
    v = ng.tensor(np.array([1.0, -1.0, 0.5]), requires_grad=True)
    (g,) = ng.grad(x.exp(), x, grad_outputs=v, create_graph=True)  # v ⊙ eˣ
    (dv,) = ng.grad(g.sum(), v)
    np.testing.assert_allclose(dv.data, np.exp(x.data))


def test_backward_create_graph_keeps_a_gradient_tensor_for_a_penalty():
    """A gradient penalty ‖∂L/∂w‖² by backward(create_graph=True), against finite differences."""
    x = np.array([[0.5, -1.0], [1.5, 0.25]])

    def loss_and_grad(w_values):
        w = ng.tensor(w_values.copy(), requires_grad=True)
        F.linear(x, w).tanh().sum().backward(create_graph=True)
        return w

    w = loss_and_grad(np.array([[0.3], [-0.7]]))
    np.testing.assert_array_equal(w.grad_tensor.data, w.grad)
    penalty = (w.grad_tensor * w.grad_tensor).sum()
    w.grad = None
    penalty.backward()
    eps, numeric = 1e-6, np.empty(2)
    for i in range(2):
        shifted = [np.array([[0.3], [-0.7]]) for _ in range(2)]
        shifted[0][i, 0] += eps
        shifted[1][i, 0] -= eps
        plus, minus = ((loss_and_grad(s).grad ** 2).sum() for s in shifted)
        numeric[i] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(w.grad.ravel(), numeric, rtol=1e-6)
    w.zero_grad()
    assert w.grad_tensor is None


def test_recorded_passes_accumulate_their_graphs_and_plain_passes_their_values():
    """Two micro-batches with create_graph=True: the penalty ‖G‖² of the summed gradient
    G = 3w²(x1 + x2) differentiates through both (the first was kept as a constant: −1.125,
    −540); a later plain pass adds to .grad_tensor as to .grad (it was left stale)."""
    w = ng.tensor(np.array([0.5, -1.0]), requires_grad=True)
    x1, x2 = np.array([1.0, 2.0]), np.array([-0.5, 3.0])
    (w**3 * x1).sum().backward(create_graph=True)
    (w**3 * x2).sum().backward(create_graph=True)
    gradient = 3 * w.data**2 * (x1 + x2)
    np.testing.assert_array_equal(w.grad_tensor.data, w.grad)
    (slope,) = ng.grad((w.grad_tensor**2).sum(), w)
    np.testing.assert_allclose(slope.data, 2 * gradient * 6 * w.data * (x1 + x2))  # [1.125, -900]
    (w**2).sum().backward()
    np.testing.assert_array_equal(w.grad_tensor.data, w.grad)
    np.testing.assert_allclose(w.grad, gradient + 2 * w.data)
    w.grad = None  # as a user resets it: the old tensor is no longer the gradient
    assert w.grad_tensor is None
    (w * 3).sum().backward()
    assert w.grad_tensor is None and w.grad.tolist() == [3.0, 3.0]


def test_powers_at_zero_have_derivatives_not_nan(recwarn):
    """b aᵇ⁻¹ at a = b = 0 and aᵇ ln a at a = 0 ≤ b are 0·∞, which is 0 (PyTorch's value); they
    were NaN (d/dx x⁰, d²/dx² x¹, d³/dx³ x², d/db xᵇ at x = 0), and gradcheck passed them."""
    x = ng.tensor(np.array([0.0, 1.5]), requires_grad=True)
    (first,) = ng.grad((x**0).sum(), x)
    assert first.data.tolist() == [0.0, 0.0]
    (first,) = ng.grad((x**1).sum(), x, create_graph=True)
    (second,) = ng.grad(first.sum(), x)
    assert second.data.tolist() == [0.0, 0.0]
    (first,) = ng.grad((x**2).sum(), x, create_graph=True)
    (second,) = ng.grad(first.sum(), x, create_graph=True)
    (third,) = ng.grad(second.sum(), x)
    assert third.data.tolist() == [0.0, 0.0]
    b = ng.tensor(np.array([2.0, 0.0]), requires_grad=True)
    a = ng.tensor(np.array([0.0, 0.0]), requires_grad=True)
    assert ng.grad((a**b).sum(), b)[0].data.tolist() == [0.0, 0.0]
    assert ng.gradgradcheck(lambda t: t**1 + t**2 + t**3, x)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_an_optimizers_zero_grad_drops_the_gradient_tensors():
    """As Tensor.zero_grad does: no stale gradient tensor (holding its graph) beside a later
    plain backward's .grad."""
    w = _x()
    optimizer = ng.optim.SGD([w], lr=0.1)
    (w**3).sum().backward(create_graph=True)
    optimizer.zero_grad()
    assert w.grad_tensor is None
    (w * w).sum().backward()
    assert w.grad_tensor is None and w.grad.tolist() == (2 * w.data).tolist()


def test_backward_without_create_graph_records_nothing():
    x = _x()
    (x * x).sum().backward()
    assert x.grad_tensor is None and isinstance(x.grad, np.ndarray)


@pytest.mark.parametrize("layer", [ng.ReLU, lambda: ng.LeakyReLU(0.1)])
def test_a_gradient_through_a_relu_differentiates_to_zeros_in_its_input(layer):
    """The gamma of a ReLU pricer (∂²y/∂x²) raised "not used to compute the outputs", and a
    ReLU's gradient differentiated again "taken without create_graph=True": the mask entered as
    a constant, cutting the gradient from the input.  PyTorch gives zeros."""
    model = ng.Sequential(ng.Linear(2, 8, seed=0), layer(), ng.Linear(8, 1, seed=1)).double()
    x = ng.tensor(np.random.default_rng(0).standard_normal((4, 2)), requires_grad=True)
    (delta,) = ng.grad(model(x).sum(), x, create_graph=True)
    (gamma,) = ng.grad(delta[:, 0].sum(), x)
    np.testing.assert_array_equal(gamma.data, np.zeros((4, 2)))
    t = ng.tensor(np.array([-1.0, 2.0]), requires_grad=True)
    (g,) = ng.grad(layer()(t).sum(), t, create_graph=True)
    assert ng.grad(g.sum(), t)[0].data.tolist() == [0.0, 0.0]
