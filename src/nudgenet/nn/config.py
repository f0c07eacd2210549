"""Architectures as plain data: ``describe(model)`` gives a JSON-able dict, ``build`` rebuilds it.

Only the layer types defined in :mod:`nudgenet.nn.layers` (:data:`LAYERS`) can be described;
weights are not part of the description (model files store them separately).
"""

from __future__ import annotations

import numpy as np

from . import layers
from .layers import Dropout, LeakyReLU, Linear, Rescale, Sequential, Softmax, Standardize
from .module import Module

LAYERS: dict[str, type[Module]] = {
    name: cls
    for name, cls in vars(layers).items()
    if isinstance(cls, type)
    and issubclass(cls, Module)
    and cls.__module__ == layers.__name__
    and not name.startswith("_")
}


def _arguments(layer: Module) -> dict:
    if isinstance(layer, Linear):
        return {
            "in_features": layer.in_features,
            "out_features": layer.out_features,
            "bias": layer.bias is not None,
        }
    if isinstance(layer, LeakyReLU):
        return {"negative_slope": layer.negative_slope}
    if isinstance(layer, Softmax):
        return {"axis": layer.axis}
    if isinstance(layer, Dropout):
        return {"p": layer.p}
    if isinstance(layer, Standardize):
        return {"mean": layer.mean.tolist(), "std": layer.std.tolist()}
    if isinstance(layer, Rescale):
        return {"scale": layer.scale.tolist(), "offset": layer.offset.tolist()}
    return {}


def describe(model: Module) -> dict:
    """``{"type": "Sequential", "layers": [{"type": "Linear", "in_features": 784, ...}, ...]}``."""
    name = type(model).__name__
    if LAYERS.get(name) is not type(model):
        raise TypeError(
            f"cannot describe a {name} layer; model files support {sorted(LAYERS)} "
            "(save a custom module's weights with state_dict() instead)"
        )
    if isinstance(model, Sequential):
        return {"type": name, "layers": [describe(layer) for layer in model]}
    return {"type": name, **_arguments(model)}


def _checked(spec) -> tuple[str, dict]:
    """The type and arguments of a layer description, or a ValueError saying what is wrong."""
    if not isinstance(spec, dict) or spec.get("type") not in LAYERS:
        raise ValueError(f"unknown layer description {spec!r}; expected a type in {sorted(LAYERS)}")
    kind, args = spec["type"], {k: v for k, v in spec.items() if k != "type"}
    if kind == "Sequential" and not isinstance(args.get("layers", []), list):
        raise ValueError(f"Sequential: expected a list of layers, got {args['layers']!r}")
    if kind == "Linear":
        sizes = args.get("in_features"), args.get("out_features")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
            raise ValueError(
                f"Linear: expected positive whole numbers in_features and out_features, got "
                f"{sizes[0]!r} and {sizes[1]!r}"
            )
    return kind, args


def parameter_shapes(spec: dict, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """The parameters ``build(spec)`` would hold, dotted name → shape (as ``named_parameters``
    names them), read from the description alone: nothing is allocated, so a model file's
    tensors can be checked against its architecture before any layer is built."""
    kind, args = _checked(spec)
    if kind == "Sequential":
        shapes: dict[str, tuple[int, ...]] = {}
        for i, layer in enumerate(args.get("layers", [])):
            shapes.update(parameter_shapes(layer, f"{prefix}{i}."))
        return shapes
    if kind == "Linear":
        n_in, n_out = args["in_features"], args["out_features"]
        shapes = {f"{prefix}weight": (n_in, n_out)}
        if args.get("bias", True):
            shapes[f"{prefix}bias"] = (n_out,)
        return shapes
    return {}


def _uninitialised(shape, rng, dtype) -> np.ndarray:
    return np.empty(shape, dtype)


def build(spec: dict, dtype=None, initialise: bool = True) -> Module:
    """The module a :func:`describe` dict stands for, with freshly initialised weights
    (``initialise=False``: uninitialised memory, no random draws, for weights about to be
    loaded)."""
    kind, args = _checked(spec)
    if kind == "Sequential":
        return Sequential(*[build(layer, dtype, initialise) for layer in args.get("layers", [])])
    if kind == "Linear":
        if not initialise:
            args.update(init=_uninitialised, bias_init=_uninitialised)
        return Linear(**args, dtype=dtype, seed=0)
    return LAYERS[kind](**args)
