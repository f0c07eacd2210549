"""``nudgenet train --ignore-columns`` and ``--weight-column``: a CSV file's columns that are no
features (a row ID, a note; each row's weight), named as ``--label-column`` names the labels'
and recorded in the model so ``predict``, ``evaluate`` and ``explain`` drop them too (see
:func:`.columns.unused_in`); and the notes on what a file's columns may hold by mistake: a
feature column that looks like a row ID, class names typed two ways."""

from __future__ import annotations

import argparse
import shlex
import warnings

import numpy as np

from .. import data as datasets
from ..data.column_roles import row_id_columns
from ..data.csv_cells import column_shown
from .common import label_column


def add_column_options(train) -> None:
    """``--ignore-columns`` and ``--weight-column`` of ``nudgenet train``."""
    train.add_argument(
        "--ignore-columns",
        type=column_list,
        action="extend",  # given twice: the columns of both
        default=[],
        metavar="NAME[,NAME...]",
        help="CSV columns that are no features (a row ID, a note: they may hold text), by name "
        "or index from 0 as --label-column takes them (given again: more columns); the model "
        "remembers them, and predict, evaluate and explain drop them from a file that has them",
    )
    train.add_argument(
        "--weight-column",
        type=label_column,
        action=Once,
        metavar="NAME",
        help="CSV column of each row's weight (a number >= 0), no feature: the training loss "
        "is the weighted mean (times --class-weight's, where both are given); validation and "
        "held-out scores stay unweighted, and predict and evaluate drop the column",
    )


class Once(argparse.Action):
    """An option given at most once: given again, a usage error (argparse keeps the last)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest) is not None:
            parser.error(f"{option_string} is given twice; give it once")
        setattr(namespace, self.dest, values)


def column_list(text: str) -> tuple[int | str, ...]:
    """An argparse type: ``"id,note"`` / ``"0,3"`` as names and indices (``--label-column``'s
    reading of each)."""
    columns = tuple(label_column(name.strip()) for name in text.split(","))
    if any(name == "" for name in columns):
        raise argparse.ArgumentTypeError(f"expected column names or indices separated by "
                                         f"commas, got {text!r}")  # fmt: skip
    return columns


def unused_columns(args, data) -> tuple[tuple[int | str, ...], int | str | None]:
    """The ignored columns and the weight column of ``args``, as the model records them: by
    name where the file's header has it once, else by index (as its label column)."""
    if not args.ignore_columns and args.weight_column is None:
        return (), None
    return datasets.resolve_unused_columns(
        data.name, data.label_column, args.ignore_columns, args.weight_column
    )


def note_row_ids(data, names, unused) -> None:
    """A note (UserWarning, shown as the command's notes are) for each feature column of a CSV
    file that looks like a row ID (:func:`~nudgenet.data.column_roles.row_id_columns`), named
    by ``names`` (the header's feature names; None: a file without a header, whose columns are
    named by index, the label column and the ``unused`` ones counted)."""
    if datasets.first_row(data.name) is None:  # no CSV file: no columns to leave out
        return
    split = data.x_test is not data.x_train  # (too few rows to split: both are every row)
    x = np.concatenate([data.x_train, data.x_test]) if split else data.x_test
    headerless = names is None
    if headerless:
        skipped = {data.label_column, *unused}
        width = x.shape[1] + len(skipped - {None})
        names = [str(j) for j in range(width) if j not in skipped]
    for name in row_id_columns(names, x):
        # (quoted for a shell; a name with a comma, at which the option splits, by its index)
        shown = datasets.first_row(data.name).index(name) if "," in name else shlex.quote(name)
        column = column_shown(int(name)) if headerless else repr(name)
        warnings.warn(
            f"{data.name}: column {column} looks like a row ID, which tells a model the rows' "
            f"order in the file, not what they hold; leave it out with --ignore-columns {shown}",
            UserWarning,
            stacklevel=2,
        )


def note_look_alike_classes(data) -> None:
    """A note for class names that differ only in case (``yes``, ``YES``) or in how Unicode
    writes their letters (``café`` as one character or as ``e`` and an accent): separate
    classes, as scikit-learn's encoder keeps them, but more often one typed two ways."""
    groups: dict[str, list[str]] = {}
    for name in data.class_names:
        groups.setdefault(datasets.name_form(name).casefold(), []).append(name)
    for alike in (names for names in groups.values() if len(names) > 1):
        warnings.warn(
            f"{data.name}: the classes {', '.join(ascii(n) for n in alike)} differ only in case "
            "or in how their letters are encoded: they are trained as separate classes (make "
            "them one in the file if they are one)",
            UserWarning,
            stacklevel=2,
        )

