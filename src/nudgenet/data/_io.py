"""Byte-level file plumbing for ``nudgenet.data``: read a file that may be gzip-compressed."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

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
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DataNotFoundError(f"{p}: no such file") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e})") from e
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{p}: corrupt gzip stream ({e})") from e
