"""Telling a file of another separator from a CSV file: a spreadsheet in a locale of decimal
commas writes ``1,5;2,0``, and tab-separated files are common; read as comma-separated, such a
file is one column, or cells that are no numbers."""

from __future__ import annotations

from ..errors import DataError
from ._io import PathLike

_MARKS = ((";", "semicolons"), ("\t", "tabs"))


def separators(row: list[str]) -> list[str]:
    """``"semicolons"``, ``"tabs"``: those a cell of ``row`` holds (another separator, or text)."""
    return [name for mark, name in _MARKS if any(mark in cell for cell in row)]


def check_first_rows(path: PathLike, first: list[str], second: list[str] | None) -> None:
    """A DataError where the first row is one cell holding semicolons or tabs and the next row
    (if any) holds them too: values of another separator, read as one column.  (A one-column
    file whose header holds a semicolon, ``"weight; kg"``, is no such file.)  Also where the
    first line is Excel's separator hint ``sep=,`` (``sep=;``, ...), which Excel reads and
    skips: here it would be a row of the table."""
    if first and first[0].strip().lower().startswith("sep=") and len(first) <= 2:
        line = ",".join(first).strip()
        raise DataError(f"{path}: line 1 ({line}) is Excel's separator hint, not a row of the "
                        "table; delete that line (the table starts on line 2)")  # fmt: skip
    found = [name for name in (separators(first) if len(first) == 1 else [])
             if second is None or name in separators(second)]  # fmt: skip
    if found:  # tabs before semicolons, which text holds more often
        raise DataError(
            f"{path}: line 1 holds values separated by {found[-1]}; a CSV file here is "
            "comma-separated, with decimal points: save it with commas between the cells"
        )


def hint(row: list[str]) -> str:
    """The advice added to the error of a ``row`` that failed, where its cells hold semicolons
    or tabs (a bad cell is named as it is: they may be text)."""
    found = " and ".join(separators(row))
    if not found:
        return ""
    return (f" (its cells hold {found}: if they separate the values, save the file with commas "
            "between the cells, and decimal points)")  # fmt: skip
