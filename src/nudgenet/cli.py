"""The ``nudgenet`` command: ``train``, ``evaluate``, ``predict``.

User mistakes (a missing file, a corrupt archive, a wrong feature count, an unknown option) end
with one line on stderr and a non-zero exit code, never a traceback.  ``--json`` makes the last
line of stdout one JSON object with the results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import data as datasets
from . import recipes
from .callbacks import EarlyStopping
from .errors import DataError, NudgenetError
from .io import load, save
from .metrics import predicted_classes
from .nn.losses import BCEWithLogitsLoss
from .train import evaluate, fit, predict

CLASSIFICATION_METRICS = ["accuracy"]
REGRESSION_METRICS = ["rmse", "mae"]


def _metrics_for(task: str) -> list[str]:
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def _emit_json(payload: dict) -> None:
    print(json.dumps(payload, sort_keys=True))


def _add_data_options(parser: argparse.ArgumentParser, dataset_default) -> None:
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
        default="-1",
        help="CSV label column, by name or index (default: the last)",
    )


def _label_column(text: str):
    try:
        return int(text)
    except ValueError:
        return text


def _load(args, test_size: float, seed: int, samples: int) -> recipes.Dataset:
    return recipes.load_dataset(
        args.dataset,
        args.data_dir,
        test_size=test_size,
        seed=seed,
        samples=samples,
        labels=args.labels,
        label_column=_label_column(args.label_column),
    )


# --- train -------------------------------------------------------------------------------------


def _train(args) -> int:
    started = time.perf_counter()
    data = _load(args, args.test_size, args.seed, args.samples)
    standardize = args.standardize
    if standardize is None:  # images are already in [0, 1]; other data gets standardised
        standardize = args.dataset not in ("digits", "mnist") and args.labels is None
    stats = None
    if standardize:
        scaler = datasets.Standardizer().fit(data.x_train)
        stats = (scaler.mean_, scaler.scale_)
    hidden = recipes.parse_layers(args.layers)
    loss_fn = recipes.resolve_loss(args.loss, data.task, data.outputs)
    outputs = 1 if isinstance(loss_fn, BCEWithLogitsLoss) else data.outputs
    model = recipes.build_mlp(data.features, hidden, outputs, args.activation, stats, args.seed)
    y_train = recipes.targets_for(loss_fn, data.y_train)
    y_test = recipes.targets_for(loss_fn, data.y_test)
    optimizer = recipes.build_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum)
    callbacks = []
    validation_split = args.validation_split
    if args.early_stopping:
        callbacks.append(EarlyStopping(patience=args.early_stopping, restore_best=True))
        validation_split = validation_split or 0.1
    if not args.json or args.verbose:
        print(
            f"nudgenet: {data.name}: {data.note}; {data.task}, {data.features} features",
            file=sys.stderr,
        )
    history = fit(
        model,
        loss_fn,
        optimizer,
        data.x_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_split=validation_split,
        seed=args.seed,
        metrics=_metrics_for(data.task),
        callbacks=callbacks,
        verbose=0 if args.quiet else (2 if args.verbose else 1),
    )
    scores = evaluate(model, loss_fn, data.x_test, y_test, metrics=_metrics_for(data.task))
    metadata = {
        "dataset": data.name,
        "task": data.task,
        "loss": type(loss_fn).__name__,
        "class_names": data.class_names,
        "test_size": args.test_size,
        "seed": args.seed,
        "samples": args.samples,
        "label_column": args.label_column,
    }
    output = Path(args.output or f"nudgenet-{Path(data.name).stem}.safetensors")
    save(model, output, metadata)
    result = {
        "dataset": data.name,
        "task": data.task,
        "epochs": len(history),
        "train_loss": history["loss"][-1] if len(history) else None,
        "val_loss": history.history.get("val_loss", [None])[-1],
        "test_loss": scores["loss"],
        "model_path": str(output),
        "parameters": model.num_parameters(),
        "seconds": time.perf_counter() - started,
    }
    result.update({f"test_{name}": scores[name] for name in _metrics_for(data.task)})
    if args.json:
        _emit_json(result)
    else:
        held_out = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
        print(f"held-out: {held_out}")
        print(f"model saved to {output}")
    return 0


# --- evaluate ----------------------------------------------------------------------------------


def _saved(model, key: str, default):
    return (getattr(model, "metadata", None) or {}).get(key, default)


def _evaluate(args) -> int:
    model = load(args.model)
    task = _saved(model, "task", "classification")
    loss_name = _saved(model, "loss", "CrossEntropyLoss")
    args.dataset = args.dataset or _saved(model, "dataset", None)
    if args.dataset is None:
        raise NudgenetError("the model file does not name its data set; pass --dataset")
    if args.label_column == "-1":
        args.label_column = str(_saved(model, "label_column", "-1"))
    data = _load(
        args,
        _saved(model, "test_size", 0.2),
        _saved(model, "seed", 0),
        _saved(model, "samples", 50_000),
    )
    loss_fn = recipes.loss_by_class_name(loss_name)
    y = recipes.targets_for(loss_fn, data.y_test)
    scores = evaluate(model, loss_fn, data.x_test, y, metrics=_metrics_for(task))
    if args.json:
        _emit_json({"dataset": data.name, "rows": len(y), **scores})
    else:
        print(
            f"{data.name} held-out ({len(y):,} rows): "
            + ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
        )
    return 0


# --- predict -----------------------------------------------------------------------------------


def _read_rows(path: Path) -> np.ndarray:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".npy":
        try:
            rows = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise DataError(f"{path}: not a readable .npy array ({error})") from None
        return np.atleast_2d(rows).reshape(len(np.atleast_2d(rows)), -1).astype(np.float32)
    x, _ = datasets.load_arrays(path, label_column=None)
    return x


def _predict(args) -> int:
    model = load(args.model)
    rows = _read_rows(Path(args.input))
    outputs = predict(model, rows)
    if _saved(model, "task", "classification") == "regression":
        values = outputs.tolist()
        if args.json:
            _emit_json({"predictions": values})
        else:
            for i, value in enumerate(values):
                print(f"row {i}: " + ", ".join(f"{v:.6g}" for v in value))
        return 0
    names = _saved(model, "class_names", [])
    if outputs.shape[1] == 1:  # one logit: P(class 1) = σ(z)
        p1 = 1.0 / (1.0 + np.exp(-outputs[:, 0].astype(np.float64)))
        probabilities = np.stack([1 - p1, p1], axis=1)
    else:
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True)).astype(np.float64)
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    classes = predicted_classes(probabilities)
    labels = [names[c] if c < len(names) else str(c) for c in classes]
    if args.json:
        _emit_json(
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


# --- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nudgenet", description="Train, evaluate and use feed-forward networks."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train an MLP and save it",
        description="Train an MLP on a data set, report held-out scores, save the model. With no "
        "options: the bundled 8x8 digits, offline, in seconds.",
    )
    _add_data_options(train, "digits")
    train.add_argument(
        "--test-size", type=float, default=0.2, help="held-out fraction (default: %(default)s)"
    )
    train.add_argument(
        "--validation-split",
        type=float,
        default=0.0,
        help="fraction of the training rows used for val_loss (default: none; "
        "0.1 with --early-stopping)",
    )
    train.add_argument(
        "--samples",
        type=int,
        default=50_000,
        help="rows to generate for black-scholes/spirals (default: %(default)s)",
    )
    train.add_argument("--layers", default="64", help="hidden sizes, e.g. 16,16 (default: 64)")
    train.add_argument("--activation", default="relu", choices=sorted(recipes.ACTIVATIONS))
    train.add_argument("--loss", default="auto", choices=recipes.LOSSES)
    train.add_argument("--optimizer", default="sgd", choices=sorted(recipes.OPTIMIZERS))
    train.add_argument("--lr", type=float, help="learning rate (default: 0.05 for sgd, else 1e-3)")
    train.add_argument(
        "--momentum",
        type=float,
        default=0.9,
        help="momentum for sgd/rmsprop (default: %(default)s)",
    )
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--early-stopping",
        type=int,
        default=0,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without val_loss improvement",
    )
    scaling = train.add_mutually_exclusive_group()
    scaling.add_argument(
        "--standardize",
        dest="standardize",
        action="store_true",
        default=None,
        help="standardise inputs (saved in the model); default for non-image data",
    )
    scaling.add_argument("--no-standardize", dest="standardize", action="store_false")
    train.add_argument("--output", "-o", help="model file (default: nudgenet-DATASET.safetensors)")
    _add_output_options(train)
    train.set_defaults(run=_train)

    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="score a saved model on held-out data",
        description="Score a saved model. By default on the held-out rows of the data set it was "
        "trained on (the same split, rebuilt from the seed saved in the model).",
    )
    evaluate_cmd.add_argument("model", help="a .safetensors model file written by nudgenet")
    _add_data_options(evaluate_cmd, None)
    _add_output_options(evaluate_cmd)
    evaluate_cmd.set_defaults(run=_evaluate)

    predict_cmd = commands.add_parser(
        "predict",
        help="predict from rows in a .npy or .csv file",
        description="Print each row's class and probabilities (classifiers), or values.",
    )
    predict_cmd.add_argument("model", help="a .safetensors model file written by nudgenet")
    predict_cmd.add_argument("input", help="rows of features: .npy, or .csv without a label column")
    predict_cmd.add_argument("--top", type=int, default=3, help="probabilities shown per row")
    _add_output_options(predict_cmd)
    predict_cmd.set_defaults(run=_predict)
    return parser


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="make the last line of stdout one JSON object with the results",
    )
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    noise.add_argument("--verbose", "-v", action="store_true", help="one line per epoch")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (NudgenetError, OSError, ValueError, KeyError) as error:
        message = str(error).strip("'\"") or type(error).__name__
        print(f"nudgenet {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
