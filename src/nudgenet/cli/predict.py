"""``nudgenet predict``: classes and probabilities, or values, for rows in a file."""

from __future__ import annotations

import numpy as np

from .. import data as datasets
from ..io import load
from ..recipes import TrainingRecord
from ..train import predict
from .common import add_output_options, emit_json, positive_int


def run(args) -> int:
    model = load(args.model)
    record = TrainingRecord.of(model)
    rows, _ = datasets.load_arrays(args.input, label_column=None)
    outputs = predict(model, rows)
    if record.task == "regression":
        values = outputs.tolist()
        if args.json:
            emit_json({"predictions": values})
        else:
            for i, value in enumerate(values):
                print(f"row {i}: " + ", ".join(f"{v:.6g}" for v in value))
        return 0
    loss_fn = record.loss_fn()  # one column per class, in float64 for printing
    probabilities = loss_fn.probabilities(outputs.astype(np.float64))
    classes = loss_fn.predict_classes(outputs)
    names = record.class_names

    def name(k: int) -> str:
        return names[k] if k < len(names) else str(k)

    labels = [name(c) for c in classes]
    if args.json:
        emit_json(
            {
                "predictions": labels,
                "classes": classes.tolist(),
                "probabilities": np.round(probabilities, 6).tolist(),
            }
        )
    else:
        for i, (label, p) in enumerate(zip(labels, probabilities)):
            top = np.argsort(p)[::-1][: args.top]
            others = ", ".join(f"{name(k)}: {p[k]:.3f}" for k in top)
            print(f"row {i}: {label}  ({others})")
    return 0


def register(commands) -> None:
    """Add the ``predict`` subcommand."""
    predict_cmd = commands.add_parser(
        "predict",
        help="predict from rows in a .npy or .csv file",
        description="Print each row's class and probabilities (classifiers), or values.",
    )
    predict_cmd.add_argument("model", help="a .safetensors model file written by nudgenet")
    predict_cmd.add_argument(
        "input", help="rows of features: .npy, .npz (key x), or .csv without a label column"
    )
    predict_cmd.add_argument(
        "--top", type=positive_int, default=3, help="probabilities shown per row (default: 3)"
    )
    add_output_options(predict_cmd)
    predict_cmd.set_defaults(run=run)
