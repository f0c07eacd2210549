"""``nudgenet explain``: what backprop wants for one held-out example (or one row of another data
set), with figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import NudgenetError
from ..explain import explain, nudge_test
from ..explain.probes import DEFAULT_TOLERANCE
from ..io import load
from ..plot import check_figure_path
from ..recipes import TrainingRecord
from .columns import feature_names, model_feature_names
from .common import (
    HELD_OUT,
    add_data_options,
    add_output_options,
    emit_json,
    figure_path,
    positive_float,
    positive_int,
)
from .mpi import one_process
from .output import MODEL_DATA, MODEL_FILE, data_files, refuse_same_paths
from .scoring_rows import data_read, held_out


def run(args) -> int:
    if args.out:  # a missing matplotlib fails before any work (the parser took the suffix)
        check_figure_path(args.out)
    model = load(args.model)
    if args.out:  # the figures never replace what it reads: the model, the data (held_out's)
        dataset, labels, _ = data_read(args, TrainingRecord.of(model))
        names = ("--dataset" if args.dataset else MODEL_DATA[0],
                 "--labels" if args.labels else MODEL_DATA[1])  # fmt: skip
        refuse_same_paths([*data_files(dataset, labels, names), (MODEL_FILE, Path(args.model)), *(
            (f"--out's {kind} figure" if kind else "--out", path)
            for kind, path in _figures(Path(args.out)).items())])  # fmt: skip
    data, loss_fn, y = held_out(args, model)
    held = "held-out " if data.scope == "held-out" else ""
    if not -len(y) <= args.index < len(y):
        raise NudgenetError(
            f"--index {args.index} is outside the {len(y):,} {held}rows of {data.name}"
        )
    index = args.index % len(y)  # (-1: the last row; a slice from -1 to 0 is empty)
    notes = [f"--index {args.index}"] * (args.index < 0) + [f"of all {len(y):,} rows"] * (not held)
    where = f"{held}row {index}" + (f" ({', '.join(notes)})" if notes else "")
    row = f"{data.name} {where}"
    x_row, y_row = data.x_test[index], y[index : index + 1]
    explanation = explain(model, loss_fn, x_row, y_row, top=args.top)
    check = nudge_test(model, loss_fn, x_row[None, :], y_row, eps=args.eps)
    result = {
        "dataset": data.name,
        "index": args.index,
        "row": index,
        "target": y_row[0].tolist(),
        **explanation.to_dict(),
        "nudge_test": check.to_dict(),
        "figures": [],
    }
    if loss_fn.task == "classification":
        result["predicted"] = int(loss_fn.predict_classes(explanation.outputs)[0])
        names = data.class_names  # the model's (cat, dog; or 0, 1, ...), where it has them
        label = int(data.y_test[index])
        if max(label, result["predicted"]) < len(names):
            result["target_name"] = names[label]
            result["predicted_name"] = names[result["predicted"]]
    if args.out:
        from ..plot import plot_explanation, plot_network, plot_weights

        out = Path(args.out)
        figures = _figures(out)
        # an image set's rows as images (None: a square inferred), a table's as bars (False)
        shape = data.record.image_shape if data.record.images else False
        target = result.get("target_name", _target_text(y_row[0]))  # a class by its name
        label = f"{Path(data.name).name} {where}, target {target}"  # a file by its name
        names = {
            # the rows are in the model's column order (held_out): its names, else the header's
            "feature_names": None if shape is not False else (
                model_feature_names(model)
                or feature_names(data.name, data.label_column, data.features)
            ),
            "class_names": list(TrainingRecord.of(model).class_names) or None,
        }
        plot_explanation(explanation, out, image_shape=shape, label=label, **names)
        result["figures"].append(str(out))
        units = [layer.weight.shape[1] for layer in explanation.layers]
        if explanation.layers and max([explanation.layers[0].weight.shape[0], *units]) <= 10:
            plot_network(model, explanation, figures["network"], label=label, **names)
            result["figures"].append(str(figures["network"]))
        if shape:
            plot_weights(model, figures["weights"], image_shape=shape)
            result["figures"].append(str(figures["weights"]))
    if args.json:
        emit_json(result)
        return 0
    target = result.get("target_name", _target_text(y_row[0]))
    predicted = result.get("predicted_name", result.get("predicted"))
    print(f"{row}: target {target}" + ("" if predicted is None else f", predicted {predicted}"))
    print(explanation)
    print(check)
    for path in result["figures"]:
        print(f"figure written to {path}")
    return 0


def _figures(out: Path) -> dict[str, Path]:
    """The figures ``--out`` names: the explanation's (key ""), and beside it the network's and
    the weights' (drawn where the network is small, or the rows are images)."""
    return {"": out, **{kind: out.with_name(f"{out.stem}-{kind}{out.suffix}")
                        for kind in ("network", "weights")}}  # fmt: skip


def _target_text(target) -> str:
    """A row's target as it is read: a class label as it is, a whole number in full below
    2**nmant of its dtype (2**23 in float32: above it a value with a fraction is stored as a
    whole one, and 123456789 as 123456792), other values to 4 significant digits."""
    values = np.atleast_1d(target)
    if values.dtype.kind != "f":
        return ", ".join(str(v) for v in values)
    exact = 2.0 ** np.finfo(values.dtype).nmant
    return ", ".join(f"{v:.0f}" if v.is_integer() and abs(v) < exact else f"{v:.4g}"
                     for v in values.tolist())  # fmt: skip


def register(commands) -> None:
    """Add the ``explain`` subcommand."""
    explain_cmd = commands.add_parser(
        "explain",
        help="show what backprop wants for one held-out example",
        description="For one held-out row of the data set the model was trained on (or one row "
        "of another --dataset, all of whose rows are scored): the desired output nudges "
        "(-dC/da), each layer's delta and gradient norm, the parameters with the largest "
        "|dC/dtheta|, and the nudge test. --out also writes figures.",
    )
    explain_cmd.add_argument("model", help="a .safetensors model file written by nudgenet")
    add_data_options(explain_cmd, None, without=HELD_OUT, saved_model=True)
    explain_cmd.add_argument(
        "--index",
        type=int,
        default=0,
        help="held-out row, or row of another --dataset; -1 is the last (default: %(default)s)",
    )
    explain_cmd.add_argument(
        "--top", type=positive_int, default=10, help="parameters listed (default: %(default)s)"
    )
    explain_cmd.add_argument(
        "--eps",
        type=positive_float,
        default=1e-4,
        help="nudge-test step size; the test is flagged FAILED, with the reason, when its "
        f"relative error is above {DEFAULT_TOLERANCE:g} (default: %(default)s)",
    )
    explain_cmd.add_argument(
        "--out",
        type=figure_path,
        metavar="PNG",
        help="write the explanation figure (input, nudges, dC/dW images) here, plus -network "
        "(networks of at most 10 units a layer) and -weights (image inputs) beside it",
    )
    add_output_options(explain_cmd)
    explain_cmd.set_defaults(run=one_process(run))
