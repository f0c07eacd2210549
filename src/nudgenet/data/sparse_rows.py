"""Rows of a sparse matrix, made dense only when read: ``fit`` trains on a wide sparse input
(TF-IDF features, say) a batch at a time, holding the sparse matrix and one dense batch rather
than rows × columns floats.

:class:`SparseRows` wraps a SciPy sparse matrix (any format; kept as CSR, whose rows are cheap to
pick) as the rows ``fit`` reads: ``len``, ``shape``, ``ndim``, ``dtype``, and dense rows by
``x[rows]`` (the general engine's batch, a slice or row numbers) or ``x.take(rows, axis=0,
out=buffer)`` (the compiled step's gather into its own buffer).  Its values are read as they
are: cast them to the network's dtype first (the scikit-learn estimators do, checking the range).
"""

from __future__ import annotations

import numpy as np


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

    def part(self, rows) -> SparseRows:
        """The rows ``rows`` as a SparseRows of their own (a training part, say)."""
        return SparseRows(self.matrix[rows])
