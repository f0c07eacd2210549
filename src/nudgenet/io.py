"""Model files: architecture, weights and metadata in one safetensors file.

The weights are safetensors tensors (a format that stores raw numbers and cannot run code on
load; never pickle).  The file's header metadata holds the architecture as JSON (see
:func:`nudgenet.nn.describe`), the nudgenet version, and your own metadata (class names, the data
set, the loss...).  Preprocessing travels as a :class:`~nudgenet.nn.Standardize` layer inside the
model.  Writes are atomic: a temporary file in the same folder, then a rename.

Any Module can be saved.  One that :func:`~nudgenet.nn.build` can rebuild exactly (every module
in it a layer of :data:`~nudgenet.nn.config.LAYERS`, no module or parameter used twice) is
saved with its architecture, and ``load(path)`` rebuilds it.  Any other (a custom module, tied
weights) is saved with its weights and an *outline* of what is known of it (each module's
class, its children, and the description of every part that can be described); its code is not
in the file, so ``load(path, model=MyNet())`` loads the weights into a freshly built instance.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from safetensors import numpy as st
from safetensors import safe_open

from ._version import __version__
from .errors import ModelFileError, caller_stacklevel
from .files import sorted_header, write_atomic
from .nn.config import LAYERS, LEGACY_NAMES, build, describe, parameter_shapes
from .nn.module import Module

FORMAT = "nudgenet-model"
FORMAT_VERSION = "1"


def save(model: Module, path, metadata: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (conventionally ``*.safetensors``) and return the path.

    ``metadata`` (JSON-able: class names, data set, loss, ...) is stored too and comes back as
    ``model.metadata`` from :func:`load`; it defaults to the model's own ``metadata``.  A model
    :func:`load` cannot rebuild (a custom module, tied weights) is saved with its weights and
    its outline; load it with ``load(path, model=...)``.  Something else than a Module, or
    metadata that JSON cannot hold (a NumPy array: ``.tolist()`` it), is a TypeError.
    """
    if not isinstance(model, Module):
        raise TypeError(f"save: expected a model (a Module), got {type(model).__name__}")
    path = Path(path)
    info = dict(getattr(model, "metadata", None) or {}) if metadata is None else dict(metadata)
    try:
        stored = json.dumps(info)
    except (TypeError, ValueError) as e:
        raise TypeError(f"save: metadata must be JSON-able (numbers, strings, lists, dicts; "
                        f"a NumPy array's .tolist()): {e}") from None  # fmt: skip
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nudgenet_version": __version__,
        "metadata": stored,
    }
    if _buildable(model):
        header["architecture"] = json.dumps(describe(model))
    else:
        header["outline"] = json.dumps(outline(model))
    tensors = {name: np.ascontiguousarray(value) for name, value in model.state_dict().items()}
    write_atomic(path, sorted_header(st.save(tensors, metadata=header)))  # same model, same bytes
    return path


def _buildable(model: Module) -> bool:
    """Whether ``build(describe(model))`` is ``model`` again: every module in it a registry layer
    (:data:`~nudgenet.nn.config.LAYERS`), no module or parameter in two places (tied weights
    would be rebuilt apart)."""
    modules = list(model.modules())  # a module used twice is listed twice
    params = [p for module in modules for p in module._parameters.values()]
    return (
        len({id(m) for m in modules}) == len(modules)
        and len({id(p) for p in params}) == len(params)
        and all(LAYERS.get(type(m).__name__) is type(m) for m in modules)
    )


def outline(model: Module) -> dict:
    """What a model file records of a model :func:`load` cannot rebuild: its description where
    it has one (:func:`~nudgenet.nn.describe`), else ``{"class": ..., "module": ..., "children":
    {name: outline(child)}}`` (the class's name and the Python module defining it)."""
    if _buildable(model):
        return describe(model)
    kind = type(model)
    children = {name: outline(child) for name, child in model.named_children()}
    return {"class": kind.__qualname__, "module": kind.__module__, "children": children}


def read_metadata(path) -> dict:
    """The metadata saved with the model at ``path`` (as ``load(path).metadata``), read from the
    file's header alone: no tensor is read.  ModelFileError when ``path`` is not a nudgenet model
    file."""
    path = Path(path)
    return _metadata(_header(path), path)


def _metadata(header: dict, path: Path) -> dict:
    """The caller's metadata in a model file's ``header``: a JSON object, else ModelFileError."""
    metadata = _json(header, "metadata", path, default="{}")
    if not isinstance(metadata, dict):
        raise ModelFileError(
            f"{path}: the model file's metadata is a JSON {type(metadata).__name__}, "
            "expected an object"
        )
    return metadata


def _json(header: dict, key: str, path: Path, default: str = "null"):
    """The value of the JSON text under ``key`` in a model file's ``header`` (``default`` when
    absent), or a one-line ModelFileError when it is not JSON (or nested too deep to read)."""
    try:
        return json.loads(header.get(key, default))
    except (ValueError, RecursionError) as error:
        raise ModelFileError(f"{path}: the model file's {key} is not JSON: {error}") from None


def _header(path: Path) -> dict:
    """The header of the nudgenet model file ``path``, or a one-line ModelFileError."""
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file; name a .safetensors file")
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}")
    try:
        with safe_open(str(path), framework="np") as handle:
            header = handle.metadata() or {}
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(f"{path} is not a readable safetensors model file: {error}") from None
    if header.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} is a safetensors file but not a nudgenet model "
            f"(format {header.get('format')!r})"
        )
    return header


def load(path, model: Module | None = None) -> Module:
    """The model saved at ``path``, in eval mode, with ``model.metadata`` restored.

    With ``model`` (a freshly built instance of the saved module's class, for a file of a custom
    module), the file's weights are copied into it, in its own dtype, and it is returned: the
    file must hold exactly its tensors (``state_dict()``'s names and shapes), else a
    ModelFileError names the missing, unexpected and mis-shaped ones; a UserWarning says where
    the file records other layer types (a ReLU saved, a Tanh given)."""
    path = Path(path)
    header = _header(path)
    try:
        with safe_open(str(path), framework="np") as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(f"{path} is not a readable safetensors model file: {error}") from None
    if model is not None:
        model = _into(model, tensors, path)
        _warn_if_other_layers(model, header, path)
    elif "architecture" not in header and "outline" in header:
        described = _json(header, "outline", path)
        kind = described.get("class", "module") if isinstance(described, dict) else "module"
        raise ModelFileError(
            f"{path} holds the weights of a {kind} that nudgenet cannot rebuild from the file "
            f"(a custom module, or tied weights): load them into a new one with "
            f"ng.load(path, model={kind}(...))"
        )
    else:
        architecture = _json(header, "architecture", path)
        try:
            dtype = _check_tensors(tensors, parameter_shapes(architecture))
            model = build(architecture, dtype=dtype, initialise=False)
            model.load_state_dict(tensors)
        except (KeyError, ValueError, TypeError, RecursionError) as error:  # RecursionError:
            # layers nested deeper than Python's recursion limit lets build go
            raise ModelFileError(f"{path}: the model file is inconsistent: {error}") from None
    model.metadata = _metadata(header, path)
    return model.eval()


def _into(model: Module, tensors: dict[str, np.ndarray], path: Path) -> Module:
    """``model`` with the file's ``tensors`` copied into it, once their names and shapes are
    exactly its own."""
    if not isinstance(model, Module):
        raise TypeError(f"load: model must be a Module instance, got {type(model).__name__}")
    shapes = {name: value.shape for name, value in model.state_dict().items()}
    try:
        _check_tensors(tensors, shapes, owner=f"the model {type(model).__name__}")
    except ValueError as error:
        raise ModelFileError(f"{path}: {error}") from None
    model.load_state_dict(tensors)
    return model


def _warn_if_other_layers(model: Module, header: dict, path: Path) -> None:
    """A UserWarning where the file records other layer types than ``model``'s (:func:`outline`;
    a ReLU saved, a Tanh given): the weights fit, the function they compute differs.  Other
    settings of the same layers (Dropout's ``p``) are not warned about."""
    recorded = header.get("architecture") or header.get("outline")
    try:  # a record unreadable, malformed or absurdly deep: the weights fit, nothing to say
        saved = _layer_types(json.loads(recorded)) if recorded else None
    except (ValueError, TypeError, AttributeError, RecursionError):
        return
    given = _layer_types(outline(model))
    if saved is not None and saved != given:  # (a setting, Dropout's p: not said)
        warnings.warn(f"load: {path} records other layers than the model given (its "
                      f"{saved}, the model's {given}); the weights fit, what "
                      "they compute differs", UserWarning,
                      stacklevel=caller_stacklevel())  # fmt: skip


def _layer_types(described) -> str:
    """The layer types of an :func:`outline`, in order: a Sequential's as a list (``Linear,
    ReLU, Linear``), another container's in its name (``Net(Linear, Tanh)``; a class by its
    name, not where it was defined).  ValueError for a record of another shape."""
    if not isinstance(described, dict):
        raise ValueError("not a layer's record")
    layer, custom = described.get("type"), described.get("class")  # a nudgenet layer, or not
    if not isinstance(layer or custom, str):
        raise ValueError("not a layer's record")
    # an older file's name for a nudgenet layer is today's; a.<locals>.Net is Net
    kind = LEGACY_NAMES.get(layer, layer) if layer else custom.rpartition(".")[2]
    inner = described.get("layers") or list((described.get("children") or {}).values())
    if not inner:
        return kind
    listed = ", ".join(_layer_types(child) for child in inner)
    return listed if kind == "Sequential" else f"{kind}({listed})"


def _check_tensors(
    tensors: dict[str, np.ndarray],
    shapes: dict[str, tuple[int, ...]],
    owner: str = "the architecture",
):
    """The one float dtype of the file's tensors, once their names and shapes are those
    ``owner`` declares: checked before any layer is built, so a file declaring a huge layer
    allocates nothing."""
    missing, unexpected = sorted(set(shapes) - set(tensors)), sorted(set(tensors) - set(shapes))
    if missing or unexpected:
        raise ValueError(
            f"the file's tensors do not match {owner}: missing {missing}, unexpected {unexpected}"
        )
    wrong = [
        f"tensor {name!r} has shape {tensors[name].shape}, {owner} declares {shape}"
        for name, shape in shapes.items()
        if tensors[name].shape != shape
    ]
    if wrong:
        raise ValueError("; ".join(wrong))
    dtypes = sorted({str(t.dtype) for t in tensors.values()})
    if len(dtypes) > 1 or not set(dtypes) <= {"float32", "float64"}:
        raise ValueError(f"expected tensors all float32 or all float64, got {', '.join(dtypes)}")
    return np.dtype(dtypes[0]) if dtypes else None
