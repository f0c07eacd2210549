"""``nudgenet train``'s check that a run learnt something: a trained model that predicts the
same for every training row (:func:`~nudgenet.divergence.nothing_learnt`), its loss then no
better than a constant model's, which predicts the targets' distribution alone.  A run at chance
level below its start, which :class:`~nudgenet.TerminateOnDivergence` cannot tell from the loss
alone, saves no model; training rows whose features are all the same are refused before
training (:func:`check_features_vary`)."""

from __future__ import annotations

import warnings

import numpy as np

from ..divergence import nothing_learnt, same_for_every_row
from ..errors import NudgenetError
from ..evaluation import predict
from ..holdout import validation_rows
from ..nn.layers import Linear
from ..nn.losses import BCEWithLogitsLoss, CrossEntropyLoss
from ..nn.weights import row_weights
from ..step import EVALUATION_BATCH, whole_loss


def learnt_nothing(model, loss_fn, x, y, history, lr: float, validation_split: float,
                   class_weight=None, sample_weight=None) -> tuple[str, ...] | None:  # fmt: skip
    """``(what, message, hint)`` for the one-line error of a run whose trained ``model`` learnt
    nothing (:func:`~nudgenet.divergence.nothing_learnt`: the same outputs for every row): its
    outputs and loss on the rows ``fit`` trained on (the first: ``validation_split`` held back
    the last) with their weights, as ``fit`` computes it, against the constant model's
    (:func:`prior_loss`); the hint a smaller ``lr`` (a step too large kills every unit).  None
    when it learnt, and for a run that diverged (the guard judged it; ``--early-stopping`` kept
    an epoch from before)."""
    if history.stop_reason == "diverged":
        return None
    fitted = len(y) - (validation_rows(len(y), validation_split) if validation_split else 0)
    x, y = x[:fitted], y[:fitted]
    outputs = predict(model, x)
    if not same_for_every_row(outputs):  # (the losses below: the message of one that did)
        return None
    sample_weight = None if sample_weight is None else sample_weight[:fitted]
    with warnings.catch_warnings():  # fit warned of an absent class's weight itself
        warnings.simplefilter("ignore")
        weights = row_weights("fit", loss_fn, y, class_weight, sample_weight)
    trained = whole_loss(model, loss_fn, x, y, outputs, EVALUATION_BATCH, weights)[0]
    message = nothing_learnt(outputs, trained, prior_loss(model, loss_fn, x, y, weights))
    if message is None:
        return None
    return "training learnt nothing", message, f"try a smaller --lr, e.g. {lr / 10:g}"


def check_features_vary(x: np.ndarray) -> None:
    """A one-line error, before training, where every training row has the same features: no
    model can learn anything from them, and no learning rate helps (such a run would end as
    one that learnt nothing)."""
    if len(x) > 1 and not np.ptp(x, axis=0).any():
        raise NudgenetError(
            f"every one of the {len(x)} training rows has the same features, so a model can "
            "learn nothing from them; no model trained (check the feature columns)"
        )


def prior_loss(model, loss_fn, x, y, weights=None) -> float:
    """The loss of a constant model of ``model``'s outputs and dtype on ``(x, y)``, each row
    weighted by ``weights``: zero weights and a bias predicting the targets' weighted
    distribution: for cross-entropy the logarithm of each class's frequency (the loss is then
    the entropy of the class frequencies), for BCE-with-logits each column's log-odds, else the
    targets' mean (for the squared error the loss is their variance; a loss of the inputs'
    derivatives gets derivatives of 0)."""
    outputs = predict(model, x[:1])
    units = outputs.shape[1]
    share = np.ones(len(y)) if weights is None else weights
    share = share / share.sum()
    if isinstance(loss_fn, CrossEntropyLoss):
        frequencies = np.bincount(y, weights=share, minlength=units)
        bias = np.log(np.maximum(frequencies, np.finfo(np.float64).tiny))
    elif isinstance(loss_fn, BCEWithLogitsLoss):
        frequencies = np.clip(share @ y.reshape(len(y), -1), 1e-12, 1 - 1e-12)
        bias = np.log(frequencies / (1 - frequencies))
    else:
        bias = share @ y.reshape(len(y), -1)[:, :units]
    constant = Linear(x.shape[1], units, init="zeros", dtype=outputs.dtype)
    constant.bias.data[...] = bias
    predictions = np.broadcast_to(constant.bias.data, (len(y), units))
    return whole_loss(constant, loss_fn, x, y, predictions, EVALUATION_BATCH, weights)[0]
