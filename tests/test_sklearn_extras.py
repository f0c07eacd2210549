"""What nudgenet.sklearn adds to scikit-learn's MLP (validation loss and early stopping on it,
dropout, nudgenet's activations and losses by name, the progress display, callbacks), and its
one-line errors."""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import InvalidParameterError

import nudgenet as ng
from nudgenet.sklearn import MLPClassifier, MLPRegressor

X, Y = load_digits(return_X_y=True)
X, Y = X[:300] / 16, Y[:300]


def _fit(est, x=X, y=Y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(x, y, **kw)


class Snapshots(ng.Callback):
    """Keeps the weights and the logs of every epoch."""

    def __init__(self):
        self.weights, self.logs = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.optimizer.flat_params.copy())
        self.logs.append(dict(logs))


@pytest.mark.parametrize("on", ["loss", "score"])
def test_early_stopping_keeps_the_best_epoch_by_validation_loss_or_score(on):
    snapshots = Snapshots()
    est = _fit(MLPClassifier((16,), random_state=0, early_stopping=True, early_stopping_on=on,
                             n_iter_no_change=3, tol=0 if on == "loss" else 1e-3,
                             learning_rate_init=0.05,
                             callbacks=[snapshots]))  # fmt: skip
    curve, scores = est.validation_loss_curve_, est.validation_scores_
    assert len(curve) == len(scores) == est.n_iter_ == len(snapshots.weights) < 200
    best = int(np.argmin(curve)) if on == "loss" else int(np.argmax(scores))
    assert est.n_iter_ == best + 3 + 2  # stopped after n_iter_no_change + 1 epochs without gain
    # each the best of its own curve (scikit-learn's meaning), whichever is stopped on
    assert est.best_validation_loss_ == min(curve) and est.best_validation_score_ == max(scores)
    np.testing.assert_array_equal(est._solver.flat_params, snapshots.weights[best])
    assert [logs["val_loss"] for logs in snapshots.logs] == curve
    assert [logs["sklearn_loss"] for logs in snapshots.logs] == est.loss_curve_


def test_early_stopping_restores_its_best_epoch_over_ng_early_stoppings():
    snapshots, stop = Snapshots(), ng.EarlyStopping(monitor="val_loss", patience=3)
    est = _fit(MLPClassifier((16,), random_state=0, early_stopping=True, learning_rate_init=0.05,
                             callbacks=[snapshots, stop]))  # fmt: skip
    kept = int(np.argmax(est.validation_scores_))  # the estimator's best epoch (by score)
    assert stop.stopped_epoch is not None and stop.best_epoch != kept  # it stopped the fit
    np.testing.assert_array_equal(est._solver.flat_params, snapshots.weights[kept])


def test_validation_loss_is_the_loss_of_the_held_out_rows():
    est = _fit(MLPRegressor(hidden_layer_sizes=(8,), random_state=0, early_stopping=True,
                            max_iter=3, validation_fraction=0.5, alpha=0, dtype="float64",
                            early_stopping_on="loss"))  # fmt: skip
    assert est.validation_loss_curve_[-1] < est.validation_loss_curve_[0]
    rng = np.random.RandomState(0)  # scikit-learn's draws: the initial weights, then the split
    for shape in ((64, 8), 8, (8, 1), 1):
        rng.uniform(size=shape)
    _, held = train_test_split(np.arange(len(X)), random_state=rng, test_size=0.5)
    half_mse = 0.5 * np.mean((est.predict(X[held]) - Y[held]) ** 2)  # the best epoch's weights
    assert est.best_validation_loss_ == pytest.approx(half_mse, rel=1e-9)
    assert MLPRegressor().get_params()["early_stopping_on"] == "score"
    without = _fit(MLPRegressor(hidden_layer_sizes=(8,), max_iter=2))
    assert without.validation_loss_curve_ is None and without.best_validation_loss_ is None


def test_dropout_per_hidden_layer_trains_differently_and_predicts_deterministically():
    params = dict(hidden_layer_sizes=(32, 16), random_state=0, max_iter=30, learning_rate_init=0.01)
    plain = _fit(MLPClassifier(**params))
    dropped = _fit(MLPClassifier(dropout=[0.5, 0.0], **params))
    again = _fit(MLPClassifier(dropout=[0.5, 0.0], **params))
    layers = [type(layer).__name__ for layer in dropped.to_nudgenet()]
    assert layers == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"]
    assert not np.allclose(plain.coefs_[0], dropped.coefs_[0])
    np.testing.assert_array_equal(dropped.coefs_[0], again.coefs_[0])  # same seed, same masks
    np.testing.assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))
    assert dropped.score(X, Y) > 0.8
    numpy_rate = _fit(MLPClassifier(dropout=[np.float32(0.5), 0.0], **params))  # any real rate
    np.testing.assert_array_equal(numpy_rate.coefs_[0], dropped.coefs_[0])


@pytest.mark.parametrize("dropout", [0.0, [0.0, 0]], ids=["rate", "per-layer"])
def test_dropout_of_zero_builds_no_layer_and_is_taken_by_lbfgs(dropout):
    params = dict(hidden_layer_sizes=(8, 4), solver="lbfgs", max_iter=5, random_state=0)
    zero = _fit(MLPClassifier(dropout=dropout, **params))
    plain = _fit(MLPClassifier(**params))
    assert [type(layer).__name__ for layer in zero.to_nudgenet()] == [
        "Linear", "ReLU", "Linear", "ReLU", "Linear"
    ]
    for a, b in zip(zero.coefs_, plain.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dropout, message", [
    (0.5, r"dropout must be None or 0 without hidden layers \(hidden_layer_sizes=\(\)\), got 0.5"),
    ([0.5], r"dropout must be None, a rate in \[0, 1\) or one rate per hidden layer \(0\), "
     r"got \[0.5\]"),
])  # fmt: skip
def test_dropout_without_hidden_layers_is_refused_as_a_parameter(dropout, message):
    est = MLPClassifier(hidden_layer_sizes=(), dropout=dropout, max_iter=2)
    with pytest.raises(InvalidParameterError, match=f"^MLPClassifier: {message}$"):
        est.fit(X, Y)
    assert _fit(est.set_params(dropout=0.0)).n_layers_ == 2  # 0 drops nothing: taken


@pytest.mark.parametrize("activation, layer", [("leaky_relu", "LeakyReLU"),
                                               ("softplus", "Softplus"), ("logistic", "Sigmoid"),
                                               ("identity", None)])  # fmt: skip
def test_activations_by_scikit_learn_or_nudgenet_name(activation, layer):
    est = _fit(
        MLPClassifier(
            (16,), activation=activation, random_state=0, max_iter=30, learning_rate_init=0.02
        )
    )
    names = [type(m).__name__ for m in est.to_nudgenet()]
    assert names == ["Linear", layer, "Linear"] if layer else names == ["Linear", "Linear"]
    assert est.score(X, Y) > 0.8


def test_losses_by_name():
    binary = Y % 2
    softmax = _fit(MLPClassifier((8,), loss="cross_entropy", random_state=0, max_iter=20), y=binary)
    assert softmax.out_activation_ == "softmax" and softmax.coefs_[-1].shape == (8, 2)
    np.testing.assert_allclose(softmax.predict_proba(X).sum(axis=1), 1, rtol=1e-6)
    logistic = _fit(MLPClassifier((8,), loss="bce_with_logits", random_state=0, max_iter=20),
                    y=binary)  # fmt: skip
    assert logistic.out_activation_ == "logistic" and logistic.coefs_[-1].shape == (8, 1)
    one_batch = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=1, alpha=0, batch_size=300)
    half = _fit(MLPRegressor(**one_batch), y=Y * 0.1)
    full = _fit(MLPRegressor(loss="mse", **one_batch), y=Y * 0.1)
    assert full.loss_ == pytest.approx(2 * half.loss_, rel=1e-6)  # nudgenet's mean square


@pytest.mark.parametrize("loss", ["log_loss", "cross_entropy"])
def test_labels_of_one_class_predict_it_whatever_the_scores(loss):
    """As scikit-learn's MLP: the one class for every row, and two probability columns (with
    cross_entropy, an argmax on the second, which scores no class, raised an IndexError)."""
    x = np.random.default_rng(0).normal(size=(60, 4))
    est = MLPClassifier((8,), loss=loss, max_iter=1, learning_rate_init=1e-6, random_state=3)
    est = _fit(est, x, y=np.full(len(x), 7))  # scores near the random start
    proba = est.predict_proba(x)
    assert proba.shape == (len(x), 2) and (proba[:, 1] > proba[:, 0]).any()
    assert est.predict(x).tolist() == [7] * len(x)


def test_verbose_shows_nudgenets_progress_and_callbacks_get_the_logs(capsys):
    seen = Snapshots()
    _fit(MLPClassifier((8,), max_iter=2, verbose=2, random_state=0, callbacks=[seen]))
    out = capsys.readouterr().out
    assert "Epoch 1/2 " in out and "Epoch 2/2 " in out and "sklearn_loss" in out
    assert len(seen.logs) == 2 and {"loss", "sklearn_loss", "lr"} <= set(seen.logs[0])
    _fit(MLPClassifier((8,), solver="lbfgs", max_iter=2, verbose=True, random_state=0))
    assert "Iteration 1, loss = " in capsys.readouterr().out


ERRORS = {
    "hidden": (MLPClassifier(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes must be whole "
               "numbers >= 1 (one per hidden layer), got (10, 0)"),
    "activation": (MLPClassifier(activation="gelu"), "activation must be one of identity, "
                   "logistic, relu"),
    "solver": (MLPRegressor(solver="newton"), "solver must be 'lbfgs', 'sgd' or 'adam', got "
               "'newton'"),
    "momentum": (MLPClassifier(momentum=1.5), "momentum must be a number in [0, 1], got 1.5"),
    "loss": (MLPRegressor(loss="log_loss"), "loss must be one of squared_error, poisson, mse"),
    "dropout": (MLPClassifier(dropout=1.0), "dropout must be None, a rate in [0, 1)"),
    "dropout-bool": (MLPClassifier(dropout=[False]), "dropout must be None, a rate in [0, 1)"),
    "dropout-layers": (MLPClassifier(dropout=[0.1, 0.2]), "one rate per hidden layer (1), got "
                       "[0.1, 0.2]"),
    "lbfgs-dropout": (MLPClassifier(solver="lbfgs", dropout=0.2), "dropout needs a stochastic "
                      "solver"),
    "callbacks": (MLPClassifier(callbacks=[print]), "callbacks must be None or a list of "
                  "nudgenet callbacks"),
    "lbfgs-callbacks": (MLPClassifier(solver="lbfgs", callbacks=[ng.EarlyStopping()]),
                        "callbacks need a stochastic solver ('adam' or 'sgd'); L-BFGS runs no "
                        "epochs to call them at, got solver='lbfgs' with callbacks "
                        "[EarlyStopping]"),
    "multiclass-bce": (MLPClassifier(loss="bce_with_logits"), "loss='bce_with_logits' scores "
                       "two classes or multilabel targets, got 10 classes"),
    "negative-poisson": (MLPRegressor(loss="poisson"), "PoissonLoss: expected targets >= 0"),
}  # fmt: skip


@pytest.mark.parametrize("name", ERRORS)
def test_bad_settings_are_one_line_errors(name):
    est, message = ERRORS[name]
    y = Y - 5.0 if name == "negative-poisson" else Y
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        est.fit(X, y)
    assert "\n" not in str(raised.value)


SKLEARN_NON_FINITE = (  # scikit-learn's words, which users match on
    r"^Solver produced non-finite parameter weights\. The input data may contain large values "
    r"and need to be preprocessed\."
)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", [MLPClassifier, MLPRegressor])
def test_a_fit_whose_loss_stops_being_finite_raises_scikit_learns_error(kind, solver, method):
    est = kind(hidden_layer_sizes=(8,), solver=solver, learning_rate_init=1e30, batch_size=50,
               max_iter=1, random_state=0)  # fmt: skip
    fitting = getattr(est, method)
    options = {"classes": np.arange(10)} if (method, kind) == ("partial_fit", MLPClassifier) else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's overflow
        warnings.simplefilter("error", ConvergenceWarning)  # not "max_iter reached" as well
        warnings.simplefilter("error", ng.DivergenceWarning)  # nor fit's: the error says it all
        with pytest.raises(ValueError, match=SKLEARN_NON_FINITE + r" nudgenet: the training loss "
                           r"became (nan|inf) in epoch 1, step \d+; .* Lower learning_rate_init "
                           r"or scale the inputs") as raised:  # fmt: skip
            fitting(X, Y * 1.0, **options)
    assert "\n" not in str(raised.value)
    # left fitted, as scikit-learn leaves it: the last finite weights, the loss curve as it went
    assert not np.isfinite(est.loss_curve_[-1]) and est.n_iter_ == len(est.loss_curve_) == 1
    assert all(np.isfinite(c).all() for c in est.coefs_)
    with np.errstate(all="ignore"):  # huge weights
        assert len(est.predict(X)) == len(X)


def test_lbfgs_on_a_loss_that_is_not_finite_raises_scikit_learns_error():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=SKLEARN_NON_FINITE + r" nudgenet: L-BFGS-B's loss "
                           r"is (nan|inf) after 0 iterations, .* Scale the inputs"):  # fmt: skip
            MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X * 1e300, Y)


@pytest.mark.parametrize("call", ["fit", "partial_fit", "predict", "predict_proba", "score"])
def test_inputs_beyond_float32s_range_are_one_line_errors_where_float32_trains(call):
    big = X.copy()
    big[3, 5] = -1e39  # finite in float64, -inf in float32
    est = MLPClassifier((8,), max_iter=2, random_state=0)
    if call in ("predict", "predict_proba", "score"):
        _fit(est)
    action = {
        "fit": lambda: est.fit(big, Y),
        "partial_fit": lambda: est.partial_fit(big, Y, classes=np.arange(10)),
        "predict": lambda: est.predict(big),
        "predict_proba": lambda: est.predict_proba(big),
        "score": lambda: est.score(big, Y),
    }
    message = (
        r"^MLPClassifier: expected X within float32's range \(±3.403e\+38\), got 1 value beyond "
        r"it, the first -1e\+39 in sample 3, column 5 \(0-based\); scale X, or fit with "
        r"dtype='float64'"
    )
    before = [c.copy() for c in est.coefs_] if hasattr(est, "coefs_") else None
    with pytest.raises(ValueError, match=message) as raised:
        action[call]()
    assert "\n" not in str(raised.value)
    if before is None:  # refused before the first network was built
        assert not hasattr(est, "coefs_")
    else:
        assert all(np.array_equal(a, b) for a, b in zip(before, est.coefs_))
    wide = _fit(MLPClassifier((8,), max_iter=2, random_state=0, dtype="float64"), x=big)
    assert np.isfinite(wide.predict_proba(big)).all()  # float64 holds it


def test_regression_targets_beyond_float32s_range_are_one_line_errors():
    y = Y * 1e38  # beyond float32 from 4 up
    with pytest.raises(ValueError, match=r"^MLPRegressor: expected y within float32's range "
                       r"\(±3.403e\+38\), got 181 values beyond it, the first 4e\+38 in "
                       r"sample 4, column 0 \(0-based\)"):  # fmt: skip
        MLPRegressor(hidden_layer_sizes=(8,), max_iter=2).fit(X, y)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_negative_sample_weight_is_the_same_error_for_every_solver(solver):
    weights = np.ones(len(X))
    weights[3] = -1.0
    with pytest.raises(ValueError, match="^Negative values in data passed to `sample_weight`"):
        MLPClassifier((4,), solver=solver, max_iter=2).fit(X, Y, sample_weight=weights)


def test_partial_fit_exists_for_stochastic_solvers_only():
    assert hasattr(MLPClassifier(), "partial_fit")
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        MLPRegressor(early_stopping=True).partial_fit(X, Y * 1.0)
    est = MLPClassifier((8,)).partial_fit(X, Y, classes=np.arange(10))
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        est.partial_fit(X, Y + 10)
    warm = _fit(MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, warm_start=True), y=Y * 1.0)
    with pytest.raises(ValueError, match=r"needs the fitted network's loss 'squared_error', "
                                         r"got 'poisson'$"):  # fmt: skip
        warm.set_params(loss="poisson").fit(X, Y * 1.0)


CHANGES = {
    "layers": ({"hidden_layer_sizes": (9,)}, "layers [64, 8, 10], got [64, 9, 10]"),
    "activation": ({"activation": "tanh"}, "activation 'relu', got 'tanh'"),
    "dropout": ({"dropout": 0.5}, "dropout [0.0], got [0.5]"),
    "dtype": ({"dtype": "float64"}, "dtype 'float32', got 'float64'"),
    "several": ({"activation": "identity", "dtype": np.float64},
                "activation 'relu' and dtype 'float32', got 'identity' and 'float64'"),
    "lbfgs-after-dropout": ({"solver": "lbfgs", "dropout": None},
                            "dropout [0.3], got [0.0]"),
}  # fmt: skip


@pytest.mark.parametrize("name, how", [
    (name, how) for name in CHANGES for how in ("warm_start", "partial_fit")
    if (name, how) != ("lbfgs-after-dropout", "partial_fit")  # lbfgs has no partial_fit
])  # fmt: skip
def test_warm_fits_refuse_parameters_the_fitted_network_was_not_built_with(name, how):
    change, message = CHANGES[name]
    dropout = 0.3 if name == "lbfgs-after-dropout" else None
    est = _fit(MLPClassifier((8,), max_iter=3, random_state=0, warm_start=True, dropout=dropout))
    before = [c.copy() for c in est.coefs_]
    est.set_params(**change)
    with pytest.raises(ValueError, match=re.escape(f"MLPClassifier: warm_start/partial_fit needs "
                                                   f"the fitted network's {message}")):
        if how == "warm_start":
            est.fit(X, Y)
        else:
            est.partial_fit(X, Y)
    for a, b in zip(before, est.coefs_):  # refused before training
        np.testing.assert_array_equal(a, b)


def test_warm_fits_take_what_builds_the_same_network():
    est = _fit(MLPClassifier((8,), activation="logistic", max_iter=3, random_state=0,
                             warm_start=True))  # fmt: skip
    network = est._model
    _fit(est.set_params(activation="sigmoid", dropout=0.0, dtype="float32"))  # the same layers
    _fit(est.set_params(dtype=None, solver="lbfgs"))  # None: the fitted network's dtype
    assert est._model is network and est.coefs_[0].dtype == np.float32
    flat = _fit(MLPRegressor(hidden_layer_sizes=(), max_iter=3, warm_start=True), y=Y * 1.0)
    _fit(flat.set_params(activation="tanh"), y=Y * 1.0)  # no hidden layer: no activation

def test_callbacks_on_val_score_keep_the_highest():
    """val_score (accuracy here, R² for a regressor) is higher-better: EarlyStopping's mode
    "auto" keeps its highest epoch, ReduceLROnPlateau never cuts the rate after a new best."""
    stop = ng.EarlyStopping(monitor="val_score", patience=3)
    rates, scores = [], []
    watch = ng.LambdaCallback(on_epoch_end=lambda epoch, logs: (
        rates.append(logs["lr"]), scores.append(logs["val_score"])))  # fmt: skip
    plateau = ng.ReduceLROnPlateau(monitor="val_score", patience=2, factor=0.5)
    est = MLPClassifier((16,), early_stopping=True, n_iter_no_change=1000, max_iter=60,
                        random_state=0, callbacks=[stop, plateau, watch])  # fmt: skip
    _fit(est)
    assert stop.best == max(est.validation_scores_) == max(scores)
    assert est.n_iter_ == stop.best_epoch + 1 + 3 < 60  # stopped 3 epochs after its best
    cuts = [epoch for epoch in range(1, len(rates)) if rates[epoch] < rates[epoch - 1]]
    assert cuts and all(scores[e - 1] <= max(scores[: e - 1]) for e in cuts)  # not after a best
