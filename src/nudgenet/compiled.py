"""The compiled training step: the engine's arithmetic without the graph.

``fit`` trains any model through the general engine (record the graph, walk it backward).  For
the model most people train, a :class:`~nudgenet.nn.Sequential` of ``Linear`` layers each
followed by at most one ReLU / Sigmoid / Tanh, with ``CrossEntropyLoss`` (integer labels),
``BCEWithLogitsLoss`` (0/1 columns, no ``pos_weight``) or ``MSELoss``, it can run
:class:`CompiledMLP` instead: the same equations for the whole network, into buffers reused from
one step to the next::

    forward    z = a W + b,  a = f(z)                       (kernels.linear, activate)
    loss       C, and δ = ∂C/∂z of the last layer           (the loss's value and delta kernels)
    backward   ∂C/∂W = aᵀ δ,  ∂C/∂b = 1ᵀ δ                   (into the optimiser's flat_grads)
               δ ← (δ Wᵀ) ⊙ f′(a)                           (linear_grad_input, delta)

It writes no rule of its own: every equation is a function of :mod:`nudgenet.functional.kernels`,
the very functions the engine's primitives call, so it computes the same numbers as the engine,
bit for bit, and gradients land where ``zero_grad(); backward()`` would put them (the views of
the optimiser's :attr:`~nudgenet.optim.Optimizer.flat_grads`).  The optimiser's own ``step()``
then updates the parameters as usual.  ``tests/test_fast_path.py`` trains models both ways and
compares every parameter exactly.

``fit(..., compile=...)`` chooses: ``"auto"`` (the default) runs this step when
:meth:`CompiledMLP.compile` accepts the model, loss, optimiser and data, else the engine;
``True`` requires it (:class:`~nudgenet.errors.CompileError` names what it does not cover: a
layer, a forward hook, a layer whose ``forward`` was replaced on the instance, probability
targets, class weights or weighted rows, parameters the optimiser does not own or frozen
ones, ...); ``False`` always runs the engine.

Layer outputs: after each step, :attr:`CompiledMLP.outputs` maps the name of every layer the
model applies (as :func:`~nudgenet.nn.layers.leaf_layers` names it, ``"1"`` for ``model[1]``)
to its output on the batch, the same names and values as the engine's step keeps: a
``Linear``'s z, an activation's a, an ``Identity``'s input.  They are the step's buffers, not
copies, valid until the next step (and by place, not object: one activation instance used after
two layers is two names with two outputs).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np

from .errors import CompileError
from .functional import kernels as K
from .functional.layers import ActivationFunction, ReLUFunction, SigmoidFunction, TanhFunction
from .nn.layers import Identity, Linear, ReLU, Sigmoid, Tanh, leaf_layers
from .nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .nn.module import Module
from .optim import Optimizer

_ACTIVATIONS: dict[type, type[ActivationFunction]] = {
    ReLU: ReLUFunction,
    Sigmoid: SigmoidFunction,
    Tanh: TanhFunction,
}
_COVERED = "a Sequential of Linear layers, each followed by at most one ReLU, Sigmoid or Tanh"


class _Block:
    """One ``Linear`` and the activation after it (``rule``, an ActivationFunction, or None)."""

    def __init__(self, linear: Linear):
        self.linear = linear
        self.rule: type[ActivationFunction] | None = None


class _Buffers:
    """The arrays one batch size needs: the batch, each block's z and a (a is z when no
    activation follows), each hidden block's δ, the loss's work arrays; and (:meth:`bind`) the
    parameter arrays each step reads and writes."""

    def __init__(self, n: int, x: np.ndarray, y: np.ndarray, blocks: list[_Block], dtype, scale):
        widths = [block.linear.out_features for block in blocks]
        self.scale = scale  # the loss's factor (1/N, 1/(N·C) or 1)
        self.g_scale = np.ones((), dtype=dtype) * scale  # ∂C/∂C · scale, as backward() forms it
        self.x = np.empty((n, *x.shape[1:]), dtype=x.dtype)
        self.y = np.empty((n, *y.shape[1:]), dtype=y.dtype)
        self.z = [np.empty((n, w), dtype=dtype) for w in widths]
        self.a = [np.empty_like(z) if b.rule else z for z, b in zip(self.z, blocks)]
        self.activate = [_activation(b.rule, z) for z, b in zip(self.z, blocks)]
        self.deltas = [np.empty((n, w), dtype=dtype) for w in widths[:-1]]
        self.loss = np.empty((n, widths[-1]), dtype=dtype)  # MSE: p − y, then δ; CE: s
        self.exp = np.empty((n, widths[-1]), dtype=dtype)  # CE: e = exp s, then δ
        self.total = np.empty((n, 1), dtype=dtype)  # CE: max z, then S = Σ e
        self.offsets = np.arange(0, n * widths[-1], widths[-1])  # CE: flat row starts n·C
        self.index = np.empty(n, dtype=np.intp)  # CE: flat label positions n·C + yₙ
        self.ones = np.ones(n, dtype=dtype)  # ∂b = 1ᵀ δ
        self.bound = None  # the optimiser's flat_params the plans below were bound to

    def output(self, block: int, kind: str) -> np.ndarray:
        """Block ``block``'s z or a (``kind``); block −1 is the batch of inputs."""
        if block < 0:
            return self.x
        return self.z[block] if kind == "z" else self.a[block]

    def bind(self, blocks: list[_Block], flat: np.ndarray) -> None:
        """Bind the step to the parameter arrays now living in ``flat`` (the optimiser's
        flat_params): per block the forward's ``(a below, W, b, z, activate, a)`` and, last block
        first, the backward's ``(aᵀ below, ∂W, ∂b, Wᵀ, δ buffer below, a below, f′ below)``, so a
        step does no attribute look-ups."""
        self.bound = flat
        self.forward, self.backward = [], []
        inputs = [self.x, *self.a[:-1]]
        for i, block in enumerate(blocks):
            weight, bias = block.linear.weight, block.linear.bias
            self.forward.append((
                inputs[i], weight.data, None if bias is None else bias.data, self.z[i],
                self.activate[i], self.a[i],
            ))  # fmt: skip
            below = blocks[i - 1].rule if i else None
            self.backward.append((
                inputs[i].T, weight.grad, None if bias is None else bias.grad,
                weight.data.T if i else None, self.deltas[i - 1] if i else None,
                inputs[i], None if below is None else below.delta,
            ))  # fmt: skip
        self.backward.reverse()
        last = blocks[-1].rule
        self.last_delta = None if last is None else last.delta


def _activation(rule: type[ActivationFunction] | None, z: np.ndarray):
    """A block's activation kernel ``f(z, out)`` (None without one): ReLU's against a reused
    array of zeros shaped like ``z`` (:func:`~nudgenet.functional.kernels.relu`: the same
    numbers, faster)."""
    if rule is ReLUFunction:
        return partial(rule.activate, zeros=np.zeros_like(z))
    return None if rule is None else rule.activate


class CompiledMLP:
    """Forward, loss and backward of a Linear/activation stack, with no graph (see module doc).
    Build it with :meth:`compile`."""

    def __init__(self, blocks: list[_Block], places, loss_fn, optimizer: Optimizer, dtype):
        self.blocks = blocks
        self.places = places  # (layer name, block, "z" | "a"): where each layer's output lives
        self.outputs: dict[str, np.ndarray] = {}  # layer name -> its output on the last batch
        self._current: _Buffers | None = None  # the buffers ``outputs`` points into
        self.scale_rule, self._loss = _LOSSES[type(loss_fn)]
        self.reduction = loss_fn.reduction
        self.optimizer = optimizer
        self.dtype = dtype
        self._buffers: dict[int, _Buffers] = {}
        self._frozen: list[np.ndarray] = []  # gradients of parameters frozen during training
        self._trained = None  # the buffer's trained stretches _frozen was read for (all: None)

    @classmethod
    def compile(
        cls, model: Module, loss_fn, optimizer: Optimizer, x, y, sample_weight=None
    ) -> CompiledMLP:
        """The compiled step for ``model`` trained with ``loss_fn`` and ``optimizer`` on inputs
        ``x`` and targets ``y``; :class:`~nudgenet.errors.CompileError` naming what it does not
        cover otherwise (row weights among it: ``sample_weight`` not None)."""
        if sample_weight is not None:
            raise CompileError("rows are weighted (class_weight or sample_weight)")
        blocks, places = _plan(model)
        last = blocks[-1].linear.out_features
        dtype = _check_parameters(model, blocks, optimizer)
        if x.ndim != 2 or x.shape[1] != blocks[0].linear.in_features or x.dtype != dtype:
            raise CompileError(
                f"inputs are {x.dtype} of shape {x.shape}; the compiled step takes {dtype} rows "
                f"(N, {blocks[0].linear.in_features}), as the first Linear does"
            )
        _check_targets(loss_fn, y, last)
        return cls(blocks, places, loss_fn, optimizer, dtype)

    def _new_buffers(self, n: int, x: np.ndarray, y: np.ndarray) -> _Buffers:
        scale = self.scale_rule(self.reduction, (n, self.blocks[-1].linear.out_features))
        buf = self._buffers[n] = _Buffers(n, x, y, self.blocks, self.dtype, scale)
        return buf

    def train_step(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray):
        """Gradients of the loss on ``x[rows], y[rows]`` into every parameter's ``.grad``
        (overwritten, as after ``zero_grad()``); returns ``(outputs, targets, loss)``."""
        packed = self.optimizer.flat_buffer  # re-packed first if a parameter moved: rebind then
        flat = packed.data
        buf = self._buffers.get(len(rows)) or self._new_buffers(len(rows), x, y)
        if buf.bound is not flat:
            buf.bind(self.blocks, flat)
        if packed.trained is not self._trained:  # a parameter frozen or unfrozen, or re-packed
            self._trained = packed.trained
            self._frozen = [p.grad for p in packed.params if not p.requires_grad]
        if buf is not self._current:  # another batch size: outputs now live in these buffers
            self._current = buf
            self.outputs.update({name: buf.output(i, kind) for name, i, kind in self.places})
        # the batch, gathered into reused buffers ("clip": fit's rows are valid, and the default
        # mode="raise" would gather into a temporary and copy that)
        x.take(rows, axis=0, out=buf.x, mode="clip")
        y.take(rows, axis=0, out=buf.y, mode="clip")
        linear = K.linear  # out= buffers passed by position: the cheapest call
        for a_in, w, b, z, activate, a in buf.forward:
            linear(a_in, w, b, z)
            if activate is not None:
                activate(z, a)
        out = buf.a[-1]
        loss, delta = self._loss(out, buf)  # the batch loss and δ = ∂C/∂out
        if buf.last_delta is not None:
            delta = buf.last_delta(delta, out, delta)
        grad_weight, grad_bias, ones = K.linear_grad_weight, K.linear_grad_bias, buf.ones
        grad_input = K.linear_grad_input
        for a_in_t, gw, gb, w_t, upstream, a_in, below_delta in buf.backward:
            grad_weight(a_in_t, delta, gw)  # ∂W = aᵀ δ
            if gb is not None:
                grad_bias(delta, ones, gb)  # ∂b = 1ᵀ δ
            if w_t is not None:  # δ ← (δ Wᵀ) ⊙ f′(a) for the block below
                delta = grad_input(delta, w_t, upstream)
                if below_delta is not None:  # a below is this block's input
                    delta = below_delta(delta, a_in, delta)
        for grad in self._frozen:  # none, as the engine's backward gives it (a callback froze it)
            grad.fill(0)
        return out, buf.y, loss


def _cross_entropy(out: np.ndarray, buf: _Buffers) -> tuple[float, np.ndarray]:
    """The batch's softmax cross-entropy and δ = ∂C/∂out, by the kernels, into ``buf``."""
    s, e, total = K.cross_entropy_parts(out, buf.loss, buf.exp, buf.total)
    index = K.label_index(buf.y, None, buf.offsets, buf.index)
    loss = float(K.cross_entropy_value(s, total, buf.y, buf.scale, index))
    return loss, K.cross_entropy_delta(e, total, buf.y, buf.g_scale, index, out=e)


def _squared_error(out: np.ndarray, buf: _Buffers) -> tuple[float, np.ndarray]:
    """The batch's squared error and δ = ∂C/∂out, by the kernels, into ``buf``."""
    diff = np.subtract(out, buf.y, out=buf.loss)
    loss = float(K.squared_error_value(diff, buf.scale))
    return loss, K.squared_error_delta(diff, buf.g_scale, out=diff)


def _binary_cross_entropy_with_logits(out: np.ndarray, buf: _Buffers) -> tuple[float, np.ndarray]:
    """The batch's binary cross-entropy of σ(out) and δ = ∂C/∂out, by the kernels."""
    loss = float(K.binary_cross_entropy_with_logits_value(out, buf.y, buf.scale))
    return loss, K.binary_cross_entropy_with_logits_delta(out, buf.y, buf.g_scale)


# each covered loss: its scale rule and the step's loss
_LOSSES = {
    CrossEntropyLoss: (K.per_row_scale, _cross_entropy),
    MSELoss: (K.per_element_scale, _squared_error),
    BCEWithLogitsLoss: (K.per_element_scale, _binary_cross_entropy_with_logits),
}


def _describe(name: str, module: Module) -> str:
    kind = type(module).__name__
    return f"layer '{name}' ({kind})" if name else f"the model ({kind})"


def _named_modules(module: Module, name: str = "") -> Iterator[tuple[str, Module]]:
    yield name, module
    for child_name, child in module.named_children():
        yield from _named_modules(child, f"{name}.{child_name}" if name else child_name)


def _plan(model: Module) -> tuple[list[_Block], list[tuple[str, int, str]]]:
    """The model's blocks, and where each layer's output lives: ``(name, block, "z" | "a")``
    (block −1: the inputs).  CompileError naming the first layer the step does not cover."""
    for name, module in _named_modules(model):
        if getattr(module, "_forward_hooks", None):
            raise CompileError(f"model has forward hooks on {_describe(name, module)}")
    blocks: list[_Block] = []
    places: list[tuple[str, int, str]] = []
    for name, layer in leaf_layers(model):
        where, kind = _describe(name, layer), type(layer)
        if "forward" in vars(layer):
            raise CompileError(f"{where} has its forward replaced on the instance")
        if kind is Linear:
            if blocks and blocks[-1].linear.out_features != layer.in_features:
                raise CompileError(
                    f"{where} takes {layer.in_features} features but the layer before gives "
                    f"{blocks[-1].linear.out_features}"
                )
            blocks.append(_Block(layer))
        elif kind in _ACTIVATIONS:
            if not blocks or blocks[-1].rule is not None:
                raise CompileError(f"{where} does not follow a Linear; the step takes {_COVERED}")
            blocks[-1].rule = _ACTIVATIONS[kind]
        elif kind is not Identity:
            raise CompileError(f"{where} has no compiled rule; the step takes {_COVERED}")
        current = "a" if blocks and blocks[-1].rule is not None else "z"
        places.append((name, len(blocks) - 1, current))
    if not blocks:
        raise CompileError(f"the model has no Linear layer; the step takes {_COVERED}")
    return blocks, places


def _check_parameters(model: Module, blocks: list[_Block], optimizer: Optimizer) -> np.dtype:
    """The parameters' dtype; CompileError unless the optimiser owns exactly the model's
    parameters, each used by one layer once (the step writes each gradient, it does not add to
    it) and none frozen (the step computes every gradient, where the engine's backward gives a
    frozen one none)."""
    if not isinstance(optimizer, Optimizer):  # an optimiser of one's own: no flat buffers
        raise CompileError(f"the optimizer ({type(optimizer).__name__}) is no ng.optim.Optimizer")
    seen: dict[int, str] = {}
    for block in blocks:
        for p in (block.linear.weight, block.linear.bias):
            if p is not None and id(p) in seen:
                raise CompileError(
                    f"a parameter of {seen[id(p)]} is used again by another layer (tied "
                    "weights); the compiled step writes each gradient once"
                )
            if p is not None:
                seen[id(p)] = f"Linear({block.linear.in_features} -> {block.linear.out_features})"
            if p is not None and not p.requires_grad:
                raise CompileError(f"a parameter of {seen[id(p)]} is frozen (requires_grad=False)")
    params = model.parameters()
    owned = {id(p) for p in optimizer.params}
    mine = sum(id(p) in owned for p in params)
    if mine != len(params):
        raise CompileError(
            f"parameters not all owned by the optimizer (it updates {mine} of the model's "
            f"{len(params)})"
        )
    if len(owned) != mine:
        raise CompileError("the optimizer also updates parameters outside the model")
    return optimizer.flat_params.dtype  # one buffer, one dtype (re-packed first if need be)


def _check_targets(loss_fn, y: np.ndarray, classes: int) -> None:
    """CompileError unless the compiled step covers ``y``.  Targets the loss itself refuses
    raise the loss's own error (:meth:`check_targets`, the one place of that rule), so
    ``compile=True`` and the engine say the same about bad targets."""
    kind = type(loss_fn)
    if getattr(loss_fn, "weight", None) is not None:
        raise CompileError(f"the loss has class weights ({loss_fn!r})")
    if kind not in _LOSSES:
        raise CompileError(
            f"the loss {kind.__name__} has no compiled rule (CrossEntropyLoss, BCEWithLogitsLoss "
            "and MSELoss do)"
        )
    if getattr(loss_fn, "pos_weight", None) is not None:
        raise CompileError(f"the loss has a pos_weight ({loss_fn!r})")
    loss_fn.check_targets(y, classes)
    if kind is CrossEntropyLoss and (y.ndim != 1 or y.dtype.kind not in "iub"):
        raise CompileError(
            f"the targets are probability rows of shape {y.shape}; the compiled step takes "
            "integer labels of shape (N,)"
        )
    if kind is not CrossEntropyLoss and (y.ndim != 2 or y.dtype.kind != "f"):
        raise CompileError(
            f"the targets are {y.dtype} of shape {y.shape}; the compiled step takes floats of "
            f"shape (N, {classes}) for {kind.__name__}"
        )
