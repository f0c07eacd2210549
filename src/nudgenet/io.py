"""Model files: architecture, weights and metadata in one safetensors file.

The weights are safetensors tensors (a format that stores raw numbers and cannot run code on
load; never pickle).  The file's header metadata holds the architecture as JSON (see
:func:`nudgenet.nn.describe`), the nudgenet version, and your own metadata (class names, the data
set, the loss...).  Preprocessing travels as a :class:`~nudgenet.nn.Standardize` layer inside the
model.  Writes are atomic: a temporary file in the same folder, then a rename.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import numpy as st
from safetensors import safe_open

from ._version import __version__
from .errors import ModelFileError
from .files import write_atomic
from .nn.config import build, describe, parameter_shapes
from .nn.module import Module

FORMAT = "nudgenet-model"
FORMAT_VERSION = "1"


def save(model: Module, path, metadata: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (conventionally ``*.safetensors``) and return the path.

    ``metadata`` (JSON-able: class names, data set, loss, ...) is stored too and comes back as
    ``model.metadata`` from :func:`load`; it defaults to the model's own ``metadata``.
    """
    layers = list(model.modules())
    if len({id(layer) for layer in layers}) != len(layers):
        raise ModelFileError(
            "cannot save a model that uses one layer in several places (tied weights): the "
            "architecture would be rebuilt with separate layers; save model.state_dict() instead"
        )
    path = Path(path)
    info = dict(getattr(model, "metadata", None) or {}) if metadata is None else dict(metadata)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nudgenet_version": __version__,
        "architecture": json.dumps(describe(model)),
        "metadata": json.dumps(info),
    }
    tensors = {name: np.ascontiguousarray(value) for name, value in model.state_dict().items()}
    write_atomic(path, st.save(tensors, metadata=header))
    return path


def load(path) -> Module:
    """The model saved at ``path``, in eval mode, with ``model.metadata`` restored."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}")
    try:
        with safe_open(str(path), framework="np") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(f"{path} is not a readable safetensors model file: {error}") from None
    if header.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is a safetensors file but not a nudgenet model "
            f"(format {header.get('format')!r})"
        )
    try:
        architecture = json.loads(header["architecture"])
        metadata = json.loads(header.get("metadata", "{}"))
        dtype = _check_tensors(tensors, parameter_shapes(architecture))
        model = build(architecture, dtype=dtype, initialise=False)
        model.load_state_dict(tensors)
    except (KeyError, ValueError, TypeError) as error:
        raise ModelFileError(f"{path}: the model file is inconsistent: {error}") from None
    model.metadata = metadata
    return model.eval()


def _check_tensors(tensors: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]):
    """The one float dtype of the file's tensors, once their names and shapes are those the
    architecture declares: checked before any layer is built, so a file declaring a huge layer
    allocates nothing."""
    missing, unexpected = sorted(set(shapes) - set(tensors)), sorted(set(tensors) - set(shapes))
    if missing or unexpected:
        raise ValueError(
            f"the architecture needs tensors {sorted(shapes)}; missing {missing}, "
            f"unexpected {unexpected}"
        )
    for name, shape in shapes.items():
        if tensors[name].shape != shape:
            raise ValueError(
                f"tensor {name!r} has shape {tensors[name].shape}, the architecture declares "
                f"{shape}"
            )
    dtypes = sorted({str(t.dtype) for t in tensors.values()})
    if len(dtypes) > 1 or not set(dtypes) <= {"float32", "float64"}:
        raise ValueError(f"expected tensors all float32 or all float64, got {', '.join(dtypes)}")
    return np.dtype(dtypes[0]) if dtypes else None
