"""Verified downloads into nudgenet's cache folder.

Nothing downloaded is used before its size, MD5 and SHA-256 match the published values; a file
that passes is written atomically, so the cache never holds a partial or unverified file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..files import write_atomic


@dataclass(frozen=True)
class RemoteFile:
    """A file to download, with the size and digests it must have."""

    name: str
    size: int
    md5: str
    sha256: str


def cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/nudgenet/<parts>``; ``~/.cache/nudgenet/<parts>`` when XDG_CACHE_HOME is
    unset, empty or relative (as the XDG spec says)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "nudgenet", *parts)


def download(file: RemoteFile, mirrors: Sequence[str], folder: Path) -> Path:
    """Fetch ``file`` from the first mirror that serves it intact and write it to ``folder``.

    Each mirror is a URL prefix ending in ``/``; the file's URL is prefix + name. A mirror that
    fails (network error, wrong size or digest) is skipped for the next one.

    Returns:
        The path written, ``folder / file.name``.

    Raises:
        DataError: no mirror served a verified copy; the message lists each URL and its failure.
    """
    failures = []
    for prefix in mirrors:
        url = prefix + file.name
        try:
            data = _fetch(url)
        except (OSError, http.client.HTTPException) as e:  # URLError and timeouts are OSErrors
            failures.append(f"{url}: {e}")
            continue
        problem = _verification_problem(data, file)
        if problem:
            failures.append(f"{url}: {problem}")
            continue
        target = folder / file.name
        write_atomic(target, data)
        return target
    raise DataError(f"could not download {file.name}: " + "; ".join(failures))


def _fetch(url: str) -> bytes:
    """The body served at ``url``: nudgenet's only network access (tests replace it)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def _verification_problem(data: bytes, file: RemoteFile) -> str | None:
    """Why ``data`` is not a verified copy of ``file`` (size, then MD5, then SHA-256), or None."""
    if len(data) != file.size:
        return f"got {len(data)} bytes, expected {file.size}"
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if md5 != file.md5:
        return f"checksum mismatch: MD5 {md5}, expected {file.md5}"
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 != file.sha256:
        return f"checksum mismatch: SHA-256 {sha256}, expected {file.sha256}"
    return None
