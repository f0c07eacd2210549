"""``MLPClassifier``: scikit-learn's, trained by nudgenet."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from ._base import BaseMLP


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` (the same parameters,
    defaults, meanings and fitted attributes; binary, multiclass and multilabel targets of any
    label type), trained by nudgenet.  See scikit-learn's documentation for its parameters;
    where nudgenet differs or adds:

    - ``solver``: ``adam``/``sgd`` run :func:`nudgenet.fit` with scikit-learn's update rules;
      ``lbfgs`` runs scipy's L-BFGS-B on nudgenet's flat buffers.
    - ``activation``: scikit-learn's names or nudgenet's (``sigmoid``, ``softplus``,
      ``leaky_relu``).
    - ``verbose``: 1 shows nudgenet's progress bar (a line per epoch off a terminal), 2 a line
      per epoch; ``lbfgs`` prints ``Iteration N, loss = ...`` per iteration.
    - Sparse ``X`` (CSR, CSC) is taken and made dense a batch at a time (scikit-learn's MLP
      multiplies it sparse): ``adam``/``sgd`` train on the sparse matrix and one dense batch
      where a dense copy would be large (``nudgenet.sklearn._rows``), ``lbfgs`` makes it dense
      at once (rows × columns floats), prediction at most 16 MiB of rows at a time.
    - The loss (``loss_``, ``loss_curve_``, lbfgs's objective) is the exact cross-entropy of the
      softmax or logistic outputs; scikit-learn's clips the probabilities to [eps, 1 − eps]
      first, so where the network is very confident (a probability below 2.2e-16) its recorded
      loss is lower than nudgenet's, and lbfgs's path differs.  The gradients are the same.
    - Ctrl-C during an ``adam``/``sgd`` fit ends training as in scikit-learn: a warning
      ("Training interrupted by user."), and ``fit`` returns the estimator trained so far.
    - Warnings (ConvergenceWarning, ...) are attributed to scikit-learn's MLP module, so the
      filters written for it (``module="sklearn"``) apply (:mod:`nudgenet.sklearn._warnings`).
    - A first fit that raises (refused inputs: negative weights, values beyond the dtype's
      range, ...) leaves the estimator as it was before it.
    - ``warm_start`` and ``partial_fit`` train the fitted network on, so a change since it was
      built of ``hidden_layer_sizes``, ``activation``, ``dropout``, ``dtype`` (None: the fitted
      network's) or ``loss`` is a one-line ValueError (a fit without ``warm_start`` builds a
      new network).  Until then ``predict``, ``to_nudgenet`` and ``save`` use the fitted
      network, whatever ``set_params`` changed (``get_params`` says what the next fit builds):
      scikit-learn's MLP re-reads ``activation`` at every forward pass, so there a new
      activation acts on the fitted weights at the next ``predict``; here the network is the
      model, one for prediction, export and the file alike.
    - ``partial_fit`` after ``set_params(solver=...)`` makes a solver of the new kind (its
      state begins afresh); scikit-learn's keeps the optimizer its first call made, so after a
      switch to ``"sgd"`` it still runs Adam.
    - ``random_state``: the same starting weights as scikit-learn's for the same seed; the
      shuffling differs.
    - ``loss`` (nudgenet's): ``"log_loss"`` (scikit-learn's: softmax for several classes,
      logistic for two or for multilabel targets), ``"cross_entropy"`` (softmax, also for two
      classes) or ``"bce_with_logits"`` (logistic).
    - ``class_weight``: ``"balanced"`` or ``{class: weight}``, multiplying ``sample_weight``
      (``"balanced"`` counts each row by its ``sample_weight``, as scikit-learn's
      ``compute_class_weight``; it is refused by ``partial_fit``: compute the weights on all
      the data).  A dict weighs the rows over ``classes_``, so a ``partial_fit`` batch may
      lack classes (as in scikit-learn's ``SGDClassifier.partial_fit``).  Multilabel targets
      take ``"balanced"`` (each label balanced on its own) or a list of one dict per label
      column, ``[{0: w0, 1: w1}, ...]`` (scikit-learn's convention for several outputs); a
      single dict is a one-line error there.  Each weight must be a finite number >= 0
      (InvalidParameterError naming the class), and class weights that leave every row weight
      0 are a one-line ValueError, whatever the solver.
    - ``sample_weight``: each batch's loss and L2 term are divided by the batch's weight
      total, so with one batch, weight 0 equals dropping a row and a whole weight k repeating
      it k times (not with ``learning_rate="invscaling"``, whose rate decays with ``t_``,
      which counts rows, as scikit-learn's); weights must be >= 0 (scikit-learn's MLP also
      takes negative ones).  Any finite weights are taken, beyond the network dtype's range
      too: they are divided by a power of two near their largest first, which changes no bit
      of the fit (:func:`nudgenet.nn.weights.in_units`).
    - ``dtype``: the network's (module :mod:`nudgenet.sklearn._base`).  ``X`` (and a
      regressor's ``y``) must lie within its range: in float32 a value beyond ±3.4e38, finite
      in float64, is a one-line ValueError naming its sample and column in ``fit``,
      ``partial_fit``, ``predict``, ``predict_proba`` and ``score`` (the cast would make it
      infinite); ``dtype="float64"`` takes it.
    - ``dropout``: a rate, or one per hidden layer; a rate of 0 builds no Dropout layer, so
      ``lbfgs`` (whose loss must not change between evaluations) takes only 0, as does a
      network without hidden layers.
    - ``early_stopping_on``: ``"score"`` (scikit-learn's) or ``"loss"``: stop on the
      validation loss instead, keeping the weights of the lowest; the fitted
      ``validation_loss_curve_`` and ``best_validation_loss_`` are kept either way.  Whichever
      is stopped on, ``best_validation_score_`` is the highest of ``validation_scores_`` and
      ``best_validation_loss_`` the lowest of ``validation_loss_curve_`` (scikit-learn's
      meaning), so one of them may come from another epoch than the weights kept.
    - ``callbacks``: nudgenet callbacks for ``fit`` and ``partial_fit`` with ``adam``/``sgd``
      (they see ``sklearn_loss``, ``val_score`` and ``val_loss`` in the epoch's logs);
      ``lbfgs``, which runs no epochs to call them at, refuses them (InvalidParameterError).
      With ``early_stopping=True`` the estimator restores its own best epoch (by
      ``early_stopping_on``) after the callbacks have run, so it overrides
      ``ng.EarlyStopping(restore_best=True)``: ``early_stopping_on="loss"`` keeps the epoch of
      the lowest validation loss.
    - A training loss that stops being finite: ``fit`` and ``partial_fit`` raise
      scikit-learn's ValueError (its words first: "Solver produced non-finite parameter
      weights. ..."), then nudgenet's saying where (epoch, step, the first layer that
      overflowed) and what to change; ``lbfgs`` too where its final loss is not finite
      (scikit-learn's checks only the weights).  nudgenet stops before the update of the
      batch whose loss was not finite, so, as scikit-learn's, the estimator is left fitted but
      not usefully: ``coefs_`` are the last finite weights, ``loss_curve_`` ends with the
      loss that was not finite.  Fit again with a lower ``learning_rate_init`` or scaled
      inputs.  With ``early_stopping`` the fit returns instead, with a ConvergenceWarning
      saying where, and the best epoch's weights (scikit-learn's trains on through the losses
      that are not finite and returns those weights).
    - Between fits: ``alpha`` is read at every fit, as scikit-learn reads it at every step;
      ``learning_rate`` and ``power_t`` too (scikit-learn's ``partial_fit`` keeps those it
      started with).  A fit by another ``solver`` than the last (``set_params``) makes its own
      solver, and ``adam``'s and ``sgd``'s curves begin where a fit by ``lbfgs`` left none.
      With ``warm_start`` and ``early_stopping``, a fit that does not beat the carried
      ``best_validation_score_`` ends with the weights it began with, the best so far
      (scikit-learn's keeps the trained ones, its best weights being the same arrays).
    """

    _score_function = staticmethod(accuracy_score)

    def __init__(
        self,
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
        loss="log_loss",
        class_weight=None,
        dtype=None,
        dropout=None,
        early_stopping_on="score",
        callbacks=None,
    ):
        self._store_parameters(locals())

    @available_if(BaseMLP._has_partial_fit)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``, continuing from the last call; ``classes`` (every class
        of all the calls) is required on the first.  ``adam`` and ``sgd`` only."""
        before = dict(vars(self))  # a refused first call leaves no classes behind either
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True, before=before)

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        """scikit-learn's: ``(X, y, Y)`` with Y the labels binarised (bool columns)."""
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=(np.float64, np.float32), reset=reset,
        )  # fmt: skip
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        elif (
            incremental  # warm_start: scikit-learn's check below that y holds every class
            and not self.warm_start
            and (known := _known_labels(y, self._label_binarizer)) is not None
        ):
            return X, y, known  # a partial_fit batch of the classes known: binarised at once
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        return X, y, self._label_binarizer.transform(y).astype(bool)

    def _row_weights(self, y, sample_weight, X, incremental: bool):
        """``sample_weight`` times the class weights (:meth:`_weights_by_class`); a one-line
        ValueError naming ``class_weight`` where they leave every row weight 0, for every
        solver (``sample_weight`` of zeros alone is scikit-learn's error)."""
        weights = super()._row_weights(y, sample_weight, X, incremental)
        if self.class_weight is None:
            return weights
        by_class = self._weights_by_class(y, weights, incremental)
        weights = by_class if weights is None else weights * by_class
        if not weights.sum() > 0:
            raise ValueError(
                f"MLPClassifier: class_weight {self.class_weight!r} leaves every row weight 0 "
                "(times sample_weight); no row would count"
            )
        return weights

    def _weights_by_class(self, y, weights, incremental: bool) -> np.ndarray:
        """Each row's class weight for ``class_weight``: ``"balanced"`` counting each row by
        its ``weights``; a dict (or one per label) over every class the estimator knows
        (``classes_``; 0 and 1 for each label of multilabel targets), not only those of ``y``,
        as scikit-learn's ``SGDClassifier.partial_fit`` does, so a ``partial_fit`` batch
        lacking a class weighs its rows as ``fit`` does.  Sparse multilabel targets are read
        as their dense 0/1 columns."""
        if sp.issparse(y):
            y = y.toarray()
        if incremental and isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight='balanced' is not supported for partial_fit: compute the weights "
                "on all the data (sklearn.utils.class_weight.compute_class_weight) and pass a dict"
            )
        if self.class_weight != "balanced":
            dicts = self._class_weight_for(y)
            labels = [(dicts, y, self.classes_)] if y.ndim == 1 else [
                (given, column, np.array([0, 1])) for given, column in zip(dicts, y.T)
            ]  # fmt: skip
            by_class = np.ones(len(y))
            for given, column, classes in labels:
                per_class = compute_class_weight(given, classes=classes, y=column)
                by_class *= per_class[np.searchsorted(classes, column)]
            return by_class
        by_class = np.ones(len(y))
        for column in y.reshape(len(y), -1).T:  # one per label of a multilabel target
            classes, index = np.unique(column, return_inverse=True)
            with np.errstate(divide="ignore"):  # a class of weight 0: its rows weigh nothing
                balanced = compute_class_weight(
                    "balanced", classes=classes, y=column, sample_weight=weights
                )
            by_class *= np.where(np.isfinite(balanced), balanced, 0.0)[index]
        return by_class

    def _class_weight_for(self, y):
        """``class_weight`` (a dict or a list of dicts) after checking it fits the targets: one
        dict for single-label targets, one per label column for multilabel ones (scikit-learn's
        ``compute_sample_weight`` convention); a one-line ValueError otherwise."""
        weights, labels = self.class_weight, y.shape[1] if y.ndim == 2 else None
        if labels is None and isinstance(weights, list):
            raise ValueError(
                f"MLPClassifier: class_weight: a list of dicts is for multilabel targets (one per "
                f"label); these targets need one dict {{class: weight}}, got a list of "
                f"{len(weights)}"
            )
        if labels is not None and isinstance(weights, dict):
            raise ValueError(
                f"MLPClassifier: class_weight: multilabel targets need one dict per label (a list "
                f"of {labels} dicts), got a dict"
            )
        if labels is not None and len(weights) != labels:
            raise ValueError(
                f"MLPClassifier: class_weight: expected one dict per label ({labels}), got "
                f"{len(weights)}"
            )
        return weights

    def _loss_name(self, columns) -> str:
        """The rule for ``loss`` and these targets; ValueError where they do not fit."""
        kind = self._label_binarizer.y_type_
        if self.loss == "log_loss":
            return "cross_entropy" if kind == "multiclass" else "bce_with_logits"
        if self.loss == "cross_entropy" and kind.startswith("multilabel"):
            raise ValueError(
                "MLPClassifier: loss='cross_entropy' scores one class per row; multilabel "
                "targets need 'log_loss' or 'bce_with_logits'"
            )
        if self.loss == "bce_with_logits" and kind == "multiclass":
            raise ValueError(
                f"MLPClassifier: loss='bce_with_logits' scores two classes or multilabel "
                f"targets, got {len(self.classes_)} classes (use 'log_loss' or 'cross_entropy')"
            )
        return self.loss

    def _output_units(self, columns, rule) -> int:
        return self._class_outputs(rule)

    def _class_outputs(self, rule) -> int:
        """The network's outputs for the classes: one per class for softmax (two for two
        classes), one per label of multilabel targets, else one (two classes, logistic)."""
        if rule.out_activation == "softmax":
            return max(len(self.classes_), 2)
        multilabel = self._label_binarizer.y_type_.startswith("multilabel")
        return len(self.classes_) if multilabel else 1

    def _train_targets(self, columns, rule, dtype) -> np.ndarray:
        """Class indices for softmax, 0/1 columns otherwise."""
        if rule.out_activation == "softmax":
            return columns.argmax(axis=1) if columns.shape[1] > 1 else columns[:, 0].astype(int)
        return columns.astype(dtype)

    def _predict_rows(self, X) -> np.ndarray:
        p = self._outputs(X)
        if len(self.classes_) == 1:  # one class (softmax's second column scores none): it
            return np.repeat(self.classes_, len(p))
        if self.out_activation_ == "softmax":
            return self.classes_[p.argmax(axis=1)]
        return self._label_binarizer.inverse_transform(p.ravel() if p.shape[1] == 1 else p)

    def predict(self, X):
        """The predicted classes (a label indicator matrix for multilabel targets)."""
        return self._predict_rows(self._checked_rows(X))

    def predict_proba(self, X):
        """The probability of each class (columns in ``classes_`` order); multilabel: of each
        label."""
        p = self._outputs(self._checked_rows(X))
        if p.shape[1] == 1:
            return np.hstack([1 - p, p])
        return p

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        p = self.predict_proba(X)
        return np.log(p, out=p)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _known_labels(y: np.ndarray, binarizer: LabelBinarizer) -> np.ndarray | None:
    """``binarizer.transform(y).astype(bool)`` for whole-number or string labels ``y`` (N,), all
    among ``binarizer``'s two or more classes of one label (binary or multiclass), else None
    (the caller then checks ``y`` as scikit-learn does, error messages included). scikit-learn's
    transform checks ``y``'s type again on every call, most of a small ``partial_fit`` batch's
    time; these labels need no check: their dtype says their type, and the classes are known."""
    classes, kinds = binarizer.classes_, {binarizer.classes_.dtype.kind, y.dtype.kind}
    if y.ndim != 1 or binarizer.y_type_ not in ("binary", "multiclass") or len(classes) < 2:
        return None  # (one class: LabelBinarizer's column of zeros)
    if not (len(kinds) == 1 and kinds <= set("iuUS") or kinds == {"i", "u"}):
        return None
    column = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
    if not (classes[column] == y).all():
        return None  # a label not among the classes: scikit-learn's error
    if len(classes) == 2:
        return (column == 1)[:, None]
    known = np.zeros((len(y), len(classes)), dtype=bool)
    known[np.arange(len(y)), column] = True
    return known
