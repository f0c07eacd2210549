"""Which columns of a CSV file are a model's features, by name: ``nudgenet train`` records the
header's feature columns (:func:`feature_names`), and ``predict`` and ``evaluate`` read a file's
columns in that order (:func:`in_model_order`): a file whose header names the same columns in
another order is put in the model's order, one that names others is refused.  Files without a
header row, and models trained on named data sets, are read by position, as before."""

from __future__ import annotations

import sys

import numpy as np

from .. import data as datasets
from ..errors import DataError
from ..export.trace import input_features
from ..recipes import TrainingRecord


def feature_names(path, label_column, features: int) -> list[str] | None:
    """The names of a data set's ``features``: the header row of the CSV file at ``path``
    without its ``label_column``; None where the data set has none (no header row, an .npz
    file, a named set).  The data sets do not carry column names, so the header row is read
    here."""
    if not isinstance(label_column, str):  # a CSV label column is a name iff a header names it
        return None
    names = datasets.first_row(path)
    if names is None or label_column not in names:
        return None
    names.remove(label_column)
    return names if len(names) == features else None


def model_feature_names(model) -> list[str] | None:
    """The feature columns ``model`` was trained on, by name: its record's (``nudgenet train``,
    or an estimator's ``feature_names_in_``); else None."""
    metadata = getattr(model, "metadata", None) or {}
    names = list(TrainingRecord.from_dict(metadata).feature_names)
    if not names:  # an estimator's file: the names of the DataFrame it was fitted on
        fitted = metadata.get("sklearn", {}).get("fitted", {}) if isinstance(metadata, dict) else {}
        names = [str(name) for name in fitted.get("feature_names_in_", [])]
    return names or None


def in_model_order(
    path, x: np.ndarray, label_column, model, quiet: bool = False, every_row: bool = False
) -> np.ndarray:
    """The features ``x`` read from ``path`` (without its ``label_column``: a name, an index
    from 0, or None), with their columns in the order of the columns ``model`` was trained on,
    where both have names.  The same names in another order: reordered, with a note on stderr
    (not with ``quiet``).  Other names: a DataError naming the columns missing and those the
    model never saw.  Unnamed columns on either side, or names that repeat (which cannot say
    which column is which): ``x`` as it is, by position.  With ``every_row`` (``x`` is all of
    the file's rows, in order), a first row of numbers that are the model's names (columns
    named ``10``, ``20``, ...), read as data, is taken as the header it is."""
    expected = model_feature_names(model)
    if not expected:
        return x
    header = datasets.header_row(path)
    if header is None and every_row:
        first = datasets.first_row(path)
        if first is not None and sorted(_names_of(first, label_column)) == sorted(expected):
            header, x = first, x[1:]
    if header is None:
        return x
    given = _names_of(header, label_column)
    if given == expected:
        return x
    missing = [name for name in expected if name not in given]
    unseen = [name for name in given if name not in expected]
    if missing or unseen:
        lacks = [f"lacks {_listed(missing)}"] if missing else []
        has = [f"has {_listed(unseen)}, which the model never saw"] if unseen else []
        raise DataError(
            f"{path}: the model was trained on the columns {_listed(expected)}; this file "
            + " and ".join(lacks + has)
        )
    if len(set(given)) != len(given) or len(set(expected)) != len(expected):
        return x  # the same names, some repeated: by position (the count is checked after)
    if not quiet:
        print(
            f"nudgenet: {path}: columns read in the order the model was trained on "
            f"({_listed(expected)})",
            file=sys.stderr,
        )
    return x[:, [given.index(name) for name in expected]]


def check_feature_count(path, x: np.ndarray, model) -> np.ndarray:
    """``x`` unchanged, or a DataError naming ``path`` and both counts where its rows have
    another number of columns than ``model`` takes (read from its first layer that knows)."""
    inputs = input_features(model)
    if inputs is not None and x.ndim == 2 and x.shape[1] != inputs:
        raise DataError(
            f"{path}: expected {inputs} feature columns, as the model takes, got {x.shape[1]}"
        )
    return x


def _names_of(header: list[str], label_column) -> list[str]:
    """The header's names but the label column's (given by name, or by index from 0)."""
    return [name for j, name in enumerate(header) if name != label_column and j != label_column]


def _listed(names: list[str], shown: int = 10) -> str:
    """The first ``shown`` of ``names``, then how many more."""
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
