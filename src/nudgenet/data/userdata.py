"""Load a user's own data set from one file: ``.npz``, ``.csv`` or (features only) ``.npy``
(IDX pairs: see ``idx``)."""

from __future__ import annotations

import csv
import io
import warnings
import zipfile

import numpy as np

from ..errors import DataError
from ._convert import as_features, as_labels, require_finite
from ._io import PathLike, open_bytes, read_bytes

LabelColumn = int | str | None
LABEL_NAMES = ("label", "target", "y", "class")  # what label_column="auto" looks for, any case

_X_KEYS = ("x", "X")
_Y_KEYS = ("y", "Y")


def load_arrays(
    path: PathLike, label_column: LabelColumn = -1
) -> tuple[np.ndarray, np.ndarray | None]:
    """Load ``(x, y)`` from an ``.npz`` or ``.csv`` file (either may be gzip-compressed), or
    features alone from an ``.npy`` file (``label_column=None``).

    Rules:

    * ``.npz`` (loaded with ``allow_pickle=False``): features under key ``x`` (or ``X``), labels
      under ``y`` (or ``Y``). ``label_column`` must be left at ``-1`` (or ``"auto"``), or be
      ``None`` to load features only.
    * ``.csv`` / ``.csv.gz``: comma-separated numbers, one sample per row. The first row is a
      header when any of its cells is not a number. ``label_column`` picks the label column by
      header name or by index (negative counts from the end; default: the last column); every
      other column is a feature. ``None``: no label column. ``"auto"``: with a header, the one
      column named ``label``, ``target``, ``y`` or ``class`` (any case), else an error listing
      the columns; without a header, the last column.
      :func:`resolve_label_column` says which column that is.
    * ``.npy`` (loaded with ``allow_pickle=False``): one array of rows, features only.
    * Every feature and label must be finite: NaN or infinity (a missing value) is an error.
    * For an IDX image/label pair use :func:`nudgenet.data.load_idx_pair`.

    Returns:
        ``x``: float32 ``(N, features)`` (an ``.npz`` array of shape ``(N, ...)`` is flattened;
        uint8 data is scaled to [0, 1]). ``y``: int64 when every label is a whole number, else
        float32; ``None`` when ``label_column`` is ``None``.

    Raises:
        DataError: unreadable or unsupported file, missing keys (the message lists the keys
            found), a non-numeric or empty cell (the message names line and column), a ragged
            row, an unknown label column, NaN or infinite values, or ``x`` and ``y`` of
            different lengths.
    """
    name = str(path).lower()
    if name.endswith((".npz", ".npz.gz")):
        if label_column not in (-1, "auto", None):
            raise ValueError(
                f"{path}: a label column ({label_column!r}) applies to CSV files; an .npz file "
                "keeps its labels under key 'y'"
            )
        x, y = _read_npz(path, labels=label_column is not None)
    elif name.endswith((".csv", ".csv.gz")):
        x, y = _read_csv(path, label_column)
    elif name.endswith(".npy") and label_column is None:
        x, y = _read_npy(path), None
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
    features = require_finite(path, "x", as_features(x))
    return features, None if y is None else require_finite(path, "y", as_labels(y))


def _read_npy(path: PathLike) -> np.ndarray:
    """The one array of an ``.npy`` file; a 1-D array is one sample."""
    try:
        x = np.load(io.BytesIO(read_bytes(path)), allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npy array of numbers ({e})") from None
    return x.reshape(1, -1) if x.ndim == 1 else x


def _read_npz(path: PathLike, labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``x`` and (when ``labels``) ``y`` arrays of an ``.npz`` archive."""
    data = read_bytes(path)
    if data.startswith(b"\x93NUMPY"):
        raise DataError(f"{path}: holds a single .npy array, not an .npz archive")
    if not data.startswith(b"PK"):
        raise DataError(f"{path}: not an .npz (zip) archive")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            keys = list(archive.files)
            x_key, y_key = _first_present(keys, _X_KEYS), _first_present(keys, _Y_KEYS)
            x = None if x_key is None else archive[x_key]
            y = None if y_key is None or not labels else archive[y_key]
    except (OSError, ValueError, zipfile.BadZipFile) as e:  # pickled/object data, a broken zip
        raise DataError(f"{path}: cannot read as an .npz archive of numeric arrays") from e
    if x is None:
        raise DataError(f"{path}: no features: expected key 'x' (or 'X'), found keys {keys}")
    if labels and y is None:
        raise DataError(
            f"{path}: no labels: expected key 'y' (or 'Y'), found keys {keys} (features only: "
            "label_column=None in Python)"
        )
    return x, y


def _first_present(keys: list[str], wanted: tuple[str, ...]) -> str | None:
    return next((k for k in wanted if k in keys), None)


def _read_csv(path: PathLike, label_column: LabelColumn) -> tuple[np.ndarray, np.ndarray | None]:
    """Features and labels of a CSV file (see :func:`load_arrays` for the rules)."""
    text, first, header = _csv_start(path)
    col = _label_index(path, label_column, header, len(first))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked below
            table = np.loadtxt(
                io.StringIO(text),
                delimiter=",",
                skiprows=0 if header is None else 1,
                comments=None,
                quotechar='"',
                ndmin=2,
                dtype=np.float64,
            )
    except ValueError as e:
        _raise_bad_cell(path, text, header, len(first))
        raise DataError(f"{path}: cannot parse as CSV ({e})") from e
    if table.shape[0] == 0:
        raise DataError(f"{path}: no data rows after the header")
    if col is None:
        return table, None
    return np.delete(table, col, axis=1), table[:, col]


def resolve_label_column(path: PathLike, label_column: LabelColumn = "auto") -> int | str | None:
    """The column of a CSV file that ``load_arrays(path, label_column)`` takes the labels from:
    its name when the file has a header row where no other column has that name, else its index
    (from 0); ``None`` for other file types or ``label_column=None``.  Reads the file only as far
    as its first row.

    Raises:
        DataError: as :func:`load_arrays` would for this label column (no such column, no
            column that ``"auto"`` recognises, an unreadable file).
    """
    if label_column is None or not str(path).lower().endswith((".csv", ".csv.gz")):
        return None
    try:
        with open_bytes(path) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
            first = next(csv.reader(text), [])
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from e
    header = _header(path, first)
    col = _label_index(path, label_column, header, len(first))
    if header is None or col is None or header.count(header[col]) > 1:
        return col
    return header[col]


def _csv_start(path: PathLike) -> tuple[str, list[str], list[str] | None]:
    """A CSV file's text, its first row, and that row's stripped cells if it is a header."""
    try:
        text = read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from e
    first = next(csv.reader(io.StringIO(text)), [])
    return text, first, _header(path, first)


def _not_utf8(path: PathLike, error: UnicodeDecodeError) -> DataError:
    return DataError(f"{path}: not a UTF-8 text file ({error})")


def _header(path: PathLike, first: list[str]) -> list[str] | None:
    """The stripped cells of a CSV file's first row if it is a header (any cell not a number),
    else None."""
    if not any(cell.strip() for cell in first):
        raise DataError(f"{path}: empty CSV file (no cells on the first line)")
    return None if all(map(_is_number, first)) else [cell.strip() for cell in first]


def _is_number(cell: str) -> bool:
    """Whether NumPy's CSV reader reads ``cell`` as a number (Python's ``float`` also takes
    digit separators such as ``1_000``; NumPy does not)."""
    try:
        float(cell)
    except ValueError:
        return False
    return "_" not in cell


def _label_index(
    path: PathLike, label_column: LabelColumn, header: list[str] | None, n_columns: int
) -> int | None:
    """The non-negative index of the label column, or None for no labels."""
    if label_column is None:
        return None
    if n_columns < 2:
        raise DataError(
            f"{path}: has {n_columns} column; a label column needs at least one feature column "
            "beside it (features only: label_column=None in Python)"
        )
    if label_column == "auto" and not (header and "auto" in header):
        return _recognised_label_column(path, header, n_columns)
    if isinstance(label_column, str):
        if header is None:
            raise DataError(
                f"{path}: the label column {label_column!r} is a name but the file has no "
                "header row; give the column's index instead (from 0; -1 is the last)"
            )
        if label_column not in header:
            raise DataError(f"{path}: no column named {label_column!r}; the header has {header}")
        named = [k for k, name in enumerate(header) if name == label_column]
        if len(named) > 1:
            raise DataError(
                f"{path}: {len(named)} columns are named {label_column!r} "
                f"({', '.join(map(str, named))}); give the index of the label column instead"
            )
        return named[0]
    if isinstance(label_column, bool) or not isinstance(label_column, int | np.integer):
        raise TypeError(
            f"label_column must be a column name, an int index or None, "
            f"got {type(label_column).__name__}"
        )
    if not -n_columns <= label_column < n_columns:
        raise DataError(
            f"{path}: label column {label_column} is out of range for {n_columns} columns "
            f"(0..{n_columns - 1}, or -1..-{n_columns} from the end)"
        )
    return int(label_column) % n_columns


def _recognised_label_column(path: PathLike, header: list[str] | None, n_columns: int) -> int:
    """``label_column="auto"``: the last column of a file without a header; else the one column
    named as in :data:`LABEL_NAMES`."""
    if header is None:
        return n_columns - 1
    found = [name for name in header if name.lower() in LABEL_NAMES]
    if len(found) == 1:
        return header.index(found[0])
    problem = (
        f"several columns could hold them ({found})"
        if found
        else f"no column is named {', '.join(LABEL_NAMES)}"
    )
    raise DataError(
        f"{path}: which column holds the labels? {problem}; the columns are {header}: name "
        "one with --label-column (label_column= in Python)"
    )


def _raise_bad_cell(path: PathLike, text: str, header: list[str] | None, n_columns: int) -> None:
    """Raise a DataError naming the first ragged row or non-numeric cell, if there is one."""
    rows = csv.reader(io.StringIO(text))
    if header is not None:
        next(rows)
    for row in rows:
        line = rows.line_num
        if not row:
            continue
        if len(row) != n_columns:
            raise DataError(f"{path}: line {line} has {len(row)} cells, expected {n_columns}")
        for j, cell in enumerate(row):
            if not _is_number(cell):
                name = f" ({header[j]!r})" if header is not None else ""
                raise DataError(
                    f"{path}: line {line}, column {j + 1}{name}: {cell!r} is not a number"
                )
