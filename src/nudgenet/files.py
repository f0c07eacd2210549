"""Writing files safely: whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_this_process_writes = True


def may_write() -> bool:
    """Whether this process writes the run's files (models, checkpoints, logs) and prints its
    lines (progress, callbacks' messages): False on a data-parallel rank other than 0, which
    computes but leaves writing and printing to rank 0."""
    return _this_process_writes


def set_may_write(allowed: bool) -> bool:
    """Set what :func:`may_write` answers; returns the previous answer (to restore it)."""
    global _this_process_writes
    previous, _this_process_writes = _this_process_writes, bool(allowed)
    return previous


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``
    (:func:`atomic_file`).

    A reader sees either the old file or the complete new one, never a partial write; an
    interrupted write leaves no temporary file behind. Missing parent folders are created.
    The file gets the usual permissions (``0o666`` less the umask).
    """
    with atomic_file(path) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through, for data too large to hold in memory at once:
    a temporary file in the same folder, flushed, fsynced and renamed over ``path`` when the
    block ends, removed when it raises (the rules of :func:`write_atomic`)."""
    p = Path(path)
    if p.is_dir():  # else os.replace's error, naming the temporary file
        raise IsADirectoryError(f"{path} is a folder; expected the path of a file to write")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sorted_header(blob: bytes) -> bytes:
    """The safetensors file ``blob`` with its JSON header's keys sorted, so the same tensors and
    metadata always give the same bytes (the safetensors library writes the metadata in a
    hash map's order, which changes from one process to the next).  The header stays padded
    with spaces to a multiple of 8 bytes; the tensors' offsets, counted from its end, hold."""
    size = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + size])
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + blob[8 + size :]
