"""Arrays of ``.npy`` and ``.npz`` files memory-mapped, not read: a data-parallel rank (or any
process training on a part of a large file) touches only the rows it uses.

:func:`memmap_arrays` maps ``x`` (and ``y``) read-only.  An ``.npz`` archive's members must be
stored uncompressed, their data aligned for their dtype: :func:`save_arrays` writes such archives
(``np.savez`` stores its members at odd offsets, where NumPy would copy a whole mapped array to
gather a batch from it, and ``np.savez_compressed`` leaves no bytes to map; the error says to
re-save).  ``np.save``'s ``.npy`` files map as they are.  Each ``.npy`` header is read and
checked against the bytes the file really holds before anything is mapped; arrays of Python
objects (pickle) are refused.  Unlike :func:`~nudgenet.data.load_arrays` nothing is converted
or scanned (that would read every row): store features in the model's dtype (float32 by
default, so ``fit`` does not copy them) and labels as integers, already checked.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import atomic_file
from ._io import PathLike
from ._npy import _ZIP_ERRORS, read_header

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # a zip member's local header: its name and extra
_ZIP64_EXTRA = 20  # the zip64 field zipfile adds to a local header (force_zip64)
_PADDING_ID = 0xA11C  # the header field save_arrays pads with (readers skip unknown fields)
_ALIGN = 64


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


def save_arrays(path: PathLike, **arrays) -> None:
    """Write ``arrays`` (``x=..., y=...``) as an ``.npz`` archive that :func:`memmap_arrays`
    maps: each member stored uncompressed, its data at a multiple of 64 bytes in the file (a
    padding field in the member's zip header); written atomically, a chunk at a time."""
    with atomic_file(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            array = np.asanyarray(array)
            header = io.BytesIO()
            np.lib.format.write_array_header_2_0(
                header, np.lib.format.header_data_from_array_1_0(array)
            )
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            start = f.tell() + _LOCAL_HEADER.size + len(info.filename) + _ZIP64_EXTRA
            pad = -(start + 4 + header.tell()) % _ALIGN
            info.extra = struct.pack("<HH", _PADDING_ID, pad) + b"\0" * pad
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _member(f, path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    """The archive member ``info`` mapped where its bytes lie in the file."""
    where = f"{path}[{info.filename}]"
    if info.compress_type != zipfile.ZIP_STORED:
        raise DataError(
            f"{where} is compressed; memory-mapping needs members stored as they are: re-save "
            "with nudgenet.datasets.save_arrays(path, x=x, y=y) (np.savez's are not aligned)"
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
        shape, fortran_order, dtype = read_header(f, where)
        header = f.tell() - offset
    if math.prod(shape) * dtype.itemsize != size - header:
        raise DataError(
            f"{where}: the .npy header declares shape {shape} of {dtype} but "
            f"{size - header} bytes follow it"
        )
    if (offset + header) % dtype.alignment:
        raise DataError(
            f"{where}: its data is not aligned for {dtype} (np.savez stores members at odd "
            "offsets; mapped, every batch would copy the whole array): re-save with "
            "nudgenet.datasets.save_arrays(path, x=x, y=y)"
        )
    order = "F" if fortran_order else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset + header, shape=shape, order=order)
