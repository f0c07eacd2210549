"""The data sets the command line knows by name, and how any data set is loaded and split.

Each named set is one :class:`DatasetRecord` in :data:`DATASETS`: its loader, its task and what
the commands need to know about it (images or a table, too small to split, generated rows).
Adding a data set is adding one record.  A user's file (.npz / .csv, or an IDX images file with
its labels file) gets a record of its own from :func:`file_record`.

:func:`load_dataset` returns a :class:`Dataset` with a train part and a held-out part, split the
same way every time from its seed, so ``nudgenet evaluate`` can rebuild the held-out rows a
model was scored on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import data
from ..data.userdata import reads_as_table
from ..errors import DataError, DataNotFoundError
from .tasks import task_of

DEFAULT_TEST_SIZE = 0.2  # the held-out fraction
DEFAULT_SAMPLES = 50_000  # rows drawn for a generated set


class Source(NamedTuple):
    """What a loader may use: the folder of downloaded files, how many rows to draw, the seed."""

    data_dir: str | None
    samples: int
    seed: int


class Rows(NamedTuple):
    """Every row of a data set; ``label_column``: a CSV file's label column (name or index);
    ``classes``: the class names when the labels were names (``y`` holds their codes);
    ``weights``: each row's weight, from a CSV file's weight column (None: none)."""

    x: np.ndarray
    y: np.ndarray | None
    label_column: int | str | None = None
    classes: list[str] | None = None
    weights: np.ndarray | None = None


class Split(NamedTuple):
    """A data set's own train / held-out split, and a note saying what it is."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    note: str


@dataclass(frozen=True)
class DatasetRecord:
    """What the commands know about a data set."""

    name: str
    load: Callable[[Source], tuple]  # every row, (x, y) or Rows (for MNIST: the test set)
    task: str  # "classification", "regression", or "auto" (read from the targets: a file)
    images: bool = False  # pixels in [0, 1]: not standardised by default; explain draws them
    image_shape: tuple[int, int] | None = None  # how a row is drawn (None: a square)
    split: bool = True  # False: too few rows to hold any out, trained and scored on all
    generated: bool = False  # rows drawn from --samples and --seed
    split_rows: Callable[[Source, float], Split] | None = None  # its own train / held-out split
    differential: bool = False  # y's first column the value, the others its ∂/∂x (Dataset.dydx_*)
    downloads: bool = False  # fetches missing files (under mpiexec: rank 0 first, cli/mpi.py)
    columns: tuple[str, ...] = ()  # a named set's feature names, in the order of its columns


def _mnist_split(source: Source, test_size: float) -> Split:
    """The standard 60k/10k split when the training files exist; else the 10k set, split; when
    the 10k files are missing too, the four files downloaded.  Only files that are not there
    lead to another choice: a corrupt file is an error naming it."""
    try:
        train = data.mnist("train", source.data_dir, download=False)
    except DataNotFoundError:
        train = None
    try:
        test = data.mnist("test", source.data_dir, download=False)
    except DataNotFoundError:
        test = None
    if test is None:  # no local 10k set: download what is missing
        train = data.mnist("train", source.data_dir, download=True)
        test = data.mnist("test", source.data_dir, download=True)
    if train is not None:
        note = f"standard MNIST split ({len(train[1]):,} train / {len(test[1]):,} held out)"
        return Split(*train, *test, note)
    x, y = test
    parts = data.train_test_split(x, y, test_size=test_size, seed=source.seed, stratify=y)
    note = (
        f"MNIST training files not found; using the {len(y):,}-image test set split "
        f"{len(parts[0]):,} train / {len(parts[1]):,} held out"
    )
    return Split(*parts[0::2], *parts[1::2], note)


def _black_scholes(source: Source) -> tuple[np.ndarray, np.ndarray]:
    options = data.black_scholes(source.samples, seed=source.seed)
    return options.x, options.price


def _black_scholes_mc(source: Source) -> tuple[np.ndarray, np.ndarray]:
    """Spot, volatility and maturity; the payoff of one path, then its pathwise derivatives."""
    paths = data.black_scholes_mc(
        source.samples, seed=source.seed, volatility=(0.1, 0.4), maturity=(0.25, 2.0)
    )
    return paths.x, np.hstack([paths.payoff, paths.differentials])


DATASETS: dict[str, DatasetRecord] = {
    record.name: record
    for record in (
        DatasetRecord(
            "digits",
            lambda s: data.digits(),
            "classification",
            images=True,
            image_shape=(8, 8),
        ),
        DatasetRecord(
            "mnist",
            lambda s: data.mnist("test", s.data_dir),
            "classification",
            images=True,
            image_shape=(28, 28),
            split_rows=_mnist_split,
            downloads=True,
        ),
        DatasetRecord(
            "black-scholes", _black_scholes, "regression", generated=True,
            columns=data.OptionSamples.columns,
        ),
        DatasetRecord(
            "black-scholes-mc", _black_scholes_mc, "regression", generated=True, differential=True,
            columns=("spot", "volatility", "maturity"),  # every input drawn (_black_scholes_mc)
        ),
        DatasetRecord(
            "spirals",
            lambda s: data.spirals(s.samples, classes=3, seed=s.seed),
            "classification",
            generated=True,
        ),
        DatasetRecord("xor", lambda s: data.xor(), "classification", split=False),
    )
}


def file_record(
    name: str,
    labels=None,
    label_column: str | int | None = "auto",
    classes: Sequence[str] | None = None,
    ignore_columns: Sequence[str | int] = (),
    weight_column: str | int | None = None,
) -> DatasetRecord:
    """The record of a user's file: an IDX images file with its ``labels`` file, else a .npz /
    .csv file (labels, ignored and weight columns as in :func:`nudgenet.data.load_arrays`, names
    encoded with ``classes`` when given); its task read from its targets."""
    path = Path(name)
    if not path.exists() and (path.suffix or len(path.parts) > 1):  # a file's name
        raise DataNotFoundError(f"{name}: no such file")
    if not path.exists():
        raise DataError(
            f"unknown data set {name!r}: expected one of {', '.join(DATASETS)} or an existing "
            ".npz / .csv / IDX file"
        )
    data.check_rereadable(path)  # (read by load_arrays, then resolve_label_column)
    if labels is not None and (ignore_columns or weight_column is not None):
        raise DataError(f"{name}: ignored and weight columns are columns of a CSV file; an IDX "
                        "images file has none")  # fmt: skip
    if labels is not None:
        return DatasetRecord(name, lambda s: data.load_idx_pair(path, labels), "auto", images=True)
    if "idx" in path.name.lower() and not reads_as_table(path):  # (rapidx.csv is a table)
        raise DataError(
            f"{name} looks like an IDX images file: give its labels file too "
            "(--labels FILE on the command line, labels= in Python)"
        )

    def load(source: Source) -> Rows:
        x, y, names, *weights = data.load_arrays(
            path, label_column, classes, return_classes=True, ignore_columns=ignore_columns,
            weight_column=weight_column,
        )  # (the weights where there is a weight column)
        column = data.resolve_label_column(path, label_column)  # the header only
        return Rows(x, y, column, names, *weights)

    return DatasetRecord(name, load, "auto")


def record_for(
    name: str,
    labels=None,
    label_column: str | int | None = "auto",
    classes: Sequence[str] | None = None,
    ignore_columns: Sequence[str | int] = (),
    weight_column: str | int | None = None,
) -> DatasetRecord:
    """The record of the data set ``name``: one the commands know by name, else a user's file
    (:func:`file_record`); a named set has no columns to ignore or weigh rows by."""
    if name in DATASETS and (ignore_columns or weight_column is not None):
        raise DataError(f"{name} is a named data set; ignored and weight columns are columns of "
                        "a CSV file")  # fmt: skip
    return DATASETS.get(name) or file_record(
        name, labels, label_column, classes, ignore_columns, weight_column
    )


@dataclass
class Dataset:
    """Features and targets split into train and held-out rows, plus what the task is."""

    record: DatasetRecord
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str  # "classification" or "regression"
    class_names: list[str] = field(default_factory=list)
    note: str = ""
    label_column: int | str | None = None  # a CSV file's label column: its name, or its index
    scope: str = "held-out"  # "all": no split, every row is in x_test (see load_dataset)
    task_reason: str = ""  # why this task, when it was guessed (recipes.tasks)
    dydx_train: np.ndarray | None = None  # a differential record's ∂y/∂x labels (y: the values)
    dydx_test: np.ndarray | None = None
    w_train: np.ndarray | None = None  # the training rows' weights (a weight column's; None: 1)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def outputs(self) -> int:
        if self.task == "classification":
            return len(self.class_names)
        return int(self.y_train.shape[1]) if self.y_train.ndim == 2 else 1


def _targets(y: np.ndarray, task: str) -> np.ndarray:
    """Targets shaped for the task: int64 labels, or float32 value columns."""
    if task == "classification":
        return y.astype(np.int64, copy=False)
    return y.astype(np.float32, copy=False).reshape(len(y), -1)


def load_dataset(
    name: str,
    data_dir=None,
    test_size: float | None = DEFAULT_TEST_SIZE,
    seed: int = 0,
    samples: int = DEFAULT_SAMPLES,
    labels=None,
    label_column: str | int = "auto",
    task: str = "auto",
    class_names: Sequence[str] | None = None,
    task_given_by: str = "--task",
    ignore_columns: Sequence[str | int] = (),
    weight_column: str | int | None = None,
) -> Dataset:
    """Load a named data set (or a user's file) and split it into train / held-out rows;
    ``task`` is ``"auto"`` (the record's own; a file's guessed from its targets, see
    :mod:`nudgenet.recipes.tasks`), ``"classification"`` or ``"regression"``; ``label_column``
    as in :func:`nudgenet.data.load_arrays` (default ``"auto"``: a CSV column named label,
    target, y or class, else an error; the last column of a CSV without a header).  Labels that
    are names are encoded as scikit-learn's LabelEncoder does (sorted names → 0..k-1), or, given
    ``class_names`` (a saved model's), with those: a label not among them is an error.
    ``task_given_by``: what chose ``task``, for the errors' advice (``"--task"``, ``"the model"``).
    ``ignore_columns``, ``weight_column``: a CSV file's columns that are no features (as in
    :func:`nudgenet.data.load_arrays`); the training rows' weights are ``w_train``.

    ``test_size=None``: no split; every row is held out (``x_train`` is empty, ``scope`` is
    ``"all"``), to score a model on data it was not trained on; for ``mnist``, the test set.
    """
    class_names_given = class_names
    record = record_for(name, labels, label_column, class_names, ignore_columns, weight_column)
    source = Source(data_dir, samples, seed)
    task = record.task if task == "auto" else task
    column, names, scope, w_train = None, None, "held-out", None
    if record.split_rows is not None and test_size is not None:
        x_train, y_train, x_test, y_test, note = record.split_rows(source, test_size)
        task, reason = task_of(name, y_train, task, given_by=task_given_by)
        y_train, y_test = _targets(y_train, task), _targets(y_test, task)
    else:
        x, y, column, names, weights = Rows(*record.load(source))
        if y is None:
            raise DataError(f"{name}: the file has no label column to train on")
        task, reason = task_of(name, y, task, names=names is not None, given_by=task_given_by)
        y = _targets(y, task)
        if test_size is None:
            x_train, x_test, y_train, y_test, scope = x[:0], x, y[:0], y, "all"
            w_train = None if weights is None else weights[:0]
            note = f"all {len(x):,} rows"
        elif not record.split:
            x_train, x_test, y_train, y_test, w_train = x, x, y, y, weights
            note = f"too few rows to hold any out: trained and scored on all {len(x):,}"
        else:
            stratify = y if task == "classification" else None
            if stratify is not None and y.ndim == 1:
                _check_rows_per_class(name, y, names)
            if len(y) < 2:  # (the split's own error names test_size=, not the file)
                raise DataError(f"{name}: 1 row; the training and the held-out rows need one "
                                "each at least")  # fmt: skip
            rows = np.arange(len(y))  # (the weights' rows split as the others)
            x_train, x_test, y_train, y_test, train_rows, _ = data.train_test_split(
                x, y, rows, test_size=test_size, seed=seed, stratify=stratify
            )
            w_train = None if weights is None else weights[train_rows]
            note = f"{len(x_train):,} train / {len(x_test):,} held out"
    dydx_train = dydx_test = None
    if record.differential:  # the values are the targets; their derivatives kept beside
        dydx_train, dydx_test = y_train[:, 1:], y_test[:, 1:]
        y_train, y_test = y_train[:, :1], y_test[:, :1]
    class_names = names or []
    if task == "classification" and names is None:  # number labels: their values are the names
        every = np.concatenate([y_train, y_test])
        class_names, codes = _number_classes(name, every, class_names_given)
        y_train, y_test = codes[: len(y_train)], codes[len(y_train) :]
    return Dataset(
        record, x_train, y_train, x_test, y_test, task, class_names, note, column, scope, reason,
        dydx_train, dydx_test, w_train,
    )  # fmt: skip


def _check_rows_per_class(name: str, y: np.ndarray, names: Sequence[str] | None) -> None:
    """A DataError naming a class of one row (the held-out rows take each class's share: one of
    one row cannot be in both parts), by its name (``names``, for labels that are names; else
    its number), and where it is a CSV file's first row, read as data: a header of numbers?"""
    values, first, counts = np.unique(y, return_index=True, return_counts=True)
    if counts.min() >= 2:
        return
    k = int(counts.argmin())
    number_names = None if names is not None else _number_classes(name, values, None)[0]
    label = names[int(values[k])] if names is not None else number_names[k]
    where = f"data row {first[k] + 1}"
    if first[k] == 0 and data.first_row(name) is not None and data.header_row(name) is None:
        where = "the file's first row, read as data: is it a header of numbers?"
    raise DataError(
        f"{name}: class {label!r} has only 1 row ({where}); every class needs 2 or more, to be "
        "in both the training and the held-out rows"
    )


def _number_classes(name: str, y: np.ndarray, known: Sequence[str] | None):
    """``(class names, codes)`` of number labels, as LabelEncoder numbers them: the sorted
    distinct values are the classes 0..k-1 and their names (labels 0..k-1 keep their numbers;
    labels 0, 5, 10 become three classes, not eleven).  Given ``known`` names (a saved model's),
    each label is its name's position there; a label the model never saw is an error."""
    if known:
        position = {label: code for code, label in enumerate(known)}
        names = [str(value) for value in y.tolist()]
        unseen = sorted({label for label in names if label not in position})
        if unseen:
            raise DataError(
                f"{name}: labels {', '.join(unseen[:5])} are not among the model's classes "
                f"({', '.join(known[:10])}{', ...' if len(known) > 10 else ''})"
            )
        return list(known), np.array([position[label] for label in names], dtype=np.int64)
    values, codes = np.unique(y, return_inverse=True)
    return [str(value) for value in values.tolist()], codes.astype(np.int64).reshape(y.shape)
