"""``nudgenet evaluate``: score a saved model on the held-out rows it was scored on."""

from __future__ import annotations

import math
import warnings
from functools import partial

from .. import recipes
from ..errors import UndefinedMetricWarning
from ..evaluation import evaluate, predict
from ..io import load
from ..metrics import confusion_matrix
from .common import (
    HELD_OUT,
    add_data_options,
    add_output_options,
    emit_json,
    format_figure,
    warning_notes,
)
from .mpi import one_process
from .scoring_rows import held_out

BINARY_METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc"]  # class 1 is the positive
MULTICLASS_METRICS = ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
REGRESSION_METRICS = ["rmse", "mae", "r2"]


def report_metrics(task: str, classes: int) -> list[str]:
    """The metrics ``evaluate`` reports for a task (and a classifier's number of classes)."""
    if task != "classification":
        return REGRESSION_METRICS
    return BINARY_METRICS if classes == 2 else MULTICLASS_METRICS


def run(args) -> int:
    model = load(args.model)
    record = recipes.TrainingRecord.of(model)
    data, loss_fn, y = held_out(args, model)
    result = {"dataset": data.name, "rows": len(y), "scope": data.scope}
    matrix = None
    if data.task == "classification":
        matrix = confusion_matrix(predict(model, data.x_test), y, loss_fn)
        names = list(record.class_names)
        names += [str(c) for c in range(len(names), len(matrix))]  # older files: numbers
        result.update(confusion_matrix=matrix.tolist(), class_names=names[: len(matrix)])
    metrics = report_metrics(data.task, 0 if matrix is None else len(matrix))
    with warnings.catch_warnings():  # a metric's note names the classes as the output does
        warnings.showwarning = warning_notes(args, partial(_in_class_names,
                                                           names=record.class_names))  # fmt: skip
        scores = evaluate(model, loss_fn, data.x_test, y, metrics=metrics)
    if args.json:  # NaN (roc_auc of one class) is no JSON: null
        emit_json({**result, **{k: v if math.isfinite(v) else None for k, v in scores.items()}})
        return 0
    rows = f"{len(y):,} row{'' if len(y) == 1 else 's'}"
    scope = f"held-out ({rows})" if data.scope == "held-out" else f"all {rows}"
    if data.scope != "held-out" and record.dataset is not None:  # a file of est.save names none
        scope += " (not the data set the model was trained on)"
    figures = ", ".join(f"{k} {format_figure(v)}" for k, v in scores.items())
    print(f"{data.name} {scope}: {figures}")
    if matrix is not None:
        print(_matrix_text(matrix, result["class_names"]))
    return 0


def _in_class_names(message: Warning, names: tuple[str, ...]) -> str:
    """A note of a metric not defined (:class:`~nudgenet.UndefinedMetricWarning`) with its
    classes by the model's class names, where it has them; any other as it is."""
    if isinstance(message, UndefinedMetricWarning) and names:
        return message.named(names)
    return str(message)


def _matrix_text(matrix, names: list[str]) -> str:
    """The confusion matrix as a table: a row per true class, a column per predicted one."""
    width = max(len(str(matrix.max())), *(len(name) for name in names))
    label = max(len(name) for name in names)
    lines = ["confusion matrix (rows: true class, columns: predicted class):"]
    lines.append(" " * (label + 3) + " ".join(f"{name:>{width}}" for name in names))
    for name, row in zip(names, matrix):
        lines.append(f"  {name:>{label}} " + " ".join(f"{count:>{width}}" for count in row))
    return "\n".join(lines)


def register(commands) -> None:
    """Add the ``evaluate`` subcommand."""
    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="score a saved model on held-out data",
        description="Score a saved model. By default on the held-out rows of the data set it was "
        "trained on (the same split, rebuilt from the seed saved in the model); on every row of "
        "any other --dataset (for mnist, the 10k test set), as for a file that names no data "
        "set (an estimator's est.save). A classifier's scores: accuracy, "
        "precision, recall, F1 (class 1 of two; else their macro averages), ROC AUC (two "
        "classes) and the confusion matrix; a regression's: RMSE, MAE and R². Columns the "
        "model was trained without (nudgenet train --ignore-columns, --weight-column) are "
        "dropped; the scores are unweighted.",
    )
    evaluate_cmd.add_argument("model", help="a .safetensors model file written by nudgenet")
    add_data_options(evaluate_cmd, None, without=HELD_OUT, saved_model=True)
    add_output_options(evaluate_cmd)
    evaluate_cmd.set_defaults(run=one_process(run))
