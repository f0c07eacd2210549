"""``nudgenet export``: a model file as an ONNX file, for serving."""

from __future__ import annotations

import sys
from pathlib import Path

from ..export import OPSET, export_onnx
from ..io import load
from .common import add_output_options, emit_json
from .mpi import one_process


def run(args) -> int:
    model = load(args.model)
    path = export_onnx(model, args.output, dtype=args.dtype)  # loss and names: the metadata
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


def register(commands) -> None:
    """Add the ``export`` subcommand."""
    export = commands.add_parser(
        "export",
        help="export a model file to ONNX",
        description="Write a nudgenet model file as an ONNX file (opset "
        f"{OPSET}, a dynamic batch dimension) that onnxruntime or any ONNX runtime can serve. A "
        "classifier trained by nudgenet train gets the outputs label and probabilities besides "
        "output, and its class names in the file's metadata. Needs the onnx extra: "
        'pip install "nudgenet[onnx]".',
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
