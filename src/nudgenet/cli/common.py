"""What the commands share: data options, the saved model's metadata, JSON output."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from .. import data as datasets
from .. import recipes
from ..errors import DataError, NudgenetError

CLASSIFICATION_METRICS = ["accuracy"]
REGRESSION_METRICS = ["rmse", "mae"]


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


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


def emit_json(payload: dict) -> None:
    """Print ``payload`` as the last line of stdout."""
    print(json.dumps(payload, sort_keys=True))


def add_data_options(parser: argparse.ArgumentParser, dataset_default) -> None:
    parser.add_argument(
        "--dataset",
        default=dataset_default,
        help=f"one of {', '.join(recipes.DATASETS)}, or a .npz/.csv file, or an IDX images file "
        "with --labels (default: %(default)s)",
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


def saved(model, key: str, default):
    """A value from the metadata saved with ``model``."""
    return (getattr(model, "metadata", None) or {}).get(key, default)


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


def held_out(args, model):
    """The rows to score a saved model on, its loss and task: ``(data, loss_fn, y_test, task)``.

    Without ``--dataset``, or when it names the data the model was trained on: the held-out rows
    it was scored on (the split rebuilt from its metadata, the files found where training found
    them).  Any other data set: every row of it (``data.scope == "all"``), since the model's
    split says nothing about a file it never saw.  Without ``--label-column`` the labels are read
    from the column the model was trained on, where the file has it (a CSV of the same columns),
    else from the column ``"auto"`` picks."""
    task = saved(model, "task", "classification")
    loss_name = saved(model, "loss", "CrossEntropyLoss")
    trained_on = saved(model, "dataset", None)
    args.dataset = args.dataset or trained_on
    if args.dataset is None:
        raise NudgenetError("the model file does not name its data set; pass --dataset")
    same = (
        trained_on is not None
        and _same_data(args.dataset, trained_on)
        and _same_data(args.labels, saved(model, "labels", None))
    )
    if same:
        args.labels = args.labels or saved(model, "labels", None)
        args.data_dir = args.data_dir or saved(model, "data_dir", None)
    column = saved(model, "label_column", None)
    if args.label_column is None and column is not None:
        if same or _has_column(args.dataset, column):
            args.label_column = str(column)
    args.task = task  # the targets read as in training
    data = load_data(
        args,
        saved(model, "test_size", 0.2) if same else None,
        saved(model, "seed", 0),
        saved(model, "samples", 50_000),
    )
    loss_fn = recipes.loss_by_class_name(loss_name)
    return data, loss_fn, recipes.targets_for(loss_fn, data.y_test), task


def _has_column(path: str, column: str | int) -> bool:
    """Whether the CSV file ``path`` has the label column ``column`` (by name or index)."""
    try:
        return datasets.resolve_label_column(path, column) is not None
    except DataError:  # no such column (or no such file: loading it says so)
        return False


def add_output_options(parser: argparse.ArgumentParser, progress: bool = True) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="make the last line of stdout one JSON object with the results",
    )
    if not progress:
        return
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    noise.add_argument("--verbose", "-v", action="store_true", help="one line per epoch")
