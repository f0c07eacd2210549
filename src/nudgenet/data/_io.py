"""Byte-level file plumbing for ``nudgenet.data``: read a file that may be gzip-compressed."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import DataError, DataNotFoundError

PathLike = str | os.PathLike[str]

GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: PathLike) -> bytes:
    """The content of ``path``, decompressed when it starts with the gzip magic bytes ``1f 8b``.

    Compression is detected from the bytes, never from the name, so ``x.gz`` holding raw data and
    ``x`` holding gzip data both read correctly.

    Raises:
        DataNotFoundError: the file is missing.
        DataError: the file is unreadable, or its gzip stream is corrupt or truncated
            (instead of the raw ``zlib.error`` / ``EOFError`` / ``gzip.BadGzipFile``).
    """
    p = Path(path)
    with _opened(p) as (raw, gzipped):
        return _content(p, raw, gzipped)


@contextlib.contextmanager
def open_bytes(path: PathLike) -> Iterator[BinaryIO]:
    """``path`` open as a stream of its content, decompressed as it is read when the file starts
    with the gzip magic bytes (as :func:`read_bytes` decides, with its errors, also for what is
    read in the block): to read the start of a file, a CSV header, without reading all of it."""
    p = Path(path)
    with _opened(p) as (raw, gzipped), _reading(p, gzipped):
        yield gzip.GzipFile(fileobj=raw) if gzipped else raw


@contextlib.contextmanager
def open_seekable(path: PathLike) -> Iterator[BinaryIO]:
    """``path`` open for reading anywhere in it (a zip archive's directory lies at its end): the
    file itself, or its content in memory where it is gzip-compressed (decompressed) or cannot
    seek (a pipe), with :func:`read_bytes`'s errors, also for what is read in the block.  A
    file's size is ``seek(0, 2)``."""
    p = Path(path)
    with _opened(p) as (raw, gzipped):
        if not gzipped and raw.seekable():
            with _reading(p):
                yield raw
            return
        yield io.BytesIO(_content(p, raw, gzipped))


def _content(p: Path, raw: BinaryIO, gzipped: bool) -> bytes:
    """The rest of the open file ``raw``, decompressed where ``gzipped``, with the errors of
    :func:`_reading`."""
    with _reading(p):
        data = raw.read()
    if not gzipped:
        return data
    with _reading(p, gzipped=True):
        return gzip.decompress(data)


@contextlib.contextmanager
def _opened(p: Path) -> Iterator[tuple[BinaryIO, bool]]:
    """``p`` open as it lies on disk, and whether it starts with the gzip magic bytes."""
    with _reading(p):
        raw = p.open("rb")
    with raw:
        with _reading(p):
            gzipped = raw.peek(len(GZIP_MAGIC)).startswith(GZIP_MAGIC)
        yield raw, gzipped


@contextlib.contextmanager
def _reading(p: Path, gzipped: bool = False) -> Iterator[None]:
    """Turn the errors of reading ``p`` into a DataNotFoundError or a DataError naming it."""
    try:
        yield
    except FileNotFoundError:
        raise DataNotFoundError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise folder_error(p) from None
    except (OSError, EOFError, zlib.error) as e:
        problem = "corrupt gzip stream" if gzipped else "cannot read"
        raise DataError(f"{p}: {problem} ({e})") from e


def folder_error(path: PathLike) -> DataError:
    """The error for a folder given where a data file is expected."""
    return DataError(f"{path} is a folder, not a data file; name a file in it")
