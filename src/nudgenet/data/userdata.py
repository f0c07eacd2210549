"""Load a user's own data set from one file: ``.npz``, ``.csv`` or (features only) ``.npy``
(IDX pairs: see ``idx``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._convert import as_features, as_labels, require_finite
from ._io import PathLike, folder_error, open_seekable, read_bytes
from ._npy import FEATURES_WITH_LABELS, read_npy, read_npz
from .csvfile import CSV_SUFFIXES, read_csv
from .label_column import LabelColumn
from .labels import encode_labels, is_text

_X_KEYS = ("x", "X")
_Y_KEYS = ("y", "Y")
# the file types load_arrays reads, by the end of their names
NPZ_SUFFIXES = (".npz", ".npz.gz")
TABLE_SUFFIXES = (*NPZ_SUFFIXES, *CSV_SUFFIXES, ".npy")


def reads_as_table(path: PathLike) -> bool:
    """Whether :func:`load_arrays` reads ``path`` by its name (:data:`TABLE_SUFFIXES`), as
    opposed to an IDX file (whose name need not say so)."""
    return str(path).lower().endswith(TABLE_SUFFIXES)


def load_arrays(
    path: PathLike,
    label_column: LabelColumn = -1,
    classes: Sequence[str] | None = None,
    return_classes: bool = False,
    read_labels: bool = True,
    ignore_columns: Sequence[str | int] | str | int = (),
    weight_column: str | int | None = None,
) -> tuple:
    """Load ``(x, y)`` from an ``.npz`` or ``.csv`` file (either may be gzip-compressed), or
    features alone from an ``.npy`` file (``label_column=None``); with ``return_classes``,
    ``(x, y, classes)``; with ``weight_column``, the rows' weights after those.
    ``read_labels=False``: a CSV file's label column is dropped unread (``y`` None), so rows to
    predict from load whatever it holds (blank cells, say).

    Rules:

    * ``.npz`` (arrays of Python objects, which need pickle, are refused): features under key
      ``x`` (or ``X``), labels under ``y`` (or ``Y``). ``label_column`` must be left at ``-1``
      (or ``"auto"``), or be ``None`` to load features only.
    * ``.csv`` / ``.csv.gz``: comma-separated numbers, one sample per row. The first row is a header
      when any of its cells is not a number above a number (a row of names alone: above a missing
      value too, ``NA`` or an empty cell, so the error names that value); a header names every
      column of numbers (an unnamed one, as pandas' row index, is an error); a first row of numbers
      is data (a UserWarning where it counts ``0,1,2,...``: pandas' default names). ``label_column``
      picks the label column by header name or by index (negative counts from the end; default: the
      last column); every other column is a feature. ``None``: no label column. ``"auto"``: with a
      header, the one column named ``label``, ``target``, ``y`` or ``class`` (any case), else an
      error listing the columns; without a header, the last column.
      :func:`~nudgenet.data.resolve_label_column` says which column that is.  Labels may be names
      (``cat``, ``"yes"``, quoted or not; surrounding spaces are dropped): see *Class names* below.
      ``ignore_columns`` (names or indices, as ``label_column``; one alone is one column) are no
      features and are not read (a row ID, a note); ``weight_column`` holds each row's weight (a
      number >= 0), no feature either.  Blank lines are skipped, as pandas skips them; a line of
      empty cells (``,,,``) between rows is an error naming it, as a line with one empty cell
      is (after the last row, a spreadsheet's blank rows below its table, skipped).
    * ``.npy`` (no object arrays either): one array of rows, features only.
    * Every feature and label must be finite: NaN or infinity (a missing value) is an error.
    * For an IDX image/label pair use :func:`nudgenet.data.load_idx_pair`.

    Class names: labels that are names (a CSV label column with any cell that is not a number,
    or an ``.npz`` string array) are encoded as scikit-learn's ``LabelEncoder`` does: the sorted
    names are the classes, ``y`` holds each row's index in them.  ``classes`` (e.g. those of the
    file a model was trained on) encodes the labels with those names instead, so a file that
    lacks a class keeps the same numbering; whole-number labels are then matched by their digits
    too (``3`` is class ``"3"``), and a label not in ``classes`` is an error.  ``return_classes``
    returns the class names as a third value: the names (or ``list(classes)`` when given), or
    ``None`` for numeric labels, which are returned as they are.

    Returns:
        ``x``: float32 ``(N, features)`` (an ``.npz`` array of shape ``(N, ...)`` is flattened;
        uint8 data is scaled to [0, 1]). ``y``: int64 when every label is a whole number or a
        name, else float32; ``None`` when ``label_column`` is ``None``.  With
        ``return_classes``: also the class names (see above).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pets.csv"
    >>> _ = path.write_text('weight,kind\\n4.0,cat\\n30.5, dog\\n3.2,"cat"\\n')
    >>> x, y, classes = load_arrays(path, "kind", return_classes=True)
    >>> y.tolist(), classes
    ([0, 1, 0], ['cat', 'dog'])

    Raises:
        DataError: unreadable or unsupported file (or a folder), missing keys (the message
            lists the keys found), a non-numeric feature or an empty cell (the message names
            line and column), a ragged row, an unknown label column, NaN or infinite values or
            values beyond float32's range (the message names the first's sample and column; a
            CSV feature's, as its other cells: line and column),
            ``x`` and ``y`` of different lengths, or a label not in ``classes``.
    """
    name = str(path).lower()
    if Path(path).is_dir():
        raise folder_error(path)
    if (ignore_columns or weight_column is not None) and not name.endswith(CSV_SUFFIXES):
        raise DataError(f"{path}: ignored and weight columns are columns of a CSV file; this "
                        "file has no columns by name or index")  # fmt: skip
    if name.endswith(NPZ_SUFFIXES):
        if label_column not in (-1, "auto", None):
            raise ValueError(
                f"{path}: a label column ({label_column!r}) applies to CSV files; an .npz file "
                "keeps its labels under key 'y'"
            )
        x, y = _read_npz(path, labels=label_column is not None)
        weights = None
    elif name.endswith(CSV_SUFFIXES):
        x, y, weights = read_csv(path, read_bytes(path), label_column, read_labels,
                                 ignore_columns, weight_column)  # fmt: skip
    elif name.endswith(".npy") and label_column is None:
        x, y, weights = _read_npy(path), None, None
    elif name.endswith(".npy"):
        raise DataError(
            f"{path}: an .npy file holds one array, features only, no labels; "
            f"{FEATURES_WITH_LABELS}"
        )
    else:
        raise DataError(
            f"{path}: unsupported file type; expected .npz or .csv (optionally .gz), or .npy "
            "for features only; an IDX image/label pair needs its labels file too (--labels on "
            "the command line, load_idx_pair in Python)"
        )
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"{path}: features must have at least one row, got shape {x.shape}")
    if y is not None and (y.ndim == 0 or len(y) != len(x)):
        raise DataError(f"{path}: x has {len(x)} rows but y has shape {y.shape}")
    features = require_finite(path, "x", as_features(x, path))
    if y is not None and not is_text(y):
        y = require_finite(path, "y", as_labels(y, path))
    names = None
    if y is not None and (is_text(y) or (classes is not None and len(classes))):
        y, names = encode_labels(y, classes, path)
    found = (features, y, names) if return_classes else (features, y)
    return found if weight_column is None else (*found, weights)


def _read_npy(path: PathLike) -> np.ndarray:
    """The one array of an ``.npy`` file; a 1-D array is one sample."""
    with open_seekable(path) as f:
        x = read_npy(f, f.seek(0, 2) - f.seek(0), path)
    return x.reshape(1, -1) if x.ndim == 1 else x


def _read_npz(path: PathLike, labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``x`` and (when ``labels``) ``y`` arrays of an ``.npz`` archive, read from the file
    (each array's bytes once in memory, not the file's too)."""
    with open_seekable(path) as f:
        start = f.read(6)
        if start.startswith(b"\x93NUMPY"):
            raise DataError(f"{path}: holds a single .npy array, not an .npz archive")
        if not start.startswith(b"PK"):
            raise DataError(f"{path}: not an .npz (zip) archive")
        keys, (x, y) = read_npz(f, [_X_KEYS, _Y_KEYS if labels else ()], path)
    if x is None:
        raise DataError(f"{path}: no features: expected key 'x' (or 'X'), found keys {keys}")
    if labels and y is None:
        raise DataError(
            f"{path}: no labels: expected key 'y' (or 'Y'), found keys {keys} (features only: "
            "label_column=None in Python)"
        )
    return x, y
