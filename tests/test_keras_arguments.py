"""fit's and the callbacks' Keras arguments: Keras's values act as in Keras, others are one-line
errors naming the argument (never silently ignored or truncated)."""

from __future__ import annotations

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.holdout import validation_rows


def data(n=50, regression=False):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = x[:, :1] * 2.0 if regression else (x[:, 0] > 0).astype(int)
    return x, y


def fit(regression=False, n=50, **options):
    x, y = data(n, regression)
    model = ng.Sequential(ng.Linear(3, 1 if regression else 2, seed=0))
    loss = ng.MSELoss() if regression else ng.CrossEntropyLoss()
    return ng.fit(model, loss, ng.optim.SGD(model.parameters(), lr=0.05), x, y,
                  **{"epochs": 2, "seed": 0, **options})  # fmt: skip


def test_verbose_auto_is_keras_s_default_1(capsys):
    """"auto" (Keras's default) printed nothing, as 3 did."""
    fit(verbose="auto")
    auto = capsys.readouterr().out
    fit(verbose=1)
    assert auto and auto.count("Epoch") == capsys.readouterr().out.count("Epoch") == 2


@pytest.mark.parametrize("verbose", [3, -1, "x", 1.5, None])
def test_an_unknown_verbose_is_a_one_line_value_error(verbose):
    with pytest.raises(ValueError, match=r"^fit: verbose must be 0, 1, 2 or 'auto', got ") as e:
        fit(verbose=verbose)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("split", ["0.2", [0.2]])
def test_a_validation_split_not_a_number_is_a_one_line_type_error(split):
    """ "0.2" gave a bare "'<' not supported between instances of 'float' and 'str'"."""
    with pytest.raises(TypeError, match=r"^fit: validation_split must be a fraction") as e:
        fit(validation_split=split, verbose=0)
    assert "\n" not in str(e.value) and repr(split) in str(e.value)


def test_stratify_on_regression_targets_says_it_needs_class_labels():
    """It said "stratify: class [-3.89...] has only 1 row"."""
    with pytest.raises(ValueError, match=r'^fit: validation_split_mode="stratify" .*class labels'):
        fit(regression=True, validation_split=0.2, validation_split_mode="stratify", verbose=0)


@pytest.mark.parametrize(("n", "split", "held"), [(1797, 0.2, 360), (50, 0.2, 10), (10, 0.25, 3),
                                                  (7, 0.5, 4), (3, 0.1, 1)])  # fmt: skip
def test_validation_split_holds_back_as_many_rows_as_keras(n, split, held):
    """Keras trains on the first int(n · (1 − split)) rows: of 1,797 rows at 0.2, 1,437, so
    360 are held back (round(n · split) held 359)."""
    assert validation_rows(n, split) == n - int(n * (1 - split)) == held


@pytest.mark.parametrize("make", [
    lambda: ng.EarlyStopping(patience=2.5),
    lambda: ng.ReduceLROnPlateau(patience=2.5),
    lambda: ng.ReduceLROnPlateau(cooldown=1.5),
    lambda: ng.EarlyStopping(patience="3"),
])  # fmt: skip
def test_a_patience_that_is_no_whole_number_is_a_one_line_error(make):
    """patience=2.5 was truncated to 2, silently."""
    with pytest.raises(ValueError, match=r"(patience|cooldown) must be a whole number >= 0, got "):
        make()


def test_a_whole_number_written_as_a_float_is_taken_as_keras_takes_it():
    assert ng.EarlyStopping(patience=2.0).patience == 2
    assert ng.ReduceLROnPlateau(cooldown=1.0, patience=np.float64(3)).cooldown == 1


def test_validation_split_none_is_no_split_as_keras_reads_it():
    x, y = np.random.default_rng(0).normal(size=(40, 2)), np.arange(40) % 2
    model = ng.Sequential(ng.Linear(2, 2, seed=0))
    history = ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), x,
                     y, epochs=1, verbose=0, validation_split=None)  # fmt: skip
    assert "val_loss" not in history.history
