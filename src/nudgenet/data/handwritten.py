"""Handwritten-digit data sets: MNIST (local files or a verified download) and the bundled UCI
8×8 digits."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DataError, DataNotFoundError
from ._io import PathLike
from .download import RemoteFile, cache_dir
from .download import download as download_file
from .idx import load_idx_pair
from .userdata import load_arrays

MNIST_ENV = "NUDGENET_DATA"
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# Official MD5s (as published with MNIST) and the SHA-256s every major mirror agrees on.
_MNIST_FILES = {
    f.name: f
    for f in (
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            9_912_422,
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            28_881,
            "d53e105ee54ea40749a09fcbcd1e9432",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            1_648_877,
            "9fb629c4189551a2d022fa330f9573f3",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            4_542,
            "ec29112dd5afa0611ce80d1b7f02629c",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    )
}
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def mnist(
    split: str = "train", data_dir: PathLike | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST handwritten digits: ``split="train"`` (60,000 images) or ``"test"`` (10,000).

    Where the files are looked for, in order (each folder may hold the four standard files
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each gzip-compressed or not, with or without ``.gz``):

    1. ``data_dir``, or its ``mnist/`` subfolder;
    2. the folder in the environment variable ``NUDGENET_DATA``, or its ``mnist/`` subfolder;
    3. the cache folder ``$XDG_CACHE_HOME/nudgenet/mnist`` (default ``~/.cache/nudgenet/mnist``).

    Local files are validated by their IDX headers and sizes (images must be 28×28, labels 0..9,
    equal counts); they need not be the original ``.gz`` bytes. When the split's pair is found
    nowhere and ``download`` is true, the official ``.gz`` files are downloaded into the cache
    folder, and used only once their size, MD5 and SHA-256 match the published values.

    Returns:
        ``x``: float32 ``(N, 784)`` in [0, 1]; ``y``: int64 ``(N,)`` in 0..9.

    Raises:
        ValueError: ``split`` is neither "train" nor "test".
        DataNotFoundError: the split's files are found nowhere and ``download`` is false (the
            message says where it looked and how to point at the files).
        DataError: invalid or inconsistent files (the message names the file), or a failed
            download.
    """
    if split not in _SPLIT_PREFIX:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    prefix = _SPLIT_PREFIX[split]
    names = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    folders = _search_folders(data_dir)
    for folder in folders:
        found = [_find(folder, name) for name in names]
        if found[0] and found[1]:
            return _load_mnist(found[0], found[1])
    help_text = _not_found(split, names, folders)
    if not download:
        raise DataNotFoundError(f"{help_text}, or pass download=True to download them")
    cache = cache_dir("mnist")
    try:
        paths = [
            _find(cache, n) or download_file(_MNIST_FILES[f"{n}.gz"], MNIST_MIRRORS, cache)
            for n in names
        ]
    except DataError as e:
        raise DataError(f"{help_text}; downloading them failed: {e}") from e
    return _load_mnist(paths[0], paths[1])


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI 8×8 handwritten digits bundled with nudgenet: 1,797 images, 10 classes, offline.

    Each pixel counts the "on" pixels of a 4×4 block of a 32×32 bitmap (0..16); it is divided by
    16, so ``x`` lies in [0, 1]. Provenance and licence: ``DIGITS_LICENSE.md`` beside this module.

    Returns:
        ``x``: float32 ``(1797, 64)``; ``y``: int64 ``(1797,)`` in 0..9.

    >>> x, y = digits()
    >>> x.shape, x.dtype, y.shape, int(y.max())
    ((1797, 64), dtype('float32'), (1797,), 9)
    """
    bundled = resources.files(__package__) / "digits.csv.gz"
    with resources.as_file(bundled) as path:
        x, y = load_arrays(path)
    return x / np.float32(16), y


def _search_folders(data_dir: PathLike | None) -> list[Path]:
    """The folders to search, in order, without repeats."""
    roots = [Path(d).expanduser() for d in (data_dir, os.environ.get(MNIST_ENV)) if d]
    candidates = [f for root in roots for f in (root, root / "mnist")] + [cache_dir("mnist")]
    return list(dict.fromkeys(candidates))


def _find(folder: Path, name: str) -> Path | None:
    """``folder/name`` or ``folder/name.gz``, whichever is a file (raw first), else None."""
    return next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)


def _not_found(split: str, names: tuple[str, ...], folders: list[Path]) -> str:
    files = " and ".join(f"{n}[.gz]" for n in names)
    looked = ", ".join(str(f) for f in folders)
    return (
        f"MNIST {split!r} files {files} not found (looked in {looked}); point at a folder "
        f"holding them with --data-dir (data_dir= in Python) or the {MNIST_ENV} environment "
        "variable"
    )


def _load_mnist(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_idx_pair(images, labels, image_shape=(28, 28))
    if y.dtype != np.int64:
        raise DataError(f"{labels}: MNIST labels must be whole numbers 0..9, got {y.dtype} values")
    if y.size and not (y.min() >= 0 and y.max() <= 9):
        raise DataError(f"{labels}: MNIST labels must be 0..9, got {y.min()}..{y.max()}")
    if x.size and not (x.min() >= 0 and x.max() <= 1):
        raise DataError(
            f"{images}: MNIST pixels must lie in 0..1 (uint8 files: 0..255), got "
            f"{x.min()}..{x.max()}"
        )
    return x, y
