"""What each loss object knows about its task: probabilities, classes, targets, output units."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng

CLASSIFIERS = [
    ng.CrossEntropyLoss,
    ng.CategoricalCrossEntropyLoss,
    ng.BCELoss,
    ng.BCEWithLogitsLoss,
]
LOSSES = [ng.MSELoss, ng.PoissonLoss, *CLASSIFIERS]


def _outputs(loss_fn, rows: int, units: int, seed: int = 0) -> np.ndarray:
    """Outputs of the kind the loss takes: probabilities for the probability losses, else
    scores."""
    z = np.random.default_rng(seed).normal(size=(rows, units))
    if isinstance(loss_fn, ng.CategoricalCrossEntropyLoss):
        return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return 1 / (1 + np.exp(-z)) if isinstance(loss_fn, ng.BCELoss) else z


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
def test_every_loss_takes_the_targets_it_checked_and_classifies_rows(cls):
    loss_fn = cls()
    classes = 2 if cls in (ng.BCELoss, ng.BCEWithLogitsLoss) else 3
    units = loss_fn.output_units(classes)
    labels = np.array([0, 1, 1, 0, classes - 1])
    # a regression's targets are values: here one-hot rows, as the seeds' squared-error nets had
    regression = loss_fn.task == "regression"
    y = loss_fn.check_targets(np.eye(classes)[labels] if regression else labels, units)
    outputs = _outputs(loss_fn, len(labels), units)
    assert np.isfinite(loss_fn(ng.tensor(outputs), y).item())
    predicted = loss_fn.predict_classes(outputs)
    assert predicted.dtype == np.int64 and predicted.shape == (len(labels),)
    np.testing.assert_array_equal(loss_fn.predict_labels(outputs), predicted)  # one label
    assert set(predicted) <= set(range(classes))
    if regression:
        with pytest.raises(ValueError, match=f"{cls.__name__}: a regression's outputs are values"):
            loss_fn.probabilities(outputs)
        return
    p = loss_fn.probabilities(outputs)
    assert p.shape == (len(labels), classes) and p.dtype == outputs.dtype
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(p.argmax(axis=1), predicted)


def test_tasks_and_output_units():
    assert ng.MSELoss().task == "regression"
    assert {cls().task for cls in CLASSIFIERS} == {"classification"}
    assert ng.CrossEntropyLoss().output_units(10) == 10 and ng.MSELoss().output_units(3) == 3
    assert ng.BCEWithLogitsLoss().output_units(2) == ng.BCELoss().output_units(2) == 1
    with pytest.raises(ValueError, match="BCEWithLogitsLoss: one output unit scores two classes"):
        ng.BCEWithLogitsLoss().output_units(3)


def test_poisson_loss_is_half_the_deviance_of_log_means_and_predicts_their_exponential():
    """Its value is half scikit-learn's mean Poisson deviance of the means e^z (zero counts
    included), its gradient that of finite differences, and its predictions the means."""
    from sklearn.metrics import mean_poisson_deviance

    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 2))
    y = rng.poisson(2.0, (6, 2)).astype(float)
    y[0] = 0.0
    loss = ng.PoissonLoss()
    assert loss.task == "regression" and loss.output_units(2) == 2
    expected = np.mean([mean_poisson_deviance(y[:, k], np.exp(z[:, k])) for k in range(2)]) / 2
    assert loss(ng.tensor(z, dtype=np.float64), y).item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(loss.predict_values(z), np.exp(z))
    with pytest.raises(ValueError, match="PoissonLoss: a regression's outputs are values"):
        loss.probabilities(z)
    with pytest.raises(ValueError, match="PoissonLoss: expected targets >= 0"):
        loss.check_targets(-y, 2)
    # as the other losses: no silent broadcasting, Tensor targets, negative counts refused
    with pytest.raises(ng.ShapeError, match=r"poisson_loss: target shape \(6,\) does not match"):
        loss(ng.tensor(z[:, :1]), y[:, 0])
    assert loss(ng.tensor(z), ng.tensor(y)).item() == loss(ng.tensor(z), y).item()
    with pytest.raises(ValueError, match="poisson_loss: expected targets >= 0 .* minimum of -1"):
        loss(ng.tensor(z), y - 1)
    assert ng.PoissonLoss("sum")(ng.tensor(z), y).item() == pytest.approx(expected * y.size)
    t, w = ng.tensor(z, requires_grad=True, dtype=np.float64), rng.random(6)
    assert ng.gradcheck(lambda v: loss(v, y), t)
    assert ng.gradcheck(lambda v: loss(v, y, sample_weight=w), t)


def test_a_regression_metric_scores_the_values_its_loss_predicts():
    """RMSE, MAE and R² of a Poisson network's means (the exponential of its outputs); an
    MSELoss's, or no loss's, of the outputs."""
    z = np.random.default_rng(1).normal(size=(20, 1))
    y = np.arange(20.0).reshape(-1, 1) % 4
    for name in ("rmse", "mae", "r2"):
        metric = ng.metrics.METRICS[name]
        assert metric(z, y, ng.PoissonLoss()) == metric(np.exp(z), y)
        assert metric(z, y, ng.MSELoss()) == metric(z, y) != metric(np.exp(z), y)


def test_cross_entropy_probabilities_are_the_softmax_without_overflow():
    z = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = ng.CrossEntropyLoss().probabilities(z)
    expected = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0], expected], rtol=1e-6)
    assert p.dtype == np.float32


def test_binary_probabilities_are_two_columns_for_one_output():
    z = np.array([[-800.0], [-0.2], [0.0], [0.2], [800.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # σ of a very negative logit: no overflow warning
        p = ng.BCEWithLogitsLoss().probabilities(z)
    sigma = 1 / (1 + np.exp(-np.clip(z[:, 0], -50, 50)))
    np.testing.assert_allclose(p, np.column_stack([1 - sigma, sigma]), atol=1e-15)
    assert ng.BCEWithLogitsLoss().predict_classes(z).tolist() == [0, 0, 0, 1, 1]  # z > 0
    q = np.array([[0.2], [0.5], [0.7]])
    np.testing.assert_allclose(ng.BCELoss().probabilities(q), [[0.8, 0.2], [0.5, 0.5], [0.3, 0.7]])
    assert ng.BCELoss().predict_classes(q).tolist() == [0, 0, 1]  # p > 0.5
    several = np.array([[-1.0, 2.0]])  # several outputs: one independent label each
    np.testing.assert_allclose(
        ng.BCEWithLogitsLoss().probabilities(several), 1 / (1 + np.exp(-several))
    )


@pytest.mark.parametrize("cls", [ng.BCEWithLogitsLoss, ng.BCELoss], ids=lambda c: c.__name__)
def test_a_binary_losss_several_columns_are_predicted_as_independent_labels(cls):
    """Multilabel targets, as scikit-learn's MLP predicts them: each column its own 0/1 label,
    1 above the threshold (logit 0, probability 0.5); the classes stay one argmax per row."""
    threshold = 0.0 if cls is ng.BCEWithLogitsLoss else 0.5
    outputs = threshold + np.array([[-0.1, 0.1, 0.2], [0.3, 0.0, -0.2], [-0.3, -0.1, -0.2]])
    labels = cls().predict_labels(outputs)
    assert labels.dtype == np.int64
    assert labels.tolist() == [[0, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert cls().predict_classes(outputs).tolist() == [2, 0, 1]


def test_probabilities_need_rows_of_outputs():
    with pytest.raises(ng.ShapeError, match=r"CrossEntropyLoss: expected outputs of shape \(N, "):
        ng.CrossEntropyLoss().probabilities(np.zeros(3))


def test_categorical_cross_entropy_probabilities_are_the_outputs():
    p = np.array([[0.1, 0.9], [0.6, 0.4]])
    assert ng.CategoricalCrossEntropyLoss().probabilities(p) is p


def test_check_targets_gives_what_the_loss_wants():
    labels = np.array([0, 1, 1])
    same = ng.CrossEntropyLoss().check_targets(labels, 2)
    assert same is labels  # integer labels as they are
    column = ng.BCEWithLogitsLoss().check_targets(labels, 1)
    assert column.shape == (3, 1) and column.dtype == ng.get_default_dtype()
    assert column[:, 0].tolist() == [0.0, 1.0, 1.0]
    assert ng.MSELoss().check_targets(np.arange(3), 1).shape == (3, 1)
    rows = np.array([[0.2, 0.8], [1.0, 0.0]], dtype=np.float32)
    assert ng.CrossEntropyLoss().check_targets(rows, 2) is rows  # probability rows


@pytest.mark.parametrize(
    ("loss_fn", "y", "units", "message"),
    [
        (ng.CrossEntropyLoss(), [0, 3, 1], 3, r"CrossEntropyLoss: labels must be in \[0, 2\]"),
        (
            ng.CrossEntropyLoss(),
            [0.0, 0.5],
            2,
            "labels must be whole numbers 0..1; got 0.5 at row 1",
        ),
        (ng.CrossEntropyLoss(), np.zeros((2, 3)), 2, "integer labels of shape .* got float64"),
        (ng.BCEWithLogitsLoss(), [0, 2, 1], 1, "BCEWithLogitsLoss: expected labels 0/1 .* 0 to 2"),
        (
            ng.BCELoss(),
            [[0, 1], [1, 0]],
            1,
            r"BCELoss: expected labels 0/1 of shape \(N, 1\) .* int64 array of shape \(2, 2\)",
        ),
        (ng.MSELoss(), np.zeros((4, 2)), 3, r"MSELoss: expected numeric targets of shape \(N, 3"),
        (ng.MSELoss(), 1.0, 1, "MSELoss: expected targets with one row per sample"),
        (ng.CrossEntropyLoss(), [0, 0], 1, r"1 output column, and a softmax over one column is "
         r"always 1 \(its loss is 0 whatever the labels\): a classifier needs one output per"),
        (ng.CategoricalCrossEntropyLoss(), [0, 0], 1, "CategoricalCrossEntropyLoss: the model "
         "has 1 output column"),
    ],
)  # fmt: skip
def test_check_targets_names_what_was_expected_and_what_came(loss_fn, y, units, message):
    with pytest.raises(ValueError, match=message):
        loss_fn.check_targets(np.asarray(y), units)


def test_accuracy_of_a_plain_function_loss_reads_scores():
    outputs = np.array([[0.2], [0.7]])
    assert ng.metrics.accuracy(outputs, np.array([0, 1]), ng.functional.mse_loss) == 1.0


# --- labels given as floats ------------------------------------------------------------------


def test_whole_number_float_labels_are_labels():
    for loss_fn in (ng.CrossEntropyLoss(), ng.CategoricalCrossEntropyLoss()):
        y = loss_fn.check_targets(np.array([0.0, 2.0, 1.0], dtype=np.float32), 3)
        assert y.dtype == np.int64 and y.tolist() == [0, 2, 1]
    rows = np.array([[0.5, 0.5], [1.0, 0.0]])  # float rows (N, C) stay probability targets
    assert ng.CrossEntropyLoss().check_targets(rows, 2) is rows


@pytest.mark.parametrize(
    ("y", "message"),
    [
        ([0.0, 1.0, 1.0, 0.5], r"labels must be whole numbers 0\.\.2; got 0\.5 at row 3"),
        ([0.0, np.nan], "labels must be whole numbers 0..2; got nan at row 1"),
        ([0.0, 3.0], r"labels must be in \[0, 2\] for 3 classes, got values from 0 to 3"),
    ],
)
def test_float_labels_that_are_not_classes_are_refused_in_one_line(y, message):
    x = np.zeros((len(y), 2), dtype=np.float32)
    model = ng.Sequential(ng.Linear(2, 3, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=f"CrossEntropyLoss: {message}"):
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, np.array(y), verbose=0)


def test_fit_and_evaluate_take_float_labels_as_the_integer_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    x = (np.eye(3)[y] @ rng.normal(size=(3, 4)) + rng.normal(size=(90, 4))).astype(np.float32)

    def trained(labels):
        model = ng.Sequential(ng.Linear(4, 8, seed=0), ng.ReLU(), ng.Linear(8, 3, seed=1))
        optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
        history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, labels, epochs=3, seed=0,
                         metrics=["accuracy"], verbose=0, compile=True)  # fmt: skip
        return model, history

    model, as_int = trained(y)
    _, as_float = trained(y.astype(np.float64))
    for key in ("loss", "accuracy"):  # bit for bit, on the compiled step
        assert as_float.history[key] == as_int.history[key]
    scores = ng.evaluate(model, ng.CrossEntropyLoss(), x, y.astype(np.float32), ["accuracy"])
    assert scores == ng.evaluate(model, ng.CrossEntropyLoss(), x, y, ["accuracy"])


def test_fit_leaves_the_targets_of_outputs_that_are_not_rows_of_units_to_the_loss():
    class Flat(ng.Module):
        def __init__(self):
            super().__init__()
            self.linear = ng.Linear(2, 1, seed=0)

        def forward(self, x):
            return self.linear(x).reshape(-1)  # (N,): no units to check the targets against

    x = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    model = Flat()
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    history = ng.fit(model, ng.MSELoss(), optimizer, x, x.sum(axis=1), epochs=2, verbose=0)
    assert history["loss"][1] < history["loss"][0]


class _Scaled:
    """A loss object of the user's own, with object's repr."""

    def __init__(self, factor):
        self.factor = factor

    def __call__(self, prediction, target):
        return ng.functional.cross_entropy(prediction, target) * self.factor


def test_a_loss_s_identity_tells_losses_apart_and_is_the_same_in_another_process():
    """Runs (ranks, a checkpoint and its resumption) compare losses by it: a default repr's
    address differs from process to process, and a bare name would take one lambda for
    another."""
    from nudgenet.nn.losses import loss_identity

    losses = {
        "a lambda": lambda p, t: ng.functional.cross_entropy(p, t),
        "another lambda": lambda p, t: ng.functional.cross_entropy(p, t) * 100,
        "F.mse_loss": ng.functional.mse_loss,
        "a sum": functools.partial(ng.functional.cross_entropy, reduction="sum"),
        "Scaled(1)": _Scaled(1),
        "Scaled(2)": _Scaled(2),
        "a bound method": _Scaled(1).__call__,
        "CrossEntropyLoss": ng.CrossEntropyLoss(),
    }
    losses["Scaled(a long list)"] = _Scaled(list(range(10_000)))
    losses["Scaled(another)"] = _Scaled([*range(9_999), -1])
    identities = {name: loss_identity(fn) for name, fn in losses.items()}
    assert max(map(len, identities.values())) < 300, "a checkpoint's header stays small"
    assert len(set(identities.values())) == len(losses), identities
    assert not any("0x" in text for text in identities.values())
    assert identities["CrossEntropyLoss"] == "CrossEntropyLoss(reduction='mean')"  # as before
    script = (
        "import functools, nudgenet as ng\n"
        "from nudgenet.nn.losses import loss_identity\n"
        "print(loss_identity(ng.functional.mse_loss))\n"
        "print(loss_identity(functools.partial(ng.functional.cross_entropy, reduction='sum')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(ng.__file__).parents[1])}
    there = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=60, env=env, check=True).stdout.splitlines()  # fmt: skip
    assert there == [identities["F.mse_loss"], identities["a sum"]]


def test_a_loss_s_reduction_is_read_from_the_loss_a_partial_or_the_function_s_default():
    from nudgenet.nn.losses import reduction_of

    F = ng.functional
    assert reduction_of(ng.CrossEntropyLoss("sum")) == "sum"
    assert reduction_of(functools.partial(F.cross_entropy, reduction="sum")) == "sum"
    assert reduction_of(functools.partial(F.cross_entropy, weight=None)) == "mean"
    assert reduction_of(F.mse_loss) == "mean"
    assert reduction_of(lambda p, t: F.mse_loss(p, t, reduction="sum")) == "mean"  # unreadable



@pytest.mark.parametrize(
    "loss, outputs, targets, hint",
    [
        (ng.BCELoss(), [[3.0], [-2.0], [0.5]], [[0.0], [1.0], [1.0]], "BCEWithLogitsLoss"),
        (ng.CategoricalCrossEntropyLoss(), [[3.0, -1.0], [-2.0, 5.0]], [0, 1], "CrossEntropyLoss"),
    ],
)
def test_a_loss_of_probabilities_refuses_values_outside_0_1(loss, outputs, targets, hint):
    """Logits given to a loss of probabilities were clipped: a loss near 0 (or negative) and no
    gradient on the clipped rows, silently (PyTorch's BCELoss raises)."""
    with pytest.raises(ValueError, match=r"expected probabilities in \[0, 1\] \(a Sigmoid or "
                                         rf"Softmax layer's output\), got values from -2 to .*; "
                                         rf"for logits use {hint}$"):  # fmt: skip
        loss(ng.tensor(outputs), np.array(targets))
    edge = np.clip(np.array(outputs), 0.0, 1.0)  # 0 and 1 themselves are probabilities
    assert np.isfinite(loss(ng.tensor(edge), np.array(targets)).item())
