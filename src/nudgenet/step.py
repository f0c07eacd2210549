"""The step ``fit`` runs per batch, and how it is chosen: the compiled step or the engine's.

:func:`choose_step` returns a function ``step(x, y, rows) -> (outputs, targets, loss)`` that
leaves the batch's gradients in every parameter's ``.grad`` (the views of the optimiser's
``flat_grads``): :class:`~nudgenet.compiled.CompiledMLP` where it covers the model, loss and
targets (``compile="auto"``, or required with ``True``), else the general engine (record the
graph, ``backward()``).  Both compute the same numbers, bit for bit.  :func:`update_step` is the
optimiser's step, after gradient clipping when asked.
"""

from __future__ import annotations

import math
from functools import partial
from numbers import Real

from .callbacks import Callback
from .compiled import CompiledMLP
from .errors import CompileError
from .grad_mode import enable_grad, no_grad
from .nn.differential import loss_inputs, wants_inputs
from .nn.hooks import RemovableHandle
from .nn.layers import trace
from .nn.module import Module
from .nn.utils import clip_grad_norm_
from .optim import Optimizer
from .tensor import Tensor

EVALUATION_BATCH = 1024  # rows per batch of predict and evaluate (per graph of a DifferentialLoss)


def _engine_step(model: Module, loss_fn, optimizer: Optimizer, x, y, rows, kept=None,
                 weights=None):  # fmt: skip
    """One batch through the general engine: gradients into ``.grad``; ``(outputs, targets,
    loss)``.  Given a dict ``kept``, the forward runs through :func:`~nudgenet.nn.layers.trace`
    and ``kept[name]`` gets each leaf layer's output array (by place: a layer object used twice
    has two).  Given row ``weights``, the loss is their weighted mean over the batch.  A loss
    that ``wants_inputs`` (:class:`~nudgenet.DifferentialLoss`) gets the batch as ``inputs=``
    (:func:`~nudgenet.nn.differential.loss_inputs`), and the targets returned (for the metrics)
    are the columns the outputs predict.  The graph is recorded also where ``fit`` is called
    under ``no_grad()`` (as the compiled step computes its gradients anyway)."""
    xb, keywords = loss_inputs(loss_fn, x[rows])
    yb = y[rows]
    optimizer.zero_grad()
    with enable_grad():
        if kept is None:
            out = model(xb)
        else:
            out, outputs = trace(model, xb)
            kept.update((name, output.data) for name, output in outputs.items())
        if keywords:  # (fit refuses row weights for a loss without sample_weight=)
            loss = loss_fn(out, yb, **keywords)
            yb = yb[:, : out.shape[-1]]
        elif weights is None:
            loss = loss_fn(out, yb)
        else:
            loss = loss_fn(out, yb, sample_weight=weights[rows])
    if loss.requires_grad:  # (else every parameter is frozen: no gradient, as compiled)
        loss.backward()
    return out.data, yb, float(loss.data)


def whole_loss(model: Module, loss_fn, x, y, outputs, batch_size: int, sample_weight=None):
    """``(loss, targets)`` over all rows of ``(x, y)``, whose predictions are ``outputs``: the
    loss as ``loss_fn`` reduces it (weighted by ``sample_weight`` if given) and the targets the
    metrics score.  A loss that ``wants_inputs`` (:class:`~nudgenet.DifferentialLoss`) takes
    its own, in batches of ``batch_size`` rows (it needs the input gradients), and the metrics
    score the value columns; it takes no row weights."""
    if not wants_inputs(loss_fn):
        weights = {} if sample_weight is None else {"sample_weight": sample_weight}
        with no_grad():
            return float(loss_fn(Tensor(outputs), y, **weights).data), y
    if sample_weight is not None:  # as fit refuses them, rather than ignore them
        raise TypeError(
            f"evaluate: sample_weight needs a loss that takes sample_weight=, got {loss_fn!r}"
        )
    return loss_fn.evaluate(model, x, y, batch_size), y[:, : outputs.shape[-1]]


def choose_step(
    model: Module,
    loss_fn,
    optimizer: Optimizer,
    x,
    y,
    callbacks: list[Callback],
    compile="auto",
    weights=None,
):
    """The step ``fit`` runs per batch: the compiled step (:mod:`nudgenet.compiled`) when
    ``compile`` is True (CompileError if it does not cover the model) or ``"auto"`` and it
    covers the model, else the engine's (always, when ``compile`` is False).

    Sets ``outputs`` of each callback that ``wants_outputs`` (no other: ``outputs`` may be a
    callback's own attribute) to the dict the step fills with the batch's layer outputs: the
    compiled step always keeps them (its buffers); the engine keeps every leaf layer's only when
    a callback wants them."""
    if compile != "auto" and not isinstance(compile, bool):
        raise ValueError(f"fit: compile must be 'auto', True or False, got {compile!r}")
    wanting = [cb for cb in callbacks if cb.wants_outputs]
    compiled = None
    if compile is not False:
        try:
            compiled = CompiledMLP.compile(model, loss_fn, optimizer, x, y, weights)
        except CompileError as error:
            if compile is True:
                raise CompileError(f"fit(compile=True): {error}") from None
    outputs = compiled.outputs if compiled else {}
    kept = outputs if wanting else None
    step = partial(_engine_step, model, loss_fn, optimizer, kept=kept, weights=weights)
    if compiled:
        step = _compiled_until_hooked(model, compiled.train_step, step, compile is True)
    for cb in wanting:
        cb.outputs = outputs
    return step


def _compiled_until_hooked(model: Module, compiled_step, engine_step, required: bool):
    """The compiled step until a forward hook is registered on a module of ``model`` during
    training (by a callback, say), which the compiled step could not call; from then on the
    engine's step, which calls it and computes the same numbers (with ``compile=True``: a
    CompileError instead).  Per step this costs one integer comparison."""
    seen, current = RemovableHandle.registered, compiled_step

    def step(x, y, rows):
        nonlocal seen, current
        if RemovableHandle.registered != seen:
            seen = RemovableHandle.registered
            if current is compiled_step and any(m._forward_hooks for m in model.modules()):
                if required:
                    raise CompileError(
                        "fit(compile=True): a forward hook was registered during training; the "
                        "compiled step cannot call it (use compile='auto' or False)"
                    )
                current = engine_step
        return current(x, y, rows)

    return step


def update_step(optimizer: Optimizer, max_norm: float | None, part: slice | None = None,
                before_clip=None):  # fmt: skip
    """``optimizer.step`` (of the flat buffer's ``part`` only, when given), after
    :func:`~nudgenet.nn.utils.clip_grad_norm_` of its gradients (one norm over its whole flat
    buffer) when ``max_norm`` is given, and before that ``before_clip()`` (a callback's look at
    the gradient as backprop computed it: :class:`~nudgenet.diagnostics.GradientDiagnostics`)."""
    update = optimizer.step if part is None else partial(optimizer.step, part)
    if max_norm is None:
        return update
    if isinstance(max_norm, bool) or not (isinstance(max_norm, Real) and 0 < max_norm < math.inf):
        raise ValueError(f"fit: clip_grad_norm must be a number > 0 or None, got {max_norm!r}")

    def step() -> None:
        if before_clip is not None:
            before_clip()
        clip_grad_norm_(optimizer.params, max_norm)
        update()

    return step
