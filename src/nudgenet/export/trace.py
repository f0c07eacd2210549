"""Reading a model's forward back as operations: run it once, in eval mode, on rows that require
gradients, and walk the graph of :class:`~nudgenet.tensor.Function` nodes it recorded.

Every tensor the output depends on is one of three things: the input; a *constant* (a parameter,
an operand such as the ``2`` of ``x * 2``, or anything computed from those alone, such as a
weight a custom module derives from its parameters: its value is taken as it is); or the output
of a *node*, an operation applied to the input or to what was computed from it.  The exporter
gives each node's operation its ONNX counterpart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import ExportError
from ..grad_mode import enable_grad
from ..graph import graph_order  # the engine's own walk of the graph
from ..nn.config import LAYERS
from ..nn.layers import Linear, Standardize, Unstandardize, leaf_layers
from ..nn.module import Module
from ..nn.normalization import BatchNorm1d, LayerNorm
from ..tensor import Function, Tensor


@dataclass(frozen=True)
class Node:
    """One recorded operation: its Function (with the ``options`` it was applied with), the
    tensors it was applied to and the tensor it made."""

    fn: Function
    inputs: tuple[Tensor, ...]
    output: Tensor


@dataclass(frozen=True)
class Call:
    """One module's forward during the trace: what it was given and what it returned."""

    name: str
    module: Module
    inputs: tuple
    output: object


@dataclass
class Trace:
    """The traced forward: the ``input`` tensor, the ``output``, the ``nodes`` in an order where
    each comes after the nodes it uses, and every module ``call`` (innermost first)."""

    input: Tensor
    output: Tensor
    nodes: list[Node] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    def layer_of(self, tensor: Tensor) -> str:
        """The innermost module whose forward computed ``tensor``, in words, for errors."""
        for call in self.calls:
            if _computes(call, tensor):
                kind = type(call.module).__name__
                return f"layer {call.name!r} ({kind})" if call.name else f"the model ({kind})"
        return "the model"


def input_features(model: Module) -> int | None:
    """How many features a row has, read from the first layer that knows (a Linear, a
    Standardize, a normalisation layer; the registry's other layers, activations and dropout,
    pass rows through); None when a module that is not a registry layer (a custom module) comes
    first."""
    for _, layer in leaf_layers(model):
        if isinstance(layer, Linear):
            return layer.in_features
        if isinstance(layer, (Standardize, Unstandardize)):
            return layer.mean.size
        if isinstance(layer, (LayerNorm, BatchNorm1d)):
            return layer.features
        if LAYERS.get(type(layer).__name__) is not type(layer):
            return None
    return None


def trace(model: Module, rows: np.ndarray) -> Trace:
    """The forward of ``model`` (in eval mode; its mode is restored) on ``rows``, as a Trace."""
    x = Tensor(rows, requires_grad=True)
    calls: list[Call] = []
    handles = [
        module.register_forward_hook(
            lambda m, inputs, out, name=name: calls.append(Call(name, m, inputs, out))
        )
        for name, module in _named_modules(model, "")
    ]
    was_training = model.training
    model.eval()
    try:
        with enable_grad():
            output = model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    if not isinstance(output, Tensor):
        raise ExportError(
            f"the model returned a {type(output).__name__}; only a model returning one tensor can "
            "be exported"
        )
    order = graph_order([output])  # every tensor needing a gradient: all that use the input
    computed: set[int] = {id(x)}
    nodes = []
    for tensor in order:
        fn = tensor._creator
        if fn is not None and any(id(t) in computed for t in fn.inputs):
            computed.add(id(tensor))
            nodes.append(Node(fn, tuple(fn.inputs), tensor))
    if id(output) not in computed:
        raise ExportError(
            "the model's output does not depend on its input through nudgenet's operations "
            "(it is a constant, or the forward computes on arrays outside the graph)"
        )
    return Trace(x, output, nodes, calls)


def _named_modules(module: Module, name: str) -> Iterator[tuple[str, Module]]:
    yield name, module
    for child_name, child in module.named_children():
        yield from _named_modules(child, f"{name}.{child_name}" if name else child_name)


def _computes(call: Call, tensor: Tensor) -> bool:
    """Whether ``tensor`` lies between the call's inputs and its output in the graph: one of
    the inputs the call was given is not (the module that made it named that one)."""
    if not isinstance(call.output, Tensor):
        return False
    given = {id(t) for t in call.inputs if isinstance(t, Tensor)}
    seen: set[int] = set()
    stack = [call.output]
    while stack:
        t = stack.pop()
        if id(t) in given:
            continue
        if t is tensor:
            return True
        if id(t) in seen or t._creator is None:
            continue
        seen.add(id(t))
        stack.extend(t._creator.inputs)
    return False
