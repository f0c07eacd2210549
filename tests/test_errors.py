"""Bad input raises an error that names the layer or operation, what was expected and what came."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nudgenet as ng
import nudgenet.functional as F


def _zeros(*shape):
    return ng.tensor(np.zeros(shape), requires_grad=True)


def test_shape_error_is_a_value_error_and_a_nudgenet_error():
    assert issubclass(ng.ShapeError, ValueError) and issubclass(ng.ShapeError, ng.NudgenetError)


def test_linear_layer_given_the_wrong_number_of_features():
    model = ng.Sequential(ng.Linear(4, 3), ng.ReLU(), ng.Linear(3, 2))
    with pytest.raises(ng.ShapeError, match=r"Linear\(4 -> 3\).*4 features.*got shape \(5, 7\)"):
        model(np.ones((5, 7), np.float32))
    with pytest.raises(ng.ShapeError, match=r"Linear\(3 -> 2\).*3 features.*got shape \(5, 4\)"):
        model[2](np.ones((5, 4), np.float32))


def test_functional_linear_names_features_and_weight_shape():
    with pytest.raises(
        ng.ShapeError, match=r"linear: input has 7 features \(shape \(5, 7\)\).*expects 4.*\(4, 3\)"
    ):
        F.linear(_zeros(5, 7), _zeros(4, 3))


@pytest.mark.parametrize(
    ("a", "b", "pattern"),
    [
        ((2, 3), (4, 5), r"matmul: shapes \(2, 3\) and \(4, 5\).*\(3\).*second-to-last.*\(4\)"),
        ((2, 3), (4,), r"matmul: shapes \(2, 3\) and \(4,\).*\(3\).*only.*\(4\)"),
        ((3,), (4, 2), r"matmul: shapes \(3,\) and \(4, 2\).*\(3\).*\(4\)"),
        ((2, 2, 3), (2, 5), r"matmul: shapes \(2, 2, 3\) and \(2, 5\).*\(3\).*\(2\)"),
    ],
)
def test_mismatched_matmul(a, b, pattern):
    with pytest.raises(ng.ShapeError, match=pattern):
        _zeros(*a) @ _zeros(*b)


def test_matmul_of_a_scalar():
    with pytest.raises(ng.ShapeError, match=r"at least 1 dimension.*\(\) @ \(2,\)"):
        F.matmul(_zeros(), _zeros(2))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.categorical_cross_entropy])
def test_class_labels_out_of_range(loss):
    name = loss.__name__
    scores = ng.tensor(np.full((4, 3), 1 / 3))
    with pytest.raises(
        ValueError, match=rf"{name}: labels must be in \[0, 2\] for 3 classes.*0 to 3"
    ):
        loss(scores, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=rf"{name}: labels.*\[0, 2\].*from -1 to 2"):
        loss(scores, np.array([0, -1, 2, 1]))


def test_cross_entropy_labels_of_the_wrong_shape():
    scores = ng.tensor(np.zeros((4, 3)))
    with pytest.raises(
        ng.ShapeError,
        match=r"cross_entropy: integer labels must have shape \(4,\).*\(4, 3\).*\(4, 1\)",
    ):
        F.cross_entropy(scores, np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(ng.ShapeError, match=r"labels must have shape \(4,\).*got \(5,\)"):
        ng.CrossEntropyLoss()(scores, np.zeros(5, dtype=np.int64))


def test_cross_entropy_float_targets_must_be_probability_rows():
    scores = ng.tensor(np.zeros((4, 3)))
    pattern = r"cross_entropy: targets must be integer labels of shape \(4,\) or probabilities"
    with pytest.raises(ng.ShapeError, match=pattern + r".*\(4, 3\), got float64.*\(4,\)"):
        F.cross_entropy(scores, np.array([0.0, 1.0, 2.0, 1.0]))  # float labels: a common slip
    with pytest.raises(ng.ShapeError, match=r"got float64 array of shape \(4, 2\)"):
        F.cross_entropy(scores, np.zeros((4, 2)))


def test_cross_entropy_needs_two_dimensional_scores():
    with pytest.raises(
        ng.ShapeError,
        match=r"cross_entropy: expected scores of shape \(N, classes\), got shape \(4,\)",
    ):
        F.cross_entropy(ng.tensor(np.zeros(4)), np.zeros(4, dtype=np.int64))


@pytest.mark.parametrize(
    "loss",
    [F.mse_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits],
    ids=lambda f: f.__name__,
)
def test_same_shape_losses_refuse_to_broadcast_n_against_n_by_1(loss):
    prediction = ng.tensor(np.full((4, 1), 0.5), requires_grad=True)
    pattern = rf"{loss.__name__}: target shape \(4,\) does not match prediction shape \(4, 1\)"
    with pytest.raises(ng.ShapeError, match=pattern):
        loss(prediction, np.ones(4))
    with pytest.raises(ng.ShapeError, match=r"target shape \(4, 1\).*prediction shape \(4,\)"):
        loss(ng.tensor(np.full(4, 0.5)), np.ones((4, 1)))


def test_mse_loss_module_refuses_too():
    with pytest.raises(ng.ShapeError, match=r"mse_loss: target shape \(3,\).*\(3, 1\)"):
        ng.MSELoss()(ng.tensor(np.zeros((3, 1))), np.zeros(3))


def test_bad_reduction_names_the_loss():
    with pytest.raises(ValueError, match="mse_loss: reduction must be 'mean' or 'sum', got 'none'"):
        F.mse_loss(_zeros(2), np.zeros(2), reduction="none")


def test_non_scalar_backward_without_a_gradient():
    y = _zeros(3, 2) * 2
    with pytest.raises(RuntimeError, match=r"shape \(3, 2\) needs a gradient argument"):
        y.backward()


def test_backward_gradient_of_the_wrong_shape():
    y = _zeros(3, 2) * 2
    with pytest.raises(ng.ShapeError, match=r"gradient shape \(2, 3\) does not match.*\(3, 2\)"):
        y.backward(np.ones((2, 3)))


def test_backward_on_a_tensor_without_gradient():
    with pytest.raises(RuntimeError, match="does not require gradients"):
        ng.tensor(np.ones(2)).sum().backward()


def test_bad_reshape_names_both_shapes():
    with pytest.raises(
        ng.ShapeError, match=r"reshape: cannot reshape \(2, 3\) \(6 elements\) into \(4,\)"
    ):
        _zeros(2, 3).reshape(4)


def test_bad_layer_arguments():
    with pytest.raises(
        ValueError, match="Linear: in_features and out_features must be positive, got 0 and 3"
    ):
        ng.Linear(0, 3)
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\), got -0.1"):
        F.dropout(_zeros(2), p=-0.1)
    with pytest.raises(TypeError, match="float32 or float64, got int32"):
        ng.Linear(2, 2, dtype=np.int32)
    with pytest.raises(TypeError, match="seed.*got str"):
        ng.Linear(2, 2, seed="0")


def test_batched_matmul_with_mismatched_batches_names_both_shapes():
    a, b = ng.tensor(np.zeros((2, 3, 4))), ng.tensor(np.zeros((5, 4, 2)))
    with pytest.raises(ng.ShapeError, match=r"batch dimensions of \(2, 3, 4\) and \(5, 4, 2\)"):
        a @ b


def test_dropout_of_integer_data_gives_floats_not_infinities():
    out = F.dropout(np.ones((4, 5), dtype=np.int64), 0.5, seed=0)
    assert out.dtype == ng.get_default_dtype()
    assert set(np.unique(out.data)) <= {0.0, 2.0}


@pytest.mark.parametrize("mine, theirs, expected", [
    ({"a": 1, "b": 2}, {"a": 1, "b": 3}, "b 3 there, 2 here"),
    ({"cb": [{"class": "R", "factor": 0.5}]}, {"cb": [{"class": "R", "factor": 0.2}]},
     "cb[0].factor 0.2 there, 0.5 here"),
    ({"cb": [{"class": "R"}]}, {"cb": [{"class": "E", "patience": 3}]},
     'cb[0] {"class": "E", "patience": 3} there, {"class": "R"} here'),  # other keys: whole
    ({"p": [[5, 8]]}, {"p": [[5, 8], [8]]}, "p[1] [8] there, absent here"),  # lengths
    ({"p": [[5, 8], [8]]}, {"p": [[5, 9]]}, "p[0][1] 9 there, 8 here"),  # the first that differs
    # long items alike, one more there: both sides were cut to the same 60 characters
    ({"cb": [{"class": "GradientDiagnostics"}, {"class": "TerminateOnDivergence", "x": 1}]},
     {"cb": [{"class": "GradientDiagnostics"}, {"class": "TerminateOnDivergence", "x": 1},
             {"class": "EarlyStopping", "patience": 2}]},
     'cb[2] {"class": "EarlyStopping", "patience": 2} there, absent here'),
    ({"x": "a" * 100}, {"x": "b"}, f'x "b" there, "{"a" * 56}... here'),  # a leaf is cut
    ({"a": 1}, {"a": 1}, None),
    ({"a": 1, "b": None}, {"a": 1}, "b absent there, null here"),  # a key one side lacks
    ({"opt": {"lr": math.nan, "m": [0.9]}}, {"opt": {"lr": math.nan, "m": [0.9]}}, None),  # NaN
    ({"opt": {"lr": math.nan}}, {"opt": {"lr": 0.1}}, "opt.lr 0.1 there, NaN here"),
])  # fmt: skip
def test_first_difference_names_the_place_where_two_runs_differ(mine, theirs, expected):
    from nudgenet.errors import first_difference

    assert first_difference(mine, theirs) == expected
