"""Class labels given as names (``cat``/``dog``, ``yes``/``no``): encoded as scikit-learn's
``LabelEncoder`` does, the sorted names numbered 0, 1, ..., k-1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from ._convert import whole


def is_text(labels: np.ndarray) -> bool:
    """Whether ``labels`` are names (a string array) rather than numbers."""
    return labels.dtype.kind in "US"


def encode_labels(
    labels: np.ndarray, classes: Sequence[str] | None = None, source: object = "labels"
) -> tuple[np.ndarray, list[str]]:
    """``(codes, classes)``: each label's index in ``classes``, int64, and the class names.

    ``classes`` None: the labels' distinct names, sorted (LabelEncoder's ``classes_``); given (a
    saved model's class names): the labels are looked up in it, so a file that lacks a class
    keeps the numbering of the data the model was trained on.  Names are compared as text with
    surrounding whitespace removed; whole-number labels are named by their digits (``3`` is
    ``"3"``), which is how a model trained on numeric labels names its classes.

    Raises:
        DataError: a label not among ``classes`` (the message names it and the classes), or a
            label that is not a whole number nor a name.
    """
    names = _names(labels, source)
    if classes is None or len(classes) == 0:
        _refuse_numbers_with_gaps(names, source)
        classes, codes = np.unique(names, return_inverse=True)
        return codes.reshape(-1).astype(np.int64), [str(c) for c in classes]
    known = np.asarray([str(c) for c in classes])
    order = np.argsort(known, kind="stable")
    found = np.searchsorted(known[order], names).clip(max=len(known) - 1)
    missing = known[order][found] != names
    if missing.any():
        first = str(names[np.argmax(missing)])
        raise DataError(
            f"{source}: label {first!r} is not one of the model's classes "
            f"({', '.join(map(str, classes))})"
        )
    return order[found].astype(np.int64), list(map(str, classes))


def _refuse_numbers_with_gaps(names: np.ndarray, source: object) -> None:
    """A DataError for a column of numbers with a few cells that are not (``NA``, ``?``, ``-``):
    read as names, every distinct number would become a class of its own."""
    numbers = np.array([_is_number(name) for name in names.tolist()], dtype=bool)
    if numbers.all() or numbers.mean() < 0.9:
        return
    odd = sorted(set(names[~numbers].tolist()))
    raise DataError(
        f"{source}: the labels are numbers but for {int((~numbers).sum())} of {len(names)} rows "
        f"({', '.join(map(repr, odd[:3]))}): missing values? Remove or fill those rows"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _names(labels: np.ndarray, source: object) -> np.ndarray:
    """The labels as a string array of names."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"{source}: class labels must be one column, got shape {labels.shape}")
    if is_text(labels):
        return np.char.strip(labels.astype(str))
    if labels.dtype.kind in "biu":
        return labels.astype(np.int64).astype(str)
    whole_labels = whole(labels) if labels.dtype.kind == "f" else np.zeros(labels.shape, bool)
    if not whole_labels.all():
        raise DataError(
            f"{source}: class labels must be names or whole numbers, got {labels.dtype} values "
            f"such as {labels[np.argmin(whole_labels)]!s}"  # as its dtype prints it: 0.6728
        )
    return labels.astype(np.int64).astype(str)
