"""SparseRows: a sparse matrix's rows, made dense only when fit reads a batch of them."""

import numpy as np
import pytest
import scipy.sparse as sp

import nudgenet as ng
from nudgenet.data.sparse_rows import SparseRows
from nudgenet.errors import DataError


def _matrix(rows=50, columns=7, seed=0):
    return sp.random(rows, columns, density=0.3, format="coo", random_state=seed, dtype=np.float64)


def test_rows_read_as_the_dense_matrix_s_rows():
    matrix = _matrix()
    dense, rows = matrix.toarray(), SparseRows(matrix)
    assert len(rows) == 50 and rows.shape == (50, 7) and rows.ndim == 2
    assert rows.dtype == np.float64
    picked = np.array([4, 0, 49, 4])  # unsorted, repeated: a shuffled batch
    np.testing.assert_array_equal(rows[picked], dense[picked])
    np.testing.assert_array_equal(rows[:3], dense[:3])
    out = np.full((4, 7), np.nan)
    assert rows.take(picked, axis=0, out=out, mode="clip") is out  # into the step's buffer
    np.testing.assert_array_equal(out, dense[picked])
    np.testing.assert_array_equal(rows.part(picked)[:], dense[picked])
    with pytest.raises(ValueError, match="reads rows"):
        rows.take(picked, axis=1)


def test_fit_trains_on_sparse_rows_as_on_the_dense_ones():
    """The compiled step and the engine alike; a sparse X of a wider dtype is cast as dense rows
    are, its range checked."""
    x, y = _matrix(200, 6), np.random.default_rng(0).integers(0, 3, 200)
    found = []
    for rows in (SparseRows(x.astype(np.float32)), x.toarray().astype(np.float32), SparseRows(x)):
        for compile_ in (True, False):
            model = ng.Sequential(ng.Linear(6, 5, seed=0), ng.ReLU(), ng.Linear(5, 3, seed=1))
            ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), 0.1), rows, y,
                   epochs=2, batch_size=32, seed=0, verbose=0, compile=compile_)  # fmt: skip
            found.append([p.data.copy() for p in model.parameters()])
    for params in found[1:]:
        for a, b in zip(found[0], params):
            np.testing.assert_array_equal(a, b)
    beyond = x.tolil()
    beyond[7, 2] = 1e39
    model = ng.Sequential(ng.Linear(6, 3, seed=0))
    with pytest.raises(DataError, match=r"the first 1e\+39 in sample 7, column 2"):
        ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), 0.1),
               SparseRows(beyond), y, epochs=1, verbose=0, seed=0)  # fmt: skip
