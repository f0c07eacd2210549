"""Architectures as plain data: ``describe(model)`` gives a JSON-able dict, ``build`` rebuilds it.

Only the layer types defined in :mod:`nudgenet.nn.layers` (:data:`LAYERS`) can be described;
weights are not part of the description (model files store them separately).
"""

from __future__ import annotations

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


def build(spec: dict, dtype=None) -> Module:
    """The module a :func:`describe` dict stands for, with freshly initialised weights."""
    if not isinstance(spec, dict) or spec.get("type") not in LAYERS:
        raise ValueError(f"unknown layer description {spec!r}; expected a type in {sorted(LAYERS)}")
    kind, args = spec["type"], {k: v for k, v in spec.items() if k != "type"}
    if kind == "Sequential":
        return Sequential(*[build(layer, dtype) for layer in args.get("layers", [])])
    if kind == "Linear":
        return Linear(**args, dtype=dtype, seed=0)
    return LAYERS[kind](**args)
