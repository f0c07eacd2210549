"""The rows the estimators' network takes: ``X`` (or a regressor's ``y``) in the network's dtype,
checked once for values beyond its range, and a sparse ``X`` made dense.

The network multiplies dense matrices (scikit-learn's MLP multiplies sparse ones): a sparse ``X``
is cast while sparse, its stored values checked once; ``adam`` and ``sgd`` then make it dense a
batch at a time as they train, ``lbfgs`` at once (every step reads every row), and prediction
makes at most 16 MiB of its rows dense at a time (``predict``'s rule for sparse rows).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..data._convert import sparse_within_range, within_range
from ..data.sparse_rows import DENSE_BLOCK_BYTES, SparseRows
from ..evaluation import predict

DENSE_OVER_SPARSE = 4  # a sparse X whose dense copy is at most this many times its size: dense


def in_dtype(source: str, name: str, values, dtype) -> np.ndarray:
    """``values`` in ``dtype``, dense: a one-line ValueError (``source`` names the estimator)
    for a value beyond its range (float32's ±3.4e38), which the cast would make infinite
    (:func:`~nudgenet.data._convert.within_range`, the command line's rule too).  Once per
    call, on the whole array: nothing per batch."""
    remedy = _remedy(name)
    if sp.issparse(values):
        return sparse_within_range(source, name, values, dtype, remedy).toarray()
    return within_range(source, name, values, dtype, remedy)


def training_rows(source: str, X, dtype, batches: bool):
    """``X`` as the rows ``fit`` trains on, in ``dtype`` (:func:`in_dtype`'s check): a wide
    sparse ``X`` made dense a batch at a time where training goes by ``batches`` (``adam``,
    ``sgd``: :class:`~nudgenet.data.sparse_rows.SparseRows`), else at once (``lbfgs``, whose
    every step reads every row, and a sparse ``X`` whose dense rows take little more memory
    than it does: picking a batch's rows from a sparse matrix costs more than from an array)."""
    if not (sp.issparse(X) and batches and _worth_keeping_sparse(X, dtype)):
        return in_dtype(source, "X", X, dtype)
    return SparseRows(sparse_within_range(source, "X", X, dtype, _remedy("X")))


def _worth_keeping_sparse(X, dtype) -> bool:
    """Whether a dense copy of the sparse ``X`` in ``dtype`` would take more than
    :data:`~nudgenet.data.sparse_rows.DENSE_BLOCK_BYTES` (what predicting makes dense at a time)
    and :data:`DENSE_OVER_SPARSE` times ``X``'s own memory."""
    dense = X.shape[0] * X.shape[1] * np.dtype(dtype).itemsize
    stored = X.nnz * (X.dtype.itemsize + 4)  # a value and its column index
    return dense > max(DENSE_BLOCK_BYTES, DENSE_OVER_SPARSE * stored)


def network_outputs(source: str, model, X) -> np.ndarray:
    """The ``model``'s outputs for the rows ``X``, in the dtype of ``X``'s product with its
    weights (float64 if either is), as scikit-learn's; a sparse ``X`` checked once, then read
    as SparseRows (``predict`` makes at most 16 MiB of its rows dense at a time)."""
    weights = model.parameters()[0].dtype
    if sp.issparse(X):
        rows = sparse_within_range(source, "X", X, weights, _remedy("X"))
        scores = predict(model, SparseRows(rows))
    else:
        scores = predict(model, in_dtype(source, "X", X, weights))
    return scores.astype(np.result_type(X.dtype, weights), copy=False)


def _remedy(name: str) -> str:
    return f"scale {name}, or fit with dtype='float64', whose range holds it"
