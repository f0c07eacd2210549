"""Layers: Linear, the activations, Dropout, and the Sequential container."""

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
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear: in_features and out_features must be positive, got "
                f"{in_features} and {out_features}"
            )
        self.in_features, self.out_features = int(in_features), int(out_features)
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
        return f"{self.in_features} -> {self.out_features}" + ("" if self.bias else ", bias=False")


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


class Softmax(Module):
    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = int(axis)

    def forward(self, x) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


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


class Standardize(Module):
    """Preprocessing carried inside the model: ``(x − mean) / std`` per feature, with fixed
    statistics (no parameters).  Saved with the model, so a loaded model takes raw inputs, and
    input gradients flow through it."""

    def __init__(self, mean, std):
        super().__init__()
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)  # kept exact; cast to the input's
        std = np.asarray(std, dtype=np.float64).reshape(-1)  # dtype in forward
        if mean.shape != std.shape:
            raise ShapeError(f"Standardize: mean has shape {mean.shape} but std has {std.shape}")
        if np.any(std <= 0):
            raise ValueError("Standardize: every std must be > 0 (use 1 for constant features)")
        self.mean, self.std = mean, std

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.mean.size:
            raise ShapeError(
                f"Standardize: expected input with {self.mean.size} features, got shape {x.shape}"
            )
        dtype = x.dtype if x.dtype.kind == "f" else get_default_dtype()
        return (x - Tensor(self.mean.astype(dtype))) / Tensor(self.std.astype(dtype))

    def extra_repr(self) -> str:
        return f"features={self.mean.size}"


class Rescale(Module):
    """Postprocessing carried inside the model: ``y = x · scale + offset`` per output, with fixed
    values (no parameters) — e.g. a regressor trained on standardised targets, saved so that it
    predicts in the targets' own units."""

    def __init__(self, scale, offset):
        super().__init__()
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)  # kept exact; cast in forward
        offset = np.asarray(offset, dtype=np.float64).reshape(-1)
        if scale.shape != offset.shape:
            raise ShapeError(
                f"Rescale: scale has shape {scale.shape} but offset has {offset.shape}"
            )
        self.scale, self.offset = scale, offset

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.scale.size:
            raise ShapeError(
                f"Rescale: expected input with {self.scale.size} features, got shape {x.shape}"
            )
        return x * Tensor(self.scale.astype(x.dtype)) + Tensor(self.offset.astype(x.dtype))

    def extra_repr(self) -> str:
        return f"features={self.scale.size}"
