"""What the commands share: data options and argument types, notes, JSON output (the rows to
score a saved model on: :mod:`.scoring_rows`)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

from .. import data as datasets
from .. import recipes
from ..errors import DataError, NudgenetError, SharedMemoryWarning
from ..evaluation import predict
from ..plot import check_figure_path

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


HELD_OUT = "the model's held-out rows of the data it was trained on"  # evaluate's, explain's


def add_data_options(parser: argparse.ArgumentParser, dataset_default: str | None, *,
                     without: str = "", saved_model: bool = False) -> None:  # fmt: skip
    """``--dataset`` (default ``dataset_default``; None: ``without`` says what is read without
    one), ``--data-dir``, ``--labels`` and ``--label-column`` (whose default, for a command
    reading a ``saved_model``, is first the column that model was trained on)."""
    parser.add_argument(
        "--dataset",
        default=dataset_default,
        help=f"one of {', '.join(recipes.DATASETS)}, or a .npz file, a .csv file (comma-separated, "
        "an optional header row; features are numbers, labels numbers or names), or an IDX "
        "images file with --labels (default: "
        + ("%(default)s)" if dataset_default is not None else f"{without})"),
    )
    parser.add_argument(
        "--data-dir",
        help="folder holding the MNIST files (else $NUDGENET_DATA, "
        "then the user cache; downloaded when missing)",
    )
    parser.add_argument("--labels", help="IDX labels file, when --dataset is an IDX images file")
    trained = ("the column the model was trained on where the file has it; else "
               if saved_model else "")  # fmt: skip
    parser.add_argument(
        "--label-column",
        help=f"CSV label column, by name or index from 0 (default: {trained}the column named "
        "label, target, y or class, in any case; the last column of a file without a header "
        "row)",
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
        ignore_columns=getattr(args, "ignore_columns", ()),  # (nudgenet train's options)
        weight_column=getattr(args, "weight_column", None),
    )


def output_units(model, x) -> int:
    """How many outputs ``model`` gives a row (from one row of ``x``)."""
    return int(predict(model, x[:1]).shape[1])


def absolute(path: str | None) -> str | None:
    """``path`` made absolute (for model metadata that must work from any folder)."""
    return None if path is None else str(Path(path).expanduser().resolve())


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
