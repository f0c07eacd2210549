"""ONNX export: ``export_onnx(model, "model.onnx")`` writes a model any ONNX runtime can serve.

The forward is traced (:mod:`.trace`): run once in eval mode, its recorded graph of primitives
is read back and each primitive becomes its ONNX counterpart (:mod:`.converters`, one registry);
an operation without one is refused with a one-line :class:`~nudgenet.errors.ExportError`
naming it and the layer that applied it.  So any model exports whose forward uses only those
operations: Sequential models of every nudgenet layer (Dropout is the identity in eval, batch
norm uses its running statistics), and custom modules alike.

The forward is traced twice, on 2 and on 3 random rows; the two graphs must be the same, so a
forward whose operations depend on the batch size, or that computes on arrays outside the graph
(whose results would be frozen into the file as constants), is refused rather than exported
wrong.

The file: opset 13 (:data:`OPSET`), IR version 7 (the one that goes with it), a dynamic batch
dimension ``"batch"``, the input ``"input"`` (rows of features), the output ``"output"`` (the
network's output; a regression's predicted values, which for ``PoissonLoss`` are the means, the
exponential of the network's log-means, as ``MLPRegressor(loss="poisson").predict`` gives), and for
a classifier ``"label"`` (int64: one per row, or a row of 0/1 labels for a binary loss's several
columns) and ``"probabilities"`` (:mod:`.heads`).  Opset 13 is the first in which Softmax and
LogSoftmax normalise one axis, as nudgenet's do (before it they flattened the trailing axes),
and every other operation used has had its present form since 13 or earlier; the lowest opset
that serves is the one most runtimes read (onnxruntime since 1.7; 1.32, tested here, reads it
as it reads far newer ones), so nothing newer is asked for.
``metadata_props`` holds ``nudgenet_version``, and where known ``class_names`` and
``feature_names`` (JSON lists), ``loss`` and ``task``; ``output_function`` where ``"output"`` is a
function of the network's output: ``"exp"`` for ``PoissonLoss`` (scikit-learn's name for it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._version import __version__
from ..backend import as_float_dtype
from ..errors import ExportError
from ..extras import require
from ..files import write_atomic
from ..nn.copies import float64_copy
from ..nn.module import Module
from ..recipes.record import TrainingRecord
from .converters import CONVERTERS
from .graph import GraphBuilder
from .heads import add_head, head_for, loss_name, values_op
from .trace import Trace, input_features, trace

OPSET = 13
IR_VERSION = 7
BATCH = "batch"  # the name of the dynamic batch dimension
TRACE_ROWS = (2, 3)  # the two batch sizes traced; their graphs must agree

__all__ = ["OPSET", "IR_VERSION", "export_onnx", "onnx_model"]


def export_onnx(
    model: Module,
    path,
    *,
    loss=None,
    class_names=None,
    feature_names=None,
    dtype=None,
    features: int | None = None,
) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the path.

    ``loss``: the loss the model was trained with (an object or its class name), for a
    classifier's ``label`` and ``probabilities`` outputs (softmax of logits for
    CrossEntropyLoss, sigmoid for BCEWithLogitsLoss, ...), and for a regression's values
    (PoissonLoss: ``output`` is the exponential of the network's log-means); None: taken from
    the model's ``metadata`` where its training record names it (``nudgenet train`` and an
    estimator's ``save`` write one, ``ng.load`` restores it; ``to_nudgenet()``'s network carries
    it), else the output alone.  ``class_names`` / ``feature_names`` (default: from the
    metadata) go into the file's metadata.  ``dtype``: float32 or float64 for the graph
    (default: the model's).  ``features``: the number of input features, needed only when the
    model's first layer does not say (a custom module).  Needs the ``onnx`` package
    (``pip install "nudgenet[onnx]"``).

    >>> import pathlib, tempfile, onnx, nudgenet as ng
    >>> model = ng.Sequential(ng.Linear(4, 8, seed=0), ng.ReLU(), ng.Linear(8, 3, seed=1))
    >>> path = ng.export_onnx(model, pathlib.Path(tempfile.mkdtemp()) / "model.onnx",
    ...                       loss=ng.CrossEntropyLoss())
    >>> [output.name for output in onnx.load(path).graph.output]
    ['output', 'label', 'probabilities']
    """
    onnx = require("onnx", "onnx", "ONNX export")
    proto = onnx_model(
        model,
        loss=loss,
        class_names=class_names,
        feature_names=feature_names,
        dtype=dtype,
        features=features,
    )
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    write_atomic(path, proto.SerializeToString())
    return path


def onnx_model(
    model: Module, *, loss=None, class_names=None, feature_names=None, dtype=None, features=None
):
    """The ``onnx.ModelProto`` :func:`export_onnx` writes (same arguments, no file)."""
    onnx = require("onnx", "onnx", "ONNX export")
    if not isinstance(model, Module):  # an estimator (MLPClassifier) holds one: say how to get it
        network = "; pass its network, est.to_nudgenet()" if hasattr(model, "to_nudgenet") else ""
        raise TypeError(
            f"export_onnx: expected a nudgenet Module, got {type(model).__name__}{network}"
        )
    dtype = as_float_dtype(dtype or model.dtype or np.float32)
    features = features or input_features(model)
    if features is None:
        raise ExportError(
            f"cannot tell how many input features {type(model).__name__} takes: pass features=N"
        )
    metadata = getattr(model, "metadata", None) or {}
    record = TrainingRecord.from_dict(metadata)  # the training record, or its defaults
    if loss is None:
        loss = record.loss  # None where the metadata names none
    if class_names is None and record.class_names:
        class_names = record.class_names
    traced_model = _in_dtype(model, dtype)
    names = _array_names(traced_model)
    head = None if loss is None else head_for(loss)
    values = None if loss is None or head is not None else values_op(loss)
    rng = np.random.default_rng(0)
    builders, traces = [], []
    for rows in TRACE_ROWS:
        sample = rng.normal(size=(rows, features)).astype(traced_model.dtype or dtype)
        traced = trace(traced_model, sample)
        builders.append(_body(onnx, traced, dtype, names, values))
        traces.append(traced)
    _check_same(*builders)
    g, first, second = builders[0], traces[0], traces[1]
    output_shape = [BATCH if a != b else a for a, b in zip(first.output.shape, second.output.shape)]
    outputs = [g.value_info("output", output_shape)]
    classes = None  # how many classes the outputs score (None: a regression's, any names)
    if head is not None:
        if len(output_shape) != 2:
            raise ExportError(
                f"a classifier's outputs must be rows of scores (N, classes), got shape "
                f"{first.output.shape}"
            )
        columns = output_shape[1]
        classes = head.classes(columns, class_names)
        add_head(g, head, "output", columns, classes)
        label_shape = [BATCH, columns] if head.multilabel(columns) else [BATCH]
        outputs += [
            g.value_info("label", label_shape, onnx.TensorProto.INT64),
            g.value_info("probabilities", [BATCH, max(columns, 2)]),
        ]
    graph = onnx.helper.make_graph(
        g.nodes,
        "nudgenet",
        [g.value_info("input", [BATCH, features])],
        outputs,
        initializer=g.initializers,
    )
    proto = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="nudgenet",
        producer_version=__version__,
        doc_string=_summary(model),
    )
    properties = {"nudgenet_version": __version__}
    if feature_names is None and record.feature_names:  # () where the rows had no names
        feature_names = record.feature_names
    if class_names is not None:
        properties["class_names"] = _names("class_names", class_names, classes, "class")
    if feature_names is not None:
        properties["feature_names"] = _names("feature_names", feature_names, features,
                                             "input feature")  # fmt: skip
    if loss is not None:
        properties["loss"] = loss_name(loss)
        properties["task"] = "regression" if head is None else "classification"
    if values is not None:
        properties["output_function"] = values.lower()
    onnx.helper.set_model_props(proto, properties)
    return proto


def _names(argument: str, names, count: int | None, what: str) -> str:
    """``names`` as the JSON list the metadata holds, if there are ``count`` of them (None: any
    number), else ExportError."""
    if isinstance(names, str):
        raise ExportError(f"{argument}: expected a list of names, got the string {names!r}")
    names = [str(name) for name in names]
    if count is not None and len(names) != count:
        raise ExportError(f"{argument}: expected {count} names (one per {what}), got {len(names)}")
    return json.dumps(names)


def _in_dtype(model: Module, dtype: np.dtype) -> Module:
    """``model`` to trace for a graph in ``dtype``: itself, or a float64 copy of a float32 model
    for a float64 graph (traced in float32, its float64 constants, such as ``Standardize``'s
    statistics, came out rounded to float32: the graph then differed from the float64 model
    by 1e-7, not to rounding)."""
    if dtype != np.float64 or model.dtype in (None, np.float64):
        return model
    return float64_copy(model, "a float64 export of a float32 model (or: export model.double())",
                        ExportError)  # fmt: skip


def _array_names(model: Module) -> dict[int, str]:
    """The id of each parameter's and buffer's array -> its dotted name (``"0.weight"``)."""
    names = {id(p.data): name for name, p in model.named_parameters()}
    names.update((id(array), name) for name, array in model.named_buffers())
    return names


def _body(
    onnx, traced: Trace, dtype: np.dtype, names: dict[int, str], values: str | None = None
) -> GraphBuilder:
    """The graph of the traced forward, from ``"input"`` to ``"output"``, through the operation
    ``values`` (a regression's predicted values, :func:`.heads.values_op`) where given."""
    g = GraphBuilder(onnx, dtype, names)
    known: dict[int, str] = {id(traced.input): g.fresh("input")}
    for node in traced.nodes:
        inputs = []
        for t in node.inputs:
            if id(t) not in known:  # a constant: a parameter, an operand, or computed from them
                known[id(t)] = g.constant(t.data)
            inputs.append(known[id(t)])
        convert = CONVERTERS.get(type(node.fn))
        if convert is None:
            raise ExportError(
                f"cannot export {traced.layer_of(node.output)}: the operation "
                f"{type(node.fn).__name__} has no ONNX converter (exported: "
                f"{', '.join(sorted(f.__name__ for f in CONVERTERS))})"
            )
        try:
            known[id(node.output)] = convert(g, node, inputs)
        except ExportError as error:
            raise ExportError(f"cannot export {traced.layer_of(node.output)}: {error}") from None
    last = known[id(traced.output)]
    g.op("Identity", g.op(values, last) if values else last, output="output")
    return g


def _check_same(first: GraphBuilder, second: GraphBuilder) -> None:
    """The graphs traced on 2 and 3 rows must be the same, else ExportError."""

    def parts(g):
        return [p.SerializeToString() for p in (*g.nodes, *g.initializers)]

    if parts(first) != parts(second):
        raise ExportError(
            "the forward depends on the batch size, or computes part of its output on arrays "
            "outside nudgenet's operations (a value taken from the input would be frozen into "
            "the file): traced on 2 and on 3 rows, the graphs differ"
        )


def _summary(model: Module) -> str:
    return f"nudgenet {__version__}\n{model!r}"
