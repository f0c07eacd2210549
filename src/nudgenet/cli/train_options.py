"""The options of ``nudgenet train`` (its parser's arguments), apart from what it does with them
(:mod:`.train`)."""

from __future__ import annotations

from .. import recipes
from .class_weight import USAGE, class_weight_option
from .common import (
    UsageError,
    add_data_options,
    add_output_options,
    figure_path,
    fraction,
    fraction_or_zero,
    layer_sizes,
    non_negative_int,
    positive_float,
    positive_int,
)
from .data_columns import add_column_options
from .differential import add_differential_option
from .logs import add_log_options
from .mpi import BATCH_SIZE_HELP
from .output import KEPT_BETTER_MODEL

DEFAULT_VALIDATION_SPLIT = 0.1
GENERATED = [record.name for record in recipes.DATASETS.values() if record.generated]
MOMENTUM = [name for name, recipe in recipes.OPTIMIZERS.items() if recipe.momentum]
DEFAULT_MOMENTUM = 0.9


def momentum_for(args) -> float:
    """``--momentum`` (default :data:`DEFAULT_MOMENTUM`) for an ``--optimizer`` that takes one;
    given for one that takes none, a UsageError (it was ignored without a word)."""
    if args.momentum is None:
        return DEFAULT_MOMENTUM
    if args.optimizer not in MOMENTUM:
        raise UsageError(f"--momentum is for {'/'.join(MOMENTUM)}; --optimizer {args.optimizer} "
                         "takes none")  # fmt: skip
    return args.momentum


def add_train_options(train) -> None:
    """Add ``nudgenet train``'s options to its parser ``train``."""
    add_data_options(train, "digits")
    add_column_options(train)  # --ignore-columns, --weight-column
    train.add_argument(
        "--test-size",
        type=fraction,
        default=recipes.DEFAULT_TEST_SIZE,
        help="held-out fraction (default: %(default)s)",
    )
    train.add_argument(
        "--validation-split",
        type=fraction_or_zero,
        help="fraction of the training rows held back for val_loss and the validation curves; "
        f"0 trains on them all (default: {DEFAULT_VALIDATION_SPLIT}, or 0 when the data set is "
        "too small to spare a row)",
    )
    train.add_argument(
        "--samples",
        type=positive_int,
        default=recipes.DEFAULT_SAMPLES,
        help=f"rows to generate for {'/'.join(GENERATED)} (default: %(default)s)",
    )
    train.add_argument(
        "--task",
        default="auto",
        choices=recipes.TASKS,
        help="auto: labels that are names are classes; whole numbers are classes when at most "
        f"{recipes.AUTO_MAX_CLASSES} distinct ones (it asks when one is rare: on 1 row, or "
        f"under {recipes.AUTO_MIN_CLASS_ROWS} in a larger file), values when more; other "
        "targets are values. The info line says what was guessed and why (default: "
        "%(default)s)",
    )
    train.add_argument(
        "--layers", type=layer_sizes, default="64", help="hidden sizes, e.g. 16,16 (default: 64)"
    )
    train.add_argument(
        "--activation",
        choices=sorted(recipes.ACTIVATIONS),
        help="hidden layers' activation (default: relu; softplus with --differential)",
    )
    train.add_argument(
        "--loss",
        default="auto",
        choices=["auto", *recipes.LOSSES],
        help=f"auto: {recipes.DEFAULT_LOSSES['classification']} for a classification (two "
        f"classes too), {recipes.DEFAULT_LOSSES['regression']} for a regression (default: "
        "%(default)s)",
    )
    train.add_argument(
        "--optimizer",
        choices=sorted(recipes.OPTIMIZERS),
        help="(default: sgd; adam with --differential)",
    )
    rates = ", ".join(
        f"{name} {recipe.lr:g}" + (f" ({recipe.regression_lr:g} for a regression)"
                                   if recipe.regression_lr else "")  # fmt: skip
        for name, recipe in recipes.OPTIMIZERS.items()
    )
    train.add_argument("--lr", type=positive_float, help=f"learning rate (default: {rates})")
    train.add_argument(
        "--momentum",
        type=fraction_or_zero,
        help=f"momentum for {'/'.join(MOMENTUM)}, in [0, 1) (default: {DEFAULT_MOMENTUM})",
    )
    train.add_argument(
        "--class-weight",
        type=class_weight_option,
        metavar="WEIGHTS",
        help=f"weigh the training rows by class: {USAGE}; 'balanced' gives each class "
        "n_rows / (n_classes * its rows), as scikit-learn does. The training loss is then the "
        "weighted mean; validation and test scores stay unweighted",
    )
    train.add_argument("--batch-size", type=positive_int, default=32, help=BATCH_SIZE_HELP)
    train.add_argument(
        "--epochs", type=positive_int, default=30, help="passes over the training rows "
        "(default: %(default)s)"
    )  # fmt: skip
    train.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the held-out split, a "
        "generated data set's rows, the initial weights and the batch order (default: %(default)s)"
    )  # fmt: skip
    train.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="the network's floats: float64 is slower, and keeps a long run's rounding small "
        "(under mpiexec: close to one process's run for longer); a CSV file is read in float32 "
        "either way, so its values must be within float32's range (default: %(default)s)",
    )
    train.add_argument(
        "--early-stopping",
        type=non_negative_int,
        default=0,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without val_loss improvement (default: 0, off)",
    )
    scaling = train.add_mutually_exclusive_group()
    scaling.add_argument(
        "--standardize",
        dest="standardize",
        action="store_true",
        default=None,
        help="standardise inputs (saved in the model) and, for regression, train on z-scored "
        "targets, rescaled by a final layer in the saved model (so the progress lines and "
        "--plot curves are in standardised units; the results, held-out line and --json, in "
        "the targets' own); default for non-image data",
    )
    scaling.add_argument("--no-standardize", dest="standardize", action="store_false",
                         help="train on the inputs and targets as they are; default for "
                         "image data")  # fmt: skip
    train.add_argument("--output", "-o", help="model file (default: nudgenet-DATASET.safetensors)")
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the file at --output whatever it holds; without it, only a nudgenet model "
        "scored on the same held-out rows is replaced, and only by a run scoring at least as "
        "well, a tie of scores decided by the held-out loss (a worse run is not saved: exit "
        f"code {KEPT_BETTER_MODEL})",
    )
    train.add_argument(
        "--plot",
        type=figure_path,
        metavar="PNG",
        help="write the training curves (loss, accuracy/rmse; train and validation) to PNG and "
        "the per-layer gradient norms to PNG's name + -gradients (needs matplotlib: pip install "
        '"nudgenet[plot]")',
    )
    train.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="save the run's whole state to DIR after every epoch; the same command run again "
        "resumes from DIR's newest checkpoint and ends as an uninterrupted run would, bit for "
        "bit (a checkpoint of another run is refused)",
    )
    train.add_argument(
        "--restart",
        action="store_true",
        help="delete --checkpoint DIR's checkpoints and start the run over",
    )
    add_log_options(train)
    add_differential_option(train)
    add_output_options(train, training=True)
