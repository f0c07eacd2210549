"""Layers, containers (Sequential, ModuleList, ModuleDict), losses and initialisers; forward
hooks and :func:`trace`; gradient clipping (:mod:`.utils`)."""

from . import init, utils
from .config import LAYERS, build, describe
from .containers import ModuleDict, ModuleList
from .differential import DifferentialLoss
from .flat import FlatParameters, flatten
from .hooks import RemovableHandle
from .layers import (
    Dropout,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Standardize,
    Tanh,
    Unstandardize,
    leaf_layers,
    trace,
)
from .losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CategoricalCrossEntropyLoss,
    CrossEntropyLoss,
    MSELoss,
    PoissonLoss,
)
from .module import Module, Parameter
from .normalization import BatchNorm1d, LayerNorm

__all__ = [
    "init",
    "utils",
    "FlatParameters",
    "flatten",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "RemovableHandle",
    "BatchNorm1d",
    "Dropout",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Standardize",
    "Unstandardize",
    "LAYERS",
    "build",
    "describe",
    "leaf_layers",
    "trace",
    "Softmax",
    "Softplus",
    "Tanh",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CategoricalCrossEntropyLoss",
    "CrossEntropyLoss",
    "MSELoss",
    "PoissonLoss",
    "DifferentialLoss",
]
