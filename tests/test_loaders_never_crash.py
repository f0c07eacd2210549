"""Every reader of outside bytes either loads a file correctly or raises a nudgenet error with a
one-line message: never another exception type, a hang, or an allocation the file does not
justify.  Property-based (hypothesis): random bytes, truncations, bit flips and rewritten
headers of valid files (raw and gzip), huge declared sizes, wrong dtypes, NaN/Inf cells.

Each property runs ``EXAMPLES`` examples from a fixed seed (``derandomize``) and keeps no example
database, so CI runs the same inputs every time.  (The checkpoint reader's properties belong
with the checkpoint module.)"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import struct
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import numpy as safetensors_numpy

import nudgenet as ng
from nudgenet import io as model_io
from nudgenet.cli import predict as predict_cli
from nudgenet.data import download as download_module
from nudgenet.data import handwritten, load_arrays, load_idx, load_idx_pair
from nudgenet.errors import DataError, ModelFileError, NudgenetError
from nudgenet.recipes import TrainingRecord

EXAMPLES = 1000
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BIG = 10**12  # elements a "huge declared size" test declares


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """One folder per module; each example overwrites its files (hypothesis runs examples one
    after another)."""
    return tmp_path_factory.mktemp("fuzz")


def outcome(call):
    """``call()``'s result, or None when it raised a nudgenet error with a one-line message;
    any other exception (and any RuntimeWarning: a silent overflow or invalid cast) fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            return call()
        except NudgenetError as error:
            message = str(error)
            assert message.strip() and "\n" not in message, repr(message)
            return None


# --- mutations of valid bytes ----------------------------------------------------------------


@st.composite
def mutated(draw, valid: st.SearchStrategy[bytes], gz: bool = True) -> bytes:
    """A valid file's bytes, kept, truncated, bit-flipped, overwritten in places, or replaced
    by random bytes; then (``gz``) maybe gzip-compressed, and maybe that stream damaged."""
    data = bytearray(draw(valid))
    how = draw(st.sampled_from(["keep", "truncate", "flip", "overwrite", "random"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    elif how == "flip" and data:
        for _ in range(draw(st.integers(1, 3))):
            position = draw(st.integers(0, len(data) - 1))
            data[position] ^= 1 << draw(st.integers(0, 7))
    elif how == "overwrite" and data:
        position = draw(st.integers(0, len(data) - 1))
        patch = draw(st.binary(min_size=1, max_size=8))
        data[position : position + len(patch)] = patch
    elif how == "random":
        data = bytearray(draw(st.binary(max_size=300)))
    if gz and draw(st.booleans()):
        data = bytearray(gzip.compress(bytes(data), mtime=0))
        if draw(st.booleans()):  # a damaged gzip stream
            data = data[: draw(st.integers(0, len(data)))]
            if data and draw(st.booleans()):
                data[draw(st.integers(0, len(data) - 1))] ^= 0xFF
    return bytes(data)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- IDX -------------------------------------------------------------------------------------

IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(code: int, array: np.ndarray) -> bytes:
    """An IDX file of ``array`` written by hand (not by save_idx: an independent oracle)."""
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(IDX_DTYPES[code]).tobytes()


@st.composite
def idx_arrays(draw, shape=None, codes=tuple(IDX_DTYPES)) -> tuple[int, np.ndarray]:
    code = draw(st.sampled_from(codes))
    if shape is None:
        shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    dtype = np.dtype(IDX_DTYPES[code])
    size = math.prod(shape) * dtype.itemsize  # any bits: NaN, infinities, extreme integers
    values = np.frombuffer(draw(st.binary(min_size=size, max_size=size)), dtype=dtype)
    return code, values.reshape(shape)


@st.composite
def idx_headers(draw) -> bytes:
    """Headers with any type code, up to 255 dimensions, any uint32 sizes, and a short payload."""
    ndim = draw(st.integers(0, 255))
    dims = draw(st.lists(st.sampled_from([0, 1, 2, 3, 2**16, 2**32 - 1]), min_size=ndim,
                         max_size=ndim))
    code = draw(st.sampled_from([*IDX_DTYPES, 0x00, 0x0A, 0xFF]))
    payload = draw(st.binary(max_size=64))
    return bytes([0, 0, code, ndim]) + struct.pack(f">{ndim}I", *dims) + payload


def idx_files(**kwargs) -> st.SearchStrategy[bytes]:
    return st.one_of(idx_arrays(**kwargs).map(lambda ca: idx_bytes(*ca)), idx_headers())


@FUZZ
@given(valid=idx_arrays(), data=st.data())
def test_load_idx_loads_a_valid_file_exactly(folder, valid, data):
    code, array = valid
    raw = idx_bytes(code, array)
    if data.draw(st.booleans()):
        raw = gzip.compress(raw, mtime=0)
    loaded = load_idx(write(folder / "valid.idx", raw))
    assert loaded.shape == array.shape and loaded.dtype == array.dtype.newbyteorder("=")
    assert loaded.tobytes() == array.astype(loaded.dtype).tobytes()


@FUZZ
@given(raw=mutated(idx_files()))
def test_load_idx_never_crashes(folder, raw):
    loaded = outcome(lambda: load_idx(write(folder / "any.idx", raw)))
    if loaded is not None:  # a correct load: the payload is exactly the declared array
        assert loaded.ndim >= 1
        plain = gzip.decompress(raw) if raw.startswith(b"\x1f\x8b") else raw
        assert 4 + 4 * loaded.ndim + loaded.nbytes == len(plain)


@FUZZ
@given(
    images=mutated(idx_files(shape=(1, 28, 28), codes=(0x08,)) | idx_files()),
    labels=mutated(idx_files(shape=(1,)) | idx_files()),
    image_shape=st.sampled_from([None, (28, 28)]),
)
def test_load_idx_pair_and_mnist_never_crash(folder, images, labels, image_shape):
    paths = (
        write(folder / "t10k-images-idx3-ubyte", images),
        write(folder / "t10k-labels-idx1-ubyte", labels),
    )
    pair = outcome(lambda: load_idx_pair(*paths, image_shape=image_shape))
    if pair is not None:
        x, y = pair
        assert x.dtype == np.float32 and x.ndim == 2 and len(x) == len(y)
        assert np.isfinite(x).all() and np.isfinite(y).all()
    digits = outcome(lambda: handwritten.mnist("test", data_dir=folder, download=False))
    if digits is not None:
        x, y = digits
        assert x.dtype == np.float32 and x.shape == (len(y), 784)
        assert ((x >= 0) & (x <= 1)).all()
        assert y.dtype == np.int64 and ((y >= 0) & (y <= 9)).all()


# --- CSV -------------------------------------------------------------------------------------

CELLS = st.one_of(
    st.integers(-5, 5).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "-inf", "1e999", "1_0", "0x1", "cat", " dog ", '"cat"',
                     "label", "kind", '"a,b"', '"', "1e-400", "9" * 30, "é", "\x00", "\t3"]),
)


@st.composite
def csv_texts(draw) -> bytes:
    """A table of cells (numbers, names, NaN/Inf, empty, quoted), maybe ragged, maybe with a
    header row and blank lines, with any line ending."""
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(CELLS, min_size=width, max_size=width), min_size=0,
                         max_size=5))
    if draw(st.booleans()):
        rows.insert(0, draw(st.lists(st.sampled_from(["a", "b", "label", "kind", "y", "Y"]),
                                     min_size=width, max_size=width)))
    if rows and draw(st.booleans()):  # a ragged row
        rows[draw(st.integers(0, len(rows) - 1))].append("1")
    lines = [",".join(row) for row in rows]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "")
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])), "replace")


CSV_TEXT = st.text(alphabet='0123456789.,-+eE\n\r" nafiNIcat\x00\t;', max_size=120).map(
    str.encode
)
LABEL_COLUMNS = st.sampled_from([-1, 0, 1, 3, -5, "auto", None, "label", "kind", "b"])
CLASSES = st.sampled_from([None, ["cat", "dog"], ["0", "1", "2"]])


def check_arrays(loaded, labelled: bool) -> None:
    """What every successful load_arrays returns."""
    x, y, names = loaded
    assert x.dtype == np.float32 and x.ndim == 2 and len(x) >= 1 and np.isfinite(x).all()
    if not labelled:
        assert y is None
        return
    assert y.ndim >= 1 and len(y) == len(x)  # (N, k): k regression targets
    assert y.dtype in (np.int64, np.float32) and np.isfinite(y).all()
    if names is not None:
        assert y.dtype == np.int64 and ((y >= 0) & (y < len(names))).all()


@FUZZ
@given(
    raw=mutated(csv_texts() | CSV_TEXT),
    label_column=LABEL_COLUMNS,
    classes=CLASSES,
    name=st.sampled_from(["t.csv", "t.csv.gz"]),
)
def test_load_arrays_csv_never_crashes(folder, raw, label_column, classes, name):
    path = write(folder / name, raw)
    loaded = outcome(
        lambda: load_arrays(path, label_column, classes=classes, return_classes=True)
    )
    if loaded is not None:
        check_arrays(loaded, label_column is not None)
    outcome(lambda: ng.datasets.resolve_label_column(path, label_column))


# --- .npy / .npz -----------------------------------------------------------------------------

NPY_DTYPES = ["u1", "i2", "<i8", ">i4", "<f2", "<f4", ">f8", "?", "<U3", "<c8"]


@st.composite
def small_arrays(draw, min_rows: int = 0) -> np.ndarray:
    shape = tuple(draw(st.lists(st.integers(min_rows, 3), min_size=1, max_size=3)))
    dtype = np.dtype(draw(st.sampled_from(NPY_DTYPES)))
    n = math.prod(shape)
    raw = draw(st.binary(min_size=n * dtype.itemsize, max_size=n * dtype.itemsize))
    if dtype.kind == "U":
        return np.array(draw(st.lists(st.text(max_size=3), min_size=n, max_size=n)),
                        dtype=dtype).reshape(shape)
    if dtype.kind == "b":
        return (np.frombuffer(raw, dtype="u1") % 2).astype(bool).reshape(shape)
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@st.composite
def npy_headers(draw) -> bytes:
    """A .npy header declaring any shape (huge ones too) and dtype (objects too), then a few
    bytes of payload."""
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 3, 2**31, BIG, 2**63]), max_size=4)))
    descr = draw(st.sampled_from(["<f8", "|u1", "|O", "<U5", "|V4", "<M8[s]", "[('a', '<i4')]",
                                  "'bogus'"]))
    descr = descr if descr.startswith("[") or descr.startswith("'") else repr(descr)
    order = draw(st.sampled_from(["False", "True", "None"]))
    header = f"{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape!r}, }}"
    header = header.ljust(118) + "\n"
    prefix = b"\x93NUMPY" + bytes([draw(st.sampled_from([1, 2, 3])), 0])
    size = struct.pack("<H", len(header)) if prefix[6] == 1 else struct.pack("<I", len(header))
    return prefix + size + header.encode("latin-1") + draw(st.binary(max_size=64))


NPY_FILES = st.one_of(small_arrays().map(npy_bytes), npy_headers())


@st.composite
def npz_bytes(draw) -> bytes:
    """An .npz archive holding x (and usually y) as valid or damaged .npy members."""
    buffer = io.BytesIO()
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    with zipfile.ZipFile(buffer, "w", method) as archive:
        members = {"x": small_arrays(min_rows=1), "y": small_arrays(min_rows=1)}
        for key, arrays in members.items():
            if key == "y" and not draw(st.booleans()):
                continue
            archive.writestr(f"{key}.npy", draw(mutated(arrays.map(npy_bytes) | npy_headers(),
                                                        gz=False)))
    return buffer.getvalue()


@FUZZ
@given(raw=mutated(NPY_FILES))
def test_load_arrays_npy_and_predict_input_never_crash(folder, raw):
    path = write(folder / "rows.npy", raw)
    loaded = outcome(lambda: load_arrays(path, label_column=None, return_classes=True))
    if loaded is not None:
        check_arrays(loaded, labelled=False)
    args = SimpleNamespace(input=str(path), quiet=True, label_column=None)
    rows = outcome(lambda: predict_cli.rows_to_predict(args, TINY_MODEL, TrainingRecord()))
    if rows is not None:
        assert rows.dtype == np.float32 and rows.ndim == 2


@FUZZ
@given(raw=mutated(npz_bytes()), labelled=st.booleans(), classes=CLASSES)
def test_load_arrays_npz_never_crashes(folder, raw, labelled, classes):
    path = write(folder / "data.npz", raw)
    loaded = outcome(
        lambda: load_arrays(path, -1 if labelled else None, classes=classes, return_classes=True)
    )
    if loaded is not None:
        check_arrays(loaded, labelled)


# --- safetensors model files -----------------------------------------------------------------

TINY_MODEL = ng.nn.Sequential(ng.nn.Linear(2, 3), ng.nn.ReLU(), ng.nn.Linear(3, 2))


def safetensors_file(tensors: dict, metadata: dict) -> bytes:
    return safetensors_numpy.save(tensors, metadata=metadata)


def safetensors_bytes(header: dict, payload: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                   max_size=3),
    max_leaves=8,
)


DEEP_JSON = st.sampled_from([
    "[" * 100_000,  # deeper than json.loads can read
    '{"type": "Sequential", "layers": [' * 400 + "]}" * 400,  # deeper than build can go
])


@st.composite
def model_headers(draw, valid: bytes) -> bytes:
    """The valid model file with its header's JSON rewritten: metadata, architecture or outline
    replaced by any JSON text (or none), a tensor's dtype, shape or offsets changed (huge ones
    too), or the declared header length changed."""
    (length,) = struct.unpack("<Q", valid[:8])
    header, payload = json.loads(valid[8 : 8 + length]), valid[8 + length :]
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["metadata", "architecture", "outline", "format", "tensor",
                                     "length"]))
        if what == "length":
            length = draw(st.sampled_from([0, 1, 2**31, 2**63, 2**64 - 1]))
            return struct.pack("<Q", length) + valid[8:]
        if what == "tensor":
            name = draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
            field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
            header[name][field] = draw(
                st.sampled_from(["F16", "BF16", "I64", "U8", "BOOL", "F64", "X"])
                if field == "dtype"
                else st.lists(st.sampled_from([0, 1, 3, 2**31, BIG, 2**63]), max_size=3)
            )
            continue
        meta = header["__metadata__"]
        text = draw(st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=20), DEEP_JSON))
        if draw(st.booleans()):  # a layer description of any JSON
            text = json.dumps({"type": "Sequential", "layers": [draw(JSON_VALUES)]})
        if draw(st.booleans()):
            meta.pop(what, None)
        else:
            meta[what] = text
    return safetensors_bytes(header, payload)


def _valid_model_file() -> bytes:
    buffer = io.BytesIO()
    with mock.patch.object(model_io, "write_atomic", lambda path, data: buffer.write(data)):
        ng.save(TINY_MODEL, "unused.safetensors", metadata={"class_names": ["a", "b"]})
    return buffer.getvalue()


VALID_MODEL = _valid_model_file()


@FUZZ
@given(data=st.data())
def test_model_files_never_crash(folder, data):
    raw = data.draw(mutated(st.just(VALID_MODEL), gz=False) | model_headers(VALID_MODEL))
    path = write(folder / "model.safetensors", raw)
    metadata = outcome(lambda: model_io.read_metadata(path))
    if metadata is not None:
        assert isinstance(metadata, dict)
    model = outcome(lambda: ng.load(path))
    if model is not None:
        assert isinstance(model.metadata, dict)
        x = np.zeros((1, 2), dtype=np.float32)
        with np.errstate(all="ignore"):  # fuzzed weights may be huge: the load is what is tested
            assert model(ng.tensor(x)).shape == (1, 2)
    into = outcome(lambda: ng.load(path, model=ng.nn.Sequential(
        ng.nn.Linear(2, 3), ng.nn.ReLU(), ng.nn.Linear(3, 2))))
    if into is not None:
        assert isinstance(into.metadata, dict)


def test_model_file_nested_too_deep_to_build_is_refused(folder):
    depth = 450  # json.loads reads it; building it goes past Python's recursion limit
    architecture = '{"type": "Sequential", "layers": [' * depth
    architecture += '{"type": "Linear", "in_features": 1, "out_features": 1}' + "]}" * depth
    one = np.ones((1, 1), np.float32)
    path = write(folder / "deep.safetensors", safetensors_file(
        {"0." * depth + "weight": one, "0." * depth + "bias": one[0]},
        {"format": model_io.FORMAT, "architecture": architecture},
    ))
    with pytest.raises(ModelFileError, match="inconsistent: maximum recursion depth"):
        ng.load(path)


# --- the MNIST download verifier -------------------------------------------------------------

FILE_BODY = gzip.compress(idx_bytes(0x08, np.arange(10, dtype=np.uint8)), mtime=0)
REMOTE = download_module.RemoteFile(
    "labels.gz",
    len(FILE_BODY),
    hashlib.md5(FILE_BODY, usedforsecurity=False).hexdigest(),
    hashlib.sha256(FILE_BODY).hexdigest(),
)


@FUZZ
@given(bodies=st.lists(mutated(st.just(FILE_BODY), gz=False), min_size=1, max_size=3))
def test_download_verifier_never_crashes(folder, bodies):
    served = iter(bodies)
    target = folder / "cache"
    (target / REMOTE.name).unlink(missing_ok=True)
    with mock.patch.object(download_module, "_fetch", lambda url: next(served)):
        path = outcome(lambda: download_module.download(REMOTE, ["m1/"] * len(bodies), target))
    if path is not None:  # only a verified copy is ever written
        assert path.read_bytes() == FILE_BODY and FILE_BODY in bodies
    else:
        assert FILE_BODY not in bodies and not (target / REMOTE.name).exists()


# --- every truncation of a valid file --------------------------------------------------------


def _truncations(folder: Path, name: str, valid: bytes, read) -> int:
    """Load every proper prefix of ``valid`` (raw, and of its gzip stream); each must fail with a
    nudgenet error.  Returns how many were tried."""
    tried = 0
    for data in (valid, gzip.compress(valid, mtime=0)):
        for n in range(len(data)):
            path = write(folder / name, data[:n])
            assert outcome(lambda: read(path)) is None, f"{n}-byte prefix loaded"  # noqa: B023
            tried += 1
    return tried


def test_every_truncation_is_refused(folder):
    idx = idx_bytes(0x0D, np.arange(12, dtype=np.float32).reshape(3, 4))
    assert _truncations(folder, "t.idx", idx, load_idx)
    csv_text = b"a,b,label\n1,2,cat\n3,4,dog\n"
    npy = npy_bytes(np.arange(6.0).reshape(2, 3))
    assert _truncations(folder, "t.npy", npy, lambda p: load_arrays(p, label_column=None))
    buffer = io.BytesIO()
    np.savez(buffer, x=np.ones((2, 3)), y=np.array([0, 1]))
    assert _truncations(folder, "t.npz", buffer.getvalue(), load_arrays)
    model = VALID_MODEL
    for n in range(len(model)):
        path = write(folder / "t.safetensors", model[:n])
        assert outcome(lambda: ng.load(path)) is None  # noqa: B023
        assert outcome(lambda: model_io.read_metadata(path)) is None  # noqa: B023
    # a CSV cut anywhere still reads as rows or fails cleanly (a cut at a line end is a file)
    for n in range(len(csv_text)):
        loaded = outcome(lambda: load_arrays(write(folder / "t.csv", csv_text[:n]), "label"))  # noqa: B023
        if loaded is not None:
            assert len(loaded[0]) == len(loaded[1]) >= 1


# --- huge declared sizes: refused before anything of that size is allocated ------------------


def _refused_small(read, path: Path, error=NudgenetError) -> None:
    """``read(path)`` raises ``error`` within a second, having allocated at most a megabyte
    more than a few copies of the file."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error):
            read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 4 * path.stat().st_size + 2**20, peak


def test_idx_declaring_a_huge_array_is_refused_before_allocating(folder):
    raw = bytes([0, 0, 0x0E, 2]) + struct.pack(">2I", 10**6, 10**6) + bytes(64)
    _refused_small(load_idx, write(folder / "huge.idx", raw), DataError)
    _refused_small(load_idx, write(folder / "huge.idx.gz", gzip.compress(raw)), DataError)


def _npy_header(shape, descr="<f8") -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()


def test_npy_declaring_a_huge_array_is_refused_before_allocating(folder):
    raw = _npy_header((BIG,)) + bytes(64)
    read = lambda p: load_arrays(p, label_column=None)  # noqa: E731
    _refused_small(read, write(folder / "huge.npy", raw), DataError)
    _refused_small(read, write(folder / "huge2.npy", _npy_header((2**62, 4)) + bytes(8)),
                   DataError)


def test_npz_member_declaring_a_huge_array_is_refused_before_allocating(folder):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.npy", _npy_header((BIG, 1)) + bytes(64))
        archive.writestr("y.npy", npy_bytes(np.arange(2)))
    _refused_small(load_arrays, write(folder / "huge.npz", buffer.getvalue()), DataError)


def test_model_file_declaring_a_huge_tensor_is_refused_before_allocating(folder):
    header = {
        "__metadata__": {
            "format": model_io.FORMAT,
            "architecture": json.dumps({"type": "Linear", "in_features": 10**6,
                                        "out_features": 10**6}),
        },
        "weight": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 4 * BIG]},
        "bias": {"dtype": "F32", "shape": [10**6], "data_offsets": [4 * BIG, 4 * BIG + 4 * 10**6]},
    }
    path = write(folder / "huge.safetensors", safetensors_bytes(header, bytes(64)))
    _refused_small(ng.load, path, ModelFileError)
    declared_length = struct.pack("<Q", 2**40) + b"{}"
    _refused_small(ng.load, write(folder / "huge2.safetensors", declared_length), ModelFileError)


# --- the crashes these properties found, one example each (each crashed before its fix) -------


def _zip(members: dict[str, bytes], method=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _damaged_deflate() -> bytes:
    data = bytearray(_zip({"x.npy": npy_bytes(np.arange(50.0))}, zipfile.ZIP_DEFLATED))
    data[60:70] = bytes(10)  # inside the deflate stream
    return bytes(data)


def _model_with(**metadata: str | None) -> bytes:
    """The valid model file with these header metadata (None: the key removed)."""
    (length,) = struct.unpack("<Q", VALID_MODEL[:8])
    header = json.loads(VALID_MODEL[8 : 8 + length])
    header["__metadata__"].update(metadata)
    header["__metadata__"] = {k: v for k, v in header["__metadata__"].items() if v is not None}
    return safetensors_bytes(header, VALID_MODEL[8 + length :])


def _mnist(folder: Path, images: bytes, labels: bytes):
    write(folder / "t10k-images-idx3-ubyte", images)
    write(folder / "t10k-labels-idx1-ubyte", labels)
    return handwritten.mnist("test", data_dir=folder, download=False)


def _ones_idx(ndim: int) -> bytes:
    return bytes([0, 0, 0x08, ndim]) + struct.pack(f">{ndim}I", *[1] * ndim) + b"\x07"


FOUND = {
    "idx-65-dims": ("a.idx", _ones_idx(65), load_idx),
    "csv-rows-narrower-than-header": ("a.csv", b"a,a,1\n0,0", load_arrays),
    "csv-label-beyond-int64": ("a.csv", b"0,9.223372036854776e+18", load_arrays),  # a value
    "csv-nul-byte": ("a.csv", b"a,b\n1,\x002\n", load_arrays),
    "csv-carriage-return-in-field": ("a.csv", b"\r0", load_arrays),
    "npy-empty": ("a.npy", b"", lambda p: load_arrays(p, label_column=None)),
    "npy-header-not-a-literal": (
        "a.npy",
        _npy_header((1,), "|u1").replace(b"'shape': (1,)", b"'shape':((1,)") + b"\x00",
        lambda p: load_arrays(p, label_column=None),
    ),
    "npz-member-not-npy": ("a.npz", _zip({"x.npy": b"hello", "y.npy": b"world"}), load_arrays),
    "npz-damaged-deflate": ("a.npz", _damaged_deflate(), load_arrays),
    "model-metadata-null": ("a.safetensors", _model_with(metadata="null"), ng.load),
    "model-metadata-not-json": ("a.safetensors", _model_with(metadata="{"),
                                model_io.read_metadata),
    "model-outline-not-json": (
        "a.safetensors",
        _model_with(outline="", architecture=None),
        ng.load,
    ),
    "model-architecture-too-deep": ("a.safetensors", _model_with(architecture="[" * 10**5),
                                    ng.load),
    "mnist-fractional-labels": (
        "mnist",
        (idx_bytes(0x08, np.zeros((1, 28, 28))), idx_bytes(0x0D, np.array([0.5]))),
        None,
    ),
    "mnist-pixels-beyond-1": (
        "mnist",
        (idx_bytes(0x0D, np.full((1, 28, 28), 7.0)), idx_bytes(0x08, np.array([3]))),
        None,
    ),
}


@pytest.mark.parametrize("case", FOUND, ids=list(FOUND))
def test_found_crashes_are_refused_with_a_nudgenet_error(folder, case):
    name, raw, read = FOUND[case]
    if name == "mnist":
        assert outcome(lambda: _mnist(folder, *raw)) is None
        return
    loaded = outcome(lambda: read(write(folder / name, raw)))
    if case == "csv-label-beyond-int64":  # not a class (int64 cannot hold it): a float target
        assert loaded[1].dtype == np.float32 and loaded[1][0] == np.float32(2.0**63)
    else:
        assert loaded is None


# --- checkpoints -----------------------------------------------------------------------------


def _valid_checkpoint(folder: Path) -> bytes:
    from nudgenet.checkpoint import Checkpoint

    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(12, 2)
    y = (x[:, 0] > 0).astype(np.int64)
    model = ng.nn.Sequential(ng.nn.Linear(2, 3, seed=0), ng.nn.ReLU(), ng.nn.Linear(3, 2, seed=1))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    checkpoints = folder / "valid-checkpoints"
    ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=1, batch_size=4, verbose=0,
           seed=0, checkpoint=Checkpoint(checkpoints))  # fmt: skip
    return sorted(checkpoints.glob("*.safetensors"))[-1].read_bytes()


@FUZZ
@given(data=st.data())
def test_checkpoints_never_crash(folder, data):
    from nudgenet.checkpoint import read

    valid = getattr(test_checkpoints_never_crash, "valid", None)
    if valid is None:
        valid = test_checkpoints_never_crash.valid = _valid_checkpoint(folder)
    raw = data.draw(mutated(st.just(valid), gz=False))
    path = write(folder / "checkpoint-000001-0000000.safetensors", raw)
    loaded = outcome(lambda: read(path))
    if loaded is not None:
        fingerprint, state = loaded
        assert isinstance(fingerprint, dict) and isinstance(state, dict)
