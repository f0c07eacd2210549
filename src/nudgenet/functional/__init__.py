"""Differentiable primitives: each keeps its forward and backward rule side by side.

``import nudgenet.functional as F`` gives the PyTorch-style functions; the same primitives back
Tensor's operators (``+ - * / @ **``, indexing) and methods (``.sum()``, ``.exp()``, ...).
"""

from . import graph_backward as _graph_backward
from . import tensor_methods as _tensor_methods  # noqa: F401  (binds Tensor's operators)
from .arithmetic import (
    abs,
    add,
    clone,
    div,
    exp,
    getitem,
    log,
    matmul,
    max,
    mean,
    mul,
    neg,
    pow,
    reshape,
    sub,
    sum,
    transpose,
)
from .layers import (
    batch_norm,
    dropout,
    layer_norm,
    leaky_relu,
    linear,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    categorical_cross_entropy,
    cross_entropy,
    mse_loss,
    poisson_loss,
)

_graph_backward.install()  # each primitive's backward_graph (create_graph=True)

__all__ = [
    "abs",
    "add",
    "clone",
    "div",
    "exp",
    "getitem",
    "log",
    "matmul",
    "max",
    "mean",
    "mul",
    "neg",
    "pow",
    "reshape",
    "sub",
    "sum",
    "transpose",
    "batch_norm",
    "dropout",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "categorical_cross_entropy",
    "cross_entropy",
    "mse_loss",
    "poisson_loss",
]
