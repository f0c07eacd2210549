"""Scoring a model: ``evaluate`` (the loss and metrics over all rows, in one process or
data-parallel over MPI), on the rows and targets prepared as ``fit`` prepares them
(:mod:`nudgenet.rows`, which also holds ``predict``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np

from .distributed.parallel import joined, wanted
from .divergence import warn_non_finite_rows
from .metrics import resolve
from .nn.module import Module
from .rows import predict, prepare_data, targets_for
from .step import EVALUATION_BATCH, whole_loss


def evaluate(
    model: Module,
    loss_fn,
    x,
    y,
    metrics: Sequence[str] | None = None,
    batch_size: int = EVALUATION_BATCH,
    sample_weight=None,
    distributed=False,
) -> dict[str, float]:
    """``{"loss": ..., <metric>: ...}`` over all of ``(x, y)``.  With ``sample_weight`` (one
    per row) the loss is their weighted mean; the metrics stay unweighted.

    ``distributed=True`` (under an MPI launcher, as ``fit``'s; or a ``DataParallel``): every
    rank calls it with the same model, weights and rows, scores its contiguous share of the
    rows once, and gets the scores over all of them, those of one process to rounding
    (:meth:`~nudgenet.distributed.DataParallel.scores`: ranks that differ are refused, an error
    on one ends them all); outside a launcher, a warning and this process alone.  A loss
    that is not finite because rows of ``x`` are not warns, naming them (rank 0 alone:
    :func:`~nudgenet.divergence.warn_non_finite_rows`)."""
    prepare = partial(_prepared, model, loss_fn, x, y, metrics)
    wants = wanted(distributed, "evaluate")
    parallel = joined(distributed, "evaluate(distributed=True)") if wants else None
    if parallel is not None:
        scores = parallel.scores(prepare, predict, model, loss_fn, batch_size, sample_weight)
    else:
        x, y, metric_fns = prepare()
        scores = scores_of(model, loss_fn, x, y, metric_fns, batch_size, sample_weight)
    if not math.isfinite(scores["loss"]) and (parallel is None or parallel.rank == 0):
        warn_non_finite_rows(prepare_data(model, x), "evaluate", "row", "x",
                             f"the loss is {scores['loss']}")  # fmt: skip
    return scores


def scores_of(
    model: Module, loss_fn, x, y, metric_fns: dict, batch_size: int = EVALUATION_BATCH,
    sample_weight=None,
) -> dict[str, float]:
    """``evaluate``'s scores in this process of rows and targets it prepared, by metrics
    resolved (fit's validation scores, each epoch)."""
    outputs = predict(model, x, batch_size)
    loss, y = whole_loss(model, loss_fn, x, y, outputs, batch_size, sample_weight)
    scores = {"loss": loss}
    scores.update({name: fn(outputs, y, loss_fn) for name, fn in metric_fns.items()})
    return scores


def _prepared(model: Module, loss_fn, x, y, metrics) -> tuple[np.ndarray, np.ndarray, dict]:
    """The rows and targets as the model and loss take them, and the metrics by name."""
    x, y = prepare_data(model, x, y)
    return x, targets_for(model, loss_fn, x, y), resolve(metrics, loss_fn)
