"""Architectures as plain data: ``describe(model)`` gives a JSON-able dict, ``build`` rebuilds it.

A description is ``{"type": <class name>, **layer.get_config()}``.  Only the layer classes
defined in the modules of :data:`LAYER_MODULES` (:mod:`nudgenet.nn.layers`,
:mod:`nudgenet.nn.normalization`) can be described: :data:`LAYERS` is that registry, the one
list of the layers model files can hold (a new layer defined there joins it, and the common layer
tests in ``tests/test_layers_contract.py`` then require an example of it).  Weights and buffers
are not part of the description (model files store them separately).

The rule that keeps a description complete: ``Module.get_config`` raises for a class whose
constructor takes arguments and that does not override it, and :func:`describe` checks that a
layer rebuilt by the default ``from_config`` (``cls(**config)``) gets every argument its
constructor requires and none it does not take.  So a layer is described correctly or fails
loudly when saved; it is never written with some arguments left to their defaults by omission.
"""

from __future__ import annotations

import inspect

from . import layers, normalization
from .module import Module

LAYER_MODULES = (layers, normalization)  # the modules whose public Module classes are layers
LAYERS: dict[str, type[Module]] = {
    name: cls
    for module in LAYER_MODULES
    for name, cls in vars(module).items()
    if isinstance(cls, type)
    and issubclass(cls, Module)
    and cls.__module__ == module.__name__
    and not name.startswith("_")
}

# Descriptions written before the layer vocabulary was settled: old type -> (type, key renames).
# Rescale(scale, offset) computed x·scale + offset, which is Unstandardize(mean=offset, scale).
_LEGACY = {
    "Rescale": ("Unstandardize", {"offset": "mean"}),
    "Standardize": ("Standardize", {"std": "scale"}),
}
LEGACY_NAMES = {old: new for old, (new, _) in _LEGACY.items()}  # an older file's layer names


def describe(model: Module) -> dict:
    """``{"type": "Sequential", "layers": [{"type": "Linear", "in_features": 784, ...}, ...]}``."""
    name = type(model).__name__
    cls = LAYERS.get(name)
    if cls is not type(model):
        raise TypeError(
            f"cannot describe a {name} layer; model files support {sorted(LAYERS)} "
            "(ng.save writes any module's weights; ng.load(path, model=...) reads them back)"
        )
    config = model.get_config()
    if cls.from_config.__func__ is Module.from_config.__func__:  # rebuilt as cls(**config)
        try:
            inspect.signature(cls).bind(**config)
        except TypeError as error:
            raise TypeError(
                f"{name}.get_config() returned {sorted(config)}, which cannot rebuild the layer: "
                f"{error}"
            ) from None
    return {"type": name, **config}


def _checked(spec) -> tuple[type[Module], dict]:
    """The class and config of a layer description (old names translated), or a ValueError
    saying what is wrong."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    kind, renames = _LEGACY.get(kind, (kind, {}))
    if kind not in LAYERS:
        raise ValueError(f"unknown layer description {spec!r}; expected a type in {sorted(LAYERS)}")
    config = {renames.get(key, key): value for key, value in spec.items() if key != "type"}
    return LAYERS[kind], config


def parameter_shapes(spec: dict, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """The tensors ``build(spec)`` would hold, its parameters and persistent buffers, dotted
    name → shape (as ``state_dict`` names them), from each layer's ``parameter_shapes(config)``:
    a model file's tensors are checked against its architecture before any large layer is
    built."""
    cls, config = _checked(spec)
    return {prefix + name: shape for name, shape in cls.parameter_shapes(config).items()}


def build(spec: dict, dtype=None, initialise: bool = True) -> Module:
    """The module a :func:`describe` dict stands for, by each layer's ``from_config``, with
    freshly initialised weights (``initialise=False``: uninitialised memory, no random draws,
    for weights about to be loaded)."""
    cls, config = _checked(spec)
    return cls.from_config(config, dtype=dtype, initialise=initialise)
