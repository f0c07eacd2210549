"""nudgenet.sklearn is a drop-in for scikit-learn's MLP: the same parameters and defaults, the
same fitted attributes, and, in float64 from the same ``random_state`` without shuffling, the
same training to rounding: every weight, the loss curve, the validation scores and the number
of epochs (scikit-learn's init, solvers, loss factors, L2 term, schedules and stopping rules)."""

import inspect
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.datasets import load_digits, make_regression

from nudgenet.sklearn import MLPClassifier, MLPRegressor

EXTRAS = {"dtype", "dropout", "early_stopping_on", "callbacks"}
DIGITS_X, DIGITS_Y = load_digits(return_X_y=True)
X, Y = DIGITS_X[:300] / 16, DIGITS_Y[:300]
XR, YR = make_regression(200, 5, n_targets=2, random_state=0)
YR = YR / 100
WEIGHTS = np.random.default_rng(0).integers(0, 4, len(X)).astype(float)

CASES = {  # name: (ours, scikit-learn's, x, y, parameters, sample_weight)
    "sgd-nesterov-alpha": (MLPClassifier, sk.MLPClassifier, X, Y,
                           dict(solver="sgd", learning_rate_init=0.1, alpha=1e-3), None),
    "sgd-invscaling": (MLPClassifier, sk.MLPClassifier, X, Y,
                       dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5,
                            nesterovs_momentum=False), None),
    "sgd-adaptive": (MLPClassifier, sk.MLPClassifier, X, Y,
                     dict(solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=2,
                          momentum=0.5), None),
    "adam-batches-of-64": (MLPClassifier, sk.MLPClassifier, X, Y, dict(batch_size=64), None),
    "adam-sample-weight": (MLPClassifier, sk.MLPClassifier, X, Y, dict(batch_size=64), WEIGHTS),
    "binary-logistic-early-stopping": (MLPClassifier, sk.MLPClassifier, X, Y % 2 == 0,
                                       dict(early_stopping=True, activation="logistic"), None),
    "multiclass-early-stopping": (MLPClassifier, sk.MLPClassifier, X, Y,
                                  dict(early_stopping=True, tol=1e-2, n_iter_no_change=2), None),
    "multilabel-tanh": (MLPClassifier, sk.MLPClassifier, X, np.c_[Y % 2 == 0, Y % 3 == 0],
                        dict(activation="tanh"), None),
    "string-labels": (MLPClassifier, sk.MLPClassifier, X, np.array(list("abc"))[Y % 3],
                      dict(), None),
    "regression-two-outputs": (MLPRegressor, sk.MLPRegressor, XR, YR,
                               dict(activation="identity"), None),
    "poisson": (MLPRegressor, sk.MLPRegressor, XR, np.abs(YR), dict(loss="poisson"), None),
    "lbfgs-classifier": (MLPClassifier, sk.MLPClassifier, X, Y, dict(solver="lbfgs"), None),
    "lbfgs-max-fun": (MLPClassifier, sk.MLPClassifier, X, Y, dict(solver="lbfgs", max_fun=6),
                      None),
    "lbfgs-regressor-weighted": (MLPRegressor, sk.MLPRegressor, XR, YR, dict(solver="lbfgs"),
                                 WEIGHTS[: len(XR)]),
}  # fmt: skip


def _fitted(est) -> set[str]:
    return {k for k in vars(est) if k.endswith("_") and not k.startswith("_")}


@pytest.mark.parametrize("name", CASES)
def test_training_matches_scikit_learn_to_rounding(name):
    ours, theirs, x, y, params, weight = CASES[name]
    params = dict(random_state=0, max_iter=15, shuffle=False, hidden_layer_sizes=(20,), **params)
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        a = ours(dtype="float64", **params).fit(x, y, sample_weight=weight)
    with warnings.catch_warnings(record=True) as theirs_warned:
        warnings.simplefilter("always")
        b = theirs(**params).fit(x, y, sample_weight=weight)
    assert [type(w.message) for w in ours_warned] == [type(w.message) for w in theirs_warned]
    for mine, sklearns in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(mine, sklearns, rtol=1e-9, atol=1e-11)
    assert a.n_iter_ == b.n_iter_ and a.t_ == b.t_ and a.out_activation_ == b.out_activation_
    assert a.loss_ == pytest.approx(b.loss_, rel=1e-10)
    if hasattr(b, "loss_curve_"):
        np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
        assert a.validation_scores_ == b.validation_scores_
        assert a.best_loss_ == (None if b.best_loss_ is None else pytest.approx(b.best_loss_))
    assert _fitted(a) - _fitted(b) <= {"validation_loss_curve_", "best_validation_loss_"}
    assert _fitted(b) <= _fitted(a)
    if hasattr(b, "classes_"):
        np.testing.assert_array_equal(a.predict(x), b.predict(x))
        np.testing.assert_array_equal(a.classes_, b.classes_)
        np.testing.assert_allclose(a.predict_proba(x), b.predict_proba(x), rtol=1e-8, atol=1e-12)
    else:
        np.testing.assert_allclose(a.predict(x), b.predict(x), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("ours, theirs", [(MLPClassifier, sk.MLPClassifier),
                                          (MLPRegressor, sk.MLPRegressor)])  # fmt: skip
def test_parameters_and_defaults_are_scikit_learns_plus_nudgenets(ours, theirs):
    mine, sklearns = ours().get_params(), theirs().get_params()
    extras = EXTRAS | ({"loss", "class_weight"} if ours is MLPClassifier else set())
    assert set(mine) == set(sklearns) | extras
    assert {k: mine[k] for k in sklearns} == sklearns
    order = list(inspect.signature(ours).parameters)
    assert order[: len(sklearns)] == list(inspect.signature(theirs).parameters)


def test_partial_fit_and_warm_start_follow_scikit_learn():
    params = dict(random_state=0, shuffle=False, hidden_layer_sizes=(10,))
    a, b = MLPClassifier(dtype="float64", **params), sk.MLPClassifier(**params)
    for _ in range(3):
        a.partial_fit(X, Y, classes=np.arange(10))
        b.partial_fit(X, Y, classes=np.arange(10))
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], rtol=1e-9, atol=1e-12)
    assert a.n_iter_ == b.n_iter_ == 1 and a.t_ == b.t_ == 3 * len(X)
    with pytest.warns(Warning):
        a.set_params(warm_start=True, max_iter=3).fit(X, Y)
    with pytest.warns(Warning):
        b.set_params(warm_start=True, max_iter=3).fit(X, Y)
    np.testing.assert_allclose(a.coefs_[1], b.coefs_[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-10)
