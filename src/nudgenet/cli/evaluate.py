"""``nudgenet evaluate``: score a saved model on the held-out rows it was scored on."""

from __future__ import annotations

from ..io import load
from ..train import evaluate
from .common import add_data_options, add_output_options, emit_json, held_out, metrics_for


def run(args) -> int:
    model = load(args.model)
    data, loss_fn, y = held_out(args, model)
    scores = evaluate(model, loss_fn, data.x_test, y, metrics=metrics_for(data.task))
    if args.json:
        emit_json({"dataset": data.name, "rows": len(y), "scope": data.scope, **scores})
    else:
        scope = (
            f"held-out ({len(y):,} rows)"
            if data.scope == "held-out"
            else f"all {len(y):,} rows (not the data set the model was trained on)"
        )
        print(f"{data.name} {scope}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return 0


def register(commands) -> None:
    """Add the ``evaluate`` subcommand."""
    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="score a saved model on held-out data",
        description="Score a saved model. By default on the held-out rows of the data set it was "
        "trained on (the same split, rebuilt from the seed saved in the model); on every row of "
        "any other --dataset (for mnist, the 10k test set).",
    )
    evaluate_cmd.add_argument("model", help="a .safetensors model file written by nudgenet")
    add_data_options(evaluate_cmd, None)
    add_output_options(evaluate_cmd)
    evaluate_cmd.set_defaults(run=run)
