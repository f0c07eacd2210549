"""The one check of every hyper-parameter's value (scikit-learn's and nudgenet's), and of the
values that depend on each other (:func:`_check_together`): a one-line error naming the
parameter, what it expects and what came, at the start of ``fit`` / ``partial_fit``, as
scikit-learn checks, of scikit-learn's class for it, ``InvalidParameterError`` (a ValueError
and a TypeError), so code catching either catches it.  Numbers must be finite
(``n_iter_no_change`` may be inf).  The defaults are the estimators'
signatures (scikit-learn's, then nudgenet's own).  Under scikit-learn's
``skip_parameter_validation`` only the rules between values are checked (:func:`check_params`)."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn import get_config
from sklearn.utils._param_validation import InvalidParameterError

from ..callbacks import Callback
from ._losses import CLASSIFIER_LOSSES, REGRESSOR_LOSSES
from ._network import ACTIVATIONS, dropout_rates


def _real(low=-math.inf, high=math.inf, low_open=False, high_open=False):
    """A finite number in the interval from ``low`` to ``high`` (open or closed ends)."""

    def check(value) -> bool:
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            return False
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return above and below

    return check


def _whole(low: int):
    return lambda value: (
        isinstance(value, Integral) and not isinstance(value, bool) and value >= low
    )


def _one_of(*options):
    return lambda value: isinstance(value, str) and value in options


def _flag(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _random_state(value) -> bool:
    """scikit-learn's random states: None, a seed its ``RandomState`` takes (a Python bool
    too, as scikit-learn's check takes it: a bool is an int), or one."""
    return value is None or isinstance(value, (bool, np.random.RandomState)) or (
        _whole(0)(value) and value < 2**32
    )


def _hidden(value) -> bool:
    sizes = [value] if np.ndim(value) == 0 else list(value)
    return all(_whole(1)(size) for size in sizes)


def _dropout(value) -> bool:
    try:
        dropout_rates(value, len(value) if np.ndim(value) else 1)
    except (ValueError, TypeError):
        return False
    return True


def _callbacks(value) -> bool:
    return value is None or all(isinstance(cb, Callback) for cb in value)


def _class_weight(value) -> bool:
    """None, "balanced", a dict, or a list of dicts (one per label of multilabel targets: the
    classifier checks that they fit the targets)."""
    if isinstance(value, list):
        return all(isinstance(item, dict) for item in value)
    return value is None or value == "balanced" or isinstance(value, dict)


# name -> (the test, what it expects)
CHECKS = {
    "hidden_layer_sizes": (_hidden, "whole numbers >= 1 (one per hidden layer)"),
    "activation": (_one_of(*ACTIVATIONS), f"one of {', '.join(ACTIVATIONS)}"),
    "solver": (_one_of("lbfgs", "sgd", "adam"), "'lbfgs', 'sgd' or 'adam'"),
    "alpha": (_real(0), "a finite number >= 0"),
    "batch_size": (lambda v: v == "auto" or _whole(1)(v), "'auto' or a whole number >= 1"),
    "learning_rate": (_one_of("constant", "invscaling", "adaptive"),
                      "'constant', 'invscaling' or 'adaptive'"),
    "learning_rate_init": (_real(0, low_open=True), "a finite number > 0"),
    "power_t": (_real(0), "a finite number >= 0"),
    "max_iter": (_whole(1), "a whole number >= 1"),
    "shuffle": (_flag, "True or False"),
    "tol": (_real(0), "a finite number >= 0"),
    "verbose": (lambda v: _flag(v) or _whole(0)(v), "True, False or a whole number >= 0"),
    "warm_start": (_flag, "True or False"),
    "momentum": (_real(0, 1), "a number in [0, 1]"),
    "nesterovs_momentum": (_flag, "True or False"),
    "early_stopping": (_flag, "True or False"),
    "validation_fraction": (_real(0, 1, high_open=True), "a number in [0, 1)"),
    "beta_1": (_real(0, 1, high_open=True), "a number in [0, 1)"),
    "beta_2": (_real(0, 1, high_open=True), "a number in [0, 1)"),
    "epsilon": (_real(0, low_open=True), "a finite number > 0"),
    "n_iter_no_change": (lambda v: v == math.inf or _whole(1)(v), "a whole number >= 1 or inf"),
    "max_fun": (_whole(1), "a whole number >= 1"),
    "random_state": (_random_state, "None, a whole number in [0, 2**32 - 1] or a "
                     "numpy.random.RandomState"),
    "dtype": (lambda v: v in (None, "float32", "float64", np.float32, np.float64),
              "None, 'float32' or 'float64'"),
    "dropout": (_dropout, "None, a rate in [0, 1) or one rate per hidden layer"),
    "early_stopping_on": (_one_of("score", "loss"), "'score' or 'loss'"),
    "callbacks": (_callbacks, "None or a list of nudgenet callbacks"),
    "class_weight": (_class_weight, "None, 'balanced', a dict {class: weight} or, for "
                     "multilabel targets, a list of such dicts (one per label)"),
}  # fmt: skip
LOSSES = {"MLPClassifier": CLASSIFIER_LOSSES, "MLPRegressor": REGRESSOR_LOSSES}


def check_params(est) -> None:
    """InvalidParameterError naming the first parameter of ``est`` whose value is not allowed.
    Under scikit-learn's ``skip_parameter_validation`` only the rules between parameters
    (and for ``class_weight``'s values), which fit relies on, are checked; each value's type and
    range are not, as scikit-learn skips its estimators' ``_parameter_constraints``."""
    name = type(est).__name__
    if not get_config()["skip_parameter_validation"]:
        for param, value in est.get_params(deep=False).items():
            _check_value(name, param, value)
    _check_class_weights(est, name)
    _check_together(est, name)


def _check_value(name: str, param: str, value) -> None:
    """InvalidParameterError where ``value`` is not allowed for ``param`` of the estimator
    class ``name``."""
    if param == "loss":
        test, expected = _one_of(*LOSSES[name]), f"one of {', '.join(LOSSES[name])}"
    else:
        test, expected = CHECKS[param]
    try:
        ok = test(value)
    except TypeError:
        ok = False
    if not ok:
        raise InvalidParameterError(f"{name}: {param} must be {expected}, got {value!r}")


def _check_class_weights(est, name: str) -> None:
    """Every weight of a ``class_weight`` dict (of each dict of a list) a finite number >= 0,
    checked here, once, with the class named (the row weights made of them would otherwise be
    refused as a ``sample_weight`` the user did not pass)."""
    value = getattr(est, "class_weight", None)
    dicts = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    for label, weights in enumerate(dicts):
        for cls, weight in weights.items():
            if not _real(0)(weight):
                where = f" of label {label}" if isinstance(value, list) else ""
                raise InvalidParameterError(
                    f"{name}: class_weight must give each class a finite weight >= 0, got "
                    f"{weight!r} for class {cls!r}{where}"
                )


def _check_together(est, name: str) -> None:
    """The parameters that depend on others: ``dropout`` gives one rate per hidden layer, none
    but 0 without hidden layers, and only 0 with ``lbfgs`` (a rate of 0 builds no Dropout
    layer), whose loss must be the same at every evaluation; ``callbacks`` (an empty list
    aside) need ``adam`` or ``sgd``: L-BFGS runs no epochs to call them at (scipy's iterations
    have no batches, logs or ``stop_training``)."""
    hidden = np.size(est.hidden_layer_sizes)
    try:
        rates = dropout_rates(est.dropout, hidden)
    except ValueError as error:
        raise InvalidParameterError(f"{name}: {error}") from None
    if est.solver == "lbfgs" and any(rates):
        raise InvalidParameterError(
            f"{name}: dropout needs a stochastic solver ('adam' or 'sgd'); L-BFGS needs the "
            f"same loss at every evaluation, got solver='lbfgs' with dropout={est.dropout!r}"
        )
    if est.solver == "lbfgs" and est.callbacks:
        names = ", ".join(type(callback).__name__ for callback in est.callbacks)
        raise InvalidParameterError(
            f"{name}: callbacks need a stochastic solver ('adam' or 'sgd'); L-BFGS runs no "
            f"epochs to call them at, got solver='lbfgs' with callbacks [{names}]"
        )
