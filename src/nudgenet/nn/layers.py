"""Layers: Linear, the activations, Dropout, Standardize and Unstandardize, the Sequential
container, and walking a model's layers (:func:`leaf_layers`, :func:`trace`).

Every class defined here is a layer that model files can hold (the registry
:data:`nudgenet.nn.config.LAYERS`): it describes its constructor arguments with ``get_config``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .. import functional as F
from ..backend import SeedLike, as_float_dtype, generator, get_default_dtype
from ..errors import ShapeError
from ..tensor import Tensor, as_tensor
from . import init as initializers
from .module import Module, Parameter


class Linear(Module):
    """``y = x W + b`` with ``W`` of shape ``(in_features, out_features)`` (one GEMM per batch).

    ``init`` sets the weights (a name such as ``"he_uniform"`` or an initialiser from
    :mod:`nudgenet.init`, default Glorot uniform); ``bias_init`` the bias (default zeros).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init="glorot_uniform",
        bias_init=None,
        dtype=None,
        seed: SeedLike = None,
    ):
        super().__init__()
        self.in_features, self.out_features = _sizes(in_features, out_features)
        dtype = as_float_dtype(dtype or get_default_dtype())
        rng = generator(seed)
        self.weight = Parameter(initializers.get(init)((in_features, out_features), rng, dtype))
        self.bias = (
            Parameter(initializers.get(bias_init or "zeros")((out_features,), rng, dtype))
            if bias
            else None
        )

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"{self._name()}: expected input with {self.in_features} features, "
                f"shape (N, {self.in_features}), got shape {x.shape}"
            )
        if x.dtype != self.weight.dtype and not x.requires_grad:
            x = Tensor(x.data.astype(self.weight.dtype))  # data follows the model's dtype
        return F.linear(x, self.weight, self.bias)

    def _name(self) -> str:
        return f"Linear({self.in_features} -> {self.out_features})"

    def extra_repr(self) -> str:
        bias = "" if self.bias is not None else ", bias=False"
        return f"{self.in_features} -> {self.out_features}{bias}"

    def get_config(self) -> dict:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
        }

    @classmethod
    def from_config(cls, config: dict, *, dtype=None, initialise: bool = True) -> Linear:
        """Weights drawn from seed 0 (the same every time), or, with ``initialise=False``, left
        as uninitialised memory (no random draws)."""
        fill = {} if initialise else {"init": _uninitialised, "bias_init": _uninitialised}
        return cls(**config, **fill, dtype=dtype, seed=0)

    @classmethod
    def parameter_shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        n_in, n_out = _sizes(config.get("in_features"), config.get("out_features"))
        shapes = {"weight": (n_in, n_out)}
        if config.get("bias", True):
            shapes["bias"] = (n_out,)
        return shapes


def _sizes(in_features, out_features) -> tuple[int, int]:
    """Linear's sizes as ints, or ValueError unless both are positive ints."""
    sizes = (in_features, out_features)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in sizes):
        raise ValueError(
            f"Linear: in_features and out_features must be ints, got "
            f"{in_features!r} and {out_features!r}"
        )
    if in_features < 1 or out_features < 1:
        raise ValueError(
            f"Linear: in_features and out_features must be positive, got "
            f"{in_features} and {out_features}"
        )
    return int(in_features), int(out_features)


def _uninitialised(shape, rng, dtype) -> np.ndarray:
    return np.empty(shape, dtype)


class _Activation(Module):
    """A parameter-free layer applying one functional primitive."""

    def forward(self, x) -> Tensor:
        return self._fn(as_tensor(x))


class ReLU(_Activation):
    _fn = staticmethod(F.relu)


class Sigmoid(_Activation):
    _fn = staticmethod(F.sigmoid)


class Tanh(_Activation):
    _fn = staticmethod(F.tanh)


class Softplus(_Activation):
    _fn = staticmethod(F.softplus)


class Identity(_Activation):
    _fn = staticmethod(lambda x: x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope}


class Softmax(Module):
    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = int(axis)

    def forward(self, x) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"

    def get_config(self) -> dict:
        return {"axis": self.axis}


class Dropout(Module):
    """Zeroes each input with probability ``p`` while training (scaling the rest by 1/(1−p));
    the identity in eval mode.

    With a ``seed`` (int or Generator) the layer keeps its own generator, so its masks are
    reproducible whatever else draws random numbers.  Without one it draws from the global
    generator as it is at each forward, so :func:`nudgenet.manual_seed` called after the layer
    was built still decides its masks.
    """

    def __init__(self, p: float = 0.5, seed: SeedLike = None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = None if seed is None else generator(seed)  # None: F.dropout looks it up

    def forward(self, x) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def get_config(self) -> dict:
        """``p`` only: the masks' ``seed`` is not saved (a loaded model draws its masks from the
        global generator)."""
        return {"p": self.p}


class Sequential(Module):
    """Layers applied in order; indexable (``model[0]``, ``model[1:]``) and iterable."""

    def __init__(self, *layers: Module):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential: item {i} must be a Module, got {type(layer).__name__}"
                )
            setattr(self, str(i), layer)

    def forward(self, x) -> Tensor:
        for layer in self._modules.values():
            x = layer(x)
        return x

    def append(self, layer: Module) -> Sequential:
        setattr(self, str(len(self)), layer)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index):
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    # The layers' own descriptions come from nudgenet.nn.config, which imports this module (its
    # registry is the layers defined here), hence the imports inside these three methods.
    def get_config(self) -> dict:
        """``{"layers": [each layer's description]}``."""
        from .config import describe

        return {"layers": [describe(layer) for layer in self]}

    @classmethod
    def from_config(cls, config: dict, *, dtype=None, initialise: bool = True) -> Sequential:
        from .config import build

        return cls(*[build(layer, dtype, initialise) for layer in _layer_list(config)])

    @classmethod
    def parameter_shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        from .config import parameter_shapes

        shapes: dict[str, tuple[int, ...]] = {}
        for i, layer in enumerate(_layer_list(config)):
            shapes.update(parameter_shapes(layer, f"{i}."))
        return shapes


def _layer_list(config: dict) -> list:
    layers = config.get("layers", [])
    if not isinstance(layers, list):
        raise ValueError(f"Sequential: expected a list of layers, got {layers!r}")
    return layers


def leaf_layers(model: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
    """``(name, layer)`` for every layer a (possibly nested) Sequential applies, in order; the name
    is the dotted prefix of the layer's parameters (``"0"`` for ``model[0]``, whose weight is
    ``"0.weight"``).  Calling the layers one after another computes ``model(x)``: a Sequential is
    opened only when its ``forward`` is Sequential's own (not overridden by a subclass or
    replaced on the instance); any other module is one layer (the model itself is named ``""``).
    """
    if isinstance(model, Sequential) and _applies_in_order(model):
        for name, child in model.named_children():
            yield from leaf_layers(child, f"{prefix}{name}.")
    else:
        yield prefix.rstrip("."), model


def _applies_in_order(model: Sequential) -> bool:
    return type(model).forward is Sequential.forward and "forward" not in vars(model)


def trace(model: Module, *inputs) -> tuple[Tensor, dict[str, Tensor]]:
    """``model(*inputs)`` and every leaf layer's output on the way: ``(output, {name: output})``,
    named and ordered as :func:`leaf_layers` names the layers (a layer object used in two places
    has two entries).  It runs one ordinary forward with a forward hook on each leaf layer, and
    removes the hooks afterwards, also when the forward raises.

    >>> import numpy as np, nudgenet as ng
    >>> model = ng.Sequential(ng.Linear(2, 3, seed=0), ng.ReLU(), ng.Linear(3, 1, seed=1))
    >>> out, outputs = ng.nn.trace(model, np.ones((4, 2), np.float32))
    >>> list(outputs), outputs["2"] is out
    (['0', '1', '2'], True)
    """
    leaves = list(leaf_layers(model))
    outputs: dict[str, Tensor] = {}

    def record(layer: Module, layer_inputs: tuple, output) -> None:
        # The leaves run one after another, so the next place to fill is leaves[len(outputs)];
        # a call of the same object elsewhere (inside another layer) is not that place.
        if len(outputs) < len(leaves) and leaves[len(outputs)][1] is layer:
            outputs[leaves[len(outputs)][0]] = output

    handles = [
        layer.register_forward_hook(record) for layer in {id(m): m for _, m in leaves}.values()
    ]
    try:
        output = model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return output, outputs


class _Statistics(Module):
    """Fixed per-feature ``mean`` and ``scale`` (no parameters), kept exact in float64 and cast
    to the input's floating dtype in forward; saved with the model, and gradients flow through.
    """

    def __init__(self, mean, scale):
        super().__init__()
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        if mean.shape != scale.shape:
            raise ShapeError(
                f"{type(self).__name__}: mean has shape {mean.shape} but scale has {scale.shape}"
            )
        self.mean, self.scale = mean, scale

    def _operands(self, x) -> tuple[Tensor, Tensor, Tensor]:
        """``x``, ``mean`` and ``scale`` as tensors of one floating dtype, once ``x`` is checked
        to have this layer's feature count."""
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.mean.size:
            raise ShapeError(
                f"{type(self).__name__}: expected input with {self.mean.size} features, got "
                f"shape {x.shape}"
            )
        dtype = x.dtype if x.dtype.kind == "f" else get_default_dtype()
        return x, Tensor(self.mean.astype(dtype)), Tensor(self.scale.astype(dtype))

    def extra_repr(self) -> str:
        return f"features={self.mean.size}"

    def get_config(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}


class Standardize(_Statistics):
    """Preprocessing carried inside the model: ``x' = (x − mean) / scale`` per feature (e.g.
    ``Standardize(s.mean_, s.scale_)`` of a fitted :class:`~nudgenet.data.Standardizer`), so a
    saved model takes raw inputs and input gradients are with respect to them."""

    def __init__(self, mean, scale):
        super().__init__(mean, scale)
        if np.any(self.scale <= 0):
            raise ValueError("Standardize: every scale must be > 0 (use 1 for constant features)")

    def forward(self, x) -> Tensor:
        x, mean, scale = self._operands(x)
        return (x - mean) / scale


class Unstandardize(_Statistics):
    """Postprocessing carried inside the model, the inverse of :class:`Standardize`:
    ``y = x · scale + mean`` per output (e.g. a regressor trained on targets standardised by a
    :class:`~nudgenet.data.Standardizer` ``t``, saved with ``Unstandardize(t.mean_, t.scale_)``
    so that it predicts in the targets' own units)."""

    def forward(self, x) -> Tensor:
        x, mean, scale = self._operands(x)
        return x * scale + mean
