"""``nudgenet predict``: classes (or a multilabel model's labels) and probabilities, or values,
for rows in a file.  The model file's training record says which (:class:`TrainingRecord`: the
task and the loss; a file without them is refused, not guessed at)."""

from __future__ import annotations

import sys

import numpy as np

from .. import data as datasets
from ..data.csv_cells import column_shown
from ..errors import DataError, ModelFileError
from ..evaluation import predict
from ..export.trace import input_features
from ..io import load, read_metadata
from ..recipes import TrainingRecord
from .columns import check_feature_count, count_error, in_model_order, unused_in
from .common import (
    add_output_options,
    emit_json,
    has_label_column,
    label_column,
    positive_int,
)
from .mpi import one_process


def run(args) -> int:
    model = _model(args)
    record = TrainingRecord.of(model)
    loss_fn = record.loss_fn()
    rows = rows_to_predict(args, model, record)
    outputs = predict(model, rows)
    if record.task == "regression":  # the loss's values: a Poisson network's means, say
        values = loss_fn.predict_values(outputs).tolist()
        if args.json:
            emit_json({"predictions": values})
        else:
            for i, value in enumerate(values):
                print(f"row {i}: " + ", ".join(f"{v:.6g}" for v in value))
        return 0
    # one column per class (per label), in float64 for printing
    probabilities = loss_fn.probabilities(outputs.astype(np.float64))
    classes = loss_fn.predict_labels(outputs)  # a class per row, or a row of 0/1 labels
    names = record.class_names
    if len(names) == 1 and classes.ndim == 1 and probabilities.shape[1] <= 2:
        # a model of one class (scikit-learn fits one) predicts it; its probabilities keep the
        # loss's columns, as the estimator's predict_proba
        classes = np.zeros_like(classes)
    elif names and len(names) != probabilities.shape[1]:
        raise ModelFileError(
            f"{args.model}: the model file names {len(names)} classes but the model gives "
            f"{probabilities.shape[1]}; expected one name per class"
        )

    def name(k: int) -> str:
        return names[k] if names else str(k)

    if classes.ndim == 2:  # independent labels: the names of those a row has
        labels = [[name(k) for k in np.flatnonzero(row)] for row in classes]
        shown = [", ".join(row) or "(none)" for row in labels]
    else:
        labels = shown = [name(c) for c in classes]
    if args.json:
        emit_json(
            {
                "predictions": labels,
                "classes": classes.tolist(),
                "probabilities": np.round(probabilities, 6).tolist(),
            }
        )
    else:
        for i, (label, p) in enumerate(zip(shown, probabilities)):
            top = np.argsort(p[: len(names) or None])[::-1][: args.top]  # named classes
            others = ", ".join(f"{name(k)}: {p[k]:.3f}" for k in top)
            print(f"row {i}: {label}  ({others})")
    return 0


def rows_to_predict(args, model, record: TrainingRecord) -> np.ndarray:
    """The rows of ``args.input`` to predict from (:func:`_features`), their columns in the
    order the model was trained on where both name them (:func:`.columns.in_model_order`), as
    many as the model takes (:func:`.columns.check_feature_count`)."""
    datasets.check_rereadable(args.input)
    datasets.header_row(args.input)  # a header's unnamed column: its own error, not the guess
    unused = unused_in(args.input, record, input_features(model))  # ignored, weights: dropped
    rows, dropped = _features(args, model, record, unused)  # of a label column to drop below
    rows = in_model_order(args.input, rows, dropped, model, getattr(args, "quiet", False), unused)
    return check_feature_count(args.input, rows, model)


def _features(args, model, record: TrainingRecord, unused) -> tuple[np.ndarray, str | int | None]:
    """The rows of ``args.input`` to predict from, without its ``unused`` columns (those the
    model was trained without, :func:`.columns.unused_in`), and the CSV column dropped from them
    (None: none).  A CSV file's ``--label-column`` is dropped (by name or index, whatever its
    cells hold); without it, the label column the model was trained on (by its name, or by its
    index in a file without a header, unless an unused column is there: the file lacks the
    label column), with a note on stderr, when the file has it and the rest is as many
    features as the model takes.  Else a CSV file of one column more than the model takes is
    a DataError naming --label-column."""
    path, inputs = args.input, input_features(model)
    if args.label_column is not None:
        column = label_column(args.label_column)
        chosen = datasets.resolve_label_column(path, column)
        if chosen is None:  # no CSV file: no columns
            raise DataError(
                f"{path}: --label-column names a column of a CSV file; an .npy file holds "
                "features only, an .npz file its features under key 'x'"
            )
        trained = record.label_column
        if isinstance(trained, str) and chosen != trained and has_label_column(path, trained):
            raise DataError(
                f"{path}: the model was trained with its labels in column {trained!r}, which "
                f"--label-column {args.label_column} would give it as a feature; drop that "
                f"column (--label-column {trained})"
            )
        return _load(path, column, unused), chosen  # (chosen: resolved, -1 made an index)
    column, beside = record.label_column, None  # beside: the features without that column
    if column is not None and column not in unused and has_label_column(path, column):
        x = _load(path, column, unused)
        beside = x.shape[1]
        # a column of that name is the labels, whatever else the file lacks (said below); one
        # at that index only where the rest is as many features as the model takes
        if x.shape[1] == inputs or isinstance(column, str):
            if x.shape[1] == inputs and not getattr(args, "quiet", False):
                print(
                    f"nudgenet: {path}: dropped column {column_shown(column)}, the label column "
                    "the model was trained on",
                    file=sys.stderr,
                )
            return x, column
    columns = _csv_columns(path)
    columns = None if columns is None else columns - len(unused)
    one_too_many = columns is not None and inputs is not None and columns == inputs + 1
    try:
        x = _load(path, None, unused)
    except DataError:  # a cell that is no number: a label column of names, say
        if beside is not None:  # the model's label column at its index, the rest too few/many
            raise count_error(path, inputs, beside, f" beside label column "
                              f"{column_shown(column)}, the one the model was trained "
                              "with") from None  # fmt: skip
        if columns is None or inputs is None or columns == inputs:
            raise
        if one_too_many:
            raise _label_column_error(path, inputs) from None
        raise count_error(path, inputs, columns) from None  # the model's other data?
    if one_too_many:
        raise _label_column_error(path, inputs)
    return x, None


def _csv_columns(path) -> int | None:
    """The number of columns of the CSV file ``path`` (its first row's); None for other files
    and unreadable ones (the loader's error says why)."""
    try:
        columns = datasets.first_row(path)  # None: no CSV file
    except (OSError, ValueError):  # (DataError too)
        return None
    return None if columns is None else len(columns)


def _label_column_error(path, inputs: int) -> DataError:
    return count_error(path, inputs, inputs + 1, "; if one is the label column, drop it with "
                       "--label-column (its name, or its index from 0)")  # fmt: skip


def _model(args):
    """The model file ``args.model``; where it is none and the rows' file is one, the error
    asks whether the two arguments are swapped."""
    try:
        return load(args.model)
    except ModelFileError as error:
        try:
            read_metadata(args.input)
        except (ModelFileError, OSError):
            raise error from None
        raise ModelFileError(f"{error}; {args.input} is a model file: are the two arguments "
                             "swapped? (the model comes first: nudgenet predict model input)"
                             ) from None  # fmt: skip


def _load(path, column, unused) -> np.ndarray:
    """The features of ``path`` without the CSV column ``column`` (None: every column) and the
    ``unused`` ones."""
    return datasets.load_arrays(path, label_column=column, read_labels=False,
                                ignore_columns=unused)[0]  # fmt: skip


def register(commands) -> None:
    """Add the ``predict`` subcommand."""
    predict_cmd = commands.add_parser(
        "predict",
        help="predict from rows in a .npy or .csv file",
        description="Print each row's class and probabilities (classifiers; a multilabel "
        "model's labels), or values (a Poisson regressor's means, as est.predict gives them), "
        "as the model file's training record says (its task and "
        "loss: nudgenet train and est.save write them; a file without them is refused). With "
        "--json: 'predictions' (each row's class name, a multilabel row's names, or its "
        "values), 'classes' (each row's class index, or a row of 0/1 labels) and "
        "'probabilities' (a row per input row, a column per class).",
    )
    predict_cmd.add_argument("model", help="a .safetensors model file written by nudgenet")
    predict_cmd.add_argument(
        "input",
        help="rows of features: .npy, .npz (key x), or .csv (a label column the model was "
        "trained on is dropped, --label-column names one; so are the columns it was trained "
        "without, nudgenet train's --ignore-columns and --weight-column, where the file has them)",
    )
    predict_cmd.add_argument(
        "--label-column",
        help="a CSV file's label column, dropped from the features whatever it holds: by name "
        "or index from 0, as nudgenet train takes it (default: the column the model was "
        "trained on, where the file has it and the other columns are the model's features)",
    )
    predict_cmd.add_argument(
        "--top", type=positive_int, default=3, help="probabilities shown per row (default: 3)"
    )
    add_output_options(predict_cmd)
    predict_cmd.set_defaults(run=one_process(run))
