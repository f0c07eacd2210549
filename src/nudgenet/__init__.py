"""nudgenet: feed-forward networks trained by backpropagation on NumPy, every step visible.

>>> import numpy as np, nudgenet as ng
>>> model = ng.Sequential(ng.Linear(2, 4, seed=0), ng.Tanh(), ng.Linear(4, 1, seed=1))
>>> loss = ng.MSELoss()(model(np.zeros((3, 2), np.float32)), np.ones((3, 1), np.float32))
>>> loss.backward()
>>> model[0].weight.grad.shape
(2, 4)
"""

from . import functional, optim
from .backend import get_default_dtype, manual_seed, set_default_dtype
from .errors import DataError, ModelFileError, NudgenetError, ShapeError
from .inspect import GradcheckError, GradientReport, check_gradients, gradcheck
from .nn import (
    BCELoss,
    BCEWithLogitsLoss,
    CategoricalCrossEntropyLoss,
    CrossEntropyLoss,
    Dropout,
    Identity,
    LeakyReLU,
    Linear,
    Module,
    MSELoss,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    init,
)
from .tensor import Tensor, enable_grad, is_grad_enabled, no_grad, tensor

__version__ = "0.1.0"

__all__ = [
    "functional",
    "optim",
    "init",
    "get_default_dtype",
    "manual_seed",
    "set_default_dtype",
    "DataError",
    "ModelFileError",
    "NudgenetError",
    "ShapeError",
    "GradcheckError",
    "GradientReport",
    "check_gradients",
    "gradcheck",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CategoricalCrossEntropyLoss",
    "CrossEntropyLoss",
    "Dropout",
    "Identity",
    "LeakyReLU",
    "Linear",
    "Module",
    "MSELoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "Tensor",
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "tensor",
    "__version__",
]
