"""Each autograd primitive's ONNX counterpart: one registry, :data:`CONVERTERS`, from a
:class:`~nudgenet.tensor.Function` class to a converter ``(graph, node, inputs) -> output``
that adds the ONNX nodes computing the same numbers (``inputs`` are the ONNX names of the
node's inputs).  A primitive missing here cannot be exported, and says so.

Where the arithmetic can follow nudgenet's own step by step, it does (batch and layer
normalisation, leaky ReLU, softplus in float64), so float64 exports agree to ~1e-15.  Two
onnxruntime kernels exist for float32 only, ``LeakyRelu`` and ``Softplus``: a float64 graph
spells them out with elementwise operations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ExportError
from ..functional import arithmetic as A
from ..functional import layers as L
from .graph import GraphBuilder
from .trace import Node

Converter = Callable[[GraphBuilder, Node, list], str]
CONVERTERS: dict[type, Converter] = {}

# Primitives that are one ONNX operation of the same inputs and no attributes.
ELEMENTWISE = {
    L.ReLUFunction: "Relu",
    L.SigmoidFunction: "Sigmoid",
    L.TanhFunction: "Tanh",
    A.Add: "Add",
    A.Sub: "Sub",
    A.Mul: "Mul",
    A.Div: "Div",
    A.Pow: "Pow",
    A.Neg: "Neg",
    A.Exp: "Exp",
    A.Log: "Log",
    A.Abs: "Abs",
    A.MatMul: "MatMul",
    A.Clone: "Identity",
}
INT64_MAX = np.iinfo(np.int64).max


def converts(*functions: type) -> Callable[[Converter], Converter]:
    """Register the decorated converter for ``functions``."""

    def register(converter: Converter) -> Converter:
        CONVERTERS.update(dict.fromkeys(functions, converter))
        return converter

    return register


def _same_operation(op_type: str) -> Converter:
    return lambda g, node, inputs: g.op(op_type, *inputs)


CONVERTERS.update({fn: _same_operation(op) for fn, op in ELEMENTWISE.items()})


@converts(L.LinearFunction)
def _linear(g: GraphBuilder, node: Node, inputs: list) -> str:
    """One Gemm for rows (N, in); MatMul (+ Add) for more axes."""
    if node.inputs[0].ndim == 2 and len(inputs) == 3:
        return g.op("Gemm", *inputs)
    out = g.op("MatMul", *inputs[:2])
    return g.op("Add", out, inputs[2]) if len(inputs) == 3 else out


@converts(L.LeakyReLUFunction)
def _leaky_relu(g: GraphBuilder, node: Node, inputs: list) -> str:
    slope = node.fn.options.get("slope", 0.01)
    if g.float32:
        return g.op("LeakyRelu", inputs[0], alpha=float(slope))
    (z,) = inputs  # z where z > 0, else z·s, as nudgenet computes it
    positive = g.op("Greater", z, g.scalar(0.0, "zero"))
    return g.op("Where", positive, z, g.op("Mul", z, g.scalar(slope, "slope")))


@converts(L.SoftplusFunction)
def _softplus(g: GraphBuilder, node: Node, inputs: list) -> str:
    if g.float32:
        return g.op("Softplus", inputs[0])
    (z,) = inputs  # max(z, 0) + ln(1 + e^−|z|): cannot overflow
    tail = g.op("Exp", g.op("Neg", g.op("Abs", z)))
    log = g.op("Log", g.op("Add", tail, g.scalar(1.0, "one")))
    return g.op("Add", g.op("Max", z, g.scalar(0.0, "zero")), log)


@converts(L.SoftmaxFunction, L.LogSoftmaxFunction)
def _softmax(g: GraphBuilder, node: Node, inputs: list) -> str:
    op_type = "Softmax" if isinstance(node.fn, L.SoftmaxFunction) else "LogSoftmax"
    return g.op(op_type, inputs[0], axis=int(node.fn.options.get("axis", -1)))


@converts(L.NormalizationFunction)
def _normalization(g: GraphBuilder, node: Node, inputs: list) -> str:
    """x̂ = (x − μ) · 1/√(σ² + ε), then x̂ ⊙ γ + β; fixed statistics (batch norm in eval) become
    constants, statistics of the input (layer norm) are computed as nudgenet does."""
    options = node.fn.options
    x, eps, axis = inputs[0], options["eps"], options["axis"]
    if axis is None:
        var = np.asarray(options["var"]).astype(g.dtype)
        centred = g.op("Sub", x, g.constant(options["mean"], "running_mean"))
        inv_std = g.constant(1.0 / np.sqrt(var + g.dtype.type(eps)), "inv_std")
    else:
        axes = [int(axis)]
        centred = g.op("Sub", x, g.op("ReduceMean", x, axes=axes, keepdims=1))
        var = g.op("ReduceMean", g.op("Mul", centred, centred), axes=axes, keepdims=1)
        std = g.op("Sqrt", g.op("Add", var, g.scalar(eps, "eps")))
        inv_std = g.op("Div", g.scalar(1.0, "one"), std)
    x_hat = g.op("Mul", centred, inv_std)
    if len(inputs) == 1:
        return x_hat
    return g.op("Add", g.op("Mul", x_hat, inputs[1]), inputs[2])


def _axes(axis, ndim: int) -> list[int] | None:
    if axis is None:
        return None
    return [int(a) for a in np.atleast_1d(axis)] if ndim else []


@converts(A.Sum, A.Mean, A.Max)
def _reduction(g: GraphBuilder, node: Node, inputs: list) -> str:
    options = node.fn.options
    axes = _axes(options.get("axis"), node.inputs[0].ndim)
    keepdims = int(bool(options.get("keepdims", False)))
    if isinstance(node.fn, A.Sum):  # from opset 13, ReduceSum takes its axes as an input
        extra = [] if axes is None else [g.int64s(axes)]
        return g.op("ReduceSum", inputs[0], *extra, keepdims=keepdims)
    op_type = "ReduceMean" if isinstance(node.fn, A.Mean) else "ReduceMax"
    given = {} if axes is None else {"axes": axes}
    return g.op(op_type, inputs[0], keepdims=keepdims, **given)


@converts(A.Reshape)
def _reshape(g: GraphBuilder, node: Node, inputs: list) -> str:
    """The leading size, where it is the input's (the rows), is ONNX's 0: "as the input's"."""
    shape = [int(n) for n in node.fn.options["shape"]]
    source = node.inputs[0].shape
    if shape and source and shape[0] == source[0]:
        shape[0] = 0
    return g.op("Reshape", inputs[0], g.int64s(shape, "shape"))


@converts(A.Transpose)
def _transpose(g: GraphBuilder, node: Node, inputs: list) -> str:
    axes, ndim = node.fn.options.get("axes"), node.inputs[0].ndim
    perm = list(range(ndim))[::-1] if axes is None else [int(a) % ndim for a in axes]  # ONNX: ≥ 0
    return g.op("Transpose", inputs[0], perm=perm)


@converts(A.GetItem)
def _getitem(g: GraphBuilder, node: Node, inputs: list) -> str:
    """Basic indexing by slices and whole numbers (``x[:, 1:3]``, ``x[:, 0]``): a Slice, then a
    Squeeze of the axes a number picked."""
    index = node.fn.options["index"]
    parts = index if isinstance(index, tuple) else (index,)
    if not all(isinstance(p, (slice, int, np.integer)) for p in parts):
        raise ExportError(
            f"indexing with {index!r}: only slices and whole numbers (x[:, 1:3], x[:, 0]) can be "
            "exported"
        )
    starts, ends, axes, steps, squeezed = [], [], [], [], []
    for axis, part in enumerate(parts):
        if isinstance(part, slice):
            if part == slice(None):
                continue
            step = 1 if part.step is None else int(part.step)
            default_start, default_end = (0, INT64_MAX) if step > 0 else (-1, -INT64_MAX)
            starts.append(default_start if part.start is None else int(part.start))
            ends.append(default_end if part.stop is None else int(part.stop))
        else:
            step = 1
            starts.append(int(part))
            ends.append(INT64_MAX if int(part) == -1 else int(part) + 1)
            squeezed.append(axis)
        axes.append(axis)
        steps.append(step)
    out = inputs[0]
    if axes:
        bounds = [g.int64s(v, name) for v, name in ((starts, "starts"), (ends, "ends"))]
        out = g.op("Slice", out, *bounds, g.int64s(axes), g.int64s(steps, "steps"))
    if squeezed:
        out = g.op("Squeeze", out, g.int64s(squeezed))
    return out if out != inputs[0] else g.op("Identity", out)
