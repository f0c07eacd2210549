"""The files and exports an estimator's network goes to: ``ng.export_onnx`` of
``est.to_nudgenet()`` serves the estimator's own answers in onnxruntime."""

import warnings

import numpy as np
import onnxruntime as ort
from sklearn.datasets import make_classification, make_multilabel_classification

import nudgenet as ng
from nudgenet.sklearn import MLPClassifier

X, Y = make_classification(90, 5, n_informative=4, n_redundant=0, n_classes=3, random_state=0)
YM = make_multilabel_classification(90, 5, n_classes=3, random_state=0)[1]
ROWS = X[:12]


def _fitted(kind: str):
    """A small fitted estimator of each kind."""
    est, y = {
        "multilabel": (MLPClassifier((8,), random_state=0), YM),
    }[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.set_params(max_iter=40, learning_rate_init=0.01).fit(X, y)


def test_a_multilabel_network_exports_a_label_per_column_as_the_estimator_predicts(tmp_path):
    est = _fitted("multilabel")
    rows = ROWS.astype(np.float32)
    path = ng.export_onnx(est.to_nudgenet(), tmp_path / "ml.onnx", loss=ng.BCEWithLogitsLoss())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    _, label, probabilities = session.run(None, {"input": rows})
    assert label.dtype == np.int64 and label.shape == (len(rows), 3)
    np.testing.assert_array_equal(label, est.predict(rows))
    np.testing.assert_allclose(probabilities, est.predict_proba(rows), atol=1e-6)
