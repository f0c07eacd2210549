"""``nudgenet predict``: classes and probabilities, or values, for rows in a file."""

from __future__ import annotations

import numpy as np

from .. import data as datasets
from ..io import load
from ..metrics import predicted_classes
from ..train import predict
from .common import add_output_options, emit_json, positive_int, saved


def run(args) -> int:
    model = load(args.model)
    rows, _ = datasets.load_arrays(args.input, label_column=None)
    outputs = predict(model, rows)
    if saved(model, "task", "classification") == "regression":
        values = outputs.tolist()
        if args.json:
            emit_json({"predictions": values})
        else:
            for i, value in enumerate(values):
                print(f"row {i}: " + ", ".join(f"{v:.6g}" for v in value))
        return 0
    names = saved(model, "class_names", [])
    if outputs.shape[1] == 1:  # one logit: P(class 1) = σ(z)
        p1 = 1.0 / (1.0 + np.exp(-outputs[:, 0].astype(np.float64)))
        probabilities = np.stack([1 - p1, p1], axis=1)
    else:
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True)).astype(np.float64)
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    classes = predicted_classes(probabilities)
    labels = [names[c] if c < len(names) else str(c) for c in classes]
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
            others = ", ".join(f"{names[k] if k < len(names) else k}: {p[k]:.3f}" for k in top)
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
