"""A classifier's extra outputs, as skl2onnx gives scikit-learn's MLP: ``label`` (int64) and
``probabilities``, computed in the graph from the model's output by its loss's rule.

Per loss (by class name), how ``probabilities(outputs)`` reads the outputs (the softmax of
logits, the sigmoid of logits, or the outputs as they are) and, for the binary losses, above
which value a column's label is 1.  The label is ``predict_labels``: the argmax of several
columns (the first of equal ones, as NumPy's), one per row; a binary loss's column thresholded,
one per row for one column, and for several a row of independent 0/1 labels, ``(N, C)``
(multilabel targets, as skl2onnx exports scikit-learn's multilabel MLP).
``tests/test_onnx_export.py`` checks these against every loss class's own ``probabilities`` and
``predict_labels``, so a new loss without an entry, or an entry that disagrees, fails there.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import ExportError
from .graph import GraphBuilder


class Head(NamedTuple):
    probabilities: str  # "softmax", "sigmoid" or "identity" (the outputs are probabilities)
    threshold: float | None  # a binary loss: a column's label is 1 above this (None: argmax)

    def multilabel(self, columns: int) -> bool:
        """Whether ``columns`` outputs are independent labels (a row of them per row)."""
        return self.threshold is not None and columns > 1

    def classes(self, columns: int, class_names) -> int:
        """How many classes ``columns`` outputs score: one where ``class_names`` names one and
        the outputs are one binary column or two softmax scores (a one-class classifier, which
        scikit-learn fits on labels of one class; its probabilities keep their two columns, as
        its ``predict_proba``); else two for one column, one per column otherwise."""
        one_class = class_names is not None and len(class_names) == 1
        if one_class and columns == (1 if self.threshold is not None else 2):
            return 1
        return max(columns, 2)


HEADS = {
    "CrossEntropyLoss": Head("softmax", None),
    "CategoricalCrossEntropyLoss": Head("identity", None),
    "BCEWithLogitsLoss": Head("sigmoid", 0.0),
    "BCELoss": Head("identity", 0.5),
}
# a regression's losses (no label, no probabilities): the ONNX operation that makes the
# network's outputs the values it predicts (the loss's predict_values), None where they are them
REGRESSION = {"MSELoss": None, "DifferentialLoss": None,  # (values, fitted with derivatives)
              "PoissonLoss": "Exp"}  # Poisson: the means, exp of log-means  # fmt: skip


def loss_name(loss) -> str:
    """The class name of ``loss``: a loss object, its class, or the name itself."""
    if isinstance(loss, str):
        return loss
    return loss.__name__ if isinstance(loss, type) else type(loss).__name__


def head_for(loss) -> Head | None:
    """The classifier head of ``loss`` (a loss object, its class or its class name), None for a
    regression's loss; ExportError for a loss it does not know."""
    name = loss_name(loss)
    if name in REGRESSION:
        return None
    if name not in HEADS:
        raise ExportError(
            f"no classifier outputs are known for the loss {name!r}; expected one of "
            f"{sorted(HEADS) + sorted(REGRESSION)}, or loss=None for the model's output alone"
        )
    return HEADS[name]


def values_op(loss) -> str | None:
    """The ONNX operation that makes the outputs of a model trained with ``loss`` (a regression's)
    the values it predicts, as its ``predict_values`` does; None: they are the outputs."""
    return REGRESSION.get(loss_name(loss))


def add_head(
    g: GraphBuilder, head: Head, output: str, columns: int, classes: int
) -> tuple[str, str]:
    """Add the ``label`` and ``probabilities`` outputs computed from ``output`` (rows of
    ``columns`` scores of ``classes`` classes, :meth:`Head.classes`: of one, ``label`` is 0 for
    every row, as the estimator predicts its one class); returns their names."""
    if columns == 1 and head.threshold is None:
        raise ExportError(
            "a softmax classifier needs two or more output columns, got 1; pass the loss the "
            "model was trained with"
        )
    if classes == 1:
        rows = g.op("Gather", g.op("Shape", output), g.int64s([0], "first"), axis=0)
        zero = g.onnx.helper.make_tensor("value", g.onnx.TensorProto.INT64, [1], [0])
        label = g.op("ConstantOfShape", rows, value=zero, output="label")
    elif head.threshold is None:
        label = g.op("ArgMax", output, axis=1, keepdims=0, output="label")
    else:
        above = g.op("Greater", output, g.scalar(head.threshold, "threshold"))
        if not head.multilabel(columns):
            above = g.op("Squeeze", above, g.int64s([1]))
        label = g.op("Cast", above, to=g.onnx.TensorProto.INT64, output="label")
    if head.probabilities == "softmax":
        p = g.op("Softmax", output, axis=1)
    elif head.probabilities == "sigmoid":
        p = g.op("Sigmoid", output)
    else:
        p = output
    if columns == 1:  # P(1) = p as the two columns [1 − p, p]
        p = g.op("Concat", g.op("Sub", g.scalar(1.0, "one"), p), p, axis=1)
    return label, g.op("Identity", p, output="probabilities")
