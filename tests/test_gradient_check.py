"""gradcheck and check_gradients must catch a wrong backward, not only bless a right one."""

from __future__ import annotations

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.functional import layers as functional_layers
from nudgenet.tensor import Function


class Square(Function):
    """out = a²; da = 2 a g"""

    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        return (2 * self.a * g,)


class WrongSquare(Square):
    """The classic slip: the factor 2 forgotten."""

    def backward(self, g):
        return (self.a * g,)


class WrongSecondInput(Function):
    """out = a ⊙ b with b's gradient using a + 1 instead of a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        return g * self.b, g * (self.a + 1)


@pytest.fixture
def x():
    return ng.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)


def test_gradcheck_accepts_a_correct_backward(x):
    assert ng.gradcheck(Square.apply, x) is True


def test_gradcheck_detects_a_wrong_backward(x):
    with pytest.raises(
        ng.GradcheckError,
        match=r"input 0 \(shape \(3, 4\)\).*backprop gives.*finite differences give",
    ):
        ng.gradcheck(WrongSquare.apply, x)
    assert ng.gradcheck(WrongSquare.apply, x, raise_exception=False) is False
    assert issubclass(ng.GradcheckError, AssertionError)


class NaNBackward(Function):
    def forward(self, a):
        return 2 * a

    def backward(self, g):
        return (g * np.nan,)


class RowDroppingBackward(Function):
    """out = a · c per column; its backward wrongly gives one row, shape (columns,)."""

    def forward(self, a, c):
        self.c = c
        return a * c

    def backward(self, g):
        return (g[0] * self.c,)


def test_gradcheck_fails_a_backward_that_gives_nan(x):
    """NaN compared as "not above the tolerance", so an all-NaN backward passed."""
    with pytest.raises(ng.GradcheckError, match=r"backprop gives nan, finite differences give"):
        ng.gradcheck(NaNBackward.apply, x)
    assert ng.gradcheck(NaNBackward.apply, x, raise_exception=False) is False


def test_a_gradient_of_another_shape_fails_gradcheck_and_never_reaches_a_grad(x):
    """A (4,) gradient for a (3, 4) input was broadcast into every row of a parameter's .grad
    and passed gradcheck; the engine now refuses it, naming the rule."""
    c = np.arange(1.0, 5.0)
    expected = (r"RowDroppingBackward's backward gives a gradient of shape \(4,\) for an input "
                r"of shape \(3, 4\)")  # fmt: skip
    scaled = lambda a: RowDroppingBackward.apply(a, c=c)  # noqa: E731
    with pytest.raises(ng.GradcheckError, match=f"gradcheck: {expected}"):
        ng.gradcheck(scaled, x)
    assert ng.gradcheck(scaled, x, raise_exception=False) is False
    p = ng.Parameter(np.zeros((3, 4)))
    optimizer = ng.optim.SGD([p], lr=1.0)
    optimizer.zero_grad()
    with pytest.raises(ng.ShapeError, match=expected):
        RowDroppingBackward.apply(p, c=c).sum().backward()
    assert not np.any(p.grad)  # nothing broadcast into it
    with pytest.raises(ng.ShapeError, match=expected):
        ng.grad(RowDroppingBackward.apply(x, c=c).sum(), x)


def test_gradcheck_names_the_input_that_is_wrong(x):
    b = ng.tensor(np.random.default_rng(1).standard_normal((3, 4)), requires_grad=True)
    with pytest.raises(ng.GradcheckError, match=r"input 1 .*12 of 12 elements out of tolerance"):
        ng.gradcheck(WrongSecondInput.apply, x, b)
    # with b as data the wrong rule is never used, and the check passes
    assert ng.gradcheck(WrongSecondInput.apply, x, b.detach())


def test_gradcheck_leaves_existing_gradients_and_values_alone(x):
    x.grad = np.full(x.shape, 7.0)
    values = x.data.copy()
    ng.gradcheck(Square.apply, x)
    np.testing.assert_array_equal(x.grad, np.full(x.shape, 7.0))
    np.testing.assert_array_equal(x.data, values)


def test_gradcheck_perturbs_non_contiguous_inputs_in_place():
    a = np.random.default_rng(2).standard_normal((3, 4))
    transposed = ng.Tensor(a.T, requires_grad=True)  # a view no flat reshape can alias
    assert not transposed.data.flags["C_CONTIGUOUS"]
    assert ng.gradcheck(Square.apply, transposed)
    with pytest.raises(ng.GradcheckError):
        ng.gradcheck(WrongSquare.apply, transposed)
    np.testing.assert_array_equal(transposed.data, a.T)


def test_gradcheck_needs_float64_and_a_gradient():
    with pytest.raises(TypeError, match="float64.*got float32 for input 0"):
        ng.gradcheck(Square.apply, ng.tensor(np.ones(2, np.float32), requires_grad=True))
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        ng.gradcheck(Square.apply, ng.tensor(np.ones(2)))


# --- check_gradients on a model ---------------------------------------------------------------


def _small_mlp():
    return ng.Sequential(
        ng.Linear(4, 5, seed=0, bias_init=ng.init.uniform(-0.5, 0.5)),
        ng.Tanh(),
        ng.Linear(5, 4, seed=1),
        ng.Sigmoid(),
        ng.Linear(4, 3, seed=2),
    )


@pytest.fixture
def batch():
    rng = np.random.default_rng(3)
    return rng.standard_normal((6, 4)).astype(np.float32), np.array([0, 1, 2, 2, 1, 0])


def test_check_gradients_passes_and_prints_its_table(batch, capsys):
    model = _small_mlp()
    before = model.state_dict()
    report = ng.check_gradients(model, ng.CrossEntropyLoss(), *batch)
    assert report.passed
    names = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert [p.name for p in report.parameters] == names
    assert [p.checked for p in report.parameters] == [20, 5, 20, 4, 12, 3]
    assert all(p.max_abs_error < 1e-7 for p in report.parameters)
    print(report)
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == [
        "parameter",
        "shape",
        "checked",
        "max",
        "abs",
        "err",
        "max",
        "rel",
        "err",
        "result",
    ]
    for name in names:
        assert any(line.startswith(name) and line.endswith("pass") for line in table.splitlines())
    assert "all gradients match" in table
    assert report.to_dict()["passed"] is True
    # the model itself is untouched: still float32, same values, no gradients
    assert model.dtype == np.float32
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    assert all(p.grad is None for p in model.parameters())


def test_check_gradients_fails_when_a_backward_is_sabotaged(batch, monkeypatch):
    original = functional_layers.TanhFunction.backward

    def off_by_one_percent(self, g):
        return tuple(1.01 * d for d in original(self, g))

    monkeypatch.setattr(functional_layers.TanhFunction, "backward", off_by_one_percent)
    report = ng.check_gradients(_small_mlp(), ng.CrossEntropyLoss(), *batch)
    assert not report.passed
    verdicts = {p.name: p.passed for p in report.parameters}
    # only the parameters below the Tanh receive the scaled gradient
    assert verdicts == {
        "0.weight": False,
        "0.bias": False,
        "2.weight": True,
        "2.bias": True,
        "4.weight": True,
        "4.bias": True,
    }
    worst = report.parameters[0]
    assert worst.max_rel_error == pytest.approx(0.01 / 1.01, rel=1e-3)
    assert "FAIL" in str(report) and "GRADIENT MISMATCH" in str(report)


def test_check_gradients_samples_large_parameters(batch):
    x = np.random.default_rng(4).standard_normal((5, 30))
    y = np.random.default_rng(5).standard_normal((5, 2))
    model = ng.Sequential(ng.Linear(30, 20, seed=0), ng.ReLU(), ng.Linear(20, 2, seed=1))
    report = ng.check_gradients(model, ng.MSELoss(), x, y, max_checks_per_parameter=50)
    assert [p.checked for p in report.parameters] == [50, 20, 40, 2]
    assert report.passed


def test_check_gradients_skips_frozen_parameters_and_names_them(batch):
    model = _small_mlp()
    for p in model[0].parameters():
        p.requires_grad = False
    report = ng.check_gradients(model, ng.CrossEntropyLoss(), *batch)
    assert [p.name for p in report.parameters] == ["2.weight", "2.bias", "4.weight", "4.bias"]
    assert report.passed and report.frozen == ["0.weight", "0.bias"]
    assert report.to_dict()["frozen"] == ["0.weight", "0.bias"]
    assert "not checked, frozen (requires_grad=False): 0.weight, 0.bias" in str(report)
    for p in model.parameters():
        p.requires_grad = False
    with pytest.raises(ValueError, match="^check_gradients: expected a parameter with "):
        ng.check_gradients(model, ng.CrossEntropyLoss(), *batch)


# --- check_gradients with a loss that takes the inputs (DifferentialLoss) ---------------------


def _differential_case():
    """A softplus network on Black-Scholes payoffs and their pathwise deltas: the target rows
    are the value, then its derivative by the one input."""
    data = ng.datasets.black_scholes_mc(512, seed=1)
    model = ng.Sequential(ng.Linear(1, 8, seed=0), ng.Softplus(), ng.Linear(8, 1, seed=1))
    return model.double(), data.x[:8], np.hstack([data.payoff, data.differentials])[:8]


def test_check_gradients_passes_inputs_to_a_differential_loss():
    """It called the loss without inputs=, which DifferentialLoss refuses (TypeError); the
    parameters' gradients pass through the input gradient's graph (second derivatives)."""
    model, x, y = _differential_case()
    report = ng.check_gradients(model, ng.DifferentialLoss(alpha=0.3), x, y)
    assert report.passed, str(report)
    assert [p.name for p in report.parameters] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert report.loss == pytest.approx(
        ng.evaluate(model, ng.DifferentialLoss(alpha=0.3), x, y)["loss"], rel=1e-12
    )


def test_check_gradients_catches_a_wrong_second_derivative(monkeypatch):
    """Softplus's recorded backward g·σ(z) with σ taken as a constant: the input gradient (and
    so the loss) is right, but its derivative by the parameters below the Softplus misses the
    σ'(z) term; the finite differences see it."""
    model, x, y = _differential_case()
    monkeypatch.setattr(
        functional_layers.SoftplusFunction,
        "backward_graph",
        lambda fn, g: (g * ng.tensor(functional_layers.sigmoid(fn.inputs[0]).data),),
    )
    report = ng.check_gradients(model, ng.DifferentialLoss(alpha=0.3), x, y)
    assert not report.passed
    verdicts = {p.name: p.passed for p in report.parameters}
    # the output layer's gradients never pass through σ'; the first layer's do
    assert verdicts == {"0.weight": False, "0.bias": False, "2.weight": True, "2.bias": True}


@pytest.mark.parametrize("loss_fn", [ng.MSELoss(), ng.BCEWithLogitsLoss()])
def test_check_gradients_takes_targets_of_shape_n_for_one_output(loss_fn):
    model = ng.Sequential(ng.Linear(3, 8, seed=0), ng.Tanh(), ng.Linear(8, 1, seed=1))
    x = np.random.default_rng(0).standard_normal((5, 3))
    assert ng.check_gradients(model, loss_fn, x, np.array([0.0, 1, 1, 0, 1])).passed


def test_check_gradients_takes_one_example_as_explain_and_nudge_test_do():
    """A 1-D row with a scalar target (a value, or a class for BCE's one output), as explain
    and nudge_test take it (one rule for the three: nudgenet.rows)."""
    x = np.random.default_rng(0).normal(size=(4, 3))
    regression = ng.Sequential(ng.Linear(3, 1, seed=0))
    for loss, target in ((ng.MSELoss(), 1.5), (ng.BCEWithLogitsLoss(), 1)):
        report = ng.check_gradients(regression, loss, x[0], target)
        assert report.passed and report.parameters[0].checked == 3
        same = ng.check_gradients(regression, loss, x[:1], np.array([target]))
        assert report.loss == same.loss == pytest.approx(float(
            ng.explain(regression, loss, x[0], target).loss))  # fmt: skip
    with pytest.raises(ng.ShapeError, match="inputs have 1 rows but targets have no rows"):
        ng.explain(regression, ng.MSELoss(), x[:1], 1.5)  # rows of 2-D x: a target per row
    with pytest.raises(ng.ShapeError, match="inputs have 1 rows but targets have no rows"):
        ng.check_gradients(regression, ng.MSELoss(), x[:1], 1.5)
