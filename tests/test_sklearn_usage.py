"""nudgenet.sklearn in scikit-learn's machinery (Pipeline, GridSearchCV with two processes,
clone, cross_val_score), pickling for joblib, nudgenet model files (save/load, no pickle),
to_nudgenet, and the one-line ImportError without the extra."""

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nudgenet as ng
from nudgenet.errors import ModelFileError
from nudgenet.sklearn import MLPClassifier, MLPRegressor

X, Y = load_digits(return_X_y=True)
X, Y = X[:400] / 16, Y[:400]
LABELS = np.array(["zero", "one", "two"])[Y % 3]  # string labels
XB, YB = load_breast_cancer(return_X_y=True)


def _process_id(estimator, x, y) -> int:
    """A "score": the id of the process that fitted and scored ``estimator``."""
    return os.getpid()


def test_grid_search_over_a_pipeline_with_two_processes():
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(8,), (32,)]}, cv=2,
                        n_jobs=2, scoring={"accuracy": "accuracy", "process": _process_id},
                        refit="accuracy")  # fmt: skip
    with pytest.warns(Warning):  # max_iter=30 does not converge: ConvergenceWarning
        grid.fit(XB, YB)
    workers = {grid.cv_results_[f"split{k}_test_process"][i] for k in range(2) for i in range(2)}
    assert os.getpid() not in workers  # the estimators were pickled to other processes
    assert grid.best_score_ > 0.9
    assert grid.best_estimator_.score(XB, YB) > 0.95


def test_cross_val_score_and_clone():
    est = MLPClassifier(hidden_layer_sizes=(16,), max_iter=40, random_state=0)
    with pytest.warns(Warning):
        scores = cross_val_score(est, X, LABELS, cv=3)
    assert scores.min() > 0.6  # three groups of digits, 40 epochs
    copy = clone(est)
    assert copy.get_params() == est.get_params() and not hasattr(copy, "coefs_")


def test_cross_val_score_and_clone_with_a_tensorboard_callback(tmp_path):
    """clone deep-copies the callbacks: TensorBoard holds no module or open writer."""
    board = ng.TensorBoard(tmp_path / "logs", histogram_freq=0)
    est = MLPClassifier((8,), max_iter=3, random_state=0, callbacks=[board])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(est, X, Y, cv=2)
        clone(est).fit(X, Y)
    assert len(scores) == 2 and est.callbacks[0]._writers == {}
    assert len(list((tmp_path / "logs" / "train").iterdir())) == 3  # an event file per fit


def test_same_random_state_same_model_bit_for_bit():
    a = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=3).fit(X, Y * 1.0)
    b = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=3).fit(X, Y * 1.0)
    assert all(np.array_equal(p, q) for p, q in zip(a.coefs_, b.coefs_))
    assert a.loss_curve_ == b.loss_curve_


def test_pickle_round_trip_keeps_predictions_and_the_solver_state():
    est = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, shuffle=False)
    est.partial_fit(X, LABELS, classes=np.unique(LABELS))
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    est.partial_fit(X, LABELS)  # Adam's moments travel with the pickle: the same next epoch
    copy.partial_fit(X, LABELS)
    for mine, theirs in zip(copy.coefs_ + copy.intercepts_, est.coefs_ + est.intercepts_):
        np.testing.assert_array_equal(mine, theirs)
    copy.coefs_[0][...] = 0  # coefs_ is still the network's own array after unpickling
    assert not np.array_equal(copy.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("make, y", [
    (lambda: MLPClassifier((12,), max_iter=20, random_state=0), LABELS),
    (lambda: MLPClassifier((12,), max_iter=20, random_state=0), np.c_[Y % 2, Y % 3 == 0]),
    (lambda: MLPRegressor(hidden_layer_sizes=(12,), max_iter=20, random_state=0,
                          early_stopping=True), np.c_[Y, -Y] / 9),
    (lambda: MLPClassifier((12,), max_iter=20, random_state=0),
     np.array(["2020-01-01", "2021-06-30", "2022-12-31"], "datetime64[D]")[Y % 3]),
    (lambda: MLPClassifier((12,), max_iter=20, random_state=0),
     np.array([1, 90, 3600], "timedelta64[s]")[Y % 3]),
], ids=["string-labels", "multilabel", "two-outputs-early-stopping", "dates",
        "durations"])  # fmt: skip
def test_save_and_load_give_the_same_estimator(make, y, tmp_path):
    """Labels that are dates or durations (NumPy's datetime64, timedelta64) failed to save: JSON
    holds no Python date; they are kept as counts of their unit."""
    with pytest.warns(Warning):
        est = make().fit(X, y)
    path = est.save(tmp_path / "model.safetensors")
    assert b"pickle" not in path.read_bytes()[:200] and path.read_bytes()[8:9] == b"{"
    loaded = type(est).load(path)
    assert loaded.get_params() == est.get_params()
    for name in ("n_iter_", "t_", "loss_", "n_outputs_", "out_activation_", "n_features_in_"):
        assert getattr(loaded, name) == getattr(est, name)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    if hasattr(est, "classes_"):
        np.testing.assert_array_equal(loaded.classes_, est.classes_)
        np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    else:
        assert loaded.validation_scores_ == est.validation_scores_
    assert isinstance(ng.load(path), ng.Sequential)  # an ordinary nudgenet model file


def test_callbacks_and_a_random_state_generator_are_not_saved_and_refitting_works(tmp_path):
    stop = ng.EarlyStopping(monitor="loss", patience=2)
    est = MLPClassifier((8,), max_iter=20, random_state=np.random.RandomState(0), callbacks=[stop])
    with pytest.warns(Warning):
        est.fit(X, Y)
    loaded = MLPClassifier.load(est.save(tmp_path / "callbacks.safetensors"))
    assert loaded.callbacks is None and loaded.random_state is None  # JSON holds neither
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    with pytest.warns(Warning):
        assert loaded.set_params(max_iter=2).fit(X, Y).n_iter_ == 2  # fits again
    seeded = MLPClassifier.load(est.set_params(random_state=7).save(tmp_path / "seed.safetensors"))
    assert seeded.random_state == 7  # a seed is kept
    copy = clone(est)  # clone copies the callbacks: a fresh EarlyStopping, as fit needs
    assert copy.callbacks[0] is not stop and isinstance(copy.callbacks[0], ng.EarlyStopping)
    with pytest.warns(Warning):
        assert copy.set_params(max_iter=3).fit(X, Y).n_iter_ == 3


def test_load_refuses_other_files(tmp_path):
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with pytest.warns(Warning):
        est.fit(X, Y * 1.0)
    path = est.save(tmp_path / "regressor.safetensors")
    with pytest.raises(ModelFileError, match="expected a saved MLPClassifier, the file holds "
                                             "MLPRegressor"):  # fmt: skip
        MLPClassifier.load(path)
    plain = ng.save(ng.Sequential(ng.Linear(2, 1)), tmp_path / "plain.safetensors")
    with pytest.raises(ModelFileError, match="holds no scikit-learn estimator"):
        MLPRegressor.load(plain)


def test_to_nudgenet_gives_the_trained_network_scoring_logits():
    with pytest.warns(Warning):
        est = MLPClassifier((16,), max_iter=20, random_state=0).fit(X, Y)
    model = est.to_nudgenet()
    assert isinstance(model, ng.Sequential) and not model.training
    logits = ng.predict(model, X)
    np.testing.assert_allclose(ng.CrossEntropyLoss().probabilities(logits),
                               est.predict_proba(X), rtol=1e-5)  # fmt: skip
    model[0].weight.data[...] = 0  # a copy: the estimator is unchanged
    assert est.coefs_[0].any()


@pytest.mark.parametrize("missing, package", [("sklearn", "scikit-learn"), ("scipy", "scipy")])
def test_without_scikit_learn_or_scipy_the_import_names_the_extra(missing, package):
    """The package by its name on the package index (scikit-learn, not sklearn)."""
    code = f"import sys; sys.modules[{missing!r}] = None; import nudgenet.sklearn"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1
    assert last == (
        f"ImportError: nudgenet.sklearn needs {package}, an optional extra: "
        'pip install "nudgenet[sklearn]"'
    )


def test_the_nudgenet_network_exports_to_onnx_and_explains(tmp_path):
    import onnxruntime as ort  # the test extra has it: the test runs in CI

    with pytest.warns(Warning):
        est = MLPClassifier((16,), max_iter=20, random_state=0).fit(X, Y)
    net = est.to_nudgenet()
    session = ort.InferenceSession(str(ng.export_onnx(net, tmp_path / "digits.onnx")))
    rows = X[:5].astype(np.float32)
    logits, label, probabilities = session.run(None, {session.get_inputs()[0].name: rows})
    np.testing.assert_allclose(logits, ng.predict(net, rows), rtol=1e-5, atol=1e-6)
    # the network's metadata records the loss: label and probabilities are the estimator's
    np.testing.assert_array_equal(est.classes_[label], est.predict(rows))
    np.testing.assert_allclose(probabilities, est.predict_proba(rows), atol=1e-6)
    assert isinstance(ng.explain(net, ng.CrossEntropyLoss(), rows, Y[:5]), ng.Explanation)
