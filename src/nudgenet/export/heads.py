"""A classifier's extra outputs, as skl2onnx gives scikit-learn's MLP: ``label`` (int64, one per
row) and ``probabilities`` (one column per class), computed in the graph from the model's
output by its loss's rule.

Per loss (by class name), how ``probabilities(outputs)`` reads the outputs (the softmax of
logits, the sigmoid of logits, or the outputs as they are) and, for one output column, above
which value ``predict_classes`` says class 1.  Several columns: the label is their argmax (the
first of equal ones, as NumPy's).  ``tests/test_onnx_export.py`` checks these against every loss
class's own ``probabilities`` and ``predict_classes``, so a new loss without an entry, or an
entry that disagrees, fails there.
"""

from __future__ import annotations

from typing import NamedTuple

from ..errors import ExportError
from .graph import GraphBuilder


class Head(NamedTuple):
    probabilities: str  # "softmax", "sigmoid" or "identity" (the outputs are probabilities)
    threshold: float | None  # one output column: class 1 above this (None: needs 2+ columns)


HEADS = {
    "CrossEntropyLoss": Head("softmax", None),
    "CategoricalCrossEntropyLoss": Head("identity", None),
    "BCEWithLogitsLoss": Head("sigmoid", 0.0),
    "BCELoss": Head("identity", 0.5),
}
REGRESSION = {"MSELoss"}  # no label, no probabilities


def head_for(loss) -> Head | None:
    """The classifier head of ``loss`` (a loss object or its class name), None for a
    regression's loss; ExportError for a loss it does not know."""
    name = loss if isinstance(loss, str) else type(loss).__name__
    if name in REGRESSION:
        return None
    if name not in HEADS:
        raise ExportError(
            f"no classifier outputs are known for the loss {name!r}; expected one of "
            f"{sorted(HEADS) + sorted(REGRESSION)}, or loss=None for the model's output alone"
        )
    return HEADS[name]


def add_head(g: GraphBuilder, head: Head, output: str, columns: int) -> tuple[str, str]:
    """Add the ``label`` and ``probabilities`` outputs computed from ``output`` (rows of
    ``columns`` scores); returns their names."""
    if columns == 1 and head.threshold is None:
        raise ExportError(
            "a softmax classifier needs two or more output columns, got 1; pass the loss the "
            "model was trained with"
        )
    if columns > 1:
        label = g.op("ArgMax", output, axis=1, keepdims=0, output="label")
    else:
        above = g.op("Greater", output, g.scalar(head.threshold, "threshold"))
        column = g.op("Squeeze", above, g.int64s([1]))
        label = g.op("Cast", column, to=g.onnx.TensorProto.INT64, output="label")
    if head.probabilities == "softmax":
        p = g.op("Softmax", output, axis=1)
    elif head.probabilities == "sigmoid":
        p = g.op("Sigmoid", output)
    else:
        p = output
    if columns == 1:  # P(1) = p as the two columns [1 − p, p]
        p = g.op("Concat", g.op("Sub", g.scalar(1.0, "one"), p), p, axis=1)
    return label, g.op("Identity", p, output="probabilities")
