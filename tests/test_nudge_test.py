"""The nudge test flags a relative error above its tolerance and says why (a ReLU kink crossed,
a step too large, a change lost in rounding), in Python, in `nudgenet explain` and its --json."""

import json
import re

import numpy as np
import pytest

import nudgenet as ng
from nudgenet import cli


def _on_a_kink():
    """A ReLU unit whose input is 1e-6 (x = 1e-6, weight 1, bias 0): a step of 1e-4 against the
    gradient pushes it below 0, where the cost stops depending on it."""
    model = ng.Sequential(ng.Linear(1, 1, seed=0), ng.ReLU(), ng.Linear(1, 1, seed=1)).double()
    model[0].weight.data[:] = 1
    model[0].bias.data[:] = 0
    model[2].weight.data[:] = 3
    model[2].bias.data[:] = 0
    return model, np.array([[1e-6]]), np.array([[-1.0]])


def _smooth():
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    x = np.random.default_rng(0).normal(size=(5, 3))
    return model, x, np.array([0, 1, 1, 0, 1])


def _suggested_eps(reason: str) -> float:
    return float(re.search(r"try a smaller eps \(e\.g\. ([0-9.e+-]+)\)", reason)[1])


def test_a_smooth_cost_passes_within_the_tolerance():
    model, x, y = _smooth()
    check = ng.nudge_test(model, ng.CrossEntropyLoss(), x, y)
    assert check.passed and check.reason is None and check.tolerance == 0.01
    assert check.relative_error < 1e-3 and check.kinks_crossed == 0
    assert "ok: within the tolerance 1e-02" in str(check)
    assert check.to_dict()["passed"] is True and check.to_dict()["tolerance"] == 0.01
    strict = ng.nudge_test(model, ng.CrossEntropyLoss(), x, y, tolerance=1e-9)
    assert not strict.passed and strict.tolerance == 1e-9


def test_a_step_across_a_relu_kink_fails_and_says_so():
    model, x, y = _on_a_kink()
    check = ng.nudge_test(model, ng.MSELoss(), x, y, eps=1e-4)
    assert check.relative_error > 0.1  # the first-order picture breaks at the kink
    assert not check.passed and check.kinks_crossed == 1
    assert "1 ReLU input(s) across 0" in check.reason and "smaller eps" in check.reason
    text = str(check)
    assert "FAILED: above the tolerance 1e-02" in text and "kink" in text
    data = check.to_dict()
    assert data["passed"] is False and data["tolerance"] == 0.01 and data["kinks_crossed"] == 1
    smaller = ng.nudge_test(model, ng.MSELoss(), x, y, eps=_suggested_eps(check.reason))
    assert smaller.passed and smaller.kinks_crossed == 0  # the suggestion works


def test_a_step_too_large_for_the_curvature_fails_and_suggests_a_smaller_eps():
    model, x, y = _smooth()
    check = ng.nudge_test(model, ng.CrossEntropyLoss(), x, y, eps=1.0)
    assert not check.passed and check.kinks_crossed == 0
    assert "too large for the cost's curvature" in check.reason
    smaller = ng.nudge_test(model, ng.CrossEntropyLoss(), x, y, eps=_suggested_eps(check.reason))
    assert smaller.passed


def test_a_change_lost_in_rounding_suggests_a_larger_eps():
    model, x, y = _smooth()
    check = ng.nudge_test(model, ng.CrossEntropyLoss(), x, y, eps=1e-6, float64=False)
    assert check.dtype == "float32" and not check.passed
    assert "float32 rounding" in check.reason and "larger eps" in check.reason


def test_a_cost_of_zero_says_the_test_cannot_check_the_example():
    """A confidently right example (−log p = 0 in float64) was blamed on curvature, each
    smaller eps suggested failing the same way and suggesting a smaller one."""
    model = ng.Sequential(ng.Linear(2, 2, seed=0)).double()
    model[0].weight.data[:] = [[40.0, -40.0], [-40.0, 40.0]]
    model[0].bias.data[:] = 0
    x, y = np.array([[1.0, 0.0]]), np.array([0])
    for eps in (1e-4, 1e-7, 1e-10):
        check = ng.nudge_test(model, ng.CrossEntropyLoss(), x, y, eps=eps)
        assert check.cost_before == 0 and check.actual_change == 0 and not check.passed
        assert "the cost is 0 in float64" in check.reason and "cannot check" in check.reason
        assert "eps" not in check.reason


def test_one_example_given_as_a_1d_row_is_a_batch_of_one_as_explain_takes_it():
    model, x, y = _smooth()
    alone = ng.nudge_test(model, ng.CrossEntropyLoss(), x[2], y[2])
    assert alone.to_dict() == ng.nudge_test(model, ng.CrossEntropyLoss(), x[2:3], y[2:3]).to_dict()
    with pytest.raises(ng.ShapeError, match=r"^x: inputs have 3 rows but targets have 1 rows "
                                            r"\(shape \(1,\)\); a 1-D x is 3 rows of one "
                                            r"feature: pass one example of 3 features as "
                                            r"x\[None\]"):  # fmt: skip
        ng.evaluate(model, ng.CrossEntropyLoss(), x[2], y[2:3])


def test_a_loss_of_the_inputs_derivatives_is_nudged_with_its_inputs():
    d = ng.datasets.black_scholes_mc(64, seed=1)
    model = ng.Sequential(ng.Linear(1, 8, seed=0), ng.Softplus(), ng.Linear(8, 1, seed=1))
    loss_fn = ng.DifferentialLoss.from_labels(d.payoff, d.differentials)
    check = ng.nudge_test(model, loss_fn, d.x, np.hstack([d.payoff, d.differentials]))
    assert check.passed and check.relative_error < 1e-3


def test_tolerance_must_be_positive():
    model, x, y = _smooth()
    with pytest.raises(ValueError, match="tolerance must be > 0, got 0"):
        ng.nudge_test(model, ng.CrossEntropyLoss(), x, y, tolerance=0)


@pytest.fixture(scope="module")
def xor_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("nudge") / "xor.safetensors"
    assert cli.main(["train", "--dataset", "xor", "--epochs", "5", "-q", "-o", str(path)]) == 0
    return str(path)


def test_explain_flags_a_failed_nudge_test_in_text_and_json(xor_model, capsys):
    assert cli.main(["explain", xor_model, "--eps", "1"]) == 0
    text = capsys.readouterr().out
    assert "FAILED: above the tolerance 1e-02" in text and "try a smaller eps" in text
    assert cli.main(["explain", xor_model, "--eps", "1", "--json"]) == 0
    check = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["nudge_test"]
    assert check["passed"] is False and check["tolerance"] == 0.01
    assert check["relative_error"] > check["tolerance"] and "smaller eps" in check["reason"]
    assert cli.main(["explain", xor_model, "--json"]) == 0  # the default eps passes
    check = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["nudge_test"]
    assert check["passed"] is True and check["reason"] is None


def _one_output():
    return ng.Sequential(ng.Linear(3, 8, seed=0), ng.Tanh(), ng.Linear(8, 1, seed=1))


@pytest.mark.parametrize("loss_fn, target", [(ng.MSELoss(), 0.5), (ng.BCEWithLogitsLoss(), 1)])
def test_nudge_test_takes_one_row_with_a_scalar_target_and_targets_of_shape_n(loss_fn, target):
    model, row = _one_output(), np.ones(3, np.float32)
    assert ng.nudge_test(model, loss_fn, row, target).passed  # a (1,) target for (1, 1) outputs
    x = np.random.default_rng(0).standard_normal((5, 3))
    assert ng.nudge_test(model, loss_fn, x, np.array([0.0, 1, 1, 0, 1])).passed
