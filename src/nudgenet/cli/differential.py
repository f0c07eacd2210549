"""``nudgenet train --differential``: train on the values and their derivatives by the inputs
(:class:`~nudgenet.DifferentialLoss`, the paper's weights), for a data set whose record carries
derivative labels (``black-scholes-mc``).  The model is scored and saved as any regression's:
its held-out loss is the squared error of the values."""

from __future__ import annotations

import numpy as np

from ..nn.differential import DifferentialLoss
from ..nn.losses import MSELoss
from .common import UsageError


def add_differential_option(parser) -> None:
    parser.add_argument(
        "--differential",
        action="store_true",
        help="differential training (Huge & Savine 2020): fit the values and their derivatives "
        "by the inputs (DifferentialLoss), for a data set with derivative labels "
        "(black-scholes-mc: pathwise derivatives of Monte-Carlo payoffs); its defaults are "
        "--activation softplus (smooth derivatives) and --optimizer adam",
    )


def differential_defaults(args) -> None:
    """Fill in ``--activation`` and ``--optimizer`` when not given: relu and sgd, or with
    ``--differential`` softplus and adam (the paper's, and the Python recipe's: a ReLU network's
    derivatives are steps, and the derivative term's gradients at initialisation are about ten
    times the value term's, which sgd's default rate and momentum blow up)."""
    if args.activation is None:
        args.activation = "softplus" if args.differential else "relu"
    if args.optimizer is None:
        args.optimizer = "adam" if args.differential else "sgd"


def training_loss(args, data, loss_fn, y_fit: np.ndarray, target_scaler):
    """``(loss, targets)`` that ``fit`` trains on: ``loss_fn`` and ``y_fit`` as they are, or with
    ``--differential`` a DifferentialLoss and the values followed by their derivative labels
    (divided by the targets' scale when they are z-scored: ∂(y/s)/∂x = (∂y/∂x)/s)."""
    if not args.differential:
        return loss_fn, y_fit
    if data.dydx_train is None:
        raise UsageError(
            f"--differential needs a data set with derivative labels (black-scholes-mc); "
            f"{data.name} has none"
        )
    if not isinstance(loss_fn, MSELoss):
        raise UsageError(f"--differential trains on squared errors: it needs --loss mse, got "
                         f"{args.loss}")  # fmt: skip
    dydx = data.dydx_train.astype(y_fit.dtype)
    if target_scaler is not None:
        dydx = dydx / target_scaler.scale_.astype(y_fit.dtype)
    return DifferentialLoss.from_labels(y_fit, dydx), np.hstack([y_fit, dydx])
