"""Class and sample weights: ``CrossEntropyLoss(weight=...)``,
``BCEWithLogitsLoss(pos_weight=...)``, ``fit(class_weight=..., sample_weight=...)``,
``evaluate(sample_weight=...)`` and ``nudgenet train --class-weight``.

The losses' values are checked against PyTorch's formulas, written out in NumPy (torch is not a
test dependency); their gradients against finite differences in tests/test_functional.py.
"""

import json
import warnings

import numpy as np
import pytest

import nudgenet as ng
import nudgenet.functional as F

Z = np.random.default_rng(0).standard_normal((6, 3))
LABELS = np.array([0, 2, 1, 2, 0, 1])
CLASS_W = np.array([0.5, 2.0, 1.5])
ROWS = np.arange(6)


def _log_softmax(z):
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_cross_entropy_weight_is_pytorchs_weighted_mean_for_labels():
    log_p = _log_softmax(Z)[ROWS, LABELS]
    w = CLASS_W[LABELS]
    mean = ng.CrossEntropyLoss(weight=CLASS_W)(ng.tensor(Z), LABELS).item()
    assert mean == pytest.approx(-(w * log_p).sum() / w.sum(), rel=1e-12)  # Σ wₙℓₙ / Σ wₙ
    total = ng.CrossEntropyLoss("sum", weight=CLASS_W)(ng.tensor(Z), LABELS).item()
    assert total == pytest.approx(-(w * log_p).sum(), rel=1e-12)
    unweighted = ng.CrossEntropyLoss()(ng.tensor(Z), LABELS).item()
    equal = ng.CrossEntropyLoss(weight=[2.0, 2.0, 2.0])(ng.tensor(Z), LABELS).item()
    assert equal == pytest.approx(unweighted, rel=1e-12)  # equal weights: the plain mean


def test_cross_entropy_weight_on_probability_rows_divides_by_n_as_pytorch_does():
    rows = np.random.default_rng(1).dirichlet(np.ones(3), size=6)
    loss = ng.CrossEntropyLoss(weight=CLASS_W)(ng.tensor(Z), rows).item()
    assert loss == pytest.approx(-(CLASS_W * rows * _log_softmax(Z)).sum() / 6, rel=1e-12)


def test_sample_weights_multiply_the_class_weights():
    s = np.array([1.0, 0.0, 2.0, 1.0, 3.0, 0.5])
    w = s * CLASS_W[LABELS]
    loss = F.cross_entropy(Z, LABELS, weight=CLASS_W, sample_weight=s).item()
    assert loss == pytest.approx(-(w * _log_softmax(Z)[ROWS, LABELS]).sum() / w.sum(), rel=1e-12)
    assert ng.CrossEntropyLoss(weight=CLASS_W)(Z, LABELS, sample_weight=s).item() == loss


def test_bce_with_logits_pos_weight_is_pytorchs():
    z = Z[:, :2]
    y = (np.random.default_rng(2).random((6, 2)) > 0.5).astype(np.float64)
    q = np.array([3.0, 0.5])
    sigma = 1 / (1 + np.exp(-z))
    expected = -(q * y * np.log(sigma) + (1 - y) * np.log(1 - sigma)).mean()
    assert ng.BCEWithLogitsLoss(pos_weight=q)(ng.tensor(z), y).item() == pytest.approx(expected)
    by_number = ng.BCEWithLogitsLoss(pos_weight=3.0)(ng.tensor(z), y).item()
    assert by_number == ng.BCEWithLogitsLoss(pos_weight=[3.0, 3.0])(ng.tensor(z), y).item()
    assert repr(ng.BCEWithLogitsLoss(pos_weight=3)) == (
        "BCEWithLogitsLoss(reduction='mean', pos_weight=[3.0])"
    )


def test_rows_of_no_weight_count_for_nothing():
    z = ng.tensor(Z, requires_grad=True)
    loss = F.cross_entropy(z, LABELS, sample_weight=np.zeros(6))
    loss.backward()
    assert loss.item() == 0.0 and not z.grad.any()  # PyTorch would give NaN


def test_weights_are_checked_with_one_line_errors():
    with pytest.raises(ValueError, match="CrossEntropyLoss: weight must be finite and >= 0; got "):
        ng.CrossEntropyLoss(weight=[1.0, -1.0])
    with pytest.raises(ng.ShapeError, match=r"cross_entropy: weight must be 3 numbers, one per "):
        ng.CrossEntropyLoss(weight=[1.0, 2.0])(Z, LABELS)
    with pytest.raises(ng.ShapeError, match=r"mse_loss: sample_weight must be 6 numbers, one per "):
        F.mse_loss(Z, Z, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0; got nan at row 1"):
        F.mse_loss(Z, Z, sample_weight=[1.0, np.nan, 1, 1, 1, 1])
    with pytest.raises(ng.ShapeError, match="pos_weight must be 3 numbers, one per column"):
        F.binary_cross_entropy_with_logits(Z, np.ones((6, 3)), pos_weight=[1.0, 2.0])


def test_balanced_class_weight_is_scikit_learns():
    from sklearn.utils.class_weight import compute_class_weight

    from nudgenet.nn.weights import balanced_class_weight

    y = np.array([0, 0, 0, 0, 1, 2, 2, 0, 2, 5])
    present = np.unique(y)
    expected = compute_class_weight("balanced", classes=present, y=y)
    assert balanced_class_weight(y) == pytest.approx(dict(zip(present.tolist(), expected)))


# --- fit and evaluate ----------------------------------------------------------------------------


def _blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = np.array([[0.0, 2.0], [2.0, 0.0], [-2.0, -2.0]])[y] + rng.normal(size=(n, 2))
    return x, y


def _fit(x, y, epochs=3, batch_size=8, lr=0.1, dtype=np.float64, **options):
    model = ng.Sequential(ng.Linear(2, 8, seed=0), ng.Tanh(), ng.Linear(8, 3, seed=1)).to(dtype)
    optimizer = ng.optim.SGD(model.parameters(), lr=lr)
    options = {"epochs": epochs, "batch_size": batch_size, "seed": 0, "verbose": 0, **options}
    history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, **options)
    return model, history


def test_class_weight_is_a_weight_per_row_by_its_class():
    from nudgenet.nn.weights import balanced_class_weight

    x, y = _blobs()
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    s = np.random.default_rng(3).uniform(0.5, 2, len(y))
    by_class = _fit(x, y, class_weight=cw)
    by_row = _fit(x, y, sample_weight=np.array([cw[c] for c in y]))
    assert by_class[1].history["loss"] == by_row[1].history["loss"]
    both = _fit(x, y, class_weight=cw, sample_weight=s)  # multiplied
    product = _fit(x, y, sample_weight=s * np.array([cw[c] for c in y]))
    for a, b in zip(both[0].parameters(), product[0].parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    left_out = _fit(x, y, class_weight={1: 3.0, 2: 0.5})  # a class left out weighs 1
    assert left_out[1].history["loss"] == by_class[1].history["loss"]
    balanced = _fit(x, y, class_weight="balanced")
    expected = balanced_class_weight(y)
    assert balanced[1].history["loss"] == _fit(x, y, class_weight=expected)[1].history["loss"]


def test_sample_weights_act_as_repeated_rows_in_a_full_batch():
    x, y = _blobs(30)
    k = np.random.default_rng(4).integers(1, 4, len(y))
    weighted, _ = _fit(x, y, epochs=5, batch_size=30, sample_weight=k)
    repeated, _ = _fit(np.repeat(x, k, axis=0), np.repeat(y, k), epochs=5, batch_size=k.sum())
    for a, b in zip(weighted.parameters(), repeated.parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-10, atol=1e-12)


def test_the_epoch_loss_is_the_weighted_mean_over_rows_and_validation_stays_unweighted():
    x, y = _blobs()
    s = np.random.default_rng(5).uniform(0, 3, len(y))
    # lr 1e-300: steps far below the weights' last bit, so every batch sees the same model
    model, history = _fit(x, y, epochs=1, lr=1e-300, sample_weight=s, validation_split=0.25)
    train = slice(0, 45)  # the split holds out the last 15 rows, and their weights
    weighted = ng.evaluate(model, ng.CrossEntropyLoss(), x[train], y[train], sample_weight=s[train])
    assert history["loss"][0] == pytest.approx(weighted["loss"], rel=1e-12)
    plain = ng.evaluate(model, ng.CrossEntropyLoss(), x[45:], y[45:])
    assert history["val_loss"][0] == pytest.approx(plain["loss"], rel=1e-12)


def test_a_first_batch_of_no_weight_shows_a_running_loss_of_0_without_a_warning(capsys):
    x, y = _blobs()
    weights = np.ones(len(y))
    weights[:8] = 0  # the first batch (no shuffling) weighs nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value in scalar divide" was one
        _, history = _fit(x, y, epochs=1, sample_weight=weights, shuffle=False, verbose=2,
                          callbacks=[ng.Callback()])  # a callback: the running loss is computed
    assert np.isfinite(history["loss"][0]) and "nan" not in capsys.readouterr().out


def test_evaluate_weights_the_loss_not_the_metrics():
    x, y = _blobs()
    model, _ = _fit(x, y)
    s = np.random.default_rng(6).uniform(0, 2, len(y))
    per_row = -_log_softmax(ng.predict(model, x))[np.arange(len(y)), y]
    scores = ng.evaluate(model, ng.CrossEntropyLoss(), x, y, ["accuracy"], sample_weight=s)
    assert scores["loss"] == pytest.approx((s * per_row).sum() / s.sum(), rel=1e-12)
    assert (
        scores["accuracy"]
        == ng.evaluate(model, ng.CrossEntropyLoss(), x, y, ["accuracy"])["accuracy"]
    )


def test_weighted_training_runs_the_engine_whatever_compile_says():
    x, y = _blobs()
    s = np.linspace(0.5, 2, len(y))
    auto, history_auto = _fit(x, y, dtype=np.float32, sample_weight=s)
    engine, history_engine = _fit(x, y, dtype=np.float32, sample_weight=s, compile=False)
    assert history_auto.history["loss"] == history_engine.history["loss"]
    for a, b in zip(auto.parameters(), engine.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_balanced_class_weight_lifts_the_recall_of_a_rare_class():
    rng = np.random.default_rng(7)
    y = (rng.random(600) < 0.1).astype(np.int64)  # one row in ten is class 1
    x = (y[:, None] * 1.0 + rng.normal(size=(600, 2))).astype(np.float32)

    def recall(**options):
        model = ng.Sequential(ng.Linear(2, 2, seed=0))
        optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=10, seed=0, verbose=0,
               **options)  # fmt: skip
        return ng.metrics.recall(ng.predict(model, x), y, ng.CrossEntropyLoss())

    assert recall() < 0.2 and recall(class_weight="balanced") > 0.6


@pytest.mark.parametrize(
    ("loss_fn", "options", "error", "message"),
    [
        (ng.MSELoss(), {"class_weight": "balanced"}, ValueError, "class_weight needs a classifier"),
        (None, {"class_weight": "balnced"}, ValueError, "dict {class: weight} or 'balanced', got"),
        (None, {"class_weight": [1.0, 2.0]}, TypeError, "class_weight must be a dict"),
        (None, {"class_weight": {"a": 1.0}}, ValueError, r"keys must be classes 0, 1, ...; got"),
        (None, {"class_weight": {0: -1.0}}, ValueError, "class_weight must be finite and >= 0"),

        (None, {"sample_weight": np.ones(59)}, ng.ShapeError, "fit: sample_weight must be 60 "),
        (None, {"sample_weight": np.zeros(60)}, ValueError, "weights add up to 0; no row would"),
        (
            lambda out, y: F.cross_entropy(out, y),
            {"sample_weight": np.ones(60)},
            TypeError,
            "need a loss that takes sample_weight=",
        ),
    ],
)
def test_fit_names_what_is_wrong_with_weights(loss_fn, options, error, message):
    x, y = _blobs()
    model = ng.Sequential(ng.Linear(2, 3, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    targets = np.eye(3)[y] if isinstance(loss_fn, ng.MSELoss) else y
    with pytest.raises(error, match=message):
        ng.fit(model, loss_fn or ng.CrossEntropyLoss(), optimizer, x, targets, verbose=0, **options)


# --- nudgenet train --class-weight --------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch, tmp_path, capsys):
    """Run ``nudgenet`` in this process; returns (exit code, stdout, stderr, fit's
    class_weight)."""
    from nudgenet.cli import main
    from nudgenet.cli import train as train_command

    seen = {}
    fit = train_command.fit

    def spy(*args, **kwargs):
        seen["class_weight"] = kwargs.get("class_weight")
        return fit(*args, **kwargs)

    monkeypatch.setattr(train_command, "fit", spy)
    monkeypatch.chdir(tmp_path)

    def run(*argv):
        argv = [*argv, "--epochs", "2", "-q"] if argv[0] == "train" else list(argv)
        try:
            code = main(argv)
        except SystemExit as exit:  # a usage mistake
            code = exit.code
        out, err = capsys.readouterr()
        return code, out, err, seen.get("class_weight")

    return run


@pytest.mark.parametrize(
    ("option", "expected"),
    [("balanced", "balanced"), ("0:1,1:5", {0: 1.0, 1: 5.0}), ("1:2.5", {1: 2.5})],
)
def test_train_class_weight_option_reaches_fit(cli, option, expected):
    code, _, _, class_weight = cli("train", "--dataset", "xor", "--class-weight", option)
    assert code == 0 and class_weight == expected


def test_train_class_weight_mistakes(cli):
    code, _, err, _ = cli("train", "--dataset", "xor", "--class-weight", "0=1")
    assert code == 2 and "expected 'balanced' or CLASS:WEIGHT pairs such as 0:1,1:5" in err
    code, _, err, _ = cli("train", "--dataset", "xor", "--class-weight", "0:1,7:2")
    assert code == 2 and "--class-weight names no class '7'; the classes are 0, 1" in err
    code, _, err, _ = cli(
        "train", "--dataset", "black-scholes", "--samples", "50", "--class-weight", "balanced"
    )
    assert code == 2 and "--class-weight weighs classes; black-scholes is a regression task" in err


def test_a_balanced_run_saves_a_model_that_evaluates(cli):
    code, _, _, _ = cli("train", "--dataset", "spirals", "--samples", "300", "--class-weight",
                        "balanced", "-o", "m.st")  # fmt: skip
    assert code == 0
    code, out, _, _ = cli("evaluate", "m.st", "--json")
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["rows"] == 60


def test_a_class_weight_of_a_class_no_training_row_has_is_warned_about():
    """A typo (or a rare class all in the validation rows) weighed nothing, silently."""
    x, y = _blobs()
    model = ng.Sequential(ng.Linear(2, 3, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    for weights, named in (({0: 1.0, 7: 5.0}, "class 7"), ({8: 2.0, 7: 5.0}, r"classes \[7, 8\]")):
        with pytest.warns(ng.AbsentClassWeightWarning, match=rf"^fit: class_weight names {named}, "
                          r"which no training row has \(their classes: \[0, 1, 2\]\); a weight "
                          r"of no row changes nothing$"):  # fmt: skip
            ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, verbose=0, epochs=1,
                   class_weight=weights)  # fmt: skip
