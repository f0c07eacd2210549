"""Ready-made pieces for the command line: named data sets, MLP builders, losses and optimisers.

A data set comes back as a :class:`Dataset` with a train part and a held-out part, split the same
way every time from its seed, so ``nudgenet evaluate`` can rebuild the held-out rows a model was
scored on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import data as datasets
from . import nn, optim
from .errors import DataError, DataNotFoundError, NudgenetError

DATASETS = ("digits", "mnist", "black-scholes", "spirals", "xor")
ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "leaky_relu": nn.LeakyReLU,
}
LOSSES = ("auto", "cross_entropy", "mse", "bce_with_logits")
OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop}


@dataclass
class Dataset:
    """Features and targets split into train and held-out rows, plus what the task is."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str  # "classification" or "regression"
    class_names: list[str] = field(default_factory=list)
    note: str = ""
    label_column: int | str | None = None  # a CSV file's label column: its name, or its index
    scope: str = "held-out"  # "all": no split, every row is in x_test (see load_dataset)

    @property
    def features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def outputs(self) -> int:
        if self.task == "classification":
            return len(self.class_names)
        return int(self.y_train.shape[1]) if self.y_train.ndim == 2 else 1


TASKS = ("auto", "classification", "regression")
MAX_AUTO_CLASSES = 100  # more distinct whole-number targets than this read as values


def _task_of(name: str, y: np.ndarray, task: str) -> tuple[str, np.ndarray]:
    """The task and the targets shaped for it.  ``"auto"``: one column of whole numbers with at
    most :data:`MAX_AUTO_CLASSES` distinct values is a classification, anything else a
    regression."""
    if task not in TASKS:
        raise NudgenetError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    whole = y.dtype.kind in "iub"
    if task == "auto":
        few = whole and y.ndim == 1 and len(np.unique(y)) <= MAX_AUTO_CLASSES
        task = "classification" if few else "regression"
    if task == "classification":
        if not whole or y.ndim != 1:
            raise DataError(
                f"{name}: classification needs one column of whole-number labels, got "
                f"{y.dtype} targets of shape {y.shape}; pass --task regression for values"
            )
        return task, y.astype(np.int64, copy=False)
    return task, y.astype(np.float32, copy=False).reshape(len(y), -1)


def _mnist(data_dir, test_size: float, seed: int):
    """The standard 60k/10k split when the training files exist; else the 10k set, split; when
    the 10k files are missing too, the four files downloaded.  Only files that are not there
    lead to another choice: a corrupt file is an error naming it."""
    try:
        train = datasets.mnist("train", data_dir, download=False)
    except DataNotFoundError:
        train = None
    try:
        test = datasets.mnist("test", data_dir, download=False)
    except DataNotFoundError:
        test = None
    if test is None:  # no local 10k set: download what is missing
        train = datasets.mnist("train", data_dir, download=True)
        test = datasets.mnist("test", data_dir, download=True)
    if train is not None:
        note = f"standard MNIST split ({len(train[1]):,} train / {len(test[1]):,} held out)"
        return (*train, *test, note)
    x, y = test
    parts = datasets.train_test_split(x, y, test_size=test_size, seed=seed, stratify=y)
    note = (
        f"MNIST training files not found; using the {len(y):,}-image test set split "
        f"{len(parts[0]):,} train / {len(parts[1]):,} held out"
    )
    return (*parts[0::2], *parts[1::2], note)


def _rows(name: str, samples: int, seed: int, labels, label_column):
    """``(x, y, label column)`` for a named synthetic / bundled set or a user's file; the label
    column (name or index) only for a CSV file."""
    if name == "digits":
        return *datasets.digits(), None
    if name == "black-scholes":
        options = datasets.black_scholes(samples, seed=seed)
        return options.x, options.price, None
    if name == "spirals":
        return *datasets.spirals(samples, classes=3, seed=seed), None
    if name == "xor":
        return *datasets.xor(), None
    path = Path(name)
    if not path.exists():
        raise DataError(
            f"unknown data set {name!r}: expected one of {', '.join(DATASETS)} or an existing "
            ".npz / .csv / IDX file"
        )
    if labels is not None:
        return *datasets.load_idx_pair(path, labels), None
    if "idx" in path.name.lower():
        raise DataError(
            f"{name} looks like an IDX images file: give its labels file too "
            "(--labels FILE on the command line, labels= in Python)"
        )
    x, y = datasets.load_arrays(path, label_column=label_column)
    return x, y, datasets.resolve_label_column(path, label_column)  # read from the header only


def load_dataset(
    name: str,
    data_dir=None,
    test_size: float | None = 0.2,
    seed: int = 0,
    samples: int = 50_000,
    labels=None,
    label_column: str | int = "auto",
    task: str = "auto",
) -> Dataset:
    """Load a named data set (or a user's file) and split it into train / held-out rows;
    ``task`` is ``"auto"``, ``"classification"`` or ``"regression"``; ``label_column`` as in
    :func:`nudgenet.data.load_arrays` (default ``"auto"``: a CSV column named label, target, y
    or class, else an error; the last column of a CSV without a header).

    ``test_size=None``: no split; every row is held out (``x_train`` is empty, ``scope`` is
    ``"all"``), to score a model on data it was not trained on; for ``mnist``, the test set.
    """
    column, scope = None, "held-out"
    if name == "mnist" and test_size is None:
        x_test, y_test = datasets.mnist("test", data_dir)
        x_train, y_train, scope = x_test[:0], y_test[:0], "all"
        note = f"the MNIST test set, all {len(y_test):,} images"
    elif name == "mnist":
        x_train, y_train, x_test, y_test, note = _mnist(data_dir, test_size, seed)
    else:
        x, y, column = _rows(name, samples, seed, labels, label_column)
        if y is None:
            raise DataError(f"{name}: the file has no label column to train on")
        task, y = _task_of(name, y, task)
        stratify = y if task == "classification" and name != "xor" else None
        if test_size is None:
            x_train, x_test, y_train, y_test, scope = x[:0], x, y[:0], y, "all"
            note = f"all {len(x):,} rows"
        elif name == "xor":  # four points: train and score on all of them
            x_train, x_test, y_train, y_test, note = x, x, y, y, "XOR: trained and scored on all 4"
        else:
            x_train, x_test, y_train, y_test = datasets.train_test_split(
                x, y, test_size=test_size, seed=seed, stratify=stratify
            )
            note = f"{len(x_train):,} train / {len(x_test):,} held out"
    if name == "mnist":
        task = "classification"
    class_names = []
    if task == "classification":
        parts = [part for part in (y_train, y_test) if len(part)]  # y_train is empty for "all"
        low, high = min(part.min() for part in parts), max(part.max() for part in parts)
        if low < 0:
            raise DataError(f"{name}: class labels must be 0, 1, 2, ...; found negative labels")
        class_names = [str(c) for c in range(int(high) + 1)]
    return Dataset(name, x_train, y_train, x_test, y_test, task, class_names, note, column, scope)


def loss_by_class_name(name: str):
    """A saved model's loss, from the class name stored in its metadata."""
    known = {cls.__name__: cls for cls in (nn.CrossEntropyLoss, nn.MSELoss, nn.BCEWithLogitsLoss)}
    if name not in known:
        raise NudgenetError(f"the model file names an unknown loss {name!r}")
    return known[name]()


def targets_for(loss_fn, y: np.ndarray) -> np.ndarray:
    """Labels as the loss wants them: a float column of 0/1 for one-logit binary losses."""
    if isinstance(loss_fn, nn.BCEWithLogitsLoss):
        return y.reshape(-1, 1).astype(np.float32)
    return y


def parse_layers(text: str) -> list[int]:
    """``"64,32"`` → ``[64, 32]``; ``""`` → no hidden layer."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise NudgenetError(f"--layers expects sizes like 64,32; got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise NudgenetError(f"--layers sizes must be positive, got {text!r}")
    return sizes


def resolve_loss(name: str, task: str, outputs: int):
    """The loss object for ``name`` (``"auto"``: cross-entropy for classes, MSE for values)."""
    if name == "auto":
        name = "cross_entropy" if task == "classification" else "mse"
    if name == "cross_entropy" and task == "classification":
        return nn.CrossEntropyLoss()
    if name == "bce_with_logits" and task == "classification" and outputs == 2:
        return nn.BCEWithLogitsLoss()
    if name == "mse" and task == "regression":
        return nn.MSELoss()
    raise NudgenetError(
        f"loss {name!r} does not fit a {task} task with {outputs} outputs; use cross_entropy "
        "(classes), bce_with_logits (two classes) or mse (values)"
    )


def output_units(loss_fn, outputs: int) -> int:
    """Units of the last layer: one logit for a binary loss on logits, else ``outputs``."""
    return 1 if isinstance(loss_fn, nn.BCEWithLogitsLoss) else outputs


def build_mlp(
    features: int,
    hidden: list[int],
    outputs: int,
    activation: str = "relu",
    standardize: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
) -> nn.Sequential:
    """``[Standardize] → (Linear → activation) × len(hidden) → Linear(outputs)``, He init for
    ReLU-like activations and Glorot otherwise, each layer seeded from ``seed``."""
    if activation not in ACTIVATIONS:
        raise NudgenetError(
            f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}"
        )
    init = "he_uniform" if activation in ("relu", "leaky_relu") else "glorot_uniform"
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    if standardize is not None:
        layers.append(nn.Standardize(*standardize))
    sizes = [features, *hidden]
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out, init=init, seed=rng), ACTIVATIONS[activation]()]
    layers.append(nn.Linear(sizes[-1], outputs, seed=rng))
    return nn.Sequential(*layers)


def build_optimizer(name: str, params, lr: float | None, momentum: float):
    """An optimiser by name with sensible default learning rates (SGD 0.05, the others 1e-3)."""
    if name not in OPTIMIZERS:
        raise NudgenetError(f"unknown optimiser {name!r}; expected one of {sorted(OPTIMIZERS)}")
    if name == "sgd":
        return optim.SGD(params, lr=0.05 if lr is None else lr, momentum=momentum)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=1e-3 if lr is None else lr, momentum=momentum)
    return OPTIMIZERS[name](params, lr=1e-3 if lr is None else lr)
