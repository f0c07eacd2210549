"""NumPy's ``.npy`` and ``.npz`` formats, read without trusting their headers.

``np.load`` allocates the array a header declares before reading its data, so a 100-byte file
declaring 10^12 values asks for terabytes; here the declared size is checked against the bytes
that are really there first, object (pickled) arrays are refused, and every failure of a
corrupt file or zip archive is a DataError.
"""

from __future__ import annotations

import math
import tokenize
import zipfile
import zlib
from typing import BinaryIO

import numpy as np

from ..errors import DataError

_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
    (3, 0): np.lib.format.read_array_header_2_0,  # 3.0 differs only in its header's encoding
}
_CHUNK = 1 << 20  # bytes read at a time into an array
# how to give features and labels together: the advice of the errors that meet a lone .npy
FEATURES_WITH_LABELS = (
    "put features and labels in one .npz (ng.datasets.save_arrays('data.npz', x=x, y=y)) "
    "or a CSV with a label column"
)
# What a corrupt zip archive or member raises (a bad CRC, an unknown compression method, an
# encrypted member, a broken deflate stream, a short read).
_ZIP_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    zlib.error,
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
)


def read_header(stream: BinaryIO, source: object) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from the ``.npy`` header at ``stream``'s position,
    which is left where the data begins.

    Raises:
        DataError: not an ``.npy`` header, a size below 0, or an object (pickled) dtype.
    """
    try:
        version = np.lib.format.read_magic(stream)
        if version not in _HEADERS:
            raise ValueError(f"unsupported .npy format version {version}")
        shape, fortran_order, dtype = _HEADERS[version](stream)
    except (ValueError, SyntaxError, TypeError, tokenize.TokenError) as e:  # the header is a
        # Python literal (TypeError: NumPy sorting keys of mixed types to name the wrong ones)
        raise DataError(f"{source}: not a readable .npy array ({e})") from None
    if any(n < 0 for n in shape):
        raise DataError(f"{source}: the .npy header declares shape {shape}, with a size below 0")
    if dtype.hasobject:
        raise DataError(f"{source}: holds Python objects ({dtype}), which need pickle: refused")
    return shape, fortran_order, dtype


def read_npy(stream: BinaryIO, size: int, source: object) -> np.ndarray:
    """The array of the ``.npy`` content ``stream`` of ``size`` bytes.

    Raises:
        DataError: not an ``.npy`` array, an object (pickled) array, or a payload other than
            the ``prod(shape) × itemsize`` bytes the header declares: checked before anything
            of that size is allocated.
    """
    shape, fortran_order, dtype = read_header(stream, source)
    expected, actual = math.prod(shape) * dtype.itemsize, size - stream.tell()
    if expected != actual:
        raise DataError(
            f"{source}: the .npy header declares shape {shape} of {dtype} ({expected} bytes) "
            f"but {actual} bytes follow it"
        )
    payload = bytearray(expected)
    if _read_into(stream, memoryview(payload)) != expected:
        raise DataError(f"{source}: the .npy data ends before the {expected} bytes declared")
    try:
        values = np.frombuffer(payload, dtype=dtype, count=math.prod(shape))
        return values.reshape(shape, order="F" if fortran_order else "C")
    except ValueError as e:  # a zero-sized dtype, more dimensions than NumPy holds
        raise DataError(f"{source}: cannot hold shape {shape} of {dtype} ({e})") from None


def _read_into(stream: BinaryIO, payload: memoryview) -> int:
    """Fill ``payload`` from ``stream`` a chunk at a time (a zip member's ``readinto`` reads the
    whole request into a bytes object first: a second copy of a large array); the bytes read."""
    done = 0
    while done < len(payload):
        count = stream.readinto(payload[done : done + _CHUNK])
        if not count:
            break
        done += count
    return done


def read_npz(
    archive_file: BinaryIO, wanted: list[tuple[str, ...]], source: object
) -> tuple[list[str], list[np.ndarray | None]]:
    """The keys of the ``.npz`` archive in the seekable ``archive_file`` (member names without
    ``.npy``), and for each tuple of ``wanted`` the array of the first of its keys the archive
    holds (None: none), read by :func:`read_npy`.

    Raises:
        DataError: a corrupt archive or member (see :func:`read_npy`; the message names it).
    """
    try:
        with zipfile.ZipFile(archive_file) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            keys = [next((k for k in names if k in members), None) for names in wanted]
            return list(members), [
                None if key is None else _member(archive, members[key]) for key in keys
            ]
    except (DataError, *_ZIP_ERRORS) as e:  # DataError: a member's, naming it
        problem = f"cannot read as an .npz archive of numeric arrays: {e}"
        raise DataError(f"{source}: {problem}") from None


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as stream:
        return read_npy(stream, info.file_size, info.filename)
