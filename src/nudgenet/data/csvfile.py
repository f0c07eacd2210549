"""CSV files of numbers, one sample per row, with an optional header row and a label column
(numbers, or names such as ``cat``): how the header, the label column and each cell are read."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import re
import warnings
from collections.abc import Iterator

import numpy as np

from ..errors import DataError, caller_stacklevel
from . import separators
from ._io import PathLike, open_bytes
from .label_column import LabelColumn, label_index

_SPACED_QUOTE = re.compile(r'(?:^|,)[ \t]+"', re.MULTILINE)  # a cell's quote after spaces
# a line of blank cells (spaces of any kind, commas), which Python's reader skips as blank
_BLANK_LINE = re.compile(r"^[^\S\r\n]*(?:,[^\S\r\n]*)*(?=\r?$)", re.MULTILINE)


def read_csv(
    path: PathLike, raw: bytes, label_column: LabelColumn, read_labels: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Features and labels of the CSV file ``path`` whose content is ``raw`` (the rules:
    :func:`nudgenet.data.load_arrays`): the whole table at once when every cell is a number, else
    the features (numbers) and the label column's stripped cells (names).  ``read_labels``
    False: the features alone, the label column's cells unread (labels None)."""
    text, first, second, header = _csv_start(path, raw)
    n_columns = len(first)
    if header is None and counts_columns(first):
        warnings.warn(_COUNTED.format(path=path, row=_shortened(first)), UserWarning,
                      stacklevel=caller_stacklevel())  # fmt: skip
    col = label_index(path, label_column, header, n_columns)
    row = first if header is None else second  # the first data row (None: there is none)
    unread = col is not None and not read_labels
    try:
        if unread and row is not None and col < len(row) and not _is_number(row[col]):
            raise ValueError("the label column holds names or blanks")  # (read apart, below)
        table = _numbers(path, text, header, n_columns)
    except DataError:  # no data rows: said as it is
        raise
    except ValueError as e:
        if col is None:
            _raise_bad_cell(path, text, header, n_columns)
            raise DataError(f"{path}: cannot parse as CSV ({e})") from e
        if unread:  # labels that are names or blank, or a row of another width
            for _ in _data_rows(path, text, header, n_columns):  # the width: refused
                pass  # (NumPy's reader of some columns does not count the others)
            return _features_without(path, text, header, n_columns, col), None
        return _features_and_names(path, text, header, n_columns, col)
    if table.shape[1] != n_columns:  # every data row narrower or wider than the first row
        _raise_bad_cell(path, text, header, n_columns)
        raise DataError(f"{path}: the first row has {n_columns} cells, the others {table.shape[1]}")
    if unread:  # the label column unread: whatever it holds
        features = [j for j in range(n_columns) if j != col]
        return _check_finite(path, text, header, n_columns, np.delete(table, col, axis=1),
                             features), None  # fmt: skip
    _check_finite(path, text, header, n_columns, table, list(range(n_columns)))
    if col is None:
        return table, None
    return np.delete(table, col, axis=1), table[:, col]


# pandas' column names of a DataFrame made from an array, the header to_csv writes by default
_COUNTED = ("{path}: the first row ({row}) is read as data, as a first row of numbers or "
            "labels always is; if it is pandas' default column names, save with "
            "to_csv(header=False) or name the columns")  # fmt: skip


def counts_columns(cells: list[str]) -> bool:
    """Whether a row reads ``0,1,2,...`` over its first 3 cells or more, any cells after them
    words:
    pandas' column names of a DataFrame made from an array (``0,1,2`` from
    ``DataFrame(array).to_csv(index=False)``, ``0,1,2,species`` with a named column added), or
    a row of data (labels after features) that happens to read so."""
    counted = next((j for j, cell in enumerate(cells) if cell.strip() != str(j)), len(cells))
    return counted >= 3 and not any(_is_number(cell) for cell in cells[counted:])


def _shortened(cells: list[str]) -> str:
    """A row's stripped cells joined by commas, the middle of a long row left out."""
    cells = [cell.strip() for cell in cells]
    return ",".join(cells if len(cells) <= 6 else [*cells[:3], "...", *cells[-2:]])


def _numbers(
    path: PathLike,
    text: str,
    header: list[str] | None,
    n_columns: int,
    columns: list[int] | None = None,
) -> np.ndarray:
    """The CSV rows of ``text`` (after the header) as float64 ``(rows, columns)``; ValueError
    for a cell that is not a number; DataError when there are no rows.  NumPy's reader first;
    where it fails, cell by cell through Python's (:func:`_reader`: NumPy's takes ``"2.5"`` but
    not ``, "2.5"``)."""
    text = _BLANK_LINE.sub("", text)  # blank, as Python's reader finds them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked below
        try:
            table = np.loadtxt(
                io.StringIO(text),
                delimiter=",",
                skiprows=0 if header is None else 1,
                comments=None,
                quotechar='"',
                ndmin=2,
                dtype=np.float64,
                usecols=columns,
            )
        except ValueError:
            if not _SPACED_QUOTE.search(text):  # nothing NumPy's reader misreads: its error holds
                raise
            table = _cells_as_numbers(path, text, header, n_columns, columns)
    if table.shape[0] == 0:
        raise DataError(f"{path}: no data rows after the header")
    return table


def _cells_as_numbers(
    path: PathLike, text: str, header: list[str] | None, n_columns: int, columns
) -> np.ndarray:
    """The data rows' cells of ``columns`` (None: all) as float64, read by Python's CSV reader;
    ValueError at the first that is not a number (:func:`_is_number`)."""
    keep = range(n_columns) if columns is None else columns
    rows = []
    for _, row in _data_rows(path, text, header, n_columns):
        if not all(_is_number(row[j]) for j in keep):
            raise ValueError("a cell is not a number")
        rows.append([float(row[j]) for j in keep])
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(keep))


def _features_and_names(
    path: PathLike, text: str, header: list[str] | None, n_columns: int, col: int
) -> tuple[np.ndarray, np.ndarray]:
    """The features (every column but ``col``, numbers) and the stripped cells of the label
    column ``col`` (names: an empty one is an error) of a CSV file."""
    names = []
    for line, row in _data_rows(path, text, header, n_columns):
        if not row[col].strip():
            raise DataError(f"{path}: line {line}, column {col + 1}{_named(header, col)}: no label")
        names.append(row[col].strip())
    features = _features_without(path, text, header, n_columns, col)
    if len(features) != len(names):  # rows NumPy and Python's csv module count differently
        raise DataError(f"{path}: cannot parse as CSV (blank or malformed lines)")
    return features, np.array(names)


def _features_without(
    path: PathLike, text: str, header: list[str] | None, n_columns: int, col: int
) -> np.ndarray:
    """Every column of a CSV file but ``col`` (the label column, whatever its cells hold), as
    numbers; a DataError naming the first cell that is not one, or not finite."""
    columns = [j for j in range(n_columns) if j != col]
    try:
        return _check_finite(path, text, header, n_columns,
                             _numbers(path, text, header, n_columns, columns), columns)  # fmt: skip
    except DataError:
        raise
    except ValueError as e:
        _raise_bad_cell(path, text, header, n_columns, label=col)
        raise DataError(f"{path}: cannot parse as CSV ({e})") from e


def resolve_label_column(path: PathLike, label_column: LabelColumn = "auto") -> int | str | None:
    """The column of a CSV file that ``nudgenet.data.load_arrays(path, label_column)`` takes
    the labels from: its name when the file has a header row where no other column has that
    name, else its index (from 0); ``None`` for other file types or ``label_column=None``.  Reads
    the file only as far as its second row.

    Raises:
        DataError: as :func:`~nudgenet.data.load_arrays` would for this label column (an
            unreadable file, ...); :class:`NoLabelColumn` where the labels are not where they
            were looked for (no such column, none that ``"auto"`` recognises).
    """
    if label_column is None or not _is_csv(path):
        return None
    first, second = _start_of(path)
    header = _header(path, first, second)
    col = label_index(path, label_column, header, len(first))
    if header is None or col is None or header.count(header[col]) > 1:
        return col
    return header[col]


def first_row(path: PathLike) -> list[str] | None:
    """The stripped cells of the CSV file's first row (its header, or its first data row), read
    only that far; None for other file types (by the suffix, as the loaders tell them).

    Raises:
        DataError: an unreadable file, as :func:`~nudgenet.data.load_arrays` would say.
    """
    return [cell.strip() for cell in _start_of(path)[0]] if _is_csv(path) else None


def header_row(path: PathLike) -> list[str] | None:
    """The stripped cells of the CSV file's header row; None where its first row is data (no
    header) or it is no CSV file.  Reads the file only as far as its second row.

    Raises:
        DataError: an unreadable file, as :func:`~nudgenet.data.load_arrays` would say.
    """
    if not _is_csv(path):
        return None
    return _header(path, *_start_of(path))


def check_rereadable(path: PathLike) -> None:
    """A DataError where ``path`` is a CSV file that is no regular file (a named pipe, a device):
    the commands read a CSV file more than once (its first rows, then all of it), and a pipe
    gives its content once (the second read waited for ever).  Other files, missing ones and
    folders are left to the loaders' errors."""
    special = os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path))
    if special and _is_csv(path):
        raise DataError(f"{path}: not a regular file (a named pipe?); a CSV file is read more "
                        "than once: save the rows to a file first")  # fmt: skip


CSV_SUFFIXES = (".csv", ".csv.gz")  # the names of the files read as CSV


def _is_csv(path: PathLike) -> bool:
    return str(path).lower().endswith(CSV_SUFFIXES)


def _start_of(path: PathLike) -> tuple[list[str], list[str] | None]:
    """The CSV file's first row and next row that is not blank (:func:`_first_rows`), read from
    the file only as far as that."""
    try:
        with open_bytes(path) as stream, io.TextIOWrapper(
            stream, encoding="utf-8-sig", newline=""
        ) as text:  # (closed with the stream: an open wrapper is a ResourceWarning)
            return _first_rows(path, text)
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from e


def _csv_start(
    path: PathLike, raw: bytes
) -> tuple[str, list[str], list[str] | None, list[str] | None]:
    """A CSV file's text, its first row, its next row that is not blank (None: none), and the
    first row's stripped cells if it is a header."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, e) from e
    if "\x00" in text:  # NumPy's CSV reader would end the cell there, silently
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataError(f"{path}: line {line} holds a NUL byte; a CSV file is text")
    first, second = _first_rows(path, io.StringIO(text))
    return text, first, second, _header(path, first, second)


def _first_rows(path: PathLike, stream) -> tuple[list[str], list[str] | None]:
    """A CSV stream's first row, and its next row that is not blank (None: there is none)."""
    rows = _reader(stream)
    with _csv_errors(path):
        first = next(rows, [])
        second = next((row for row in rows if not _blank(row)), None)
        separators.check_first_rows(path, first, second)
        return first, second


def _reader(stream):
    """Python's CSV reader of ``stream``, a space before a quoted cell skipped (``1.0, "cat"``
    is the cell ``cat``, as ``1.0,"cat"`` is: hand-written files and many exporters put one
    there)."""
    return csv.reader(stream, skipinitialspace=True)


@contextlib.contextmanager
def _csv_errors(path: PathLike) -> Iterator[None]:
    """Python's csv.Error (a NUL byte, a line break inside an unquoted field, a field over the
    csv module's size limit) as a DataError naming the file."""
    try:
        yield
    except csv.Error as e:
        if "new-line character seen in unquoted field" in str(e):  # its advice is a coder's
            raise DataError(f"{path}: a carriage return (CR) stands alone, not before a line "
                            "feed (old Mac text); save it with LF or CRLF line ends") from None
        raise DataError(f"{path}: cannot parse as CSV ({e})") from None


def _not_utf8(path: PathLike, error: UnicodeDecodeError) -> DataError:
    return DataError(f"{path}: not a UTF-8 text file ({error})")


def _header(path: PathLike, first: list[str], second: list[str] | None) -> list[str] | None:
    """The stripped cells of a CSV file's first row if it is a header, else None.

    The first row is a header when one of its cells is not a number where the next row has a
    number (a column name above values), so a first row whose only words are labels (``cat``,
    ``yes``) is data; in a file of one row, any cell that is not a number makes it a header.
    A header names every column of numbers: a cell above one that is empty or pandas' name for
    a column without one (``Unnamed: 0``) is a DataError (:func:`_unnamed_column`), where it
    would otherwise be read as a feature (a row index), or the first row of data as a header."""
    if not any(cell.strip() for cell in first):
        raise DataError(f"{path}: empty CSV file (no cells on the first line)")
    words = [j for j, cell in enumerate(first) if not _is_number(cell)]
    if second is not None:
        words = [j for j in words if j < len(second) and _is_number(second[j])]
    if not words:
        return None
    header = [cell.strip() for cell in first]
    unnamed = [j for j in words if _UNNAMED.fullmatch(header[j])]
    if unnamed and second is not None:  # (a file of one row: no data rows, said as such)
        raise _unnamed_column(path, header, unnamed[0], words)
    return header


_UNNAMED = re.compile(r"|Unnamed: \d+")  # pandas reads an empty name as "Unnamed: <index>"


def _unnamed_column(path: PathLike, header: list[str], j: int, words: list[int]) -> DataError:
    """The error for the unnamed first-row cell ``j`` above a number (:func:`_header`);
    ``words``: the first row's cells that are not numbers above numbers."""
    index = (" (a row index? pandas: to_csv(index=False); R: write.csv(row.names=FALSE))"
             if j == 0 else "")  # fmt: skip
    if header[j] or any(header[k] for k in words if k != j):  # pandas' name, or other names
        named = f"is named {header[j]!r}, pandas' name for none," if header[j] else "has no name"
        return DataError(f"{path}: column {j + 1} {named} in the header row{index}; a header "
                         "names every column")  # fmt: skip
    return DataError(f"{path}: line 1, column {j + 1} is empty above numbers: a missing value, "
                     f"or a header's unnamed column{index}")  # fmt: skip


def _blank(row: list[str]) -> bool:
    """Whether a CSV row is a blank line (skipped, as NumPy's reader skips it)."""
    return not any(cell.strip() for cell in row)


def _is_number(cell: str) -> bool:
    """Whether NumPy's CSV reader reads ``cell`` as a number (Python's ``float`` also takes
    digit separators such as ``1_000`` and other scripts' digits such as ``١``; NumPy does
    not)."""
    try:
        float(cell)
    except ValueError:
        return False
    return "_" not in cell and cell.strip().isascii()


def _data_rows(path: PathLike, text: str, header: list[str] | None, n_columns: int):
    """``(line, cells)`` of each data row of a CSV file (blank lines skipped); a DataError for
    the first row with another number of cells."""
    rows = _reader(io.StringIO(text))
    with _csv_errors(path):
        if header is not None:
            next(rows)
        for row in rows:
            if _blank(row):
                continue
            if len(row) != n_columns:
                raise DataError(
                    f"{path}: line {rows.line_num} has {len(row)} cells, expected {n_columns}"
                    + separators.hint(row)
                )
            yield rows.line_num, row


def _check_finite(path, text, header, n_columns: int, table: np.ndarray, columns) -> np.ndarray:
    """``table`` (the file's ``columns``) unchanged, or a DataError naming the line and column of
    its first cell that is NaN or infinite (``nan``, ``inf``: no value a network can take)."""
    if np.isfinite(table).all():
        return table
    row, j = np.argwhere(~np.isfinite(table))[0]
    line, cells = next(itertools.islice(_data_rows(path, text, header, n_columns), row, None))
    raise DataError(
        f"{path}: line {line}, column {columns[j] + 1}{_named(header, columns[j])}: "
        f"{cells[columns[j]].strip()!r} is not a finite number (missing data?); drop or fill it"
    )


def _named(header: list[str] | None, j: int) -> str:
    """`` ('name')`` for column ``j`` of a file with a header, else nothing."""
    return f" ({header[j]!r})" if header is not None else ""


def _raise_bad_cell(
    path: PathLike, text: str, header: list[str] | None, n_columns: int, label: int | None = None
) -> None:
    """Raise a DataError naming the first ragged row or non-numeric cell (outside the ``label``
    column, which may hold names), if there is one."""
    for line, row in _data_rows(path, text, header, n_columns):
        for j, cell in enumerate(row):
            if j != label and not _is_number(cell):
                raise DataError(
                    f"{path}: line {line}, column {j + 1}{_named(header, j)}: {cell!r} is not a "
                    "number" + separators.hint(row)
                )
