"""``MLPRegressor``: scikit-learn's, trained by nudgenet."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d, validate_data

from ..data._convert import require_finite
from ._base import BaseMLP


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` (the same parameters,
    defaults, meanings and fitted attributes; one or several outputs), trained by nudgenet.
    ``loss``: scikit-learn's ``"squared_error"`` (half the mean square) and ``"poisson"``
    (half the Poisson deviance, ``exp`` outputs), or nudgenet's ``"mse"`` (the mean square).
    What else differs or is added is listed in :class:`MLPClassifier`'s docstring (all of it
    but ``class_weight``)."""

    _score_function = staticmethod(r2_score)

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype=None,
        dropout=None,
        early_stopping_on="score",
        callbacks=None,
    ):
        self._store_parameters(locals())

    @available_if(BaseMLP._has_partial_fit)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, continuing from the last call (``adam``/``sgd`` only)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
            dtype=(np.float64, np.float32), reset=reset,
        )  # fmt: skip
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y, y.reshape(len(y), -1)

    def _loss_name(self, columns) -> str:
        return self.loss

    def _output_units(self, columns, rule) -> int:
        return columns.shape[1]

    def _train_targets(self, columns, rule, dtype) -> np.ndarray:
        """``y``'s columns in ``dtype``, checked finite here, where a row is the user's row
        (the loss's own check sees the training split's, shuffled by ``early_stopping``): an
        object ``y`` holding None passes scikit-learn's check and becomes NaN."""
        return require_finite(type(self).__name__, "y", self._in_dtype("y", columns, dtype))

    def _predict_rows(self, X) -> np.ndarray:
        values = self._outputs(X)
        return values.ravel() if values.shape[1] == 1 else values

    def predict(self, X):
        """The predicted values: ``(n_samples,)`` for one output, else
        ``(n_samples, n_outputs)``."""
        return self._predict_rows(self._checked_rows(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
