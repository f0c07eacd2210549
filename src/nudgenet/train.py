"""The training loop: ``fit`` and the per-epoch ``History`` (``evaluate`` and ``predict``:
:mod:`nudgenet.evaluation`).

Each epoch reshuffles the rows from the seed, walks them in mini-batches and, per batch, runs
``zero_grad → forward → loss → backward → step``: the gradient of a step is the batch mean (with
the default ``reduction="mean"``).  Same seed, same History, bit for bit; layers with randomness
of their own (Dropout) draw from their own ``seed``, or from the global generator that
:func:`nudgenet.manual_seed` resets.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from collections.abc import Sequence

import numpy as np

from .backend import SeedLike, generator
from .blas_threads import blas_threads_for
from .callbacks import Callback, check_signatures
from .checkpoint import Checkpoint, check_checkpoint
from .checkpoint_match import fingerprint
from .diagnostics import GradientDiagnostics
from .distributed.launch import warn_copies
from .distributed.parallel import DataParallel, fit_data_parallel, in_progress, wanted
from .divergence import non_finite, warn_non_finite_rows
from .errors import DivergenceWarning, caller_stacklevel
from .evaluation import predict, prepare_data, scores_of, targets_for
from .fit_arguments import check_callbacks, check_kinds
from .functional.losses import check_weights
from .history import History
from .holdout import VALIDATION_SPOILT, split_validation
from .metrics import resolve
from .nn.losses import is_mean_over_rows, loss_identity
from .nn.module import Module
from .nn.weights import row_weights
from .optim import Optimizer
from .progress import EpochReporter, verbose_level
from .run_state import Position, Run, fit_arrays, generators
from .step import choose_step, update_step


def _check_optimizer(model: Module, optimizer: Optimizer) -> None:
    """The optimiser must update the model's parameters: ValueError when it updates none of them
    (built for another model: training would change nothing), a UserWarning naming those it
    leaves out when it updates only some (PyTorch's way to freeze parameters, or a mistake),
    unless those are frozen (``requires_grad=False``: left out on purpose); a UserWarning too
    where every parameter is frozen."""
    params = list(model.named_parameters())
    owned = {id(p) for p in getattr(optimizer, "params", ())}
    updated = sum(id(p) in owned for _, p in params)
    left_out = [name for name, p in params if id(p) not in owned and p.requires_grad]
    if params and not updated:
        raise ValueError(
            f"fit: the optimizer updates none of the model's {len(params)} parameters (was it "
            "built for another model?); build it from this one's, e.g. "
            "ng.optim.SGD(model.parameters(), lr=0.05)"
        )
    if params and not any(p.requires_grad for _, p in params):
        warnings.warn(
            f"fit: every one of the model's {len(params)} parameters is frozen "
            "(requires_grad=False), so training changes none (as Keras warns of a model "
            "without trainable weights); set requires_grad = True on those to train",
            UserWarning,
            stacklevel=caller_stacklevel(),
        )
    if left_out:
        shown = ", ".join(left_out[:4]) + (", ..." if len(left_out) > 4 else "")
        warnings.warn(
            f"fit: the optimizer updates {updated} of the model's "
            f"{len(params)} parameters; {shown} stay fixed (build it from model.parameters() "
            "to train them all)",
            UserWarning,
            stacklevel=caller_stacklevel(),
        )


def _takes_sample_weight(loss_fn) -> bool:
    try:
        return "sample_weight" in inspect.signature(loss_fn).parameters
    except (TypeError, ValueError):  # no signature to read
        return False


def _stop_reason(
    epoch: int, loss: float, callbacks: list[Callback], model: Module, detail: str | None
) -> str | None:
    """Why training stops after ``epoch``, or None: ``"diverged"`` when the training loss is not
    finite (warned with ``detail``, the line saying where, unless ``reports_divergence``), else
    the ``stop_reason`` of the first callback that set its ``stop_training``, else
    ``"stopped"`` when a callback set Keras's ``self.model.stop_training``."""
    if not math.isfinite(loss):
        if not any(getattr(cb, "reports_divergence", False) for cb in callbacks):
            warnings.warn(
                f"fit: {detail or f'the training loss became {loss} in epoch {epoch + 1}'}; "
                "stopping. Lower the learning rate or check the data for NaN/inf.",
                DivergenceWarning,
                stacklevel=caller_stacklevel(),
            )
        return "diverged"
    reason = next((cb.stop_reason for cb in callbacks if cb.stop_training), None)
    return reason or ("stopped" if model.stop_training else None)


def _measuring(callbacks: list):
    """What to call before the gradient is clipped: the :class:`GradientDiagnostics` among
    ``callbacks`` measure it as backprop computed it; None without them."""
    diagnostics = [cb for cb in callbacks if isinstance(cb, GradientDiagnostics)]
    if not diagnostics:
        return None

    def measure() -> None:
        for cb in diagnostics:
            cb.measure_gradients()

    return measure


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
    verbose: int | str = 1,
    diagnostics: bool = False,
    compile: bool | str = "auto",
    clip_grad_norm: float | None = None,
    validation_split_mode: str = "last",
    class_weight: dict | str | None = None,
    sample_weight=None,
    checkpoint: Checkpoint | None = None,
    distributed: bool | DataParallel = False,
) -> History:
    """Train ``model`` on ``(x, y)`` with mini-batch gradient descent; returns the History.

    ``validation_split`` holds out the last fraction of the rows (before shuffling), as Keras
    does; ``validation_split_mode="shuffle"`` draws them at random from ``seed`` instead, and
    ``"stratify"`` keeps each class's share in both parts.  A warning says when the validation
    rows hold classes the training rows lack or vice versa (class-sorted rows and ``"last"``).
    The last partial batch is kept unless ``drop_last``.  ``verbose``: 0 silent, 1 a
    progress bar on a terminal (a line per epoch otherwise), 2 a line per epoch, ``"auto"``
    (Keras's default) 1.
    ``diagnostics=True`` runs a :class:`~nudgenet.diagnostics.GradientDiagnostics` callback
    before the others (per-layer gradient norms and dead ReLU units in each epoch's logs; opt-in
    because it costs a measurable share of an epoch, see docs/performance.md).  Callbacks get
    ``model``, ``optimizer`` and ``history`` set and Keras's hooks with ``logs``
    (:mod:`nudgenet.callbacks`); an epoch's logs go to the History and the progress line after
    the callbacks ran.  Training stops early when the training loss is not finite (with a
    DivergenceWarning) or a callback sets ``stop_training``; ``history.stop_reason`` says which.
    ``compile``: ``"auto"`` runs the compiled step (:mod:`nudgenet.compiled`, the same numbers
    bit for bit) when it covers the model, loss and targets, else the engine; ``True`` requires
    it (:class:`~nudgenet.errors.CompileError` names why not); ``False`` always runs the engine.
    ``clip_grad_norm``: clip the batch gradient's total 2-norm to this before every step
    (:func:`~nudgenet.nn.utils.clip_grad_norm_` on the optimiser's flat gradients; either backend).
    Targets go through ``loss_fn.check_targets`` once (e.g. labels ``0.0, 1.0`` become integer
    labels).  ``class_weight`` (a dict ``{class: weight}`` or ``"balanced"``) and
    ``sample_weight`` (one per row) weight the training rows, multiplied where both are given
    (:mod:`nudgenet.nn.weights`); each batch's loss is then the weighted mean Σ wₙℓₙ / Σ wₙ
    (not Keras's Σ wₙℓₙ / N: see :mod:`nudgenet.functional.losses`), the epoch's ``loss`` too,
    on the engine (the compiled step takes no weights).  Metrics and the validation loss stay
    unweighted.
    ``checkpoint``: a :class:`~nudgenet.Checkpoint` saves the run's state as it goes and
    resumes from its folder's newest checkpoint, bit for bit (:mod:`nudgenet.checkpoint`, which
    says the exceptions: Dropout on several ranks, and resuming on another number of ranks).
    A batch whose loss is not finite stops training before its update, the History's
    ``stop_message`` naming the epoch, the step and the cause
    (:func:`~nudgenet.divergence.non_finite`).
    An ``optimizer`` that updates none of the model's parameters is a ValueError; one that
    updates only some, a UserWarning naming the others (they stay fixed: freezing).  One of
    one's own, not an ``ng.optim.Optimizer``, needs ``params``, ``lr``, ``zero_grad()`` and
    ``step()`` and trains on the engine (``compile=True``, a ``checkpoint`` and
    ``distributed=True`` refuse it); arguments of the wrong kind are one-line TypeErrors
    (:mod:`nudgenet.fit_arguments`).  A ``class_weight`` of a class no training row has is an
    :class:`~nudgenet.AbsentClassWeightWarning`.
    ``distributed=True`` (under ``mpiexec -n N``, with a ``seed``): data-parallel over MPI, each
    rank training on its share of every batch, the update and the History the same as one
    process's on the whole batch (:mod:`nudgenet.distributed`; ``DataParallel(comm)``: on the
    ranks of ``comm``); without a launcher, a warning and plain ``fit``; under one,
    ``distributed=False`` with a ``checkpoint`` warns.
    """
    if not in_progress(distributed):  # the caller's True, False or DataParallel
        if wanted(distributed):  # run again as this process's rank of MPI's world (or comm's)
            return fit_data_parallel(fit, locals())
        check_checkpoint(checkpoint)
        warn_copies(checkpoint)  # under mpiexec, distributed=True forgotten?
    parallel = distributed or None  # the DataParallel fit_data_parallel runs this fit in
    validation_split = 0.0 if validation_split is None else validation_split  # Keras's None: 0
    check_kinds(loss_fn, optimizer, epochs, batch_size, callbacks, validation_data, checkpoint,
                parallel, validation_split)  # fmt: skip
    verbose = verbose_level(verbose)
    if epochs < 0 or batch_size < 1:
        raise ValueError(
            f"fit: expected epochs >= 0 and batch_size >= 1, got {epochs} and {batch_size}"
        )
    _check_optimizer(model, optimizer)
    x, y = prepare_data(model, x, y)
    y = targets_for(model, loss_fn, x, y)
    sample_weight = check_weights("fit", "sample_weight", sample_weight, len(y), np.float64)
    rng = generator(seed)  # the validation rows of "shuffle"/"stratify" are its first draw
    task = getattr(loss_fn, "task", None)
    x, y, sample_weight, validation = split_validation(
        x, y, sample_weight, validation_data, validation_split, validation_split_mode, rng, task
    )
    if validation is not None:
        validation = prepare_data(model, *validation, what="validation_data")
        validation = (validation[0], targets_for(model, loss_fn, *validation))
    if validation_data is not None:  # (validation_split's rows: split_validation warns)
        warn_non_finite_rows(validation[0], "fit", "validation row", "validation_data",
                             VALIDATION_SPOILT)  # fmt: skip
    weights = row_weights("fit", loss_fn, y, class_weight, sample_weight)
    if weights is not None and not _takes_sample_weight(loss_fn):
        raise TypeError(
            f"fit: class_weight and sample_weight need a loss that takes sample_weight= (every "
            f"nudgenet loss but DifferentialLoss does), got {loss_fn!r}"
        )
    metric_fns = resolve(metrics, loss_fn)
    first = [GradientDiagnostics()] if diagnostics else []  # before the others: they see its logs
    callbacks = first + list(callbacks or ())
    check_callbacks(callbacks)
    # optimizer.step, clipping first if asked (the diagnostics measure the gradient before that)
    update = update_step(optimizer, clip_grad_norm, before_clip=_measuring(callbacks))
    was_training = model.training
    n = len(x)
    steps = n // batch_size if drop_last else math.ceil(n / batch_size)
    if steps == 0:
        raise ValueError(f"fit: drop_last with batch_size={batch_size} > {n} rows leaves no batch")
    reporter, history = EpochReporter(verbose, epochs, steps), History()
    model.stop_training = False  # Keras's flag: a callback may set self.model.stop_training
    for cb in callbacks:
        check_signatures(cb)
        cb.model, cb.optimizer, cb.history = model, optimizer, history
        cb.checkpointed = checkpoint is not None
    train_step = choose_step(model, loss_fn, optimizer, x, y, callbacks, compile, weights)
    run, at = Run(model, optimizer, callbacks, history, generators(model, rng)), Position()
    data = fit_arrays(x, y, validation, weights)
    arrays = tuple(data.values())
    settings = {"batch_size": batch_size, "drop_last": drop_last, "shuffle": shuffle,
                "loss": loss_identity(loss_fn), "metrics": list(metric_fns),
                "clip_grad_norm": clip_grad_norm}  # fmt: skip
    holds = checkpoint is not None and not (parallel and parallel.rank)  # rank 0's folder
    run_lr = checkpoint.run_lr(optimizer) if holds else None  # the rate the run started with
    try:
        if parallel:  # the same run on every rank?  Rank 0 alone resumes and writes checkpoints
            parallel.check(run, loss_fn, settings, data)  # (before its folder is touched)
        if holds:  # the folder judged, held, its checkpoint read and compared before a callback
            checkpoint.check_writable(epochs)  # starts (a CSV log starts afresh then)
            found = checkpoint.start(fingerprint(run, arrays, seed, settings, run_lr))
        begin_logs: dict = {}  # one dict per hook call: what a callback adds, the next one sees
        for cb in callbacks:
            cb.on_train_begin(begin_logs)
        if holds:
            at = checkpoint.resume(run, found, epochs, steps, verbose)
        if parallel:  # rank 0's state everywhere; each step on this rank's rows, then the sum
            at = parallel.start(run, at)
            train_step = parallel.sharded(train_step, weights)
            update = parallel.updating(
                optimizer, clip_grad_norm, callbacks, _measuring(callbacks)
            )
        every_steps = checkpoint.every_steps if checkpoint is not None else None
        # the epoch loss: the mean per row for reduction="mean", the total for "sum" (as evaluate)
        mean_loss = is_mean_over_rows(loss_fn)
        # per batch beyond the step and the loss sum: metrics, callbacks, a progress bar (if any)
        per_batch = bool(metric_fns or callbacks or reporter.bars)
        logs = {k: v[-1] for k, v in history.history.items()}  # the last epoch's, on_train_end
        with blas_threads_for(model, batch_size):
            for epoch in range(at.epoch if history.stop_reason == "completed" else epochs, epochs):
                if at.step == 0:  # else resumed mid-epoch: its hooks ran, its order is drawn
                    begin_logs = {}
                    for cb in callbacks:
                        cb.on_epoch_begin(epoch, begin_logs)
                    order = rng.permutation(n) if shuffle else np.arange(n)
                    at = Position(epoch, 0, order, parts={name: [] for name in metric_fns})
                if parallel:  # the settings of this epoch's steps alike on every rank
                    parallel.check_optimizer(model, optimizer, epoch, ended=False)
                model.train()
                started = time.perf_counter()
                # Σ of the batch losses times their rows (weights), and each batch's statistics
                order, loss_sum, seen = at.order, at.loss_sum, at.seen
                parts, part_steps = at.parts, at.steps  # (the step each part is of)
                reporter.begin_epoch(epoch)
                for step in range(at.step, steps):
                    rows = order[step * batch_size : (step + 1) * batch_size]
                    m = len(rows)
                    if callbacks:
                        batch_logs = {"size": m}
                        for cb in callbacks:
                            cb.on_train_batch_begin(step, batch_logs)
                    out, yb, batch_loss = train_step(x, y, rows)
                    finite = math.isfinite(batch_loss)
                    if finite:  # else stop now, the parameters the last finite ones
                        update()
                    else:
                        history.stop_message = non_finite(model, epoch, step, batch_loss, x[rows])
                    size = m if weights is None else weights[rows].sum()
                    seen += size
                    loss_sum += batch_loss * size if mean_loss else batch_loss
                    if per_batch:
                        if len(yb) and metric_fns:
                            part_steps.append(step)  # (the step each batch's statistics are of)
                        for name, metric in metric_fns.items() if len(yb) else ():
                            parts[name].append(metric.part(out, yb, loss_fn))
                        reporter.step(loss_sum / (seen or 1) if mean_loss else loss_sum)
                        batch_logs = {"size": m, "loss": batch_loss}
                        for cb in callbacks:
                            cb.on_train_batch_end(step, batch_logs)
                    if not finite:
                        break
                    if every_steps and (epoch * steps + step + 1) % every_steps == 0:
                        every = (parallel.gather(parts, part_steps) if parallel
                                 else (parts, part_steps))  # all ranks' # fmt: skip
                        if parallel:  # Keras's stop flag set this epoch on any rank: in the save
                            model.stop_training = parallel.any_rank(model.stop_training)
                        at = Position(epoch, step + 1, order, loss_sum, seen, *every)
                        checkpoint.save(run.capture(at), epoch, step + 1)
                logs = {"loss": loss_sum / seen if mean_loss else loss_sum}
                if parallel:  # every rank's statistics; the validation rows split among them
                    parts, _ = parallel.gather(parts, part_steps)
                logs.update({name: metric_fns[name].finish(p) for name, p in parts.items()})
                if validation is not None:
                    scores = (
                        parallel.evaluate(predict, model, loss_fn, *validation, metric_fns)
                        if parallel
                        else scores_of(model, loss_fn, *validation, metric_fns)
                    )
                    logs.update({f"val_{name}": value for name, value in scores.items()})
                logs.update(lr=optimizer.lr, seconds=time.perf_counter() - started)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs)
                if parallel:  # the optimiser's settings alike on every rank; rank 0's logs
                    parallel.check_optimizer(model, optimizer, epoch, ended=True)
                    logs = parallel.epoch_logs(logs)
                history.append(epoch, logs)
                reporter.end_epoch(epoch, logs)
                reason = _stop_reason(epoch, logs["loss"], callbacks, model, history.stop_message)
                if parallel:
                    reason = parallel.stopping(reason)
                if reason is not None:
                    history.stop_reason, history.stopped_epoch = reason, epoch
                at = Position(epoch + 1)
                last = reason is not None or epoch + 1 == epochs
                if checkpoint and reason != "diverged" and (last or checkpoint.due(epoch + 1)):
                    checkpoint.save(run.capture(at), epoch + 1, 0)
                if reason is not None:
                    break
        if parallel:
            parallel.trained()
        for cb in callbacks:
            cb.on_train_end(logs)
    finally:
        model.train(was_training)
        if checkpoint is not None:
            checkpoint.release()
        if holds:
            checkpoint.left(optimizer, run_lr)
    return history
