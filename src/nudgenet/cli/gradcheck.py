"""``nudgenet gradcheck``: every parameter's backprop gradient against finite differences."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import recipes
from ..errors import NudgenetError
from ..gradient_check import check_gradients
from ..io import load
from .common import (
    add_data_options,
    add_output_options,
    emit_json,
    load_data,
    non_negative_int,
    output_units,
    positive_int,
)
from .mpi import one_process

GRADIENT_MISMATCH = 3  # exit code of `gradcheck` when a gradient disagrees


def _architecture(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split("-")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or any(size < 1 for size in sizes):
        raise NudgenetError(
            f"{text!r} is neither a model file nor an architecture like 784-16-16-10"
        )
    return sizes


def _model_and_loss(args):
    """``(model, loss_fn, source)``: a saved model and its loss, or a fresh MLP for an
    architecture with the named loss (``auto``: cross-entropy for several outputs, the squared
    error for one)."""
    path = Path(args.model)
    if path.suffix == ".safetensors" or path.exists():
        model = load(path)
        return model, recipes.TrainingRecord.of(model).loss_fn(), str(path)
    sizes = _architecture(args.model)
    units = sizes[-1]
    model = recipes.build_mlp(sizes[0], sizes[1:-1], units, args.activation, None, args.seed)
    # a bare architecture's task: several output units score classes, one is a value (auto)
    task = "classification" if units > 1 else "regression"
    name = args.loss
    if name != "auto":
        task = recipes.LOSSES[name]().task
    loss_fn = recipes.resolve_loss(name, task)
    n = units if loss_fn.task == "regression" or units > 1 else 2  # one unit: two classes
    if loss_fn.output_units(n) != units:
        raise NudgenetError(
            f"{name} needs an architecture ending in {loss_fn.output_units(n)} output units "
            f"for {n} classes, got {args.model}"
        )
    return model, loss_fn, f"{args.model} ({args.activation})"


def _random_targets(loss_fn, rng, rows: int, units: int) -> np.ndarray:
    """Targets for ``rows`` random rows: values in [0, 1), which every regression loss takes
    (PoissonLoss: no negative ones), or labels of every class (one output unit scores two)."""
    if loss_fn.task == "regression":
        return rng.random((rows, units))
    return rng.integers(0, max(units, 2), size=rows)


def run(args) -> int:
    model, loss_fn, source = _model_and_loss(args)
    features = next(layer for layer in model.parameters()).shape[0]
    if args.dataset:
        data = load_data(args, None, args.seed, max(args.rows, 100))  # every row, in order
        if data.features != features:
            raise NudgenetError(
                f"{data.name} has {data.features} features but the model expects {features}"
            )
        x, y = data.x_test[: args.rows], data.y_test[: args.rows]
        rows_from = f"the first {len(x)} rows of {data.name}"
    else:
        rng = np.random.default_rng(args.seed)
        x = rng.random((args.rows, features))
        y = _random_targets(loss_fn, rng, args.rows, output_units(model, x))
        rows_from = f"a random batch of {args.rows} rows"
    y = loss_fn.check_targets(y, output_units(model, x))
    report = check_gradients(
        model, loss_fn, x, y, max_checks_per_parameter=args.max_checks, seed=args.seed
    )
    failed = [p.name for p in report.parameters if not p.passed]
    if args.json:
        emit_json({"model": source, "rows": rows_from, **report.to_dict()})
    else:
        print(f"gradient check of {source} on {rows_from}, float64, central differences:")
        print(report)
    if failed:
        print(f"nudgenet gradcheck: gradient mismatch in {', '.join(failed)}", file=sys.stderr)
        return GRADIENT_MISMATCH
    return 0


def register(commands) -> None:
    """Add the ``gradcheck`` subcommand."""
    gradcheck_cmd = commands.add_parser(
        "gradcheck",
        help="check every parameter's backprop gradient against finite differences",
        description="Compare backprop with central differences in float64, parameter by "
        "parameter, in eval mode (Dropout off, BatchNorm1d on its running statistics: their "
        "training-mode gradients are not checked here). MODEL_OR_ARCH is a saved .safetensors "
        f"model or an architecture like 784-16-16-10. Exit code {GRADIENT_MISMATCH} when a "
        "gradient disagrees.",
    )
    gradcheck_cmd.add_argument("model", metavar="MODEL_OR_ARCH")
    add_data_options(gradcheck_cmd, None, without="a random batch of --rows rows")
    gradcheck_cmd.add_argument(
        "--activation",
        default="relu",
        choices=sorted(recipes.ACTIVATIONS),
        help="hidden activation for an architecture (default: %(default)s)",
    )
    gradcheck_cmd.add_argument(
        "--loss",
        default="auto",
        choices=["auto", *recipes.LOSSES],
        help="loss for an architecture (a model file's is its own); auto: cross_entropy for "
        "several output units, mse for one (default: %(default)s)",
    )
    gradcheck_cmd.add_argument(
        "--rows", type=positive_int, default=8, help="batch size checked (default: %(default)s)"
    )
    gradcheck_cmd.add_argument(
        "--max-checks",
        type=positive_int,
        default=200,
        help="entries sampled per parameter (default: %(default)s)",
    )
    gradcheck_cmd.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of an architecture's weights, the "
        "random rows and the entries sampled (default: %(default)s)"
    )  # fmt: skip
    add_output_options(gradcheck_cmd)
    gradcheck_cmd.set_defaults(run=one_process(run))
