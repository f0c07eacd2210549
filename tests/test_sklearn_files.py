"""The model file an estimator saves is a nudgenet model file: it records the task, the loss its
network's scores were trained with and the class names as ``nudgenet train`` does, so
``nudgenet predict``, ``nudgenet export`` (onnxruntime) and ``ng.export_onnx(est.to_nudgenet())``
give the estimator's own answers; ``load`` refuses a damaged or inconsistent file with one line."""

import copy
import json
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification, make_multilabel_classification

import nudgenet as ng
from nudgenet import cli
from nudgenet.recipes import TrainingRecord
from nudgenet.sklearn import MLPClassifier, MLPRegressor

X, Y = make_classification(90, 5, n_informative=4, n_redundant=0, n_classes=3, random_state=0)
YM = make_multilabel_classification(90, 5, n_classes=3, random_state=0)[1]
ROWS = X[:12]


def _fitted(kind: str):
    """A small fitted estimator of each kind the command line must read."""
    est, y = {
        "binary-str": (MLPClassifier((8,), random_state=0), np.array(["no", "yes"])[Y % 2]),
        "multiclass": (MLPClassifier((8,), random_state=0), np.array(["a", "b", "c"])[Y]),
        "binary-softmax": (MLPClassifier((8,), loss="cross_entropy", random_state=0), Y % 2),
        "multilabel": (MLPClassifier((8,), random_state=0), YM),
        "regressor": (MLPRegressor(hidden_layer_sizes=(8,), random_state=0), X @ [1, 2, 0, -1, 3]),
        "poisson": (MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), random_state=0), Y),
    }[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.set_params(max_iter=40, learning_rate_init=0.01).fit(X, y)


def _run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


KINDS = ["binary-str", "multiclass", "binary-softmax", "multilabel", "regressor", "poisson"]
REGRESSORS = ("regressor", "poisson")
LOSSES = {
    "binary-str": "BCEWithLogitsLoss",
    "multiclass": "CrossEntropyLoss",
    "binary-softmax": "CrossEntropyLoss",
    "multilabel": "BCEWithLogitsLoss",
    "regressor": "MSELoss",
    "poisson": "PoissonLoss",
}


@pytest.mark.parametrize("kind", KINDS)
def test_the_file_records_the_task_loss_and_class_names_as_nudgenet_train(kind, tmp_path):
    est = _fitted(kind)
    metadata = ng.load(est.save(tmp_path / "m.safetensors")).metadata
    record = TrainingRecord.of(ng.load(tmp_path / "m.safetensors"))
    assert record.loss == LOSSES[kind]
    assert record.task == ("regression" if kind in REGRESSORS else "classification")
    single_label = kind not in ("multilabel", *REGRESSORS)
    assert record.class_names == (tuple(map(str, est.classes_)) if single_label else ())
    assert {k: v for k, v in metadata.items() if k != "sklearn"} == record.to_dict()
    assert est.to_nudgenet().metadata == record.to_dict()


@pytest.mark.parametrize("kind", KINDS)
def test_nudgenet_predict_on_a_saved_estimator_gives_its_answers(kind, tmp_path, capsys):
    est = _fitted(kind)
    path = est.save(tmp_path / "m.safetensors")
    np.save(tmp_path / "rows.npy", ROWS)
    code, out, err = _run(capsys, "predict", str(path), str(tmp_path / "rows.npy"), "--json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    if kind in REGRESSORS:  # a Poisson network's means, not its log-means
        np.testing.assert_allclose(np.ravel(result["predictions"]), est.predict(ROWS), rtol=1e-6)
        return
    np.testing.assert_allclose(result["probabilities"], est.predict_proba(ROWS), atol=1e-6)
    predicted = est.predict(ROWS)
    if kind == "multilabel":
        assert result["classes"] == predicted.tolist()  # the indicator matrix
        names = [[str(k) for k in np.flatnonzero(row)] for row in predicted]
        shown = [", ".join(row) or "(none)" for row in names]
    else:
        names = shown = [str(c) for c in predicted]
    assert result["predictions"] == names
    code, out, _ = _run(capsys, "predict", str(path), str(tmp_path / "rows.npy"))
    assert code == 0 and [line.split("  (")[0] for line in out.splitlines()] == [
        f"row {i}: {label}" for i, label in enumerate(shown)
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_nudgenet_export_of_a_saved_estimator_serves_its_answers(kind, tmp_path, capsys):
    est = _fitted(kind)
    path = est.save(tmp_path / "m.safetensors")
    assert _run(capsys, "export", str(path), str(tmp_path / "m.onnx"), "-q")[0] == 0
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input": ROWS.astype(np.float32)})
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert props["loss"] == LOSSES[kind]
    if kind in REGRESSORS:  # a Poisson network's means: exp of its log-means, in the graph
        assert len(outputs) == 1 and props["task"] == "regression"
        np.testing.assert_allclose(outputs[0].ravel(), est.predict(ROWS), rtol=1e-5, atol=1e-5)
        assert props.get("output_function") == ("exp" if kind == "poisson" else None)
        return
    _, label, probabilities = outputs
    np.testing.assert_allclose(probabilities, est.predict_proba(ROWS), atol=1e-6)
    if kind == "multilabel":
        np.testing.assert_array_equal(label, est.predict(ROWS))  # a 0/1 label per column
        assert "class_names" not in props  # label columns, not classes
    else:
        np.testing.assert_array_equal(est.classes_[label], est.predict(ROWS))
        assert json.loads(props["class_names"]) == [str(c) for c in est.classes_]


def test_a_multilabel_network_exports_a_label_per_column_as_the_estimator_predicts(tmp_path):
    est = _fitted("multilabel")
    rows = ROWS.astype(np.float32)
    for loss in (None, ng.BCEWithLogitsLoss()):  # the record's loss, or the one passed
        path = ng.export_onnx(est.to_nudgenet(), tmp_path / "ml.onnx", loss=loss)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        _, label, probabilities = session.run(None, {"input": rows})
        assert label.dtype == np.int64 and label.shape == (len(rows), 3)
        np.testing.assert_array_equal(label, est.predict(rows))
        np.testing.assert_allclose(probabilities, est.predict_proba(rows), atol=1e-6)


def test_a_file_saved_before_sparse_input_was_recorded_loads_and_predicts_arrays(tmp_path):
    path = _tampered(tmp_path, lambda m: m["sklearn"]["fitted"].pop("sparse_input_"))
    loaded = MLPClassifier.load(path)
    assert loaded._label_binarizer.sparse_input_ is False
    assert isinstance(loaded.predict(ROWS), np.ndarray)


def test_a_classifier_fitted_on_sparse_multilabel_targets_predicts_them_sparse_once_loaded(
    tmp_path,
):
    """scikit-learn's MLP predicts the type of targets it was fitted on: a sparse matrix for
    sparse multilabel targets; the loaded estimator predicted an array."""
    x, y = make_multilabel_classification(60, 5, n_classes=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier((6,), max_iter=5, random_state=0).fit(x, sp.csr_matrix(y))
    loaded = MLPClassifier.load(est.save(tmp_path / "ml.safetensors"))
    for fitted in (est, loaded):
        assert sp.issparse(fitted.predict(x))
    np.testing.assert_array_equal(loaded.predict(x).toarray(), est.predict(x).toarray())
    dense = MLPClassifier.load(_fitted("multilabel").save(tmp_path / "dense.safetensors"))
    assert isinstance(dense.predict(ROWS), np.ndarray)


@pytest.mark.parametrize("loss", ["log_loss", "cross_entropy"])
def test_a_one_class_classifier_s_file_exports_and_predicts_its_class(loss, tmp_path, capsys):
    """scikit-learn fits labels of one class; the estimator then predicts that class whatever
    its scores (its predict_proba: two columns).  ``nudgenet export`` (no class names passed),
    ``ng.export_onnx`` and ``nudgenet predict`` give the same; export refused the file (its one
    class name for two probability columns), and so did predict."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier((8,), loss=loss, max_iter=1, random_state=0)
        est.fit(X, np.full(len(X), "only"))
    rows = ROWS.astype(np.float32)
    proba = est.predict_proba(rows)
    assert (proba[:, 1] > 0.5).any()  # scores that would name a second class
    assert est.predict(rows).tolist() == ["only"] * len(rows)
    path = est.save(tmp_path / "one.safetensors")
    assert TrainingRecord.of(ng.load(path)).class_names == ("only",)
    assert _run(capsys, "export", str(path), str(tmp_path / "cli.onnx"), "-q")[0] == 0
    exported = ng.export_onnx(est.to_nudgenet(), tmp_path / "py.onnx")
    for onnx_file in (tmp_path / "cli.onnx", exported):
        session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        _, label, probabilities = session.run(None, {"input": rows})
        np.testing.assert_array_equal(label, np.zeros(len(rows)))
        np.testing.assert_allclose(probabilities, proba, atol=1e-6)
        props = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
        assert json.loads(props["class_names"]) == ["only"]
    np.save(tmp_path / "rows.npy", rows)
    code, out, err = _run(capsys, "predict", str(path), str(tmp_path / "rows.npy"), "--json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert result["predictions"] == ["only"] * len(rows) and result["classes"] == [0] * len(rows)
    np.testing.assert_allclose(result["probabilities"], proba, atol=1e-6)
    code, out, _ = _run(capsys, "predict", str(path), str(tmp_path / "rows.npy"), "--top", "2")
    assert code == 0 and out.splitlines()[0] == f"row 0: only  (only: {proba[0, 0]:.3f})"


def test_a_poisson_network_exports_its_means_given_the_loss_or_recorded(tmp_path):
    """``ng.export_onnx`` of the estimator's network (its record names PoissonLoss), and of
    the same network without a record given ``loss=ng.PoissonLoss()``: the output is the mean,
    exp of the network's log-mean, as the estimator predicts."""
    poisson = _fitted("poisson")
    network, rows = poisson.to_nudgenet(), ROWS.astype(np.float32)
    bare = copy.deepcopy(network)
    bare.metadata = None
    for model, loss in ((network, None), (bare, ng.PoissonLoss())):
        path = ng.export_onnx(model, tmp_path / "poisson.onnx", loss=loss)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (output,) = session.run(None, {"input": rows})
        np.testing.assert_allclose(output.ravel(), poisson.predict(rows), rtol=1e-5)
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert (props["loss"], props["output_function"]) == ("PoissonLoss", "exp")


@pytest.mark.parametrize("kind", REGRESSORS)
def test_nudgenet_evaluate_scores_a_saved_regressor_by_its_predictions(kind, tmp_path, capsys):
    """RMSE, MAE and R² of ``est.predict`` (a Poisson network's means: they were of its
    log-means), and the loss the estimator was trained with."""
    est = _fitted(kind)
    path = est.save(tmp_path / "m.safetensors")
    y = est.predict(X) + np.linspace(-0.5, 0.5, len(X)) ** 2  # >= 0: counts for Poisson
    table = tmp_path / "rows.csv"
    np.savetxt(table, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,e,target",
               comments="")  # fmt: skip
    code, out, err = _run(capsys, "evaluate", str(path), "--dataset", str(table), "--json")
    assert (code, err) == (0, "")
    scores, errors = json.loads(out), est.predict(X) - y
    np.testing.assert_allclose(scores["rmse"], np.sqrt(np.mean(errors**2)), rtol=1e-5)
    np.testing.assert_allclose(scores["mae"], np.mean(np.abs(errors)), rtol=1e-5)
    np.testing.assert_allclose(scores["r2"], est.score(X, y), rtol=1e-5)
    loss = ng.PoissonLoss() if kind == "poisson" else ng.MSELoss()
    expected = loss(ng.predict(est.to_nudgenet(), X), y.reshape(-1, 1).astype(np.float32))
    np.testing.assert_allclose(scores["loss"], expected.item(), rtol=1e-5)


def test_nudgenet_evaluate_of_an_estimator_s_file_claims_no_other_training_data(tmp_path, capsys):
    """The file names no data set: evaluate needs --dataset and scores all its rows, without
    saying they are "not the data set the model was trained on" (which it cannot know)."""
    est = _fitted("binary-softmax")  # labels 0 and 1
    path = est.save(tmp_path / "m.safetensors")
    code, _, err = _run(capsys, "evaluate", str(path))
    assert code == 1 and "the model file does not name its data set; pass --dataset" in err
    table = tmp_path / "rows.csv"
    np.savetxt(table, np.column_stack([X, Y % 2]), delimiter=",", header="a,b,c,d,e,label",
               comments="")  # fmt: skip
    code, out, err = _run(capsys, "evaluate", str(path), "--dataset", str(table))
    assert (code, err) == (0, "")
    assert out.startswith(f"{table} all 90 rows: loss ") and "not the data set" not in out


def test_nudgenet_gradcheck_of_a_poisson_file_draws_targets_its_loss_takes(tmp_path, capsys):
    """Its random targets are values >= 0 (it drew negative ones, which PoissonLoss refuses)."""
    path = _fitted("poisson").save(tmp_path / "m.safetensors")
    code, out, err = _run(capsys, "gradcheck", str(path), "--json")
    assert (code, err) == (0, "") and json.loads(out)["passed"]


def _tampered(tmp_path, change) -> str:
    """A saved classifier's file with ``change(metadata)`` applied to its metadata, or with
    the network ``change`` returns."""
    est = _fitted("multiclass")
    metadata = copy.deepcopy(ng.load(est.save(tmp_path / "m.safetensors")).metadata)
    network = change(metadata)
    network = network if isinstance(network, ng.Module) else est.to_nudgenet()
    return str(ng.save(network, tmp_path / "tampered.safetensors", metadata=metadata))


def _bigger_network(metadata):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MLPClassifier((9,), max_iter=2).fit(X, Y).to_nudgenet()


@pytest.mark.parametrize("change, message", [
    (lambda m: m["sklearn"].pop("params"),
     "expected the saved MLPClassifier's 'params', a JSON object of parameters, got none"),
    (lambda m: m["sklearn"].update(params=[1]), "'params', a JSON object of parameters, got a "
                                                "JSON list"),
    (lambda m: m["sklearn"].update(params={}, fitted={}),
     "the saved MLPClassifier lacks the fitted attributes every fit sets: n_features_in_, "),
    (lambda m: m["sklearn"]["params"].update(bogus=1), "cannot be restored: .*'bogus'"),
    (lambda m: m["sklearn"]["fitted"]["classes_"].pop("dtype"),
     "cannot be restored: a value lacks the key 'dtype'"),
    (_bigger_network, r"the network does not match the saved MLPClassifier: expected the layer "
                      r"sizes _units \[5, 8, 3\], got \[5, 9, 3\]"),
    (lambda m: m["sklearn"]["fitted"].update(n_features_in_=7),
     r"expected n_features_in_, n_outputs_, n_layers_ of the layer sizes \[5, 8, 3\], got "
     r"\[7, 3, 3\]"),
    (lambda m: m["sklearn"]["fitted"].update(out_activation_="logistic"),
     "expected the output function of the loss _loss_rule 'cross_entropy'"),
    (lambda m: m["sklearn"]["fitted"]["classes_"].update(values=[0, 1, 2, 3]),
     r"expected 4 outputs for 4 classes \(multiclass\), got 3"),
    (lambda m: m["sklearn"]["fitted"].update(y_type_="continuous"),
     "expected y_type_ one of binary, multiclass, multilabel-indicator, got 'continuous'"),
    (lambda m: m["sklearn"]["fitted"]["loss_curve_"].append(None),
     "cannot be restored: a loss is a number, got None"),
    (lambda m: m["sklearn"]["fitted"].update(loss_=10**400), "cannot be restored: "),
], ids=["no-params", "params-list", "empty", "unknown-param", "classes-no-dtype", "network",
        "features", "out-activation", "classes", "y-type", "loss-none", "loss-huge"])  # fmt: skip
def test_load_refuses_a_damaged_or_inconsistent_file_in_one_line(change, message, tmp_path):
    path = _tampered(tmp_path, change)
    with pytest.raises(ng.ModelFileError, match=message) as error:
        MLPClassifier.load(path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_every_route_to_onnx_names_the_features_of_the_data_frame_fitted_on(tmp_path, capsys):
    """``nudgenet export``, ``ng.export_onnx(ng.load(file))`` and
    ``ng.export_onnx(est.to_nudgenet())`` write the same ``feature_names`` (the Python routes
    wrote none: the record held no names); a file saved before the record held them (its
    names only under ``"sklearn"``) still exports and predicts by them."""
    columns = ["age", "income", "score", "height", "weight"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier((8,), max_iter=40, random_state=0)
        est.fit(pd.DataFrame(X, columns=columns), np.array(list("abc"))[Y])
    path = est.save(tmp_path / "m.safetensors")
    metadata = copy.deepcopy(ng.load(path).metadata)
    del metadata["feature_names"]
    older = ng.save(est.to_nudgenet(), tmp_path / "older.safetensors", metadata=metadata)
    assert _run(capsys, "export", str(path), str(tmp_path / "cli.onnx"), "-q")[0] == 0
    exported = [tmp_path / "cli.onnx"] + [
        ng.export_onnx(model, tmp_path / f"{name}.onnx")
        for name, model in [("loaded", ng.load(path)), ("network", est.to_nudgenet()),
                            ("older", ng.load(older))]  # fmt: skip
    ]
    for onnx_file in exported:
        props = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
        assert json.loads(props["feature_names"]) == columns, onnx_file
    table = tmp_path / "rows.csv"  # the columns in another order: read in the model's
    np.savetxt(table, ROWS[:, ::-1], delimiter=",", header=",".join(columns[::-1]), comments="")
    code, out, _ = _run(capsys, "predict", str(older), str(table), "--json")
    predicted = est.predict(pd.DataFrame(ROWS, columns=columns))
    assert code == 0 and json.loads(out)["predictions"] == predicted.tolist()


def test_an_estimator_s_record_claims_no_data_set_split_or_score(tmp_path, capsys):
    """The record holds what the estimator knows (task, loss, class and feature names), not
    ``nudgenet train``'s defaults (``samples: 50000``, ``test_size``, ``seed``): the file
    names no data set; evaluate and explain score a data set given them, predict its rows."""
    est = _fitted("binary-str")
    path = est.save(tmp_path / "m.safetensors")
    metadata = ng.load(path).metadata
    assert sorted(set(metadata) - {"sklearn"}) == ["class_names", "feature_names", "loss", "task"]
    table = tmp_path / "rows.csv"  # its labels the class names, no and yes
    rows = [",".join([*map(str, x), label]) for x, label in zip(X, np.array(["no", "yes"])[Y % 2])]
    table.write_text("\n".join(["a,b,c,d,e,label", *rows]) + "\n")
    code, out, err = _run(capsys, "evaluate", str(path), "--dataset", str(table), "--json")
    assert (code, err) == (0, "") and json.loads(out)["rows"] == len(X)
    code, out, err = _run(capsys, "explain", str(path), "--dataset", str(table), "--json")
    assert (code, err) == (0, "") and json.loads(out)["predicted_name"] == est.predict(X[:1])[0]
    np.save(tmp_path / "rows.npy", ROWS)
    code, out, _ = _run(capsys, "predict", str(path), str(tmp_path / "rows.npy"), "--json")
    assert code == 0 and json.loads(out)["predictions"] == est.predict(ROWS).tolist()


@pytest.mark.parametrize("kind", ["multiclass", "regressor"])
def test_export_onnx_given_an_estimator_says_to_pass_its_network(kind, tmp_path):
    with pytest.raises(TypeError, match=r"^export_onnx: expected a nudgenet Module, got "
                                        r"MLP\w+; pass its network, est.to_nudgenet\(\)$"):
        ng.export_onnx(_fitted(kind), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
