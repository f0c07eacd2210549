"""``fit(..., distributed=True)``: this rank's part of a data-parallel run.

:func:`fit_data_parallel` runs ``fit`` for ``distributed=True`` (under an MPI launcher: this rank of
``MPI.COMM_WORLD``) and for a :class:`DataParallel` made by hand (``DataParallel(comm)``: this rank
of ``comm``) alike: it runs ``fit`` again inside :meth:`DataParallel.running`
(:func:`~.faults.abort_on_error`, files written only on rank 0,
:func:`nudgenet.files.set_may_write`, warnings shown only there), then gives each rank its
parameters back in its own memory; ``fit`` receives the running :class:`DataParallel` in place of
``True`` and calls it at these places: :meth:`~DataParallel.check` (refuse what cannot run, compare
the ranks), :meth:`~DataParallel.start` (rank 0's state on every rank, and the step's reduction:
:mod:`.node` or :mod:`.allreduce`), :meth:`~DataParallel.sharded` (each step on this rank's share of
the batch, then the ranks' gradients summed by that reduction), :meth:`~DataParallel.gather` and
:meth:`~DataParallel.evaluate` (an epoch's metrics and validation scores over all rows, each exactly
once), :meth:`~DataParallel.check_optimizer` (the optimiser's settings and frozen parameters alike
as each epoch begins and after it), :meth:`~DataParallel.epoch_logs` (rank 0's logs on every rank:
one History), :meth:`~DataParallel.stopping` (any rank's stop decision, for all),
:meth:`~DataParallel.any_rank` (Keras's stop flag of every rank, before a mid-epoch checkpoint) and
:meth:`~DataParallel.trained` (every rank done, before ``on_train_end``); fit's optimiser update is
:meth:`~DataParallel.updating`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np

from .. import files
from ..callbacks import described
from ..checkpoint import check_checkpoint
from ..data.sparse_rows import rows_of
from ..errors import DistributedError, caller_stacklevel
from ..functional.losses import check_weights
from ..nn.losses import is_mean_over_rows, loss_identity
from ..nn.normalization import BatchNorm1d
from ..rows import check_batch_size
from ..run_state import FIT_ARRAYS, Position, Run
from ..step import EVALUATION_BATCH, update_step, whole_loss
from .allreduce import GradientAllreduce
from .compared import description, fit_options, parameters_checksum
from .faults import Handshake, abort_on_error, abort_on_uncaught, check_same, rendezvous
from .launch import launcher, world
from .node import NodeReduction, reduction_for
from .shard import bounds, class_weights, share, weight_of
from .threads import blas_threads_per_rank

_last_run: dict = {}  # what the last data-parallel fit of this process measured
ALONE = "none (one process)"  # last_run()'s reduction after distributed=True without a launcher
# a rank's line when it leaves a distributed call with sys.exit(0) (the others would wait for it)
_EXIT_IN_FIT = ("left fit(distributed=True) with sys.exit(0) while the other ranks train; to "
                "stop every rank, set model.stop_training = True in a callback")  # fmt: skip
_EXIT_IN_EVALUATE = ("left evaluate(distributed=True) with sys.exit(0) while the other ranks "
                     "evaluate; every rank must finish it")  # fmt: skip


def last_run() -> dict:
    """The last data-parallel ``fit`` of this process: ``ranks``, ``reduction`` (``"node
    shared memory"`` or ``"Allreduce"``, :mod:`.node`; :data:`ALONE` where no launcher started
    this process, which then trained alone), ``allreduce_calls`` (one per step),
    ``allreduce_seconds`` (in all, waiting for the other ranks included) and ``allreduce_bytes``
    (the gradients and loss summed per step); empty before one ran.  The names are the
    ``Allreduce``'s; through the node's shared memory they count its sums (the bytes then are
    the buffer summed in place, none sent; across machines each part's ``Allreduce`` is in the
    seconds)."""
    return dict(_last_run)


class DataParallel:
    """This process as one rank of ``comm`` in a data-parallel ``fit`` (see the module doc):
    ``fit(distributed=DataParallel(comm))`` runs on the ranks of ``comm`` as
    ``distributed=True`` does on those of ``MPI.COMM_WORLD``, with the same checks, and so does
    ``evaluate(distributed=DataParallel(comm))`` (:meth:`scores`).  Making one, of any
    communicator, makes an exception nothing catches end the whole MPI job
    (:func:`~.faults.abort_on_uncaught`)."""

    def __init__(self, comm):
        self.comm, self.rank, self.size = comm, comm.Get_rank(), comm.Get_size()
        abort_on_uncaught()  # the script's own errors end the job too (world() did already)
        self.options: dict = {}  # fit's options the ranks compare (compared), set per fit
        self.fitting = False  # inside running(): a fit runs in this object on this rank
        self.unclaimed = False  # running() began and its fit has not yet claimed this object
        self.reduction: NodeReduction | GradientAllreduce | None = None
        self.handshake: Handshake | None = None  # fit's checks told to every rank (running())
        self.mean_loss = True  # the loss is a mean over rows (else a sum: shares add as they are)
        self.class_weights = None  # a class-weighted cross-entropy's (a share weighs by them)

    @contextlib.contextmanager
    def running(self, arguments: dict) -> Iterator[None]:
        """Abort every rank on an error here (``sys.exit(0)`` too: the others would wait for
        this rank in the next collective), but for one every rank raised alike in fit's
        argument checks, up to :meth:`check`'s comparison (:class:`~.faults.Handshake`: it
        passes to the caller); wait for every rank to start this fit
        (:func:`~.faults.rendezvous`); files and warnings from rank 0 only; the BLAS threads of
        the ranks on one machine sharing its cores (:mod:`.threads`); then refuse a
        ``checkpoint`` that is not a Checkpoint and a missing seed, and keep fit's options the
        ranks compare (:func:`~.compared.fit_options`)."""
        if self.fitting:  # a fit called with this object inside its own fit (from a callback)
            raise DistributedError(
                "this DataParallel already runs a fit: a fit started inside it (from a callback, "
                "say) needs one of its own (DataParallel(comm), or distributed=True)"
            )
        previous = files.set_may_write(files.may_write() and self.rank == 0)
        self.reduction = None
        self.fitting = self.unclaimed = True
        self.handshake = handshake = Handshake(self.comm)
        try:
            with abort_on_error(self.comm, _EXIT_IN_FIT, passes=handshake.failed_alike):
                rendezvous(self.comm, "fit(distributed=True)")  # every rank is in this fit
                with warnings.catch_warnings():
                    if self.rank:
                        warnings.simplefilter("ignore")
                    with blas_threads_per_rank(self.comm):
                        handshake.open()  # fit's checks, until check() agrees
                        check_checkpoint(arguments["checkpoint"])
                        self.options = fit_options(arguments)
                        if arguments["seed"] is None:
                            raise DistributedError(
                                "fit(distributed=True) needs seed= (an int): every rank draws "
                                "the same row order from it (None would draw from the global "
                                "generator, which is each rank's own)"
                            )
                        yield
        finally:
            self.fitting = self.unclaimed = False
            files.set_may_write(previous)

    def check(self, run: Run, loss_fn, settings: dict, data: dict[str, np.ndarray]) -> None:
        """Refuse a model with BatchNorm1d (the last of fit's checks that an error every rank
        raises alike passes: :meth:`running`); compare the ranks' runs: fit's ``settings`` and
        options (:func:`~.compared.fit_options`), the model (outline, parameters' shapes), the
        optimiser (class and ``hyperparameters()``), the callbacks (class and
        ``training_settings()``), the number of ranks, the shape of each of fit's ``data`` arrays
        by name (:data:`~nudgenet.run_state.FIT_ARRAYS`; "absent" where a rank has none), a
        sample of their rows (:func:`~.compared.sample_checksum`) and the row order
        (DistributedError on rank 0 naming the first difference)."""
        for module in run.model.modules():
            if isinstance(module, BatchNorm1d):
                raise DistributedError(
                    f"fit(distributed=True): the model holds a {type(module).__name__}, which "
                    "normalises by the statistics of each rank's share of the batch, not of the "
                    "global batch; data-parallel training refuses it (LayerNorm normalises each "
                    "row alone)"
                )
        self.mean_loss = is_mean_over_rows(loss_fn)
        self.class_weights = class_weights(loss_fn)
        optimizer = run.optimizer
        self.handshake.agree()  # fit's checks passed here: the ranks' first collective
        check_same(self.comm, {
            **settings,
            **self.options,
            "ranks": self.size,
            **description(run.model, {name: data.get(name) for name in FIT_ARRAYS}),
            "optimizer": [type(optimizer).__name__, optimizer.hyperparameters()],
            "callbacks": described(run.callbacks),
            "row order": str(run.rngs["fit"].bit_generator.state),
        })  # fmt: skip

    def start(self, run: Run, at: Position) -> Position:
        """Give every rank rank 0's parameters, optimiser state, History, callbacks' and
        generators' states (a resumed checkpoint's, if rank 0 resumed one: checkpoints hold
        the metrics' statistics of every rank, gathered when saved); then each rank its
        own stream of every generator but fit's (Dropout masks differ per rank, reproducible
        from the seed and the rank); then the step's reduction (:func:`~.node.reduction_for`).
        The position to start at.  Resuming, rank r continues rank 0's saved stream jumped by r:
        the uninterrupted run's, bit for bit, only where rank r had drawn as many numbers as
        rank 0, so with Dropout where every batch so far split evenly among the ranks."""
        state = self.comm.bcast(run.capture(at) if self.rank == 0 else None, root=0)
        if self.rank:  # mid-epoch, rank 0 alone keeps the statistics of every rank's rows so far
            at = run.restore(state)
            at.parts, at.steps = {name: [] for name in at.parts}, []
        for name, rng in run.rngs.items():
            if name != "fit" and self.rank:  # rank 0 keeps its stream: 1 rank is plain fit
                rng.bit_generator.state = rng.bit_generator.jumped(self.rank).state
        self.reduction = reduction_for(self.comm, run.optimizer, run.callbacks)
        return at

    def sharded(self, train_step, weights: np.ndarray | None):
        """``train_step`` on this rank's share of each global batch, then the gradients and
        losses of every rank summed (the reduction :meth:`start` chose): ``(outputs, targets,
        loss)`` of this rank's rows (outputs None when it has none) and the global batch's
        loss."""
        optimizer, reduce = self.reduction.optimizer, self.reduction

        def step(x, y, rows):
            mine = share(rows, self.rank, self.size)
            if len(mine):  # rows of no weight too: their outputs count in the metrics
                out, yb, loss = train_step(x, y, mine)
            else:  # no rows here this step: still join the step's reduction
                optimizer.zero_grad()
                out, yb, loss = None, y[mine], 0.0
            scale = 1.0
            if self.mean_loss:  # this rank's mean, weighted by what its rows weigh in the batch's
                classes = self.class_weights
                scale = portion(weight_of(classes, y, mine, weights),
                                weight_of(classes, y, rows, weights))  # fmt: skip
            return out, yb, reduce(scale, loss)

        return step

    def updating(self, optimizer, max_norm: float | None, callbacks: list, before_clip=None):
        """fit's update (clipping first to ``max_norm``, if given, after ``before_clip()``:
        :func:`~nudgenet.step.update_step`): with the node's shared memory, the optimiser's step
        on this rank's part of the buffer, then a wait for the node's other parts (:mod:`.node`;
        every rank's ``.grad`` then holds the whole gradient only when clipping or
        ``callbacks`` may read it); with an Allreduce, the whole step."""
        reduction = self.reduction
        if isinstance(reduction, GradientAllreduce):
            return update_step(optimizer, max_norm, before_clip=before_clip)
        reduction.settle = max_norm is not None  # the clipping norm reads every part
        reduction.whole = reduction.settle or bool(callbacks)
        step = update_step(optimizer, max_norm, reduction.part, before_clip)

        def update() -> None:
            step()
            reduction.updated()

        return update

    def gather(self, parts: dict[str, list], steps: list) -> tuple[dict[str, list], list]:
        """Every rank's per-batch metric statistics and the steps they are of, on every rank,
        in step order (within a step, by rank): the order of the batches, whichever rank held
        which statistics (a run resumed mid-epoch, whose rank 0 holds every rank's so far,
        combines them as the uninterrupted run does)."""
        everyone = self.comm.allgather((parts, steps))
        every_step = [s for _, theirs in everyone for s in theirs]
        order = sorted(range(len(every_step)), key=every_step.__getitem__)  # stable: by rank
        merged = {name: [p for theirs, _ in everyone for p in theirs[name]] for name in parts}
        return {name: [ps[i] for i in order] for name, ps in merged.items()}, [
            every_step[i] for i in order
        ]

    def evaluate(
        self, predict, model, loss_fn, x, y, metric_fns: dict, batch_size: int = EVALUATION_BATCH,
        sample_weight=None,
    ) -> dict[str, float]:
        """``evaluate``'s scores over all of ``(x, y)``: each rank predicts its contiguous share
        of the rows once (``predict(model, rows, batch_size)``); its loss weighted by what its
        rows weigh in the loss's mean (:func:`~.shard.weight_of`) and its metrics' statistics
        are combined in rank order, the same on every rank."""
        start, stop = bounds(len(x), self.rank, self.size)
        loss, parts = 0.0, {}
        if stop > start:
            rows = slice(start, stop)
            weights = None if sample_weight is None else sample_weight[rows]
            share = rows_of(x, rows)  # a sparse share stays sparse: predict reads it in batches
            outputs = predict(model, share, batch_size)
            loss, targets = whole_loss(model, loss_fn, share, y[rows], outputs, batch_size,
                                       weights)  # fmt: skip
            if is_mean_over_rows(loss_fn):  # this rank's mean, weighted by what its rows weigh
                classes, every = class_weights(loss_fn), np.arange(len(y))
                loss *= portion(weight_of(classes, y, every[rows], sample_weight),
                                weight_of(classes, y, every, sample_weight))  # fmt: skip
            parts = {name: fn.part(outputs, targets, loss_fn) for name, fn in metric_fns.items()}
        everyone = self.comm.allgather((loss, parts))
        scores = {"loss": float(sum(share_loss for share_loss, _ in everyone))}
        for name, fn in metric_fns.items():
            scores[name] = fn.finish([p[name] for _, p in everyone if name in p])
        return scores

    def scores(self, prepare, predict, model, loss_fn, batch_size: int, sample_weight) -> dict:
        """``evaluate(distributed=...)``: every rank waits for the others to call it too
        (:func:`~.faults.rendezvous`: one rank alone is told so, not left spinning), checks its
        rows (``prepare() -> (x, y, metric_fns)``) and is compared with rank 0 (the model and
        its weights, the loss, the metrics, the rows' shape and a sample of them:
        DistributedError naming the first difference), then :meth:`evaluate`; an error on any
        rank, in any of this, ends every rank, but for one every rank's checks of its rows and
        ``batch_size`` raised alike (:class:`~.faults.Handshake`: it passes to the caller)."""
        handshake = Handshake(self.comm)
        with abort_on_error(self.comm, _EXIT_IN_EVALUATE, passes=handshake.failed_alike):
            rendezvous(self.comm, "evaluate(distributed=True)")
            handshake.open()
            x, y, metric_fns = prepare()
            weights = check_weights("evaluate", "sample_weight", sample_weight, len(x), np.float64)
            check_batch_size(batch_size)
            handshake.agree()
            check_same(self.comm, {
                **description(model, {"x": x, "y": y, "sample_weight": weights}),
                "weights (CRC-32)": parameters_checksum(model),
                "loss": loss_identity(loss_fn),
                "metrics": list(metric_fns),
            }, what="evaluate", must="pass the same model, weights, loss, metrics and rows")
            return self.evaluate(predict, model, loss_fn, x, y, metric_fns, batch_size, weights)

    def trained(self) -> None:
        """Wait until every rank has taken its last step and rank 0 saved its last checkpoint:
        a callback's ``on_train_end`` may then write the parameters a machine's ranks share
        (EarlyStopping's best weights, the same on every rank)."""
        self.comm.Barrier()

    def check_optimizer(self, model, optimizer, epoch: int, ended: bool) -> None:
        """The ``optimizer``'s settings (``hyperparameters()``) and the ``model``'s frozen
        parameters (by name) alike on every rank (:func:`~.faults.check_same`), as epoch ``epoch``
        begins (after ``on_epoch_begin``, before its first step) and once it ``ended``: changed on
        some ranks only, the ranks would update by other settings or other parameters."""
        when = f"after epoch {epoch + 1}" if ended else f"as epoch {epoch + 1} begins"
        frozen = ", ".join(n for n, p in model.named_parameters() if not p.requires_grad) or "none"
        check_same(self.comm, {"optimizer": optimizer.hyperparameters(), "frozen": frozen},
                   what=f"fit (its optimiser's settings and frozen parameters {when})",
                   must="change the optimiser's settings and requires_grad alike: a callback "
                        "that changes them runs on every rank and must change them alike there")

    def epoch_logs(self, logs: dict) -> dict:
        """Rank 0's epoch ``logs`` on every rank (its ``seconds``, ...): one History."""
        return self.comm.bcast(logs, root=0)

    def any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any rank, on every rank."""
        return any(self.comm.allgather(bool(flag)))

    def stopping(self, reason: str | None) -> str | None:
        """Any rank's ``reason`` to stop (the first by rank; None: none), on every rank."""
        return next((r for r in self.comm.allgather(reason) if r is not None), None)


def portion(mass: float, total: float) -> float:
    """A rank's share of some rows: the rows (or their weight) ``mass`` it holds out of
    ``total``; 0 where the rows weigh nothing at all (they count for nothing, as in one
    process)."""
    return mass / total if total else 0.0


def joined(distributed, what: str) -> DataParallel | None:
    """The :class:`DataParallel` a caller gave as ``distributed``; for True this process's rank
    of ``MPI.COMM_WORLD``, or None (with a warning naming ``what``) when no MPI launcher
    started it: then it runs alone, as with ``distributed=False``."""
    if isinstance(distributed, DataParallel):
        return distributed
    if launcher() is None:
        warnings.warn(
            f"{what}: not started by an MPI launcher (mpiexec -n N python ..., srun); running "
            "in this one process",
            RuntimeWarning,
            stacklevel=caller_stacklevel(),
        )
        return None
    return DataParallel(world(what))


def in_progress(distributed) -> bool:
    """Whether fit's ``distributed`` is the :class:`DataParallel` that :func:`fit_data_parallel`
    runs ``fit`` in (inside its :meth:`~DataParallel.running`), not fit's caller's value: True
    once per ``running()``, for the fit it calls (the first to ask); a fit given the same object
    later, from within that one, is a caller's (and ``running()`` refuses it)."""
    if isinstance(distributed, DataParallel) and distributed.unclaimed:
        distributed.unclaimed = False
        return True
    return False


def wanted(distributed, what: str = "fit") -> bool:
    """Whether the ``distributed`` given to ``what`` asks for a data-parallel run: True or a
    :class:`DataParallel` (one made by hand); False; a TypeError for any other value."""
    if isinstance(distributed, DataParallel):
        return True
    if distributed not in (True, False):
        raise TypeError(
            f"{what}: distributed must be True, False or a DataParallel, got {distributed!r}"
        )
    return bool(distributed)


def _release(reduction) -> None:
    """The parameters back in the arrays they were in before the fit whose step ``reduction``
    held them elsewhere (a node's shared window, :class:`~.node.NodeReduction`, or the buffer
    of an Allreduce's)."""
    if reduction is not None:
        reduction.release()


def fit_data_parallel(fit, arguments: dict):
    """``fit(**arguments)`` run data-parallel (see the module doc), for ``distributed=True`` or a
    :class:`DataParallel` made by hand: it needs a ``seed`` (every rank draws the same row order
    from it)."""
    parallel = joined(arguments["distributed"], "fit(distributed=True)")
    if parallel is None:  # one process, as last_run() says
        history = fit(**{**arguments, "distributed": False})
        _last_run.clear()
        _last_run.update(ranks=1, reduction=ALONE, allreduce_calls=0, allreduce_seconds=0.0,
                         allreduce_bytes=0)  # fmt: skip
        return history
    with parallel.running(arguments):
        try:
            history = fit(**{**arguments, "distributed": parallel})
        except BaseException:  # passes on where comm has one rank; with several, aborts them
            if parallel.size == 1:  # release() is a collective: not while the others compute
                with contextlib.suppress(Exception):  # the caller gets the fit's own error
                    _release(parallel.reduction)
            raise
        done = parallel.reduction
        _release(done)
    _last_run.clear()
    if done is not None:
        _last_run.update(
            ranks=parallel.size, allreduce_calls=done.calls, allreduce_seconds=done.seconds,
            allreduce_bytes=done.bytes,
            reduction="Allreduce" if isinstance(done, GradientAllreduce) else "node shared memory",
        )  # fmt: skip
    return history
