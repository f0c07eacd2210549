"""Rows and targets as a model takes them, which ``fit``, ``evaluate``, the example tools
(explain, nudge_test, check_gradients) and ``predict`` share: inputs cast once to the model's
dtype, one example row as a batch of one, targets as the loss checks them for the model's
outputs."""

from __future__ import annotations

import numbers

import numpy as np

from .data._convert import sparse_within_range, within_range
from .data.sparse_rows import SparseRows, is_sparse
from .data.sparse_rows import dense as dense_array
from .errors import ShapeError, name_all_rows
from .grad_mode import no_grad
from .nn.module import Module
from .step import EVALUATION_BATCH
from .tensor import Tensor


def as_array(value) -> np.ndarray:
    """Targets, or inputs taken whole (the tools that look at a few rows: explain,
    input_gradient, nudge_test), as one array: a Tensor's data, a sparse matrix made dense."""
    return value.data if isinstance(value, Tensor) else dense_array(value)


def example_rows(x, y) -> tuple[np.ndarray, object]:
    """``(x, y)`` as rows for the tools that look at a few examples (explain, nudge_test): one
    row given as a 1-D ``x`` is a batch of one, its target too (a class label, or a float
    row of targets); rows as they came otherwise."""
    x = as_array(x)
    if x.ndim != 1:
        return x, y
    target = as_array(y)
    one = target.ndim == 0 or (target.dtype.kind == "f" and target.ndim == 1)
    return x[None, :], target[None] if one else y


def _as_rows(value):
    """Inputs as rows: a sparse matrix read a batch at a time (SparseRows), else an array."""
    if is_sparse(value):
        return SparseRows(value)
    return value if isinstance(value, SparseRows) else as_array(value)


def prepare_data(model: Module, x, y=None, what: str = "x"):
    """``x`` (and ``y``) as arrays ready for ``model``: floats in the model's dtype (cast once,
    not per batch; a value beyond that dtype's range is a DataError, as the data loaders' rule
    :func:`~nudgenet.data._convert.within_range` says), matching lengths."""
    x, wider = _as_rows(x), "scale them, or use the model in float64 (model.double())"
    dtype = model.dtype or x.dtype
    if x.ndim == 0 or len(x) == 0:
        raise ShapeError(
            f"{what}: expected a non-empty array of rows (N, features), got shape {x.shape}"
        )
    if x.dtype != dtype and isinstance(x, SparseRows):
        x = SparseRows(sparse_within_range(what, "inputs", x.matrix, dtype, wider))
    elif x.dtype != dtype:
        x = within_range(what, "inputs", x, dtype, wider)
    if y is None:
        return x
    y = as_array(y)
    if y.ndim == 0 or len(y) != len(x):
        one_row = (  # a 1-D x is N rows of one feature, as scikit-learn reads a column
            f"; a 1-D {what} is {len(x)} rows of one feature: pass one example of {len(x)} "
            f"features as {what}[None] (or rows k:k+1)" if x.ndim == 1 and len(x) > 1 else ""
        )
        raise ShapeError(
            f"{what}: inputs have {len(x)} rows but targets have "
            f"{len(y) if y.ndim else 'no'} rows (shape {y.shape}){one_row}"
        )
    if y.dtype.kind == "f" and y.dtype != dtype:
        y = within_range("y" if what == "x" else what, "targets", y, dtype, wider)
    return x, y


def targets_for(model: Module, loss_fn, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` as ``loss_fn.check_targets`` gives it for the model's outputs (read from one row of
    ``x``), floats in the model's dtype; as it is for a loss without ``check_targets`` or a
    model whose outputs are not rows of units ``(N, units)``; a loss of the inputs'
    derivatives too (``DifferentialLoss``) checks that ``y`` holds them (its ``split``).  A
    model that refuses that row refuses all of ``x``: its ShapeError names the shape of all the
    rows, not the row's."""
    split = getattr(loss_fn, "split", None)  # DifferentialLoss: values, then derivatives
    if split is not None and getattr(loss_fn, "wants_inputs", False) and np.ndim(x) == 2:
        split(y, x.shape[1])  # all the targets, before training (not a batch's, in a step)
    check_targets = getattr(loss_fn, "check_targets", None)
    if check_targets is None:
        return y
    try:
        outputs = predict(model, x[:1])
    except ShapeError as error:
        name_all_rows(error, 1, len(x))
        raise
    if outputs.ndim != 2:
        return y
    y = check_targets(y, outputs.shape[1])
    return y.astype(outputs.dtype) if y.dtype.kind == "f" and y.dtype != outputs.dtype else y


def check_batch_size(batch_size) -> None:
    """A ValueError unless ``batch_size``, rows per batch of predict and evaluate, is a whole
    number >= 1 (``x[:-3]`` would quietly drop rows; ``"64"`` or ``64.0`` failed mid-way)."""
    if not isinstance(batch_size, numbers.Integral):
        raise ValueError(f"expected batch_size >= 1 (an int), got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"expected batch_size >= 1, got {batch_size}")


def predict(model: Module, x, batch_size: int = EVALUATION_BATCH) -> np.ndarray:
    """The model's outputs for every row of ``x``, in eval mode without recording a graph, in
    batches of ``batch_size`` rows (a ShapeError names all the rows' shape: ``name_all_rows``);
    sparse rows in batches of at most 16 MiB of dense values
    (:meth:`~nudgenet.data.sparse_rows.SparseRows.block_rows`).  A model in train mode is
    switched to eval and back: from threads, ``model.eval()`` first."""
    check_batch_size(batch_size)
    x = prepare_data(model, x)
    if isinstance(x, SparseRows):
        batch_size = x.block_rows(batch_size)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            try:
                parts = [model(x[:batch_size]).data]
            except ShapeError as error:
                name_all_rows(error, min(batch_size, len(x)), len(x))
                raise
            rest = range(batch_size, len(x), batch_size)
            parts += [model(x[i : i + batch_size]).data for i in rest]
    finally:
        model.train(was_training)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
