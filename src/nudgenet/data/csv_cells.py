"""How a CSV file's cells are told apart: a number (as NumPy's reader reads one), a first row
that is a header (:func:`header_of`), a first row that counts its columns (pandas' default
column names), and the advice for a cell of text where a number belongs (:func:`text_hint`)."""

from __future__ import annotations

import re
import shlex

from ..errors import DataError
from ._io import PathLike


def is_number(cell: str) -> bool:
    """Whether NumPy's CSV reader reads ``cell`` as a number (Python's ``float`` also takes
    digit separators such as ``1_000`` and other scripts' digits such as ``١``; NumPy does
    not)."""
    try:
        float(cell)
    except ValueError:
        return False
    return "_" not in cell and cell.strip().isascii()


# pandas' marks of a missing value that are no number (its "NaN" and "nan" are; NumPy reads them)
MISSING = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "1.#IND", "1.#QNAN",
                     "<NA>", "N/A", "NA", "NULL", "None", "n/a", "null"})  # fmt: skip


def is_missing(cell: str) -> bool:
    """Whether ``cell`` marks a missing value (:data:`MISSING`), as pandas reads one."""
    return cell.strip() in MISSING


def header_of(path: PathLike, first: list[str], second: list[str] | None) -> list[str] | None:
    """The stripped cells of a CSV file's first row if it is a header, else None.

    The first row is a header when one of its cells is not a number where the next row has a
    number (a column name above values), so a first row whose only words are labels (``cat``,
    ``yes``) is data; a first row of names alone (no number, no missing value: a row of data
    holds numbers) is one above a missing value too (``NA``, an empty cell: :func:`is_missing`),
    so the error names that value, not the header; a missing value's mark (``NA``; an empty cell
    is :func:`_unnamed_column`'s) names no column, so a first row whose only words are such marks
    and labels is data; in a file of one row, names alone make it a header.
    A header names every column of numbers: a cell above one that is empty or pandas' name for
    a column without one (``Unnamed: 0``) is a DataError (:func:`_unnamed_column`), where it
    would otherwise be read as a feature (a row index), or the first row of data as a header."""
    if not any(cell.strip() for cell in first):
        if len(first) > 1:  # as between rows (csvfile's rows of empty cells)
            raise DataError(f"{path}: line 1: all {len(first)} cells are empty (a deleted "
                            "record?); delete the line or fill its cells")  # fmt: skip
        raise DataError(f"{path}: empty CSV file (no cells on the first line)")
    numbers = sum(map(is_number, first))
    words = [j for j, cell in enumerate(first)  # a missing value's mark (NA) names no column
             if not is_number(cell) and not (cell.strip() and is_missing(cell))]  # fmt: skip
    names = not numbers and not any(map(is_missing, first))
    if second is not None:
        words = [j for j in words if j < len(second)
                 and (is_number(second[j]) or names and is_missing(second[j]))]  # fmt: skip
    elif numbers:  # one row: a header holds names alone (0.5,abc,1 is data, its abc named)
        words = []
    if not words:
        return None
    header = [cell.strip() for cell in first]
    unnamed = [j for j in words if _UNNAMED.fullmatch(header[j])]
    if unnamed and second is not None:  # (a file of one row: no data rows, said as such)
        raise _unnamed_column(path, header, unnamed[0], words)
    return header


_UNNAMED = re.compile(r"|Unnamed: \d+")  # pandas reads an empty name as "Unnamed: <index>"


def _unnamed_column(path: PathLike, header: list[str], j: int, words: list[int]) -> DataError:
    """The error for the unnamed first-row cell ``j`` above a number (:func:`header_of`);
    ``words``: the first row's cells that are not numbers above numbers."""
    index = (" (a row index? pandas: to_csv(index=False); R: write.csv(row.names=FALSE))"
             if j == 0 else "")  # fmt: skip
    column = column_shown(j)  # (no name to show)
    if header[j] or any(header[k] for k in words if k != j):  # pandas' name, or other names
        named = f"is named {header[j]!r}, pandas' name for none," if header[j] else "has no name"
        return DataError(f"{path}: column {column} {named} in the header row{index}; a header "
                         "names every column")  # fmt: skip
    return DataError(f"{path}: line 1, column {column} is empty above numbers: a missing value, "
                     f"or a header's unnamed column{index}")  # fmt: skip


# pandas' column names of a DataFrame made from an array, the header to_csv writes by default
COUNTED = ("{path}: the first row ({row}) is read as data, as a first row of numbers or "
            "labels always is; if it is pandas' default column names, save with "
            "to_csv(header=False) or name the columns")  # fmt: skip


def counts_columns(cells: list[str]) -> bool:
    """Whether a row reads ``0,1,2,...`` over its first 3 cells or more, any cells after them
    words:
    pandas' column names of a DataFrame made from an array (``0,1,2`` from
    ``DataFrame(array).to_csv(index=False)``, ``0,1,2,species`` with a named column added), or
    a row of data (labels after features) that happens to read so."""
    counted = next((j for j, cell in enumerate(cells) if cell.strip() != str(j)), len(cells))
    return counted >= 3 and not any(is_number(cell) for cell in cells[counted:])


def shortened(cells: list[str]) -> str:
    """A row's stripped cells joined by commas, the middle of a long row left out."""
    cells = [cell.strip() for cell in cells]
    return ",".join(cells if len(cells) <= 6 else [*cells[:3], "...", *cells[-2:]])


def named(header: list[str] | None, j: int) -> str:
    """`` ('name')`` for column ``j`` of a file with a header, else `` (index j)``: messages
    count columns from 1, as editors do; options, a headerless file's by index from 0."""
    return f" ({header[j]!r})" if header is not None else f" (index {j})"


def column_shown(column: str | int) -> str:
    """A column in a message (after the word "column"): a header's name quoted, an index from
    0 counted from 1 with the index in brackets (``3 (index 2)``), the rule of :func:`named`; an
    index from the end (negative) as given."""
    if isinstance(column, str):
        return repr(column)
    return f"{column + 1} (index {column})" if column >= 0 else f"index {column}"


def text_hint(header: list[str] | None, j: int, cell: str, rows=()) -> str:
    """The advice added to the error of a ``cell`` of column ``j`` that is text (a letter in
    it, no missing value's mark): a category or an ID, which no feature may hold.  The column
    by name (quoted for a shell), or by index where its name holds a comma (which the option
    splits at).  Where the rest of the column is numbers (``rows``: the file's ``(line,
    cells)``, read on this error path only), the cell is a typo: correct it, keep the column."""
    if is_missing(cell) or not any(c.isalpha() for c in cell):
        return ""
    if _one_cell_not_a_number(rows, j):
        return "; every other cell of the column is a number: correct this one"
    name = shlex.quote(header[j]) if header is not None and "," not in header[j] else j
    return (f"; features are numbers: leave a column of text out (--ignore-columns {name}; "
            "ignore_columns in Python) or encode it as numbers")


def _one_cell_not_a_number(rows, j: int) -> bool:
    """Whether column ``j`` of ``rows`` (``(line, cells)``) holds numbers but in one cell (a
    missing value counted neither way); stops at the second that is no number.  A row that
    cannot be read (the file's own error, said where it is reached): False."""
    numbers, others = 0, 0
    try:
        for _, cells in rows:
            if is_number(cells[j]):
                numbers += 1
            elif not is_missing(cells[j]):
                others += 1
                if others > 1:
                    return False
    except DataError:
        return False
    return numbers > 0 and others == 1
