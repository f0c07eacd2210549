"""The training loop: ``fit``, ``evaluate``, ``predict`` and the per-epoch ``History``.

Each epoch reshuffles the rows from the seed, walks them in mini-batches and, per batch, runs
``zero_grad → forward → loss → backward → step``: the gradient of a step is the batch mean (with
the default ``reduction="mean"``).  Same seed, same History, bit for bit; layers with randomness
of their own (Dropout) draw from their own ``seed``, or from the global generator that
:func:`nudgenet.manual_seed` resets.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from functools import partial

import numpy as np

from .backend import SeedLike, generator
from .callbacks import Callback
from .compiled import CompiledMLP, blas_threads_for
from .diagnostics import GradientDiagnostics
from .errors import CompileError, ShapeError
from .history import History
from .metrics import Metric, resolve
from .nn.layers import trace
from .nn.module import Module
from .optim import Optimizer
from .progress import EpochReporter
from .tensor import Tensor, no_grad


def _as_array(value) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def prepare_data(model: Module, x, y=None, what: str = "x"):
    """``x`` (and ``y``) as arrays ready for ``model``: floats in the model's dtype (cast once,
    not per batch), matching lengths."""
    x = _as_array(x)
    dtype = model.dtype or x.dtype
    if x.ndim == 0 or len(x) == 0:
        raise ShapeError(
            f"{what}: expected a non-empty array of rows (N, features), got shape {x.shape}"
        )
    if x.dtype != dtype:
        x = x.astype(dtype)
    if y is None:
        return x
    y = _as_array(y)
    if y.ndim == 0 or len(y) != len(x):
        raise ShapeError(
            f"{what}: inputs have {len(x)} rows but targets have "
            f"{len(y) if y.ndim else 'no'} rows (shape {y.shape})"
        )
    if y.dtype.kind == "f" and y.dtype != dtype:
        y = y.astype(dtype)
    return x, y


def _check_optimizer(model: Module, optimizer: Optimizer) -> None:
    """The optimiser must update the model's parameters: ValueError when it updates none of them
    (built for another model: training would change nothing), a UserWarning naming those it
    leaves out when it updates only some (PyTorch's way to freeze parameters, or a mistake)."""
    params = list(model.named_parameters())
    owned = {id(p) for p in getattr(optimizer, "params", ())}
    left_out = [name for name, p in params if id(p) not in owned]
    if params and len(left_out) == len(params):
        raise ValueError(
            f"fit: the optimizer updates none of the model's {len(params)} parameters (was it "
            "built for another model?); build it from this one's, e.g. "
            "ng.optim.SGD(model.parameters(), lr=0.05)"
        )
    if left_out:
        shown = ", ".join(left_out[:4]) + (", ..." if len(left_out) > 4 else "")
        warnings.warn(
            f"fit: the optimizer updates {len(params) - len(left_out)} of the model's "
            f"{len(params)} parameters; {shown} stay fixed (build it from model.parameters() "
            "to train them all)",
            UserWarning,
            stacklevel=3,  # fit's caller
        )


def _split_validation(x, y, validation_data, validation_split: float):
    if validation_data is not None and validation_split:
        raise ValueError("fit: pass validation_data or validation_split, not both")
    if validation_data is not None:
        return x, y, validation_data
    if not validation_split:
        return x, y, None
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
    n_val = validation_rows(len(x), validation_split)
    return x[:-n_val], y[:-n_val], (x[-n_val:], y[-n_val:])


def validation_rows(n: int, split: float, option: str = "fit: validation_split") -> int:
    """How many of ``n`` training rows a validation split of ``split`` (in (0, 1)) holds back:
    ``round(n · split)``, the last rows (``fit``'s ``validation_split``).  ValueError, naming
    ``option`` and whether the training or the validation set is left empty, when that is not at
    least one row and less than ``n``."""
    held = round(n * split)
    if not 0 < held < n:
        raise ValueError(
            f"{option} {split} of {n} training rows leaves no "
            f"{'validation' if held == 0 else 'training'} rows; use 0 (none) or another fraction"
        )
    return held


def _engine_step(model: Module, loss_fn, optimizer: Optimizer, x, y, rows, kept=None):
    """One batch through the general engine: gradients into ``.grad``; ``(outputs, targets,
    loss)``.  Given a dict ``kept``, the forward runs through :func:`~nudgenet.nn.layers.trace`
    and ``kept[name]`` gets each leaf layer's output array (by place: a layer object used twice
    has two)."""
    xb, yb = x[rows], y[rows]
    optimizer.zero_grad()
    if kept is None:
        out = model(xb)
    else:
        out, outputs = trace(model, xb)
        kept.update((name, output.data) for name, output in outputs.items())
    loss = loss_fn(out, yb)
    loss.backward()
    return out.data, yb, float(loss.data)


def _train_step(
    model: Module, loss_fn, optimizer: Optimizer, x, y, callbacks: list[Callback], compile="auto"
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
            compiled = CompiledMLP.compile(model, loss_fn, optimizer, x, y)
        except CompileError as error:
            if compile is True:
                raise CompileError(f"fit(compile=True): {error}") from None
    if compiled:
        step, outputs = compiled.train_step, compiled.outputs
    else:
        outputs = {}
        step = partial(_engine_step, model, loss_fn, optimizer, kept=outputs if wanting else None)
    for cb in wanting:
        cb.outputs = outputs
    return step


def _stop_reason(epoch: int, loss: float, callbacks: list[Callback]) -> str | None:
    """Why training stops after ``epoch``, or None: ``"diverged"`` when the training loss is not
    finite (warned, for users who read warnings), else the ``stop_reason`` of the first callback
    that set ``stop_training``."""
    if not math.isfinite(loss):
        warnings.warn(
            f"fit: the training loss became {loss} in epoch {epoch + 1}; "
            "stopping. Lower the learning rate or check the data for NaN/inf.",
            RuntimeWarning,
            stacklevel=3,  # fit's caller
        )
        return "diverged"
    return next((cb.stop_reason for cb in callbacks if cb.stop_training), None)


def fit(
    model: Module,
    loss_fn,
    optimizer: Optimizer,
    x,
    y,
    epochs: int = 10,
    batch_size: int = 32,
    validation_data: tuple | None = None,
    validation_split: float = 0.0,
    shuffle: bool = True,
    seed: SeedLike = None,
    drop_last: bool = False,
    metrics: Sequence[str] | None = None,
    callbacks: Sequence[Callback] | None = None,
    verbose: int = 1,
    diagnostics: bool = False,
    compile: bool | str = "auto",
) -> History:
    """Train ``model`` on ``(x, y)`` with mini-batch gradient descent; returns the History.

    ``validation_split`` holds out the last fraction of the rows (before shuffling), as Keras
    does.  The last partial batch is kept unless ``drop_last``.  ``verbose``: 0 silent, 1 a
    progress bar on a terminal (a line per epoch otherwise), 2 a line per epoch.
    ``diagnostics=True`` runs a :class:`~nudgenet.diagnostics.GradientDiagnostics` callback
    before the others (per-layer gradient norms and dead ReLU units in each epoch's logs; opt-in
    because it costs a measurable share of an epoch, see docs/performance.md).  Callbacks get
    ``model``, ``optimizer`` and ``history`` set and Keras's hooks with ``logs``
    (:mod:`nudgenet.callbacks`); an epoch's logs go to the History and the progress line after
    the callbacks ran.  Training stops early when the training loss is not finite (with a
    RuntimeWarning) or a callback sets ``stop_training``; ``history.stop_reason`` says which.
    ``compile``: ``"auto"`` runs the compiled step (:mod:`nudgenet.compiled`, the same numbers
    bit for bit) when it covers the model, loss and targets, else the engine; ``True`` requires
    it (:class:`~nudgenet.errors.CompileError` names why not); ``False`` always runs the engine.
    An ``optimizer`` that updates none of the model's parameters is a ValueError; one that
    updates only some, a UserWarning naming the others (they stay fixed: freezing).
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(
            f"fit: expected epochs >= 0 and batch_size >= 1, got {epochs} and {batch_size}"
        )
    _check_optimizer(model, optimizer)
    x, y = prepare_data(model, x, y)
    x, y, validation = _split_validation(x, y, validation_data, validation_split)
    if validation is not None:
        validation = prepare_data(model, *validation, what="validation_data")
    metric_fns = resolve(metrics)
    first = [GradientDiagnostics()] if diagnostics else []  # before the others: they see its logs
    callbacks = first + list(callbacks or ())
    rng = generator(seed)
    was_training = model.training
    n = len(x)
    steps = n // batch_size if drop_last else math.ceil(n / batch_size)
    if steps == 0:
        raise ValueError(f"fit: drop_last with batch_size={batch_size} > {n} rows leaves no batch")
    reporter = EpochReporter(verbose, epochs, steps)
    history = History()
    for cb in callbacks:
        cb.model, cb.optimizer, cb.history = model, optimizer, history
        cb.on_train_begin({})

    train_step = _train_step(model, loss_fn, optimizer, x, y, callbacks, compile)
    update = optimizer.step
    # the epoch loss: the mean per row for reduction="mean", the total for "sum" (as evaluate)
    per_row = getattr(loss_fn, "reduction", "mean") == "mean"
    # per batch beyond the step and the loss sum: metrics, callbacks, a progress bar (if any)
    per_batch = bool(metric_fns or callbacks or reporter.bars)
    logs = {}  # the last epoch's, for on_train_end
    try:
        with blas_threads_for(model, batch_size):
            for epoch in range(epochs):
                for cb in callbacks:
                    cb.on_epoch_begin(epoch, {})
                model.train()
                started = time.perf_counter()
                order = rng.permutation(n) if shuffle else np.arange(n)
                totals = {name: [0.0, 0] for name in metric_fns}
                loss_sum, seen = 0.0, 0
                reporter.begin_epoch(epoch)
                for step, start in enumerate(range(0, steps * batch_size, batch_size)):
                    rows = order[start : start + batch_size]
                    m = len(rows)
                    if callbacks:
                        batch_logs = {"size": m}
                        for cb in callbacks:
                            cb.on_train_batch_begin(step, batch_logs)
                    out, yb, batch_loss = train_step(x, y, rows)
                    update()
                    seen += m
                    loss_sum += batch_loss * m if per_row else batch_loss
                    if per_batch:
                        for name, metric in metric_fns.items():
                            total, count = metric.totals(out, yb, loss_fn)
                            totals[name][0] += total
                            totals[name][1] += count
                        reporter.step(loss_sum / seen if per_row else loss_sum)
                        batch_logs = {"size": m, "loss": batch_loss}
                        for cb in callbacks:
                            cb.on_train_batch_end(step, batch_logs)
                logs = {"loss": loss_sum / seen if per_row else loss_sum}
                logs.update(
                    {name: metric_fns[name].finish(t / c) for name, (t, c) in totals.items()}
                )
                if validation is not None:
                    scores = evaluate(model, loss_fn, *validation, metrics=list(metric_fns))
                    logs.update({f"val_{name}": value for name, value in scores.items()})
                logs["lr"] = optimizer.lr
                logs["seconds"] = time.perf_counter() - started
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs)
                history.append(epoch, logs)
                reporter.end_epoch(epoch, logs)
                reason = _stop_reason(epoch, logs["loss"], callbacks)
                if reason is not None:
                    history.stop_reason, history.stopped_epoch = reason, epoch
                    break
        for cb in callbacks:
            cb.on_train_end(logs)
    finally:
        model.train(was_training)
    return history


def predict(model: Module, x, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs for every row of ``x``, in eval mode without recording a graph."""
    x = prepare_data(model, x)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            parts = [model(x[i : i + batch_size]).data for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def evaluate(
    model: Module, loss_fn, x, y, metrics: Sequence[str] | None = None, batch_size: int = 1024
) -> dict[str, float]:
    """``{"loss": ..., <metric>: ...}`` over all of ``(x, y)``."""
    x, y = prepare_data(model, x, y)
    outputs = predict(model, x, batch_size)
    metric_fns: dict[str, Metric] = resolve(metrics)
    with no_grad():
        scores = {"loss": float(loss_fn(Tensor(outputs), y).data)}
    scores.update({name: fn(outputs, y, loss_fn) for name, fn in metric_fns.items()})
    return scores
