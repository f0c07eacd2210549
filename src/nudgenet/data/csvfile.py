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
from collections.abc import Iterator, Sequence

import numpy as np

from ..errors import DataError, caller_stacklevel
from . import separators
from ._convert import within_range
from ._io import PathLike, open_bytes
from .column_roles import first_negative, unused_indices
from .csv_cells import COUNTED, counts_columns, header_of, is_number, named, shortened, text_hint
from .label_column import LabelColumn, label_index

_SPACED_QUOTE = re.compile(r'(?:^|,)[ \t]+"', re.MULTILINE)  # a cell's quote after spaces
# a line of spaces of any kind, a blank line (:func:`_blank_line`) NumPy's reader would not skip
_BLANK_LINE = re.compile(r"^[^\S\r\n]+(?=\r?$)", re.MULTILINE)
# the lines of empty cells (,,,) after the last that holds a value: a spreadsheet's export of
# its blank rows below the table, which move no row's number (one between rows is an error)
_EMPTY_ROWS_AT_END = re.compile(r"(?:^[\s,]*,[\s,]*$\n?)+\Z", re.MULTILINE)


def read_csv(
    path: PathLike,
    raw: bytes,
    label_column: LabelColumn,
    read_labels: bool = True,
    ignore: Sequence[str | int] = (),
    weight: str | int | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Features, labels and row weights (None: no ``weight`` column) of the CSV file ``path``
    whose content is ``raw`` (the rules: :func:`nudgenet.data.load_arrays`): the whole table at
    once when every cell is a number, else the features and weights (numbers) and the label
    column's stripped cells (names).  ``read_labels`` False: the label column's cells unread
    (labels None); the ``ignore`` columns are never read."""
    text, first, second, header = _csv_start(path, raw)
    n_columns = len(first)
    if header is None and counts_columns(first):
        warnings.warn(COUNTED.format(path=path, row=shortened(first)), UserWarning,
                      stacklevel=caller_stacklevel())  # fmt: skip
    col = label_index(path, label_column, header, n_columns)
    skip, weights = unused_indices(path, header, n_columns, col, ignore, weight)
    features = [j for j in range(n_columns) if j not in (col, weights, *skip)]
    read = features + [j for j in (weights, col if read_labels else None) if j is not None]
    row = first if header is None else second  # the first data row (None: there is none)
    try:
        if row is not None and any(j < len(row) and not is_number(row[j])
                                   for j in range(n_columns) if j not in read):  # fmt: skip
            raise ValueError("a column left unread holds names or blanks")  # (read apart, below)
        table = _numbers(path, text, header, n_columns)
    except DataError:  # no data rows: said as it is
        raise
    except ValueError as e:
        if len(read) == n_columns and col is None:  # every cell must be a number
            _raise_bad_cell(path, text, header, n_columns)
            raise DataError(f"{path}: cannot parse as CSV ({e})") from e
        if col is None or not read_labels:  # a column unread holds names, or a row is ragged
            for _ in _data_rows(path, text, header, n_columns):  # the width: refused
                pass  # (NumPy's reader of some columns does not count the others)
            table, labels = _features_without(path, text, header, n_columns, read), None
        else:
            table, labels = _features_and_names(path, text, header, n_columns, col, read[:-1])
        return _parts(path, text, header, n_columns, table, features, weights, labels)
    if table.shape[1] != n_columns:  # every data row narrower or wider than the first row
        _raise_bad_cell(path, text, header, n_columns)
        raise DataError(f"{path}: the first row has {n_columns} cells, the others {table.shape[1]}")
    table = _check_finite(path, text, header, n_columns, table[:, read], read)
    labels = table[:, -1] if col is not None and read_labels else None
    return _parts(path, text, header, n_columns, table, features, weights, labels)


def _parts(path, text, header, n_columns: int, table, features: list[int], weights, labels):
    """``(features, labels, weights)`` of a table read with the ``features`` columns first, then
    the ``weights`` column (None: none); a DataError naming the first weight below 0."""
    w = None if weights is None else table[:, len(features)]
    if w is not None and (row := first_negative(w)) is not None:
        line, cells = next(itertools.islice(_data_rows(path, text, header, n_columns), row, None))
        raise DataError(f"{path}: line {line}, column {weights + 1}{named(header, weights)}: "
                        f"{cells[weights].strip()!r} is not a row weight (a number >= 0)")
    x = _as_float32(path, text, header, n_columns, table[:, : len(features)], features)
    return np.ascontiguousarray(x), labels, w


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
    ValueError at the first that is not a number (:func:`is_number`)."""
    keep = range(n_columns) if columns is None else columns
    rows = []
    for _, row in _data_rows(path, text, header, n_columns):
        if not all(is_number(row[j]) for j in keep):
            raise ValueError("a cell is not a number")
        rows.append([float(row[j]) for j in keep])
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(keep))


def _features_and_names(
    path: PathLike, text: str, header: list[str] | None, n_columns: int, col: int, read: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The ``read`` columns (numbers) and the stripped cells of the label column ``col`` of a
    CSV file: names (an empty one is an error), or numbers where every cell is one (the other
    cells unread held names)."""
    names = []
    for line, row in _data_rows(path, text, header, n_columns):
        if not row[col].strip():
            raise DataError(f"{path}: line {line}, column {col + 1}{named(header, col)}: no label")
        names.append(row[col].strip())
    features = _features_without(path, text, header, n_columns, read)
    if len(features) != len(names):  # rows NumPy and Python's csv module count differently
        raise DataError(f"{path}: cannot parse as CSV (blank or malformed lines)")
    numbers = all(is_number(name) for name in names)
    return features, np.array(names, dtype=np.float64 if numbers else None)


def _features_without(
    path: PathLike, text: str, header: list[str] | None, n_columns: int, columns: list[int]
) -> np.ndarray:
    """The ``columns`` of a CSV file (the others unread, whatever their cells hold), as numbers;
    a DataError naming the first cell that is not one, or not finite."""
    try:
        return _check_finite(path, text, header, n_columns,
                             _numbers(path, text, header, n_columns, columns), columns)  # fmt: skip
    except DataError:
        raise
    except ValueError as e:
        _raise_bad_cell(path, text, header, n_columns, columns)
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
    header = header_of(path, first, second)
    col = label_index(path, label_column, header, len(first))
    if header is None or col is None or header.count(header[col]) > 1:
        return col
    return header[col]


def resolve_unused_columns(
    path: PathLike,
    label_column: LabelColumn = "auto",
    ignore: Sequence[str | int] = (),
    weight: str | int | None = None,
) -> tuple[tuple[int | str, ...], int | str | None]:
    """The columns of a CSV file that ``load_arrays(path, label_column, ignore_columns=ignore,
    weight_column=weight)`` ignores, and its weight column, each named as
    :func:`resolve_label_column` names a column (its name where the header has it once, else
    its index); with its errors, and those of columns that are none of the file's."""
    first, second = _start_of(path)
    header = header_of(path, first, second)
    col = label_index(path, label_column, header, len(first))
    ignored, weights = unused_indices(path, header, len(first), col, ignore, weight)

    def named(j: int | None) -> int | str | None:
        once = header is not None and j is not None and header.count(header[j]) == 1
        return header[j] if once else j

    return tuple(named(j) for j in ignored), named(weights)


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
    return header_of(path, *_start_of(path))


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
    text = _EMPTY_ROWS_AT_END.sub("", text)
    first, second = _first_rows(path, io.StringIO(text))
    return text, first, second, header_of(path, first, second)


def _first_rows(path: PathLike, stream) -> tuple[list[str], list[str] | None]:
    """A CSV stream's first row, and its next row that holds a value (None: there is none)."""
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


def _blank(row: list[str]) -> bool:
    """Whether a CSV row holds no value: a blank line (:func:`_blank_line`) or empty cells."""
    return not any(cell.strip() for cell in row)


def _blank_line(row: list[str]) -> bool:
    """Whether a CSV row is a blank line (no comma, at most spaces): skipped, as pandas and
    NumPy's reader skip it.  A row of empty cells (``,,,``: a spreadsheet's deleted record) is
    no blank line: skipped, it would move every later row's number against the file's."""
    return len(row) <= 1 and _blank(row)


def _data_rows(path: PathLike, text: str, header: list[str] | None, n_columns: int):
    """``(line, cells)`` of each data row of a CSV file (blank lines skipped); a DataError for
    the first row of empty cells or with another number of cells."""
    rows = _reader(io.StringIO(text))
    with _csv_errors(path):
        if header is not None:
            next(rows)
        for row in rows:
            if _blank_line(row):
                continue
            if _blank(row):
                raise DataError(f"{path}: line {rows.line_num}: all {len(row)} cells are empty "
                                "(a deleted record?); delete the line or fill its cells")
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
        f"{path}: line {line}, column {columns[j] + 1}{named(header, columns[j])}: "
        f"{cells[columns[j]].strip()!r} is not a finite number (missing data?); drop or fill it"
    )


def _raise_bad_cell(
    path: PathLike, text: str, header: list[str] | None, n_columns: int, read=None
) -> None:
    """Raise a DataError naming the first ragged row or non-numeric cell of the columns ``read``
    (None: every column; the others may hold names), if there is one."""
    for line, row in _data_rows(path, text, header, n_columns):
        for j, cell in enumerate(row):
            if (read is None or j in read) and not is_number(cell):
                rows = _data_rows(path, text, header, n_columns)  # (the hint reads its column)
                raise DataError(
                    f"{path}: line {line}, column {j + 1}{named(header, j)}: {cell!r} is not a "
                    "number" + (separators.hint(row) or text_hint(header, j, cell, rows))
                )


def _as_float32(path, text, header, n_columns: int, x: np.ndarray, columns) -> np.ndarray:
    """``x`` (the file's ``columns``) as float32, or a DataError naming the line and column of
    its first value beyond float32's range (:func:`._convert.within_range`'s rule)."""
    try:
        return within_range(path, "x", x, np.float32, "scale the data")
    except DataError:
        with np.errstate(over="ignore"):
            row, j = np.argwhere(np.isinf(x.astype(np.float32)) & np.isfinite(x))[0]
    line, cells = next(itertools.islice(_data_rows(path, text, header, n_columns), row, None))
    raise DataError(
        f"{path}: line {line}, column {columns[j] + 1}{named(header, columns[j])}: "
        f"{cells[columns[j]].strip()!r} is beyond float32's range "
        f"(±{np.finfo(np.float32).max:.4g}), in which CSV files are read, --dtype float64 "
        "too: scale the column (divide it by a power of ten)"
    )
