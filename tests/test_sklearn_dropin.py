"""What a script written for scikit-learn's MLP relies on beyond the estimator checks: its
warning filters, Ctrl-C keeping the model, predicting from threads, a refused fit leaving the
estimator as it was, scikit-learn's parameter errors, and parameters kept by save/load."""

import os
import pickle
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

import nudgenet as ng
from nudgenet.sklearn import MLPClassifier, MLPRegressor
from nudgenet.sklearn import _lbfgs as lbfgs

X, Y = load_digits(return_X_y=True)
X, Y = X[:300] / 16, Y[:300]


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_convergence_warnings_obey_the_filters_written_for_scikit_learn(solver):
    est = MLPClassifier((8,), solver=solver, max_iter=2, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=ConvergenceWarning, module="sklearn")
        est.fit(X, Y)  # the filter of scikit-learn's own MLP examples
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    with pytest.warns(ConvergenceWarning) as shown:
        est.fit(X, Y)
    assert shown[0].filename == __file__  # shown at the user's line


def test_warnings_show_from_a_script_read_from_stdin_or_given_with_c():
    """A __main__ whose loader gives no source (python -c, python -): the warning is shown."""
    script = (
        "import numpy as np\nfrom nudgenet.sklearn import MLPClassifier\n"
        "MLPClassifier(max_iter=1).fit(np.random.rand(20, 3), np.arange(20) % 2)\n"
    )
    for command, stdin in (([sys.executable, "-c", script], None), ([sys.executable, "-"], script)):
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "ConvergenceWarning: Stochastic Optimizer: Maximum iterations (1)" in done.stderr


def test_a_too_large_batch_size_warns_as_scikit_learn():
    est = MLPClassifier((4,), batch_size=1000, max_iter=2, random_state=0)
    with pytest.warns(UserWarning, match="^Got `batch_size` less than 1 or larger than sample"):
        est.fit(X, Y)
    with warnings.catch_warnings():
        warnings.filterwarnings("error")
        warnings.filterwarnings("ignore", module="sklearn")  # checked first: added last
        est.fit(X, Y)


def test_lbfgs_convergence_warning_has_the_installed_scikit_learns_words():
    from scipy.optimize import OptimizeResult
    from sklearn.utils.optimize import _check_optimize_result

    from nudgenet.sklearn._warnings import lbfgs_not_converged

    for iterations, max_iter in ((5, 5), (3, 5)):
        result = OptimizeResult(nit=iterations, status=1, message="STOP: TOTAL NO. OF ITERATIONS")
        with pytest.warns(ConvergenceWarning) as theirs:
            _check_optimize_result("lbfgs", result, max_iter)
        ours = lbfgs_not_converged(1, result.message, iterations, max_iter)
        assert str(theirs[0].message) == ours


class Interrupt(ng.Callback):
    """Ctrl-C at the end of epoch ``at`` (0-based), as a user pressing it."""

    def __init__(self, at: int):
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("early_stopping", [False, True])
def test_ctrl_c_ends_a_stochastic_fit_with_the_model_trained_so_far(early_stopping):
    est = MLPClassifier((8,), max_iter=50, random_state=0, early_stopping=early_stopping,
                        n_iter_no_change=50, callbacks=[Interrupt(at=3)])  # fmt: skip
    with pytest.warns(UserWarning, match="^Training interrupted by user.$"):
        assert est.fit(X, Y) is est
    assert est.n_iter_ == 4 and len(est.loss_curve_) == 4
    assert est.score(X, Y) > 0.1 and np.isfinite(est.coefs_[0]).all()
    if early_stopping:  # the best epoch's weights, as scikit-learn restores them
        best = int(np.argmax(est.validation_scores_))
        replay = MLPClassifier((8,), max_iter=best + 1, random_state=0, early_stopping=True,
                               n_iter_no_change=50)  # fmt: skip
        with pytest.warns(ConvergenceWarning):
            replay.fit(X, Y)  # the same epochs, stopped after the best one
        np.testing.assert_array_equal(est.predict_proba(X), replay.predict_proba(X))


def test_ctrl_c_while_validating_leaves_the_epoch_out_of_every_curve(monkeypatch):
    from nudgenet.sklearn import _epochs

    validate, calls = _epochs.SklearnEpochs._validate, []

    def interrupted(self):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return validate(self)

    monkeypatch.setattr(_epochs.SklearnEpochs, "_validate", interrupted)
    est = MLPClassifier((8,), max_iter=50, random_state=0, early_stopping=True)
    with pytest.warns(UserWarning, match="^Training interrupted by user.$"):
        est.fit(X, Y)
    assert est.n_iter_ == len(est.loss_curve_) == len(est.validation_scores_) == 3
    assert len(est.validation_loss_curve_) == 3


def test_lbfgs_lets_ctrl_c_through_as_scikit_learn(monkeypatch):
    real = lbfgs.choose_step

    def interrupting(*args, **kwargs):
        step, calls = real(*args, **kwargs), []

        def run(x, y, rows):
            calls.append(rows)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return step(x, y, rows)

        return run

    est = MLPClassifier((8,), solver="lbfgs", max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X, Y)
    before, n_iter = est.predict_proba(X), est.n_iter_
    monkeypatch.setattr(lbfgs, "choose_step", interrupting)
    with pytest.raises(KeyboardInterrupt):
        est.set_params(random_state=1).fit(X, Y)  # a refit, interrupted: the last fit stays
    np.testing.assert_array_equal(est.predict_proba(X), before)
    assert est.n_iter_ == n_iter and est.random_state == 1
    fresh = MLPClassifier((8,), solver="lbfgs")
    with pytest.raises(KeyboardInterrupt):
        fresh.fit(X, Y)  # a first fit: nothing left behind
    with pytest.raises(NotFittedError):
        fresh.predict(X)


@pytest.mark.parametrize("how", ["fit", "partial_fit", "lbfgs", "pickle", "load"])
def test_a_fitted_network_is_in_eval_mode_so_predict_changes_no_shared_state(how, tmp_path):
    dropout = None if how == "lbfgs" else 0.5
    est = MLPClassifier((16,), max_iter=3, random_state=0, dropout=dropout,
                        solver="lbfgs" if how == "lbfgs" else "adam")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if how == "partial_fit":
            est.partial_fit(X, Y, classes=np.arange(10))
        else:
            est.fit(X, Y)
    if how == "pickle":
        est = pickle.loads(pickle.dumps(est))
    if how == "load":
        est = MLPClassifier.load(est.save(tmp_path / "m.safetensors"))
    assert not est._model.training
    expected = est.predict_proba(X)
    results = []

    def predict_many():
        results.extend(est.predict_proba(X) for _ in range(5))

    threads = [threading.Thread(target=predict_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    for result in results:
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("refusal", [
    {"sample_weight": -np.ones(len(Y))},
    {"X": X * 1e39},
], ids=["negative-weights", "beyond-float32"])  # fmt: skip
def test_a_refused_first_fit_leaves_the_estimator_as_it_was(refusal):
    arguments = {"X": X, "y": Y, **refusal}
    est = MLPClassifier((8,), max_iter=2, random_state=0)
    with pytest.raises(ValueError):
        est.fit(**arguments)
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert not hasattr(est, "classes_") and not hasattr(est, "n_features_in_")
    with pytest.warns(ConvergenceWarning):
        est.fit(X[:, :10], Y % 2)  # a good fit, then a refused one keeps it
    before = est.predict_proba(X[:, :10])
    with pytest.raises(ValueError):
        est.fit(**arguments)
    assert est.n_features_in_ == 10 and list(est.classes_) == [0, 1]
    np.testing.assert_array_equal(est.predict_proba(X[:, :10]), before)


@pytest.mark.parametrize("refusal", ["weights", "parameter"])
def test_a_refused_first_partial_fit_leaves_no_classes_behind(refusal):
    est = MLPClassifier((8,), random_state=0, alpha=-1 if refusal == "parameter" else 0.0001)
    weights = -np.ones(len(Y)) if refusal == "weights" else None
    with pytest.raises(ValueError, match="sample_weight" if weights is not None else "alpha"):
        est.partial_fit(X, Y, classes=np.arange(10), sample_weight=weights)
    assert not hasattr(est, "classes_")
    est.set_params(alpha=0.0001)
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, Y)  # still a first call
    assert est.partial_fit(X, Y, classes=np.arange(10)).n_iter_ == 1


@pytest.mark.parametrize("params", [
    {"alpha": np.inf}, {"tol": float("inf")}, {"learning_rate_init": np.inf},
    {"random_state": "a"}, {"random_state": np.random.default_rng(0)}, {"random_state": -1},
    {"max_iter": 0}, {"solver": "newton"},
], ids=["alpha-inf", "tol-inf", "learning-rate-inf", "random-state-string", "generator",
        "negative-seed", "max-iter-0", "solver"])  # fmt: skip
def test_bad_parameters_raise_scikit_learns_invalid_parameter_error(params):
    with pytest.raises(InvalidParameterError, match=f"^MLPRegressor: {next(iter(params))} must"):
        MLPRegressor(**params).fit(X, Y * 1.0)
    for caught in (ValueError, TypeError):  # what code written for scikit-learn catches
        with pytest.raises(caught):
            MLPRegressor(**params).fit(X, Y * 1.0)


@pytest.mark.parametrize("fraction, leaves", [(0.0, "validate"), (0.99, "train")])
@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_a_validation_fraction_holding_out_no_row_or_every_row_is_named_before_training(
    make, fraction, leaves
):
    """With ``early_stopping`` it failed inside ``train_test_split``, naming its ``test_size``."""
    est = make(hidden_layer_sizes=(8,), early_stopping=True, validation_fraction=fraction)
    with pytest.raises(ValueError, match=(
        f"^{make.__name__}: validation_fraction must hold out some but not all of the 90 rows "
        f"with early_stopping=True, got {fraction}, which leaves no row to {leaves} on$"
    )):  # fmt: skip
        est.fit(X[:90], Y[:90])
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("params", [{}, {"early_stopping": True}, {"solver": "lbfgs"}],
                         ids=["adam", "early-stopping", "lbfgs"])  # fmt: skip
def test_a_missing_regression_target_is_named_by_the_estimator_at_its_row_of_y(params):
    """An object ``y`` holding None passes scikit-learn's check; the loss refused its NaN at a
    row of the training split, which ``early_stopping`` shuffles (row 62 for the user's 237)."""
    y = np.arange(len(X), dtype=float).astype(object)
    y[237] = None
    with pytest.raises(ValueError, match=r"^MLPRegressor: y holds 1 NaN or infinite values "
                                         r"\(missing data\?\), the first in sample 237 "
                                         r"\(0-based\)$"):  # fmt: skip
        MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0, **params).fit(X, y)


def test_assigning_coefs_of_other_shapes_is_a_one_line_error():
    with pytest.warns(ConvergenceWarning):
        est = MLPClassifier((8,), max_iter=2, random_state=0).fit(X, Y)
    est.coefs_ = [est.coefs_[0][:, :4], est.coefs_[1][:4]]
    with pytest.raises(ValueError, match=r"^MLPClassifier: coefs_\[0\] must keep the fitted "
                                         r"shape \(64, 8\), got \(64, 4\); to change"):  # fmt: skip
        est.predict(X)
    est.coefs_, est.intercepts_ = est.coefs_[:1], est.intercepts_[:1]
    with pytest.raises(ValueError, match=r"^MLPClassifier: coefs_ and intercepts_ must hold 2 "
                                         r"arrays each, one per layer, got 1 and 1$"):  # fmt: skip
        est.predict(X)


@pytest.mark.parametrize("params", [
    {"hidden_layer_sizes": [6, 4], "dtype": np.float64},
    {"hidden_layer_sizes": (6,), "dtype": np.dtype("float64")},
    {"hidden_layer_sizes": 5, "dtype": "float32", "dropout": (0.1,)},
    {"hidden_layer_sizes": range(6, 8), "random_state": True},
    {"hidden_layer_sizes": np.array([6, 4], dtype=np.int32), "dropout": np.array([0.1, 0.0])},
], ids=["list-numpy-type", "tuple-numpy-dtype", "int-string", "range", "arrays"])  # fmt: skip
def test_save_and_load_keep_the_parameters_and_their_types(params, tmp_path):
    with pytest.warns(ConvergenceWarning):
        est = MLPClassifier(**{"max_iter": 2, "random_state": 0, **params}).fit(X, Y)
    loaded = MLPClassifier.load(est.save(tmp_path / "m.safetensors"))
    for name, value in est.get_params().items():
        again = loaded.get_params()[name]
        assert type(again) is type(value) and np.array_equal(again, value)
        assert getattr(again, "dtype", None) == getattr(value, "dtype", None)
    assert loaded._model.parameters()[0].dtype == est._model.parameters()[0].dtype
    with pytest.warns(ConvergenceWarning):
        loaded.fit(X, Y)  # its parameters fit again


@pytest.mark.parametrize("ours, theirs", [("MLPClassifier", "MLPClassifier"),
                                          ("MLPRegressor", "MLPRegressor")])  # fmt: skip
def test_a_dataframe_s_column_names_are_kept_and_checked_as_scikit_learn_does(
    ours, theirs, tmp_path
):
    """``feature_names_in_`` from a DataFrame's columns; other columns later are scikit-learn's
    ValueError, a plain array its UserWarning; save/load keeps the names (pandas: the test
    extra installs it)."""
    import pandas as pd
    from sklearn import neural_network

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["age", "height", "weight"])
    y = (frame["age"] > 0).astype(int) if ours == "MLPClassifier" else frame["height"] * 2.0
    mine = getattr(ng.sklearn, ours)(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    reference = getattr(neural_network, theirs)(hidden_layer_sizes=(4,), max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = [mine.fit(frame, y), reference.fit(frame, y)]
    loaded = type(mine).load(mine.save(tmp_path / "m.safetensors"))
    for est in (*fitted, loaded):
        assert est.feature_names_in_.tolist() == ["age", "height", "weight"]
        assert est.feature_names_in_.dtype == object
        with pytest.raises(ValueError, match="feature names should match those that were passed"):
            est.predict(frame[["weight", "age", "height"]])
        with pytest.warns(UserWarning, match="X does not have valid feature names"):
            est.predict(frame.to_numpy())
    np.testing.assert_array_equal(loaded.predict(frame), mine.predict(frame))


def test_the_default_dtype_of_nudgenet_does_not_change_an_estimator():
    """dtype=None is float32 (adam, sgd) or float64 (lbfgs) whatever ng.set_default_dtype says:
    the parameters alone decide a fit, so a clone in a joblib worker process fits the same."""
    before = ng.get_default_dtype()
    ng.set_default_dtype("float64")
    try:
        adam = MLPClassifier((8,), max_iter=3, random_state=0).fit(X, Y)
        lbfgs_fit = MLPClassifier((8,), solver="lbfgs", max_iter=3, random_state=0).fit(X, Y)
    finally:
        ng.set_default_dtype(before)
    assert adam.coefs_[0].dtype == np.float32 and lbfgs_fit.coefs_[0].dtype == np.float64


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_outputs_are_in_the_dtype_of_the_rows_product_with_the_weights(dtype):
    """As scikit-learn's: float64 where the rows or the network are; float32 only for both."""
    classifier = MLPClassifier((8,), max_iter=3, random_state=0, dtype=dtype).fit(X, Y)
    regressor = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0, dtype=dtype)
    regressor.fit(X, Y / 9)
    for rows in (X, X.astype(np.float32)):
        expected = np.result_type(rows.dtype, dtype)
        assert classifier.predict_proba(rows).dtype == expected
        assert classifier.predict_log_proba(rows).dtype == expected
        assert regressor.predict(rows).dtype == expected


def test_skip_parameter_validation_skips_the_value_checks_as_scikit_learn():
    """scikit-learn's config_context(skip_parameter_validation=True) fits a value outside the
    declared range; the rules between parameters that fit relies on still hold."""
    with sklearn.config_context(skip_parameter_validation=True):
        fitted = MLPRegressor(hidden_layer_sizes=(8,), alpha=-1e-4, max_iter=3).fit(X, Y * 1.0)
        assert fitted.n_iter_ == 3
        with pytest.raises(InvalidParameterError, match="dropout needs a stochastic solver"):
            MLPRegressor(solver="lbfgs", dropout=0.5).fit(X, Y * 1.0)


def test_a_grid_search_in_threads_leaves_the_blas_threads_as_it_found_them():
    """Fits in joblib's threading backend: each sets one BLAS thread for its small products
    (the limit is the process's); the process's thread pools end as they were (they were left
    on one thread: each fit restored what it found, a "1" another fit had set).  In a fresh
    process, so that no thread of this one controls OpenBLAS's limit already."""
    script = """if True:
        import warnings; warnings.simplefilter("ignore")
        from joblib import parallel_backend
        from sklearn.datasets import make_classification
        from sklearn.model_selection import GridSearchCV
        from threadpoolctl import threadpool_info, threadpool_limits
        from nudgenet.sklearn import MLPClassifier
        X, y = make_classification(300, 6, random_state=0)
        def blas():
            return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        before = blas()
        assert max(before) > 1, before  # else there is nothing to restore
        for _ in range(2):
            with parallel_backend("threading", n_jobs=2):
                GridSearchCV(MLPClassifier((16,), max_iter=20, batch_size=16, random_state=0),
                             {"alpha": [1e-4, 1e-3, 1e-2, 1e-1]}, cv=3).fit(X, y)
            assert blas() == before, (before, blas())
    """
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}  # two threads, whatever the cores
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_sparse_rows_are_made_dense_a_batch_at_a_time_to_train_and_to_predict():
    """A wide sparse X (TF-IDF, say) is cast while sparse and made dense a batch at a time to
    train (a float64 copy of all of it was made first, then a float32 one: three dense copies at
    the peak), and predicted at most 16 MiB of rows at a time (all of it was made dense); the
    outputs are those of the dense rows, and so is the training (below)."""
    import tracemalloc

    import scipy.sparse as sp

    from nudgenet.data.sparse_rows import SparseRows
    from nudgenet.sklearn._rows import training_rows

    rows, columns = 3000, 4000
    X = sp.random(rows, columns, density=0.002, format="csr", random_state=0)
    y = np.random.default_rng(0).integers(0, 3, rows)
    dense_float32 = rows * columns * 4
    est = MLPClassifier((8,), max_iter=2, random_state=0)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        fit_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        sparse_out = est.predict_proba(X)
        predict_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fit_peak < 0.5 * dense_float32, fit_peak / dense_float32  # it was 3.3
    assert predict_peak < 0.5 * dense_float32, predict_peak / dense_float32  # it was 3.3
    # kept sparse where its dense rows would be large against it: picking a batch's rows from a
    # sparse matrix costs more than from an array (a narrow X trained 1.5-2.3 times slower)
    narrow = sp.random(1000, 50, density=0.3, format="csr", random_state=0)
    assert isinstance(training_rows("M", narrow, np.float32, True), np.ndarray)
    assert isinstance(training_rows("M", X, np.float32, True), SparseRows)
    assert isinstance(training_rows("M", X, np.float32, False), np.ndarray)  # lbfgs
    np.testing.assert_array_equal(sparse_out, est.predict_proba(X.toarray()))
    for options in ({}, {"early_stopping": True}, {"solver": "sgd"}, {"solver": "lbfgs"},
                    {"dropout": 0.2}):  # the compiled step, its validation rows, the engine
        trained = []
        for rows in (X, X.toarray(), X.tocsc()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fitted = MLPClassifier((8,), max_iter=2, random_state=0, **options).fit(rows, y)
            trained.append(fitted.coefs_ + fitted.intercepts_)
        for sparse_trained in trained[::2]:
            for a, b in zip(sparse_trained, trained[1]):
                np.testing.assert_array_equal(a, b, err_msg=str(options))
    est.partial_fit(X[:100], y[:100])  # a sparse batch of its own
    np.testing.assert_array_equal(est.predict(X.tocsc()), est.predict(X.toarray()))
    beyond = X.tolil()
    beyond[2999, 2], beyond[2000, 9], beyond[2000, 1] = 1e39, -1e39, 1e39
    named = r"got 3 values beyond it, the first 1e\+39 in sample 2000, column 1 \(0-based\)"
    with pytest.raises(ValueError, match=named):
        MLPClassifier((8,), max_iter=2).fit(beyond.tocsr(), y)
    with pytest.raises(ValueError, match=named):  # each batch's own place and count were named
        est.predict(beyond.tocsr())
    # repeated entries (a sum: 2e38 + 2e38) and columns out of order, as CSR allows: the same
    # line (a broadcast error, and the wrong place)
    repeated = sp.csr_matrix(([2e38, 2e38, 0.5], [1, 1, 0], [0, 0, 0, 2, 3]), shape=(4, 3))
    unsorted = sp.csr_matrix(([1e39, 0.5, 0.25], [2, 0, 1], [0, 2, 3, 3, 3]), shape=(4, 3))
    for matrix, place in ((repeated, "4e\\+38 in sample 2, column 1"),
                          (unsorted, "1e\\+39 in sample 0, column 2")):
        with pytest.raises(ValueError, match=f"got 1 value beyond it, the first {place}"):
            MLPClassifier((2,), max_iter=1).fit(matrix, [0, 1, 0, 1])


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_says_why_training_stops_in_scikit_learns_words(early_stopping, capsys):
    """The line scikit-learn prints on stopping, after the last epoch's line (none was)."""
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    X, y = load_digits(return_X_y=True)
    found = []
    for est in (SklearnMLP, MLPClassifier):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est(early_stopping=early_stopping, tol=1e-2, verbose=1, random_state=0).fit(X / 16, y)
        lines = capsys.readouterr().out.strip().splitlines()
        found.append([line for line in lines if "did not improve" in line])
        assert lines[-1] == found[-1][0]
    assert found[0] == found[1] and len(found[1]) == 1


@pytest.mark.parametrize("labels", [
    np.array([3, 1, 2, 1]), np.array([3, 1, 2, 1], dtype=np.uint8), np.array(["b", "a", "c", "a"]),
    np.array([0, 1, 1, 0]), np.array(["no", "yes", "no", "no"]),
], ids=["int", "uint", "str", "binary", "binary-str"])  # fmt: skip
def test_a_partial_fit_batch_s_labels_are_binarised_as_label_binarizer_does(labels):
    """Known classes of a partial_fit batch are binarised at once (LabelBinarizer.transform
    checked y's type again on every call: most of a small batch's time); the same bool columns,
    and labels of another kind or class go to scikit-learn's own checks."""
    from sklearn.preprocessing import LabelBinarizer

    from nudgenet.sklearn._classifier import _known_labels

    binarizer = LabelBinarizer().fit(np.unique(labels))
    for batch in (labels, labels[:2], labels[1:2]):
        expected = binarizer.transform(batch).astype(bool)
        np.testing.assert_array_equal(_known_labels(batch, binarizer), expected)
    assert _known_labels(labels.astype(object), binarizer) is None  # checked as before
    assert _known_labels(np.array([9] if labels.dtype.kind in "iu" else ["z"]), binarizer) is None
    assert _known_labels(np.ones(3), binarizer) is None  # floats: their type is checked
    one = LabelBinarizer().fit([7])  # one class: a column of zeros, scikit-learn's
    assert _known_labels(np.array([7, 7]), one) is None


def test_partial_fit_keeps_scikit_learns_checks_of_one_class_and_of_warm_start():
    """A one-class partial_fit trains toward scikit-learn's target (its binariser's zeros), and
    with warm_start a batch lacking a class is refused as scikit-learn refuses it."""
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    X, y = load_digits(return_X_y=True)
    X = X[:100] / 16
    losses = []
    for cls in (SklearnMLP, MLPClassifier):
        est = cls((8,), random_state=0, dtype="float64") if cls is MLPClassifier else cls(
            (8,), random_state=0)  # fmt: skip
        losses.append(est.partial_fit(X, np.full(100, 7), classes=[7]).loss_)
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)
    for cls in (SklearnMLP, MLPClassifier):
        warm = cls((8,), warm_start=True, max_iter=2, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warm.fit(X, y[:100] % 3)
        with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
            warm.partial_fit(X[:10], np.zeros(10, dtype=int))


def test_partial_fit_trains_the_same_whichever_way_its_labels_are_binarised():
    X, y = load_digits(return_X_y=True)
    fast, checked = MLPClassifier((16,), random_state=0), MLPClassifier((16,), random_state=0)
    for start in range(0, 640, 64):
        rows = slice(start, start + 64)
        fast.partial_fit(X[rows] / 16, y[rows], classes=np.arange(10))
        checked.partial_fit(X[rows] / 16, y[rows].astype(float), classes=np.arange(10.0))
    for a, b in zip(fast.coefs_ + fast.intercepts_, checked.coefs_ + checked.intercepts_):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`"):
        fast.partial_fit(X[:2] / 16, np.array([3, 11]))
