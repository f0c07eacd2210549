"""Layers, containers, losses and initialisers."""

from . import init
from .config import build, describe
from .flat import FlatParameters, flatten
from .layers import (
    Dropout,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Rescale,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Standardize,
    Tanh,
)
from .losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CategoricalCrossEntropyLoss,
    CrossEntropyLoss,
    MSELoss,
)
from .module import Module, Parameter

__all__ = [
    "init",
    "FlatParameters",
    "flatten",
    "Module",
    "Parameter",
    "Dropout",
    "Identity",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "Rescale",
    "Sequential",
    "Sigmoid",
    "Standardize",
    "build",
    "describe",
    "Softmax",
    "Softplus",
    "Tanh",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CategoricalCrossEntropyLoss",
    "CrossEntropyLoss",
    "MSELoss",
]
