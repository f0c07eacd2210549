"""Which column of a CSV file holds the labels: by name (in any Unicode form, where one column
has it), by index, or ``"auto"`` (a column named as in :data:`LABEL_NAMES`, else the last column
of a file without a header)."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ._io import PathLike
from .column_names import alike_hint, check_named_once, named_column

LabelColumn = int | str | None
LABEL_NAMES = ("label", "target", "y", "class")  # what label_column="auto" looks for, any case


class NoLabelColumn(DataError):
    """The CSV file has no column by the label column's name (or no header row to name one),
    or ``"auto"`` recognises none, or several: the labels are not where they were looked for
    (unlike a file too narrow for a label column, or two columns of the name asked for)."""


def label_index(
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
        return _recognised(path, header, n_columns)
    if isinstance(label_column, str):
        if header is None:
            raise NoLabelColumn(
                f"{path}: the label column {label_column!r} is a name but the file has no "
                "header row; give the column's index instead (from 0; -1 is the last)"
            )
        if label_column not in header:  # the same name in another Unicode form, if only one
            if (col := named_column(header, label_column)) is not None:
                return col
            raise NoLabelColumn(f"{path}: no column named {label_column!r}; the header has "
                                f"{header}{alike_hint(header, label_column)}")  # fmt: skip
        check_named_once(path, header, label_column, "the label column")
        return header.index(label_column)
    if isinstance(label_column, bool) or not isinstance(label_column, int | np.integer):
        raise TypeError(
            f"label_column must be a column name, an int index or None, "
            f"got {type(label_column).__name__}"
        )
    if not -n_columns <= label_column < n_columns:
        raise DataError(
            f"{path}: label column index {label_column} is out of range for {n_columns} "
            f"columns (indices 0..{n_columns - 1}, or -1..-{n_columns} from the end)"
        )
    return int(label_column) % n_columns


def _recognised(path: PathLike, header: list[str] | None, n_columns: int) -> int:
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
    raise NoLabelColumn(
        f"{path}: which column holds the labels? {problem}; the columns are {header}: name "
        "one with --label-column (label_column= in Python)"
    )
