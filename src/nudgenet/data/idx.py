"""The IDX file format (MNIST's): read and validate, write, and load an image/label pair.

Layout of an IDX file::

    00 00 <type> <ndim>            magic: two zero bytes, a type code, the number of dimensions
    <dim 1> ... <dim ndim>         each a big-endian uint32
    <values>                       prod(dims) values, big-endian, C (row-major) order

Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
"""

from __future__ import annotations

import gzip
import math
import struct

import numpy as np

from ..errors import DataError
from ..files import write_atomic
from ._convert import as_features, as_labels, require_finite
from ._io import PathLike, read_bytes
from ._npy import FEATURES_WITH_LABELS

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(np.int16),
    0x0C: np.dtype(np.int32),
    0x0D: np.dtype(np.float32),
    0x0E: np.dtype(np.float64),
}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}
_MAX_DIM = 2**32 - 1


def load_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw (told apart by the gzip magic bytes, not the name).

    The header is validated: two zero magic bytes, a known type code (see the module doc), at
    least one dimension, and a payload of exactly ``prod(dims) × itemsize`` bytes.

    Returns:
        A native-endian array of shape ``dims`` with the file's dtype.

    Raises:
        DataError: missing file, corrupt gzip, bad magic or type code, or a truncated or
            over-long payload (the message names the expected and the actual byte counts).
    """
    data = read_bytes(path)
    if data.startswith(b"\x93NUMPY"):
        raise DataError(f"{path}: an .npy file, not IDX; {FEATURES_WITH_LABELS}")
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise DataError(
            f"{path}: not an IDX file: starts with bytes {data[:4].hex(' ') or '(empty)'}, "
            "expected 00 00 <type> <ndim>"
        )
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X} ({t})" for c, t in _DTYPES.items())
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X}, expected one of {known}")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions, expected at least 1")
    start = 4 + 4 * ndim
    if len(data) < start:
        raise DataError(
            f"{path}: truncated IDX header: {len(data)} bytes, expected {start} for {ndim} dims"
        )
    dims = struct.unpack(f">{ndim}I", data[4:start])
    dtype = _DTYPES[code]
    expected, actual = math.prod(dims) * dtype.itemsize, len(data) - start
    if actual != expected:
        problem = "truncated" if actual < expected else "over-long"
        shape = "×".join(map(str, dims))
        raise DataError(
            f"{path}: IDX payload is {actual} bytes, expected {expected} "
            f"({shape} values of {dtype}): the file is {problem}"
        )
    values = np.frombuffer(data, dtype=dtype.newbyteorder(">"), count=math.prod(dims), offset=start)
    try:
        return values.astype(dtype).reshape(dims)
    except ValueError as e:  # more dimensions than NumPy holds, or sizes beyond its index type
        raise DataError(f"{path}: cannot hold an IDX array of {ndim} dims {dims} ({e})") from None


def save_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``), atomically.

    The dtype must be one IDX can hold (uint8, int8, int16, int32, float32, float64) and there
    must be 1 to 255 dimensions, each below 2**32. Gzip output is reproducible (mtime 0).

    Raises:
        DataError: the array cannot be stored as IDX (the message says why).
    """
    a = np.asarray(array)
    code = _CODES.get(a.dtype.newbyteorder("="))
    if code is None:
        names = ", ".join(str(t) for t in _DTYPES.values())
        raise DataError(f"IDX cannot store dtype {a.dtype}; expected one of {names}")
    if not 1 <= a.ndim <= 255:
        raise DataError(f"IDX holds 1 to 255 dimensions, got an array of shape {a.shape}")
    if max(a.shape) > _MAX_DIM:
        raise DataError(f"IDX dimensions must be below 2**32, got shape {a.shape}")
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    data = header + np.ascontiguousarray(a, dtype=a.dtype.newbyteorder(">")).tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    write_atomic(path, data)


def load_idx_pair(
    images: PathLike, labels: PathLike, *, image_shape: tuple[int, ...] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load an IDX images file and its IDX labels file as ``(x, y)``.

    Returns:
        ``x``: float32 ``(N, features)``, each image flattened; uint8 pixels scaled to [0, 1].
        ``y``: int64 ``(N,)`` (float32 if the labels are not whole numbers).

    Args:
        image_shape: when given, the shape every image must have, e.g. ``(28, 28)``.

    Raises:
        DataError: either file is invalid (see :func:`load_idx`), the labels are not 1-D, the
            images have another shape than ``image_shape``, the counts differ, or a value is
            NaN or infinite or beyond float32's range.
    """
    x, y = load_idx(images), load_idx(labels)
    if y.ndim != 1:
        raise DataError(f"{labels}: expected a 1-D labels file, got shape {y.shape}")
    if image_shape is not None and x.shape[1:] != tuple(image_shape):
        raise DataError(
            f"{images}: expected images of shape {tuple(image_shape)}, got {x.shape[1:]} "
            f"(file shape {x.shape})"
        )
    if len(x) != len(y):
        raise DataError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
    x = require_finite(images, "x", as_features(x, images))
    return x, require_finite(labels, "y", as_labels(y, labels))
