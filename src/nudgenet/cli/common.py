"""What the commands share: data options, the saved model's metadata, JSON output."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import data as datasets
from .. import recipes
from ..errors import DataError, NudgenetError, SharedMemoryWarning
from ..evaluation import predict
from ..plot import check_figure_path
from .columns import check_feature_count, in_model_order

CLASSIFICATION_METRICS = ["accuracy"]
REGRESSION_METRICS = ["rmse", "mae"]
# a user's mistakes (a missing or corrupt file, a bad value): one line each, never a traceback
USER_ERRORS = (NudgenetError, OSError, ValueError, KeyError, ImportError)


class UsageError(NudgenetError):
    """A command line whose options contradict each other, found only once the command runs
    (``main`` ends it with exit code 2, as argparse does a bad value; so does an MPI job)."""

    exit_code = 2


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    return _whole_number(text, minimum=1)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    return _whole_number(text, minimum=0)


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (not NaN or infinity)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def layer_sizes(text: str) -> list[int]:
    """An argparse type: hidden layer sizes such as ``64,32`` (see :func:`recipes.parse_layers`)."""
    try:
        return recipes.parse_layers(text)
    except NudgenetError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def figure_path(text: str) -> Path:
    """An argparse type: a path whose suffix matplotlib writes (see :func:`check_figure_path`),
    ``.png`` added where it has none (matplotlib writes a PNG there: the path the file gets, for
    the checks before the run and the results); a folder (an existing one, or a path ending in a
    separator, ``.`` or ``..``, or empty) is refused.  Without matplotlib the path is taken as it
    is: the command then says which extra to install (a missing package is no usage mistake)."""
    if os.path.basename(text) in ("", ".", "..") or os.path.isdir(text):
        folder = text.rstrip("/" + os.sep) or text
        raise argparse.ArgumentTypeError(f"expected a figure path such as "
                                         f"{os.path.join(folder, 'curves.png')}, got the folder "
                                         f"{text!r}")  # fmt: skip
    path = Path(text)
    if not (path.suffix and os.path.splitext(text)[1]):  # pathlib's suffix and matplotlib's
        path = path.with_name(f"{path.name}.png")
    try:
        return check_figure_path(path)
    except ImportError:
        return path
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    return _fraction(text, zero_allowed=False)


def fraction_or_zero(text: str) -> float:
    """An argparse type: 0 (none) or a number strictly between 0 and 1."""
    return _fraction(text, zero_allowed=True)


def _fraction(text: str, zero_allowed: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if 0 < value < 1 or (zero_allowed and value == 0):
        return value
    expected = "0 or a fraction" if zero_allowed else "a fraction"
    raise argparse.ArgumentTypeError(f"expected {expected} between 0 and 1, got {text!r}")


def metrics_for(task: str) -> list[str]:
    """The metrics reported for a task."""
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def format_figure(value: float) -> str:
    """A loss or score for the text output: 4 decimals (``0.0523``), or 3 significant digits
    with an exponent where decimals would hide it (``1.23e-06``, ``4.56e+07``)."""
    if value == 0 or not math.isfinite(value) or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4f}"
    return f"{value:.2e}"


def emit_json(payload: dict) -> None:
    """Print ``payload`` as the last line of stdout."""
    print(json.dumps(payload, sort_keys=True))


NOTES = (UserWarning, SharedMemoryWarning)  # warnings meant for the command's user


def warning_notes(args, wording=str, write=None):
    """``warnings.showwarning`` for a command: a warning meant for its user (:data:`NOTES`: a
    CSV file's first row 0,1,2,... read as data, fit's notes, a machine's shared memory short
    for the ranks of ``mpiexec``) as one line ``nudgenet: note: <wording(message)>`` (through
    ``write``, else on stderr), each once, none with ``-q``; any other (numpy's
    RuntimeWarnings, ResourceWarning, DeprecationWarning) as Python shows it."""
    shown, said = warnings.showwarning, set()

    def note(message, category, *where, **more) -> None:
        if not issubclass(category, NOTES):
            shown(message, category, *where, **more)
            return
        line = f"nudgenet: note: {wording(message)}"
        if not getattr(args, "quiet", False) and line not in said:
            said.add(line)
            if write is None:
                print(line, file=sys.stderr)
            else:
                write(line)

    return note


def add_data_options(parser: argparse.ArgumentParser, dataset_default) -> None:
    parser.add_argument(
        "--dataset",
        default=dataset_default,
        help=f"one of {', '.join(recipes.DATASETS)}, or a .npz file, a .csv file (comma-separated, "
        "numbers with decimal points, an optional header row), or an IDX images file with "
        "--labels (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        help="folder holding the MNIST files (else $NUDGENET_DATA, "
        "then the user cache; downloaded when missing)",
    )
    parser.add_argument("--labels", help="IDX labels file, when --dataset is an IDX images file")
    parser.add_argument(
        "--label-column",
        help="CSV label column, by name or index from 0 (default: for a saved model, the "
        "column it was trained on where the file has it; else the column named label, target, "
        "y or class; the last column of a file without a header row)",
    )


def label_column(text: str | None):
    """``--label-column``: an index, a name, or ``"auto"`` when not given."""
    if text is None:
        return "auto"
    try:
        return int(text)
    except ValueError:
        return text


def load_data(args, test_size: float | None, seed: int, samples: int) -> recipes.Dataset:
    """The data set the command line names, split into train and held-out rows; ``test_size``
    None: not split, every row held out (``scope == "all"``, see :func:`recipes.load_dataset`).
    """
    return recipes.load_dataset(
        args.dataset,
        args.data_dir,
        test_size=test_size,
        seed=seed,
        samples=samples,
        labels=args.labels,
        label_column=label_column(args.label_column),
        task=getattr(args, "task", "auto"),
    )


def output_units(model, x) -> int:
    """How many outputs ``model`` gives a row (from one row of ``x``)."""
    return int(predict(model, x[:1]).shape[1])


def absolute(path: str | None) -> str | None:
    """``path`` made absolute (for model metadata that must work from any folder)."""
    return None if path is None else str(Path(path).expanduser().resolve())


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

    Without ``--dataset``, or when it names the data the model was trained on: the held-out rows
    it was scored on (the split rebuilt from its record, the files found where training found
    them).  Any other data set: every row of it (``data.scope == "all"``), since the model's
    split says nothing about a file it never saw.  Without ``--label-column`` the labels are read
    from the column the model was trained on, where the file has it (a CSV of the same columns),
    else from the column ``"auto"`` picks.  The targets are read for the model's task; labels
    are matched to the model's class names (a label it never saw is an error), so a file lacking
    a class keeps the model's numbering."""
    record = recipes.TrainingRecord.of(model)
    dataset, labels, same = data_read(args, record)
    if dataset is None:
        raise NudgenetError("the model file does not name its data set; pass --dataset")
    datasets.check_rereadable(dataset)  # before its first rows are read for the label column
    column = label_column(args.label_column)
    if args.label_column is None and record.label_column is not None:
        if same or has_label_column(dataset, record.label_column):
            column = record.label_column
        else:
            _check_recognised(dataset, record.label_column)
    data = recipes.load_dataset(
        dataset,
        args.data_dir or (record.data_dir if same else None),
        test_size=record.test_size if same else None,
        seed=record.seed,
        samples=record.samples,
        labels=labels,
        label_column=column,
        task=record.task,
        class_names=record.class_names if record.task == "classification" else None,
        task_given_by="the model",
    )
    if same and column == record.label_column:  # the rows it was trained on, or a DataError
        record.check_rows(data)
    if isinstance(data.x_test, np.ndarray):  # a CSV's columns by name, where both have names
        x_test = in_model_order(
            dataset, data.x_test, data.label_column, model, getattr(args, "quiet", False)
        )
        data = replace(data, x_test=x_test)
    check_feature_count(dataset, data.x_test, model)
    loss_fn = record.loss_fn()
    return HeldOut(
        data, loss_fn, loss_fn.check_targets(data.y_test, output_units(model, data.x_test))
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
        where = repr(trained) if isinstance(trained, str) else f"{trained} (from 0)"
        reason = str(error).removeprefix(f"{path}: ")
        raise datasets.NoLabelColumn(
            f"{path}: the model's labels were in column {where}, which this file lacks; {reason}"
        ) from None


def has_label_column(path: str, column: str | int) -> bool:
    """Whether the CSV file ``path`` has the label column ``column`` (by name or index); False for
    other files."""
    try:
        return datasets.resolve_label_column(path, column) is not None
    except DataError:  # no such column, or a file loading it will say more of
        return False


def add_output_options(parser: argparse.ArgumentParser, training: bool = False) -> None:
    """``--json`` and ``-q/--quiet`` for every command; ``-v/--verbose`` for one that trains."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="make the last line of stdout one JSON object with the results",
    )
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress and no informational messages on stderr (results and errors are still "
        "printed)"
        if training
        else "no informational messages on stderr (results and errors are still printed)",
    )
    if training:
        noise.add_argument(
            "--verbose",
            "-v",
            action="store_true",
            help="one line per epoch instead of a progress bar, and the data set's summary "
            "line even with --json",
        )
