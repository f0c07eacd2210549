"""Rows of a sparse matrix, made dense only when read: ``fit`` trains on a wide sparse input
(TF-IDF features, say) a batch at a time, holding the sparse matrix and one dense batch rather
than rows × columns floats.  ``fit``, ``predict`` and ``evaluate`` take a SciPy sparse matrix
as their ``x`` and read it through a SparseRows.

:class:`SparseRows` wraps a SciPy sparse matrix (any format; kept as CSR, whose rows are cheap to
pick) as the rows ``fit`` reads: ``len``, ``shape``, ``ndim``, ``dtype``, and dense rows by
``x[rows]`` (the general engine's batch, a slice or row numbers) or ``x.take(rows, axis=0,
out=buffer)`` (the compiled step's gather into its own buffer).  Its values are read as they
are: cast them to the network's dtype first (the scikit-learn estimators do, checking the range).
"""

from __future__ import annotations

import zlib

import numpy as np

DENSE_BLOCK_BYTES = 1 << 24  # at most this much of a SparseRows is made dense at a time, read whole
_CHECKSUM_ROWS = 1024  # rows of a SparseRows made dense at a time for its checksum, at most


class SparseRows:
    """The rows of the sparse ``matrix`` (module docstring)."""

    ndim = 2

    def __init__(self, matrix):
        self.matrix = matrix.tocsr()
        self.shape, self.dtype = self.matrix.shape, self.matrix.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        """The dense rows ``rows`` (a slice or an array of row numbers), shape (len, columns)."""
        return self.matrix[rows].toarray()

    def take(self, rows, axis: int = 0, out=None, mode: str = "raise") -> np.ndarray:
        """``ndarray.take`` of rows (``axis`` 0): the dense rows, into ``out`` when given."""
        if axis != 0:
            raise ValueError(f"SparseRows.take reads rows (axis 0), got axis={axis}")
        return self.matrix[rows].toarray(out=out)

    def block_rows(self, limit: int) -> int:
        """Rows to make dense at a time when all the rows are read in turn (a prediction, a
        checksum): ``limit``, or fewer where their dense values would take more than
        :data:`DENSE_BLOCK_BYTES` (a TF-IDF matrix of 20,000 float32 columns: 209 rows)."""
        row_bytes = max(1, self.shape[1]) * self.dtype.itemsize
        return max(1, min(limit, DENSE_BLOCK_BYTES // row_bytes))

    def part(self, rows) -> SparseRows:
        """The rows ``rows`` as a SparseRows of their own (a training part, say)."""
        return SparseRows(self.matrix[rows])

    def __array__(self, dtype=None, copy=None):
        """Refused: all the rows at once is what this class avoids (NumPy would otherwise read
        it as a sequence of rows, one at a time)."""
        raise TypeError(
            "SparseRows is read a batch of rows at a time (x[rows], x.take), not as one array"
        )


def is_sparse(value) -> bool:
    """Whether ``value`` is a SciPy sparse matrix or array (told without importing SciPy, which
    nudgenet's core does not need)."""
    return type(value).__module__.startswith("scipy.sparse") and hasattr(value, "tocsr")


def dense(x) -> np.ndarray:
    """``x`` as one dense array: a sparse matrix's (or a SparseRows's) rows made dense, anything
    else as ``np.asarray`` gives it."""
    if isinstance(x, SparseRows):
        x = x.matrix
    return x.toarray() if is_sparse(x) else np.asarray(x)


def rows_of(x, rows):
    """The rows ``rows`` of fit's inputs ``x`` as ``x`` holds them: a SparseRows part stays
    sparse, an array's rows are an array."""
    return x.part(rows) if isinstance(x, SparseRows) else x[rows]


def crc32(array, crc: int = 0) -> int:
    """CRC-32 of ``array``'s values in C order, continuing ``crc``; a SparseRows's as its dense
    rows', read a block at a time (a checkpoint taken on one resumes on the other)."""
    if not isinstance(array, SparseRows):
        return zlib.crc32(np.ascontiguousarray(array).view(np.uint8), crc)
    block = array.block_rows(_CHECKSUM_ROWS)
    for start in range(0, len(array), block):
        crc = zlib.crc32(array[start : start + block].view(np.uint8), crc)
    return crc
