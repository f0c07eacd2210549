"""Column names as a header spells them: one name may be typed in two Unicode forms (é as one
character, or as e and a combining accent), which are the same text.  The one rule for
comparing them, for the CSV reader's label column and the command line's feature columns."""

from __future__ import annotations

import unicodedata

from ..errors import DataError
from .csv_cells import column_shown


def name_form(name: str) -> str:
    """``name`` in one Unicode form (NFC), as names are compared."""
    return unicodedata.normalize("NFC", name)


def named_column(header: list[str], name: str) -> int | None:
    """The index of the column of ``header`` named ``name``: the first of that exact name, else
    the one column of that name in another Unicode form; None where there is neither (or
    several in other forms)."""
    if name in header:
        return header.index(name)
    same = [k for k, cell in enumerate(header) if name_form(cell) == name_form(name)]
    return same[0] if len(same) == 1 else None


def alike_hint(header: list[str], name: str) -> str:
    """`` (did you mean 'Label'? ...)`` where a column of ``header`` differs from ``name`` only
    in case or spaces; else nothing."""
    wanted = name_form(name.strip()).casefold()
    alike = [cell for cell in header if name_form(cell).casefold() == wanted]
    return f" (did you mean {alike[0]!r}? names are matched exactly)" if alike else ""


def comma_hint(header: list[str], name: str) -> str:
    """`` (column 2 (index 1) is named 'Amount, USD': ...)`` where ``name`` is a part of a
    column's name between commas, at which the command line's ``--ignore-columns`` splits its
    names: give that column's index; else nothing."""
    split = [k for k, cell in enumerate(header)
             if "," in cell and name.strip() in map(str.strip, cell.split(","))]  # fmt: skip
    if not split:
        return ""
    return (f" (column {column_shown(split[0])} is named {header[split[0]]!r}: --ignore-columns "
            f"splits names at commas; give its index, {split[0]})")


def check_named_once(path, header: list[str], name: str, column: str) -> None:
    """A DataError where several columns of ``header`` are named ``name`` exactly (which is
    meant cannot be told): it says how many, their indices, and to give ``column``'s index."""
    named = [k for k, cell in enumerate(header) if cell == name]
    if len(named) > 1:
        raise DataError(f"{path}: {len(named)} columns are named {name!r} "
                        f"({', '.join(map(str, named))}); give the index of {column} instead")
