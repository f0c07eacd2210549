"""Arrays of ``.npy`` and ``.npz`` files memory-mapped, not read: a data-parallel rank (or any
process training on a part of a large file) touches only the rows it uses.

:func:`memmap_arrays` maps ``x`` (and ``y``) read-only.  An ``.npz`` archive's members must be
stored uncompressed (``np.savez``, not ``np.savez_compressed``: a compressed member has no bytes
to map, and the error says to re-save it); each member's ``.npy`` header is read and checked
against the bytes the archive really holds before anything is mapped; arrays of Python objects
(pickle) are refused.  Unlike :func:`~nudgenet.data.load_arrays` nothing is converted or scanned
(that would read every row): store features in the model's dtype (float32 by default, so ``fit``
does not copy them) and labels as integers, already checked.
"""

from __future__ import annotations

import math
import struct
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._io import PathLike
from ._npy import _HEADERS, _ZIP_ERRORS

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # a zip member's local header: its name and extra


def memmap_arrays(path: PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, y)`` of ``path`` mapped read-only: an ``.npz`` archive's ``x`` and ``y`` (y None
    when absent), or an ``.npy`` file's one array as ``x``.  DataError naming the file for a
    compressed member, an object array, or a header declaring more bytes than there are."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        return _map(path, 0, path.stat().st_size, str(path)), None
    if path.suffix.lower() != ".npz":
        raise DataError(f"{path}: memory-mapping reads .npy or .npz files, got {path.suffix!r}")
    try:
        with zipfile.ZipFile(path) as archive, path.open("rb") as f:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            if "x" not in members:
                raise DataError(f"{path}: no features: expected key 'x', found {list(members)}")
            arrays = [_member(f, path, members[k]) if k in members else None for k in "xy"]
    except DataError:
        raise
    except _ZIP_ERRORS as e:
        raise DataError(f"{path}: cannot read as an .npz archive: {e}") from None
    return arrays[0], arrays[1]


def _member(f, path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    """The archive member ``info`` mapped where its bytes lie in the file."""
    where = f"{path}[{info.filename}]"
    if info.compress_type != zipfile.ZIP_STORED:
        raise DataError(
            f"{where} is compressed; memory-mapping needs members stored as they are: re-save "
            "with np.savez (not np.savez_compressed)"
        )
    f.seek(info.header_offset)
    signature, name, extra = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
    if signature != b"PK\x03\x04":
        raise DataError(f"{where}: not a zip member where the archive's directory points")
    return _map(path, info.header_offset + _LOCAL_HEADER.size + name + extra, info.file_size, where)


def _map(path: Path, offset: int, size: int, where: str) -> np.ndarray:
    """The ``.npy`` array of ``size`` bytes at ``offset`` in ``path``, mapped read-only."""
    with path.open("rb") as f:
        f.seek(offset)
        try:
            version = np.lib.format.read_magic(f)
            shape, fortran_order, dtype = _HEADERS[version](f)
        except (ValueError, KeyError, SyntaxError) as e:
            raise DataError(f"{where}: not a readable .npy array ({e})") from None
        header = f.tell() - offset
    if dtype.hasobject:
        raise DataError(f"{where}: holds Python objects ({dtype}), which need pickle: refused")
    if math.prod(shape) * dtype.itemsize != size - header:
        raise DataError(
            f"{where}: the .npy header declares shape {shape} of {dtype} but "
            f"{size - header} bytes follow it"
        )
    order = "F" if fortran_order else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset + header, shape=shape, order=order)
