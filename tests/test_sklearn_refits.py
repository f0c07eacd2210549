"""The estimators across fits: parameters changed between fits (``set_params``), copies of a
fitted estimator, warm fits and ``partial_fit`` after another solver, and what a fit leaves
(the fitted scalars' types, a shared RandomState), against scikit-learn's MLP where it has an
answer."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor

from nudgenet.sklearn import MLPClassifier, MLPRegressor

X, Y = make_classification(120, 5, n_informative=3, n_classes=3, random_state=0)


def quietly(fit, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit(*args, **kwargs)


@pytest.mark.parametrize("first, then", [("adam", "lbfgs"), ("lbfgs", "sgd"), ("sgd", "adam")])
def test_a_fitted_estimator_whose_solver_was_changed_copies_and_unpickles(first, then):
    """A pickle, deepcopy or joblib file of a fitted estimator after ``set_params(solver=...)``
    failed to load ("expected state of a Regularized, got 'SklearnAdam'"): the solver was
    rebuilt from the new parameter and given the old one's state."""
    est = quietly(MLPClassifier((4,), max_iter=5, random_state=0, solver=first).fit, X, Y)
    est.set_params(solver=then)
    for twin in (copy.deepcopy(est), pickle.loads(pickle.dumps(est))):
        np.testing.assert_array_equal(twin.predict_proba(X), est.predict_proba(X))
        assert twin.get_params()["solver"] == then


def test_partial_fit_and_warm_fits_go_on_after_a_fit_by_another_solver():
    """``partial_fit`` after an ``lbfgs`` fit whose solver was set to ``adam`` reused the lbfgs
    solver and raised a bare NotImplementedError; a warm fit then lacked the loss curve.  A fit
    by another solver gets a solver of its own and curves that begin there (scikit-learn's MLP
    fails on the missing ``loss_curve_``)."""
    est = quietly(MLPClassifier((4,), solver="lbfgs", random_state=0).fit, X, Y)
    weights = [w.copy() for w in est.coefs_]
    est.set_params(solver="adam")
    est.partial_fit(X, Y)
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 1
    assert not np.array_equal(est.coefs_[0], weights[0])  # from the lbfgs weights, on
    est.set_params(solver="lbfgs", warm_start=True)
    quietly(est.fit, X, Y)
    est.set_params(solver="sgd", max_iter=3)
    quietly(est.fit, X, Y)
    assert len(est.loss_curve_) == 1 + 3 and est.validation_scores_ is None  # (lbfgs: no curve)
    est.set_params(early_stopping=True)  # switched on for a warm fit: its curves begin
    quietly(est.fit, X, Y)
    assert len(est.validation_scores_) == est.n_iter_ and len(est.loss_curve_) == 4 + est.n_iter_
    est = quietly(MLPClassifier((4,), early_stopping=True, warm_start=True, max_iter=3,
                                random_state=0).fit, X, Y)  # fmt: skip
    assert est.best_loss_ is None  # (scikit-learn's, with early stopping)
    est.set_params(early_stopping=False)  # switched off: the best training loss begins
    quietly(est.fit, X, Y)
    assert est.best_loss_ == min(est.loss_curve_[-est.n_iter_ :])


def test_architecture_set_after_a_fit_acts_at_the_next_fit_and_a_solver_at_the_next_call():
    """The documented differences from scikit-learn's MLP, which applies a new ``activation``
    at the next ``predict`` and keeps the optimizer of its first ``partial_fit`` (Adam after a
    switch to ``sgd``): here the fitted network predicts (and is saved) until a fit without
    ``warm_start`` builds one of the new activation, and ``partial_fit`` runs the new solver."""
    est = quietly(MLPClassifier((4,), max_iter=5, random_state=0).fit, X, Y)
    before = est.predict_proba(X)
    est.set_params(activation="tanh")
    np.testing.assert_array_equal(est.predict_proba(X), before)
    layers = [type(layer).__name__ for layer in est.to_nudgenet()]
    assert layers == ["Linear", "ReLU", "Linear"]
    quietly(est.fit, X, Y)
    assert [type(layer).__name__ for layer in est.to_nudgenet()] == ["Linear", "Tanh", "Linear"]
    est = MLPClassifier((4,), random_state=0).partial_fit(X, Y, classes=[0, 1, 2])
    est.set_params(solver="sgd")
    est.partial_fit(X, Y)
    assert type(est._solver).__name__ == "SklearnSGD"


def test_alpha_changed_between_partial_fits_applies_as_in_scikit_learn():
    """scikit-learn reads ``alpha`` at every step; the live estimator kept the first one while
    its pickle took the new one, so the same model trained two ways."""
    fits = []
    for cls in (MLPClassifier, SkClassifier):
        est = cls((4,), random_state=0, shuffle=False, **({"dtype": "float64"} if
                  cls is MLPClassifier else {}))  # fmt: skip
        est.partial_fit(X, Y, classes=[0, 1, 2])
        est.set_params(alpha=10.0)
        twin = pickle.loads(pickle.dumps(est))
        est.partial_fit(X, Y)
        twin.partial_fit(X, Y)
        assert est.loss_ == twin.loss_
        fits.append(est.loss_)
    assert fits[0] == pytest.approx(fits[1], rel=1e-6)


def test_early_stopping_keeps_the_best_epoch_when_the_loss_stops_being_finite():
    """scikit-learn's MLP trains on through losses that are not finite and returns with the
    best epoch's weights; nudgenet raised its non-finite ValueError though the weights it kept
    were finite.  It stops there and warns (ConvergenceWarning), keeping the best epoch's."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = x @ [1.0, -2.0, 3.0]
    options = dict(hidden_layer_sizes=(8,), activation="identity", solver="sgd", batch_size=10,
                   learning_rate_init=0.2, max_iter=20, shuffle=False, random_state=0,
                   early_stopping=True, validation_fraction=0.5)  # fmt: skip
    with pytest.warns(ConvergenceWarning, match=r"nudgenet: the training loss became .* in epoch "
                      r"3.*the weights of the best epoch by validation are kept"):  # fmt: skip
        est = MLPRegressor(dtype="float64", **options).fit(x, y)
    theirs = quietly(SkRegressor(**options).fit, x, y)
    assert est.n_iter_ == 3 and np.isfinite(est.predict(x)).all()
    np.testing.assert_allclose(est.predict(x), theirs.predict(x), rtol=1e-9)


def test_without_shuffling_a_random_state_object_is_drawn_from_as_scikit_learn_draws():
    """Without shuffling scikit-learn draws nothing after the weights; nudgenet drew a seed
    anyway, so the next fit (and the user's own stream) went another way.  (Shuffling draws
    from a generator of nudgenet's: the README says so.)"""
    draws = []
    for cls in (MLPClassifier, SkClassifier):
        stream = np.random.RandomState(7)
        quietly(cls((4,), random_state=stream, shuffle=False, max_iter=1).fit, X, Y)
        draws.append(stream.randint(1000))
    assert draws[0] == draws[1]


@pytest.mark.parametrize("solver, stopping", [("adam", False), ("sgd", True), ("lbfgs", False)])
def test_the_fitted_scalars_are_numpy_floats_as_scikit_learn_s(solver, stopping, tmp_path):
    """Also in a saved and loaded estimator (its losses came back as Python floats)."""
    est = quietly(MLPClassifier((4,), solver=solver, early_stopping=stopping, max_iter=5,
                                random_state=0).fit, X, Y)  # fmt: skip
    theirs = quietly(SkClassifier((4,), solver=solver, early_stopping=stopping, max_iter=5,
                                  random_state=0).fit, X, Y)  # fmt: skip
    loaded = MLPClassifier.load(est.save(tmp_path / "m.safetensors"))
    for ours in (est, loaded):
        for name in ("loss_", "best_loss_", "best_validation_score_"):
            assert type(getattr(ours, name, None)) is type(getattr(theirs, name, None)), name
        for name in ("loss_curve_", "validation_scores_"):
            mine, sk = getattr(ours, name, None) or [], getattr(theirs, name, None) or []
            assert [type(v) for v in mine] == [type(v) for v in sk], name
    for name in ("best_validation_loss_", "validation_loss_curve_"):  # nudgenet's own
        assert repr(getattr(loaded, name, None)) == repr(getattr(est, name, None)), name


def test_weights_assigned_to_coefs_go_with_a_pickle_or_copy():
    """A pickle or deepcopy taken before any predict kept the weights from before the
    assignment (the network's own), while the estimator predicted with the assigned ones."""
    est = quietly(MLPClassifier((4,), max_iter=5, random_state=0).fit, X, Y)
    est.coefs_ = [np.zeros_like(c) for c in est.coefs_]
    est.intercepts_ = [np.full_like(b, 0.5) for b in est.intercepts_]
    for twin in (pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        np.testing.assert_array_equal(twin.predict_proba(X), est.predict_proba(X))
        np.testing.assert_array_equal(twin.coefs_[0], 0.0)
    # assigned arrays that do not fit still pickle (joblib sends the estimator to workers),
    # and the copy refuses them at predict as the original does
    est.coefs_ = [np.zeros((2, 2))]
    twin = pickle.loads(pickle.dumps(est))
    for each in (est, twin):
        with pytest.raises(ValueError, match="coefs_ and intercepts_ must hold 2 arrays"):
            each.predict(X)
    scores = cross_val_score(est, X, Y, cv=2, n_jobs=2)  # refits clones in the workers
    np.testing.assert_array_equal(scores, cross_val_score(est, X, Y, cv=2, n_jobs=1))


def test_a_refused_warm_fit_with_early_stopping_leaves_no_validation_curves():
    """A warm fit refused for a too small validation set had already made empty validation
    curves and best values, which stayed (scikit-learn keeps None there)."""
    est = quietly(MLPClassifier((4,), max_iter=3, random_state=0, warm_start=True).fit, X, Y)
    est.set_params(early_stopping=True)
    solver = est._solver
    before = {k: repr(v) for k, v in vars(est).items()}
    state = {k: repr(v) for k, v in solver.state_dict().items()}
    with pytest.raises(ValueError, match="The validation set is too small"):
        est.fit(X[:9], np.array([0, 1, 2] * 3))
    assert {k: repr(v) for k, v in vars(est).items()} == before and est._solver is solver
    assert {k: repr(v) for k, v in solver.state_dict().items()} == state
    assert est.validation_scores_ is None and est.best_validation_score_ is None


def test_an_estimator_fitted_under_a_launcher_is_not_told_to_pass_distributed(monkeypatch):
    """One estimator per rank (an mpi4py sweep) is what an estimator can do: fit's warning that
    each process trains its own copy, with advice to pass distributed=True, does not apply."""
    monkeypatch.setenv("PMI_SIZE", "2")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for solver in ("adam", "sgd", "lbfgs"):
            quietly(MLPClassifier((4,), solver=solver, max_iter=3, random_state=0).fit, X, Y)


def test_early_stopping_says_so_when_no_epoch_beat_the_weights_it_began_with():
    """The loss overflowing in epoch 1, whose validation score is NaN: the warning spoke of
    "the best epoch", where the weights kept are those the fit began with."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)) * 1e160
    y = x @ [1.0, -2.0, 3.0]
    est = MLPRegressor(hidden_layer_sizes=(16,), solver="adam", dtype="float64",
                       learning_rate_init=1e3, early_stopping=True, random_state=0)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflows
        with pytest.warns(ConvergenceWarning, match="no epoch of this fit beat the weights it "
                          "began with by validation: those are kept"):  # fmt: skip
            est.fit(x, y)
    assert est.best_validation_score_ == -np.inf and np.isfinite(est.coefs_[0]).all()
