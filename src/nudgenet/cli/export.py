"""``nudgenet export``: a model file as an ONNX file, for serving."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..errors import ModelFileError, NudgenetError
from ..export import OPSET, export_onnx
from ..export.trace import input_features
from ..io import load, read_metadata
from ..recipes import TrainingRecord
from .columns import feature_names, model_feature_names
from .common import UsageError, add_output_options, emit_json
from .mpi import one_process
from .output import check_writable, starts_as, unused_name


def run(args) -> int:
    model = load(args.model)
    check_writable(args.output, "output", "an ONNX file", "model.onnx")
    output, other = args.output, args.output.with_suffix(".onnx")
    if output.suffix.lower() == ".onnx" or other.exists():  # (the refused name, or one taken)
        other = unused_name(output, "new", ".onnx")
    model_file = output.is_file() and _is_model_file(output)  # the model itself, or another
    if output.suffix.lower() != ".onnx":  # (other protobuf models start as ONNX files do)
        what = ", a nudgenet model file" if model_file else ""
        raise UsageError(f"argument output: cannot export to {output}{what}: expected an ONNX "
                         f"file name ending in .onnx, such as {other}")  # a usage mistake: exit 2
    if model_file:  # named .onnx
        raise NudgenetError(f"output {output} is a nudgenet model file; choose another, such as "
                            f"{other}")  # fmt: skip
    if output.is_file() and not starts_as(output, _ONNX_START, "output"):  # exported again: ok
        raise NudgenetError(f"output {output} exists and is not an ONNX model; choose another, "
                            f"such as {other}")  # fmt: skip
    names = _feature_names(model)
    # the loss and the class names: from the model's metadata (its training record)
    path = export_onnx(model, args.output, dtype=args.dtype, feature_names=names)
    import onnx  # installed: export_onnx needs it

    proto = onnx.load(str(path))
    outputs = [value.name for value in proto.graph.output]
    dtype = args.dtype or str(model.dtype or "float32")
    inputs = [value.name for value in proto.graph.input]
    if args.json:
        emit_json({"model": args.model, "onnx": str(path), "opset": OPSET, "dtype": dtype,
                   "inputs": inputs, "outputs": outputs})  # fmt: skip
    else:
        if not args.quiet:
            note = f"opset {OPSET}, {dtype}, inputs {', '.join(inputs)}"
            print(f"nudgenet: {note}, outputs {', '.join(outputs)}", file=sys.stderr)
        print(f"ONNX model saved to {path}")
    return 0


def _feature_names(model) -> list[str] | None:
    """The feature columns' names the model file records (``nudgenet train``'s, an estimator's
    ``feature_names_in_``); for a file written before they were recorded, the header of the CSV
    file it was trained on, where it names the features and is still there; else None."""
    recorded = model_feature_names(model)
    if recorded is not None:
        return recorded
    record = TrainingRecord.from_dict(getattr(model, "metadata", None) or {})
    features = input_features(model)
    if record.dataset is None or features is None or not Path(record.dataset).is_file():
        return None
    return feature_names(record.dataset, record.label_column, features)


# what an ONNX file (a ModelProto, its fields in number order) starts with: ir_version (field
# 1, a varint), then the tag of field 2 (producer_name) ... 8 (opset_import)
_ONNX_START = re.compile(rb"\x08[\x01-\x7f][\x12\x1a\x22\x28\x32\x3a\x42]")


def _is_model_file(path: Path) -> bool:
    try:
        read_metadata(path)
    except ModelFileError:
        return False
    return True


def register(commands) -> None:
    """Add the ``export`` subcommand."""
    export = commands.add_parser(
        "export",
        help="export a model file to ONNX",
        description="Write a nudgenet model file as an ONNX file (opset "
        f"{OPSET}, a dynamic batch dimension) that onnxruntime or any ONNX runtime can serve. A "
        "classifier whose file records its loss (nudgenet train's, an estimator's save) gets the "
        "outputs label and probabilities besides output, and its class names (and a CSV file's "
        "feature names) in the file's metadata; a Poisson regressor's output is its means, as "
        "est.predict gives them. "
        "The output is named .onnx; an existing one is replaced only if it is an ONNX model (or "
        "empty). "
        'Needs the onnx extra: pip install "nudgenet[onnx]".',
    )
    export.add_argument("model", help="a .safetensors model file written by nudgenet")
    export.add_argument("output", type=Path, help="the ONNX file to write, e.g. model.onnx")
    export.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        help="the graph's float type (default: the model's)",
    )
    add_output_options(export)
    export.set_defaults(run=one_process(run))
