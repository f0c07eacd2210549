"""What the two estimators share: fitting (scikit-learn's rules on nudgenet's fit), prediction
through the nudgenet network, the fitted attributes, pickling, ``to_nudgenet``, ``save``/``load``.

Training: ``adam``/``sgd`` run :func:`nudgenet.fit` (the compiled step where it covers the network,
else the engine) with scikit-learn's solvers (:mod:`._optim`) and its end-of-epoch rules
(:mod:`._epochs`); ``lbfgs`` runs scipy on the same buffers (:mod:`._lbfgs`). The network trains in
``dtype``: by default float32 for ``adam``/``sgd`` and float64 for ``lbfgs``, whose line search
needs the precision; scikit-learn trains in the input's dtype. ``dtype=None`` does not follow
``ng.set_default_dtype``: an estimator's parameters alone decide its fit, as scikit-learn's
contract asks (a clone fitted in a joblib worker process would not see a global set in the parent,
so ``n_jobs`` would change the results). ``coefs_`` and ``intercepts_`` are the network's own
weight arrays (scikit-learn's shapes: ``(fan_in, fan_out)`` and ``(fan_out,)``): writing into them
changes the model, and arrays of the same shapes assigned to them are used by the next ``predict``.
After ``fit`` the network stays in eval mode, so ``predict`` from several threads changes no shared
state.
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ..distributed.launch import alone_by_design
from ..nn.weights import in_units
from ..train import fit
from . import _lbfgs, _persist
from ._epochs import SklearnEpochs, curves_to_go_on, new_curves, validation_split
from ._losses import RULES, WeightTotal, output_function
from ._network import build_network, check_fitted, linears
from ._optim import Regularized, SklearnAdam, SklearnSGD
from ._params import check_params
from ._rows import in_dtype, network_outputs, training_rows
from ._warnings import warn

_WEIGHTS = ("coefs_", "intercepts_")  # the fitted arrays a user may assign
NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large values and "
    "need to be preprocessed."
)  # scikit-learn's words


class BaseMLP(BaseEstimator):
    """Shared by :class:`MLPClassifier` and :class:`MLPRegressor` (module docstring)."""

    _score_function = None  # accuracy_score or r2_score, as the subclass's score

    def _store_parameters(self, parameters: dict) -> None:
        """``__init__``'s arguments (its ``locals()``) as attributes, unchanged, as scikit-learn
        requires (``get_params`` reads them back by the signature's names)."""
        for name, value in parameters.items():
            if name != "self":
                setattr(self, name, value)

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and targets ``y`` (``sample_weight``: one per row).
        ValueError where the training loss stops being finite (class docstring)."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _has_partial_fit(self) -> bool:
        """True for ``adam``/``sgd``; AttributeError for ``lbfgs`` (so, as scikit-learn's,
        ``hasattr(est, "partial_fit")`` is False there)."""
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                "stochastic."
            )
        return True

    def _fit(self, X, y, sample_weight, incremental: bool, before: dict | None = None):
        """Validate, train, publish.  A first fit that raises (refused inputs, above all; also
        Ctrl-C where nudgenet's ``fit`` does not catch it: lbfgs) leaves the estimator as it
        was, unfitted or with its last fit: its attributes as they were ``before`` (now, unless
        the caller set some already: ``partial_fit``'s classes), ``_train``'s docstring."""
        first = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        before = dict(vars(self)) if before is None else before
        try:
            check_params(self)
            diverged = self._train(X, y, sample_weight, incremental, first)
        except BaseException:
            if first:  # everything a first fit makes is new: the old state is whole
                vars(self).clear()
                vars(self).update(before)
            raise
        self._publish()
        self._model.eval()  # predict then switches no shared state (threads may share it)
        self._check_finite(diverged)
        return self

    def _train(self, X, y, sample_weight, incremental: bool, first: bool) -> str | None:
        """Check the inputs, make the network (``first``) and train it; returns None or where
        training stopped on a loss that was not finite.  A first fit makes a new network,
        solver and curves, so restoring the attributes undoes it; warm and incremental fits
        update the fitted ones in place."""
        X, y, columns = self._validate_input(X, y, incremental, reset=first)
        weights, unit = in_units(self._row_weights(y, sample_weight, X, incremental))
        loss = self._loss_name(columns)
        rule = RULES[loss]
        dtype = self._training_dtype() if first else self._model.parameters()[0].dtype
        X = training_rows(type(self).__name__, X, dtype, self.solver != "lbfgs")  # checked first
        targets = self._train_targets(columns, rule, dtype)
        outputs = self._output_units(columns, rule)
        hidden = np.atleast_1d(np.asarray(self.hidden_layer_sizes, dtype=np.int64)).tolist()
        units = [X.shape[1], *hidden, outputs]
        rng = check_random_state(self.random_state)
        if first:
            self._initialize(units, loss, rng)
        else:  # a warm fit or partial_fit: the fitted network trains on
            check_fitted(self, units, loss)
        self._sync()
        if self.solver != "lbfgs":
            return self._fit_stochastic(
                X, y, columns, targets, weights, unit, rule, rng, incremental
            )
        self._new_solver(rule)
        loss_fn = rule.make() if weights is None else WeightTotal(rule.make(), self._solver, unit)
        factor = rule.loss_factor(outputs)
        return _lbfgs.minimize(self, self._solver, loss_fn, factor, X, targets, weights)

    def _check_finite(self, diverged: str | None) -> None:
        """scikit-learn's ValueError, its words first (users match on them), where the weights
        are not finite or, beyond scikit-learn, training stopped on a loss that was not
        (``diverged``: nudgenet's words saying where, added to the message), with what to
        change.  The estimator stays as training left it (class docstring)."""
        if diverged is None and all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            return
        where = f" nudgenet: {diverged}." if diverged else ""
        change = "Scale" if self.solver == "lbfgs" else "Lower learning_rate_init or scale"
        raise ValueError(f"{NON_FINITE}{where} {change} the inputs (e.g. StandardScaler).")

    def _in_dtype(self, name: str, values, dtype) -> np.ndarray:
        """``values`` (``X``, or a regressor's ``y``) in the network's ``dtype``, dense
        (:func:`._rows.in_dtype`)."""
        return in_dtype(type(self).__name__, name, values, dtype)

    def _training_dtype(self) -> np.dtype:
        """The dtype a new network trains in: ``dtype``, else float32 (``adam``, ``sgd``) or
        float64 (``lbfgs``), whatever ``ng.set_default_dtype`` says (module doc)."""
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.dtype(np.float64 if self.solver == "lbfgs" else np.float32)

    def _initialize(self, units: list[int], loss: str, rng) -> None:
        """The first fit's state: a fresh network from scikit-learn's initial weights."""
        rule = RULES[loss]
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_, self.n_layers_ = units[-1], len(units)
        self.out_activation_ = rule.out_activation
        self._units, self._loss_rule = units, loss
        self._model = build_network(
            units, self.activation, self.dropout, self._training_dtype(), rng
        )
        self._solver = None
        self._publish()
        if self.solver != "lbfgs":
            new_curves(self)

    def _new_solver(self, rule, kind: str | None = None) -> Regularized:
        """A new solver of ``kind`` (``solver``'s by default) over the network's parameters
        (scikit-learn's L2 term on its weights) as ``_solver``; it packs them into its flat
        buffer, so ``coefs_`` is published again."""
        kind = kind or self.solver
        params = self._model.parameters()
        weights = [layer.weight for layer in linears(self._model)]
        common = (params, self.learning_rate_init, weights, self.alpha,
                  rule.grad_factor(self.n_outputs_))  # fmt: skip
        if kind == "sgd":
            self._solver = SklearnSGD(*common, self.momentum, self.nesterovs_momentum)
        elif kind == "adam":
            self._solver = SklearnAdam(*common, (self.beta_1, self.beta_2), self.epsilon)
        else:
            self._solver = Regularized(*common)
        self._publish()
        return self._solver

    def _solver_kind(self) -> str | None:
        """The ``solver`` the current ``_solver`` was made for (None without one): after
        ``set_params(solver=...)`` it is no longer ``solver``."""
        kinds = {SklearnSGD: "sgd", SklearnAdam: "adam", Regularized: "lbfgs"}
        return None if self._solver is None else kinds[type(self._solver)]

    def _fit_stochastic(self, X, y, columns, targets, weights, unit, rule, rng, incremental):
        """``adam``/``sgd`` through :func:`nudgenet.fit` (``weights``: the row weights or None,
        in ``unit``, :func:`~nudgenet.nn.weights.in_units`); returns None, or where a batch's loss
        stopped being finite (the History's ``stop_message``: fit stops before its update).
        Ctrl-C (KeyboardInterrupt) ends training as in scikit-learn: a warning, and the fit
        returns with the weights trained so far (the best epoch's with ``early_stopping``)."""
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None  # (split, and refused if too small, before the estimator changes)
        if self.early_stopping:
            X, targets, weights, validation = validation_split(
                self, X, y, columns, targets, weights, rng
            )
        if not incremental or self._solver_kind() != self.solver:  # (solver changed: a new one)
            self._new_solver(rule)
        self._solver.alpha = float(self.alpha)  # read at every fit, as scikit-learn's backprop
        curves_to_go_on(self)
        if self.early_stopping:
            self._best_weights = self._solver.flat_params.copy()
        n = len(X)
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warn("Got `batch_size` less than 1 or larger than sample size. It is going to be "
                     "clipped")  # fmt: skip
            batch_size = int(np.clip(self.batch_size, 1, n))
        seed = int(rng.randint(np.iinfo(np.int32).max)) if self.shuffle else 0  # as sklearn's: a
        # draw only to shuffle (a RandomState given as random_state then goes on as there)
        loss_fn = rule.make()
        epochs = SklearnEpochs(self, loss_fn, rule.loss_factor(self.n_outputs_), n, validation)
        if weights is not None:
            loss_fn = WeightTotal(loss_fn, self._solver, unit)
        self.n_iter_ = 0
        try:
            with alone_by_design():  # an estimator trains in its process: no advice to give
                history = fit(
                    self._model, loss_fn, self._solver, X, targets,
                    epochs=1 if incremental else self.max_iter, batch_size=batch_size,
                    shuffle=self.shuffle, seed=seed, callbacks=[epochs, *(self.callbacks or ())],
                    verbose=min(int(self.verbose), 2), sample_weight=weights,
                )  # fmt: skip
        except KeyboardInterrupt:  # scikit-learn's: keep what was trained, say so
            warn("Training interrupted by user.")
            diverged = None
        else:
            diverged = history.stop_message
            reached = not epochs.stopped and not diverged and self.n_iter_ == self.max_iter
            if reached and not incremental:
                warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                    "the optimization hasn't converged yet.",
                    ConvergenceWarning,
                )
        if self.early_stopping:
            self._solver.flat_params[...] = self._best_weights
            if diverged:  # scikit-learn's trains on through the losses that are not finite
                kept = ("the weights of the best epoch by validation are kept" if epochs.found_best
                        else "no epoch of this fit beat the weights it began with by validation: "
                        "those are kept")  # fmt: skip
                warn(f"nudgenet: {diverged}; training stopped there, and {kept}.",
                     ConvergenceWarning)  # fmt: skip
                return None
        return diverged and f"{diverged}; fit stopped before that step's update"

    def _row_weights(self, y, sample_weight, X, incremental: bool):
        """One float64 weight per row (``sample_weight``, times the class weights of a
        classifier), or None; ValueError for a negative weight, whatever the solver
        (scikit-learn's MLP takes them; nudgenet's losses do not)."""
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)

    # --- the network's state ---------------------------------------------------------------

    def _parameters(self):
        return [p for layer in linears(self._model) for p in (layer.weight, layer.bias)]

    def _publish(self) -> None:
        """``coefs_`` / ``intercepts_``: the network's weight and bias arrays themselves."""
        self.coefs_, self.intercepts_ = self._network_arrays()

    def _network_arrays(self) -> tuple[list, list]:
        """The network's weight arrays and bias arrays, layer by layer."""
        layers = linears(self._model)
        return [layer.weight.data for layer in layers], [layer.bias.data for layer in layers]

    def _sync(self) -> None:
        """Arrays assigned to ``coefs_`` / ``intercepts_`` become the network's; ValueError for
        lists of another length or an array whose shape is not the fitted network's
        (scikit-learn's MLP would predict with it, but nudgenet's layers keep their sizes: fit
        again to change them)."""
        layers = linears(self._model)
        if not len(self.coefs_) == len(self.intercepts_) == len(layers):
            raise ValueError(
                f"{type(self).__name__}: coefs_ and intercepts_ must hold {len(layers)} arrays "
                f"each, one per layer, got {len(self.coefs_)} and {len(self.intercepts_)}"
            )
        for i, (layer, coef, intercept) in enumerate(zip(layers, self.coefs_, self.intercepts_)):
            for name, param, value in (("coefs_", layer.weight, coef),
                                       ("intercepts_", layer.bias, intercept)):  # fmt: skip
                if param.data is value:
                    continue
                if np.shape(value) != param.data.shape:
                    raise ValueError(
                        f"{type(self).__name__}: {name}[{i}] must keep the fitted shape "
                        f"{param.data.shape}, got {np.shape(value)}; to change the layers' "
                        "sizes, set hidden_layer_sizes and fit again"
                    )
                param.data = np.asarray(value, dtype=param.data.dtype)

    # --- prediction ------------------------------------------------------------------------

    def _checked_rows(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32), reset=False
        )

    def _outputs(self, X) -> np.ndarray:
        """The network's outputs after ``out_activation_``, for validated rows ``X``, in the
        dtype of ``X``'s product with the weights (float64 if either is), as scikit-learn's."""
        self._sync()
        scores = network_outputs(type(self).__name__, self._model, X)
        return output_function(self.out_activation_, scores)

    def _score_rows(self, X, y, sample_weight=None) -> float:
        """scikit-learn's score without input validation (NaN for non-finite predictions)."""
        predicted = self._predict_rows(X)
        if predicted.dtype.kind == "f" and not np.isfinite(predicted).all():
            return np.nan
        return float(type(self)._score_function(y, predicted, sample_weight=sample_weight))

    def to_nudgenet(self):
        """A copy of the trained network, an ``ng.Sequential`` in eval mode whose outputs are
        the scores before ``out_activation_`` (logits for the classifiers), as nudgenet's
        losses take them: ``explain``, the plots, ``ng.save`` and ONNX export work on it.  Its
        ``metadata`` is the training record ``nudgenet train`` writes (task, loss, class
        names), so ``ng.export_onnx`` adds the estimator's ``label`` and ``probabilities``."""
        check_is_fitted(self)
        self._sync()
        model = copy.deepcopy(self._model)
        model.eval()
        model.metadata = _persist.record(self).to_dict()
        return model

    def save(self, path):
        """Write the fitted estimator to a nudgenet model file (safetensors, no pickle):
        the network, and in its metadata the parameters and fitted attributes.  Returns the
        path.  Not kept (:mod:`._persist`): ``callbacks`` (:meth:`load` gives None), a
        ``RandomState`` as ``random_state`` (None; an int is kept), the solver's state."""
        check_is_fitted(self)
        return _persist.save(self, path)

    @classmethod
    def load(cls, path):
        """The estimator :meth:`save` wrote to ``path``, with ``callbacks=None`` (callbacks are
        not saved: set them again with ``set_params`` to fit with them) and ``random_state``
        None where a ``RandomState`` was given.  A one-line ModelFileError for a file holding
        another estimator or none, lacking what every fit sets, or whose network is not the one
        its saved attributes describe."""
        return _persist.load(cls, path)

    # --- pickling (joblib, clone of fitted estimators) -------------------------------------

    def __getstate__(self):
        state = dict(super().__getstate__())  # object.__getstate__ gives __dict__ itself
        solver = state.pop("_solver", None)
        if solver is not None:
            state["_solver_state"] = solver.state_dict()
            state["_solver_made_for"] = self._solver_kind()
        if "_model" in state and not self._published():  # coefs_ / intercepts_ as assigned
            state["_assigned"] = {name: state.pop(name) for name in _WEIGHTS if name in state}
        return state

    def __setstate__(self, state):
        solver_state = state.pop("_solver_state", None)
        kind = state.pop("_solver_made_for", None)  # (older pickles: the solver parameter's)
        assigned = state.pop("_assigned", None)
        super().__setstate__(state)
        if "_model" in state:
            self._model.eval()  # as after fit (pickles of older versions kept train mode)
            self._solver = None
            if solver_state is not None:
                self._new_solver(RULES[self._loss_rule], kind).load_state_dict(solver_state)
            self._publish()
        if assigned is not None:  # the next predict takes them (or refuses them) as the original's
            for name in _WEIGHTS:
                vars(self).pop(name, None)
            vars(self).update(assigned)

    def _published(self) -> bool:
        """Whether ``coefs_`` / ``intercepts_`` are the network's own arrays (none assigned)."""
        given = [*getattr(self, "coefs_", [None]), *getattr(self, "intercepts_", [None])]
        own = sum(self._network_arrays(), [])  # the weights, then the biases
        return len(given) == len(own) and all(a is b for a, b in zip(given, own))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
