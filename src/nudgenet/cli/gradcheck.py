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
    positive_int,
    saved,
)

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


def run(args) -> int:
    path = Path(args.model)
    if path.suffix == ".safetensors" or path.exists():
        model = load(path)
        loss_fn = recipes.loss_by_class_name(saved(model, "loss", "CrossEntropyLoss"))
        task = saved(model, "task", "classification")
        source = str(path)
    else:
        sizes = _architecture(args.model)
        model = recipes.build_mlp(
            sizes[0], sizes[1:-1], sizes[-1], args.activation, None, args.seed
        )
        if args.loss == "bce_with_logits":  # two classes from one logit
            if sizes[-1] != 1:
                raise NudgenetError(
                    f"bce_with_logits needs an architecture ending in one output unit (e.g. "
                    f"{'-'.join(map(str, sizes[:-1]))}-1), got {args.model}"
                )
            task, classes = "classification", 2
        else:
            task = "classification" if sizes[-1] > 1 else "regression"
            classes = sizes[-1]
        loss_fn = recipes.resolve_loss(args.loss, task, classes)
        source = f"{args.model} ({args.activation})"
    features = next(layer for layer in model.parameters()).shape[0]
    if args.dataset:
        data = load_data(args, 0.2, args.seed, max(args.rows, 100))
        if data.features != features:
            raise NudgenetError(
                f"{data.name} has {data.features} features but the model expects {features}"
            )
        x = np.concatenate([data.x_train, data.x_test])[: args.rows]
        y = recipes.targets_for(loss_fn, np.concatenate([data.y_train, data.y_test])[: args.rows])
        rows_from = f"the first {len(x)} rows of {data.name}"
    else:
        rng = np.random.default_rng(args.seed)
        x = rng.random((args.rows, features))
        outputs = model(x[:1]).shape[1]
        if task == "classification" and outputs > 1:
            y = rng.integers(0, outputs, size=args.rows)
        else:
            y = recipes.targets_for(loss_fn, rng.integers(0, 2, size=args.rows))
            if task == "regression":
                y = rng.normal(size=(args.rows, outputs))
        rows_from = f"a random batch of {args.rows} rows"
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
        "parameter. MODEL_OR_ARCH is a saved .safetensors model or an architecture like "
        f"784-16-16-10. Exit code {GRADIENT_MISMATCH} when a gradient disagrees.",
    )
    gradcheck_cmd.add_argument("model", metavar="MODEL_OR_ARCH")
    add_data_options(gradcheck_cmd, None)
    gradcheck_cmd.add_argument(
        "--activation",
        default="relu",
        choices=sorted(recipes.ACTIVATIONS),
        help="hidden activation for an architecture (default: %(default)s)",
    )
    gradcheck_cmd.add_argument("--loss", default="auto", choices=recipes.LOSSES)
    gradcheck_cmd.add_argument(
        "--rows", type=positive_int, default=8, help="batch size checked (default: %(default)s)"
    )
    gradcheck_cmd.add_argument(
        "--max-checks",
        type=positive_int,
        default=200,
        help="entries sampled per parameter (default: %(default)s)",
    )
    gradcheck_cmd.add_argument("--seed", type=int, default=0)
    add_output_options(gradcheck_cmd, progress=False)
    gradcheck_cmd.set_defaults(run=run)
