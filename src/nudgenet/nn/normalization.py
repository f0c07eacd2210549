"""Normalisation layers: :class:`LayerNorm` (each row over its features) and :class:`BatchNorm1d`
(each feature over the batch, with running statistics kept in buffers), PyTorch's names and rules.

Their array rules are in :mod:`nudgenet.functional.kernels` (``normalize``, ``normalize_delta``,
``scale_shift``, ``update_running``), applied by :func:`nudgenet.functional.layer_norm` and
:func:`nudgenet.functional.batch_norm`.  Both layers are in the registry
(:data:`nudgenet.nn.config.LAYERS`), so model files hold them, running statistics included.  The
compiled training step does not cover them: ``fit`` trains a model holding one on the engine.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..backend import as_float_dtype, get_default_dtype
from ..errors import ShapeError
from ..tensor import Tensor, as_tensor
from .module import Module, Parameter


class _Normalization(Module):
    """What both layers share: ``features``, ``eps``, the optional per-feature scale γ
    (``weight``, ones) and shift β (``bias``, zeros) of the float ``dtype``, and the input
    check."""

    def __init__(self, features, eps: float, affine: bool, dtype):
        super().__init__()
        self.features = _count(type(self).__name__, features)
        self.eps = float(eps)
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"{type(self).__name__}: eps must be a number > 0, got {eps!r}")
        if affine:
            self.weight = Parameter(np.ones(self.features, dtype))
            self.bias = Parameter(np.zeros(self.features, dtype))
        else:
            self.weight = self.bias = None

    def _input(self, x) -> Tensor:
        """``x`` checked to have this layer's feature count, as data in the layer's dtype (a
        tensor that needs a gradient is kept as it is)."""
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.features:
            raise ShapeError(
                f"{type(self).__name__}({self.features}): expected input with {self.features} "
                f"features, got shape {x.shape}"
            )
        dtype = self.dtype
        if dtype is not None and x.dtype != dtype and not x.requires_grad:
            x = Tensor(x.data.astype(dtype))  # data follows the model's dtype
        return x

    @staticmethod
    def _shapes(features: int, affine: bool, buffers: tuple[str, ...]) -> dict:
        names = (("weight", "bias") if affine else ()) + buffers
        return {name: (features,) for name in names}


class LayerNorm(_Normalization):
    """``y = (x − μ)/√(σ² + ε) ⊙ γ + β`` with μ, σ² the mean and biased variance of each row
    over its last axis (``normalized_shape`` features); γ (ones) and β (zeros) are parameters
    when ``elementwise_affine``.  The same in training and in eval."""

    def __init__(
        self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, dtype=None
    ):
        shape = normalized_shape
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
        if len(shape) != 1:
            raise ValueError(
                f"LayerNorm: normalises over the last axis only: expected normalized_shape as "
                f"one number of features, got {normalized_shape!r}"
            )
        super().__init__(shape[0], eps, elementwise_affine, _float(dtype))

    @property
    def normalized_shape(self) -> int:
        return self.features

    def forward(self, x) -> Tensor:
        return F.layer_norm(self._input(x), self.features, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.features}, eps={self.eps}, elementwise_affine={self.weight is not None}"

    def get_config(self) -> dict:
        return {
            "normalized_shape": self.features,
            "eps": self.eps,
            "elementwise_affine": self.weight is not None,
        }

    @classmethod
    def parameter_shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        features = _count("LayerNorm", config.get("normalized_shape"))
        return cls._shapes(features, config.get("elementwise_affine", True), ())


class BatchNorm1d(_Normalization):
    """``y = (x − μ)/√(σ² + ε) ⊙ γ + β`` per feature of a batch of rows (N, num_features).

    In training, μ and σ² are the batch's mean and biased variance, and the buffers
    ``running_mean`` (zeros) and ``running_var`` (ones) move toward the batch's mean and
    unbiased variance: r ← (1 − momentum) r + momentum b (PyTorch's convention).  In eval, μ and
    σ² are the running statistics, so a row's output does not depend on the others.
    ``momentum=None`` (PyTorch's cumulative average) is refused: it would need a count of the
    batches seen saved with the statistics, which model files do not hold.  With
    ``track_running_stats=False`` there are none and batch statistics are used in both modes.
    γ (ones) and β (zeros) are parameters when ``affine``.  Training needs batches of 2 rows or
    more.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype=None,
    ):
        dtype = _float(dtype)
        super().__init__(num_features, eps, affine, dtype)
        if momentum is None:  # PyTorch's cumulative average needs a batch count kept in files
            raise ValueError(
                "BatchNorm1d: momentum=None (PyTorch's cumulative average of every batch's "
                "statistics) is not supported; give a number in [0, 1], e.g. momentum=0.1"
            )
        self.momentum = float(momentum)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"BatchNorm1d: momentum must be in [0, 1], got {momentum!r}")
        self.track_running_stats = bool(track_running_stats)
        tracked = self.track_running_stats
        self.register_buffer("running_mean", np.zeros(self.features, dtype) if tracked else None)
        self.register_buffer("running_var", np.ones(self.features, dtype) if tracked else None)

    @property
    def num_features(self) -> int:
        return self.features

    def forward(self, x) -> Tensor:
        x = self._input(x)
        if x.ndim != 2:
            raise ShapeError(
                f"BatchNorm1d({self.features}): expected a batch of rows (N, {self.features}), "
                f"got shape {x.shape}"
            )
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=self.training or self.running_mean is None,
            momentum=self.momentum,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.weight is not None}, track_running_stats={self.track_running_stats}"
        )

    def get_config(self) -> dict:
        return {
            "num_features": self.features,
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.weight is not None,
            "track_running_stats": self.track_running_stats,
        }

    @classmethod
    def parameter_shapes(cls, config: dict) -> dict[str, tuple[int, ...]]:
        features = _count("BatchNorm1d", config.get("num_features"))
        buffers = ("running_mean", "running_var") if config.get("track_running_stats", True) else ()
        return cls._shapes(features, config.get("affine", True), buffers)


def _float(dtype) -> np.dtype:
    return as_float_dtype(dtype or get_default_dtype())


def _count(owner: str, features) -> int:
    """A feature count as an int, or ValueError unless it is a positive whole number."""
    if not isinstance(features, (int, np.integer)) or isinstance(features, bool) or features < 1:
        raise ValueError(f"{owner}: expected a positive whole number of features, got {features!r}")
    return int(features)
