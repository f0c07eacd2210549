"""scikit-learn's end of an epoch, as a nudgenet callback run first by ``fit``, and the per-epoch
record it keeps on the estimator (:func:`new_curves`, :func:`curves_to_go_on`).

Per batch it tells the solver the batch's rows (for the L2 term) and sums scikit-learn's batch
loss (the nudgenet loss times the loss factor, plus the L2 term) times the rows.  Per epoch,
as scikit-learn's ``_fit_stochastic`` does: ``n_iter_ += 1``, ``loss_`` (that sum over the rows),
``t_ += rows``, ``loss_curve_``; with a validation set its score (and, beyond scikit-learn, its
loss in ``validation_loss_curve_``); the no-improvement count on the training loss, or on the
validation score or loss (``early_stopping_on``), ``tol`` and ``n_iter_no_change``; the
learning-rate schedules (``invscaling`` after each epoch; ``adaptive`` divides by 5 instead of
stopping, until below 1e-6); and stopping (``stop_reason = "converged"``).  The epoch's logs
gain ``sklearn_loss`` and, with a validation set, ``val_score`` and ``val_loss``, shown by
``verbose`` and seen by the user's callbacks.  The validation set ``early_stopping`` scores is
split off by :func:`validation_split`.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import train_test_split

from ..callbacks import Callback
from ..data.sparse_rows import rows_of
from ..evaluation import predict


def validation_split(est, X, y, columns, targets, weights, rng):
    """scikit-learn's split for ``early_stopping``: ``validation_fraction`` of the rows held
    out (stratified by a classifier's single label column, drawn from ``rng``); returns the
    training rows' ``X``, ``targets`` and ``weights`` (None: unweighted) and the validation
    set ``(x, y, targets, sample_weight)``.  A one-line ValueError naming
    ``validation_fraction`` where it holds out no row or every row (scikit-learn's named
    ``train_test_split``'s ``test_size``), and scikit-learn's where it holds out one."""
    n, fraction = len(X), est.validation_fraction
    if not 0 < math.ceil(fraction * n) < n:  # the rows train_test_split holds out
        leaves = "no row to validate on" if fraction * n <= 0 else "no row to train on"
        raise ValueError(
            f"{type(est).__name__}: validation_fraction must hold out some but not all of the "
            f"{n} rows with early_stopping=True, got {fraction!r}, which leaves {leaves}"
        )
    stratify = columns if is_classifier(est) and columns.shape[1] == 1 else None
    train, held = train_test_split(
        np.arange(n), random_state=rng, test_size=fraction, stratify=stratify
    )
    if len(held) < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' or the size of your "
            "dataset."
        )
    held_weights, weights = (None, None) if weights is None else (weights[held], weights[train])
    validation = (X[held], y[held], targets[held], held_weights)
    return rows_of(X, train), targets[train], weights, validation


class SklearnEpochs(Callback):
    """scikit-learn's per-epoch bookkeeping and stopping rule on the estimator ``est``
    (module docstring); ``validation``: ``(x, y, sample_weight)`` or None."""

    stop_reason = "converged"
    reports_divergence = True  # the estimator raises scikit-learn's ValueError instead

    def __init__(self, est, loss_fn, loss_factor: float, rows: int, validation=None):
        self.est, self.loss_fn, self.loss_factor = est, loss_fn, loss_factor
        self.rows, self.validation = rows, validation
        self.total = 0.0
        self.stopped = False
        self.found_best = False  # whether an epoch of this fit was the best yet by validation
        self.message = ""  # scikit-learn's verbose line, said after the epoch's own

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.total = 0.0
        self._say_pending()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._say_pending()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.optimizer.rows = logs["size"]  # a weighted loss overrides it with its weight total

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        batch_loss = self.loss_factor * logs["loss"] + self.optimizer.penalty
        self.total += batch_loss * logs["size"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        est = self.est
        # the slow part first: a Ctrl-C during it leaves the epoch out of every curve alike
        validated = self._validate() if self.validation is not None else None
        est.n_iter_ += 1
        est.loss_ = np.float64(self.total / self.rows)  # scikit-learn's type (its curves' too)
        est.t_ += self.rows
        est.loss_curve_.append(est.loss_)
        logs["sklearn_loss"] = est.loss_
        if validated is not None:
            score, loss = validated
            est.validation_scores_.append(score)
            est.validation_loss_curve_.append(loss)
            logs["val_score"], logs["val_loss"] = score, loss
            improved = self._track_validation(score, loss)
        else:
            improved = not est.loss_ > est.best_loss_ - est.tol
            if est.loss_ < est.best_loss_:
                est.best_loss_ = est.loss_
        est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
        if est.learning_rate == "invscaling" and est.solver == "sgd":
            self.optimizer.lr = est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            adaptive = est.learning_rate == "adaptive" and est.solver == "sgd"
            if adaptive and self.optimizer.lr > 1e-6:
                self.optimizer.lr /= 5.0
                est._no_improvement_count = 0
                self._say(f"Setting learning rate to {self.optimizer.lr:f}")
            else:
                self.stop_training = self.stopped = True
                self._say(f"{'Learning rate too small. ' * adaptive}Stopping.")

    def _say(self, outcome: str) -> None:
        """With ``verbose``, scikit-learn's line for a stop or an ``adaptive`` rate's cut, said
        after the epoch's own line (as the next epoch begins, or as training ends)."""
        est = self.est
        if not est.verbose:
            return
        watched = "Training loss"
        if self.validation is not None:
            watched = f"Validation {'loss' if est.early_stopping_on == 'loss' else 'score'}"
        self.message = (f"{watched} did not improve more than tol={est.tol:f} for "
                        f"{est.n_iter_no_change} consecutive epochs. {outcome}")  # fmt: skip

    def _say_pending(self) -> None:
        if self.message:
            print(self.message)
            self.message = ""

    def _validate(self) -> tuple[float, float]:
        """The validation rows' score (accuracy or R², scikit-learn's ``score``) and loss (the
        nudgenet loss times the loss factor, without the L2 term), weighted when given."""
        x, y, targets, weight = self.validation
        score = self.est._score_rows(x, y, weight)
        scores = predict(self.est._model, x)
        options = {} if weight is None else {"sample_weight": weight}
        loss = float(self.loss_fn(scores, targets, **options).data) * self.loss_factor
        return score, np.float64(loss)  # the score: scikit-learn's scorer's own type

    def _track_validation(self, score: float, loss: float) -> bool:
        """Whether this epoch counts as an improvement by ``tol`` (scikit-learn's rule: a NaN
        counts), on the score or, with ``early_stopping_on="loss"``, the loss.  The weights
        kept are those of the best epoch by that measure; ``best_validation_score_`` is the
        highest score and ``best_validation_loss_`` the lowest loss so far, whichever is
        stopped on (scikit-learn's meaning: each the best of its own curve)."""
        est = self.est
        if est.early_stopping_on == "loss":
            improved = not loss > est.best_validation_loss_ - est.tol
            best = loss < est.best_validation_loss_
        else:
            improved = not score < est.best_validation_score_ + est.tol
            best = score > est.best_validation_score_
        if best:
            est._best_weights = self.optimizer.flat_params.copy()
            self.found_best = True
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
        if loss < est.best_validation_loss_:
            est.best_validation_loss_ = loss
        return improved


def new_curves(est) -> None:
    """``adam``'s and ``sgd``'s per-epoch record on ``est``, empty: the loss curve, the
    validation curves (with ``early_stopping``) and the best values so far."""
    est.loss_curve_ = []
    est._no_improvement_count = 0
    stopping = est.early_stopping
    est.validation_scores_ = [] if stopping else None
    est.validation_loss_curve_ = [] if stopping else None
    est.best_validation_score_ = -np.inf if stopping else None
    est.best_validation_loss_ = np.inf if stopping else None
    est.best_loss_ = None if stopping else np.inf


def curves_to_go_on(est) -> None:
    """The per-epoch record a fit of ``est`` goes on with, made where it lacks what this fit
    keeps: a warm fit or ``partial_fit`` after a fit by ``lbfgs`` (no curves), or with
    ``early_stopping`` switched on (no validation curves) or off (no best training loss) since
    (scikit-learn's MLP fails there on a missing or None attribute)."""
    if getattr(est, "loss_curve_", None) is None:
        new_curves(est)
    elif est.early_stopping and est.validation_scores_ is None:
        est.validation_scores_, est.validation_loss_curve_ = [], []
        est.best_validation_score_, est.best_validation_loss_ = -np.inf, np.inf
    elif not est.early_stopping and est.best_loss_ is None:
        est.best_loss_ = np.inf
