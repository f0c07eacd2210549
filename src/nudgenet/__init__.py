"""nudgenet: feed-forward networks trained by backpropagation on NumPy, every step visible.

>>> import numpy as np, nudgenet as ng
>>> model = ng.Sequential(ng.Linear(2, 4, seed=0), ng.Tanh(), ng.Linear(4, 1, seed=1))
>>> loss = ng.MSELoss()(model(np.zeros((3, 2), np.float32)), np.ones((3, 1), np.float32))
>>> loss.backward()
>>> model[0].weight.grad.shape
(2, 4)
"""

from . import data as datasets
from . import distributed, functional, metrics, optim, plot
from ._version import __version__
from .autograd import grad
from .backend import get_default_dtype, manual_seed, set_default_dtype
from .callbacks import Callback, EarlyStopping, LambdaCallback
from .checkpoint import Checkpoint
from .diagnostics import GradientDiagnostics
from .divergence import TerminateOnDivergence
from .errors import (
    AbsentClassWeightWarning,
    CheckpointError,
    CompileError,
    DataError,
    DistributedError,
    DivergenceWarning,
    ExportError,
    ModelFileError,
    NudgenetError,
    ShapeError,
    SharedMemoryWarning,
    UndefinedMetricWarning,
    ValidationRowsWarning,
)
from .evaluation import evaluate, predict
from .explain import Explanation, NudgeTest, explain, input_gradient, nudge_test
from .export import export_onnx
from .grad_mode import enable_grad, is_grad_enabled, no_grad
from .gradient_check import (
    GradcheckError,
    GradientReport,
    check_gradients,
    gradcheck,
    gradgradcheck,
)
from .history import History
from .io import load, save
from .logs import CSVLogger, TensorBoard
from .lr_callbacks import LearningRateScheduler, ReduceLROnPlateau
from .nn import (
    BatchNorm1d,
    BCELoss,
    BCEWithLogitsLoss,
    CategoricalCrossEntropyLoss,
    CrossEntropyLoss,
    DifferentialLoss,
    Dropout,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    Module,
    ModuleDict,
    ModuleList,
    MSELoss,
    Parameter,
    PoissonLoss,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Standardize,
    Tanh,
    Unstandardize,
    init,
)
from .tensor import Tensor, tensor
from .train import fit

__all__ = [
    "datasets", "functional", "metrics", "optim", "plot", "init", "__version__",
    "get_default_dtype", "manual_seed", "set_default_dtype",
    "Callback", "EarlyStopping", "LambdaCallback", "LearningRateScheduler", "ReduceLROnPlateau",
    "TerminateOnDivergence", "Checkpoint", "CheckpointError",
    "CompileError", "DataError", "ModelFileError", "NudgenetError", "ShapeError",
    "distributed", "DistributedError", "DivergenceWarning", "ValidationRowsWarning",
    "UndefinedMetricWarning", "AbsentClassWeightWarning", "SharedMemoryWarning",
    "GradcheckError", "GradientReport", "check_gradients", "gradcheck",
    "grad", "gradgradcheck", "DifferentialLoss",
    "Explanation", "NudgeTest", "explain", "input_gradient", "nudge_test", "GradientDiagnostics",
    "load", "save",
    "BCELoss", "BCEWithLogitsLoss", "CategoricalCrossEntropyLoss", "CrossEntropyLoss", "Dropout",
    "Identity", "LeakyReLU", "Linear", "Module", "ModuleDict", "ModuleList", "MSELoss",
    "Parameter", "PoissonLoss", "ReLU",
    "Sequential",
    "Sigmoid", "Softmax", "Softplus", "Standardize", "Tanh", "Unstandardize",
    "BatchNorm1d", "LayerNorm",
    "Tensor", "enable_grad", "is_grad_enabled", "no_grad", "tensor",
    "History", "evaluate", "fit", "predict",
    "export_onnx", "ExportError", "CSVLogger", "TensorBoard",
]
