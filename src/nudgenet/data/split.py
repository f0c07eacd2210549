"""Split arrays into a training and a test part, at random, optionally keeping class shares; and
the rows ``fit`` holds back for validation."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ..backend import SeedLike, generator
from ..errors import ShapeError


def train_test_split(
    *arrays: ArrayLike,
    test_size: float | int = 0.2,
    seed: SeedLike = None,
    shuffle: bool = True,
    stratify: ArrayLike | None = None,
) -> list[np.ndarray]:
    """Split each array along its first dimension into train and test rows (as scikit-learn).

    The same rows go to the test part of every array. ``test_size`` is a fraction in (0, 1)
    (the test part gets ``ceil(test_size · N)`` rows) or a row count; both parts must be
    non-empty. With ``shuffle`` the rows are drawn at random from ``seed``; without it the last
    rows are the test part. ``stratify`` (labels, one per row) keeps each class's share in both
    parts as closely as whole counts allow; every class needs at least two rows.

    Returns:
        ``[a_train, a_test, b_train, b_test, ...]`` in the order of ``arrays``.

    Raises:
        ShapeError: the arrays (or ``stratify``) differ in length; the message lists the lengths.
        ValueError: a bad ``test_size``, ``stratify`` without ``shuffle``, or a class with one row.

    >>> x, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=2, shuffle=False)
    >>> x_test.tolist(), y_train.tolist()
    ([[6, 7], [8, 9]], [0, 1, 2])
    """
    if not arrays:
        raise TypeError("train_test_split() needs at least one array")
    arrs = [np.asarray(a) for a in arrays]
    lengths = [a.shape[0] if a.ndim else None for a in arrs]
    if None in lengths or len(set(lengths)) != 1:
        raise ShapeError(
            f"train_test_split: all arrays need the same length (first dimension), got lengths "
            f"{lengths} for shapes {[a.shape for a in arrs]}"
        )
    n = arrs[0].shape[0]
    n_test = _test_count(test_size, n)
    if stratify is not None:
        if not shuffle:
            raise ValueError("stratify needs shuffle=True")
        train, test = _stratified(np.asarray(stratify), n, n_test, generator(seed))
    else:
        order = generator(seed).permutation(n) if shuffle else np.arange(n)
        train, test = order[: n - n_test], order[n - n_test :]
    return [part for a in arrs for part in (a[train], a[test])]


VALIDATION_SPLIT_MODES = ("last", "shuffle", "stratify")


def validation_split_rows(
    n: int, held: int, mode: str = "last", labels: ArrayLike | None = None, seed: SeedLike = None
) -> tuple[slice | np.ndarray, slice | np.ndarray]:
    """The training and the validation rows out of ``n`` when ``held`` of them are held back.

    ``mode``: ``"last"`` the last rows as given (Keras's ``validation_split``; slices, so no
    copy), ``"shuffle"`` rows drawn at random from ``seed``, ``"stratify"`` drawn keeping each
    class's share of ``labels`` (as :func:`train_test_split`'s ``stratify``).

    >>> validation_split_rows(5, 2)
    (slice(0, 3, None), slice(3, 5, None))
    """
    if mode not in VALIDATION_SPLIT_MODES:
        raise ValueError(
            f"validation_split_mode must be one of {', '.join(VALIDATION_SPLIT_MODES)}, "
            f"got {mode!r}"
        )
    if mode == "last":
        return slice(0, n - held), slice(n - held, n)
    stratify = labels if mode == "stratify" else None
    train, test = train_test_split(np.arange(n), test_size=held, seed=seed, stratify=stratify)
    return train, test


def unshared_classes(y_fit: np.ndarray, y_val: np.ndarray) -> str:
    """What is wrong with the classes of validation labels ``y_val`` beside the training labels
    ``y_fit`` (``"hold classes [2] that the training rows lack"``, and/or ``"lack classes
    [0, 1] that the training rows hold"``); ``""`` when both hold the same classes, or when the
    labels are not one column of whole numbers (values, probabilities)."""
    if y_fit.ndim != 1 or y_fit.dtype.kind not in "iub":
        return ""
    fitted, validated = set(np.unique(y_fit).tolist()), set(np.unique(y_val).tolist())
    return " and ".join(
        f"{verb} classes {sorted(classes)[:10]} that the training rows {what}"
        for verb, classes, what in (
            ("hold", validated - fitted, "lack"),
            ("lack", fitted - validated, "hold"),
        )
        if classes
    )


def _test_count(test_size: float | int, n: int) -> int:
    """The number of test rows ``test_size`` asks for out of ``n``."""
    if isinstance(test_size, bool) or not isinstance(test_size, int | float | np.number):
        raise TypeError(f"test_size must be a fraction or a row count, got {test_size!r}")
    if isinstance(test_size, int | np.integer):
        n_test = int(test_size)
    elif 0 < test_size < 1:
        n_test = math.ceil(test_size * n)
    else:
        raise ValueError(f"test_size as a fraction must be in (0, 1), got {test_size}")
    if not 0 < n_test < n:
        raise ValueError(
            f"test_size={test_size} gives {n_test} test rows out of {n}; "
            "the train and test parts each need at least one row"
        )
    return n_test


def _stratified(
    labels: np.ndarray, n: int, n_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices with each class's test share proportional to its size.

    Each class gets ``floor(n_test · count / n)`` test rows; the rows still missing go to the
    classes with the largest remainders (ties: the smaller class first).
    """
    if labels.ndim == 0 or labels.shape[0] != n:
        raise ShapeError(f"stratify has shape {labels.shape}, expected {n} labels like the arrays")
    classes, codes, counts = np.unique(labels, axis=0, return_inverse=True, return_counts=True)
    if counts.min() < 2:
        rare = classes[counts.argmin()].tolist()
        raise ValueError(
            f"stratify: class {rare!r} has only 1 row; every class needs at least 2 to appear in "
            "both parts"
        )
    share = n_test * counts / n
    per_class = np.floor(share).astype(np.int64)
    largest_remainders = np.argsort(per_class - share, kind="stable")
    per_class[largest_remainders[: n_test - per_class.sum()]] += 1
    codes = codes.reshape(-1)
    train, test = [], []
    for k, k_test in enumerate(per_class):
        rows = rng.permutation(np.flatnonzero(codes == k))
        test.append(rows[:k_test])
        train.append(rows[k_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
