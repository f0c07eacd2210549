"""The ``nudgenet`` command: ``train``, ``evaluate``, ``predict``, ``explain``, ``gradcheck``.

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
from .explain import explain, nudge_test
from .inspect import check_gradients
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
        diagnostics=True,  # per-layer grad_norm/<layer>, dead_units/<layer>: for --plot and --json
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
    result["grad_norms"] = {
        key.split("/", 1)[1]: values[-1]
        for key, values in history.history.items()
        if key.startswith("grad_norm/")
    }
    if args.plot:
        from .plot import plot_gradient_norms, plot_history

        curves = Path(args.plot)
        gradients = curves.with_name(f"{curves.stem}-gradients{curves.suffix or '.png'}")
        plot_history(history, curves)
        plot_gradient_norms(history, gradients)
        result["figures"] = [str(curves), str(gradients)]
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


def _held_out(args, model):
    """The held-out rows a saved model was scored on (rebuilt from its metadata), its loss and
    task: ``(data, loss_fn, y_test, task)``."""
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
    return data, loss_fn, recipes.targets_for(loss_fn, data.y_test), task


def _evaluate(args) -> int:
    model = load(args.model)
    data, loss_fn, y, task = _held_out(args, model)
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


# --- explain ---------------------------------------------------------------------------------


IMAGE_SHAPES = {"digits": (8, 8), "mnist": (28, 28)}


def _explain(args) -> int:
    model = load(args.model)
    data, loss_fn, y, task = _held_out(args, model)
    if not -len(y) <= args.index < len(y):
        raise NudgenetError(
            f"--index {args.index} is outside the {len(y):,} held-out rows of {data.name}"
        )
    x_row, y_row = data.x_test[args.index], y[args.index : args.index + 1]
    explanation = explain(model, loss_fn, x_row, y_row, top=args.top)
    check = nudge_test(model, loss_fn, x_row[None, :], y_row, eps=args.eps)
    result = {
        "dataset": data.name,
        "index": args.index,
        "target": y_row[0].tolist(),
        **explanation.to_dict(),
        "nudge_test": check.to_dict(),
        "figures": [],
    }
    if task == "classification" and explanation.outputs.shape[1] > 1:
        result["predicted"] = int(np.argmax(explanation.outputs[0]))
    if args.out:
        from .plot import plot_explanation, plot_network, plot_weights

        out = Path(args.out)
        suffix = out.suffix or ".png"
        shape = IMAGE_SHAPES.get(data.name)
        plot_explanation(explanation, out, image_shape=shape)
        result["figures"].append(str(out))
        units = [layer.weight.shape[1] for layer in explanation.layers]
        if explanation.layers and max([explanation.layers[0].weight.shape[0], *units]) <= 10:
            plot_network(model, explanation, out.with_name(f"{out.stem}-network{suffix}"))
            result["figures"].append(str(out.with_name(f"{out.stem}-network{suffix}")))
        if shape is not None:
            plot_weights(model, out.with_name(f"{out.stem}-weights{suffix}"), image_shape=shape)
            result["figures"].append(str(out.with_name(f"{out.stem}-weights{suffix}")))
    if args.json:
        _emit_json(result)
        return 0
    predicted = f", predicted {result['predicted']}" if "predicted" in result else ""
    print(f"{data.name} held-out row {args.index}: target {result['target']}{predicted}")
    print(explanation)
    print(check)
    for path in result["figures"]:
        print(f"figure written to {path}")
    return 0


# --- gradcheck -------------------------------------------------------------------------------

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


def _gradcheck(args) -> int:
    path = Path(args.model)
    if path.suffix == ".safetensors" or path.exists():
        model = load(path)
        loss_fn = recipes.loss_by_class_name(_saved(model, "loss", "CrossEntropyLoss"))
        task = _saved(model, "task", "classification")
        source = str(path)
    else:
        sizes = _architecture(args.model)
        model = recipes.build_mlp(
            sizes[0], sizes[1:-1], sizes[-1], args.activation, None, args.seed
        )
        task = "classification" if sizes[-1] > 1 else "regression"
        loss_fn = recipes.resolve_loss(args.loss, task, sizes[-1])
        source = f"{args.model} ({args.activation})"
    features = next(layer for layer in model.parameters()).shape[0]
    if args.dataset:
        data = _load(args, 0.2, args.seed, max(args.rows, 100))
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
        _emit_json({"model": source, "rows": rows_from, **report.to_dict()})
    else:
        print(f"gradient check of {source} on {rows_from}, float64, central differences:")
        print(report)
    if failed:
        print(f"nudgenet gradcheck: gradient mismatch in {', '.join(failed)}", file=sys.stderr)
        return GRADIENT_MISMATCH
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
    train.add_argument(
        "--plot",
        metavar="PNG",
        help="write the training curves (loss, accuracy/rmse; train and validation) to PNG and "
        "the per-layer gradient norms to PNG's name + -gradients (needs matplotlib)",
    )
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

    explain_cmd = commands.add_parser(
        "explain",
        help="show what backprop wants for one held-out example",
        description="For one held-out row of the data set the model was trained on: the desired "
        "output nudges (-dC/da), each layer's delta and gradient norm, the parameters with the "
        "largest |dC/dtheta|, and the nudge test. --out also writes figures.",
    )
    explain_cmd.add_argument("model", help="a .safetensors model file written by nudgenet")
    _add_data_options(explain_cmd, None)
    explain_cmd.add_argument("--index", type=int, default=0, help="held-out row (default: 0)")
    explain_cmd.add_argument("--top", type=int, default=10, help="parameters listed (default: 10)")
    explain_cmd.add_argument(
        "--eps", type=float, default=1e-4, help="nudge-test step size (default: %(default)s)"
    )
    explain_cmd.add_argument(
        "--out",
        metavar="PNG",
        help="write the explanation figure (input, nudges, dC/dW images) here, plus -network "
        "(networks of at most 10 units a layer) and -weights (image inputs) beside it",
    )
    _add_output_options(explain_cmd, progress=False)
    explain_cmd.set_defaults(run=_explain)

    gradcheck_cmd = commands.add_parser(
        "gradcheck",
        help="check every parameter's backprop gradient against finite differences",
        description="Compare backprop with central differences in float64, parameter by "
        "parameter. MODEL_OR_ARCH is a saved .safetensors model or an architecture like "
        f"784-16-16-10. Exit code {GRADIENT_MISMATCH} when a gradient disagrees.",
    )
    gradcheck_cmd.add_argument("model", metavar="MODEL_OR_ARCH")
    _add_data_options(gradcheck_cmd, None)
    gradcheck_cmd.add_argument(
        "--activation",
        default="relu",
        choices=sorted(recipes.ACTIVATIONS),
        help="hidden activation for an architecture (default: %(default)s)",
    )
    gradcheck_cmd.add_argument("--loss", default="auto", choices=recipes.LOSSES)
    gradcheck_cmd.add_argument(
        "--rows", type=int, default=8, help="batch size checked (default: %(default)s)"
    )
    gradcheck_cmd.add_argument(
        "--max-checks",
        type=int,
        default=200,
        help="entries sampled per parameter (default: %(default)s)",
    )
    gradcheck_cmd.add_argument("--seed", type=int, default=0)
    _add_output_options(gradcheck_cmd, progress=False)
    gradcheck_cmd.set_defaults(run=_gradcheck)
    return parser


def _add_output_options(parser: argparse.ArgumentParser, progress: bool = True) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="make the last line of stdout one JSON object with the results",
    )
    if not progress:
        return
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    noise.add_argument("--verbose", "-v", action="store_true", help="one line per epoch")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (NudgenetError, OSError, ValueError, KeyError, ImportError) as error:
        message = str(error).strip("'\"") or type(error).__name__
        print(f"nudgenet {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
