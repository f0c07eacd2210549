"""Metrics against scikit-learn's values, exact over an epoch's batches in fit, and the
confusion matrix of ``nudgenet evaluate``."""

import json
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

import nudgenet as ng

RNG = np.random.default_rng(0)
CE = ng.CrossEntropyLoss()


def _classifier_outputs(n=200, classes=4):
    """Scores whose argmax often, not always, is the label; class 3 never predicted."""
    y = RNG.integers(0, classes, n)
    scores = RNG.normal(size=(n, classes)) + 1.5 * np.eye(classes)[y]
    scores[:, 3] = -10
    return scores, y


@pytest.mark.parametrize("name", sorted(ng.metrics.METRICS))
def test_each_metric_says_which_way_it_improves(name):
    """``higher_is_better`` (what the callbacks' ``mode="auto"`` reads) agrees with the metric:
    outputs equal to 0/1 targets (as values, and as logits: class 1 above 0) score better than
    the same outputs with noise."""
    metric = ng.metrics.METRICS[name]
    y = np.random.default_rng(1).integers(0, 2, 200).astype(np.float64)
    exact = y.reshape(-1, 1).copy()
    noisy = exact + np.random.default_rng(2).normal(size=exact.shape)
    loss = ng.BCEWithLogitsLoss()
    better, worse = metric(exact, y, loss), metric(noisy, y, loss)
    assert better != worse and (better > worse) == metric.higher_is_better


def test_a_logged_quantity_is_maximized_where_higher_is_better():
    """A metric's own direction, with or without the val_ prefix; other names by Keras's rule
    (acc), with auc and scikit-learn's score (the estimators' val_score) higher-better too."""
    higher = ["accuracy", "val_accuracy", "val_r2", "f1_macro", "val_roc_auc", "val_score",
              "score", "val_acc", "val_auc", "top5_acc"]  # fmt: skip
    lower = ["loss", "val_loss", "sklearn_loss", "val_rmse", "mse", "mae", "lr", "seconds",
             "grad_norm/0", "dead_units/1", "val_accuracy_loss"]  # fmt: skip
    assert [ng.metrics.higher_is_better(key) for key in higher] == [True] * len(higher)
    assert [ng.metrics.higher_is_better(key) for key in lower] == [False] * len(lower)


@pytest.mark.parametrize("kind", ["precision", "recall", "f1"])
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_averaged_scores_are_scikit_learns(kind, average):
    scores, y = _classifier_outputs()
    predicted = scores.argmax(axis=1)
    sklearn_score = getattr(skm, f"{kind}_score")
    expected = sklearn_score(y, predicted, average=average, zero_division=0)
    assert ng.metrics.METRICS[f"{kind}_{average}"](scores, y, CE) == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["precision", "recall", "f1"])
def test_binary_scores_are_scikit_learns_for_class_1(kind):
    logits = RNG.normal(size=(150, 1))
    y = (logits[:, 0] + RNG.normal(size=150) > 0.5).astype(np.int64)
    sklearn_score = getattr(skm, f"{kind}_score")
    expected = sklearn_score(y, (logits[:, 0] > 0).astype(int))
    assert ng.metrics.METRICS[kind](logits, y, ng.BCEWithLogitsLoss()) == pytest.approx(expected)
    two_columns = np.column_stack([np.zeros(150), logits[:, 0]])  # softmax: class 1 where z > 0
    assert ng.metrics.METRICS[kind](two_columns, y, CE) == pytest.approx(expected)


def test_a_binary_score_of_more_classes_says_which_averages_exist():
    scores, y = _classifier_outputs()
    with pytest.raises(
        ValueError, match="f1: scores class 1 of two classes .* got 4 classes: use "
    ):
        ng.metrics.f1(scores, y, CE)


def test_confusion_matrix_is_scikit_learns():
    scores, y = _classifier_outputs()
    expected = skm.confusion_matrix(y, scores.argmax(axis=1), labels=range(4))
    np.testing.assert_array_equal(ng.metrics.confusion_matrix(scores, y, CE), expected)
    one_hot = np.eye(4)[y]  # probability rows: the argmax is the class
    np.testing.assert_array_equal(ng.metrics.confusion_matrix(scores, one_hot, CE), expected)


def test_roc_auc_is_scikit_learns_ties_included():
    y = RNG.integers(0, 2, 300)
    logits = np.round(y + RNG.normal(size=300), 1)  # rounded: many tied scores
    p = 1 / (1 + np.exp(-logits))
    expected = skm.roc_auc_score(y, p)
    assert ng.metrics.roc_auc(logits[:, None], y, ng.BCEWithLogitsLoss()) == pytest.approx(expected)
    two = np.column_stack([-logits / 2, logits / 2])  # softmax(two)[:, 1] = σ(logits)
    assert ng.metrics.roc_auc(two, y, CE) == pytest.approx(expected)
    assert ng.metrics.roc_auc(p[:, None], y, ng.MSELoss()) == pytest.approx(expected)  # a score
    with pytest.raises(ValueError, match="roc_auc: for two classes"):
        ng.metrics.roc_auc(*_classifier_outputs(), CE)


@pytest.mark.parametrize("label", [0, 1])
def test_roc_auc_of_labels_of_one_class_warns_and_is_nan(label):
    """It was NaN without a word (scikit-learn raises "Only one class present in y_true"); now
    an UndefinedMetricWarning (a UserWarning) names the problem, at the caller's line."""
    logits = RNG.normal(size=(300, 1))
    expected = f"roc_auc: the labels hold only class {label}; ROC AUC needs rows of both classes"
    with pytest.warns(ng.UndefinedMetricWarning, match=expected) as caught:
        assert np.isnan(ng.metrics.roc_auc(logits, np.full(300, label), ng.BCEWithLogitsLoss()))
    assert len(caught) == 1 and caught[0].filename == __file__
    assert issubclass(ng.UndefinedMetricWarning, UserWarning)


def test_fit_with_validation_rows_of_one_class_warns_once_and_trains_on():
    """A one-class validation set gave val_roc_auc = nan every epoch without a word; now one
    warning (Python's default filter: once per line) and every epoch still runs and logs."""
    x = RNG.normal(size=(80, 2))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    model = ng.Sequential(ng.Linear(2, 1, seed=0)).double()
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    validation = (x[y == 1][:10], y[y == 1][:10])  # only class 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        history = ng.fit(model, ng.BCEWithLogitsLoss(), optimizer, x, y, epochs=3, seed=0,
                         validation_data=validation, metrics=["roc_auc"], verbose=0)  # fmt: skip
    undefined = [w for w in caught if issubclass(w.category, ng.UndefinedMetricWarning)]
    assert len(undefined) == 1, [str(w.message) for w in undefined]
    assert "only class 1" in str(undefined[0].message) and undefined[0].filename == __file__
    assert len(history["val_roc_auc"]) == 3 and np.isnan(history["val_roc_auc"]).all()
    assert np.isfinite(history["roc_auc"]).all() and np.isfinite(history["val_loss"]).all()


def test_r2_is_scikit_learns():
    y = RNG.normal(size=(100, 2)) * [1.0, 50.0] + [0.0, 1e4]
    p = y + RNG.normal(size=(100, 2)) * [0.5, 20.0]
    assert ng.metrics.r2(p, y) == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    constant = np.full(10, 3.0)
    assert ng.metrics.r2(constant, constant) == 1.0 and ng.metrics.r2(constant + 1, constant) == 0.0


@pytest.mark.parametrize(
    ("loss_fn", "names"),
    [
        (CE, ["accuracy", "f1_macro", "precision_micro", "recall_weighted"]),
        (ng.BCEWithLogitsLoss(), ["f1", "precision", "recall", "roc_auc"]),
        (ng.MSELoss(), ["r2", "rmse", "mae"]),
    ],
)
@pytest.mark.filterwarnings("ignore::nudgenet.UndefinedMetricWarning")  # a 1-row batch's AUC
def test_fit_reports_each_metric_over_all_the_epochs_rows_not_a_mean_of_batches(loss_fn, names):
    y = RNG.integers(0, 2 if isinstance(loss_fn, ng.BCEWithLogitsLoss) else 3, 101)
    x = RNG.normal(size=(101, 3)) + y[:, None]
    units = loss_fn.output_units(2 if isinstance(loss_fn, ng.BCEWithLogitsLoss) else 3)
    targets = RNG.normal(size=(101, 3)) + x if loss_fn.task == "regression" else y
    model = ng.Sequential(ng.Linear(3, units, seed=0)).double()
    optimizer = ng.optim.SGD(model.parameters(), lr=1e-300)  # steps below the weights' last bit
    history = ng.fit(model, loss_fn, optimizer, x, targets, epochs=1, batch_size=10, seed=0,
                     metrics=names, verbose=0)  # fmt: skip
    outputs = ng.predict(model, x)
    checked = loss_fn.check_targets(targets, units)
    for name in names:
        whole = ng.metrics.METRICS[name](outputs, checked, loss_fn)
        assert history[name][0] == pytest.approx(whole, rel=1e-12), name
        batches = [
            ng.metrics.METRICS[name](outputs[i : i + 10], checked[i : i + 10], loss_fn)
            for i in range(0, 101, 10)
        ]
        if name in ("f1_macro", "roc_auc", "r2"):  # not a mean of per-row values
            assert whole != pytest.approx(np.mean(batches), rel=1e-6)


# --- nudgenet evaluate ------------------------------------------------------------------------


def _csv(path, x, y):
    table = np.column_stack([x, y])
    np.savetxt(path, table, delimiter=",", header="a,b,label", comments="")


@pytest.fixture
def main_in(monkeypatch, tmp_path, capsys):
    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)

    def run(*argv):
        assert main(list(argv)) == 0
        return capsys.readouterr().out.strip().splitlines()

    return run


@pytest.mark.parametrize("classes", [2, 3])
def test_evaluate_prints_the_confusion_matrix_and_scikit_learns_scores(main_in, tmp_path, classes):
    x, y = ng.datasets.spirals(300, classes=classes, seed=0)
    order = np.random.default_rng(0).permutation(300)
    x, y = x[order], y[order]
    _csv(tmp_path / "train.csv", x[:200], y[:200])
    _csv(tmp_path / "new.csv", x[200:], y[200:])
    main_in("train", "--dataset", "train.csv", "--epochs", "5", "-q", "-o", "m.st")
    report = json.loads(main_in("evaluate", "m.st", "--dataset", "new.csv", "--json")[-1])
    predicted = ng.predict(ng.load(tmp_path / "m.st"), x[200:].astype(np.float32)).argmax(axis=1)
    matrix = skm.confusion_matrix(y[200:], predicted, labels=range(classes))
    assert report["confusion_matrix"] == matrix.tolist()
    assert report["class_names"] == [str(c) for c in range(classes)]
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y[200:], predicted))
    if classes == 2:
        assert report["f1"] == pytest.approx(skm.f1_score(y[200:], predicted))
        assert 0.5 <= report["roc_auc"] <= 1
    else:
        assert report["f1_macro"] == pytest.approx(
            skm.f1_score(y[200:], predicted, average="macro")
        )
    text = main_in("evaluate", "m.st", "--dataset", "new.csv")
    assert text[0].startswith("new.csv all 100 rows") and "accuracy" in text[0]
    assert text[1] == "confusion matrix (rows: true class, columns: predicted class):"
    assert text[2].split() == [str(c) for c in range(classes)]  # predicted classes
    for label, (row, line) in enumerate(zip(matrix, text[3:])):  # a row per true class
        assert line.split() == [str(label), *map(str, row)]


def test_evaluate_reports_r2_for_a_regression(main_in, tmp_path):
    x = np.random.default_rng(1).normal(size=(200, 2))
    y = x @ [1.5, -2.0] + 0.1 * np.random.default_rng(2).normal(size=200)
    _csv(tmp_path / "train.csv", x[:150], y[:150])
    _csv(tmp_path / "new.csv", x[150:], y[150:])
    main_in("train", "--dataset", "train.csv", "--task", "regression", "--epochs", "20", "-q",
            "-o", "r.st")  # fmt: skip
    report = json.loads(main_in("evaluate", "r.st", "--dataset", "new.csv", "--json")[-1])
    predicted = ng.predict(ng.load(tmp_path / "r.st"), x[150:].astype(np.float32))
    assert report["r2"] == pytest.approx(skm.r2_score(y[150:], predicted[:, 0]), rel=1e-5)
    assert "confusion_matrix" not in report and {"rmse", "mae"} <= set(report)


def test_evaluate_prints_small_figures_readably(main_in, tmp_path):
    x = np.random.default_rng(1).normal(size=(200, 2))
    y = 1e-4 * (x @ [1.5, -2.0])  # errors of order 1e-5: "0.0000" at four decimals
    _csv(tmp_path / "tiny.csv", x, y)
    main_in("train", "--dataset", "tiny.csv", "--task", "regression", "--epochs", "5", "-q",
            "-o", "t.st")  # fmt: skip
    line = main_in("evaluate", "t.st")[-1]
    assert "rmse " in line and "0.0000" not in line and "e-0" in line, line


def test_a_regression_metric_for_a_classifier_and_a_lone_string_are_refused():
    """``metrics=["mse"]`` with CrossEntropyLoss scored the logits against the class labels
    (a number without meaning, which could drive early stopping); ``metrics="accuracy"`` was
    read letter by letter ("unknown metric 'a'").  Allowed: mse of BCELoss's probabilities
    (the Brier score), accuracy for MSELoss (one-hot targets trained with the squared error)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(np.int64)
    model = ng.Sequential(ng.Linear(3, 2, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    for name in ("mse", "rmse", "mae", "r2"):
        refused = f"^metric '{name}' scores a regression's values; CrossEntropyLoss's outputs"
        with pytest.raises(ValueError, match=refused):
            ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, labels, verbose=0, metrics=[name])
        with pytest.raises(ValueError, match=f"metric '{name}' scores a regression's values"):
            ng.evaluate(model, ng.CrossEntropyLoss(), x, labels, metrics=[name])
    with pytest.raises(TypeError, match=r"expected a list of names, got the string 'accuracy' "
                                        r"\(write metrics=\['accuracy'\]\)"):  # fmt: skip
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, labels, verbose=0, metrics="accuracy")
    probabilities = ng.Sequential(ng.Linear(3, 1, seed=0), ng.Sigmoid())
    scores = ng.evaluate(probabilities, ng.BCELoss(), x, labels, metrics=["mse"])
    p = ng.predict(probabilities, x)[:, 0]
    assert scores["mse"] == pytest.approx(np.mean((p - labels) ** 2))  # the Brier score
    one_hot = np.eye(2, dtype=np.float32)[labels]
    history = ng.fit(model, ng.MSELoss(), optimizer, x, one_hot, verbose=0, epochs=1,
                     metrics=["accuracy", "mse"])  # fmt: skip
    assert 0 <= history.history["accuracy"][0] <= 1


@pytest.mark.parametrize("kind", ["precision", "recall", "f1"])
@pytest.mark.parametrize("average", ["binary", "macro", "weighted", "micro"])
def test_a_score_of_a_class_without_rows_or_predictions_warns_as_scikit_learn_does(kind, average):
    """Precision, recall and F1 printed 0 without a word where a class they count had no
    predicted rows (precision) or no rows (recall): scikit-learn warns (zero_division="warn")."""
    y = np.array([0, 0, 1, 1, 2, 0])
    outputs = np.eye(3)[[0, 0, 0, 0, 2, 0]] if average != "binary" else np.eye(2)[[0] * 6]
    y = y if average != "binary" else np.array([0, 0, 1, 1, 0, 0])
    name = kind if average == "binary" else f"{kind}_{average}"
    reference = getattr(skm, f"{kind}_score")
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        expected = reference(y, outputs.argmax(axis=1), average=average)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        assert ng.metrics.METRICS[name](outputs, y, CE) == pytest.approx(expected)
    sklearn_warned = any(issubclass(w.category, skm._classification.UndefinedMetricWarning)
                         for w in theirs)  # fmt: skip
    undefined = [w for w in ours if issubclass(w.category, ng.UndefinedMetricWarning)]
    assert bool(undefined) == sklearn_warned, (name, [str(w.message) for w in undefined])
    if undefined:
        assert str(undefined[0].message).startswith(f"{name}: class 1 has no ")


def test_evaluate_of_one_held_out_row_says_row_and_why_its_scores_are_0(main_in, tmp_path, capsys):
    from nudgenet.cli import main

    (tmp_path / "t4.csv").write_text("a,b,label\n1,2,cat\n2,3,cat\n3,1,dog\n4,0,dog\n")
    main_in("train", "--dataset", "t4.csv", "-q", "-o", "m.st")
    assert main(["evaluate", "m.st"]) == 0
    out, err = capsys.readouterr()
    assert " held-out (1 row): loss" in out.splitlines()[0]
    assert "note: recall: class 'dog' has no rows, so its recall is not defined: counted " \
        "as 0" in err  # (by the model's class name: review 70)
