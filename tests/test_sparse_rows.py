"""SparseRows: a sparse matrix's rows, made dense only when fit reads a batch of them."""

import tempfile

import numpy as np
import pytest
import scipy.sparse as sp

import nudgenet as ng
from nudgenet.data.sparse_rows import SparseRows, crc32, rows_of
from nudgenet.errors import DataError


def _matrix(rows=50, columns=7, seed=0):
    return sp.random(rows, columns, density=0.3, format="coo", random_state=seed, dtype=np.float64)


def test_rows_read_as_the_dense_matrix_s_rows():
    matrix = _matrix()
    dense, rows = matrix.toarray(), SparseRows(matrix)  # (COO: kept as CSR)
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
    with pytest.raises(TypeError, match="a batch of rows at a time"):
        np.asarray(rows)  # NumPy read it as a sequence of rows, one at a time
    assert isinstance(rows_of(rows, picked), SparseRows)
    np.testing.assert_array_equal(rows_of(dense, picked), dense[picked])


def test_a_checksum_of_sparse_rows_is_that_of_the_dense_rows():
    """A checkpoint taken on sparse rows resumes on the dense ones and back (its checksum was
    of the rows read one at a time into a 3-D array)."""
    matrix = _matrix(3000, 5).astype(np.float32)
    assert crc32(SparseRows(matrix)) == crc32(matrix.toarray()) == crc32(matrix.toarray(), 0)
    x, y = _matrix(300, 6), np.random.default_rng(0).integers(0, 3, 300)
    x = x.astype(np.float32)
    for first, then in ((SparseRows(x), x.toarray()), (x.toarray(), SparseRows(x))):
        model = ng.Sequential(ng.Linear(6, 3, seed=0))
        checkpoint = ng.Checkpoint(tempfile.mkdtemp())
        ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), 0.1), first, y,
               epochs=1, verbose=0, seed=0, checkpoint=checkpoint)  # fmt: skip
        history = ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), 0.1),
                         then, y, epochs=2, verbose=0, seed=0, checkpoint=checkpoint)  # fmt: skip
        assert len(history) == 2  # resumed after epoch 1, not refused as another run


def test_wide_sparse_rows_are_made_dense_16_mib_at_a_time_when_read_whole(monkeypatch):
    """Prediction, fit's validation pass and a checkpoint's checksum read all the rows in turn:
    of a wide sparse matrix, at most 16 MiB of dense rows at a time (they read 1,024 rows
    whatever their width: 4 GiB for a million float32 columns)."""
    read = []
    dense_rows = SparseRows.__getitem__
    monkeypatch.setattr(SparseRows, "__getitem__", lambda self, rows: read.append(
        len(range(len(self))[rows]) if isinstance(rows, slice) else len(rows)
    ) or dense_rows(self, rows))  # fmt: skip
    rows, columns = 1200, 20_000  # float32: 16 MiB are 209 rows
    x = sp.random(rows, columns, density=1e-4, format="csr", random_state=0, dtype=np.float32)
    y = np.random.default_rng(0).integers(0, 2, rows)
    assert SparseRows(x).block_rows(1024) == 209 and SparseRows(x[:, :64]).block_rows(1024) == 1024
    model = ng.Sequential(ng.Linear(columns, 2, seed=0))
    ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), 0.1), x, y, epochs=1,
           batch_size=32, validation_split=0.5, verbose=0, seed=0,
           checkpoint=ng.Checkpoint(tempfile.mkdtemp()))  # fmt: skip
    assert read and max(read) == 209, sorted(set(read))
    read.clear()
    outputs = ng.predict(model, x)
    assert max(read) == 209
    np.testing.assert_array_equal(outputs, ng.predict(model, x.toarray()))


def test_a_validation_split_keeps_the_training_rows_sparse():
    from nudgenet.holdout import split_validation

    x, y = SparseRows(_matrix(100, 4)), np.arange(100) % 2
    for mode in ("last", "shuffle", "stratify"):
        rng = np.random.default_rng(0)
        train, _, _, (val_x, _) = split_validation(x, y, None, None, 0.2, mode, rng, None)
        assert isinstance(train, SparseRows) and len(train) == 80 and val_x.shape == (20, 4)


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


def test_fit_predict_and_evaluate_take_a_scipy_sparse_matrix_as_its_dense_rows():
    """A SciPy matrix as ``x`` is read a batch of rows at a time (it failed: "got shape ()")."""
    x = _matrix(300, 6).astype(np.float32).tocsr()
    y = np.arange(300) % 3
    found = []
    for rows in (x, x.toarray(), x.tocoo(), sp.csr_array(x)):
        model = ng.Sequential(ng.Linear(6, 5, seed=0), ng.ReLU(), ng.Linear(5, 3, seed=1))
        history = ng.fit(model, ng.CrossEntropyLoss(), ng.optim.Adam(model.parameters()), rows,
                         y, epochs=2, batch_size=32, seed=0, verbose=0, validation_split=0.2,
                         metrics=["accuracy"])  # fmt: skip
        found.append((history.history, ng.predict(model, rows).tolist(),
                      ng.evaluate(model, ng.CrossEntropyLoss(), rows, y, metrics=["accuracy"])))
    for other in found[1:]:
        assert other[1:] == found[0][1:]
        assert {k: v for k, v in other[0].items() if k != "seconds"} == {
            k: v for k, v in found[0][0].items() if k != "seconds"
        }


def test_validation_rows_stay_sparse_and_a_sparse_target_is_made_dense():
    """fit's validation rows were a dense copy of their part of x; a sparse y failed deep inside
    (it is the targets: made dense)."""
    from nudgenet.holdout import split_validation

    x, y = SparseRows(_matrix(100, 4)), np.arange(100) % 2
    _, _, _, (val_x, _) = split_validation(x, y, None, None, 0.2, "shuffle",
                                           np.random.default_rng(0), None)  # fmt: skip
    assert isinstance(val_x, SparseRows) and len(val_x) == 20
    dense_y = np.eye(2, dtype=np.float32)[y]
    found = []
    for targets in (dense_y, sp.csr_matrix(dense_y)):
        model = ng.Sequential(ng.Linear(4, 2, seed=0))
        ng.fit(model, ng.MSELoss(), ng.optim.SGD(model.parameters(), 0.1), _matrix(100, 4),
               targets, epochs=2, verbose=0, seed=0)  # fmt: skip
        found.append(model[0].weight.data.copy())
    np.testing.assert_array_equal(found[0], found[1])


def test_the_tools_that_look_at_a_few_rows_take_sparse_rows_as_their_dense_ones():
    """explain, input_gradient, nudge_test and check_gradients (they said "got shape ()" or
    named SparseRows)."""
    x, y = _matrix(20, 4), np.arange(20) % 2
    model = ng.Sequential(ng.Linear(4, 3, seed=0), ng.Tanh(), ng.Linear(3, 2, seed=1)).double()
    loss = ng.CrossEntropyLoss()
    for rows in (x.tocsr()[:3], SparseRows(x.tocsr()[:3])):
        np.testing.assert_array_equal(ng.input_gradient(model, rows),
                                      ng.input_gradient(model, x.toarray()[:3]))  # fmt: skip
    sparse_explained = ng.explain(model, loss, x.tocsr()[:1], y[:1])
    dense_explained = ng.explain(model, loss, x.toarray()[:1], y[:1])
    assert sparse_explained.loss == dense_explained.loss
    assert ng.nudge_test(model, loss, x.tocsr()[:5], y[:5]).passed
    assert ng.check_gradients(model, loss, x.tocsr()[:5], y[:5]).passed
