"""CSV columns read but not used as features: columns to ignore (a row ID, a note) and the
column of row weights, named as the label column is (by header name, or by index from 0 in a
file without a header); and which feature columns look like a row ID, for a note."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from ._io import PathLike
from .column_names import alike_hint, check_named_once, comma_hint, named_column
from .csv_cells import column_shown

ID_NAMES = ("id", "index", "row", "row_id", "rowid", "idx", "#")  # a row ID's names, any case


def unused_indices(
    path: PathLike,
    header: list[str] | None,
    n_columns: int,
    label: int | None,
    ignore: Sequence[str | int] | str | int = (),
    weight: str | int | None = None,
) -> tuple[list[int], int | None]:
    """The indices of the columns to ``ignore`` and of the ``weight`` column (None: none), of a
    CSV file of ``n_columns`` whose label column is ``label``; a DataError where one is no column
    of the file (naming its columns), is the label column, is both ignored and the weights, or
    where no feature column would be left."""
    ignored = sorted({_index(path, header, n_columns, name, "to ignore", "ignore_columns")
                      for name in _one_or_many(ignore)})  # fmt: skip
    col = None if weight is None else _index(path, header, n_columns, weight,
                                             "to weigh rows by", "weight_column")  # fmt: skip
    for j in [*ignored, col]:
        if j is not None and j == label:
            raise DataError(f"{path}: column {_shown(header, j)} is the label column; it cannot "
                            "be ignored or hold the row weights too")  # fmt: skip
    if col is not None and col in ignored:
        raise DataError(f"{path}: column {_shown(header, col)} is ignored and holds the row "
                        "weights; name it once")  # fmt: skip
    used = n_columns - len(ignored) - (col is not None) - (label is not None)
    if (ignored or col is not None) and used < 1:
        raise DataError(f"{path}: no feature column is left once the ignored columns and the "
                        f"weights are left out; the columns are {header or n_columns}")  # fmt: skip
    return ignored, col


def _one_or_many(ignore) -> list:
    """The columns to ignore: one name or index is that column (as pandas' ``drop(columns=)``
    takes it), not a name's letters; else a TypeError unless they are a list of columns."""
    if isinstance(ignore, str | int | np.integer):
        return [ignore]
    try:
        return list(ignore)
    except TypeError:
        raise TypeError(f"ignore_columns must be column names or int indices, or one of them, "
                        f"got {type(ignore).__name__}") from None  # fmt: skip


def _index(path: PathLike, header: list[str] | None, n_columns: int, name, role: str,
           option: str) -> int:  # fmt: skip
    """The index of the column ``name`` (a header name, or an index from 0, negative from the
    end) of a CSV file; a TypeError naming ``option`` where ``name`` is neither."""
    if isinstance(name, bool) or not isinstance(name, str | int | np.integer):
        raise TypeError(f"{option} must name columns by name or int index, got "
                        f"{type(name).__name__} {name!r}")  # fmt: skip
    if isinstance(name, str):
        col = None if header is None else named_column(header, name)
        if col is None:
            split = comma_hint(header, name) if header and option == "ignore_columns" else ""
            columns = (f"the columns are {header}{alike_hint(header, name) or split}" if header
                       else "the file has no header row: name columns by index from 0")
            raise DataError(f"{path}: no column named {name!r} {role}; {columns}")
        check_named_once(path, header, name, f"the column {role}")
        return col
    if not -n_columns <= name < n_columns:
        raise DataError(f"{path}: no column at index {name} {role}; the file has {n_columns} "
                        f"columns (indices 0..{n_columns - 1})")  # fmt: skip
    return int(name) % n_columns


def _shown(header: list[str] | None, j: int) -> str:
    return column_shown(header[j] if header is not None else j)


def first_negative(weights: np.ndarray) -> int | None:
    """The row of the first weight below 0 (None: none), the one rule of a row's weight (NaN and
    infinity are refused as every cell's are)."""
    negative = np.flatnonzero(weights < 0)
    return int(negative[0]) if len(negative) else None


def row_id_columns(names: Sequence[str], x: np.ndarray) -> list[str]:
    """The feature columns (``names``, ``x``'s columns) that look like a row ID: named as in
    :data:`ID_NAMES` (any case), or holding the row numbers 1..n or 0..n-1, each once (in file
    order or shuffled), which tell a model the rows' order in the file, not what they hold."""
    low, high = (x.min(axis=0), x.max(axis=0)) if len(x) > 2 else (np.ones(0), np.ones(0))
    spans = np.flatnonzero(np.isin(low, (0, 1)) & (high - low == len(x) - 1))  # (sorted: those)
    counted = [j for j in spans.tolist()
               if np.array_equal(np.sort(x[:, j]), np.arange(len(x)) + low[j])]  # fmt: skip
    return [name for j, name in enumerate(names) if name.lower() in ID_NAMES or j in counted]
