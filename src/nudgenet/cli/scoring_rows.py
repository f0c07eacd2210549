"""The rows ``evaluate`` and ``explain`` score a saved model on: the held-out rows of the data
it was trained on (found again by path or by its rows' checksum), else every row of another."""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .. import data as datasets
from .. import recipes
from ..data.csv_cells import column_shown
from ..errors import DataNotFoundError, NudgenetError
from ..export.trace import input_features
from .columns import check_feature_count, in_model_order, unused_in
from .common import absolute, has_label_column, label_column, output_units


def _same_data(given: str | None, trained_on: str | None) -> bool:
    """Whether a ``--dataset`` or ``--labels`` value names what the model's metadata names (not
    given: the model's own)."""
    if given is None or given == trained_on:
        return True
    if trained_on is None or given in recipes.DATASETS or trained_on in recipes.DATASETS:
        return False
    return absolute(given) == absolute(trained_on)


class HeldOut(NamedTuple):
    """The rows to score a saved model on, its loss, and the targets as that loss wants them."""

    data: recipes.Dataset
    loss_fn: object
    y: np.ndarray


def data_read(args, record) -> tuple[str | None, str | None, bool]:
    """``(data set, labels file, same)``: what :func:`held_out` reads for a model of training
    record ``record``: ``--dataset`` (else the record's) and ``--labels`` (else the record's,
    where the data set is the one the model was trained on: ``same``)."""
    dataset = args.dataset or record.dataset
    same = (
        record.dataset is not None
        and _same_data(dataset, record.dataset)
        and _same_data(args.labels, record.labels)
    )
    return dataset, args.labels or (record.labels if same else None), same


def held_out(args, model) -> HeldOut:
    """The rows to score a saved model on, from its :class:`~nudgenet.recipes.TrainingRecord`
    and the command line (``args`` is only read).

    Without ``--dataset``, or when it names the data the model was trained on (its path, or a
    file holding the same rows: a moved or copied one, by the record's checksum): the held-out
    rows it was scored on (the split rebuilt from its record).  Any other data set: every row
    of it (``data.scope == "all"``), since the model's split says nothing about a file it never
    saw.  Without ``--label-column`` the labels are read
    from the column the model was trained on, where the file has it (a CSV of the same columns),
    else from the column ``"auto"`` picks.  The targets are read for the model's task; labels
    are matched to the model's class names (a label it never saw is an error), so a file lacking
    a class keeps the model's numbering."""
    record = recipes.TrainingRecord.of(model)
    dataset, labels, same = data_read(args, record)
    if dataset is None:
        raise NudgenetError("the model file does not name its data set; pass --dataset")
    if args.dataset is None:
        _check_training_file_found(dataset)
    datasets.check_rereadable(dataset)  # before its first rows are read for the label column
    column = label_column(args.label_column)
    # the unused columns (ignored, weights) first: a headerless file's width may be no layout
    told = column if args.label_column is not None else None
    unused = unused_in(dataset, record, input_features(model), labelled=True, label=told)
    if args.label_column is None and record.label_column is not None:
        if same or has_label_column(dataset, record.label_column):
            column = record.label_column
        else:
            _check_recognised(dataset, record.label_column)
    data = None if same else _training_rows_in(dataset, labels, column, model, record, unused)
    if data is None:
        data_dir = args.data_dir or (record.data_dir if same else None)
        test_size = record.test_size if same else None
        data = _load(dataset, record, test_size, labels, column, unused, data_dir)
    if same and column == record.label_column:  # the rows it was trained on, or a DataError
        record.check_rows(data)
    if isinstance(data.x_test, np.ndarray):  # a CSV's columns by name, where both have names
        x_test = in_model_order(
            dataset, data.x_test, data.label_column, model, getattr(args, "quiet", False), unused
        )
        data = replace(data, x_test=x_test)
    check_feature_count(dataset, data.x_test, model)
    loss_fn = record.loss_fn()
    return HeldOut(
        data, loss_fn, loss_fn.check_targets(data.y_test, output_units(model, data.x_test))
    )


def _load(path, record, test_size, labels, column, unused, data_dir=None) -> recipes.Dataset:
    """The data set ``path`` read for the model of ``record`` (its task, class names, seed),
    split by ``test_size`` (None: every row), without its ``unused`` columns (the record's
    ignored and weight columns the file has: the held-out rows are scored unweighted)."""
    return recipes.load_dataset(
        path,
        data_dir,
        test_size=test_size,
        seed=record.seed,
        samples=record.samples,
        labels=labels,
        label_column=column,
        task=record.task,
        class_names=record.class_names if record.task == "classification" else None,
        task_given_by="the model",
        ignore_columns=unused,
    )


def _training_rows_in(path: str, labels: str | None, column, model, record, unused
                      ) -> recipes.Dataset | None:  # fmt: skip
    """The file ``path`` split as ``model``'s training data was (``record``, its training
    record), with a note, where its rows are the ones the model was trained on (the record's
    ``rows_checksum``, of the columns in the model's order: the training file moved, copied,
    renamed or its columns reordered); else None (another file: every row of it is scored)."""
    if record.rows_checksum is None or path in recipes.DATASETS:  # (the rows' checksum decides:
        return None  # a label column given otherwise reads other rows)
    try:
        data = _load(path, record, record.test_size, labels, column, unused)
        ordered = data
        if isinstance(data.x_test, np.ndarray):  # (the split is of rows: any column order)
            x_train, x_test = (in_model_order(path, x, data.label_column, model, True, unused)
                               for x in (data.x_train, data.x_test))  # fmt: skip
            ordered = replace(data, x_train=x_train, x_test=x_test)
    except ValueError:  # the training rows split so; these do not: other rows (or no file)
        return None
    if recipes.rows_checksum(ordered) != record.rows_checksum:
        return None
    warnings.warn(
        f"{path} holds the rows the model was trained on (from {record.dataset}): scored on "
        "its held-out rows",
        UserWarning,
        stacklevel=2,
    )
    return data


def _check_training_file_found(path: str) -> None:
    """A DataNotFoundError, suggesting ``--dataset``, where the data file a model records (a
    path, not a named data set) is no longer there."""
    if path not in recipes.DATASETS and not os.path.exists(path):
        raise DataNotFoundError(
            f"{path}: no such file (the model was trained on it); if it moved, give its new "
            "path with --dataset PATH"
        )


def _check_recognised(path: str, trained: str | int) -> None:
    """Where the CSV file ``path`` lacks the column ``trained`` the model's labels came from and
    ``"auto"`` recognises none either: a DataError naming both.  Any other fault of the file
    (two columns of that name, one column, unreadable) is its own error."""
    try:
        datasets.resolve_label_column(path, trained)
    except datasets.NoLabelColumn:
        pass
    try:
        datasets.resolve_label_column(path, "auto")
    except datasets.NoLabelColumn as error:
        where = column_shown(trained)
        reason = str(error).removeprefix(f"{path}: ")
        raise datasets.NoLabelColumn(
            f"{path}: the model's labels were in column {where}, which this file lacks; {reason}"
        ) from None
