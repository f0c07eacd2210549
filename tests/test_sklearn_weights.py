"""sample_weight and class_weight mean what they say: with one batch (``lbfgs``, or a batch
as large as the data), weight 0 is dropping the row and a whole weight k is repeating it k
times; class weights are sample weights by class."""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

from nudgenet.sklearn import MLPClassifier, MLPRegressor

X, Y = load_digits(return_X_y=True)
X, Y = X[:150] / 16, Y[:150] % 3
WEIGHTS = np.random.default_rng(1).integers(0, 4, len(X))  # zeros, ones and repeats
REPEATED = np.repeat(np.arange(len(X)), WEIGHTS)
ONE_BATCH = {
    "lbfgs": dict(solver="lbfgs", max_iter=30),
    "adam-one-batch": dict(solver="adam", batch_size=1000, max_iter=30, learning_rate_init=0.01),
    "sgd-one-batch": dict(solver="sgd", batch_size=1000, max_iter=30, learning_rate_init=0.1),
    "sgd-adaptive-one-batch": dict(solver="sgd", batch_size=1000, max_iter=30,
                                   learning_rate_init=0.1, learning_rate="adaptive", tol=0.05,
                                   n_iter_no_change=2),  # the rate divided by 5 on the way
}  # sgd "invscaling" is the exception: its t_ counts rows, not weight (test below)
TOLERANCE = {"float64": dict(rtol=1e-7, atol=1e-10), "float32": dict(rtol=2e-3, atol=2e-4)}


def _fit(est, x, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter warnings; the batch size clipped to the rows
        return est.fit(x, y, **kw)


# lbfgs only in float64 (its default): float32 rounding sends its line searches apart
@pytest.mark.parametrize(
    "solver, dtype",
    [
        (solver, dtype)
        for solver in ONE_BATCH
        for dtype in ("float64", "float32")
        if (solver, dtype) != ("lbfgs", "float32")
    ],
)
@pytest.mark.parametrize("kind", [MLPClassifier, MLPRegressor])
def test_whole_weights_equal_repeated_rows_and_zero_equals_dropped(kind, solver, dtype):
    params = dict(hidden_layer_sizes=(10,), random_state=0, dtype=dtype, **ONE_BATCH[solver])
    y = Y if kind is MLPClassifier else Y / 2.0
    weighted = _fit(kind(**params), X, y, sample_weight=WEIGHTS)
    repeated = _fit(kind(**params), X[REPEATED], y[REPEATED])
    for a, b in zip(weighted.coefs_ + weighted.intercepts_, repeated.coefs_ + repeated.intercepts_):
        np.testing.assert_allclose(a, b, **TOLERANCE[dtype])
    assert weighted.loss_ == pytest.approx(repeated.loss_, rel=TOLERANCE[dtype]["rtol"])
    if params.get("learning_rate") == "adaptive":
        assert weighted._solver.lr == repeated._solver.lr < params["learning_rate_init"]
    unweighted = _fit(kind(**params), X, y)  # the weights changed something
    assert not np.allclose(unweighted.coefs_[0], weighted.coefs_[0], **TOLERANCE[dtype])


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("kind", [MLPClassifier, MLPRegressor])
def test_partial_fit_weights_equal_repeated_rows_and_zero_equals_dropped(kind, solver):
    """Each partial_fit call is one pass over its rows; as one batch, weights are repeats."""
    params = dict(hidden_layer_sizes=(10,), random_state=0, dtype="float64", solver=solver,
                  batch_size=1000, learning_rate_init=0.05)  # fmt: skip
    y = Y if kind is MLPClassifier else Y / 2.0
    first = {"classes": np.arange(3)} if kind is MLPClassifier else {}

    def passes(x, y, **weights):
        est = kind(**params)
        for call in range(3):
            est.partial_fit(x, y, **weights, **(first if call == 0 else {}))
        return est

    weighted, repeated = passes(X, y, sample_weight=WEIGHTS), passes(X[REPEATED], y[REPEATED])
    for a, b in zip(weighted.coefs_ + weighted.intercepts_, repeated.coefs_ + repeated.intercepts_):
        np.testing.assert_allclose(a, b, **TOLERANCE["float64"])
    unweighted = passes(X, y)  # the weights changed something
    assert not np.allclose(unweighted.coefs_[0], weighted.coefs_[0], **TOLERANCE["float64"])


def test_class_weight_is_sample_weight_by_class_and_multiplies_it():
    params = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=5)
    balanced = compute_class_weight("balanced", classes=np.arange(3), y=Y, sample_weight=WEIGHTS)
    by_class = {0: 1.0, 1: 3.0, 2: 0.5}
    # "balanced" counts each row by its sample weight, as scikit-learn's compute_class_weight
    for class_weight, factors in (("balanced", balanced[Y]),
                                  (by_class, compute_sample_weight(by_class, Y))):  # fmt: skip
        a = _fit(MLPClassifier(class_weight=class_weight, **params), X, Y, sample_weight=WEIGHTS)
        b = _fit(MLPClassifier(**params), X, Y, sample_weight=WEIGHTS * factors)
        for p, q in zip(a.coefs_, b.coefs_):
            np.testing.assert_array_equal(p, q)


def test_multilabel_class_weight_is_one_dict_per_label(tmp_path):
    y = np.c_[Y == 0, Y == 1]
    per_label = [{0: 1.0, 1: 3.0}, {0: 0.5, 1: 1.0}]
    params = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=5)
    a = _fit(MLPClassifier(class_weight=per_label, **params), X, y, sample_weight=WEIGHTS)
    b = _fit(MLPClassifier(**params), X, y,
             sample_weight=WEIGHTS * compute_sample_weight(per_label, y))  # fmt: skip
    for p, q in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(p, q)
    assert MLPClassifier.load(a.save(tmp_path / "a.safetensors")).get_params() == a.get_params()
    errors = [
        ({0: 1.0, 1: 3.0}, y, r"class_weight: multilabel targets need one dict per label \(a "
         r"list of 2 dicts\), got a dict"),
        (per_label[:1], y, r"class_weight: expected one dict per label \(2\), got 1"),
        (per_label, Y, r"class_weight: a list of dicts is for multilabel targets \(one per "
         r"label\); these targets need one dict \{class: weight\}"),
    ]  # fmt: skip
    for class_weight, targets, message in errors:
        with pytest.raises(ValueError, match=message) as raised:
            MLPClassifier(class_weight=class_weight, **params).fit(X, targets)
        assert "\n" not in str(raised.value)


@pytest.mark.parametrize("class_weight", ["balanced", [{0: 1.0, 1: 3.0}, {0: 0.5, 1: 1.0}]])
def test_class_weight_takes_sparse_multilabel_targets_as_their_dense_columns(class_weight):
    """Sparse multilabel targets with class_weight raised NumPy's "sparse array length is
    ambiguous" (dense ones and sparse ones without class_weight fitted)."""
    y = np.c_[Y == 0, Y == 1].astype(int)
    params = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=5, class_weight=class_weight)
    a = _fit(MLPClassifier(**params), X, sp.csr_matrix(y))
    b = _fit(MLPClassifier(**params), X, y)
    for p, q in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(p, q)
    if class_weight != "balanced":  # (partial_fit takes no "balanced")
        c = MLPClassifier(**params).partial_fit(X, sp.csr_matrix(y), classes=[0, 1])
        d = MLPClassifier(**params).partial_fit(X, y, classes=[0, 1])
        np.testing.assert_array_equal(c.coefs_[0], d.coefs_[0])


@pytest.mark.parametrize("y", [Y, np.c_[Y == 0, Y == 1]], ids=["multiclass", "multilabel"])
def test_balanced_class_weight_keeps_whole_weights_equal_to_repeated_rows(y):
    params = dict(hidden_layer_sizes=(10,), random_state=0, class_weight="balanced",
                  **ONE_BATCH["lbfgs"])  # fmt: skip
    weighted = _fit(MLPClassifier(**params), X, y, sample_weight=WEIGHTS)
    repeated = _fit(MLPClassifier(**params), X[REPEATED], y[REPEATED])
    for a, b in zip(weighted.coefs_ + weighted.intercepts_, repeated.coefs_ + repeated.intercepts_):
        np.testing.assert_allclose(a, b, **TOLERANCE["float64"])


def test_balanced_class_weight_lifts_a_rare_class():
    rare = np.r_[np.flatnonzero(Y != 2), np.flatnonzero(Y == 2)[:4]]
    params = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=60)
    plain = _fit(MLPClassifier(**params), X[rare], Y[rare])
    balanced = _fit(MLPClassifier(class_weight="balanced", **params), X[rare], Y[rare])
    twos = X[Y == 2]
    assert (balanced.predict(twos) == 2).mean() > (plain.predict(twos) == 2).mean()


def test_partial_fit_refuses_balanced_class_weight():
    est = MLPClassifier(class_weight="balanced")
    with pytest.raises(ValueError, match="class_weight='balanced' is not supported for "
                                         "partial_fit"):  # fmt: skip
        est.partial_fit(X, Y, classes=[0, 1, 2])


def test_balanced_class_weight_with_a_class_of_weight_zero_fits():
    weights = np.where(Y == 2, 0.0, 1.0)  # class 2 weighs nothing: no division by its total
    est = _fit(MLPClassifier((8,), class_weight="balanced", max_iter=3, random_state=0), X, Y,
               sample_weight=weights)  # fmt: skip
    assert est.n_iter_ == 3 and all(np.isfinite(c).all() for c in est.coefs_)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("class_weight, y, message", [
    ({0: 1.0, 2: -1.0}, Y, "got -1.0 for class 2"),
    ({"0": 1.0, 1: np.nan}, Y, "got nan for class 1"),
    ({0: "3"}, Y, "got '3' for class 0"),
    ([{0: 1.0, 1: 2.0}, {0: np.inf}], np.c_[Y == 0, Y == 1], "got inf for class 0 of label 1"),
], ids=["negative", "nan", "text", "multilabel-inf"])  # fmt: skip
def test_class_weight_values_are_checked_once_naming_the_class(solver, class_weight, y, message):
    est = MLPClassifier((4,), solver=solver, max_iter=2, class_weight=class_weight)
    with pytest.raises(InvalidParameterError, match=re.escape(
        f"MLPClassifier: class_weight must give each class a finite weight >= 0, {message}"
    )):  # fmt: skip
        est.fit(X, y)


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_row_weights_of_zero_everywhere_are_refused_by_every_solver(solver):
    message = r"^MLPClassifier: class_weight .* leaves every row weight 0 \(times sample_weight\)"
    est = MLPClassifier((4,), solver=solver, max_iter=2, class_weight={0: 0, 1: 0, 2: 0})
    with pytest.raises(ValueError, match=message):
        est.fit(X, Y)
    with pytest.raises(ValueError, match=message):  # sample_weight zero on the other classes
        est.set_params(class_weight={0: 0}).fit(X, Y, sample_weight=(Y == 0) * 1.0)
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("y, class_weight", [
    (np.array(["cat", "dog", "eel"])[Y], {"cat": 3.0, "eel": 5.0}),  # dog: weight 1
    (np.c_[Y == 0, Y == 2], [{0: 0.5, 1: 2.0}, {1: 3.0}]),
], ids=["labels", "multilabel"])  # fmt: skip
def test_partial_fit_weighs_classes_over_all_classes_as_fit(y, class_weight):
    first = np.flatnonzero(Y != 2)  # a batch lacking a class ("eel"; label 1's positives)
    batches = [first, np.arange(len(Y))]
    by_class = compute_sample_weight(class_weight, y)  # over the whole data, as fit weighs
    params = dict(hidden_layer_sizes=(8,), random_state=0)
    weighted = MLPClassifier(class_weight=class_weight, **params)
    explicit = MLPClassifier(**params)
    classes = {"classes": np.unique(y) if y.ndim == 1 else np.arange(y.shape[1])}
    for rows in batches:
        weighted.partial_fit(X[rows], y[rows], **classes)
        explicit.partial_fit(X[rows], y[rows], sample_weight=by_class[rows], **classes)
    for a, b in zip(weighted.coefs_, explicit.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
@pytest.mark.parametrize("kind", [MLPClassifier, MLPRegressor])
def test_weights_beyond_the_dtypes_range_train_as_the_same_weights_in_range(kind, solver):
    # the loss divides by the weight total: scaled by 2^130 (up to 4e39, beyond float32's
    # range), the weights train the same network bit for bit (alpha=0: scikit-learn divides
    # the L2 term by the weight total, so there a scale does change the fit)
    stochastic = {} if solver == "lbfgs" else {"early_stopping": True}  # weighted validation
    params = dict(hidden_layer_sizes=(8,), solver=solver, dtype="float32", max_iter=5, alpha=0,
                  random_state=0, **stochastic)  # fmt: skip
    y = Y if kind is MLPClassifier else Y / 2.0
    fits = [_fit(kind(**params), X, y, sample_weight=WEIGHTS * scale) for scale in (1, 2.0**130)]
    for a, b in zip(fits[0].coefs_ + fits[0].intercepts_, fits[1].coefs_ + fits[1].intercepts_):
        np.testing.assert_array_equal(a, b)
    assert fits[0].loss_ == fits[1].loss_
    if stochastic:
        assert fits[0].validation_loss_curve_ == fits[1].validation_loss_curve_


def test_invscaling_counts_rows_not_weight_as_scikit_learn():
    # the one schedule where weight k is not k repeats: lr / (t_ + 1) ** power_t with t_
    # counting the rows seen, as scikit-learn's MLP counts them (the README says so)
    params = dict(hidden_layer_sizes=(10,), random_state=0, dtype="float64",
                  learning_rate="invscaling", **ONE_BATCH["sgd-one-batch"])  # fmt: skip
    weighted = _fit(MLPClassifier(**params), X, Y, sample_weight=WEIGHTS)
    repeated = _fit(MLPClassifier(**params), X[REPEATED], Y[REPEATED])
    assert weighted.t_ == 30 * len(X) and repeated.t_ == 30 * len(REPEATED)
    assert weighted._solver.lr == 0.1 / (weighted.t_ + 1) ** 0.5 > repeated._solver.lr
