"""Which columns of a CSV file are a model's features, by name: ``nudgenet train`` records the
header's feature columns (:func:`feature_names`), and ``predict`` and ``evaluate`` read a file's
columns in that order (:func:`in_model_order`): a file whose header names the same columns in
another order is put in the model's order, one that names others is refused.  Files without a
header row, and models trained on named data sets, are read by position, as before."""

from __future__ import annotations

import itertools
import sys
from collections import Counter

import numpy as np

from .. import data as datasets
from ..data.csv_cells import column_shown, counts_columns
from ..errors import DataError
from ..export.trace import input_features
from ..recipes import TrainingRecord


def feature_names(path, label_column, features: int, unused=()) -> list[str] | None:
    """The names of a data set's ``features``: the header row of the CSV file at ``path`` without
    its ``label_column`` and its ``unused`` columns (ignored, weights); None where the data set has
    none (no header row, an .npz file, a named set). The data sets do not carry column names, so the
    header row is read here."""
    if not isinstance(label_column, str):  # a CSV label column is a name iff a header names it
        return None
    header = datasets.first_row(path)
    if header is None or label_column not in header:
        return None
    names = _names_of(header, label_column, unused)
    return names if len(names) == features else None


def model_feature_names(model) -> list[str] | None:
    """The feature columns ``model`` was trained on, by name: its record's (``nudgenet train``'s,
    or an estimator's ``feature_names_in_``); else None."""
    return list(TrainingRecord.from_dict(getattr(model, "metadata", None)).feature_names) or None


def in_model_order(
    path, x: np.ndarray, label_column, model, quiet: bool = False, unused=()
) -> np.ndarray:
    """The features ``x`` read from ``path`` (without its ``label_column``: a name, an index from 0,
    or None, and its ``unused`` columns, :func:`unused_in`), with their columns in the order of the
    columns ``model`` was trained on, where both have names. The same names in another order:
    reordered, with a note on stderr (not with ``quiet``). Other names, or names counted another
    number of times: a DataError naming the columns missing and those the model never saw. The same
    names, some repeated, in another order (which cannot say which column is which): a DataError. A
    file without a header row, or a model without names: ``x`` as it is, by position (with a note
    where the first row holds the model's names of numbers, :func:`_note_names_read_as_a_row`)."""
    expected = model_feature_names(model)
    header = datasets.header_row(path) if expected else None
    if header is None:
        if expected and not quiet:
            _note_names_read_as_a_row(path, label_column, expected, unused)
        return x
    given = _names_of(header, label_column, unused)
    if given == expected:
        return x
    expected, given = _in_one_form(expected, given)
    if given == expected:
        return x
    missing = list((Counter(expected) - Counter(given)).elements())
    unseen = list((Counter(given) - Counter(expected)).elements())
    trained = f"{path}: the model was trained on the columns {_quoted(expected)}; this file "
    if missing or unseen:
        lacks = [f"lacks {_quoted(missing)}"] if missing else []
        new = [name for name in unseen if name not in expected]
        again = [name for name in unseen if name in expected]  # a name repeated more often
        has = [f"has {_quoted(new)}, which the model never saw"] if new else []
        has += [f"has {_quoted(again)} once more than the model"] if again else []
        raise DataError(trained + " and ".join(lacks + has))
    if len(set(expected)) != len(expected):
        raise DataError(
            f"{trained}names them in another order ({_quoted(given)}), and names that repeat "
            "cannot say which column is which: put them in the model's order"
        )
    if not quiet:
        print(
            f"nudgenet: {path}: columns read in the order the model was trained on "
            f"({_quoted(expected)})",
            file=sys.stderr,
        )
    return x[:, [given.index(name) for name in expected]]


def _note_names_read_as_a_row(path, label_column, expected: list[str], unused) -> None:
    """A note where a file without a header row begins with a row of the model's column names
    (names of numbers, ``1,2,3``): it is read as a row of data, as any first row of numbers."""
    first = datasets.first_row(path)
    if first is None or counts_columns(first):  # the loader's note (0,1,2,...) said so
        return
    if Counter(_names_of(first, label_column, unused)) == Counter(expected):
        print(
            f"nudgenet: {path}: the first row ({_quoted(first)}) holds the model's column names "
            "but is read as a row of numbers, as a first row of numbers always is; if it is the "
            "header, give the columns names with a letter in them",
            file=sys.stderr,
        )


def unused_in(path, record: TrainingRecord, inputs: int | None, labelled: bool = False,
              label: int | str | None = None) -> tuple[int | str, ...]:  # fmt: skip
    """The columns the model of ``record`` did not use (ignored, weights: its
    ``unused_columns``) that the CSV file ``path`` has, to drop as the training file's were.
    With a header: those it names, and those recorded by index (a name the training header
    repeats) where the rest of its header is the model's feature names (the training
    layout, as wide as the training header).  Without a header, by index:
    :func:`_by_position` (``labelled``: the file's labels are read too, from the column
    ``label`` where the command line names it)."""
    unused = record.unused_columns()
    labels = labelled and record.label_column is not None  # (a file's: a CSV-trained model's)
    first = datasets.first_row(path) if unused or labels else None
    if first is None:
        return ()
    indices = tuple(c for c in unused if isinstance(c, int))
    header = datasets.header_row(path)
    if header is None:
        return _by_position(path, len(first), record, inputs, labelled, label)
    names = tuple(c for c in unused if isinstance(c, str)
                  and datasets.named_column(header, c) is not None)  # fmt: skip
    width = len(record.feature_names) + len(unused) + 1  # the training header's
    if indices and len(header) == width:  # (else the indices may name other columns)
        rest = _names_of(header, record.label_column, (*names, *indices))
        given, expected = _in_one_form(rest, list(record.feature_names))
        if given == expected:
            return (*names, *indices)
    return names


def _by_position(path, width: int, record: TrainingRecord, inputs: int | None, labelled: bool,
                 label: int | str | None = None) -> tuple[int, ...]:  # fmt: skip
    """The unused columns of a file of ``width`` columns without a header, by index: read only
    where its width tells which columns are the model's ``inputs`` features.  The training
    file's layout holds those and the columns that are no features (the label, the unused
    ones); a file may lack any of the latter.  Its features alone: none (``labelled``: an
    error, they hold no labels).  The training file's width: the recorded indices.  A width
    between: where the columns that are no features sit side by side (no feature between
    them), the first of them, as many as the file has beyond the features, whichever of them
    it lacks; ``labelled``, where ``label`` (the command line's label column) leaves one way to
    lack them (:func:`_with_label_at`); else the file could lack other columns, which would
    read other features.  Any other width, or one of columns recorded by name (whose place is
    not recorded): a one-line DataError naming the layouts this model reads."""
    unused, label_at = record.unused_columns(), record.label_column
    if inputs is None:  # a custom first layer: the features are not counted
        return tuple(c for c in unused if isinstance(c, int) and c < width)
    if width == inputs and not labelled:
        return ()
    named = [repr(c) for c in (*unused, label_at) if isinstance(c, str)]
    if any(isinstance(c, str) for c in unused):
        reads = (f"can only be its {inputs} features alone, which hold no labels to score: "
                 "give the file a header row naming its columns" if labelled else "is read as "
                 f"its {inputs} features alone: give the file a header row naming its columns, "
                 "or those features alone")  # fmt: skip
        raise DataError(
            f"{path}: {width} columns and no header row; this model's columns "
            f"{', '.join(named)} were recorded by name, so a file without a header row {reads}"
        )
    if width == inputs:  # (labelled)
        raise _layout_error(path, width, record, inputs, labelled, f"; {width} columns are "
                            "as many as the model's features, which hold no labels to score")
    if not unused:
        return ()
    full = inputs + len(unused) + (label_at is not None)  # the training file's width
    if width == full:
        return unused
    others, side_by_side = _no_features(record)
    between = inputs < width < full
    if between and labelled and isinstance(label, int) and isinstance(label_at, int):
        return _with_label_at(path, width, record, inputs, label)
    if between and side_by_side and not labelled:
        return tuple(range(others[0], others[0] + width - inputs))
    lacks = ""
    if between:
        lacks = (f"; {width} columns could lack any {full - width} of columns "
                 f"{_indices_shown(others)}, which reads other columns as features"
                 if not side_by_side else "; which of them is the label is not told "
                 + ("(give --label-column)" if label is None else f"(--label-column {label!r} "
                    "names no column of a file without a header row)"))  # fmt: skip
    raise _layout_error(path, width, record, inputs, labelled, lacks)


def _with_label_at(path, width: int, record: TrainingRecord, inputs: int, label: int
                   ) -> tuple[int, ...]:  # fmt: skip
    """The unused columns of a headerless file of ``width`` columns whose labels the command
    line places in column ``label`` (from 0, or from the end where negative): the file lacks
    some of the training file's unused columns (keeping the label); read where every way to
    lack them that leaves the label there leaves the other columns at the same places; else a
    DataError saying why ``--label-column`` does not tell the layout."""
    unused = record.unused_columns()
    full = inputs + len(unused) + 1
    at = label % width if -width <= label < width else label
    readings = set()
    for lacked in itertools.combinations(unused, full - width):
        kept = [j for j in range(full) if j not in lacked]
        if kept.index(record.label_column) == at:
            readings.add(tuple(i for i, j in enumerate(kept) if j in unused))
    if len(readings) == 1:
        return readings.pop()
    why = (f"--label-column {label} still leaves the file lacking any {full - width} of "
           f"columns {_indices_shown(sorted(unused))}, which reads other columns as features"
           if readings else f"no {width} of them have the label where --label-column {label} "
           "places it")  # fmt: skip
    raise _layout_error(path, width, record, inputs, True, f"; {why}")


def _layout_error(path, width: int, record: TrainingRecord, inputs: int, labelled: bool,
                  why: str) -> DataError:  # fmt: skip
    """The one-line error of a headerless file of ``width`` columns that is no layout this
    model reads (``why``: what is wrong with it): its features alone (not ``labelled``:
    evaluate and explain need the labels too), the training file's columns, or as many as
    its features and some of the others, where that tells which (predict: side by side;
    evaluate and explain: with --label-column)."""
    unused, label = record.unused_columns(), record.label_column
    full = inputs + len(unused) + (label is not None)
    weights = record.weight_column
    roles = [] if label is None else [f"label in column {column_shown(label)}"]
    roles += [f"ignored column {column_shown(c)}" for c in record.ignore_columns]
    roles += [] if weights is None else [f"weights in column {column_shown(weights)}"]
    alone = "" if labelled else f"its {inputs} features alone, or "
    fewer = ", or fewer of them where --label-column tells which it lacks" if unused else ""
    between = (fewer if labelled else ", or as wide as any between" if _no_features(record)[1]
               else "")  # fmt: skip
    return DataError(
        f"{path}: {width} columns and no header row; for this model such a file holds "
        f"{alone}the training file's {full} columns ({', '.join(roles)}){between}{why}: give "
        "the file a header row naming its columns, or one of those layouts"
    )


def _no_features(record: TrainingRecord) -> tuple[list[int], bool]:
    """The training file's columns that are no features (the label, the unused ones), by
    index, and whether they sit side by side (none recorded by name)."""
    label = record.label_column
    others = sorted({*record.unused_columns(), *([label] if isinstance(label, int) else [])})
    named = any(isinstance(c, str) for c in (*record.unused_columns(), label))
    side_by_side = bool(others) and others == list(range(others[0], others[0] + len(others)))
    return others, side_by_side and not named


def check_feature_count(path, x: np.ndarray, model) -> np.ndarray:
    """``x`` unchanged, or a DataError naming ``path`` and both counts where its rows have
    another number of columns than ``model`` takes (read from its first layer that knows)."""
    inputs = input_features(model)
    if inputs is not None and x.ndim == 2 and x.shape[1] != inputs:
        raise count_error(path, inputs, x.shape[1])
    return x


def count_error(path, inputs: int, got: int, advice: str = "") -> DataError:
    """The one-line error of a file of ``got`` feature columns for a model of ``inputs``."""
    return DataError(f"{path}: expected {inputs} feature columns, as the model takes, got {got}"
                     + advice)  # fmt: skip


def _names_of(header: list[str], label_column, unused=()) -> list[str]:
    """The header's names but the label column's and the ``unused`` columns' (each given by
    name, in any Unicode form, or by index from 0)."""
    drop = set()
    for column in (label_column, *unused):
        if isinstance(column, str) and column not in header:  # in another form?
            col = datasets.named_column(header, column)
            column = column if col is None else col
        drop.add(column)
    return [name for j, name in enumerate(header) if name not in drop and j not in drop]


def _in_one_form(*lists: list[str]) -> list[list[str]]:
    """The lists of names in one Unicode form (NFC: é typed as one character or as e and a
    combining accent), unless that makes two names of a list one: then as they are."""
    normal = [[datasets.name_form(name) for name in names] for names in lists]
    if all(len(set(n)) == len(set(names)) for n, names in zip(normal, lists)):
        return normal
    return [list(names) for names in lists]


def _quoted(names: list[str]) -> str:
    """:func:`_listed` with each name as Python writes a string (quoted, an invisible or
    combining character spelt out), so two names that differ show how."""
    return _listed([repr(name) for name in names])


def _listed(names: list[str], shown: int = 10) -> str:
    """The first ``shown`` of ``names`` (an empty one as ``''``), then how many more."""
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(name or "''" for name in names[:shown]) + more


def _indices_shown(columns) -> str:
    """Columns by index, each as messages show one (:func:`column_shown`), joined by commas."""
    return ", ".join(map(column_shown, columns))
