"""Ready-made pieces by name for the command line: MLPs, activations, losses and optimisers."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import nn, optim
from ..errors import NudgenetError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "leaky_relu": nn.LeakyReLU,
}
LOSSES = {
    "cross_entropy": nn.CrossEntropyLoss,
    "mse": nn.MSELoss,
    "bce_with_logits": nn.BCEWithLogitsLoss,
}
DEFAULT_LOSSES = {"classification": "cross_entropy", "regression": "mse"}  # --loss auto
# losses a model file may record that nudgenet train does not offer (an estimator's save)
RECORDED_LOSSES = (nn.PoissonLoss,)


class OptimizerRecipe(NamedTuple):
    """An optimiser class, its default learning rate, whether it takes a momentum, and its
    default rate for a regression where that differs (None: the same)."""

    cls: type
    lr: float
    momentum: bool
    regression_lr: float | None = None

    def lr_for(self, task: str) -> float:
        """The default learning rate for ``task`` ("classification" or "regression")."""
        return self.regression_lr if task == "regression" and self.regression_lr else self.lr


# sgd's 0.05 with momentum 0.9 suits cross-entropy; on a regression's squared errors (of
# z-scored targets) its steps are larger: it diverged on easy data (a linear target of two
# features, 400 rows, seed 0), and 0.01 still swung above the start for ten epochs on 150 such
# rows (tests/test_divergence.py): 0.005 there.
OPTIMIZERS = {
    "sgd": OptimizerRecipe(optim.SGD, 0.05, True, regression_lr=0.005),
    "adam": OptimizerRecipe(optim.Adam, 1e-3, False),
    "adamw": OptimizerRecipe(optim.AdamW, 1e-3, False),
    "rmsprop": OptimizerRecipe(optim.RMSprop, 1e-3, True),
}


def parse_layers(text: str) -> list[int]:
    """``"64,32"`` → ``[64, 32]``; ``""`` → no hidden layer; anything else, such as ``"16,abc"``
    or ``"0"``, a NudgenetError."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = [0]
    if any(size < 1 for size in sizes):
        raise NudgenetError(
            f"expected hidden layer sizes like 64,32 (whole numbers >= 1), got {text!r}"
        )
    return sizes


def resolve_loss(name: str, task: str):
    """The loss object named ``name`` (``"auto"``: :data:`DEFAULT_LOSSES` for the task); a loss
    for another task is an error."""
    if name != "auto" and name not in LOSSES:
        raise NudgenetError(f"unknown loss {name!r}; expected auto or one of {', '.join(LOSSES)}")
    loss_fn = LOSSES[DEFAULT_LOSSES[task] if name == "auto" else name]()
    if loss_fn.task != task:
        raise NudgenetError(
            f"loss {name!r} does not fit a {task} task; use cross_entropy (classes), "
            "bce_with_logits (two classes) or mse (values)"
        )
    return loss_fn


def loss_by_class_name(name: str):
    """A loss object from its class's name (as a model file's metadata stores it): one of
    :data:`LOSSES` or :data:`RECORDED_LOSSES`."""
    known = {cls.__name__: cls for cls in (*LOSSES.values(), *RECORDED_LOSSES)}
    if name not in known:
        raise NudgenetError(
            f"the model file names the loss {name!r}; expected one the command line knows: "
            f"{', '.join(known)}"
        )
    return known[name]()


def build_mlp(
    features: int,
    hidden: list[int],
    outputs: int,
    activation: str = "relu",
    standardize: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
) -> nn.Sequential:
    """``[Standardize] → (Linear → activation) × len(hidden) → Linear(outputs)``, He init for
    ReLU-like activations and Glorot otherwise, each layer seeded from ``seed``."""
    if activation not in ACTIVATIONS:
        raise NudgenetError(
            f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}"
        )
    init = "he_uniform" if activation in ("relu", "leaky_relu") else "glorot_uniform"
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    if standardize is not None:
        layers.append(nn.Standardize(*standardize))
    sizes = [features, *hidden]
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out, init=init, seed=rng), ACTIVATIONS[activation]()]
    layers.append(nn.Linear(sizes[-1], outputs, seed=rng))
    return nn.Sequential(*layers)


def build_optimizer(
    name: str, params, lr: float | None, momentum: float, task: str = "classification"
):
    """An optimiser by name, at its recipe's learning rate for ``task`` unless ``lr`` is given
    (:meth:`OptimizerRecipe.lr_for`); ``momentum`` for those that take one."""
    if name not in OPTIMIZERS:
        raise NudgenetError(f"unknown optimiser {name!r}; expected one of {sorted(OPTIMIZERS)}")
    recipe = OPTIMIZERS[name]
    options = {"momentum": momentum} if recipe.momentum else {}
    return recipe.cls(params, lr=recipe.lr_for(task) if lr is None else lr, **options)
